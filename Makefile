# What a new user needs: `make demo` (the bot working, no cluster, no token), `make test` (the
# whole test suite) and `make up` (the platform on a local kind cluster). The rest supports those.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every installable package of the monorepo: adding one is one word here.
PACKAGES := contract operator bot_image webhook_image legacy_migration
# What `pip install` reads. The venv is rebuilt only when one of these (or PACKAGES) changes, so
# `make test` with a complete .venv never needs the package index (works offline).
REQUIREMENTS := requirements-dev.txt $(wildcard $(foreach p,$(PACKAGES),$(p)/requirements.txt $(p)/pyproject.toml))
STAMP := $(VENV)/.installed

.PHONY: help venv test e2e lint bench bench-real mutation demo clean up down images chart-test FORCE

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The stamp holds the package list it installed: a package added to PACKAGES reinstalls too.
ifneq ($(strip $(file < $(STAMP))),$(strip $(PACKAGES)))
$(STAMP): FORCE
endif
$(STAMP): $(BIN)/python $(REQUIREMENTS)
	$(BIN)/pip install -q $(foreach p,$(PACKAGES),$(if $(wildcard $(p)/requirements.txt),-r $(p)/requirements.txt)) -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps $(foreach p,$(PACKAGES),-e ./$(p))
	$(BIN)/pip check
	@$(BIN)/pip list 2>/dev/null | grep -iE '^(aiogram|pydantic|kopf|kubernetes)'
	@echo '$(PACKAGES)' > $@

venv: $(STAMP)  ## Create .venv with every package and the pinned test tools (again only when requirements change)

test: venv  ## Run the whole test suite (real PostgreSQL, real Redis, emulated Kubernetes API)
	$(BIN)/pytest

e2e: venv  ## The real tier: a local Kubernetes v1.34 (real control plane, kubelet, containerd), the chart, tests/e2e
	hack/e2e.sh

demo: venv  ## A customer books a haircut, the owner sees it: real bot, PostgreSQL, Redis; no token, no internet
	PYTHONPATH=tests:hack/demo $(BIN)/python -m booking_demo

lint: venv  ## ruff over the tree, mypy over each package
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(foreach p,$(PACKAGES),cd $(p) && ../$(BIN)/mypy --config-file ../pyproject.toml . && cd .. &&) true
	$(BIN)/mypy --config-file pyproject.toml tests hack/demo/booking_demo

bench: venv  ## Run the benchmarks under tests/bench and print their tables
	$(BIN)/pytest tests/bench --run-bench -p no:randomly -q -s

bench-real: venv  ## The operator benchmark on a real API server with hollow nodes (its own control plane), against the emulator
	hack/bench-real.sh

# One component per run; MUTANTS narrows it to mutant names, e.g. 'booking_bot.slots*'.
MUTATION_COMPONENT ?= bot_image
MUTANTS ?=
mutation: venv  ## Mutation testing (mutmut; not in CI): kill rate and survivors, see docs/testing.md
	hack/mutation.sh $(MUTATION_COMPONENT) $(MUTANTS)

clean:  ## Remove the virtualenv and caches (keeps .tools/, where hack/install-helm.sh puts helm)
	rm -rf $(VENV) .mypy_cache .ruff_cache .mutation

# --- Local cluster and chart (hack/up.sh, charts/booking-saas) -------------------------
KIND_CLUSTER ?= booking-saas
IMAGE_TAG ?=
DOCKER ?= docker

up:  ## Bring the platform up on a local kind cluster (creates it if absent; safe to rerun)
	KIND_CLUSTER=$(KIND_CLUSTER) IMAGE_TAG=$(IMAGE_TAG) DOCKER=$(DOCKER) hack/up.sh

down:  ## Delete the local kind cluster and everything in it
	kind delete cluster --name $(KIND_CLUSTER)

# The build context is the repository root: every image also installs the contract package.
images:  ## Build the three images (booking-operator, booking-bot, booking-webhook) with docker, tag IMAGE_TAG (dev)
	$(DOCKER) build -f operator/Dockerfile -t booking-operator:$(or $(IMAGE_TAG),dev) .
	$(DOCKER) build -f bot_image/Dockerfile -t booking-bot:$(or $(IMAGE_TAG),dev) .
	$(DOCKER) build -f webhook_image/Dockerfile -t booking-webhook:$(or $(IMAGE_TAG),dev) .

chart-test: venv  ## Lint, render and validate the Helm chart offline (installs the pinned helm into .tools/bin)
	hack/install-helm.sh
	$(BIN)/pytest tests/chart -q
