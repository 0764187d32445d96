# Sluice developer commands. `make run` and `make test` are all a newcomer needs; both install first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# uv is locked like any other tool (sluice-cdk runs it for `make build`), so `uv sync` puts it in .venv. Use uv from
# PATH when present; otherwise bootstrap the locked version straight into .venv with pip (PyPI only, no curl | sh):
# `uv sync` then finds it already installed, and the machine holds one copy of uv, not two.
UV_VERSION := $(shell awk '/^name = "uv"$$/ { getline; gsub(/"/, "", $$3); print $$3; exit }' uv.lock)
UV := $(or $(shell command -v uv 2>/dev/null),$(BIN)/uv)
# Trust the machine's certificate store, as pip does: networks with a TLS-inspecting proxy have their CA there,
# and uv's bundled Mozilla roots would refuse it.
export UV_SYSTEM_CERTS ?= 1
# jsii (CDK) prints a banner on Node 20 and may phone home without these.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
# pytest-xdist workers for the test targets. Most tests wait (visibility timeouts, subprocesses, the database),
# so more workers than cores pays; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 4
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup
# Lambda asset architecture for `make build` / `make synth`: arm64 (default) or x86_64.
ARCH ?= arm64
# Where `make synth` sends the alarms: email addresses (comma-separated), an SNS topic ARN, or none. prod refuses
# to synthesize without one; the default says "none" out loud (the app prints it) for a synth that only checks.
ALARM_DESTINATION ?= none

.PHONY: help install run test test-unit test-integration lint format typecheck bench build synth audit clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock shared/pyproject.toml services/*/pyproject.toml cdk/pyproject.toml | $(UV)
	$(UV) sync --all-packages --frozen
	@touch $@

install: $(VENV)/.installed ## Create .venv with every package, dev tools and the `sluice` command

run: install ## Run the whole pipeline locally on embedded defaults and print a summary
	$(BIN)/sluice local demo

test: install ## Run every test (unit + integration) on PostgreSQL: SLUICE_TEST_DATABASE_URL, else Docker, else local binaries
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-unit: install ## Unit tests only (network disabled, no database)
	$(BIN)/pytest $(PYTEST_PARALLEL) tests/unit

test-integration: install ## Integration tests only (real PostgreSQL, local SQS endpoint)
	$(BIN)/pytest $(PYTEST_PARALLEL) tests/integration

lint: install ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared/src services/consumer/src services/ingest/src services/cli/src services/local/src cdk/src tests tools

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Run every benchmark under tests/benchmarks and print its figures
	@set -e; for bench in tests/benchmarks/bench_*.py; do echo "== $$bench"; $(BIN)/python $$bench; done

build: install ## Build the Lambda assets (ARCH=arm64|x86_64) into build/
	$(BIN)/python -m sluice_cdk.build --arch $(ARCH)

synth: install ## Build the assets if stale and synthesize dev and prod into cdk/cdk.out/ (ARCH=, ALARM_DESTINATION=)
	cd cdk && CDK_CONTEXT_JSON='{"sluice:arch": "$(ARCH)", "sluice:alarm-destination": "$(ALARM_DESTINATION)"}' $(BIN)/python app.py

audit: install ## Audit the locked dependencies (exit 3: the vulnerability service could not be reached)
	$(BIN)/python -m tools.audit --uv $(UV)

clean: ## Remove the virtual environment, build outputs and caches
	rm -rf .venv .uv build cdk.out cdk/cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
