# Customer tiering study — the verbs. `make help` lists them.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PARAMS ?= params/sample.yaml
STAMP  := $(VENV)/.installed
SAMPLE := data/raw/sample/truth.json

SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's location warnings are noise; its exit status still fails the build (pipefail)
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location" || true; }
TEST_WORKERS ?= 2
SIZES  ?= 1000000,10000000

.DEFAULT_GOAL := help
.PHONY: help setup sample-data browser report test test-fast lab bench bench-study lint format notebooks lock clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip $(QUIET_PIP)
	$(PY) -m pip install --quiet -r requirements.lock $(QUIET_PIP)
	$(PY) -m pip install --quiet --no-deps -e . $(QUIET_PIP)
	$(PY) -c "import analysis, pandas, papermill, duckdb" 
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the locked versions

$(SAMPLE): $(STAMP) src/analysis/simulation/sample_data.py src/analysis/simulation/purchases.py
	$(PY) -m analysis sample-data data/raw/sample

sample-data: $(SAMPLE) ## generate the embedded sample data set (deterministic)

report: $(SAMPLE) ## run the sample study (or PARAMS=params/x.yaml) and print the report's path
ifeq ($(PARAMS),params/sample.yaml)
	$(PY) -m analysis run params/sample_prev.yaml --no-progress
endif
	$(PY) -m analysis run $(PARAMS)

browser: ## install Debian's chromium for the browser tests when it is missing
	@bash tests/ensure_chromium.sh

# The tests run on $(TEST_WORKERS) workers sharing one output folder (the sample study is run once);
# nbval then re-executes the notebooks in order over that folder's sample run.
test: $(SAMPLE) browser ## run every test: unit, property, end-to-end, browser, then the notebooks (nbval)
	@out=$$(mktemp -d -t tiering-tests-XXXXXX); trap 'rm -rf "$$out"' EXIT; export TIERING_OUT_ROOT=$$out; \
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope tests && \
	$(PY) -m pytest -q notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg

test-fast: $(SAMPLE) ## unit tests and fewer property examples: no whole-study runs, no Spark, no browser
	TIERING_FAST_TESTS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope -m "not slow and not spark and not browser" tests

lab: $(SAMPLE) ## open JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP) ## scale benchmarks, printed as tables
	$(PY) benchmarks/run.py

bench-study: $(STAMP) ## the whole study from a raw export of SIZES transaction rows, per stage (SIZES=1000000,10000000)
	$(PY) benchmarks/study_run.py --sizes $(SIZES)

lint: $(STAMP) ## ruff over the library, tests, benchmarks and notebooks
	$(VENV)/bin/ruff check src tests benchmarks notebooks

format: $(STAMP) ## fix what ruff can fix (imports, simple lint) in place
	$(VENV)/bin/ruff check --fix src tests benchmarks notebooks

notebooks: $(SAMPLE) ## rerun the sample study and store its text outputs in notebooks/ (for nbval)
	$(PY) -m analysis run params/sample_prev.yaml --no-progress
	$(PY) -m analysis run params/sample.yaml --no-progress
	$(PY) -m analysis store-outputs data/processed/sample/notebooks

lock: ## re-resolve requirements.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

clean: ## remove the venv, generated data and run outputs
	rm -rf $(VENV) data/raw/sample data/processed/* reports/* .pytest_cache .hypothesis spark-warehouse
	touch data/processed/.gitkeep reports/.gitkeep
