"""Every course notebook presented live with RISE (jupyterlab-rise), in headless Chromium.

One Jupyter server for the module, as ``make lab`` sets it up: the course's
settings installed by ``jupyter/install_settings.py`` (the same installer as
``make lab`` and Binder's ``postBuild``), here into a temporary prefix. It serves
a temporary copy of the course folders, so nothing the slideshow does (kernels,
checkpoints, autosave) touches the repository. Each notebook opens at
``/rise/<path>``, the URL of RISE's own presenter, and must:

- make as many slides (horizontal and vertical) as its slide metadata says;
- render the markdown of every slide: as many markdown and code cells as the
  metadata puts there, every markdown cell rendered, every heading present;
- fit each slide in a 1280x720 window, without cutting code lines;
- run a code cell from inside the slideshow (Shift+Enter), in a live kernel;
- ask nothing of any machine but this one (the RISE theme loads no web font).

jupyterlab-rise has had bugs with jupytext notebooks (an empty slideshow, markdown
cells missing): the first two checks are there for them. Screenshots of each title
slide, and of the slide where a cell ran (``-run.png``), go to build/screenshots/rise/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from browser_support import ROOT, Requests, screenshot_path
from coursefiles import MYST_HEADER, NOTEBOOK_DIRS, course_notebooks
from slide_metadata import normalized_text, slide_plan

pytestmark = pytest.mark.browser

NOTEBOOKS = course_notebooks()
VIEWPORT = {"width": 1280, "height": 720}
STARTUP = 60  # seconds for the Jupyter server to answer


class Jupyter:
    def __init__(self, url: str, token: str, course: Path):
        self.url, self.token, self.course = url, token, course

    def api(self, method: str, path: str, **kwargs):
        response = requests.request(method, f"{self.url}{path}", headers={"Authorization": f"token {self.token}"},
                                    timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    base = tmp_path_factory.mktemp("rise")
    course = base / "course"
    for folder in NOTEBOOK_DIRS:
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, course / folder, ignore=shutil.ignore_patterns(".*", "*.ipynb"))
    sys.path.insert(0, str(ROOT / "jupyter"))
    try:
        import install_settings
    finally:
        sys.path.pop(0)
    settings = install_settings.install(str(base / "env"))[0].parent  # what make lab installs
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTER_DATA_DIR=str(base / "data"), JUPYTERLAB_SETTINGS_DIR=str(base / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), IPYTHONDIR=str(base / "ipython"),
               JUPYTER_PLATFORM_DIRS="1")
    token = secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
               f"--LabApp.app_settings_dir={settings}", f"--RiseApp.app_settings_dir={settings}"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")
    log = (base / "server.log").open("w")
    process = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = wait_for_server(process, base / "runtime", token)
        yield Jupyter(url, token, course)
    finally:
        stop(process, url if "url" in locals() else None, token)
        log.close()


def wait_for_server(process, runtime: Path, token: str) -> str:
    """The server's URL, once /api/status answers (port 0: the port is read from its runtime file)."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Jupyter server exited with code {process.returncode}")
        info = runtime / f"jpserver-{process.pid}.json"
        if info.exists():
            try:
                url = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
                if requests.get(f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=5).ok:
                    return url
            except (ValueError, KeyError, requests.RequestException):
                pass
        time.sleep(0.2)
    pytest.fail(f"the Jupyter server did not answer within {STARTUP} s")


def stop(process, url, token) -> None:
    if process.poll() is None and url:
        try:  # a clean shutdown also ends the kernels (and the sandbox servers they started)
            requests.post(f"{url}/api/shutdown", headers={"Authorization": f"token {token}"}, timeout=10)
            process.wait(timeout=10)
        except (requests.RequestException, subprocess.TimeoutExpired):
            pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ids(paths):
    return [p.relative_to(ROOT).as_posix() for p in paths]


def test_lab_settings_are_those_of_the_repository(jupyter):
    """The server runs with jupyter/overrides.json: .md opens as a notebook, RISE uses a local theme."""
    overrides = json.loads((ROOT / "jupyter" / "overrides.json").read_text(encoding="utf-8"))
    for plugin, expected in overrides.items():  # overrides become the defaults of the settings' schema
        schema = jupyter.api("GET", f"/lab/api/settings/{plugin}")["schema"]["properties"]
        assert {key: schema[key].get("default") for key in expected} == expected, plugin
    assert overrides["jupyterlab-rise:plugin"]["theme"] == "white"  # the reveal.js theme with no Google font


