# One entry point for humans and CI. Everything installs into ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
EXAMPLE ?= examples/whale-vs-conformity.yaml

.PHONY: install demo test gate bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(PY) -m simulator --agents 200 --runs 3 --seed 42 --output results/demo.jsonl
	$(PY) -m simulator.validate --file results/demo.jsonl

test: install
	scripts/gate.sh

gate: test

bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench

clean:
	rm -rf $(VENV) results build *.egg-info
