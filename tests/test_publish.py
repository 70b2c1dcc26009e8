"""Unit tests of publish/build.py, the slides and site builder, and of the slide metadata tests use.

One small notebook runs here, in a course of the test's own, to show when the
execution cache runs a notebook again; the course's notebooks run in
test_slides.py and test_site.py.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest

import coursefiles
from coursefiles import MYST_HEADER, ROOT
from publish import build
from slide_metadata import normalized_text, one_cell_notebook, slide_plan


def cell(kind: str, source: str, slide: str = "-", **metadata):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    return make(source, metadata={"slideshow": {"slide_type": slide}, **metadata})


def test_hidden_folders_and_readmes_hold_no_course_notebook(tmp_path):
    checkpoint = tmp_path / "notebooks" / ".ipynb_checkpoints" / "00-intro-checkpoint.md"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text(MYST_HEADER, encoding="utf-8")
    real = tmp_path / "notebooks" / "00-intro.md"
    real.write_text(MYST_HEADER, encoding="utf-8")
    (tmp_path / "notebooks" / "README.md").write_text("# The chapters\n", encoding="utf-8")
    elsewhere = tmp_path / "deploy" / "notes.md"
    elsewhere.parent.mkdir()
    elsewhere.write_text(MYST_HEADER, encoding="utf-8")
    assert coursefiles.course_notebooks(tmp_path) == [real]
    assert coursefiles.is_notebook(elsewhere) and not coursefiles.is_course_notebook(elsewhere, tmp_path)


def test_the_suite_the_builds_and_make_exercises_share_one_notebook_rule(pytestconfig):
    """conftest.py, publish and tools/make_exercises.py all use coursefiles' rule, not a copy of it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_exercises", ROOT / "tools" / "make_exercises.py")
    make_exercises = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_exercises)
    root_conftest = next(plugin for plugin in pytestconfig.pluginmanager.get_plugins()
                         if getattr(plugin, "__file__", None) == str(ROOT / "conftest.py"))
    assert root_conftest.is_course_notebook is coursefiles.is_course_notebook
    assert build.course_notebooks is coursefiles.course_notebooks
    assert make_exercises.is_notebook is coursefiles.is_notebook
    assert coursefiles.course_notebooks(), "no course notebook found"


def test_slide_plan_follows_the_slide_metadata():
    nb = nbformat.v4.new_notebook(cells=[
        cell("markdown", "# Title", "slide"),
        cell("markdown", "## Part", "slide"),
        cell("markdown", "### One\n\n```python\n# not a heading\n```", "subslide"),
        cell("code", "x = 1"),
        cell("code", "assert x == 1", "skip"),
        cell("markdown", "Say this aloud", "notes"),
        cell("markdown", "### Two", "subslide"),
        cell("markdown", "more", "fragment"),
    ])
    plan = slide_plan(nb)
    assert [(s["h"], s["v"]) for s in plan] == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert [s["headings"] for s in plan] == [["Title"], ["Part"], ["One"], ["Two"]]
    assert plan[2]["cells"] == [2, 3] and plan[2]["code"] == [3]
    assert plan[3]["cells"] == [6, 7]


def test_the_first_cell_always_starts_a_slide():
    nb = nbformat.v4.new_notebook(cells=[cell("markdown", "# A"), cell("markdown", "text")])
    assert [(s["h"], s["v"]) for s in slide_plan(nb)] == [(0, 0)]


@pytest.mark.parametrize("text, expected", [
    ("## `recv(n)`: up to *n* bytes", "recvnuptonbytes"),
    ("[Links](x.md) & more¶", "linksmore"),
])
def test_headings_compare_as_a_reader_sees_them(text, expected):
    assert normalized_text(text) == expected


@pytest.mark.parametrize("source, math", [
    ("A round trip takes $2d/c$.", True),
    ("$$\nE = mc^2\n$$", True),
    ("costs 5$ each", False),
    ("```bash\n$ python -m sandbox --list\n```", False),
])
def test_math_is_detected_to_ship_mathjax_only_when_needed(source, math):
    assert build.uses_math(nbformat.v4.new_notebook(cells=[cell("markdown", source)])) is math


def test_mermaid_is_refused_with_a_clear_message():
    nb = nbformat.v4.new_notebook(cells=[cell("markdown", "```mermaid\ngraph LR; a-->b\n```")])
    with pytest.raises(build.BuildError, match="mermaid.*notebooks/x.md"):
        build.refuse_mermaid([build.Notebook(Path("notebooks/x.md"), "", nb)])


def test_the_reference_covers_every_sandbox_server():
    pages = build.reference_pages(ROOT)
    servers = build.sandbox_servers(ROOT)
    assert servers and set(pages) == {"reference/index.md", *(f"reference/{name}.md" for name in servers)}
    for name in servers:
        assert f"python -m sandbox {name} --help" in pages[f"reference/{name}.md"]


def test_fences_are_longer_than_any_inside():
    assert build.fenced("a\n````\nb", "text").startswith("`````text\n")


# --- the execution cache ---------------------------------------------------------------


