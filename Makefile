# The two commands a new user needs: `make up` (platform on a local kind cluster)
# and `make test` (the whole test suite). Everything else supports those.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := operator bot_image webhook_image

.PHONY: help venv test e2e lint bench clean up down images chart-test

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python  ## Create .venv with every package and the pinned test tools
	$(BIN)/pip install -q $(foreach p,$(PACKAGES),-r $(p)/requirements.txt) -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps $(foreach p,$(PACKAGES),-e ./$(p))
	$(BIN)/pip check
	@$(BIN)/pip list 2>/dev/null | grep -iE '^(aiogram|pydantic|kopf|kubernetes)' 

test: venv  ## Run the whole test suite (real PostgreSQL, real Redis, emulated Kubernetes API)
	$(BIN)/pytest

e2e: venv  ## The real tier: a local Kubernetes v1.34 (real control plane, kubelet, containerd), the chart, tests/e2e
	hack/e2e.sh

lint: venv  ## ruff over the tree, mypy over each package
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(foreach p,$(PACKAGES),cd $(p) && ../$(BIN)/mypy --config-file ../pyproject.toml . && cd .. &&) true
	$(BIN)/mypy --config-file pyproject.toml tests

bench: venv  ## Run the benchmarks under tests/bench and print their tables
	$(BIN)/pytest tests/bench --run-bench -p no:randomly -q -s

clean:  ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache

# --- Local cluster and chart (hack/up.sh, charts/booking-saas) -------------------------
KIND_CLUSTER ?= booking-saas
IMAGE_TAG ?=
DOCKER ?= docker

up:  ## Bring the platform up on a local kind cluster (creates it if absent; safe to rerun)
	KIND_CLUSTER=$(KIND_CLUSTER) IMAGE_TAG=$(IMAGE_TAG) DOCKER=$(DOCKER) hack/up.sh

down:  ## Delete the local kind cluster and everything in it
	kind delete cluster --name $(KIND_CLUSTER)

images:  ## Build the three images (booking-operator, booking-bot, booking-webhook) with docker, tag IMAGE_TAG (dev)
	$(DOCKER) build -t booking-operator:$(or $(IMAGE_TAG),dev) operator
	$(DOCKER) build -t booking-bot:$(or $(IMAGE_TAG),dev) bot_image
	$(DOCKER) build -t booking-webhook:$(or $(IMAGE_TAG),dev) webhook_image

chart-test: venv  ## Lint, render and validate the Helm chart offline (installs the pinned helm)
	hack/install-helm.sh
	$(BIN)/pytest tests/chart -q
