# Everything a fresh clone needs: `make run` and `make test` install into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: install install-test run test lint bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres,test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

## run: initialise the embedded default under ./var and start web + scheduler
run: install
	$(BIN)/sendgate run

## test: the whole suite (PostgreSQL variants when SENDGATE_TEST_DATABASE_URL is set)
test: install-test
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: install-test
	$(BIN)/ruff check .

## bench: every benchmark at full size; bench-quick: small runs for a laptop
bench: install-test
	$(BIN)/python bench/run_all.py

bench-quick: install-test
	$(BIN)/python bench/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
