# Countersign: `make dev` runs the whole API locally; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# .venv: what `make dev` runs (RUN_STAMP), or that and the toolchain of `make test` in one install (STAMP).
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.installed-stamp
UV := $(BIN)/uv
SYSTEM_STAMP := $(VENV)/.system-deps-stamp
# The SDK's build tool (esbuild), pinned by sdk/browser/package-lock.json and installed by npm ci.
SDK_DIR := sdk/browser
SDK_STAMP := $(SDK_DIR)/node_modules/.installed-stamp
# The scanners have their own environment: checkov's dependencies are not SAM CLI's.
SCAN_VENV := .venv-scanners
SCAN_STAMP := $(SCAN_VENV)/.installed-stamp
# Lambda's Python: the unit suite runs under it too, and sam build compiles the artifact with it.
VENV313 := .venv313
STAMP313 := $(VENV313)/.installed-stamp
include tools/artifact/python313.mk
export PYTHON313
export SAM_CLI_TELEMETRY := 0
CHECKS := integration browser unit-3.11 unit-3.13 lint build scan validate sdk
# `make test` runs this many checks at a time (each check's output is printed whole when it ends).
TEST_JOBS ?= $(words $(CHECKS))
# The integration and browser suites wait on servers and deadlines and take longest: they run at
# normal priority. The checks that only compute run at idle priority (nice where chrt is missing),
# so they take the CPU time those two leave and never slow them down.
BACKGROUND := $(shell chrt --idle 0 true 2>/dev/null && echo chrt --idle 0 || echo nice -n 19)

.PHONY: help install install-run install313 dev test checks lint unit-3.11 unit-3.13 format unit integration sdk sdk-deps sdk-build browser validate scan build bench bench-load fuzz openapi clean
.DEFAULT_GOAL := help

help:  ## list the targets and what each does (this text)
	@grep -hE '^[a-z][a-z0-9.-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9.-]+):.*## (.*)$$/\1\t\2/' | expand -t 14

install-run: $(RUN_STAMP)  ## create .venv with what `make dev` runs: the layer (editable), the CLI, the local stack on moto

# Every install goes through uv, pinned in constraints.txt: the same pinned packages pip would install,
# resolved and unpacked in seconds instead of a minute or more each (pip only bootstraps uv into .venv).
$(UV): constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt uv
	touch $(UV)

$(RUN_STAMP): pyproject.toml layers/verification/pyproject.toml constraints.txt $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e layers/verification -e .
	touch $(RUN_STAMP)

install: $(STAMP) $(STAMP313) $(SCAN_STAMP) $(SDK_STAMP) $(SYSTEM_STAMP)  ## everything `make test` runs: install-run, the toolchain (pytest, ruff, mypy, SAM CLI, playwright), .venv313, the scanners, esbuild; Chromium and Node

# One install, not install-run and then the toolchain: the checks start as soon as it is done.
$(STAMP): pyproject.toml layers/verification/pyproject.toml constraints.txt $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e layers/verification -e '.[toolchain]'
	touch $(RUN_STAMP) $(STAMP)

# Chromium and Node, from apt when missing: only the browser and SDK checks wait for them.
$(SYSTEM_STAMP): tools/browser-deps.sh
	mkdir -p $(VENV)
	tools/browser-deps.sh
	touch $(SYSTEM_STAMP)

$(SCAN_STAMP): constraints-scanners.txt $(UV)
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(SCAN_VENV)/bin/python -c constraints-scanners.txt checkov cfn-lint-serverless
	touch $(SCAN_STAMP)

install313: $(STAMP313)  ## create .venv313 (CPython 3.13, as on Lambda) with the layer and the unit suite's tools

$(STAMP313): pyproject.toml layers/verification/pyproject.toml constraints.txt $(UV)
	$(call require_python313)
	test -x $(VENV313)/bin/python || "$(PYTHON313)" -m venv $(VENV313)
	$(UV) pip install --quiet --compile-bytecode --python $(VENV313)/bin/python -c constraints.txt -e layers/verification -e '.[test]'
	touch $(STAMP313)

dev: install-run  ## the API on http://127.0.0.1:3000 backed by moto server; Ctrl-C stops it
	$(BIN)/countersign local

