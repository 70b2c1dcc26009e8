"""Unit tests of publish/build.py, the slides and site builder (no notebook runs here)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

import conftest
import coursefiles
from publish import build


def cell(kind: str, source: str, slide: str = "-", **metadata):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    return make(source, metadata={"slideshow": {"slide_type": slide}, **metadata})


def test_hidden_folders_and_readmes_hold_no_course_notebook(tmp_path):
    checkpoint = tmp_path / "notebooks" / ".ipynb_checkpoints" / "00-intro-checkpoint.md"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text(conftest.MYST_HEADER, encoding="utf-8")
    real = tmp_path / "notebooks" / "00-intro.md"
    real.write_text(conftest.MYST_HEADER, encoding="utf-8")
    (tmp_path / "notebooks" / "README.md").write_text("# The chapters\n", encoding="utf-8")
    elsewhere = tmp_path / "deploy" / "notes.md"
    elsewhere.parent.mkdir()
    elsewhere.write_text(conftest.MYST_HEADER, encoding="utf-8")
    assert coursefiles.course_notebooks(tmp_path) == [real]
    assert coursefiles.is_notebook(elsewhere) and not coursefiles.is_course_notebook(elsewhere, tmp_path)


def test_the_suite_the_builds_and_make_exercises_share_one_notebook_rule():
    """conftest.py, publish and tools/make_exercises.py all use coursefiles' rule, not a copy of it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_exercises", conftest.ROOT / "tools" / "make_exercises.py")
    make_exercises = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_exercises)
    assert conftest.is_course_notebook is coursefiles.is_course_notebook
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
    plan = build.slide_plan(nb)
    assert [(s["h"], s["v"]) for s in plan] == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert [s["headings"] for s in plan] == [["Title"], ["Part"], ["One"], ["Two"]]
    assert plan[2]["cells"] == [2, 3] and plan[2]["code"] == [3]
    assert plan[3]["cells"] == [6, 7]


def test_the_first_cell_always_starts_a_slide():
    nb = nbformat.v4.new_notebook(cells=[cell("markdown", "# A"), cell("markdown", "text")])
    assert [(s["h"], s["v"]) for s in build.slide_plan(nb)] == [(0, 0)]


@pytest.mark.parametrize("text, expected", [
    ("## `recv(n)`: up to *n* bytes", "recvnuptonbytes"),
    ("[Links](x.md) & more¶", "linksmore"),
])
def test_headings_compare_as_a_reader_sees_them(text, expected):
    assert build.normalized_text(text) == expected


def test_links_between_notebooks_point_at_their_pages(tmp_path):
    notebooks = {(tmp_path / "notebooks" / "02-tcp.md").resolve(), (tmp_path / "solutions" / "02-tcp.md").resolve()}
    text = ("See [chapter 2](02-tcp.md#sending), [its solution](../solutions/02-tcp.md), "
            "[a file](../README.md) and [the web](https://example.org/x.md).")
    assert build.site_links(text, tmp_path / "notebooks", notebooks) == (
        "See [chapter 2](02-tcp.ipynb#sending), [its solution](../solutions/02-tcp.ipynb), "
        "[a file](../README.md) and [the web](https://example.org/x.md).")


@pytest.mark.parametrize("source, math", [
    ("A round trip takes $2d/c$.", True),
    ("$$\nE = mc^2\n$$", True),
    ("costs 5$ each", False),
    ("```bash\n$ python -m sandbox --list\n```", False),
])
def test_math_is_detected_to_ship_mathjax_only_when_needed(source, math):
    assert build.uses_math(nbformat.v4.new_notebook(cells=[cell("markdown", source)])) is math


def test_mermaid_is_refused_with_a_clear_message(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[cell("markdown", "```mermaid\ngraph LR; a-->b\n```")])
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(build.BuildError, match="mermaid"):
        build.refuse_mermaid([(Path("notebooks/x.md"), path)])


def test_the_reference_covers_every_sandbox_server():
    pages = build.reference_pages(conftest.ROOT)
    servers = build.sandbox_servers(conftest.ROOT)
    assert servers and set(pages) == {"reference/index.md", *(f"reference/{name}.md" for name in servers)}
    for name in servers:
        assert f"python -m sandbox {name} --help" in pages[f"reference/{name}.md"]


def test_fences_are_longer_than_any_inside():
    assert build.fenced("a\n````\nb", "text").startswith("`````text\n")
