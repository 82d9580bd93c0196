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
	$(BIN)/flask --app wsgi demo --base-url http://127.0.0.1:$(PORT)
	@echo "Log in at http://127.0.0.1:$(PORT)/login (the login and report links are printed above)."
	@echo "Scans started in the browser wait for a scanner. In another terminal, start one:"
	@echo "  WRO_SCANNER_ALLOW_PRIVATE=1 WRO_SCANNER_SHARED_SECRET=dev-scanner-secret-change-me \\"
	@echo "    $(BIN)/webriskops-scanner work --api-url http://127.0.0.1:$(PORT)"
	@echo "The server applies expired leases and deadlines every 30 s (or now: WRO_ENV=development $(BIN)/flask --app wsgi jobs sweep)."
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
