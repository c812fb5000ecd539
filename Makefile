# screening-eagle-id — every task a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# VENV=.venv-3.12 keeps a second venv beside the first (as `make test-pythons` does).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Which interpreter made the venv: when PYTHON names another one, the venv is rebuilt.
INTERPRETER := $(VENV)/.interpreter
PY_ID := import os, sys; print(sys.implementation.name, sys.version.split()[0], os.path.realpath(sys.base_prefix))
# Python versions the classifiers in pyproject.toml claim; `make test-pythons` runs each one.
PYTHONS ?= python3.11 python3.12 python3.13
# PYTHON is looked up on the caller's PATH without the venv's own bin (an activated venv): else
# a plain `make test` after `make … PYTHON=python3.12` finds the venv's python3, which is 3.12,
# and the venv silently stays on it. Nothing puts a venv on make's own PATH.
empty :=
space := $(empty) $(empty)
CALLER_PATH := $(subst $(space),:,$(filter-out $(abspath $(BIN)),$(subst :,$(space),$(PATH))))
PY := PATH='$(CALLER_PATH)' $(PYTHON)
# The generator runs from its own venv: its httpx cap never reaches the one the tests use.
GEN_VENV ?= .venv-gen
GEN_STAMP := $(GEN_VENV)/.installed

GEN_OUT ?= generated/screening_eagle_id_client
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv generate lint test test-deps test-pythons docs demo serve conformance bench clean FORCE

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv with PYTHON and install the project + the dev group (re-run when pyproject changes)

# Rewritten (so newer) only when the interpreter differs from the one that made the venv; the
# venv is then deleted, and the stamp below rebuilds it. A venv from before this rule gets the
# file dated 2000, so recording its interpreter never reinstalls it.
$(INTERPRETER): FORCE
	@$(PY) -c pass 2>/dev/null || { echo "PYTHON=$(PYTHON) does not run"; exit 1; }
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Python 3.11+ is required (PYTHON=$(PYTHON))"; exit 1; }
	@want="$$($(PY) -c '$(PY_ID)')"; \
	have="$$(cat $@ 2>/dev/null || $(BIN)/python -c '$(PY_ID)' 2>/dev/null)"; \
	if [ "$$want" != "$$have" ]; then \
	  if [ -e $(VENV) ]; then echo "$(VENV) was made with $${have:-another interpreter}; rebuilding it with $$want"; fi; \
	  rm -rf $(VENV) && mkdir -p $(VENV) && echo "$$want" > $@; \
	elif [ ! -e $@ ]; then \
	  echo "$$want" > $@ && touch -t 200001010000 $@; \
	fi

# Dependency groups (PEP 735) need pip >= 25.1: the venv's pip is upgraded first.
$(STAMP): pyproject.toml $(INTERPRETER)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet -e '.[server,redis,requests,httpx2,otel,conformance]' --group dev
	touch $@

# The generator and the ruff its post-hooks call (the `generate` group), in their own venv.
$(GEN_STAMP): pyproject.toml
	test -x $(GEN_VENV)/bin/python || $(PY) -m venv $(GEN_VENV)
	$(GEN_VENV)/bin/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(GEN_VENV)/bin/python -m pip install --quiet --group generate
	touch $@

# The hooks call `ruff`: the generator venv's bin goes first on PATH, or they are silently
# skipped and the output changes.
generate: $(GEN_STAMP) ## Regenerate the client from openapi.yaml into generated/ (GEN_OUT=dir to write elsewhere)
	rm -rf $(GEN_OUT)
	PATH='$(abspath $(GEN_VENV))/bin:$(CALLER_PATH)' $(GEN_VENV)/bin/openapi-python-client \
	  generate --path openapi.yaml --meta none \
	  --config codegen.yaml --output-path $(GEN_OUT) --fail-on-warning >/dev/null
	touch $(GEN_OUT)/py.typed

lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict, spec validation
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/openapi-spec-validator openapi.yaml

test: $(STAMP) $(GEN_STAMP) lint ## Lint, then the whole test suite (installs everything first, the generator too)
	$(BIN)/pytest

# The client side of the suite once against the oldest httpx and attrs that pyproject.toml
# allows (their lower bounds) and once against the newest, each end in its own venv
# (.venv-deps-oldest, .venv-deps-newest: `.[server]`, the `test-client` group and the ends).
DEPS_TESTS ?= tests/test_client.py tests/test_auth.py tests/test_hostile.py tests/test_token.py \
  tests/test_engine.py tests/test_credentials.py tests/test_generated.py tests/test_import_cost.py
