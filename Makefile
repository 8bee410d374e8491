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

# JupyterLab first: building the lab extension needs its `jupyter labextension build`.
$(VENV)/.stamp-jupyterlab: $(VENV)/bin/python
	$(PIP) install --quiet 'jupyterlab>=4.2,<5'
	@touch $@

# The lab extension (labextension/, its own npm package), built into
# imad_extension/labextension/ only when its sources changed.
LABEXT_SOURCES := $(shell find labextension/src labextension/style -type f 2>/dev/null) \
	labextension/package.json labextension/package-lock.json labextension/tsconfig.json

labextension/node_modules/.stamp: labextension/package.json labextension/package-lock.json
	cd labextension && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

imad_extension/labextension/package.json: $(LABEXT_SOURCES) labextension/node_modules/.stamp $(VENV)/.stamp-jupyterlab
	cd labextension && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npm run --silent build:prod
	@touch $@

# Python package + test tools (the built lab extension is part of the package); redone
# when the package metadata changes. The venv's share/ then links to the build (as
# `jupyter labextension develop` does), so later rebuilds need no reinstall.
$(VENV)/.stamp-install: $(VENV)/.stamp-jupyterlab setup.cfg pyproject.toml imad_extension/labextension/package.json
	$(PIP) install --quiet --config-settings editable_mode=compat -e '.[test]'
	rm -rf $(VENV)/share/jupyter/labextensions/imad-classroom
	ln -s $(CURDIR)/imad_extension/labextension $(VENV)/share/jupyter/labextensions/imad-classroom
	# an editable install skips data files: enable the server extension by hand
	mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d
	cp jupyter-config/server-config/imad_extension.json $(VENV)/etc/jupyter/jupyter_server_config.d/
	mkdir -p $(VENV)/etc/jupyter/labconfig
	cp jupyter-config/labconfig/page_config.json $(VENV)/etc/jupyter/labconfig/
	@touch $@

# configurable-http-proxy (hub and apps proxies) and playwright-core, from npm.
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.stamp-install node_modules/.stamp imad_extension/labextension/package.json

run: install
	@$(PY) -m imad_extension.cli banner
	cd $(CURDIR) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/jupyterhub -f jupyterhub_config.py

test: install
	cd labextension && npm test --silent
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m benchmarks --write docs/benchmarks.md

lint: install
	$(VENV)/bin/ruff check imad_extension tests
	$(VENV)/bin/ruff format --check imad_extension tests
	cd labextension && npm run --silent lint:check

clean-state:
	rm -rf state
