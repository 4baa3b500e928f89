# Every routine of the project. `make synth` and `make test` set up a fresh machine themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
STAGE ?= dev
LAYER_DIR := build/lambda-deps
# cfn-lint and checkov live apart from .venv: checkov pins an old boto3.
AUDIT_VENV ?= .venv-audit
export AUDIT_VENV
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 20

.PHONY: help setup audit-setup synth test lint format typecheck train-local train-local-vision audit bench clean

help:
	@echo "make synth        set up, then synthesize stage $(STAGE) into cdk.out/ (offline) with cdk-nag"
	@echo "make test         set up, then run lint, type checks and the whole test suite"
	@echo "make train-local  tiny LoRA run on this CPU through the container's entry point"
	@echo "make train-local-vision  the same for a tiny Llama 3.2 Vision (Mllama) on images"
	@echo "make audit        security report for every stage (cdk.out/security-report.md)"
	@echo "make bench        run the benchmarks in benchmarks/"

# Setup is stamped so repeated runs are fast; it re-runs when a pin changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==24.3.1
	$(PY) -m pip install --quiet -e '.[dev,training]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Lambda runtime dependencies (pydantic, Powertools) as a layer for arm64 / Python 3.14,
# installed from pinned wheels at setup so that synthesis itself needs no network.
$(LAYER_DIR)/.installed: lambdas/requirements.txt $(VENV)/.installed
	rm -rf $(LAYER_DIR) && mkdir -p $(LAYER_DIR)/python
	$(PY) -m pip install --quiet --no-deps --only-binary=:all: --platform manylinux2014_aarch64 \
		--implementation cp --python-version 3.14 --target $(LAYER_DIR)/python -r lambdas/requirements.txt
	touch $@

setup: $(VENV)/.installed node_modules/.installed $(LAYER_DIR)/.installed

$(AUDIT_VENV)/.installed: tools/audit-requirements.txt
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --upgrade pip==24.3.1
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r tools/audit-requirements.txt
	touch $@

audit-setup: $(AUDIT_VENV)/.installed

synth: setup
	rm -rf cdk.out
	$(CDK) synth --quiet -c stage=$(STAGE) > /dev/null
	$(PY) -m tools.summary cdk.out

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: setup
	$(VENV)/bin/mypy

test: setup audit-setup lint typecheck
	$(PY) -m pytest -q

train-local: setup
	$(PY) -m training_image.local_run --out build/local-run

train-local-vision: setup
	$(PY) -m training_image.local_run_vision --out build/local-run-vision

audit: setup audit-setup
	$(PY) -m tools.audit

bench: setup
	$(PY) benchmarks/validate_dataset.py
	$(PY) benchmarks/train_throughput.py --smoke

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
