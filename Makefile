# One entry point for humans and CI. Everything installs into ./.venv (newest versions); the
# lowest-versions check installs into ./.venv-lowest.
VENV ?= .venv
PY := $(VENV)/bin/python
LOWEST_VENV ?= .venv-lowest
LOWEST := constraints/lowest.txt
EXAMPLE ?= examples/whale-vs-conformity.yaml
# The example's output is file://results, which sweepctl reads from the spec file's folder: the
# demo's results, table and report all land in the sweep's folder beside the spec.
DEMO_DIR = $(dir $(EXAMPLE))results/$(basename $(notdir $(EXAMPLE)))

.PHONY: install install-test install-lowest constraints demo test test-fast test-lowest gate bench clean chart-readme

# `install` is the core (simulator, local sweeps, file store, report: all `make demo` needs);
# `install-test` adds the test extra, which brings every optional extra (govsim[all]).
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

# The bottom of every declared range: $(LOWEST) pins each dependency to its lower bound in
# pyproject.toml. `make constraints` regenerates it after a bound changes.
constraints:
	python3 scripts/dependency_bounds.py write

install-lowest: $(LOWEST_VENV)/.installed-test

$(LOWEST_VENV)/.installed-test: pyproject.toml $(LOWEST)
	python3 scripts/dependency_bounds.py check
	python3 -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOWEST_VENV)/bin/python -m pip install -q -c $(LOWEST) -e '.[test]'
	touch $@

demo: install
	$(VENV)/bin/sweepctl run $(EXAMPLE)
	$(VENV)/bin/sweepctl collect $(EXAMPLE) --out $(DEMO_DIR)/runs.csv
	$(VENV)/bin/sweepctl report $(EXAMPLE) --out $(DEMO_DIR)/report
	@echo "report: $(DEMO_DIR)/report/index.html (and index.md)"

# The whole gate: format, lint, types, import contracts, then every test (in parallel).
test: install-test
	scripts/gate.sh

# PYTEST_ARGS passes options on to pytest, e.g. PYTEST_ARGS='-m "not container"'.
test-lowest: install-lowest
	VENV=$(LOWEST_VENV) scripts/gate.sh $(PYTEST_ARGS)

# The inner loop: only the tests that need no server, tool or image and take under ~3 s each.
FAST_TESTS ?= not slow and not integration and not container
test-fast: install-test
	$(PY) -m pytest -n auto -q -m "$(FAST_TESTS)"

gate: test

# charts/govsim/README.md from the comments of charts/govsim/values.yaml (a test fails when stale).
chart-readme: install
	$(PY) scripts/chart_readme.py

bench: install-test
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(LOWEST_VENV) results examples/results build *.egg-info
