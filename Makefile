# Two commands on a fresh machine with Python 3.10+ and make:
#   make lab    create .venv if missing, install the course, open JupyterLab on notebooks/
#   make test   create .venv if missing, install the course and its test tools, run every test

PYTHON ?= python3
VENV   := .venv
ifeq ($(OS),Windows_NT)
  BIN := $(VENV)/Scripts
else
  BIN := $(VENV)/bin
endif
PY := $(BIN)/python
# Jupyter refuses to run as root (as on CI machines and containers) unless told.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
# Two workers; one notebook's cells always stay on one worker (loadfile).
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: lab test install install-test clean exercises

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	$(PY) jupyter/install_settings.py
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

lab: install
	$(PY) jupyter/install_settings.py
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS) --nbval-lax --nbval-current-env tests notebooks exercises solutions

# The exercise notebooks, generated from the solutions (never edit them by hand).
exercises: install
	$(PY) tools/make_exercises.py

clean:
	rm -rf build .pytest_cache .hypothesis
