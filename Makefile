# The README's commands are targets here: `make run` and `make test`.
PYTHON ?= python3
POETRY_VERSION := 2.5.1
TOOLS := .tools
POETRY := $(TOOLS)/bin/poetry
VENV := .venv
BIN := $(VENV)/bin
export POETRY_VIRTUALENVS_IN_PROJECT := true
export POETRY_NO_INTERACTION := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: run install install-dev test check lint format typecheck imports migrate-check docs docs-serve bench bench-auth bench-authz bench-tokens clean

$(POETRY):
	@$(PYTHON) -c 'import sys; sys.exit("TruAPI needs Python 3.11 or newer (found %s)" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "poetry==$(POETRY_VERSION)"

$(BIN)/.installed-main: $(POETRY) pyproject.toml poetry.lock
	$(POETRY) install --only main
	@touch $@

$(BIN)/.installed-dev: $(POETRY) pyproject.toml poetry.lock
	$(POETRY) install --with dev
	@touch $@ $(BIN)/.installed-main

install: $(BIN)/.installed-main

install-dev: $(BIN)/.installed-dev

## First command: set up and start TruAPI on embedded SQLite (bootstrap admin printed once).
run: install
	$(BIN)/truapi serve

## Second command: set up the dev tools and run the whole test suite with coverage.
test: install-dev
	$(BIN)/pytest -n 2 --dist loadgroup --cov --cov-report=term --cov-fail-under=90

## Every static gate CI runs besides the tests.
check: lint typecheck imports docs

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install-dev
	$(BIN)/mypy

imports: install-dev
	$(BIN)/lint-imports

migrate-check: install-dev
	$(BIN)/truapi migrate
	$(BIN)/alembic check

docs: install-dev
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: install-dev
	$(BIN)/mkdocs serve

bench: install-dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-auth: install-dev
	$(BIN)/python -m bench.auth $(BENCH_ARGS)

bench-authz: install-dev
	$(BIN)/python -m bench.authz $(BENCH_ARGS)

bench-tokens: install-dev
	$(BIN)/python -m bench.token_micro

clean:
	rm -rf $(VENV) $(TOOLS) site .pytest_cache .mypy_cache .ruff_cache .coverage
