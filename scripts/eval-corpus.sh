#!/usr/bin/env bash
# Measures retrieval on the shared corpus, as docs/RETRIEVAL.md reports it:
# builds bin/kollektiv, ingests the FastAPI docs and the Rust book into a
# database of its own (dropped and created again), runs the development set
# (docs/eval/corpus-dev.jsonl) and each source's exact-heading set, and
# prints the figures. The reports are left in $EVAL_OUT as JSON.
#
#   scripts/eval-corpus.sh                 # from the repository root
#   CORPUS=/path/to/corpus EVAL_DB=kollektiv_eval scripts/eval-corpus.sh
#
# Every KOLLEKTIV_* setting applies (KOLLEKTIV_EMBEDDER, chunk sizes, ...),
# to the ingest and the search alike. Needs psql and jq.
set -euo pipefail

corpus=${CORPUS:-../shared/corpus}
db=${EVAL_DB:-kollektiv_eval}
server=${EVAL_POSTGRES:-postgres://postgres@127.0.0.1:5432}
out=${EVAL_OUT:-eval-out}
export DATABASE_URL="$server/$db?sslmode=disable"
export KOLLEKTIV_LOG_LEVEL=${KOLLEKTIV_LOG_LEVEL:-warn}

go build -o bin/kollektiv ./cmd/kollektiv
PGOPTIONS='-c client_min_messages=warning' psql "$server/postgres?sslmode=disable" -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
bin/kollektiv migrate up >/dev/null

bin/kollektiv worker &
worker=$!
trap 'kill "$worker"; wait "$worker" || true' EXIT

mkdir -p "$out"
ingest() {
	bin/kollektiv ingest "$1" --wait --json | tee "$out/ingest-$2.json" | jq -r .source_id
}
fastapi=$(ingest "$corpus/fastapi/docs/en/docs" fastapi)
rust=$(ingest "$corpus/rust-book/src" rust-book)

# figures prints the question count and the five figures of reports, the
# mean over all their questions.
figures() {
	jq -rs 'def r: (. * 1000 | round) / 1000;
		(map(.questions) | add) as $n
		| def m(f): (map((.metrics | f) * .questions) | add) / $n | r;
		"\($n) questions: recall@1 \(m(.recall_at_1))  recall@5 \(m(.recall_at_5))  recall@10 \(m(.recall_at_10))  mrr@10 \(m(.mrr_at_10))  ndcg@10 \(m(.ndcg_at_10))"' "$@"
}
bin/kollektiv eval --json docs/eval/corpus-dev.jsonl >"$out/dev.json"
bin/kollektiv eval --json --headings --source "$fastapi" --write-questions "$out/headings-fastapi.jsonl" >"$out/headings-fastapi.json"
bin/kollektiv eval --json --headings --source "$rust" --write-questions "$out/headings-rust-book.jsonl" >"$out/headings-rust-book.json"

echo "embedder:           $(jq -r .embedder "$out/dev.json")"
echo "chunks:             fastapi $(jq .chunks "$out/ingest-fastapi.json"), rust-book $(jq .chunks "$out/ingest-rust-book.json")"
echo "dev set:            $(figures "$out/dev.json")"
echo "headings fastapi:   $(figures "$out/headings-fastapi.json")"
echo "headings rust-book: $(figures "$out/headings-rust-book.json")"
echo "headings, both:     $(figures "$out/headings-fastapi.json" "$out/headings-rust-book.json")"
