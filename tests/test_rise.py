"""The course's notebooks presented live with RISE (jupyterlab-rise), in headless Chromium.

A third of the chapters here, the others in tests/test_rise_chapters_b.py and _c.py, the
solutions and one sample exercise in tests/test_rise_practice.py and test_rise_practice_b.py
(so that the test workers share them; the other exercises make their solutions' slides,
which tests/test_exercises.py checks without a browser); the server, pages and checks are in
tests/rise_support.py. One Jupyter server for each module, as ``make lab`` sets it up: the course's
settings installed by ``jupyter/install_settings.py`` (the same installer as
``make lab`` and Binder's ``postBuild``), here into a temporary prefix. It serves
a temporary copy of the course folders, so nothing the slideshow does (kernels,
checkpoints, autosave) touches the repository. Each notebook opens at
``/rise/<path>``, the URL of RISE's own presenter, and must:

- make as many slides (horizontal and vertical) as its slide metadata says;
- render the markdown of every slide: as many markdown and code cells as the
  metadata puts there, every markdown cell rendered, every heading present;
- fit each slide in a 1280x720 window, without cutting code lines;
- run a code cell from inside the slideshow (Shift+Enter), in a live kernel; for
  a chapter, the first, then every other code cell the slideshow shows, in slideshow
  order, in the same kernel (while the browser walks the slides): no error but in the
  cells tagged ``raises-exception`` (the kernel's messages say what ran and what failed);
- ask nothing of any machine but this one (the RISE theme loads no web font).

jupyterlab-rise has had bugs with jupytext notebooks (an empty slideshow, markdown
cells missing): the first two checks are there for them. Screenshots of each title
slide, and of the slide where a cell ran (``-run.png``), go to build/screenshots/rise/.
"""

from __future__ import annotations

import json
import re

import jupytext
import pytest
import requests

from browser_support import ROOT, Requests
from coursefiles import MYST_HEADER, course_notebooks
from rise_support import (CHAPTERS, CHAPTERS_A, CHAPTERS_B, CHAPTERS_C, EXERCISE_SAMPLE, EXERCISES, NOTEBOOKS, PRACTICE,  # noqa: F401
                          PRACTICE_A, PRACTICE_B, VIEWPORT, context, ids, jupyter, overflowing_slides, page,
                          presents_with_rise)
from slide_metadata import MAX_CODE_LINE, slide_plan

pytestmark = pytest.mark.browser


def test_the_five_modules_present_every_course_notebook():
    assert CHAPTERS_A and CHAPTERS_B and CHAPTERS_C and PRACTICE_A and PRACTICE_B
    assert sorted(CHAPTERS_A + CHAPTERS_B + CHAPTERS_C) == CHAPTERS and sorted(PRACTICE_A + PRACTICE_B) == sorted(PRACTICE)
    assert sorted(CHAPTERS + PRACTICE + [n for n in EXERCISES if n not in EXERCISE_SAMPLE]) == course_notebooks()
    assert len(EXERCISE_SAMPLE) == 1  # the others: test_exercises.py's test_every_exercise_makes_the_slides_of_its_solution


def test_lab_settings_are_those_of_the_repository(jupyter):
    """The server runs with jupyter/overrides.json: .md opens as a notebook, RISE uses a local theme."""
    overrides = json.loads((ROOT / "jupyter" / "overrides.json").read_text(encoding="utf-8"))
    for plugin, expected in overrides.items():  # overrides become the defaults of the settings' schema
        schema = jupyter.api("GET", f"/lab/api/settings/{plugin}")["schema"]["properties"]
        assert {key: schema[key].get("default") for key in expected} == expected, plugin
    assert overrides["jupyterlab-rise:plugin"]["theme"] == "white"  # the reveal.js theme with no Google font


