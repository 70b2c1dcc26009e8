"""What tests/test_rise.py and tests/test_rise_practice.py share: a Jupyter server, pages, checks.

The course's notebooks are presented in five modules, a third of the chapters in each
of three, half the solutions (and the sample exercise) in each of the other two, so that the
test workers (``--dist loadfile``) share them: presenting one takes a JupyterLab page load, a
walk through every slide and a run of its cells (a chapter's all, in slideshow
order). Each module has its own Jupyter server (module fixtures). The checks
are in test_rise.py's docstring.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from websockets.sync.client import connect as websocket_connect

from browser_support import ROOT, Requests, screenshot_path
from coursefiles import NOTEBOOK_DIRS, course_notebooks
from slide_metadata import normalized_text, slide_plan

NOTEBOOKS = course_notebooks()
CHAPTERS = [n for n in NOTEBOOKS if n.relative_to(ROOT).parts[0] == "notebooks"]
# Presenting a chapter runs every cell it shows: the chapters go to three modules, every third
# one each, so that the test workers share them (tests/test_rise.py, test_rise_chapters_b.py,
# test_rise_chapters_c.py).
CHAPTERS_A, CHAPTERS_B, CHAPTERS_C = CHAPTERS[0::3], CHAPTERS[1::3], CHAPTERS[2::3]
# The exercises and solutions presented: every solution, and one exercise as a sample of the
# generated form. An exercise is its solution with code replaced by TODOs (tools/make_exercises.py;
# tests/test_exercises.py keeps them in step): the same slides and markdown, code no taller.
# test_rise.py's test_every_exercise_makes_the_slides_of_its_solution checks the rest without a
# browser, so presenting each exercise again (7 s each) would prove nothing more.
EXERCISES = [n for n in NOTEBOOKS if n.relative_to(ROOT).parts[0] == "exercises"]
EXERCISE_SAMPLE = EXERCISES[:1]
PRACTICE = [n for n in NOTEBOOKS if n not in CHAPTERS and n not in EXERCISES] + EXERCISE_SAMPLE
PRACTICE_A, PRACTICE_B = PRACTICE[0::2], PRACTICE[1::2]  # test_rise_practice.py, test_rise_practice_b.py
VIEWPORT = {"width": 1280, "height": 720}
STARTUP = 60  # seconds for the Jupyter server to answer


class Jupyter:
    def __init__(self, url: str, token: str, course: Path):
        self.url, self.token, self.course = url, token, course
        self.shutdowns = ThreadPoolExecutor(max_workers=2)  # kernels end while the next test goes on

    def end_kernels(self) -> None:
        """Shut down every kernel, without waiting for them to be gone (``stop`` waits)."""
        for kernel in self.api("GET", "/api/kernels"):
            self.shutdowns.submit(self.api, "DELETE", f"/api/kernels/{kernel['id']}", missing_ok=True)

    def api(self, method: str, path: str, missing_ok: bool = False, **kwargs):
        response = requests.request(method, f"{self.url}{path}", headers={"Authorization": f"token {self.token}"},
                                    timeout=30, **kwargs)
        if not (missing_ok and response.status_code == 404):  # a kernel already gone
            response.raise_for_status()
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    base = tmp_path_factory.mktemp("rise")
    course = base / "course"
    for folder in NOTEBOOK_DIRS:
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, course / folder, ignore=shutil.ignore_patterns(".*", "*.ipynb"))
    shutil.copy(ROOT / "jupytext.toml", course)  # the course's jupytext settings, as at the repository's root
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
        server = Jupyter(url, token, course)
        yield server
        server.shutdowns.shutdown(wait=True)
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

# The walk through every slide in one call to the browser (a call costs more than a
# slide): for each (h, v), go to the slide by the URL and wait for it to be shown (3 s
# at most; a late selection of a cell may move the slideshow back: ask again, 5 times),
# then for two frames to be drawn, so that the code editors have laid out (RISE's
# transition is "none": nothing moves after), and measure it; null if it is not shown.
WALK_JS = """async (slides) => {
  const present = %s;
  const measure = %s;
  const frame = () => new Promise(requestAnimationFrame);
  const boxes = [];
  for (const [h, v] of slides) {
    for (let attempt = 0; attempt < 5 && !present([h, v]); attempt++) {
      window.location.hash = `#/${h}/${v}`;
      const deadline = performance.now() + 3000;
      while (!present([h, v]) && performance.now() < deadline) await frame();
    }
    await frame();
    await frame();
    boxes.push(present([h, v]) ? measure() : null);
  }
  return boxes;
}""" % (PRESENT_JS, MEASURE_JS)


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
    jupyter.end_kernels()  # each notebook's kernel ends with its test


def presents_with_rise(jupyter, page, notebook: Path) -> None:
    """The checks of the module docstring of test_rise.py, for one notebook."""
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

    # Each slide fits a 1280x720 window; and a chapter runs from its first slide: every code
    # cell it shows, in slideshow order (the first by Shift+Enter), and no error but where a cell
    # fails on purpose; the kernel runs them while the browser walks the slides. An exercise or
    # a solution: a code cell runs from inside the slideshow, in a live kernel.
    def walk():
        return overflowing_slides(page, plan, title_screenshot=screenshot_path("rise", notebook))

    problems = []
    if notebook in CHAPTERS:
        problems, overflows = run_in_slideshow_order(jupyter, page, rel, nb, plan, meanwhile=walk)
    else:
        overflows = walk()
    assert overflows == [], f"{rel}: slides overflow a 1280x720 window:\n" + "\n".join(overflows)
    assert problems == [], f"{rel}, its code cells run in slideshow order:\n" + "\n".join(problems)
    if notebook not in CHAPTERS and (runnable := next((slide for slide in plan if slide["code"]), None)):
        run_cell(page, runnable, 0)
    ran = screenshot_path("rise", notebook)
    page.screenshot(path=ran.with_name(f"{ran.stem}-run.png"))

    assert page.requests.outside == [], "requests that left this machine"
    assert page.errors == [], "JavaScript errors"


class KernelMessages:
    """A second client of a kernel, beside the slideshow: it hears what the kernel publishes
    (IOPub: which code ran, what failed, when it was done) and can ask it to run code (shell).
    ``with`` connects and closes."""

    def __init__(self, jupyter: Jupyter, kernel_id: str):
        url = jupyter.url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
        self.connection = websocket_connect(url, additional_headers={"Authorization": f"token {jupyter.token}"})
        self.socket = self.connection.__enter__()
        self.session = uuid.uuid4().hex
        self.code: dict[str, str] = {}  # msg_id of each execution -> its code
        self.errors: dict[str, list[str]] = {}  # msg_id -> "Name: message" of each error
        self.done: set[str] = set()  # msg_ids whose execution is over (the kernel went idle)
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.socket:
            if not isinstance(raw, str):  # jupyter_server's binary frames: buffers, not used here
                continue
            message = json.loads(raw)
            if message.get("channel") != "iopub":
                continue
            kind, parent = message["header"]["msg_type"], message["parent_header"].get("msg_id", "")
            content = message["content"]
            with self.changed:
                if kind == "execute_input":
                    self.code[parent] = content["code"]
                elif kind == "error":
                    self.errors.setdefault(parent, []).append(f"{content['ename']}: {content['evalue']}"[:300])
                elif kind == "status" and content["execution_state"] == "idle" and parent in self.code:
                    self.done.add(parent)
                self.changed.notify_all()

    def execute(self, code: str) -> str:
        """Ask the kernel to run ``code``, as the notebook's own client does; its msg_id."""
        msg_id = uuid.uuid4().hex
        self.socket.send(json.dumps({
            "channel": "shell", "buffers": [], "metadata": {}, "parent_header": {},
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
                       "username": "test", "version": "5.3"},
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": False},
        }))
        return msg_id

    def received(self, code: str, timeout: float) -> str | None:
        """The msg_id of the first execution of ``code`` the kernel received; or None."""
        def found():
            return next((i for i, c in self.code.items() if c == code), None)

        with self.changed:
            self.changed.wait_for(found, timeout)
            return found()

    def finished(self, msg_id: str, timeout: float) -> bool:
        """Whether the execution ``msg_id`` is over (the kernel went idle after it), within ``timeout``."""
        with self.changed:
            return self.changed.wait_for(lambda: msg_id in self.done, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.connection.__exit__(None, None, None)  # closes it: the reader's loop ends
        self.reader.join(timeout=5)


def kernel_of(jupyter: Jupyter, path: str, timeout: float = 60) -> str:
    """The id of the kernel of the notebook at ``path`` (the slideshow starts one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for session in jupyter.api("GET", "/api/sessions"):
            if session["path"] == path and session.get("kernel"):
                return session["kernel"]["id"]
        time.sleep(0.2)
    pytest.fail(f"no kernel for {path} within {timeout} s")


def run_cell(page, slide: dict, position: int) -> None:
    """Shift+Enter on the code cell at ``position`` on ``slide``, its fragments shown, once it
    is the active cell; returns once its prompt has a number (the kernel answered)."""
    if not page.evaluate(PRESENT_JS, [slide["h"], slide["v"]]):  # Shift+Enter moved on to the next slide
        show(page, slide["h"], slide["v"])
    page.evaluate(SHOW_FRAGMENTS_JS)  # as if the presenter had stepped through them
    prompt = page.locator(".reveal .slides > section.present > section.present"
                          " .jp-CodeCell:not(.reveal-skip):not(aside.notes *) .jp-InputPrompt"
                          ).nth(position).element_handle(timeout=10_000)
    prompt.click()
    page.wait_for_function("(prompt) => prompt.closest('.jp-Cell').classList.contains('jp-mod-active')",
                           arg=prompt, timeout=5_000)
    page.keyboard.press("Shift+Enter")  # runs the cell and moves on, as in a presentation
    page.wait_for_function("(prompt) => /\\[\\d+\\]/.test(prompt.textContent)", arg=prompt, timeout=60_000)


RUN_SECONDS = 60  # the longest a shown cell may take here (a presenter's cell takes a few seconds)


def run_in_slideshow_order(jupyter: Jupyter, page, path: str, nb, plan, meanwhile):
    """Run every code cell the slideshow shows, in slideshow order, in the slideshow's kernel;
    what went wrong, and what ``meanwhile()`` returned.

    The first one, as a presenter does: Shift+Enter in the slideshow. The others go to the
    same kernel straight from here, one after the other, each once the last is done: the
    same code in the same order, without a browser drawing every output (which took five
    times as long). The kernel's messages say what ran, when it ended and what failed.
    Meanwhile, this thread runs ``meanwhile`` (the walk through the slides: Playwright's
    pages stay in the thread that opened them); the page shows the first cell's output only.
    """
    shown = [(slide, index) for slide in plan for index in slide["code"]]
    if not shown:
        return [], meanwhile()
    with KernelMessages(jupyter, kernel_of(jupyter, path)) as kernel, ThreadPoolExecutor(1) as pool:
        first_slide, first = shown[0]
        run_cell(page, first_slide, 0)
        rest = pool.submit(_run_cells, kernel, nb, shown)
        other = meanwhile()
        return rest.result(), other


def _run_cells(kernel: KernelMessages, nb, shown) -> list[str]:
    """``run_in_slideshow_order``'s kernel part: the first cell ran by Shift+Enter, the others sent here."""
    problems = []
    first = shown[0][1]
    for slide, index in shown:
        cell = nb.cells[index]
        where = f"cell {index} (slide {slide['h'] + 1}.{slide['v'] + 1}: {cell.source.strip()[:60]!r})"
        ran = kernel.received(cell.source, timeout=10) if index == first else kernel.execute(cell.source)
        if ran is None:
            return problems + [f"{where}: Shift+Enter in the slideshow did not run it"]
        if not kernel.finished(ran, RUN_SECONDS):
            return problems + [f"{where}: still running after {RUN_SECONDS} s"]
        failed = "raises-exception" in cell.metadata.get("tags", [])
        if kernel.errors.get(ran) and not failed:
            problems.append(f"{where}: {'; '.join(kernel.errors[ran])}")
        elif failed and not kernel.errors.get(ran):
            problems.append(f"{where}: tagged raises-exception, but ran without an error")
    return problems


def overflowing_slides(page, plan, title_screenshot: Path | None = None) -> list[str]:
    """Visit every slide; what does not fit the window (and a screenshot of the title slide)."""
    if title_screenshot:
        show(page, 0, 0)
        page.screenshot(path=title_screenshot)
    overflows = []
    boxes = page.evaluate(WALK_JS, [[slide["h"], slide["v"]] for slide in plan])
    for slide, box in zip(plan, boxes):
        h, v = slide["h"], slide["v"]
        if box is None:  # the slow way, which fails saying where the slideshow is
            show(page, h, v)
            box = page.evaluate(MEASURE_JS)
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
