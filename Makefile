# Kollektiv's build, test and run entry points. `make run` and `make test`
# work on a fresh Debian machine with PostgreSQL running (see README.md).

GO       ?= go
BIN      := bin
KOLLEKTIV := $(BIN)/kollektiv
# The one build command; the Dockerfile runs the same.
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -o $(KOLLEKTIV) ./cmd/kollektiv
TESTFLAGS ?= -race -timeout 30m

.PHONY: all build run test load vet lint sqlc-diff generate tools pgvector clean fuzz hostile openapi-lint

all: build

build:
	$(BUILD)

## run: pgvector, build, migrate, start serve, ingest a sample, print a key, URLs, summary and a search.
run:
	@bash scripts/run.sh

## test: vet, lint, check generated code, then every test with the race detector.
test: pgvector tools vet lint sqlc-diff
	$(GO) test $(TESTFLAGS) ./...

## load: issue 8's load test (50 sources of 5 users, one 20x larger, API readers): prints times, asserts correctness and fairness.
load: pgvector
	KOLLEKTIV_LOAD=1 $(GO) test -count=1 -v -timeout 30m -run '^TestLoad$$' ./internal/app/

FUZZTIME ?= 60s

## fuzz: run every fuzz target for FUZZTIME each (default 60s), one worker each.
fuzz:
	for t in FuzzChunk FuzzConvertHTML FuzzFrontMatter FuzzCountTokens; do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s -parallel 1 ./internal/content/ || exit 1; \
	done
	$(GO) test -run '^$$' -fuzz '^FuzzCreateSourceRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s -parallel 1 ./internal/api/

## hostile: the hostile-input tests at full size (a 5 MB line, a 100,000-row table, ...) and their benchmark.
hostile:
	KOLLEKTIV_HOSTILE_FULL=1 $(GO) test -count=1 -timeout 30m -run Hostile -v ./internal/content/
	$(GO) test -run '^$$' -bench 'BenchmarkChunkHostile' -cpu 1 -benchtime 1x -timeout 30m ./internal/content/

vet:
	$(GO) vet ./...

lint: tools
	$(BIN)/golangci-lint run ./...

## sqlc-diff: fail when internal/store is stale against db/ (run `make generate`).
sqlc-diff: tools
	$(BIN)/sqlc diff
	$(BIN)/sqlc vet

# recommended-strict is the recommended rules with warnings as errors.
# Pinned: a new release may add rules. Needs Node.js 20.19+ and npm (the
# npm registry); not part of `make test`, so that CI never depends on npm.
# TestOpenAPILintRules (internal/api) checks the rules the document broke.
REDOCLY_VERSION := 2.77.0

## openapi-lint: `redocly lint` with its recommended rules on internal/api/openapi.json; fails on any error or warning.
openapi-lint:
	npx --yes @redocly/cli@$(REDOCLY_VERSION) lint --extends recommended-strict --format stylish internal/api/openapi.json

generate: tools
	$(BIN)/sqlc generate

tools:
	@bash scripts/install-tools.sh

pgvector:
	@bash scripts/install-pgvector.sh

clean:
	rm -rf $(BIN)
