# Tecopio: `make run` serves the app with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := TECOPIO_ENV=development $(BIN)/flask --app app
SCALE ?= 100000

.PHONY: run test install translations migrate demo lint bench screenshots clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

translations: install
	$(BIN)/pybabel compile --use-fuzzy -d tecopio/translations -q 2>/dev/null || $(BIN)/pybabel compile -d tecopio/translations

migrate: install
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) demo load --if-empty

# The server, and beside it the worker that runs background and scheduled jobs
# (from instance/jobs.sqlite; one at a time, as SQLite has one writer); stopping
# one stops the other.
run: translations demo
	@echo "Tecopio is starting on http://127.0.0.1:5000, with its jobs worker"
	$(FLASK) jobs worker --workers 1 & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port 5000

test: translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Extract the strings to translate and update the Spanish and Basque catalogues.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o tecopio/translations/messages.pot --no-location --no-wrap --sort-output --project Tecopio .
	$(BIN)/pybabel update -i tecopio/translations/messages.pot -d tecopio/translations --ignore-obsolete --no-fuzzy-matching --no-wrap

# Analytics, and one payment shared among the members, at scale: make bench (100,000
# members), or make bench SCALE=10000 for a quick run.
bench: translations
	$(BIN)/python bench/analytics.py --scale $(SCALE) --backend both
	$(BIN)/python bench/ledger.py --scale $(SCALE) --backend both

# The README's screenshots, from the demo data (a temporary database; Debian's chromium).
screenshots: translations
	$(BIN)/python docs/screenshots.py

clean-venv:
	rm -rf $(VENV)
