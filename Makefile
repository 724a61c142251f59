# Switchboard: `make run` starts the product with demo data, `make test` runs
# every test. Both bring up PostgreSQL and Redis through .ci/services when
# none are configured (see the top of that file).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SERVICES := bash .ci/services
GO ?= go
PKGS ?= ./...
TESTFLAGS ?=
RACE_PKGS ?= ./...
FUZZTIME ?= 30s
ARGS ?=
# make run SIMULATE=1: simulated callers ring the demo hotline and bot
# agents answer, so the wallboard lives (switchboard simulate --help).
SIMULATE ?=
SIMULATE_ARGS ?= --rate 6 --aht 40 --abandon 0.15 --agents 3

.PHONY: help build run test race bench fuzz lint clean

help: ## list the targets
	@echo 'Usage: make TARGET [ARGS=...] [FUZZTIME=30s]'
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-7s %s\n", $$1, $$2}'

build: ## build bin/switchboard
	$(GO) build -o bin/switchboard ./cmd/switchboard

run: build ## start Switchboard with demo data (local PostgreSQL and Redis if none are set); ARGS=... passed to serve; SIMULATE=1 adds simulated calls (SIMULATE_ARGS)
ifeq ($(SIMULATE),)
	$(SERVICES) exec ./bin/switchboard serve --demo $(ARGS)
else
	$(SERVICES) exec bash -c '$(RUN_SIMULATED)'
endif

# The server and the simulator side by side: the simulator waits for the
# server to be ready and finds the demo's connector in its database. Ctrl-C
# stops the simulator first (it hangs up its calls), then the server, which
# runs in a session of its own so the terminal's Ctrl-C does not reach it
# before; the server's end stops the simulator; the simulator's end
# (--duration, an error) leaves the server running.
define RUN_SIMULATED
setsid ./bin/switchboard serve --demo $(ARGS) & server=$$!; \
./bin/switchboard simulate $(SIMULATE_ARGS) & sim=$$!; \
stop() { kill -TERM $$sim 2>/dev/null; wait $$sim 2>/dev/null; kill -TERM $$server 2>/dev/null || true; }; \
trap stop INT TERM; \
status=0; wait $$server || status=$$?; \
while kill -0 $$server 2>/dev/null; do status=0; wait $$server || status=$$?; done; \
kill -TERM $$sim 2>/dev/null; wait $$sim 2>/dev/null || true; \
exit $$status
endef

test: ## run all tests (PKGS, TESTFLAGS), then go vet
	$(SERVICES) exec $(GO) test -count=1 -timeout 20m $(TESTFLAGS) $(PKGS)
	$(GO) vet $(PKGS)

race: ## run the fast packages' tests with the race detector
	$(SERVICES) exec $(GO) test -race -count=1 -timeout 20m $(TESTFLAGS) $(RACE_PKGS)

bench: ## run the benchmarks; output also in artifacts/bench.txt
	@mkdir -p artifacts
	$(SERVICES) exec $(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS) | tee artifacts/bench.txt

fuzz: ## run every Fuzz target for FUZZTIME (30s) each
	@found=0; \
	for f in $$(grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=.run \
			--exclude-dir=artifacts --exclude-dir=bin 'func Fuzz' . | sort); do \
		for fn in $$(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$$f" | cut -d' ' -f2); do \
			found=1; \
			echo "== $$fn in ./$$(dirname "$${f#./}")"; \
			$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "./$$(dirname "$${f#./}")"; \
		done; \
	done; \
	if [ "$$found" = 0 ]; then echo 'no Fuzz targets found'; fi

lint: ## fail on files gofmt would change; go vet
	@files="$$(find . \( -path ./.git -o -path ./.run -o -path ./artifacts -o -path ./bin \) -prune -o -name '*.go' -print | xargs -r gofmt -l)"; \
	if [ -n "$$files" ]; then echo "gofmt would change:"; echo "$$files"; exit 1; fi
	$(GO) vet $(PKGS)

clean: ## stop the throwaway PostgreSQL and Redis; remove bin, .run and artifacts
	$(SERVICES) stop
	@if [ -L .run/pg ]; then rm -rf "$$(readlink -f .run/pg)"; fi
	rm -rf bin .run artifacts
