# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

EXT := extension
EXT_STAMP := $(EXT)/node_modules/.installed

.PHONY: setup setup-extension setup-e2e run demo-cli test test-python test-extension test-e2e package-extension lint bench clean

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

# Tokenlight in a real VS Code: a desktop `code` if on PATH, else code-server on 127.0.0.1:$(TOKENLIGHT_PORT or 8917)
run: setup setup-extension
	e2e/run.sh

# the terminal demo on the embedded model
demo-cli: setup
	$(VENV)/bin/tokenlight attribute "def add(a, b):" --max-new-tokens 8 --method integrated_gradients

# apt packages where missing, Node 24, playwright-core and code-server under e2e/ (idempotent, pinned)
setup-e2e:
	e2e/setup.sh

# Node packages for the extension, from its lockfile (npm ci), redone when the lockfile changes.
$(EXT_STAMP): $(EXT)/package.json $(EXT)/package-lock.json
	cd $(EXT) && npm ci --no-audit --no-fund
	touch $(EXT_STAMP)

test: test-python test-extension test-e2e

test-python: setup
	$(VENV)/bin/ruff check daemon tests benchmarks training
	$(VENV)/bin/ruff format --check daemon tests benchmarks training
	$(VENV)/bin/mypy  # files and strictness from pyproject.toml's [tool.mypy]
	MPLBACKEND=Agg $(PY) -m pytest -q

# typecheck, eslint, unit tests, then the protocol tests against the real daemon from .venv
test-extension: setup setup-extension
	cd $(EXT) && npm test

# the browser end-to-end test: the real .vsix in code-server driven by Chromium; ends with node's test summary
test-e2e: setup setup-extension
	e2e/test.sh

package-extension: setup-extension
	cd $(EXT) && npm run package

lint: setup
	$(VENV)/bin/ruff check daemon tests benchmarks training
	$(VENV)/bin/ruff format --check daemon tests benchmarks training
	$(VENV)/bin/mypy

# Benchmarks are not part of `make test`: they need a quiet machine (see benchmarks/RESULTS.md).
bench: setup
	$(PY) benchmarks/bench_batched_kernel.py
	$(PY) benchmarks/bench_peers.py
	$(PY) benchmarks/bench_levers.py
	$(PY) benchmarks/bench_propagation.py
	$(PY) benchmarks/bench_cancel.py
	$(PY) benchmarks/bench_initialize.py

clean:
	rm -rf $(VENV) build *.egg-info daemon/*.egg-info $(EXT)/node_modules $(EXT)/out $(EXT)/dist \
		e2e/node_modules e2e/code-server/node_modules e2e/.cache e2e/.artifacts
