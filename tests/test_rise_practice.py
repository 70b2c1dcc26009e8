"""Half the exercise and solution notebooks presented live with RISE, as tests/test_rise.py does the chapters.

The other half in tests/test_rise_practice_b.py: apart so that test workers share the notebooks; the checks, the server and
the pages are tests/rise_support.py's.
"""

from __future__ import annotations

import pytest

from rise_support import PRACTICE_A, context, ids, jupyter, page, presents_with_rise  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("notebook", PRACTICE_A, ids=ids(PRACTICE_A))
def test_practice_notebook_presents_with_rise(jupyter, page, notebook):
    presents_with_rise(jupyter, page, notebook)
