# One command to set up and start the app, one to set up and run the tests (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench package package-test mutate clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: setup
	$(PY) main.py

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check sam_editor tests

# Mutation testing of the core maths, by hand (minutes per module on 2 cores; not part of `make test`):
# `make mutate MODULE=sam_editor/edits/blend.py` for one module, `make mutate` for all in tools/mutation.toml.
mutate: setup
	$(PY) tools/mutate.py $(MODULE)

package:
	bash packaging/build.sh

# The frozen app's tests (smoke run + every module present); they fail, not skip, without dist/.
package-test: setup
	SAM_EDITOR_REQUIRE_FROZEN=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests/app_package

clean:
	rm -rf $(VENV) build dist
