"""The offline slide decks of ``make slides`` (``python -m publish slides``).

Every course notebook becomes, executed, a reveal.js deck in build/slides/, with
reveal.js (and MathJax when a notebook has math) copied beside the decks. The
tests check the HTML refers to nothing remote, then open each deck from the
disk in headless Chromium with every request off this machine blocked, and
walk every slide: as many as the notebook's slide metadata says, each with its
headings. A screenshot of each title slide goes to build/screenshots/slides/.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import jupytext
import pytest

from browser_support import ROOT, Requests, asset_urls, is_remote, screenshot_path
from coursefiles import course_notebooks
from slide_metadata import normalized_text, slide_plan, slide_type

NOTEBOOKS = course_notebooks()
SLIDES = ROOT / "build" / "slides"
pytestmark = pytest.mark.timeout(1500)  # the first test may wait for the build of every deck and page


def deck_of(notebook: Path, out: Path = SLIDES) -> Path:
    return out / notebook.relative_to(ROOT).with_suffix(".slides.html")


@pytest.fixture(scope="module")
def decks(published):
    return {notebook: deck_of(notebook) for notebook in NOTEBOOKS}


def test_make_slides_and_site_succeeds(published):
    """One build for the decks and the site (tests/conftest.py); tests/test_site.py reads it too."""
    assert published["returncode"] == 0, f"publish slides site failed:\n{published['stdout']}\n{published['stderr']}"


def test_every_notebook_has_a_deck(decks):
    missing = [str(deck.relative_to(ROOT)) for deck in decks.values() if not deck.exists()]
    assert missing == [], "no deck (did the notebook fail to execute? see test_make_slides_and_site_succeeds)"
    index = (SLIDES / "index.html").read_text(encoding="utf-8")
    for deck in decks.values():
        assert deck.relative_to(SLIDES).as_posix() in index


def test_decks_refer_to_no_remote_url_and_their_assets_exist(decks):
    problems = []
    for deck in (d for d in decks.values() if d.exists()):
        for url in asset_urls(deck.read_text(encoding="utf-8")):
            if is_remote(url):
                problems.append(f"{deck.name}: remote {url}")
            elif not url.startswith(("data:", "#", "blob:")):
                target = deck.parent / unquote(urlsplit(url).path)
                if not target.is_file():
                    problems.append(f"{deck.name}: {url} is missing")
    assert problems == []
    assert (SLIDES / "_static" / "reveal.js" / "dist" / "theme" / "white.css").is_file()


def test_decks_hold_the_executed_outputs(decks):
    for notebook, deck in ((n, d) for n, d in decks.items() if d.exists()):
        nb = jupytext.read(notebook)
        if any(cell.cell_type == "code" and slide_type(cell) not in ("skip", "notes") for cell in nb.cells):
            assert "jp-OutputArea-output" in deck.read_text(encoding="utf-8") or all(
                not cell.source.strip() for cell in nb.cells if cell.cell_type == "code"), deck.name


WALK_JS = """() => {
  const seen = [];
  Reveal.slide(0, 0);
  for (const [h, top] of Reveal.getHorizontalSlides().entries()) {
    const vertical = top.querySelectorAll(':scope > section');
    for (let v = 0; v < Math.max(1, vertical.length); v++) {
      Reveal.slide(h, v);
      const slide = Reveal.getCurrentSlide();
      seen.push({h, v, present: slide.classList.contains('present'),
                 headings: [...slide.querySelectorAll('h1, h2, h3, h4, h5, h6')]
                             .filter(e => !e.closest('aside.notes')).map(e => e.textContent),
                 height: slide.scrollHeight});
    }
  }
  Reveal.slide(0, 0);
  return {total: Reveal.getTotalSlides(), seen};
}"""


# Whether the slide number and a navigation arrow (bottom right, both) cover each other.
NUMBER_UNDER_ARROWS_JS = """() => {
  const number = document.querySelector('.reveal .slide-number')?.getBoundingClientRect();
  return !!number && number.width > 0 && [...document.querySelectorAll('.reveal .controls button')]
    .map(button => button.getBoundingClientRect()).filter(b => b.width > 0)
    .some(b => number.left < b.right && b.left < number.right && number.top < b.bottom && b.top < number.bottom);
}"""


# The decks are walked in two modules, every other notebook here and the rest in
# tests/test_slides_b.py, so that two test workers share the walk once the build is done.
WALKED, WALKED_B = NOTEBOOKS[0::2], NOTEBOOKS[1::2]


@pytest.mark.browser
@pytest.mark.parametrize("notebook", WALKED, ids=[p.relative_to(ROOT).as_posix() for p in WALKED])
def test_deck_shows_every_slide_offline(decks, browser, notebook):
    walk_deck(decks, browser, notebook)


def test_the_two_modules_walk_every_deck():
    assert sorted(WALKED + WALKED_B) == NOTEBOOKS and WALKED and WALKED_B


def walk_deck(decks, browser, notebook: Path) -> None:
    """Open a notebook's deck offline and walk every slide (the module docstring's checks)."""
    deck = decks[notebook]
    if not deck.exists():
        pytest.fail(f"no deck for {notebook.relative_to(ROOT)} (see test_make_slides_and_site_succeeds)")
    plan = slide_plan(jupytext.read(notebook))
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    recorder = Requests(context)
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(deck.as_uri())
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        page.screenshot(path=screenshot_path("slides", notebook))
        walk = page.evaluate(WALK_JS)
        assert walk["total"] == len(plan), "slides in the deck, slides in the metadata"
        problems = []
        for expected, shown in zip(plan, walk["seen"]):
            where = f"slide {expected['h'] + 1}.{expected['v'] + 1}"
            if (shown["h"], shown["v"]) != (expected["h"], expected["v"]):
                problems.append(f"{where}: the deck has slide {shown['h'] + 1}.{shown['v'] + 1} there")
            if not shown["present"]:
                problems.append(f"{where}: not shown")
            if shown["height"] > 720:  # with its outputs: a long traceback, say
                problems.append(f"{where}: {shown['height']} px high, taller than the 1280x720 screen")
            if [normalized_text(h) for h in shown["headings"]] != [normalized_text(h) for h in expected["headings"]]:
                problems.append(f"{where}: headings {shown['headings']}, expected {expected['headings']}")
        assert problems == [], f"{deck.name}:\n" + "\n".join(problems)
        overlap = page.evaluate(NUMBER_UNDER_ARROWS_JS)
        assert not overlap, "the slide number is under the navigation arrows"
        assert recorder.outside == [], "requests that left this machine"
        assert errors == [], "JavaScript errors"
    finally:
        context.close()
