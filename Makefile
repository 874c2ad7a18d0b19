# Two commands on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install system-packages bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## The main job on embedded defaults: simulate, train, serve (see README).
demo: $(STAMP)
	$(VENV)/bin/kredo demo

## Everything the tests need (venv, packages, redis-server, PostgreSQL server), then the whole suite.
test: $(STAMP) system-packages
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

system-packages: $(STAMP)
	$(PY) -m tests.support.system_packages

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
