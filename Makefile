# Verdict: the two commands a newcomer needs are `make demo` and `make test`.
# Every target bootstraps first (a no-op when nothing is missing).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
JOBS ?= 2
SWIFT_BUILD_FLAGS ?= -j $(JOBS)
RELEASE_BIN := .build/release/verdict

.PHONY: bootstrap build debug test check docs lint format coverage diagrams monitoring unit-test integration-test demo model broker-start broker-stop bench chaos fuzz clean help

help:
	@echo "make demo   - bootstrap, start the embedded broker, score generated traffic, print a summary"
	@echo "make test   - bootstrap, build, make check, start the broker, run unit and integration tests, stop it"
	@echo "make check  - validate the image, compose stack, Kubernetes overlays, alerts, dashboard, scripts, YAML, training/"
	@echo "make build  - the optimized binary at $(RELEASE_BIN)"
	@echo "make model  - retrain verdict-fraud 2.0.0 (config/stateful) in a pinned Python environment (training/)"
	@echo "make bench  - the benchmarks reported in docs/benchmarks.md"
	@echo "make chaos  - the fault matrix in docs/reliability.md (many minutes)"
	@echo "make fuzz   - libFuzzer + AddressSanitizer over the hostile-input parsers (FUZZ_SECONDS=60 per target)"

bootstrap:
	@scripts/bootstrap

build: bootstrap
	swift build -c release $(SWIFT_BUILD_FLAGS) --product verdict

debug: bootstrap
	swift build $(SWIFT_BUILD_FLAGS)

# Integration suites must run under `make test`: VERDICT_REQUIRE_INTEGRATION=1 turns a missing broker
# into failures, and scripts/test-run fails the run when any suite was skipped.
test: build check
	scripts/test-run

# The deployment and monitoring artifacts through their own validators (installs them when missing).
check:
	scripts/check

# docs/configuration.md's reference, generated from the key declarations (a test fails when it is stale).
docs: build
	$(RELEASE_BIN) config docs --write docs/configuration.md

# swift-format with the house configuration (.swift-format); `make format` rewrites in place.
lint:
	swift format lint --strict --parallel -r Sources Tests examples/swift Package.swift

format:
	swift format format --in-place --parallel -r Sources Tests examples/swift Package.swift

# Line coverage per target of the last make test, against scripts/coverage-thresholds (make test
# enforces them; this prints every file too).
coverage:
	scripts/coverage --files

# docs/diagrams/*.svg from their .dot sources; k8s/base/prometheusrule.yaml from monitoring/.
diagrams:
	scripts/render-diagrams

monitoring:
	scripts/render-monitoring

demo: build
	scripts/demo

bench: build
	scripts/bench

# The fault matrix of docs/reliability.md (many minutes); rewrites its table with today's figures.
chaos: build
	scripts/chaos

# libFuzzer + ASan over the event validator and every model reader: FUZZ_SECONDS per target (60).
FUZZ_SECONDS ?= 60
fuzz: bootstrap
	scripts/fuzz $(FUZZ_SECONDS)

# Retrains verdict-fraud 2.0.0 (models/verdict-fraud/2.0.0, config/stateful) in training/.venv,
# built from the hashed lock.
model: build
	scripts/train-model

broker-start: bootstrap
	scripts/broker start

broker-stop:
	scripts/broker stop

clean:
	rm -rf .build .run