# The slides as RISE built them: for each horizontal slide, its vertical slides.
SLIDES_JS = """() => [...document.querySelectorAll('.reveal .slides > section')].map(top =>
  [...top.querySelectorAll(':scope > section')].map(slide => {
    const shown = [...slide.querySelectorAll('.jp-Cell')]
      .filter(c => !c.closest('aside.notes') && !c.classList.contains('reveal-skip'));
    return {
      markdown: shown.filter(c => c.classList.contains('jp-MarkdownCell')).length,
      rendered: shown.filter(c => c.classList.contains('jp-MarkdownCell') && c.classList.contains('jp-mod-rendered')
                                  && c.querySelector('.jp-RenderedMarkdown > *')).length,
      code: shown.filter(c => c.classList.contains('jp-CodeCell')).length,
      headings: [...slide.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(h => !h.closest('aside.notes'))
                  .map(h => h.textContent),
    };
  }))"""

PRESENT_JS = """([h, v]) => {
  const tops = document.querySelectorAll('.reveal .slides > section');
  const slide = tops[h] && tops[h].querySelectorAll(':scope > section')[v];
  return !!slide && slide.classList.contains('present') && tops[h].classList.contains('present');
}"""

SHOW_FRAGMENTS_JS = """() => document.querySelectorAll(
  '.reveal .slides > section.present > section.present .fragment').forEach(f => f.classList.add('visible'))"""

# How the present slide fits the window: where its content starts and ends, and the
# code, outputs or tables wider than their box (lines cut or behind a scroll bar).
MEASURE_JS = """() => {
  const slide = document.querySelector('.reveal .slides > section.present > section.present');
  const box = slide.getBoundingClientRect();
  const scale = slide.offsetHeight ? box.height / slide.offsetHeight : 1;
  const wide = [...slide.querySelectorAll('.cm-scroller, .jp-OutputArea-output pre, table, .jp-RenderedMarkdown pre')]
    .filter(e => !e.closest('aside.notes') && e.scrollWidth > e.clientWidth + 2)
    .map(e => (e.textContent || '').trim().split('\\n').sort((a, b) => b.length - a.length)[0].slice(0, 80));
  return {top: box.top, bottom: box.top + slide.scrollHeight * scale, height: window.innerHeight, wide};
}"""


