"""The course web site of ``make site`` (``python -m publish site``): Sphinx, myst-nb, offline.

The site holds the introduction, every chapter, every exercise and its solution
(each a page of its own) with their executed outputs, and the sandbox servers'
reference. The tests check every internal link and anchor resolves, that no page
loads anything from another machine, that search works in a browser with every
request off this machine blocked, that a notebook that fails to execute
fails the build (with --keep-going, after building the rest), and that the decks
and the site take their outputs from one execution (those two on small courses of
their own: tests/test_site_builds.py). Screenshots go to build/screenshots/site/.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jupytext
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from browser_support import (ROOT, SCREENSHOTS, Requests, asset_urls, css_urls, is_remote, parse_html,
                             resolve)
from checks.servers import static_server
from coursefiles import course_notebooks
from publish.build import SETUP_HEADING, sandbox_servers

NOTEBOOKS = course_notebooks()
SITE = ROOT / "build" / "site"
pytestmark = pytest.mark.timeout(1500)  # the first test may wait for the build of every deck and page



# The real site, built once for the session (tests/conftest.py's `published`).


@pytest.fixture(scope="module")
def pages(published):
    assert (SITE / "index.html").exists(), f"no site was built:\n{published['stdout']}\n{published['stderr']}"
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def page_of(notebook: Path) -> Path:
    return SITE / notebook.relative_to(ROOT).with_suffix(".html")


def test_every_notebook_has_a_page_with_its_outputs(pages):
    problems = []
    for notebook in NOTEBOOKS:
        page = page_of(notebook)
        if not page.exists():
            problems.append(f"{notebook.relative_to(ROOT)}: no page")
            continue
        nb = jupytext.read(notebook)
        text = page.read_text(encoding="utf-8")
        if any(c.cell_type == "code" and c.source.strip() for c in nb.cells) and "cell_output" not in text:
            problems.append(f"{notebook.relative_to(ROOT)}: no output on its page")
    assert problems == []


def test_the_home_page_leads_to_chapters_exercises_and_reference(pages):
    home = parse_html((SITE / "index.html").read_text(encoding="utf-8"))
    targets = {urlsplit(link).path for link in home.links}
    for notebook in NOTEBOOKS:
        if notebook.parent.name == "notebooks":
            assert page_of(notebook).relative_to(SITE).as_posix() in targets, notebook.name
    assert "exercises.html" in targets
    assert "reference/index.html" in targets


def test_exercises_and_solutions_are_separate_pages(pages):
    exercises = [n for n in NOTEBOOKS if n.parent.name == "exercises"]
    listing = parse_html((SITE / "exercises.html").read_text(encoding="utf-8"))
    targets = {urlsplit(link).path for link in listing.links}
    for exercise in exercises:
        assert page_of(exercise).relative_to(SITE).as_posix() in targets
        solution = ROOT / "solutions" / exercise.name
        if solution.exists():
            assert page_of(solution).relative_to(SITE).as_posix() in targets
            assert page_of(solution) != page_of(exercise)


def test_the_sandbox_reference_has_a_page_per_server(pages):
    servers = sandbox_servers(ROOT)
    assert servers
    for name in servers:
        text = (SITE / "reference" / f"{name}.html").read_text(encoding="utf-8")
        assert f"python -m sandbox {name} --help" in text


@functools.lru_cache(maxsize=None)
def ids_of(page: Path) -> frozenset:
    return frozenset(parse_html(page.read_text(encoding="utf-8")).ids)


def test_no_broken_internal_link(pages):
    broken = []
    for page in pages:
        parsed = parse_html(page.read_text(encoding="utf-8"))
        for url in parsed.links + parsed.urls:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//") or url.startswith(("javascript:", "mailto:")):
                continue
            target = resolve(page, url)
            if not target.exists():
                broken.append(f"{page.relative_to(SITE)}: {url}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_of(target):
                broken.append(f"{page.relative_to(SITE)}: {url} (no such anchor)")
    assert broken == []


def test_no_remote_asset(pages):
    remote = []
    for page in pages:
        remote += [f"{page.relative_to(SITE)}: {url}" for url in asset_urls(page.read_text(encoding="utf-8"))
                   if is_remote(url)]
    for sheet in (SITE / "_static").rglob("*.css"):
        remote += [f"{sheet.relative_to(SITE)}: {url}" for url in css_urls(sheet.read_text(encoding="utf-8"))
                   if is_remote(url)]
    assert remote == []


@pytest.fixture(scope="module")
def served(pages):
    """The built site over HTTP on this machine, as a static host would serve it."""
    with static_server(SITE) as url:
        yield url


@pytest.mark.browser
def test_site_browses_and_searches_offline(served, browser):
    shots = SCREENSHOTS / "site"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    recorder = Requests(context)
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{served}/index.html")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=shots / "index.png")
        chapter = next(n for n in NOTEBOOKS if n.parent.name == "notebooks" and n.name[:2] >= "02")
        link = page.locator(f"nav a[href$='{page_of(chapter).relative_to(SITE).as_posix()}']").first
        link.click()
        page.wait_for_load_state("networkidle")
        assert page.locator(".cell_output").count() > 0, "no executed output on the chapter page"
        page.screenshot(path=shots / f"{chapter.stem}.png")
        page.goto(f"{served}/search.html?q=socket")
        page.wait_for_selector("#search-results li, ul.search li", timeout=30_000)
        results = page.locator("#search-results li, ul.search li").count()
        page.screenshot(path=shots / "search.png")
        assert results > 0
        assert recorder.outside == [], "requests that left this machine"
        assert errors == [], "JavaScript errors"
    finally:
        context.close()


def setup_chapters() -> list[Path]:
    """The chapters with a *Before we start* slide: their setup cell comes first."""
    return [n for n in NOTEBOOKS if n.parent.name == "notebooks"
            and any(c.cell_type == "markdown" and SETUP_HEADING.match((c.source.strip().splitlines() or [""])[0])
                    for c in jupytext.read(n).cells)]


def test_setup_cells_are_folded_on_the_site_and_left_alone_in_the_notebooks(pages):
    """The imports of *Before we start* are not the first code a reader sees: the site folds the
    cell (myst-nb's hide-cell tag, added by the build); the notebook itself has no such tag."""
    chapters = setup_chapters()
    assert chapters
    problems = []
    for notebook in chapters:
        text = page_of(notebook).read_text(encoding="utf-8")
        first_cell = re.search(r'<div class="cell( [^"]*)?"', text)
        if not first_cell or "tag_hide-cell" not in first_cell.group(0):
            problems.append(f"{notebook.name}: its first code cell is not folded ({first_cell and first_cell.group(0)})")
        if "hide-cell" in notebook.read_text(encoding="utf-8"):
            problems.append(f"{notebook.name}: the notebook itself carries the tag")
    assert problems == []


# Whether a page reads well: the search controls a reader sees, whether the page or a code
# block is wider than its box, and whether the setup cell's code is shown.
READING_JS = """() => {
  const visible = e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
                         return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; };
  const searches = [...document.querySelectorAll('.search-button__button, input[type=search]')]
    .filter(e => visible(e) && !e.closest('.search-button__wrapper'));
  const blocks = [...document.querySelectorAll('div.cell_input pre, div.cell_output pre, div.highlight pre')];
  const setup = document.querySelector('div.cell.tag_hide-cell div.cell_input');
  const fold = setup && setup.closest('details');
  return {
    searches: searches.length,
    pageWidth: document.documentElement.scrollWidth, window: document.documentElement.clientWidth,
    wide: blocks.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim().slice(0, 60)),
    longest: Math.max(...blocks.map(e => Math.max(...e.textContent.split('\\n').map(line => line.length)))),
    setupFolded: fold ? !fold.open && visible(fold.querySelector('summary')) : null,
  };
}"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_chapter_reads_well_on_a_desktop_and_a_phone(pages, browser, width):
    """One search box; long code lines wrap inside their block (nothing scrolls sideways, neither
    the block nor the page); the setup cell folded. Checked on the chapter with the longest code lines."""
    chapters = setup_chapters()
    longest = max(chapters, key=lambda n: max((len(line) for c in jupytext.read(n).cells if c.cell_type == "code"
                                               for line in c.source.splitlines()), default=0))
    page = browser.new_page(viewport={"width": width, "height": 800})
    try:
        page.goto(page_of(longest).as_uri())
        page.wait_for_load_state("load")
        try:  # the theme's script shows its search controls (pst-js-only) once it has run
            page.wait_for_function(f"() => ({READING_JS})().searches > 0", timeout=10_000)
        except PlaywrightTimeout:
            pass  # the assertion below says what is there
        seen = page.evaluate(READING_JS)
        page.screenshot(path=SCREENSHOTS / "site" / f"{longest.stem}-{width}.png")
    finally:
        page.close()
    assert seen["searches"] == 1, "search boxes a reader sees"
    assert seen["longest"] > 100, "a page with long lines, to see them wrap"
    assert seen["wide"] == [], "code blocks that scroll sideways"
    assert seen["pageWidth"] <= seen["window"], "the page scrolls sideways"
    assert seen["setupFolded"] is True, "the setup cell's code is shown, not folded"
