"""Static checks of the course notebooks (nbval runs them; see conftest.py).

Every cell carries slide metadata; check cells are skipped in slides and only
assert; deliberate errors are tagged; code never uses a shell string. And the
nbval adapter itself, on a small course of the test's own.
"""

from __future__ import annotations

import ast
import re

import jupytext
import nbformat
import pytest

from coursefiles import MYST_HEADER, ROOT, course_notebooks

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


def test_the_road_map_lists_every_chapter():
    """00's road map has a row "| NN · Title | ..." for each chapter after it, and no other."""
    road_map = (ROOT / "notebooks" / "00-introduction.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| (\d\d) · ", road_map, flags=re.MULTILINE)
    assert listed == [p.name[:2] for p in sorted(CHAPTERS) if p.name[:2] != "00"]


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


# --- the nbval adapter of conftest.py, on a course of its own -------------------------

ADAPTER_NOTEBOOK = MYST_HEADER + '''
+++ {"slideshow": {"slide_type": "slide"}}

# Reads a file beside it, then forgets a server

```{code-cell} ipython3
from pathlib import Path

assert Path.cwd().name == "notebooks"
assert Path("apps/data.txt").read_text() == "beside\\n"
```

```{code-cell} ipython3
:tags: [raises-exception]

1 / 0
```

```{code-cell} ipython3
import subprocess, sys

forgotten = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)"])
```
'''


def test_nbval_runs_the_md_notebooks_in_their_folder_named_as_they_are(tmp_path):
    """``pytest --nbval-lax`` on a small course: ids name the .md, the kernel runs beside it,
    a deliberate error passes, and a process left running fails the extra last cell. A run
    that passed is kept with its outputs for the decks and the site (tests/notebook_runs.py);
    one that failed is marked so."""
    import os
    import subprocess
    import sys

    course = tmp_path / "course"
    (course / "notebooks" / "apps").mkdir(parents=True)
    for name in ("conftest.py", "coursefiles.py", "tests/notebook_runs.py"):
        (course / name).parent.mkdir(exist_ok=True)
        (course / name).write_bytes((ROOT / name).read_bytes())
    (course / "tests" / "offline").mkdir(parents=True)
    offline = ROOT / "tests" / "offline" / "sitecustomize.py"
    (course / "tests" / "offline" / "sitecustomize.py").write_bytes(offline.read_bytes())
    (course / "notebooks" / "apps" / "data.txt").write_text("beside\n", encoding="utf-8")
    (course / "notebooks" / "reads.md").write_text(ADAPTER_NOTEBOOK, encoding="utf-8")
    kept = ADAPTER_NOTEBOOK[:ADAPTER_NOTEBOOK.index("```{code-cell} ipython3\nimport subprocess")]
    (course / "notebooks" / "kept.md").write_text(kept + "```{code-cell} ipython3\nprint(6 * 7)\n```\n", encoding="utf-8")
    (course / "notebooks" / "README.md").write_text("# Not a notebook\n", encoding="utf-8")
    shared = tmp_path / "shared"  # what pytest-xdist's workers share: their --basetemp's parent
    result = subprocess.run(  # nbval and xdist alone: the other plugins only take time to load
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "nbval.plugin", "-p", "xdist.plugin",
         "-n", "1", "--dist", "loadfile", f"--basetemp={shared}", "-rA", "--nbval-lax", "--nbval-current-env",
         "notebooks"],
        cwd=course, env=dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"), capture_output=True, text=True,
        timeout=240)
    report = result.stdout
    assert result.returncode == 1, report[-3000:]
    for passed in ("notebooks/reads.md::Cell 0", "notebooks/reads.md::Cell 1", "notebooks/reads.md::Cell 2"):
        assert f"PASSED {passed}" in report, report[-3000:]
    assert "FAILED notebooks/reads.md::Cell 3" in report, report[-3000:]
    assert "processes left running after the last cell" in report
    assert "README" not in report and not list(course.rglob("*.ipynb"))

    runs = shared / "notebook-runs" / "notebooks"
    assert sorted(p.name for p in runs.iterdir()) == ["kept.ipynb", "reads.failed"]
    run = nbformat.read(str(runs / "kept.ipynb"), as_version=4)
    code = [cell for cell in run.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == [1, 2, 3], "as a fresh kernel counts"
    assert code[1].outputs[0]["ename"] == "ZeroDivisionError" and code[2].outputs[0]["text"] == "42\n"
    assert "psutil" not in run.cells[-1].source, "without the test suite's own last cell"


def test_the_build_waits_for_each_notebook_run_or_for_every_worker_to_finish(tmp_path):
    """tests/notebook_runs.py's wait: until each notebook has a run (kept or failed), or every
    worker has said it runs no more, or the time is up."""
    import time
    from types import SimpleNamespace

    import notebook_runs

    def worker(number: int):
        return SimpleNamespace(workerinput={"workerid": f"gw{number}", "workercount": 2},
                               option=SimpleNamespace(basetemp=str(tmp_path / f"popen-gw{number}")))

    first, second = ROOT / "notebooks" / "00-first.md", ROOT / "notebooks" / "01-second.md"
    runs = tmp_path / "notebook-runs" / "notebooks"
    runs.mkdir(parents=True)
    (runs / "00-first.ipynb").touch()

    def waited(timeout: float = 0.6) -> float:
        started = time.monotonic()
        assert notebook_runs.wait_for_runs(worker(0), [first, second], timeout) == tmp_path / "notebook-runs"
        return time.monotonic() - started

    assert waited() >= 0.6, "01-second has no run yet: waits until the time is up"
    notebook_runs.worker_finished(worker(0))
    assert waited() >= 0.6, "one worker of two may still run it"
    notebook_runs.worker_finished(worker(1))
    assert waited() < 0.3, "no worker runs it any more"
    (tmp_path / "notebook-runs" / "gw1.finished").unlink()
    (runs / "01-second.failed").touch()
    assert waited() < 0.3, "each has a run, kept or failed"
    assert notebook_runs.wait_for_runs(SimpleNamespace(), [first], 10) is None, "without pytest-xdist"
