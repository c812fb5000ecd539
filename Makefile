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
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(BENCH_STAMP) ## Measure speed against httpx-auth, Authlib and bare baselines (~2 min); writes benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks

clean: ## Remove the venv and every cache
	rm -rf $(VENV) build dist reports .ruff_cache .mypy_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
