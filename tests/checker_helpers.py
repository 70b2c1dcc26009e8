"""Shared helpers for the tests of the checkers (tests/test_checks.py, tests/test_checks_part2.py)."""

from __future__ import annotations

from checks.core import Result


def stub(*args, **kwargs):
    """What a student's function is before they write it, as make_exercises.py leaves it."""
    raise NotImplementedError("TODO: write your code here")


def verdict(result: Result, status: str, *fragments: str) -> None:
    """The result has this status, and its printed text contains every fragment."""
    assert result.status == status, str(result)
    for fragment in fragments:
        assert fragment in str(result), f"{fragment!r} not in:\n{result}"
