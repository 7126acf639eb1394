# Developer entry points. Every target sets up .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Two worker processes, one test file each at a time: a file's compiled programs stay in one
# process, and the suite takes half the time on two cores. TEST_WORKERS=0 runs in-process.
TEST_WORKERS ?= 2

.PHONY: venv test demo lint bench docs

venv: $(VENV)/.stamp

# Reinstall only when pyproject.toml changes.
$(VENV)/.stamp: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[test,examples,docs,dask]'
	touch $@

test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

demo: venv
	$(BIN)/python examples/demo.py

lint: venv
	$(BIN)/ruff check tracegrad tests examples benchmarks tools
	$(BIN)/ruff format --check tracegrad tests examples benchmarks tools
	$(BIN)/python tools/line_budget.py

bench: venv
	$(BIN)/python benchmarks/run.py

# The documentation site (mkdocs.yml) into build/site; warnings are errors.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site
