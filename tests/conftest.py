"""Fixtures shared by several test files (pytest finds them here by name).

- ``app`` and ``client``: a fresh messaging application with its own database
  file, and Flask's test client for it (tests/test_messaging_*.py).
- ``browser``: headless Chromium (tests/browser_support.py says where it comes from).
- ``published``: the decks and the site of the course, built once for the whole test
  session, in the background from the start (tests/test_slides.py, tests/test_site.py).

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
from messaging_helpers import new_app

BUILD_TIMEOUT = 1500  # seconds, as tests/test_slides.py's timeout


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


def _publish() -> dict:
    """``python -m publish slides site --keep-going``; its exit status and the ends of its output."""
    try:
        result = build("slides", "site", "--keep-going", check=False)
        return {"returncode": result.returncode, "stdout": result.stdout[-3000:], "stderr": result.stderr[-6000:]}
    except Exception as error:  # a timeout, say: the waiting tests must hear of it, not wait for ever
        return {"returncode": -1, "stdout": "", "stderr": f"{type(error).__name__}: {error}"}


def _shared_folder(config) -> Path | None:
    """The folder every test worker of this run shares (None without pytest-xdist): the parent of
    each worker's own temporary folder, which xdist gives it as --basetemp (pytest removes old ones)."""
    if not hasattr(config, "workerinput"):
        return None
    return Path(config.option.basetemp).parent


_builder: threading.Thread | None = None  # this worker's background build, if it started it


def schedule(items) -> None:
    """Order the test files for the workers (in place): the long RISE presentations first, the
    files that need the build of the decks and the site last, the others as collected.

    pytest-xdist (``--dist loadfile``) hands the files out in this order when the Makefile
    turns off its own (``--no-loadscope-reorder``: by number of tests, which put the decks'
    walk first, to wait for the build). Long files first leave short ones to even out the end,
    and the build is done by the time its tests come.
    """
    needs_build = {item.path for item in items if "published" in getattr(item, "fixturenames", ())}

    def rank(item) -> int:
        if item.path in needs_build:
            return 2
        return 0 if item.path.name.startswith("test_rise") else 1

    items.sort(key=rank)  # stable: the order of collection within each rank


def pytest_collection_modifyitems(session, config, items):
    """Start the build in the background as soon as a worker sees a test that needs it.

    The build takes minutes (it executes every notebook). Started by the first test that asks,
    it held that worker idle meanwhile; started here, during collection, it runs beside the
    other tests, and is usually done when the decks' and the site's tests come. The first
    worker to get here starts it (a file lock decides); the fixture below waits for its result.
    """
    global _builder
    schedule(items)
    folder = _shared_folder(config)
    if folder is None or not any("published" in getattr(item, "fixturenames", ()) for item in items):
        return
    with FileLock(folder / "published.lock"):
        if (folder / "published.started").exists():
            return
        (folder / "published.started").touch()

    def run():
        result = folder / "published.json"
        partial = result.with_suffix(".partial")
        partial.write_text(json.dumps(_publish()), encoding="utf-8")
        partial.replace(result)  # at once: a waiting worker never reads half a file

    _builder = threading.Thread(target=run, name="publish", daemon=True)
    _builder.start()


def pytest_sessionfinish(session):
    if _builder is not None:  # the others may still wait for it: this worker ends after the build
        _builder.join(BUILD_TIMEOUT)


@pytest.fixture(scope="session")
def published(pytestconfig) -> dict:
    """The decks and the site of the course, built once for all test workers (see
    pytest_collection_modifyitems above; without pytest-xdist, built here). One build
    executes each notebook once for the decks and the site.

    The result: ``returncode``, the ends of ``stdout`` and ``stderr``. The build goes to
    build/slides/ and build/site/, and executes only the notebooks changed since the last one.
    """
    folder = _shared_folder(pytestconfig)
    if folder is None or not (folder / "published.started").exists():
        return _publish()
    result = folder / "published.json"
    deadline = time.monotonic() + BUILD_TIMEOUT
    while not result.is_file():  # written by the worker that builds, once it has finished
        if time.monotonic() > deadline:
            pytest.fail(f"the build of the decks and the site did not end within {BUILD_TIMEOUT} s")
        time.sleep(0.5)
    return json.loads(result.read_text(encoding="utf-8"))
