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
# Four workers, even on two cores: the suite spends much of its time waiting
# (browsers, servers starting, timeouts it provokes), and more workers fill it
# (on 2 cores, from a fresh clone, 2,960 tests: 10 min 02 s of pytest with three, 9 min 28 s
# with four; then, with no thread left spinning by a test, 7 min 38 s with four, 7 min 10 s
# with five, but five slow each test so much that a timing-sensitive one failed once: four kept).
# One notebook's cells always stay on one worker (loadfile); the files go out in the order
# tests/conftest.py's schedule() gives them, not by their number of tests (xdist's reorder).
PYTEST_ARGS ?= -n 4 --dist loadfile --no-loadscope-reorder

.PHONY: lab test install install-test install-docs clean exercises slides site

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	$(PY) jupyter/install_settings.py
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,docs]'
	@touch $@

$(VENV)/.installed-docs: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[docs]'
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-docs: $(VENV)/.installed-docs

# Rooted at the repository (exercises/ and solutions/ open and present too), shown on notebooks/.
lab: install
	$(PY) jupyter/install_settings.py
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS) --nbval-lax --nbval-current-env tests notebooks exercises solutions

# Offline reveal.js decks of every notebook, executed (build/slides/), and the course
# as a static web site (build/site/); both take the outputs from one execution cache,
# build/jupyter-cache/ (each notebook runs once for both).
slides: install-docs
	$(PY) -m publish slides

site: install-docs
	$(PY) -m publish site

# The exercise notebooks, generated from the solutions (never edit them by hand).
exercises: install
	$(PY) tools/make_exercises.py

clean:
	rm -rf build .pytest_cache .hypothesis
