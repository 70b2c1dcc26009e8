"""Fixtures shared by several test files (pytest finds them here by name).

- ``app`` and ``client``: a fresh messaging application with its own database
  file, and Flask's test client for it (tests/test_messaging_*.py).
- ``browser``: headless Chromium (tests/browser_support.py says where it comes from).
- ``published``: the decks and the site of the course, built once for the whole test
  session, in the background, from nbval's runs of the notebooks (tests/test_slides.py,
  tests/test_site.py).

The repository's own conftest.py, one folder up, reads the course notebooks
for nbval and keeps every test on this machine.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from browser_support import build, launch_browser
from coursefiles import is_course_notebook
from messaging_helpers import new_app
from notebook_runs import shared_folder, wait_for_runs, worker_finished

BUILD_TIMEOUT = 1500  # seconds, as tests/test_slides.py's timeout
RUNS_TIMEOUT = 900  # seconds the build waits for nbval's runs of the notebooks; then it runs those missing


@pytest.fixture
def app(tmp_path):
    """The messaging application, with a new database in this test's folder (no rate limit)."""
    return new_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, one per test module; skipped without one, except under CI."""
    yield from launch_browser()


def _publish(executed: Path | None = None) -> dict:
    """``python -m publish slides site --keep-going``, with the outputs of the notebooks already
    run in ``executed``; its exit status and the ends of its output."""
    try:
        extra = ["--executed", str(executed)] if executed else []
        result = build("slides", "site", "--keep-going", *extra, check=False)
        return {"returncode": result.returncode, "stdout": result.stdout[-3000:], "stderr": result.stderr[-6000:]}
    except Exception as error:  # a timeout, say: the waiting tests must hear of it, not wait for ever
        return {"returncode": -1, "stdout": "", "stderr": f"{type(error).__name__}: {error}"}


_builder: threading.Thread | None = None  # this worker's background build, if it started it


def schedule(items) -> None:
    """Order the test files for the workers (in place): the notebooks under nbval first, then
    the long RISE presentations, the others as collected, and the files that need the build of
    the decks and the site last.

    pytest-xdist (``--dist loadfile``) hands the files out in this order when the Makefile
    turns off its own (``--no-loadscope-reorder``: by number of tests, which put the decks'
    walk first, to wait for the build). The build takes its notebooks' outputs from nbval's
    runs, so these come first; long files next leave short ones to even out the end, and the
    build is done by the time its tests come.
    """
    needs_build = {item.path for item in items if "published" in getattr(item, "fixturenames", ())}
    notebooks = set(notebooks_of(items))

    def rank(item) -> int:
        if item.path in needs_build:
            return 3
        if item.path in notebooks:
            return 0
        return 1 if item.path.name.startswith("test_rise") else 2

    items.sort(key=rank)  # stable: the order of collection within each rank


def notebooks_of(items) -> list[Path]:
    """The course notebooks nbval runs among ``items`` (each file looked at once, not once per cell)."""
    return sorted(path for path in {item.path for item in items} if is_course_notebook(path))


def pytest_collection_modifyitems(session, config, items):
    schedule(items)


def pytest_collection_finish(session):
    """Start the build in the background as soon as a worker has collected a test that needs it.

    The build takes minutes. Started by the first test that asks, it held that worker idle
    meanwhile; started here, it runs beside the other tests, and is usually done when the decks'
    and the site's tests come. It first waits for nbval's runs of the notebooks (which come
    first: ``schedule``), then builds from their outputs (tests/notebook_runs.py). The first
    worker to get here starts it (a file lock decides); the fixture below waits for its result.
    """
    global _builder
    items, config = session.items, session.config
    folder = shared_folder(config)
    if folder is None or not any("published" in getattr(item, "fixturenames", ()) for item in items):
        return
    with FileLock(folder / "published.lock"):
        if (folder / "published.started").exists():
            return
        (folder / "published.started").touch()
    notebooks = notebooks_of(items)

    def run():
        result = folder / "published.json"
        partial = result.with_suffix(".partial")
        partial.write_text(json.dumps(_publish(wait_for_runs(config, notebooks, RUNS_TIMEOUT))), encoding="utf-8")
        partial.replace(result)  # at once: a waiting worker never reads half a file

    _builder = threading.Thread(target=run, name="publish", daemon=True)
    _builder.start()


def pytest_sessionfinish(session):
    worker_finished(session.config)  # the build waits for no more notebook runs from here
    if _builder is not None:  # the others may still wait for it: this worker ends after the build
        _builder.join(BUILD_TIMEOUT)


@pytest.fixture(scope="session")
def published(pytestconfig) -> dict:
    """The decks and the site of the course, built once for all test workers (see
    pytest_collection_finish above; without pytest-xdist, built here, executing every notebook
    once for the decks and the site).

    The result: ``returncode``, the ends of ``stdout`` and ``stderr``. The build goes to
    build/slides/ and build/site/, and executes only the notebooks changed since the last one.
    """
    folder = shared_folder(pytestconfig)
    if folder is None or not (folder / "published.started").exists():
        return _publish()
    result = folder / "published.json"
    deadline = time.monotonic() + BUILD_TIMEOUT
    while not result.is_file():  # written by the worker that builds, once it has finished
        if time.monotonic() > deadline:
            pytest.fail(f"the build of the decks and the site did not end within {BUILD_TIMEOUT} s")
        time.sleep(0.5)
    return json.loads(result.read_text(encoding="utf-8"))
