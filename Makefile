# autonomous-operator — every entry point a user or CI needs. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
UV ?= uv
PYTEST_ARGS ?=
# Tests run in two processes (pytest-xdist), each with its own control plane, Redis and
# Chromium: most of a test is spent waiting on real processes, so two overlap well on
# two cores (measured: 7m45s against 11m51s in one process). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
XDIST = $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist load)

.PHONY: help deps lint fmt test unit integration e2e cluster down demo bench crds

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## install what is missing (uv env, redis-server, chromium, control-plane binaries)
	@scripts/ensure-deps.sh

lint: ## ruff, mypy, import-linter, helm lint
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports
	@if [ -d charts/autonomous-operator ]; then "$$(scripts/build-control-plane.sh)/helm" lint --strict charts/autonomous-operator; fi

fmt: ## format and auto-fix
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

test: deps lint ## the whole suite: lint, unit, integration (real API server, Redis, Chromium), e2e when Docker runs
	$(UV) run --frozen pytest $(XDIST) $(PYTEST_ARGS)

unit: ## unit tests only (no I/O)
	$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

integration: deps ## integration tests only
	$(UV) run --frozen pytest tests/integration $(XDIST) $(PYTEST_ARGS)

e2e: ## the kind-based suite (needs a Docker engine)
	$(UV) run --frozen pytest -m e2e tests/e2e $(PYTEST_ARGS)

cluster: deps ## start the local control plane + Redis in the background; writes .cluster/env
	@scripts/cluster-up.sh .cluster >/dev/null
	@echo "ready: run '. .cluster/env' then 'kubectl get aop'"

demo: deps ## the product end to end: control plane, operator, autoscaled workers, demo stores, examples/
	@scripts/demo.sh

down: ## stop everything 'make cluster' / 'make demo' started and remove its data
	@scripts/cluster-down.sh .cluster

crds: ## regenerate crds/ from the pydantic models
	$(UV) run --frozen python scripts/gen-crds.py

bench: deps ## run the benchmarks; writes bench/results/latest.json and latest.md
	$(UV) run --frozen python -m bench
