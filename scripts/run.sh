#!/usr/bin/env bash
# `make run`: set up and show Kollektiv on this machine.
#
# Makes pgvector available, builds bin/kollektiv, creates and migrates the
# database, starts `kollektiv serve` (API and workers), ingests a sample of
# real documentation with progress shown, then prints an API key, the API and
# River UI URLs, the source's summary and an example search, and last the web
# console's URL with the key to sign in with. serve keeps
# running in the foreground until Ctrl-C, unless KOLLEKTIV_RUN_EXIT=1.
#
# Environment: DATABASE_URL (default: the local server), KOLLEKTIV_HTTP_ADDR
# (default 127.0.0.1:8080), KOLLEKTIV_USER (default the CLI's own, "local"),
# KOLLEKTIV_SAMPLE (a directory to ingest; default sample/sqlc/docs, the
# sqlc documentation shipped in this repository, which the example searches
# are about).
set -euo pipefail
cd "$(dirname "$0")/.."

export KOLLEKTIV_HTTP_ADDR=${KOLLEKTIV_HTTP_ADDR:-127.0.0.1:8080}
# The CLI's default user: what it ingests, the key below sees.
export KOLLEKTIV_USER=${KOLLEKTIV_USER:-local}
bin=bin/kollektiv
mkdir -p .data

say() { printf '\n== %s\n' "$*"; }

if [[ $(id -u) -eq 0 ]]; then
	bash scripts/install-pgvector.sh
else
	bash scripts/install-pgvector.sh || echo "install-pgvector needs root: run it with sudo if migrations fail"
fi
make -s build

say "database"
$bin migrate up

say "starting kollektiv serve on $KOLLEKTIV_HTTP_ADDR (log: .data/serve.log)"
$bin serve >.data/serve.log 2>&1 &
serve=$!
trap 'kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null || true' EXIT
host=${KOLLEKTIV_HTTP_ADDR%:*}
port=${KOLLEKTIV_HTTP_ADDR##*:}
for _ in $(seq 50); do
	# bash's /dev/tcp: no curl needed to see the API listen.
	(exec 3<>"/dev/tcp/${host:-127.0.0.1}/$port") 2>/dev/null && break
	kill -0 $serve 2>/dev/null || { cat .data/serve.log; exit 1; }
	sleep 0.2
done

sample=${KOLLEKTIV_SAMPLE:-sample/sqlc/docs}
say "ingesting $sample"
$bin ingest --wait "$sample"
source_id=$($bin sources ls --json --limit 1 | sed -n 's/^      "id": "\([0-9a-f-]*\)".*/\1/p' | head -n1)

say "the source"
$bin sources show "$source_id"

say "an API key for user $KOLLEKTIV_USER (admin: it also opens River UI)"
key=$($bin keys create --admin --name "make run")
echo "$key"

if [[ -z "${KOLLEKTIV_SAMPLE:-}" ]]; then
	for q in "how do I use transactions" "rename a generated struct field" "what does the sqlc.narg macro do"; do
		say "example search: \"$q\""
		$bin search --k 3 "$q"
	done
fi

cat <<MSG

API      http://$KOLLEKTIV_HTTP_ADDR/v1/sources   (Authorization: Bearer $key)
         curl -H "Authorization: Bearer $key" "http://$KOLLEKTIV_HTTP_ADDR/v1/search?q=named+parameters"
River UI http://$KOLLEKTIV_HTTP_ADDR/riverui/      (the same key as the password; opens on the completed jobs)
Health   http://$KOLLEKTIV_HTTP_ADDR/readyz, metrics at /metrics

Console  http://$KOLLEKTIV_HTTP_ADDR/
         sign in with the key $key
MSG

if [[ "${KOLLEKTIV_RUN_EXIT:-0}" == 1 ]]; then
	exit 0
fi
say "kollektiv serve is running; Ctrl-C stops it"
wait $serve
