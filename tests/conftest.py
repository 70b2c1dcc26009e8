"""Fixtures shared by several test files (pytest finds them here by name).

- ``app`` and ``client``: a fresh messaging application with its own database
  file, and Flask's test client for it (tests/test_messaging_*.py).
- ``browser``: headless Chromium (tests/browser_support.py says where it comes from).
- ``published``: the decks and the site of the course, built once for the whole test
  session (tests/test_slides.py, tests/test_site.py).

The repository's own conftest.py, one folder up, reads the course notebooks
for nbval and keeps every test on this machine.
"""

from __future__ import annotations

import json

import pytest
from filelock import FileLock

from browser_support import build, launch_browser
from messaging_helpers import new_app


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


@pytest.fixture(scope="session")
def published(tmp_path_factory, worker_id) -> dict:
    """``python -m publish slides site --keep-going``, once for every test worker: the first
    worker that asks builds, the others wait for it, then all read its result (pytest-xdist's
    own recipe for a session fixture that must run once). One build executes each notebook
    once for the decks and the site; two builds at once on two workers executed each twice.

    The result: ``returncode``, the ends of ``stdout`` and ``stderr``. The build goes to
    build/slides/ and build/site/, and executes only the notebooks changed since the last one.
    """
    def run() -> dict:
        result = build("slides", "site", "--keep-going", check=False)
        return {"returncode": result.returncode, "stdout": result.stdout[-3000:], "stderr": result.stderr[-6000:]}

    if worker_id == "master":  # no xdist: this process is the only one
        return run()
    shared = tmp_path_factory.getbasetemp().parent / "published.json"  # one folder for all workers
    with FileLock(f"{shared}.lock"):
        if not shared.is_file():
            shared.write_text(json.dumps(run()), encoding="utf-8")
        return json.loads(shared.read_text(encoding="utf-8"))
