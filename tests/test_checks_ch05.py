"""Chapter 05's step 4 checker (checks/ch05.py): right and wrong patient sessions against servers
that really fail (sandbox/faults.py). Steps 1 to 3 are tested in tests/test_checks.py."""

from __future__ import annotations

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from checker_helpers import stub, verdict
from checks import ch05, core
from checks.core import FAILED, NOT_DONE, PASSED


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checkers as a student runs them: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


def sessions(total=None, methods=Retry.DEFAULT_ALLOWED_METHODS, forcelist=(429, 502, 503, 504), **more):
    """A patient_session(retries) as a student may write it: ``total`` overrides ``retries``."""

    def patient_session(retries=3):
        retry = Retry(total=retries if total is None else total, backoff_factor=0.05,
                      status_forcelist=list(forcelist), allowed_methods=methods, **more)
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=retry))
        return session

    return patient_session


def test_a_patient_session_passes_and_the_check_shows_that_one_without_retries_fails():
    verdict(ch05.check_patient_session(sessions()), PASSED, "10 GETs answered 200 despite resets, 429s and 503s",
            "a session without retries failed 3 of them", "a POST answered 503 sent once")
    # Retry-After (here 0) makes urllib3 retry a 429 or a 503 even outside status_forcelist
    verdict(ch05.check_patient_session(sessions(raise_on_status=False)), PASSED)


@pytest.mark.parametrize("wrong", [
    lambda retries=3: requests.Session(),  # no retries at all
    sessions(total=0),  # retries=0 whatever is asked
])
def test_a_session_without_retries_fails(wrong):
    verdict(ch05.check_patient_session(wrong), FAILED, "all answered 200",
            "(a session without retries got 429, ConnectionError, 503)", "a Session does not retry on its own")


def test_a_session_without_connection_retries_fails():
    verdict(ch05.check_patient_session(sessions(connect=0, read=0)), FAILED, "all answered 200", "ConnectionError")


@pytest.mark.parametrize("methods", [None, Retry.DEFAULT_ALLOWED_METHODS | {"POST"}])
def test_a_session_that_retries_a_post_is_caught(methods):
    verdict(ch05.check_patient_session(sessions(methods=methods)), FAILED,
            "a POST answered 503 to be sent once", "the server received it 4 times", "a POST is not idempotent")


def test_not_a_session_and_not_done():
    verdict(ch05.check_patient_session(lambda retries=3: HTTPAdapter()), FAILED, "to return a requests.Session")
    verdict(ch05.check_patient_session(stub), NOT_DONE, "TODO: write your code here")
    verdict(ch05.check_patient_session(...), NOT_DONE)
