# partynet — the two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_WORKERS ?= 2

.PHONY: setup demo test lint bench schemathesis clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.stamp-install: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.stamp-install node_modules/.package-lock.json
	$(BIN)/pybabel -q compile -d node/translations
	$(BIN)/pybabel -q compile -d hub/translations

demo: setup
	$(BIN)/partynet demo

test: setup lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/pytest tests/benchmarks -m bench -p no:randomly -s -o addopts="" --import-mode=importlib

schemathesis: setup
	$(PY) -m tests.schemathesis_run

clean:
	rm -rf $(VENV) node_modules instance