@pytest.mark.parametrize("notebook", coursefiles.course_notebooks(),
                         ids=[p.relative_to(ROOT).as_posix() for p in coursefiles.course_notebooks()])
def test_myst_nb_finds_what_the_build_executed(notebook):
    """The build reads a notebook with jupytext, myst-nb with its own reader: the same cache key,
    or the site would run every notebook a second time."""
    from jupyter_cache.cache.main import JupyterCacheBase
    from myst_nb.core.read import read_myst_markdown_notebook

    ours = build.read_notebook(notebook).nb
    theirs = read_myst_markdown_notebook(notebook.read_text(encoding="utf-8"), path=str(notebook))
    key = JupyterCacheBase.create_hashed_notebook
    assert key(None, ours)[1] == key(None, theirs)[1] == key(None, jupytext.read(notebook))[1]


CACHED_NOTEBOOK = one_cell_notebook("Cached", "print(6 * 7)")


def test_a_notebook_runs_again_only_when_its_code_or_the_course_code_changes(tmp_path):
    course = tmp_path / "course"
    notebook = course / "notebooks" / "01-cached.md"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(CACHED_NOTEBOOK, encoding="utf-8")
    (course / "sandbox").mkdir()
    server = course / "sandbox" / "server.py"
    server.write_text("PORT = 1\n", encoding="utf-8")
    cache, [executed] = build.execute(course, course / "build")
    assert executed.source == notebook and executed.nb.cells[1].outputs[0]["text"] == "42\n"
    assert cache.parent == course / "build" / "jupyter-cache"

    def to_run() -> list[Path]:
        """What the next build runs (what execute() runs before it builds anything)."""
        cache = build.open_cache(course, course / "build")
        return [n.source for n in build.not_executed(cache, [build.read_notebook(notebook)])]

    assert to_run() == [], "nothing changed"
    notebook.write_text(CACHED_NOTEBOOK.replace("# Cached", "# Cached, retitled"), encoding="utf-8")
    assert to_run() == [], "only markdown changed"
    notebook.write_text(CACHED_NOTEBOOK.replace("6 * 7", "6 * 8"), encoding="utf-8")
    assert to_run() == [notebook], "a code cell changed"
    notebook.write_text(CACHED_NOTEBOOK, encoding="utf-8")
    server.write_text("PORT = 2\n", encoding="utf-8")
    assert to_run() == [notebook], "the sandbox changed"
    assert len(list((course / "build" / "jupyter-cache").iterdir())) == 1, "the stale cache is removed"


def test_a_notebook_already_run_is_taken_and_not_run_again(tmp_path):
    """``--executed``: the outputs of a run kept by the test suite (tests/notebook_runs.py) are taken
    where the run's code is the notebook's; a run of other code is not, and the notebook runs."""
    course, runs = tmp_path / "course", tmp_path / "runs"
    notebook = course / "notebooks" / "01-cached.md"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(CACHED_NOTEBOOK, encoding="utf-8")
    ran = jupytext.reads(CACHED_NOTEBOOK, fmt="md:myst")
    ran.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="the kept run\n")]
    ran.cells[1].execution_count = 1
    (runs / "notebooks").mkdir(parents=True)
    nbformat.write(ran, str(runs / "notebooks" / "01-cached.ipynb"))
    _, [executed] = build.execute(course, course / "build", executed=runs)
    assert executed.nb.cells[1].outputs[0]["text"] == "the kept run\n", "taken, not run"

    notebook.write_text(CACHED_NOTEBOOK.replace("6 * 7", "6 * 8"), encoding="utf-8")  # the run is of older code
    _, [executed] = build.execute(course, course / "build", executed=runs)
    assert executed.nb.cells[1].outputs[0]["text"] == "48\n", "run here"


def test_the_deck_index_lists_chapters_first_then_each_exercise_with_its_solution(tmp_path):
    rels = ["exercises/02-tcp-client.md", "notebooks/01-network-basics.md", "solutions/02-tcp-client.md",
            "notebooks/00-introduction.md", "solutions/99-lonely.md"]
    titles = {"exercises/02-tcp-client.md": "Exercises 02 · A TCP client",
              "solutions/02-tcp-client.md": "Exercises 02 · A TCP client"}  # one title for both, as in the course
    decks = [(Path(rel), tmp_path / Path(rel).with_suffix(".slides.html"), titles.get(rel, Path(rel).stem))
             for rel in rels]
    index = build.slides_index(decks, tmp_path)
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', index)
    assert links == [("notebooks/00-introduction.slides.html", "00-introduction"),
                     ("notebooks/01-network-basics.slides.html", "01-network-basics"),
                     ("exercises/02-tcp-client.slides.html", "Exercises 02 · A TCP client"),
                     ("solutions/02-tcp-client.slides.html", "solution"),
                     ("solutions/99-lonely.slides.html", "99-lonely")]
    assert index.index("<h2>Chapters</h2>") < index.index("<h2>Exercises</h2>")
    assert index.count("Exercises 02 · A TCP client") == 1 and "(solution)" in index  # the lonely one says so
