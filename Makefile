PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
# Where `make run` and `make serve` listen: make run PORT=5001, make serve HOST=0.0.0.0
HOST ?= 127.0.0.1

.PHONY: run serve serve-granian test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# `make run` needs only what the service runs on; tests and benchmarks add their tools.
$(RUNTIME): requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -r requirements.txt
	touch $(RUNTIME)

$(DEV): requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -r requirements-dev.txt
	touch $(RUNTIME) $(DEV)

run: PORT ?= 5000
# Mail is printed on the terminal, so the links of sign-up and reset show there.
run: export MAIL_URL ?= console:
run: $(RUNTIME)
	$(BIN)/python manage.py init-db
	$(BIN)/python manage.py run --host $(HOST) --port $(PORT)

# gunicorn as production runs it, with gunicorn.conf.py's settings.
serve: PORT ?= 8000
serve: $(RUNTIME)
	$(BIN)/python manage.py init-db
	$(BIN)/gunicorn -c gunicorn.conf.py -b $(HOST):$(PORT) 'api:create_app()'

# The same under granian, with api/granian_settings.py's settings.
serve-granian: PORT ?= 8000
serve-granian: $(RUNTIME)
	$(BIN)/python manage.py init-db
	$(BIN)/python -m api.granian_settings --bind $(HOST):$(PORT)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# The inner loop: SQLite only, no slow tests (real servers, long loops). Setting the two
# variables, even empty, keeps the run from starting PostgreSQL and Redis of its own.
test-fast: lint
	TEST_DATABASE_URL= TEST_REDIS_URL= $(BIN)/python -m pytest -m "not slow"

# Never part of `make test`. Over loopback too: make bench BENCH_ARGS=--http
bench: $(DEV)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
