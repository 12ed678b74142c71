# Two commands matter: `make demo` (set everything up, run the sample rollout on a local
# cluster) and `make test` (set everything up, run every test). The rest are parts of them.
VENV ?= .venv
PY := $(VENV)/bin/python
CACHE ?= $(HOME)/.cache/modelrollout

.PHONY: setup system-packages python testbed demo test lint bench

setup: system-packages python testbed

system-packages:
	bash scripts/system-packages.sh

python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Control-plane binaries (kube-apiserver & co, etcd, kwok) and helm from Go modules, and
# an S3-compatible server for the storage tests; all cached under $(CACHE).
testbed:
	bash e2e/cluster/build.sh >/dev/null
	bash e2e/helm/build.sh >/dev/null
	bash tests/tools/install-versitygw.sh >/dev/null

demo: setup
	$(PY) -m e2e.testbed.demo

test: setup
	$(PY) -m pytest

lint: python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=operator $(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile

bench: setup
	$(PY) bench/optimize/run.py
	$(PY) bench/serve/run.py
