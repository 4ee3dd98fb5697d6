# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

EXT := extension
EXT_STAMP := $(EXT)/node_modules/.installed

.PHONY: setup setup-extension run test test-python test-extension package-extension lint bench clean

setup: $(STAMP)

setup-extension: $(EXT_STAMP)

# Idempotent: the stamp depends on the files that define the environment.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned, so nothing below can pull a CUDA build
	$(PY) -m pip install -q -c constraints.txt "torch==2.13.0"
	$(PY) -m pip install -q -c constraints.txt -e ".[server,dev]"
	touch $(STAMP)

run: setup
	$(VENV)/bin/tokenlight attribute "def add(a, b):" --max-new-tokens 8 --method integrated_gradients

# Node packages for the extension, from its lockfile (npm ci), redone when the lockfile changes.
$(EXT_STAMP): $(EXT)/package.json $(EXT)/package-lock.json
	cd $(EXT) && npm ci --no-audit --no-fund
	touch $(EXT_STAMP)

test: test-python test-extension

test-python: setup
	$(VENV)/bin/ruff check daemon tests benchmarks training
	MPLBACKEND=Agg $(PY) -m pytest -q

# typecheck, eslint, unit tests, then the protocol tests against the real daemon from .venv
test-extension: setup setup-extension
	cd $(EXT) && npm test

package-extension: setup-extension
	cd $(EXT) && npm run package

lint: setup
	$(VENV)/bin/ruff check daemon tests benchmarks training

# Benchmarks are not part of `make test`: they need a quiet machine (see benchmarks/RESULTS.md).
bench: setup
	$(PY) benchmarks/bench_batched_kernel.py
	$(PY) benchmarks/bench_peers.py

clean:
	rm -rf $(VENV) build *.egg-info daemon/*.egg-info $(EXT)/node_modules $(EXT)/out $(EXT)/dist
