#!/usr/bin/env bash
# Installs the pinned development tools into ./bin (sqlc, golangci-lint).
# Idempotent: a tool already at its pinned version is left alone.
set -euo pipefail

SQLC_VERSION=v1.31.1
GOLANGCI_LINT_VERSION=v2.15.0

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
mkdir -p "$bin"
export GOBIN="$bin"

log() { printf 'install-tools: %s\n' "$*" >&2; }

if ! "$bin/sqlc" version 2>/dev/null | grep -qx "$SQLC_VERSION"; then
	log "installing sqlc $SQLC_VERSION"
	CGO_ENABLED=0 go install "github.com/sqlc-dev/sqlc/cmd/sqlc@$SQLC_VERSION"
fi

if ! "$bin/golangci-lint" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v}"; then
	log "installing golangci-lint $GOLANGCI_LINT_VERSION"
	go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi

log "sqlc $("$bin/sqlc" version), $("$bin/golangci-lint" version | head -n1)"
