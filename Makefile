# Two commands matter on a fresh machine: `make dev` runs loglens locally, `make test` runs every test.
# Both create .venv and install what they need from the pinned sets in requirements/ (see its README);
# nothing else has to be set up by hand.
SHELL := /bin/bash
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# uv installs into .venv's interpreter, reads only the locked hashes and shows progress.
UV_INSTALL := $(UV) pip install --python $(BIN)/python --require-hashes
LOCAL_STAMP := $(VENV)/.installed-local
DEV_STAMP := $(VENV)/.installed-dev
JS := clients/javascript
CONSOLE := clients/console
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_HOME := $(CURDIR)/build/cdk-home

.PHONY: dev console-dev test lint typecheck pytest test-python-client test-js packages test-packages console test-console synth \
	deps-layer bench lock clean

$(UV): requirements/bootstrap.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on --require-hashes --no-deps \
		-r requirements/bootstrap.txt
	touch $@

# The editable installs build with the locked setuptools (--no-build-isolation): nothing unpinned is fetched.
EDITABLE := --no-deps --no-build-isolation -e . -e clients/python

# make dev: only what running loglens needs (no CDK, moto, mypy or stubs).
$(LOCAL_STAMP): requirements/local.txt pyproject.toml clients/python/pyproject.toml | $(UV)
	@echo "installing the local set (requirements/local.txt) into $(VENV)"
	$(UV_INSTALL) -r requirements/local.txt
	$(UV) pip install --python $(BIN)/python $(EDITABLE)
	touch $@

$(DEV_STAMP): requirements/dev.txt pyproject.toml clients/python/pyproject.toml | $(UV)
	@echo "installing the full set (requirements/dev.txt) into $(VENV)"
	$(UV_INSTALL) -r requirements/dev.txt
	$(UV) pip install --python $(BIN)/python $(EDITABLE)
	touch $@ $(LOCAL_STAMP)

$(JS)/node_modules/.package-lock.json: $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The console `loglens dev` serves at /: built when npm is here, again only when its sources changed
# (Vite alone, about 2 s; `make console` adds the type check and the size budget). Without npm,
# loglens dev serves a page saying how to build it.
CONSOLE_SOURCES := $(shell find $(CONSOLE)/src -type f 2>/dev/null) $(CONSOLE)/index.html $(CONSOLE)/vite.config.ts

$(CONSOLE)/dist/index.html: $(CONSOLE_SOURCES) $(CONSOLE)/node_modules/.package-lock.json
	cd $(CONSOLE) && npx vite build --logLevel warn

console-dev:
	@if ! command -v npm >/dev/null 2>&1; then echo "npm not found: the web console is not built (loglens dev says how at /)"; \
	elif ! $(MAKE) -s --no-print-directory $(CONSOLE)/dist/index.html; then \
		echo "the web console could not be built (above); loglens dev runs without it"; fi

dev: $(LOCAL_STAMP) console-dev
	$(BIN)/loglens dev --port $(PORT)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy
	cd clients/python && ../../$(BIN)/mypy log_collector

# The browser e2e tests build the JS client and the console.
pytest: $(DEV_STAMP) $(JS)/node_modules/.package-lock.json $(CONSOLE)/node_modules/.package-lock.json
	$(BIN)/pytest

# The client has its own pytest configuration (import mode, timeouts), so it runs on its own.
test-python-client: $(DEV_STAMP)
	cd clients/python && ../../$(BIN)/pytest -q

test-js: $(JS)/node_modules/.package-lock.json
	cd $(JS) && npm test

# The clients as users install them: the npm tarball (dist/ with type declarations, the exports map
# with the pino and winston transports) and the wheel, built with the locked toolchain.
PACKAGES := build/packages
SMOKE := build/smoke
packages: $(DEV_STAMP) $(JS)/node_modules/.package-lock.json
	rm -rf $(PACKAGES) && mkdir -p $(PACKAGES)
	cd $(JS) && npm pack --silent --pack-destination $(CURDIR)/$(PACKAGES)
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		--wheel-dir $(PACKAGES) clients/python

