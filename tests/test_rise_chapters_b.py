"""A third of the chapters presented live with RISE, as tests/test_rise.py does the first third.

Apart so that the test workers share the chapters (each runs every cell it shows);
the checks, the server and the pages are tests/rise_support.py's.
"""

from __future__ import annotations

import pytest

from rise_support import CHAPTERS_B, context, ids, jupyter, page, presents_with_rise  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("notebook", CHAPTERS_B, ids=ids(CHAPTERS_B))
def test_chapter_presents_with_rise(jupyter, page, notebook):
    presents_with_rise(jupyter, page, notebook)
