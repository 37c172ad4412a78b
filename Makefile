# mlops-operator — one entry point for building, testing and demoing.
#
#   make demo          the whole loop on the local cluster: train, serve, drift, retrain,
#                      canary, promote, roll back a bad model, lineage
#   make demo-down     stop the demo's local cluster
#   make test          everything: lint, unit, integration, e2e (on the local cluster,
#                      or on the cluster named by KUBECONFIG when it is set)
#   make bench         benchmarks; writes a report under bench/reports/
#   make cluster-up    start the local control plane (kubeconfig: .local/cluster/kubeconfig)
#   make cluster-down  stop it and remove its state
#   make crds          regenerate crds/ (and the chart's copy) from the pydantic models

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
        cluster-up cluster-down demo demo-down bench run clean

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Go builds of kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok, helm;
# cached by version outside the repo, linked into .local/bin.
toolchain:
	bash hack/toolchain/build.sh

# A real Prometheus server for canary analysis and drift (Debian's package).
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

unit: venv
	$(PY) -m pytest tests/unit

integration: deps
	$(PY) -m pytest tests/integration

e2e: deps
	$(PY) -m pytest e2e

# One pytest session, so the local cluster is brought up once for all of it.
test: deps lint
	$(PY) -m pytest tests e2e

cluster-up: deps
	$(PY) -m localcluster up

cluster-down: venv
	$(PY) -m localcluster down

run: venv
	KUBECONFIG=$${KUBECONFIG:-$(LOCAL_KUBECONFIG)} $(VENV)/bin/mlops-operator run

demo: deps
	$(PY) hack/demo.py

demo-down: cluster-down

bench: deps
	$(PY) -m bench

clean: cluster-down
	rm -rf $(VENV) .local
