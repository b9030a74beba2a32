# Every target CI runs is here; .ci/run calls `make ci`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format typecheck ci helm-schema clean bench faults image image-smoke dashboard codemap

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "qbsync needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## demo: run the whole pipeline on this machine (embedded broker unless one is configured)
demo: $(STAMP)
	$(BIN)/qbsync demo

## test: the test suite on a real broker and real databases (the README's command)
test: $(STAMP)
	$(BIN)/python -m pytest

## faults: the fault suite (docs/faults.md): hostile requests, crashes, kill -9, a broker
## restart, against real gateway and worker processes on the test broker; prints one JSON
## object, fails unless every case held with nothing lost or duplicated (~3 min on 2 cores)
faults: $(STAMP)
	$(BIN)/python -m faults

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python docs/codemap.py --check

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict deploy/helm/schema/values.py
	$(BIN)/mypy --strict deploy/grafana/dashboard.py
	$(BIN)/mypy --strict docs/codemap.py

helm-schema: $(STAMP)
	$(BIN)/python deploy/helm/schema/values.py

## codemap: regenerate the code map in docs/architecture.md from the tree (tests/test_codemap.py)
codemap: $(STAMP)
	$(BIN)/python docs/codemap.py

## dashboard: regenerate the Grafana dashboard JSON the chart ships
dashboard: $(STAMP)
	$(BIN)/python deploy/grafana/dashboard.py

ci: lint typecheck test

## image: the container image from the Containerfile, with buildah (docs/operations.md);
## BASE=<image> to build on a registry's base instead of a local debootstrap of bookworm.
IMAGE ?= localhost/qbsync:ci
image: $(STAMP)
	deploy/image/build.sh $(IMAGE)

## image-smoke: build it, then start it against the test broker: the gateway answers /readyz
## and SOAP serverVersion, the worker joins its group (tests/deploy/test_image.py)
image-smoke: image
	QBSYNC_TEST_IMAGE=$(IMAGE) $(BIN)/python -m pytest tests/deploy/test_image.py -q \
	  -o log_cli=true --log-cli-level=INFO --log-cli-format='%(message)s'

## bench: every benchmark (docs/performance.md), one JSON object per line on stdout, progress
## on stderr; about 8 to 10 minutes on 2 cores. Broker: QBSYNC_KAFKA_BOOTSTRAP_SERVERS, else the
## test broker (qbsync/brokers.py).
bench: $(STAMP)
	@$(BIN)/python bench/qbxml.py
	@$(BIN)/python bench/soap_path.py
	@$(BIN)/python bench/transform.py
	@$(BIN)/python bench/topics.py
	@$(BIN)/python bench/gateway.py
	@$(BIN)/python bench/e2e.py
	@$(BIN)/python bench/changes.py

clean:
	rm -rf $(VENV) .qbsync .pytest_cache .mypy_cache .ruff_cache
