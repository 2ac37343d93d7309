# `make run` and `make test` create the environment if needed. torch is installed first, pinned to the
# CPU build this machine provides, so the project's `torch>=` range pulls nothing more.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench report clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/boundrun bandit-stream --K 100

test: $(STAMP)
	$(BIN)/ruff check boundrun tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check boundrun tests benchmarks

report: $(STAMP)
	-$(BIN)/boundrun check --all --profile default --quiet
	$(BIN)/boundrun report --readme

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_bandit_stream.py

clean:
	rm -rf $(VENV) *.egg-info
