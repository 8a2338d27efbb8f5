# The two commands a newcomer needs:
#   make demo   — install, then run the whole pipeline offline (no AWS account)
#   make test   — install with the test tools, then run the test suite
# Everything lands in .venv (Python) and node_modules (the pinned CDK CLI).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# jsii reads a comma-separated list of Node major versions whose end-of-life banner to hide.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test install install-dev cdk-cli synth lint typecheck clean

demo: install
	$(BIN)/connector demo

test: install-dev cdk-cli
	$(BIN)/pytest -n auto

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -qq -e '.[local,cdk]'

install-dev: $(BIN)/python
	$(BIN)/pip install -qq -e '.[dev]'

# The CDK CLI is pinned in package.json: aws-cdk@3 refuses aws-cdk-lib 2.275's assembly.
cdk-cli:
	@command -v npm >/dev/null || { echo "npm is needed for the CDK CLI (apt-get install nodejs npm)"; exit 1; }
	npm ci --silent --no-audit --no-fund

synth: install cdk-cli
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth --quiet

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy connector

clean:
	rm -rf $(VENV) node_modules cdk.out demo-output .pytest_cache .mypy_cache .ruff_cache