def test_opening_running_and_saving_leave_every_notebook_file_unchanged(jupyter):
    """What JupyterLab and RISE do to a file, through the server's contents API: open it as a
    notebook, run it (outputs, execution counts, the kernel's language_info) and save it. The
    .md must stay byte for byte as in git, header included (jupytext.toml's metadata filter)."""
    changed = []
    for notebook in NOTEBOOKS:
        rel = notebook.relative_to(ROOT).as_posix()
        model = jupyter.api("GET", f"/api/contents/{rel}?type=notebook&content=1")
        content = model["content"]
        content["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
        for number, cell in enumerate(c for c in content["cells"] if c["cell_type"] == "code"):
            cell.update(execution_count=number + 1,
                        outputs=[{"output_type": "stream", "name": "stdout", "text": "ran\n"}])
        jupyter.api("PUT", f"/api/contents/{rel}", json={"type": "notebook", "format": "json", "content": content})
        if (jupyter.course / rel).read_bytes() != notebook.read_bytes():
            changed.append(rel)
    assert changed == [], "files that JupyterLab's save rewrites"


@pytest.mark.parametrize("notebook", CHAPTERS_A, ids=ids(CHAPTERS_A))
def test_chapter_presents_with_rise(jupyter, page, notebook):
    presents_with_rise(jupyter, page, notebook)


def test_rise_opens_markdown_notebooks_from_the_lab_too(jupyter, browser):
    """JupyterLab opens a .md notebook as a notebook (jupytext), with the RISE button in its toolbar."""
    notebook = NOTEBOOKS[0].relative_to(ROOT).as_posix()
    context = browser.new_context(viewport=VIEWPORT)
    recorder = Requests(context)
    try:
        page = context.new_page()
        page.goto(f"{jupyter.url}/lab/tree/{notebook}?token={jupyter.token}&reset")
        page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell", timeout=60_000)
        button = page.locator(".jp-NotebookPanel-toolbar [data-command='RISE:preview'], "
                              ".jp-NotebookPanel-toolbar [data-jp-item-name*='rise' i]")
        assert button.count() >= 1, "no RISE button in the notebook toolbar"
        assert re.search(r"\.md$", page.locator(".jp-mod-current .lm-TabBar-tabLabel, .lm-TabBar-tab.jp-mod-current")
                         .first.text_content() or "")
        # Asked on a first start unless the course's settings answer it (the toast shows once the Lab is ready).
        assert page.get_by_text("official Jupyter news").count() == 0, "JupyterLab's news question"
        assert recorder.outside == [], "requests that left this machine"
    finally:
        context.close()
        for kernel in requests.get(f"{jupyter.url}/api/kernels", headers={"Authorization": f"token {jupyter.token}"},
                                   timeout=30).json():
            requests.delete(f"{jupyter.url}/api/kernels/{kernel['id']}",
                            headers={"Authorization": f"token {jupyter.token}"}, timeout=30)


OVERFLOWING = MYST_HEADER + """\

+++ {"slideshow": {"slide_type": "slide"}}

# Fits

+++ {"slideshow": {"slide_type": "subslide"}}

## Too tall

""" + "\n\n".join(f"Paragraph {i}." for i in range(40)) + """

+++ {"slideshow": {"slide_type": "subslide"}}

## Just fits

```{code-cell} ipython3
x = '""" + "w" * (MAX_CODE_LINE - 6) + """'
```

+++ {"slideshow": {"slide_type": "subslide"}}

## Too wide

```{code-cell} ipython3
x = [""" + ", ".join(str(i) for i in range(120)) + """]
```
"""


def test_the_overflow_check_sees_a_slide_too_tall_or_too_wide(jupyter, page):
    """The check itself, on a notebook made to overflow (in the temporary copy, not the course)."""
    (jupyter.course / "notebooks" / "zz-overflowing.md").write_text(OVERFLOWING, encoding="utf-8")
    nb = jupytext.reads(OVERFLOWING, fmt="md:myst")
    page.goto(f"{jupyter.url}/rise/notebooks/zz-overflowing.md?token={jupyter.token}")
    page.wait_for_function("() => document.querySelectorAll('.reveal .jp-RenderedMarkdown h2').length >= 2"
                           " && document.querySelector('.reveal .jp-CodeCell .cm-content')", timeout=60_000)
    found = overflowing_slides(page, slide_plan(nb))
    assert [line.split(":")[0] for line in found] == ["slide 1.2 (Too tall)", "slide 1.4 (Too wide)"], found


def test_slides_look_right_on_a_projector(jupyter, page):
    """jupyter/slides.css in RISE, as in the decks (tests/test_slides.py): headings clearly larger
    than the text, code over 14 px, content from the top of the slide, tables aligned with the text."""
    from rise_support import show
    from test_slides import LOOK_JS, look_problems, with_table

    notebook = with_table(CHAPTERS)
    rel = notebook.relative_to(ROOT).as_posix()
    plan = slide_plan(jupytext.read(notebook))
    page.goto(f"{jupyter.url}/rise/{rel}?token={jupyter.token}")
    page.wait_for_function("() => document.querySelector('.reveal .jp-MarkdownCell.jp-mod-rendered h1')"
                           " && document.querySelector('.reveal .jp-CodeCell .cm-content')", timeout=60_000)
    looks = []
    for slide in plan:
        show(page, slide["h"], slide["v"])
        looks.append(page.evaluate(LOOK_JS))
    assert look_problems(looks) == [], rel
