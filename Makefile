# samizdat's build and test entry points. `make test` is the one command that
# runs everything CI runs; it installs or starts what its tests need (Go modules
# from the module proxy, libsignal from npm, a throwaway PostgreSQL from the
# machine image, Chromium from Debian's packages) and needs no network beyond
# those.

SHELL   := /bin/bash
GO      ?= go
FUZZTIME ?= 10m
# Packages whose tests need a running libsignal (npm) harness run under `interop`.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '^samizdat/interop')

# testsum summarises `go test -json`: a line per package, the output of
# failed tests, counts. `make test` saves each stage's stream and exit status
# in RESULTS and adds them up at the end.
TESTSUM = bin/testsum
RESULTS = .results
STAGES  = vet unit interop

.PHONY: test vet unit interop soak fuzz bench build

## test: everything CI runs (vet, unit tests with the race detector, libsignal
## interop). Every stage runs whatever the others did; the output ends with a
## line per stage (ok or FAILED) and `test: N passed, M failed, K skipped`,
## and the exit status is non-zero if anything failed.
test: $(TESTSUM)
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS); \
	for stage in $(STAGES); do \
		echo "== $$stage"; \
		$(MAKE) --no-print-directory $$stage SAVE=$(RESULTS)/$$stage.json; \
		echo $$? > $(RESULTS)/$$stage.exit; \
	done; \
	echo "== summary"; \
	$(TESTSUM) -total $(RESULTS) $(STAGES)

$(TESTSUM): internal/testsum/main.go
	$(GO) build -o $@ ./internal/testsum

# VERSION is what `samizdat version` prints: the release tag (v0.x.y) the
# checkout is at, or after; empty outside a tagged checkout, and the binary
# then says what its build information knows.
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null)

build:
	$(GO) build -buildvcs=auto -ldflags "-X main.version=$(VERSION)" -o bin/samizdat ./cmd/samizdat

vet:
	$(GO) vet ./...
	@files=$$(git ls-files '*.go') && test -n "$$files" || { echo "vet: no Go files listed by git"; exit 1; }; \
		test -z "$$(gofmt -l $$files)" || { echo "gofmt needed:"; gofmt -l $$files; exit 1; }

# unit starts a throwaway PostgreSQL 15 (scripts/pg.sh: a temp folder, a unix
# socket, run as the image's postgres user) for the store, multi-node and load
# generator tests; SAMIZDAT_PG_REQUIRED=1 makes them fail rather than skip
# without it. NATS servers are embedded in the tests that need them. The
# browser tests of `samizdat web` drive headless Chromium: scripts/browser.sh
# installs Debian's package if it is missing and sets SAMIZDAT_REQUIRE_BROWSER=1
# so that they fail rather than skip without it.
unit: $(TESTSUM)
	set -o pipefail; SAMIZDAT_PG_REQUIRED=1 scripts/browser.sh run scripts/pg.sh run $(GO) test -json -race -count=1 -timeout 30m $(UNIT_PKGS) | \
		$(TESTSUM) -stage unit $(if $(SAVE),-save $(SAVE))

## interop: install @signalapp/libsignal-client (pinned) and run the Go<->libsignal suite
interop: $(TESTSUM)
	cd interop/node && npm ci --no-audit --no-fund --loglevel=error
	set -o pipefail; SAMIZDAT_INTEROP_REQUIRED=1 $(GO) test -json -count=1 ./interop/... | \
		$(TESTSUM) -stage interop -echo '^interop: ' $(if $(SAVE),-save $(SAVE))

## soak: the full-size and long runs CI leaves out (docs/testing.md): the
## packages below with SAMIZDAT_SOAK=1, the lab's full scenarios, and
## `samizdat bench --scale small`. Stops at the first failure.
SOAK_PKGS      = ./e2etest/...
SOAK_SCENARIOS = rkn-2018 cold-start enumerate-all sni-dpi probing whitelist
soak: $(TESTSUM) build
	set -o pipefail; SAMIZDAT_SOAK=1 SAMIZDAT_PG_REQUIRED=1 scripts/pg.sh run $(GO) test -json -race -count=1 -timeout 60m $(SOAK_PKGS) | \
		$(TESTSUM) -stage soak
	for s in $(SOAK_SCENARIOS); do \
		SAMIZDAT_LAB_SCENARIO=$$s $(GO) test -count=1 -v -run '^TestScenario$$' -timeout 20m ./lab || exit 1; \
	done
	bin/samizdat bench --scale small

## fuzz: run every fuzz target for FUZZTIME each (default 10m)
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## bench: Go benchmarks of the session library, with libsignal side by side
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./session/... ./interop/...
