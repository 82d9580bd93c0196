# The two commands: `make run` (the app on SQLite with demo data) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: run test install services lint bench clean

$(BIN)/flask: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/flask

install: $(BIN)/flask

# WRO_ENV defaults to production (safe for one-off commands); local use says so.
run: export WRO_ENV ?= development
run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi demo
	$(BIN)/flask --app wsgi run --port $(PORT)

services:
	scripts/ensure-services.sh
	scripts/ensure-chromium.sh

test: install services
	WRO_ENV=test $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check webriskops config tests bench
	$(BIN)/ruff format --check webriskops config tests bench

bench: install services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance build .pytest_cache .hypothesis
