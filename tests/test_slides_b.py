"""The other half of the decks, walked as tests/test_slides.py walks its half (two modules,
so that two test workers share the walk)."""

from __future__ import annotations

import pytest

from browser_support import ROOT
from test_slides import WALKED_B, decks, walk_deck  # noqa: F401 (decks: a fixture)

pytestmark = pytest.mark.timeout(1500)  # the first test may wait for the build of every deck and page


@pytest.mark.browser
@pytest.mark.parametrize("notebook", WALKED_B, ids=[p.relative_to(ROOT).as_posix() for p in WALKED_B])
def test_deck_shows_every_slide_offline(decks, browser, notebook):
    walk_deck(decks, browser, notebook)
