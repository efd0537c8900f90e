# The two commands: `make run` (the whole product with demo data) and `make test` (the whole suite).
# Both install what they need first; a second run with nothing changed skips the install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
UV_VERSION := 0.13.8
MO := locale/ja/LC_MESSAGES/django.mo
ARGS ?=

.PHONY: install run test bench services lint format messages lock clean

install: $(STAMP) $(MO)

$(STAMP): requirements/dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/dev.lock
	@touch $@

$(MO): locale/ja/LC_MESSAGES/django.po $(STAMP)
	$(BIN)/python scripts/compile_messages.py

run: install
	$(BIN)/python scripts/stack.py run

test: install
	$(BIN)/python scripts/stack.py test $(ARGS)

services: install
	$(BIN)/python scripts/stack.py services

bench: install
	$(BIN)/python scripts/stack.py bench $(ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/djlint templates --lint

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

messages: install
	$(BIN)/python manage.py makemessages --locale ja --no-obsolete --ignore .venv --ignore .local --ignore '*/tests/*'
	$(BIN)/python scripts/compile_messages.py

# Re-resolve the lock files after changing pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet -o requirements/base.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes --quiet -o requirements/dev.lock

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache $(MO)