test:  ## every check (what CI runs), all at once (TEST_JOBS=N for fewer); exits non-zero if any check fails
	@$(MAKE) --no-print-directory --keep-going -j$(TEST_JOBS) --output-sync=target checks
	@echo "make test: every check passed ($(CHECKS))"

checks: $(CHECKS)

lint: $(STAMP)  ## ruff, ruff format --check and mypy --strict (layer, tools, each function)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BACKGROUND) $(BIN)/mypy
	for fn in functions/*/app.py; do $(BACKGROUND) $(BIN)/mypy --config-file pyproject.toml "$$fn" || exit 1; done

format: $(STAMP)  ## ruff --fix and ruff format, in place
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: unit-3.11 unit-3.13  ## the unit suite under the development Python and under CPython 3.13

unit-3.11: $(STAMP)  ## the unit suite under the development Python (.venv)
	$(BACKGROUND) $(BIN)/pytest tests/unit

unit-3.13: install313  ## the unit suite under CPython 3.13, Lambda's Python (.venv313)
	$(BACKGROUND) $(VENV313)/bin/pytest tests/unit

integration: $(STAMP)  ## integration tests over HTTP against a local stack on moto server
	$(BIN)/pytest tests/integration

sdk-deps: $(SDK_STAMP)  ## npm ci in sdk/browser: the pinned bundler (esbuild) the SDK is built with

$(SDK_STAMP): $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json $(SYSTEM_STAMP)
	cd $(SDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(SDK_STAMP)

sdk-build: $(SDK_STAMP)  ## rebuild the served SDK files (functions/web/static/sdk/) and the npm package's dist/ from sdk/browser/src
	node $(SDK_DIR)/build.mjs

sdk: $(SDK_STAMP)  ## the browser SDK's logic and build (Node's test runner; fails if the served files are stale)
	node --test tests/sdk/

browser: $(STAMP) $(SDK_STAMP) $(SYSTEM_STAMP)  ## the SDK and the console in headless Chromium against the local stack
	$(BIN)/pytest tests/browser

fuzz: $(STAMP)  ## deeper property-based fuzzing of every route from the OpenAPI document (> 3,000 requests)
	FUZZ_RANDOM=1 FUZZ_EXAMPLES=60 $(BIN)/pytest --timeout=1800 tests/integration/test_fuzz_openapi.py -k test_fuzz_every_route

validate: $(STAMP)  ## SAM and CloudFormation lint of template.yaml
	$(BACKGROUND) $(BIN)/sam validate --lint --template-file template.yaml

scan: $(SCAN_STAMP)  ## the scanners operators run: checkov and cfn-lint's serverless rules (suppressions: template Metadata)
	$(BACKGROUND) $(SCAN_VENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(BACKGROUND) $(SCAN_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

openapi: $(STAMP)  ## write docs/openapi.json from the routes (a test fails when it drifts)
	$(BIN)/python -m countersign_dev.devtools.openapi > docs/openapi.json

build: $(STAMP)  ## sam build without Docker: arm64 / python3.13 wheels, 3.13 bytecode, via the makefiles
	$(call require_python313)
	$(BACKGROUND) $(BIN)/sam build --template-file template.yaml --parallel \
		--build-dir .aws-sam/build >/dev/null
	grep -q "manylinux.*_aarch64" .aws-sam/build/VerificationLayer/python/cryptography-*.dist-info/WHEEL
	"$(PYTHON313)" tools/artifact/check_bytecode.py .aws-sam/build
	$(BIN)/python tools/artifact/check_sizes.py .aws-sam/build template.yaml
	@echo "sam build: ok (.aws-sam/build; the layer's cryptography is the aarch64 build)"

bench: build  ## performance ratios and budgets (BENCHMARKS.md), the built artifact's too; exits non-zero if a budget is missed
	$(BIN)/python -m benchmarks.run

bench-load: $(STAMP)  ## a bounded load run on the local stack (30 s, 4 clients, loopback; BENCHMARKS.md)
	$(BIN)/python -m benchmarks.load

clean:  ## remove .venv, .venv313, .venv-scanners, build output, caches and local state
	rm -rf $(VENV) $(VENV313) $(SCAN_VENV) .aws-sam .mypy_cache .ruff_cache .countersign $(SDK_DIR)/node_modules $(SDK_DIR)/dist
