"""The build of the decks and the site (``python -m publish``) on small courses of the tests' own.

A notebook that fails to execute fails the build; with --keep-going, the rest is built
and the build still fails; the decks and the site come from one execution of each notebook;
a page with math uses the local MathJax. Apart from tests/test_site.py, which waits for
the build of the real course: these need no such wait, and go to the workers meanwhile.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from browser_support import ROOT, Requests, asset_urls, build, is_remote, resolve
from slide_metadata import one_cell_notebook

pytestmark = pytest.mark.timeout(600)


BROKEN_NOTEBOOK = one_cell_notebook("A broken chapter", "1 / 0")


def new_course(folder: Path) -> Path:
    """A copy of the site's sources, for notebooks of a test's own: the real ones are never touched."""
    course = folder / "course"
    (course / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "sandbox", course / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
    return course


def test_a_notebook_that_fails_to_execute_fails_the_build(tmp_path):
    course = new_course(tmp_path)
    (course / "notebooks" / "01-broken.md").write_text(BROKEN_NOTEBOOK, encoding="utf-8")
    result = build("site", root=course, check=False)
    assert result.returncode != 0
    assert "notebooks/01-broken.md: cell 1 (counting from 0) failed" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert not (course / "build" / "site").exists(), "no site at all without --keep-going"


def math_notebook(runs: Path) -> str:
    """A chapter with math, and a *Before we start* cell (the site folds it) that counts its runs in ``runs``."""
    setup = f"from pathlib import Path\n\nwith Path({str(runs)!r}).open('a') as runs:\n    print('ran', file=runs)"
    return one_cell_notebook("Math\n\nA round trip takes $2d/c$.", "6 * 7") + f"""
+++ {{"slideshow": {{"slide_type": "subslide"}}}}

## Before we start

```{{code-cell}} ipython3
{setup}
```
"""


@pytest.fixture(scope="module")
def kept_going(tmp_path_factory):
    """A course of two notebooks, a broken one and one with math, built with --keep-going
    (decks and site): its folder and the build's result."""
    course = new_course(tmp_path_factory.mktemp("keep-going"))
    (course / "notebooks" / "01-broken.md").write_text(BROKEN_NOTEBOOK, encoding="utf-8")
    (course / "notebooks" / "02-math.md").write_text(math_notebook(course.parent / "runs.txt"), encoding="utf-8")
    return course, build("slides", "site", "--keep-going", root=course, check=False)


def test_keep_going_builds_the_rest_each_notebook_run_once_for_decks_and_site(kept_going):
    """With a broken notebook beside: the page with math uses the local MathJax, the decks and
    the site come from one execution of each notebook, and the build still fails."""
    course, result = kept_going
    assert result.returncode != 0 and "notebooks/01-broken.md: cell 1 (counting from 0) failed" in result.stderr
    assert result.stdout.count("executing 2 notebook(s)") == 1, result.stdout  # for the decks
    assert "no notebook to execute: 1 in the cache" in result.stdout, result.stdout  # the site: from the cache
    # ... and so did myst-nb, though the site's page is not the notebook: its setup cell is folded.
    assert (course.parent / "runs.txt").read_text(encoding="utf-8").count("ran") == 1, "runs of 02-math.md"
    site, slides = course / "build" / "site" / "notebooks", course / "build" / "slides" / "notebooks"
    assert not (site / "01-broken.html").exists() and not (slides / "01-broken.slides.html").exists()
    assert (slides / "02-math.slides.html").exists()
    page = (site / "02-math.html").read_text(encoding="utf-8")
    scripts = [url for url in asset_urls(page) if "MathJax" in url]
    assert scripts and not [url for url in asset_urls(page) if is_remote(url)], scripts
    for url in scripts:
        assert resolve(site / "02-math.html", url).is_file(), url
    assert re.search(r"<pre>(<span></span>)?42\s*</pre>", page), "the cell's output, from the cache"
    assert "tag_hide-cell" in page, "the Before we start cell, folded"


@pytest.mark.browser
def test_a_deck_with_math_renders_it_with_the_local_mathjax(kept_going, browser):
    course, _ = kept_going
    deck = course / "build" / "slides" / "notebooks" / "02-math.slides.html"
    html = deck.read_text(encoding="utf-8")
    assert re.search(r"<pre>42\s*</pre>", html), "the cell's output, executed"
    assert "../_static/mathjax/MathJax.js" in html
    assert not [url for url in asset_urls(html) if is_remote(url)]
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    recorder = Requests(context)
    try:
        page = context.new_page()
        page.goto(deck.as_uri())
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        page.wait_for_selector(".MathJax, .MathJax_CHTML, mjx-container", state="attached", timeout=30_000)
        assert page.evaluate("() => Reveal.getTotalSlides()") == 2  # the chapter, and Before we start
        assert recorder.outside == []
    finally:
        context.close()
