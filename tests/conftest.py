"""Fixtures shared by several test files (pytest finds them here by name).

- ``app`` and ``client``: a fresh messaging application with its own database
  file, and Flask's test client for it (tests/test_messaging_*.py).
- ``browser``: headless Chromium (tests/browser_support.py says where it comes from).

The repository's own conftest.py, one folder up, reads the course notebooks
for nbval and keeps every test on this machine.
"""

from __future__ import annotations

import pytest

from browser_support import launch_browser
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
