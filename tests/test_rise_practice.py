"""Every exercise and solution notebook presented live with RISE, as tests/test_rise.py does the chapters.

Apart so that two test workers share the notebooks; the checks, the server and
the pages are tests/rise_support.py's.
"""

from __future__ import annotations

import pytest

from rise_support import PRACTICE, context, ids, jupyter, page, presents_with_rise  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("notebook", PRACTICE, ids=ids(PRACTICE))
def test_practice_notebook_presents_with_rise(jupyter, page, notebook):
    presents_with_rise(jupyter, page, notebook)
