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

.PHONY: help setup training-setup audit-setup synth test lint format typecheck lock train-local train-local-vision demo audit bench clean

# `make help` prints every target that has a `## ` comment: add one to each new target.
help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/\1\t\2/' \
		| awk -F'\t' '{ gsub(/\$$\(STAGE\)/, "$(STAGE)", $$2); printf "make %-12s %s\n", $$1, $$2 }'
	@echo ""
	@echo "The console script: $(abspath $(VENV))/bin/bedrock-pipeline (after make setup)."
	@echo "Put it on PATH with: source $(VENV)/bin/activate"

# Setup is stamped so repeated runs are fast; it re-runs when a pin changes. Every install is
# constrained by requirements.lock, so transitive versions are the locked ones too. CDK work
# (`make synth`) needs no torch: the training extra is a separate stamp that tests depend on.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==24.3.1
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

$(VENV)/.training: $(VENV)/.installed
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,training,local]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Lambda runtime dependencies (pydantic, Powertools, boto3/botocore, matplotlib) as a layer for
# arm64 / Python 3.14, installed from pinned wheels at setup so that synthesis itself needs no
# network. The runtime (Amazon Linux 2023, glibc 2.34) runs manylinux_2_28 wheels. --no-compile:
# bytecode compiled by this Python would be ignored by 3.14 and only count against the 250 MB limit.
$(LAYER_DIR)/.installed: lambdas/requirements.txt $(VENV)/.installed
	rm -rf $(LAYER_DIR) && mkdir -p $(LAYER_DIR)/python
	$(PY) -m pip install --quiet --no-deps --no-compile --only-binary=:all: \
		--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
		--implementation cp --python-version 3.14 --target $(LAYER_DIR)/python -r lambdas/requirements.txt
	touch $@

setup: $(VENV)/.installed node_modules/.installed $(LAYER_DIR)/.installed ## install .venv, the pinned CDK CLI and the Lambda layer (once; again when a pin changes)
	@echo "setup done; bedrock-pipeline is $(abspath $(VENV))/bin/bedrock-pipeline (source $(VENV)/bin/activate to put it on PATH)"

training-setup: setup $(VENV)/.training ## setup, plus the training extra (torch, transformers, peft) for tests and train-local

# The one lock of the transitive set, then the files derived from it. uv keeps every version
# already locked unless a pin in pyproject.toml or a requirements.in moved (UPGRADE=1: newest).
LOCK_INPUTS := pyproject.toml lambdas/requirements.in training_image/requirements.in
lock: setup ## re-resolve requirements.lock, regenerate the layer's and the image's requirements
	$(VENV)/bin/uv pip compile $(LOCK_INPUTS) --all-extras --universal --python-version 3.11 \
		--custom-compile-command "make lock" --quiet $(if $(UPGRADE),--upgrade) -o requirements.lock
	$(PY) -m tools.lock

$(AUDIT_VENV)/.installed: tools/audit-requirements.txt
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --upgrade pip==24.3.1
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r tools/audit-requirements.txt
	touch $@

audit-setup: $(AUDIT_VENV)/.installed ## install cfn-lint and checkov into their own .venv-audit

synth: setup ## synthesize stage $(STAGE) into cdk.out/$(STAGE)/ (offline, cdk-nag); other stages' output stays
	$(PY) -m tools.synth $(STAGE)
	$(PY) -m tools.state_diagram cdk.out/$(STAGE)

lint: setup ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## ruff fix and format in place
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: training-setup ## mypy
	$(VENV)/bin/mypy

test: training-setup audit-setup lint typecheck ## lint, type checks and the whole test suite
	$(PY) -m pytest -q

train-local: training-setup ## validate the sample data, then a tiny LoRA run on this CPU through the container's entry point
	$(PY) -m training_image.local_run --out build/local-run

train-local-vision: training-setup ## a tiny Llama 3.2 Vision (Mllama) LoRA run on generated images, on this CPU
	$(PY) -m training_image.local_run_vision --out build/local-run-vision

# Local mode (docs/local.md): synthesizes the dev stage, then runs it against local stand-ins.
demo: training-setup ## the whole workflow in local mode (emulation): base vs fine-tuned, build/demo/
	$(PY) -m bedrock_pipeline.local.demo --out build/demo

audit: setup audit-setup ## security report for every stage (cdk.out/security-report.md)
	$(PY) -m tools.audit

bench: training-setup ## run the benchmarks in benchmarks/
	$(PY) benchmarks/validate_dataset.py
	$(PY) benchmarks/train_throughput.py --smoke

clean: ## remove cdk.out, build and tool caches
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
