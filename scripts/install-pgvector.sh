#!/usr/bin/env bash
# Makes the pgvector extension available to the local PostgreSQL server.
#
# Uses the distribution's postgresql-<major>-pgvector package when the archive
# has one; otherwise builds pgvector from Debian's source package (trixie ships
# 0.8.0) against the running server's pg_config. Idempotent: returns at once
# when the extension is already installed.
#
# Environment:
#   PG_CONFIG       pg_config of the target server (default: the newest under
#                   /usr/lib/postgresql, else pg_config on PATH)
#   PGVECTOR_SUITE  Debian suite whose source package is used (default: trixie)
set -euo pipefail

log() { printf 'install-pgvector: %s\n' "$*" >&2; }

if [[ -z "${PG_CONFIG:-}" ]]; then
	newest=$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n1 || true)
	PG_CONFIG=${newest:-$(command -v pg_config || true)}
fi
if [[ -z "$PG_CONFIG" || ! -x "$PG_CONFIG" ]]; then
	log "no pg_config found: install PostgreSQL first (apt-get install postgresql)"
	exit 1
fi

sharedir=$("$PG_CONFIG" --sharedir)
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

if [[ -f "$sharedir/extension/vector.control" ]]; then
	log "pgvector already installed for PostgreSQL $major ($sharedir/extension/vector.control)"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	log "pgvector is missing and installing it needs root: run this script with sudo"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() {
	if [[ $apt_updated -eq 0 ]]; then
		apt-get update -qq
		apt_updated=1
	fi
}

apt_update
if apt-cache show "postgresql-$major-pgvector" >/dev/null 2>&1; then
	log "installing postgresql-$major-pgvector from the archive"
	apt-get install -y -qq "postgresql-$major-pgvector"
	exit 0
fi

suite=${PGVECTOR_SUITE:-trixie}
log "postgresql-$major-pgvector is not in the archive: building from Debian's $suite source package"

srclist=/etc/apt/sources.list.d/kollektiv-pgvector-src.sources
if [[ ! -f "$srclist" ]]; then
	cat >"$srclist" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	apt_updated=0
	apt_update
fi

apt-get install -y -qq --no-install-recommends build-essential dpkg-dev "postgresql-server-dev-$major" >/dev/null

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
(
	cd "$workdir"
	apt-get source -qq --download-only pgvector >/dev/null 2>&1 || apt-get source --download-only pgvector
	dpkg-source -x --no-check ./pgvector_*.dsc src >/dev/null
	cd src
	make -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
)
log "pgvector $(sed -nE "s/^default_version = '([^']+)'/\1/p" "$sharedir/extension/vector.control") installed for PostgreSQL $major"
