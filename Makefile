# IMAD Classroom. `make run` starts the local classroom; `make test` runs every test.
# Both set up everything first (a .venv, the package, node tools, the lab extension),
# redoing a step only when its inputs changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export IMAD_STATE_DIR ?= $(CURDIR)/state

.PHONY: run test install lint bench clean-state help

help:
	@echo "make run    start the local classroom (http://127.0.0.1:8000/)"
	@echo "make test   run all tests (pytest: hub, workspace, service, browser, fakes)"
	@echo "make bench  run the benchmarks and write docs/benchmarks.md"
	@echo "make lint   ruff check + format check"

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Python package + test tools; redone when the package metadata changes.
$(VENV)/.stamp-install: $(VENV)/bin/python setup.cfg pyproject.toml
	$(PIP) install --quiet --config-settings editable_mode=compat -e '.[test]'
	@touch $@

# configurable-http-proxy (hub and apps proxies) and playwright-core, from npm.
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.stamp-install node_modules/.stamp

run: install
	@$(PY) -m imad_extension.cli banner
	cd $(CURDIR) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/jupyterhub -f jupyterhub_config.py

test: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check imad_extension tests
	$(VENV)/bin/ruff format --check imad_extension tests

clean-state:
	rm -rf state
