"""Which files are the course's notebooks: the one rule, for everything that needs it.

- ``conftest.py`` (the test suite: nbval runs every course notebook),
- ``python -m publish`` (the slide decks and the site: one page, one deck each),
- ``tools/make_exercises.py`` (a solution notebook becomes an exercise notebook).

A course notebook is a MyST markdown notebook (jupytext's header, with a
kernelspec) in ``notebooks/``, ``exercises/`` or ``solutions/``, at any depth,
outside hidden folders (JupyterLab's ``.ipynb_checkpoints/`` copies are not
notebooks of the course). A ``README.md`` beside them is not a notebook.

This module sits at the root of the repository, with no dependency: pytest and
``python -m publish`` import it from there, ``tools/make_exercises.py`` puts
the root on ``sys.path`` first.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
NOTEBOOK_DIRS = ("notebooks", "exercises", "solutions")
HEAD = 600  # characters read to recognise the header
# The first lines of every course notebook: jupytext's MyST format and the kernel
# (tests write notebooks of their own with it).
MYST_HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---
"""


def is_notebook(path: Path) -> bool:
    """A MyST markdown notebook, wherever it is: jupytext's header with a kernelspec."""
    if path.suffix != ".md" or not path.is_file():
        return False
    with path.open(encoding="utf-8") as file:
        head = file.read(HEAD)
    return head.startswith("---") and "jupytext:" in head and "kernelspec:" in head


def is_course_notebook(path: Path, root: Path = ROOT) -> bool:
    """A notebook of the course in ``root``: in one of its notebook folders, not in a hidden one."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:  # not in this course at all
        return False
    if not parts or parts[0] not in NOTEBOOK_DIRS or any(part.startswith(".") for part in parts):
        return False
    return is_notebook(path)


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """Every course notebook in ``root``, sorted."""
    return sorted(p for d in NOTEBOOK_DIRS for p in (root / d).rglob("*.md") if is_course_notebook(p, root))
