PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# `make run` needs only what the service runs on; tests and benchmarks add their tools.
$(RUNTIME): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(RUNTIME)

$(DEV): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(RUNTIME) $(DEV)

run: $(RUNTIME)
	$(BIN)/python manage.py init-db
	$(BIN)/python manage.py run --host 127.0.0.1 --port 5000

lint: $(DEV)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

# Never part of `make test`. Over loopback too: make bench BENCH_ARGS=--http
bench: $(DEV)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
