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


# The look, for a projector (jupyter/slides.css, the decks' and RISE's): measured on the slide shown.
LOOK_JS = """() => {
  const slide = document.querySelector('.reveal .slides > section.present > section.present');
  const shown = selector => [...slide.querySelectorAll(selector)].filter(e => !e.closest('aside.notes')
                                                                        && e.getClientRects().length);
  const px = e => e ? parseFloat(getComputedStyle(e).fontSize) : null;
  const box = slide.getBoundingClientRect();
  const first = shown('.jp-RenderedHTMLCommon > *, .jp-InputArea-editor')[0];
  const table = shown('.jp-RenderedHTMLCommon table')[0];
  const text = shown('.jp-RenderedHTMLCommon > :is(p, h1, h2, h3, ul, ol)')[0];
  return {
    h1: px(shown('.jp-RenderedHTMLCommon h1')[0]), h2: px(shown('.jp-RenderedHTMLCommon h2')[0]),
    p: px(shown('.jp-RenderedHTMLCommon p')[0]), code: px(shown('.jp-InputArea-editor :is(.cm-line, pre)')[0]),
    height: slide.scrollHeight * (slide.offsetHeight ? box.height / slide.offsetHeight : 1),
    top: first ? first.getBoundingClientRect().top - Math.max(box.top, 0) : null,
    tableLeft: table ? table.getBoundingClientRect().left : null,
    textLeft: text ? text.getBoundingClientRect().left : null,
  };
}"""


def look_problems(looks: list[dict]) -> list[str]:
    """What a projector would show badly, from LOOK_JS on each slide of a deck or a slideshow:
    headings about body size, code at 14 px or less, short slides centred (not from the top),
    tables not aligned with the text beside them. Each check needs a slide that has what it measures."""
    problems = []
    sizes = {key: next((look[key] for look in looks if look[key]), None) for key in ("h1", "h2", "p", "code")}
    if None in sizes.values():
        return [f"no slide with each of h1, h2, a paragraph and code to measure: {sizes}"]
    if sizes["h2"] < 1.5 * sizes["p"] or sizes["h1"] < sizes["h2"]:
        problems.append(f"headings not clearly larger than the text: h1 {sizes['h1']}, h2 {sizes['h2']}, "
                        f"text {sizes['p']} px")
    if sizes["code"] <= 14 or sizes["p"] < 17:
        problems.append(f"too small for a room: code {sizes['code']} px, text {sizes['p']} px")
    short = [look for look in looks if look["top"] is not None and look["height"] < 400]
    if not short:
        problems.append("no short slide to see where the content starts")
    elif max(look["top"] for look in short) > 40:  # centred, a 300 px slide would start 200 px down
        problems.append(f"content not from the top: short slides start {[round(x['top']) for x in short]} px down")
    tables = [look for look in looks if look["tableLeft"] is not None and look["textLeft"] is not None]
    if not tables:
        problems.append("no slide with a table beside text")
    for look in tables:
        if abs(look["tableLeft"] - look["textLeft"]) > 2:
            problems.append(f"a table starts at x={look['tableLeft']:.0f}, the text beside it at {look['textLeft']:.0f}")
    return problems


def with_table(notebooks) -> Path:
    """The first chapter with a markdown table (tables are what gets centred by default)."""
    return next(n for n in notebooks if n.relative_to(ROOT).parts[0] == "notebooks"
                and any(c.cell_type == "markdown" and "\n| ---" in c.source for c in jupytext.read(n).cells))


@pytest.mark.browser
def test_decks_look_right_on_a_projector(decks, browser):
    """jupyter/slides.css in a deck: headings, text and code sizes, top-aligned, tables left."""
    notebook = with_table(NOTEBOOKS)
    plan = slide_plan(jupytext.read(notebook))
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(decks[notebook].as_uri())
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        looks = []
        for slide in plan:
            page.evaluate("([h, v]) => Reveal.slide(h, v)", [slide["h"], slide["v"]])
            looks.append(page.evaluate(LOOK_JS))
        assert look_problems(looks) == [], decks[notebook].name
    finally:
        page.close()