# Each package installed where nothing else can be imported in its place (a scratch venv, a scratch
# npm folder with pino and winston at the client's pinned versions), then used once.
test-packages: packages
	rm -rf $(SMOKE) && mkdir -p $(SMOKE)/js
	$(PYTHON) -m venv --without-pip $(SMOKE)/venv
	$(UV) pip install --quiet --python $(SMOKE)/venv/bin/python --no-deps $(PACKAGES)/loglens_client-*.whl
	cd $(SMOKE) && venv/bin/python $(CURDIR)/clients/python/smoke/installed_package.py
	cp $(JS)/smoke/installed-package.mjs $(SMOKE)/js/
	cd $(SMOKE)/js && echo '{"private": true, "type": "module"}' > package.json && \
		npm install --silent --no-audit --no-fund --prefer-offline --no-package-lock \
		$(CURDIR)/$(PACKAGES)/loglens-client-*.tgz \
		$$(node -p "const d = require('$(CURDIR)/$(JS)/package.json').devDependencies; \
			['pino', 'winston', 'winston-transport'].map((n) => n + '@' + d[n]).join(' ')")
	cd $(SMOKE)/js && node installed-package.mjs

# The web console: a static build in clients/console/dist (prints its gzipped size, fails over 250 KB).
console: $(CONSOLE)/node_modules/.package-lock.json
	cd $(CONSOLE) && npm run build

# Its unit and component tests, and the built console in headless Chromium against a fake API.
test-console: $(CONSOLE)/node_modules/.package-lock.json
	cd $(CONSOLE) && npm test

test: lint typecheck pytest test-python-client test-js test-packages test-console

# Results are tables with ratios against baselines measured in the same run; the query part fills
# 10M rows by default (BENCH_ROWS=300000 make bench for a quick look).
BENCH_ROWS ?= 10000000
# The lake bench keeps every row in memory once and writes them as JSON and Parquet: 1M is its report size.
BENCH_LAKE_ROWS ?= 1000000
bench: $(DEV_STAMP)
	@# bench/local_stack.py drives HTTP with wrk (Debian's): installed here when missing and root, as .ci/run does Chromium.
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queries.py --rows $(BENCH_ROWS)
	$(BIN)/python bench/search.py --rows $(BENCH_ROWS)
	$(BIN)/python bench/lake.py --rows $(BENCH_LAKE_ROWS)
	$(BIN)/python bench/console.py
	$(BIN)/python bench/archive.py
	$(BIN)/python bench/alerts.py --rows $(BENCH_ROWS)
	$(BIN)/python clients/python/bench_log_call.py
	$(BIN)/python bench/coldstart.py
	$(BIN)/python bench/local_stack.py

# Offline, no AWS credentials, no Docker: cdk.json's "build" step builds the deps layer first.
synth: $(DEV_STAMP) node_modules/.package-lock.json
	npx cdk synth --quiet

deps-layer: $(DEV_STAMP)
	$(BIN)/python layers/deps/build.py

# Re-resolve every pin (newest versions the ranges in pyproject.toml and the .in files allow) and hashes.
LOCK := $(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock"
lock: | $(UV)
	$(LOCK) pyproject.toml requirements/build.in requirements/bootstrap.in --extra dev -o requirements/dev.txt
	$(LOCK) pyproject.toml requirements/build.in --extra local -c requirements/dev.txt -o requirements/local.txt
	$(LOCK) requirements/bootstrap.in -c requirements/dev.txt -o requirements/bootstrap.txt
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.12 --custom-compile-command "make lock" \
		layers/deps/requirements.in -c requirements/dev.txt -o requirements/layer.txt

clean:
	rm -rf $(VENV) build cdk.out node_modules .mypy_cache .ruff_cache .pytest_cache $(JS)/node_modules $(JS)/dist \
		$(CONSOLE)/node_modules $(CONSOLE)/dist $(CONSOLE)/test-artifacts