test-deps: ## The client tests against the oldest and the newest httpx and attrs pyproject.toml allows (~2 min)
	@set -e; for end in oldest newest; do \
	  venv=.venv-deps-$$end; \
	  test -x $$venv/bin/python || $(PY) -m venv $$venv; \
	  $(PY) tests/dependency_ends.py $$end > $$venv/ends.txt; \
	  $$venv/bin/python -m pip install --quiet --upgrade 'pip>=25.1'; \
	  $$venv/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager \
	    -e '.[server]' --group test-client -r $$venv/ends.txt; \
	  echo "== $$end: $$($$venv/bin/python -c 'from importlib.metadata import version as v; \
	    print(*(f"{n} {v(n)}" for n in ("httpx", "httpcore", "attrs")), sep=", ")')"; \
	  $$venv/bin/python -m pytest -q $(DEPS_TESTS) -k 'not regenerating'; \
	done

test-pythons: ## `make test` on every Python of PYTHONS (names or paths), each in its own .venv-X.Y (slow)
	@set -e; for py in $(PYTHONS); do \
	  version="$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" \
	    || { echo "== $$py: does not run here, skipped"; continue; }; \
	  echo "== $$py ($$version)"; $(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$version; \
	done

# tests/test_docs.py runs the same build in `make test`.
docs: $(STAMP) ## Build the documentation site into build/docs (warnings are errors: broken links fail)
	$(BIN)/python -m sphinx -W --keep-going -E -q -b html docs build/docs
	@echo "docs: open build/docs/index.html"

demo: $(STAMP) ## Run the main job against the embedded reference server
	$(BIN)/python -m screening_eagle_id._demo

serve: $(STAMP) ## Run the reference server in dev mode on HOST:PORT
	$(BIN)/python -m screening_eagle_id_server --dev --host $(HOST) --port $(PORT)

# A thin wrapper around `python -m screening_eagle_id_conformance` (also `eagle-id conformance`).
# The secret comes from $$EAGLE_ID_CLIENT_SECRET (or --client-secret-file in ARGS), never from a
# make variable: a command line is readable by every local user in the process list.
# CI jobs: run the command itself, not make — make turns every failure into exit status 2, and
# the suite's own 0 / 1 / 2 tell "conformant" from "not conformant" from "could not run".
conformance: $(STAMP) ## Check any server: URL=… CLIENT_ID=… [SCOPE=…] [ARGS="--profile oauth2 …"]; the secret: env EAGLE_ID_CLIENT_SECRET
	$(if $(CLIENT_SECRET)$(SPECIAL_CLIENT_SECRET),$(error secrets on make's command line are visible in the process list: export EAGLE_ID_CLIENT_SECRET / EAGLE_ID_SPECIAL_CLIENT_SECRET instead))
	$(BIN)/python -m screening_eagle_id_conformance $(if $(URL),--url '$(URL)') \
	  $(if $(CLIENT_ID),--client-id '$(CLIENT_ID)') $(if $(SCOPE),--scope '$(SCOPE)') $(ARGS)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[server,redis,requests,httpx2,otel,conformance]' --group bench
	touch $@

# The server section is judged under wrk: installed here when root with apt-get, else asked for.
bench: $(BENCH_STAMP) ## Measure speed against httpx-auth, Authlib, oidc-provider and bare baselines (~4 min); writes benchmarks/RESULTS.md
	@command -v wrk >/dev/null || [ "$${BENCH_LOADER:-}" = httpx ] || [ "$$(id -u)" != 0 ] \
	  || ! command -v apt-get >/dev/null || { echo "make bench: installing wrk (apt-get)"; \
	  apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }; }
	@command -v wrk >/dev/null || [ "$${BENCH_LOADER:-}" = httpx ] || { echo "make bench: the \
	server section needs wrk: install it (apt-get install wrk, brew install wrk), or run \
	BENCH_LOADER=httpx make bench to use the weaker built-in loader (server targets not judged)"; exit 1; }
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean: ## Remove the venv and every cache
	rm -rf $(VENV) .venv-3.* $(GEN_VENV) .venv-deps-* build dist reports .ruff_cache .mypy_cache \
	  .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
