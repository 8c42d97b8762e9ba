# hubvendor developer entry points. `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
WHEELHOUSE ?= wheelhouse

.PHONY: test soak demo bench venv clean wheelhouse

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '.[test]'
	touch $@

# Reinstall hubvendor itself on every run (the autoload .pth needs a real install).
venv: $(VENV)/.deps
	$(PY) -m pip install -q --no-deps --force-reinstall .

test: venv
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

soak: venv
	HUBVENDOR_SOAK=1 $(PY) -m pytest -q -ra tests/reliability $(PYTEST_ARGS)

# Part 1: resolve through a mirror rule, then offline. Part 2: lock, pip wheel, install, run offline.
demo: venv
	$(PY) examples/demo.py
	$(PY) examples/pip_app/demo.py

bench: venv
	$(PY) benchmarks/run.py

# hubvendor's wheel, its dependencies and the build requirements, for projects that build with it (no PyPI
# release yet):
# see docs/wheels.md, "Front-ends".
wheelhouse:
	rm -rf $(WHEELHOUSE)
	$(PYTHON) -m pip wheel -q --no-deps -w $(WHEELHOUSE) .
	$(PYTHON) -m pip download -q -d $(WHEELHOUSE) hatchling "setuptools>=64" wheel editables $(WHEELHOUSE)/hubvendor-*.whl

clean:
	rm -rf $(VENV) dist build wheelhouse .pytest_cache
