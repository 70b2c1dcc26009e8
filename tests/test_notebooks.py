"""Static checks of the course notebooks (nbval runs them; see conftest.py).

Every cell carries slide metadata; check cells are skipped in slides and only
assert; deliberate errors are tagged; code never uses a shell string.
"""

from __future__ import annotations

import ast
import re

import jupytext
import pytest

from coursefiles import ROOT, course_notebooks

SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}
NOTEBOOKS = course_notebooks()
CHAPTERS = [p for p in NOTEBOOKS if p.parent.name == "notebooks"]


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.fixture(params=NOTEBOOKS, ids=ids(NOTEBOOKS))
def notebook(request):
    return request.param, jupytext.read(request.param)


def test_there_are_chapters():
    assert len(CHAPTERS) >= 1


def test_every_cell_has_slide_metadata(notebook):
    path, nb = notebook
    missing = [
        f"cell {i} ({cell.cell_type}): {cell.source[:40]!r}"
        for i, cell in enumerate(nb.cells)
        if cell.metadata.get("slideshow", {}).get("slide_type") not in SLIDE_TYPES
    ]
    assert missing == []


def test_opens_with_a_title_slide(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.metadata["slideshow"]["slide_type"] == "slide"
    assert first.source.lstrip().startswith("# ")


def test_check_cells_only_assert_and_are_skipped_in_slides(notebook):
    path, nb = notebook
    for cell in nb.cells:
        if "check" in cell.metadata.get("tags", []):
            assert cell.metadata["slideshow"]["slide_type"] == "skip", cell.source
            statements = ast.parse(cell.source).body
            assert statements and all(isinstance(s, ast.Assert) for s in statements), cell.source


def test_no_shell_strings_or_bare_python(notebook):
    path, nb = notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert "shell=True" not in cell.source, cell.source
            assert not re.search(r"""Popen\(\s*["']python""", cell.source), cell.source
