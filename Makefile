# Two commands matter on a fresh machine: `make dev` runs loglens locally, `make test` runs every test.
# Both create .venv and install what they need; nothing else has to be set up by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS := clients/javascript
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_HOME := $(CURDIR)/build/cdk-home

.PHONY: dev test lint typecheck pytest test-python-client test-js synth deps-layer bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[dev]' -e clients/python
	touch $@

$(JS)/node_modules/.package-lock.json: $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

dev: $(STAMP)
	$(BIN)/loglens dev

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy
	cd clients/python && ../../$(BIN)/mypy log_collector

pytest: $(STAMP)
	$(BIN)/pytest

# The client has its own pytest configuration (import mode, timeouts), so it runs on its own.
test-python-client: $(STAMP)
	cd clients/python && ../../$(BIN)/pytest -q

test-js: $(JS)/node_modules/.package-lock.json
	cd $(JS) && npm test

test: lint typecheck pytest test-python-client test-js

# Results are tables with ratios against baselines measured in the same run; the query part fills
# 10M rows by default (BENCH_ROWS=300000 make bench for a quick look).
BENCH_ROWS ?= 10000000
bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queries.py --rows $(BENCH_ROWS)
	$(BIN)/python bench/archive.py
	$(BIN)/python clients/python/bench_log_call.py

# Offline, no AWS credentials, no Docker: cdk.json's "build" step builds the deps layer first.
synth: $(STAMP) node_modules/.package-lock.json
	npx cdk synth --quiet

deps-layer: $(STAMP)
	$(BIN)/python layers/deps/build.py

clean:
	rm -rf $(VENV) build cdk.out node_modules .mypy_cache .ruff_cache .pytest_cache $(JS)/node_modules $(JS)/dist
