# `make test` and `make book` work on a fresh machine: they create .venv and install onepixel first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu

.PHONY: test book accuracy bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

book: $(VENV)/.installed
	$(PY) -m onepixel book --profile $(PROFILE)

accuracy: $(VENV)/.installed
	$(PY) -m onepixel accuracy

bench: $(VENV)/.bench-installed
	$(PY) -m onepixel bench

clean:
	rm -rf _build
