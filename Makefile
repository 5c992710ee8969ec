# Two commands: `make run` (the embedded stack) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kworkflow dev

# Two test processes (pytest-xdist), each with its own Temporal dev server: most tests wait on
# the server, so two share the machine's cores well. The slowest tests are listed at the end
# (--durations): a long one that is a scale or fuzz test belongs in test-slow.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/pytest -q -m "not slow" -n $(TEST_WORKERS) --durations=15

# Scale tests (minutes each): .ci/run runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# The project's own files only (ruff: `include` in pyproject.toml; mypy: its `packages`): a
# user's file placed in the checkout does not fail it.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/interpreter_overhead.py

clean:
	rm -rf $(VENV) .kworkflow .pytest_cache .mypy_cache .ruff_cache
