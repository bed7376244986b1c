# make demo: a virtualenv with tusk, then the intents example end to end on the embedded defaults.
# make test: what the tests need (Python extras, Debian packages via .ci/install), then the tests.
# make test-fast: ruff, mypy and the tests that need no job process, no server and no Ray (see FAST_TESTS), < 1 min.
# make reliability: the crash-safety suite at full size and the reliability figures (docs/reliability.md).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test,ray,adapters
DVC_VENV ?= .venv-dvc

.PHONY: demo test test-fast lint venv test-venv system-deps bench reliability clean

# doltlite needs a Python whose sqlite3 links SQLite dynamically: the machine's python3, not a uv one.
$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The distribution was called "tusk" before it became "tusk-mlops": drop the old name from an older venv.
# An editable install compiles nothing: compileall writes tusk's bytecode once, so that a command does not compile
# its modules each time where PYTHONDONTWRITEBYTECODE is set (about 60 ms of every tusk command on such a machine).
$(VENV)/.installed-base: $(BIN)/python pyproject.toml
	$(BIN)/pip uninstall -q -y tusk 2>/dev/null || true; rm -rf src/tusk.egg-info
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q -x /examples/ src/tusk
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip uninstall -q -y tusk 2>/dev/null || true; rm -rf src/tusk.egg-info
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	$(BIN)/python -m compileall -q -x /examples/ src/tusk
	touch $@ $(VENV)/.installed-base

venv: $(VENV)/.installed-base

test-venv: $(VENV)/.installed-test

system-deps:
	bash .ci/install

demo: venv
	PATH="$(abspath $(BIN)):$$PATH" bash examples/demo.sh

# the architecture first: ruff, import-linter's layers (pyproject.toml), mypy; then every test
test: test-venv system-deps lint
	$(BIN)/python -m pytest -q -ra tests

lint: test-venv
	$(BIN)/python -m ruff format --check src tests
	$(BIN)/python -m ruff check src tests
	$(BIN)/lint-imports
	$(BIN)/python -m mypy --strict src/tusk

# The fast tier, in-process only: the rules over values (tests/core: spec, config, globbing, process liveness; not
# test_plan nor the globbing case that trains, which start job processes) and the ports' pure parts: the doltlite
# store's conformance suite, imports (ingest, racing imports, Google Sheets replayed from recordings), the registry
# on an MLflow sqlite store, the immediate executor and the planner's query counts. The full suite is `make test`.
FAST_TESTS ?= tests/core/test_spec.py tests/core/test_process.py tests/core/test_globbing.py \
	tests/data/test_datastore_doltlite.py tests/data/test_ingest.py tests/data/test_import_race.py \
	tests/data/test_sheets.py tests/tracking/test_registration.py tests/execute/test_execute_immediate.py \
	tests/train/test_plan_scale.py \
	--deselect tests/core/test_globbing.py::test_a_code_glob_over_a_folder_with_a_loop_plans_and_hashes_the_real_files
test-fast: lint
	$(BIN)/python -m pytest -q -ra -m "not slow" $(FAST_TESTS)

# The peers benchmark's DVC lives in its own virtualenv: never one of tusk's dependencies.
$(DVC_VENV)/bin/dvc:
	$(PY) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/pip install -q 'dvc==3.67.1'

bench: test-venv $(DVC_VENV)/bin/dvc
	PATH="$(abspath $(BIN)):$$PATH" bash benchmarks/run-all

# kill -9 at MOMENTS moments of every command, the case suites and the long-life figures → docs/reliability.md
# and the workflow oracle at ORACLE_EXAMPLES examples of at most ORACLE_STEPS steps (make test: 3 × 12)
MOMENTS ?= 20
ORACLE_EXAMPLES ?= 120
ORACLE_STEPS ?= 25
reliability: test-venv system-deps
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tests/reliability_report.py --moments $(MOMENTS) \
		--oracle-examples $(ORACLE_EXAMPLES) --oracle-steps $(ORACLE_STEPS)

clean:
	rm -rf $(VENV) $(DVC_VENV) demo .pytest_cache
