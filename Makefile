# screening-eagle-id — every task a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The generator's post-hooks call `ruff`: put the venv's pinned ruff first on PATH,
# or the hooks are silently skipped and the output changes.
export PATH := $(CURDIR)/$(BIN):$(PATH)

GEN_OUT ?= generated/screening_eagle_id_client
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv generate lint test demo serve conformance bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv and install the project with its dev extra (re-run when pyproject changes)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

generate: $(STAMP) ## Regenerate the client from openapi.yaml into generated/ (GEN_OUT=dir to write elsewhere)
	rm -rf $(GEN_OUT)
	$(BIN)/openapi-python-client generate --path openapi.yaml --meta none \
	  --config codegen.yaml --output-path $(GEN_OUT) --fail-on-warning >/dev/null
	touch $(GEN_OUT)/py.typed

lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict, spec validation
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/openapi-spec-validator openapi.yaml

test: $(STAMP) lint ## Lint, then the whole test suite (installs everything first)
	$(BIN)/pytest

demo: $(STAMP) ## Run the main job against the embedded reference server
	$(BIN)/python -m screening_eagle_id._demo

serve: $(STAMP) ## Run the reference server in dev mode on HOST:PORT
	$(BIN)/python -m screening_eagle_id_server --dev --host $(HOST) --port $(PORT)

# Secrets reach the runner through the environment only: make exports CLIENT_SECRET=… to the
# recipe and the shell, not make, expands it, so it never appears on a command line.
conformance: $(STAMP) ## Check any server: URL=… CLIENT_ID=… CLIENT_SECRET=… [SCOPE=…] [MAX_EXAMPLES=…] [INSECURE=1]
	@EAGLE_ID_CLIENT_SECRET="$${CLIENT_SECRET:-$${EAGLE_ID_CLIENT_SECRET:-}}" \
	EAGLE_ID_SPECIAL_CLIENT_SECRET="$${SPECIAL_CLIENT_SECRET:-$${EAGLE_ID_SPECIAL_CLIENT_SECRET:-}}" \
	$(BIN)/python -m tests.conformance --url "$${URL:-}" --client-id "$${CLIENT_ID:-}" \
	  --scope "$${SCOPE:-}" --max-examples "$${MAX_EXAMPLES:-}" \
	  --special-client-id "$${SPECIAL_CLIENT_ID:-}" $(if $(filter 1 yes true,$(INSECURE)),--insecure)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
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
	$(BIN)/python -m benchmarks

clean: ## Remove the venv and every cache
	rm -rf $(VENV) build dist reports .ruff_cache .mypy_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
