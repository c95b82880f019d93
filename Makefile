# `make test` and `make book` work on a fresh machine: they create .venv and install onepixel first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu

.PHONY: test test-fast book accuracy bench clean browser

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

# The book's browser test needs Chromium: installed from Debian when missing and running as root.
browser:
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)); } || \
	  echo "Chromium is not installed: the browser test of the book will be skipped"

test: $(VENV)/.installed browser
	$(PY) -m pytest -q -m "not agreement"

# The tests that take under about 30 s each: a few minutes in all.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow and not agreement"

book: $(VENV)/.installed
	$(PY) -m onepixel book --profile $(PROFILE)

accuracy: $(VENV)/.installed
	$(PY) -m onepixel accuracy

bench: $(VENV)/.bench-installed
	$(PY) -m onepixel bench

clean:
	rm -rf _build
