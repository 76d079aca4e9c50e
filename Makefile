# Confo for Go. `make` runs the tests; see README.md.
#
#   make deps        download the module's dependencies once (stamp in tmp/)
#   make servers     install the Debian servers the tests start (etcd, Redis,
#                    ZooKeeper, PostgreSQL) if missing; needs root or sudo
#   make test        unit and in-process etcd tests, with the race detector
#   make e2e         the end-to-end tests and the quick start against a real
#                    etcd binary (Debian's etcd-server), started and stopped here
#   make lint        gofmt and go vet
#   make fuzz        each fuzz target (FUZZ_TARGETS) for FUZZTIME (20s)
#   make bench       the benchmarks of bench/ (its own module); BENCHFLAGS adds flags
#   make quickstart  the walk-through, against an in-process etcd

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO ?= go
STAMPS := tmp
BENCHFLAGS ?=
FUZZTIME ?= 20s
FUZZ_TARGETS := FuzzValidateName FuzzNormalize FuzzDecodeObject FuzzDecodeObjectFast FuzzNormalizeFast FuzzEncodeFast \
	./schema:FuzzStampedValueValidatesAsCommitted ./schema:FuzzFastPathNeverMoreLenient

.PHONY: deps servers test e2e e2e-run lint fuzz bench quickstart

deps: $(STAMPS)/deps.stamp

# Re-download only when the module's requirements change.
$(STAMPS)/deps.stamp: go.mod go.sum
	@mkdir -p $(STAMPS)
	$(GO) mod download
	@touch $@

# The tests start real servers on loopback; make sure they are installed.
servers:
	@scripts/install-servers.sh

test: deps servers
	$(GO) test -race -count=1 ./...

# scripts/with-etcd.sh starts etcd on free loopback ports, runs e2e-run with
# CONFO_ETCD_ENDPOINTS set, and stops etcd and removes its data, pass or fail.
e2e: deps servers
	scripts/with-etcd.sh $(MAKE) --no-print-directory e2e-run

# The quick start runs twice: a second run against the same cluster must work.
e2e-run:
	@if [[ -z "$${CONFO_ETCD_ENDPOINTS:-}" ]]; then echo "e2e-run needs CONFO_ETCD_ENDPOINTS: use make e2e" >&2; exit 1; fi
	@mkdir -p $(STAMPS)
	$(GO) test -race -count=1 -tags e2e -run E2E -v ./... 2>&1 | tee $(STAMPS)/e2e.log
	@grep -q -- '--- PASS: TestE2E' $(STAMPS)/e2e.log || { echo "e2e: no TestE2E test ran" >&2; exit 1; }
	$(GO) run ./examples/quickstart
	$(GO) run ./examples/quickstart >/dev/null

lint: deps
	@unformatted=$$(gofmt -l .); if [[ -n "$$unformatted" ]]; then echo "gofmt -l: not formatted:" >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

# One target at a time: go test -fuzz takes a single target. Inputs that
# fail are written to testdata/fuzz/<FuzzName>/ and then run by make test.
fuzz: deps
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

# Six counts so that benchstat can give medians and spreads; the raw figures
# stay in bench/bench.txt, and benchstat sets each library beside the raw
# client (one column per /lib). BENCHMARKS.md records a run.
BENCHSTAT ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
bench:
	@if [[ ! -f bench/go.mod ]]; then echo "bench: no bench/ module in this tree" >&2; exit 1; fi
	cd bench && $(GO) test -mod=mod -run '^$$' -bench . -benchmem -count 6 $(BENCHFLAGS) . | tee bench.txt
	cd bench && { $(BENCHSTAT) -col /lib bench.txt || echo "bench: benchstat unavailable; the figures are in bench/bench.txt" >&2; }

quickstart: deps
	$(GO) run ./examples/quickstart

# The fan-out measurements of SCALE.md (long; CI makes only the 50-manager
# smoke run, TestSmoke in scale/, as part of make test). Results are
# appended to tmp/scale.txt; SIZES, PROCS and CHANGES override the set.
.PHONY: scale
scale: deps servers
	scripts/scale.sh