@pytest.fixture(scope="module")
def context(browser):
    """One browser context for the module: JupyterLab's scripts load once, then come from the cache."""
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def page(context, jupyter):
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.requests = Requests(page, block=False)  # recorded, not blocked: blocking disables the cache
    yield page
    page.close()
    for kernel in jupyter.api("GET", "/api/kernels"):  # each notebook's kernel ends with its test
        jupyter.api("DELETE", f"/api/kernels/{kernel['id']}")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_presents_with_rise(jupyter, page, notebook):
    rel = notebook.relative_to(ROOT).as_posix()
    nb = jupytext.read(notebook)
    plan = slide_plan(nb)
    expected_shape = [sum(1 for s in plan if s["h"] == h) for h in range(plan[-1]["h"] + 1)]

    page.goto(f"{jupyter.url}/rise/{rel}?token={jupyter.token}")
    page.wait_for_function(
        """(n) => document.querySelectorAll('.reveal .slides > section').length >= n
                  && document.querySelectorAll('.reveal .jp-MarkdownCell.jp-mod-rendered').length > 0""",
        arg=len(expected_shape), timeout=60_000)
    headings = sum(len(slide["headings"]) for slide in plan)
    try:  # markdown renders asynchronously: wait for every cell, and every heading, to be there
        page.wait_for_function(
            """(headings) => [...document.querySelectorAll('.reveal .jp-MarkdownCell')].every(c =>
                   c.classList.contains('jp-mod-rendered') && c.querySelector('.jp-RenderedMarkdown > *'))
               && document.querySelectorAll('.reveal :is(h1, h2, h3, h4, h5, h6)').length >= headings""",
            arg=headings, timeout=30_000)
    except PlaywrightTimeout:
        pass  # the comparison below says what is missing
    slides = page.evaluate(SLIDES_JS)

    # As many slides as the metadata says, laid out the same way.
    assert [len(vertical) for vertical in slides] == expected_shape, "slides per horizontal slide (RISE, metadata)"

    # Every slide's markdown rendered, with its headings.
    problems = []
    for expected, shown in zip(plan, (s for vertical in slides for s in vertical)):
        where = f"slide {expected['h'] + 1}.{expected['v'] + 1}"
        markdown = sum(1 for i in expected["cells"] if nb.cells[i].cell_type == "markdown")
        if (shown["markdown"], shown["code"]) != (markdown, len(expected["code"])):
            problems.append(f"{where}: {shown['markdown']} markdown and {shown['code']} code cells shown, "
                            f"{markdown} and {len(expected['code'])} expected")
        if shown["rendered"] != shown["markdown"]:
            problems.append(f"{where}: {shown['markdown'] - shown['rendered']} markdown cell(s) not rendered")
        want = [normalized_text(h) for h in expected["headings"]]
        got = [normalized_text(h) for h in shown["headings"]]
        if want != got:
            problems.append(f"{where}: headings {shown['headings']}, expected {expected['headings']}")
    assert problems == [], f"{rel} in RISE:\n" + "\n".join(problems)

    # Each slide fits a 1280x720 window.
    overflows = overflowing_slides(page, plan, title_screenshot=screenshot_path("rise", notebook))
    assert overflows == [], f"{rel}: slides overflow a 1280x720 window:\n" + "\n".join(overflows)

    # A code cell runs from inside the slideshow, in a live kernel.
    runnable = next((slide for slide in plan if slide["code"]), None)
    if runnable is not None:
        show(page, runnable["h"], runnable["v"])
        page.evaluate(SHOW_FRAGMENTS_JS)  # as if the presenter had stepped through them
        prompt = page.locator(".reveal .slides > section.present > section.present .jp-CodeCell:not(.reveal-skip)"
                              " .jp-InputPrompt").first.element_handle(timeout=10_000)
        prompt.click()
        page.keyboard.press("Shift+Enter")  # runs the cell and moves on, as in a presentation
        page.wait_for_function("(prompt) => /\\[\\d+\\]/.test(prompt.textContent)", arg=prompt, timeout=60_000)
        show(page, runnable["h"], runnable["v"])
        page.evaluate(SHOW_FRAGMENTS_JS)
        ran = screenshot_path("rise", notebook)
        page.screenshot(path=ran.with_name(f"{ran.stem}-run.png"))

    assert page.requests.outside == [], "requests that left this machine"
    assert page.errors == [], "JavaScript errors"


def overflowing_slides(page, plan, title_screenshot: Path | None = None) -> list[str]:
    """Visit every slide; what does not fit the window (a screenshot of the title slide on the way)."""
    overflows = []
    for slide in plan:
        h, v = slide["h"], slide["v"]
        show(page, h, v)
        box = page.evaluate(MEASURE_JS)
        if (h, v) == (0, 0) and title_screenshot:
            page.screenshot(path=title_screenshot)
        where = f"slide {h + 1}.{v + 1} ({(slide['headings'] or ['no heading'])[0]})"
        if box["top"] < -1 or box["bottom"] > box["height"] + 1:
            overflows.append(f"{where}: content {box['bottom'] - box['top']:.0f} px high, "
                             f"from y={box['top']:.0f} to y={box['bottom']:.0f} (window {box['height']})")
        for line in box["wide"]:
            overflows.append(f"{where}: a line wider than the slide: {line!r}")
    return overflows


def show(page, h: int, v: int) -> None:
    """Go to slide (h, v), as a link to it would: reveal.js follows the URL's #/h/v."""
    for _attempt in range(5):  # a late selection of a cell may move the slideshow back: ask again
        page.evaluate("([h, v]) => { window.location.hash = `#/${h}/${v}`; }", [h, v])
        try:
            page.wait_for_function(PRESENT_JS, arg=[h, v], timeout=3_000)
            page.wait_for_timeout(50)  # layout settles
            if page.evaluate(PRESENT_JS, [h, v]):
                return
        except PlaywrightTimeout:
            pass
    where = page.evaluate("() => [window.location.hash, document.querySelector("
                          "'.reveal .slides > section.present > section.present')?.id]")
    pytest.fail(f"RISE did not show slide {h + 1}.{v + 1} (URL hash, present slide: {where})")


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
    assert [line.split(":")[0] for line in found] == ["slide 1.2 (Too tall)", "slide 1.3 (Too wide)"], found
