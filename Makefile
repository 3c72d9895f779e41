# samizdat's build and test entry points. `make test` is the one command that
# runs everything CI runs; it installs or starts what its tests need (Go modules
# from the module proxy, libsignal from npm, a throwaway PostgreSQL from the
# machine image) and needs no network beyond those.

SHELL   := /bin/bash
GO      ?= go
FUZZTIME ?= 10m
# Packages whose tests need a running libsignal (npm) harness run under `interop`.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '^samizdat/interop')

.PHONY: test vet unit interop fuzz bench build

## test: everything CI runs (vet, unit tests with the race detector, libsignal interop)
test: vet unit interop

build:
	$(GO) build -buildvcs=auto -o bin/samizdat ./cmd/samizdat

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# unit starts a throwaway PostgreSQL 15 (scripts/pg.sh: a temp folder, a unix
# socket, run as the image's postgres user) for the store, multi-node and load
# generator tests; SAMIZDAT_PG_REQUIRED=1 makes them fail rather than skip
# without it. NATS servers are embedded in the tests that need them.
unit:
	SAMIZDAT_PG_REQUIRED=1 scripts/pg.sh run $(GO) test -race -count=1 $(UNIT_PKGS)

## interop: install @signalapp/libsignal-client (pinned) and run the Go<->libsignal suite
interop:
	cd interop/node && npm ci --no-audit --no-fund --loglevel=error
	SAMIZDAT_INTEROP_REQUIRED=1 $(GO) test -count=1 -v ./interop/... 2>&1 | tee .interop.log | grep -E '^(=== RUN|--- |interop:|ok|FAIL|PASS|panic)' ; \
		status=$${PIPESTATUS[0]}; grep -E '^interop: ' .interop.log | tail -1; rm -f .interop.log; exit $$status

## fuzz: run every fuzz target for FUZZTIME each (default 10m)
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## bench: Go benchmarks of the session library, with libsignal side by side
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./session/... ./interop/...
