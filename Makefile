# Two commands on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install system-packages bench translations clean

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

## The pages' catalogs: extract their strings, merge them into each language's .po, compile the .mo
## (commit both; tests/pages/test_i18n.py fails when a string is missing or a .mo is stale).
translations: $(STAMP)
	mkdir -p var
	$(VENV)/bin/pybabel -q extract -F serving/pages/babel.cfg -k _l -o var/messages.pot --no-location --sort-output .
	$(VENV)/bin/pybabel -q update -i var/messages.pot -d serving/pages/translations --ignore-obsolete --width 116
	$(VENV)/bin/pybabel -q compile -d serving/pages/translations

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
