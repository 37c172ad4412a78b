# mlops-operator — one entry point for building, testing and demoing.
#
#   make demo          the whole loop on the local cluster: train, serve, drift, retrain,
#                      canary, promote, roll back a bad model, lineage
#   make demo-down     stop the demo's local cluster
#   make test          everything: lint, unit, integration, e2e (on the local cluster,
#                      or on the cluster named by KUBECONFIG when it is set)
#   make bench         benchmarks (TrainingJob against a floor and Kubeflow's training
#                      operator, a 10,000-run cache test, serving, retraining); writes
#                      bench/reports/LATEST.md
#   make cluster-up    start the local control plane (kubeconfig: .local/cluster/kubeconfig)
#   make cluster-down  stop it and remove its state
#   make crds          regenerate crds/ (and the chart's copy) from the pydantic models
#   make image         the operator image (docker or podman), tagged as the chart's default

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/hack
export PATH := $(CURDIR)/.local/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
LOCAL_KUBECONFIG := $(CURDIR)/.local/cluster/kubeconfig

.PHONY: help venv toolchain prometheus deps lint fmt unit integration e2e test crds \
        cluster-up cluster-down demo demo-down bench run clean image

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Go builds of kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok, helm,
# Prometheus 3 + promtool and Kueue; cached by version outside the repo, linked into .local/bin.
toolchain:
	bash hack/toolchain/build.sh

# A real Prometheus 3 server for canary analysis and drift (built from its Go module).
prometheus:
	@bash hack/install-prometheus.sh

deps: venv toolchain prometheus

lint: venv
	$(VENV)/bin/ruff check operator hack tests e2e bench
	$(VENV)/bin/ruff format --check operator hack tests e2e bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: venv
	$(VENV)/bin/ruff check --fix operator hack tests e2e bench
	$(VENV)/bin/ruff format operator hack tests e2e bench

crds: venv
	$(PY) -m mlops_operator.api.crdgen crds

# The chart's default image: values.yaml's image.repository, tagged with the version (the
# chart's appVersion). CONTAINER_ENGINE=docker|podman picks one; otherwise the first that
# answers `info` (a client without a running daemon does not count).
IMAGE_REPOSITORY := ghcr.io/mlops-operator/mlops-operator
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
IMAGE ?= $(IMAGE_REPOSITORY):$(VERSION)
CONTAINER_ENGINE ?=

image:
	@engine="$(CONTAINER_ENGINE)"; \
	if [ -z "$$engine" ]; then \
	  for e in docker podman; do \
	    if command -v $$e >/dev/null && $$e info >/dev/null 2>&1; then engine=$$e; break; fi; \
	  done; \
	fi; \
	if [ -z "$$engine" ]; then \
	  echo "make image: no container engine here (docker or podman, with its daemon running);" \
	    "nothing was built. Without one, tests/integration/test_image.py checks that the" \
	    "wheel builds, installs into a fresh venv and runs." >&2; \
	  exit 1; \
	fi; \
	echo "$$engine build --build-arg VERSION=$(VERSION) -t $(IMAGE) ."; \
	$$engine build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

unit: venv
	$(PY) -m pytest tests/unit bench/tests

integration: deps
	$(PY) -m pytest tests/integration

e2e: deps
	$(PY) -m pytest e2e

# One pytest session, so the local cluster is brought up once for all of it.
test: deps lint
	$(PY) -m pytest tests bench/tests e2e

cluster-up: deps
	$(PY) -m localcluster up

cluster-down: venv
	$(PY) -m localcluster down

run: venv
	KUBECONFIG=$${KUBECONFIG:-$(LOCAL_KUBECONFIG)} $(VENV)/bin/mlops-operator run

demo: deps
	$(PY) hack/demo.py

demo-down: cluster-down

# The Kubeflow training operator is the TrainingJob benchmark's peer: built here (cached
# after the first time, a few minutes cold), not by `make deps`.
bench: deps
	bash hack/toolchain/build.sh training-operator
	$(PY) -m bench

clean: cluster-down
	rm -rf $(VENV) .local
