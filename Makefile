# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-mariadb test-postgres lint format worker mock bench screenshots messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(STAMP_TEST): $(STAMP_RUN) requirements-test.txt
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

run: $(STAMP_RUN)  ## start the app on SQLite with the simulated gateway
	$(BIN)/python run.py

worker: $(STAMP_RUN)  ## a dedicated delivery dispatcher
	$(BIN)/flask --app smspanel worker

mock: $(STAMP_RUN)  ## the mock 1010/HKT gateway on 127.0.0.1:5555
	$(BIN)/python scripts/mock_sms_api.py

test: $(STAMP_TEST)  ## lint, type-check, check the import contracts, run the whole suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

MARIADB_TEST_URL ?= mysql+pymysql://root@127.0.0.1:3306/test
POSTGRES_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

# The server suites leave out tests/browser: Chromium sees the same pages whatever the
# database, and tests/web, tests/api and tests/e2e run every page and query on the server.
SERVER_SUITE := --ignore=tests/browser

test-mariadb: $(STAMP_TEST)  ## the suite against MariaDB/MySQL (each run in its own database)
	TEST_DATABASE_URL=$(MARIADB_TEST_URL) $(BIN)/pytest $(SERVER_SUITE)

test-postgres: $(STAMP_TEST)  ## the suite against PostgreSQL (each run in its own database)
	TEST_DATABASE_URL=$(POSTGRES_TEST_URL) $(BIN)/pytest $(SERVER_SUITE)

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP_TEST)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP_TEST)  ## every benchmark scenario; one JSON line per figure with its target (docs/PERFORMANCE.md)
	$(BIN)/python -m bench

screenshots: $(STAMP_TEST)  ## refresh docs/screenshots/ from the browser tests
	SMSPANEL_SCREENSHOTS=1 $(BIN)/pytest tests/browser

CATALOG := src/smspanel/translations/zh_Hant_HK/LC_MESSAGES/messages.po

messages: $(STAMP_RUN)  ## extract every message into the zh_Hant_HK catalog, keeping translations
	$(BIN)/pybabel extract -F babel.cfg -k _ -k lazy_gettext -k ngettext:1,2 \
		--no-location --sort-output --no-wrap -o $(VENV)/messages.pot .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -o $(CATALOG) -l zh_Hant_HK \
		--no-wrap --no-fuzzy-matching --ignore-obsolete
	@echo "Now translate every empty msgstr in $(CATALOG) (tests/app/test_translations.py names them)."

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
