# Everything the project needs is installed by these targets, from PyPI only.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup bytecode demo test lint unit unit-oldest localstack clean
OLDEST := 3.10
OLDEST_VENV := .cache/venv-py$(OLDEST)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) bytecode

# An editable install ships no bytecode, and PYTHONDONTWRITEBYTECODE (set on these
# machines) stops Python writing any, so every CLI start would compile the package
# again. Compile it once; Python ignores a file whose source has changed since.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src

localstack:
	bash tools/install-localstack.sh

demo: $(STAMP) bytecode
	$(BIN)/python tools/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests tools benchmarks
	$(BIN)/ruff format --check src tests tools benchmarks
	$(BIN)/mypy
	MYPYPATH=tools:tests $(BIN)/mypy --strict benchmarks tools/s3servers.py tools/demo.py tools/latencyproxy.py

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The unit tests again under the oldest Python the package supports (pyenv has it here).
unit-oldest:
	@test -x $(OLDEST_VENV)/bin/pytest || { \
	  PYENV_VERSION=$$(ls /root/.pyenv/versions 2>/dev/null | grep '^$(OLDEST)\.' | tail -1) \
	  python$(OLDEST) -m venv $(OLDEST_VENV) && \
	  $(OLDEST_VENV)/bin/pip install --quiet --upgrade pip && \
	  $(OLDEST_VENV)/bin/pip install --quiet -e '.[test]'; }
	$(OLDEST_VENV)/bin/python --version
	$(OLDEST_VENV)/bin/pytest -q -p no:cacheprovider tests/unit

# The whole suite: lint, types, unit and end-to-end tests on moto, rclone serve s3 and
# LocalStack (installed on first use), then the unit tests under the oldest Python.
test: $(STAMP) localstack lint
	BUCKETSYNC_REQUIRE_LOCALSTACK=1 $(BIN)/pytest -q
	$(MAKE) unit-oldest

clean:
	rm -rf $(VENV) .cache

# The benchmark (benchmarks/README.md). Peers live in their own venvs, never in $(VENV).
BENCH_VENV := .cache/bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed
FSSPEC_VENV := .cache/bench-fsspec-venv
FSSPEC_STAMP := $(FSSPEC_VENV)/.installed

.PHONY: bench bench-quick bench-deps bench-wan bench-wan-quick

$(BENCH_STAMP): benchmarks/requirements.txt
	$(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r benchmarks/requirements.txt
	touch $@

$(FSSPEC_STAMP): benchmarks/requirements-fsspec.txt
	$(PY) -m venv $(FSSPEC_VENV)
	$(FSSPEC_VENV)/bin/pip install --quiet --upgrade pip
	$(FSSPEC_VENV)/bin/pip install --quiet -r benchmarks/requirements-fsspec.txt
	touch $@

bench-deps: $(STAMP) $(BENCH_STAMP) $(FSSPEC_STAMP)

bench: bench-deps bytecode
	$(BENCH_VENV)/bin/python -m benchmarks

bench-quick: bench-deps bytecode
	$(BENCH_VENV)/bin/python -m benchmarks --quick

# Only the WAN scenarios (S9, S10: every tool through tools/latencyproxy.py), written
# beside the full S1-S8 results rather than over them.
bench-wan: bench-deps bytecode
	$(BENCH_VENV)/bin/python -m benchmarks --scenarios S9,S10 --out benchmarks/results/wan

bench-wan-quick: bench-deps bytecode
	$(BENCH_VENV)/bin/python -m benchmarks --quick --scenarios S9,S10 --out benchmarks/results/wan/quick
