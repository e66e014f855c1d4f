# One entry point for humans and CI. Everything installs into ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
EXAMPLE ?= examples/whale-vs-conformity.yaml

.PHONY: install install-test demo test test-fast gate bench clean

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(VENV)/bin/sweepctl run $(EXAMPLE)
	$(VENV)/bin/sweepctl collect $(EXAMPLE) --out results/$(basename $(notdir $(EXAMPLE)))/runs.csv
	$(VENV)/bin/sweepctl report $(EXAMPLE) --out results/$(basename $(notdir $(EXAMPLE)))/report
	@echo "report: results/$(basename $(notdir $(EXAMPLE)))/report/index.html (and index.md)"

# The whole gate: format, lint, types, import contracts, then every test (in parallel).
test: install-test
	scripts/gate.sh

# The inner loop: only the tests that need no server, tool or image and take under ~3 s each.
FAST_TESTS ?= not slow and not integration and not container
test-fast: install-test
	$(PY) -m pytest -n auto -q -m "$(FAST_TESTS)"

gate: test

bench: install-test
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench

clean:
	rm -rf $(VENV) results build *.egg-info
