# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

setup: $(STAMP)

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

test: setup
	$(VENV)/bin/ruff check daemon tests benchmarks training
	MPLBACKEND=Agg $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check daemon tests benchmarks training

# Benchmarks are not part of `make test`: they need a quiet machine (see benchmarks/RESULTS.md).
bench: setup
	$(PY) benchmarks/bench_batched_kernel.py
	$(PY) benchmarks/bench_peers.py

clean:
	rm -rf $(VENV) build *.egg-info daemon/*.egg-info
