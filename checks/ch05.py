"""Checks for exercises/05-web-apis.md: a client for the random-number API, with validation and retries.

    check_limits(limits_from_openapi, random)                     step 1: the limits, read from the OpenAPI document
    check_random_client(RandomClient, ApiError, random)           step 2: validate before sending, errors as ApiError
    check_retries(PatientRandomClient, ApiError, random)          step 3: retry 429 and 5xx, never a 400
    check_patient_session(patient_session)                        step 4: a real faulty server; never retry a POST

The client checks of steps 2 and 3 talk to the random server through a
``FlakyProxy`` (see servers.py), which counts the requests that reach it and
answers an error instead when the check asks it to. Step 4's check launches
servers that fail on their own (``launch(..., faults=...)``, sandbox/faults.py).
"""

from __future__ import annotations

import contextlib
import copy

import requests

from .core import Failure, call, call_raising, checker, expect, expect_equal, plural, require, run_with_limit, short
from .helpers import sandbox_server
from .servers import FlakyProxy

API = "/api/random/"
# Step 4's faulty random server: a tenth of the answers reset, a fifth 429 or 503 (Retry-After: 0, to
# keep the check quick). Seeded: a session that retries each GET until it succeeds meets the same
# faults at every run, never four in a row; one without retries meets three in its ten GETs.
FAULTY_GETS = {"reset": 0.1, "http_errors": "429:0.05,503:0.15", "retry_after": 0, "seed": 12}
FAILING_POSTS = {"http_errors": "503:1", "retry_after": 0}  # httpbin answering 503 to every request


def _spec(server) -> dict:
    return requests.get(f"{server.url}/api/openapi.json", timeout=5).json()


def _close(client) -> None:
    """Close the student's client (its session), whatever state it is in: only tidying up."""
    try:
        client.close()
    except Exception:  # noqa: BLE001 - close() not written, or written differently
        session = getattr(client, "session", None)
        if session is not None:
            session.close()


@checker("limits_from_openapi")
def check_limits(limits_from_openapi, random=None):
    """``limits_from_openapi(spec, path="/api/random/int")`` gives ``{name: (minimum, maximum)}``
    for each query parameter of ``GET path`` that has both, read from the spec (not copied by hand).
    """
    with sandbox_server("random", random) as server:
        spec = _spec(server)
    bound = 10**15
    wanted = {"n": (1, 1000), "min": (-bound, bound), "max": (-bound, bound), "seed": (0, bound)}
    hint = 'spec["paths"][path]["get"]["parameters"]: each has a "name" and a "schema" with "minimum" and "maximum"'
    got = call(limits_from_openapi, spec, hint=hint)
    expect(isinstance(got, dict), "a dict {name: (minimum, maximum)}", short(got), hint)
    got = {name: tuple(value) if isinstance(value, list) else value for name, value in got.items()}
    expect_equal(got, wanted, "the limits of GET /api/random/int", hint)
    changed = copy.deepcopy(spec)
    for parameter in changed["paths"]["/api/random/float"]["get"]["parameters"]:
        if parameter["name"] == "n":
            parameter["schema"]["maximum"] = 7
    got = call(limits_from_openapi, changed, "/api/random/float", hint=hint)
    expect(isinstance(got, dict) and tuple(got.get("n", ())) == (1, 7),
           "n: (1, 7) for /api/random/float in a spec where its maximum is 7",
           f"n: {short(got.get('n') if isinstance(got, dict) else got)}",
           "read the numbers from the spec given, for the path given: the contract may change")
    return "the limits of n, min, max and seed, read from the spec for the path asked"


@checker("RandomClient")
def check_random_client(RandomClient, ApiError, random=None):
    """``RandomClient(base_url).ints(n, min, max, seed=None)`` returns the list of values.

    Invalid arguments (n out of its limits or not an int, min or max out of
    theirs, min > max) raise ValueError *without any request*; an error answered
    by the server raises ``ApiError`` with its ``status`` and ``message``.
    """
    require(ApiError, "ApiError")
    with sandbox_server("random", random) as server, FlakyProxy(server.url, only=API) as proxy:
        client = call(RandomClient, proxy.url, hint="the constructor is given: has step 1 been done?")
        try:
            values = call(client.ints, 5, 1, 6, hint="self.session.get(..., params=..., timeout=self.timeout)")
            expect(isinstance(values, list) and len(values) == 5 and all(isinstance(v, int) and 1 <= v <= 6 for v in values),
                   "ints(5, 1, 6): a list of 5 ints between 1 and 6", short(values),
                   'return the "values" of the JSON answer')
            seeded = requests.get(f"{server.url}/api/random/int", params={"n": 5, "min": 1, "max": 6, "seed": 42}, timeout=5)
            expect_equal(call(client.ints, 5, 1, 6, seed=42), seeded.json()["values"], "ints(5, 1, 6, seed=42)",
                         "pass the seed to the server (requests leaves out a parameter that is None)")
            inclusive = ("the limits are inclusive, low <= value <= high, and min may equal max: "
                         "ValueError only for what is outside them, or for min > max")
            expect_equal(call(client.ints, 1, 6, 6, hint=inclusive, expected="ints(1, 6, 6): n at its minimum, min == max"),
                         [6], "ints(1, 6, 6)", inclusive)
            bound = 10**15
            edge = call(client.ints, 1000, -bound, bound, hint=inclusive,
                        expected="ints(1000, -10**15, 10**15): n, min and max at their limits")
            expect(isinstance(edge, list) and len(edge) == 1000, "ints(1000, -10**15, 10**15): a list of 1000 values",
                   short(edge), inclusive)
            limits = "compare with low, high = self.limits[name], before any request"
            invalid = [((0, 0, 100), "n=0", limits), ((1001, 0, 100), "n=1001", limits),
                       ((2.5, 0, 100), "n=2.5", "n must be an int: isinstance(n, int) is False for 2.5"),
                       ((3, 10, 1), "min=10 > max=1", "min must not be greater than max"),
                       ((2, -10**16, 0), "min=-10**16", limits), ((2, 0, 10**16), "max=10**16", limits)]
            for args, label, hint in invalid:
                before = len(proxy.log)
                call_raising(ValueError, client.ints, *args, expected=f"ValueError for {label}", hint=hint)
                sent = [entry for entry in proxy.log[before:] if entry[1].startswith(API)]
                expect(not sent, f"no request to the server for {label}", f"the server received {sent[0][0]} {sent[0][1]}" if sent else "",
                       "validate first: raise ValueError before calling self.session.get")
            proxy.fail(1, status=400, message="refused by the check")
            error = call_raising(ApiError, client.ints, 3, 1, 6, hint="if not response.ok: raise ApiError(response.status_code, error_message(response))",
                                 expected="ApiError when the server answers 400")
            expect_equal(getattr(error, "status", None), 400, "ApiError.status", "ApiError(response.status_code, error_message(response))")
            expect(getattr(error, "message", None) == "refused by the check", "ApiError.message: the server's message, 'refused by the check'",
                   short(getattr(error, "message", None)), 'error_message(response) reads it from the JSON answer: its "message"')
        finally:
            _close(client)
    return "values, seed, calls at the limits, 6 invalid calls refused before sending, a 400 answer raised as ApiError"


@checker("PatientRandomClient")
def check_retries(PatientRandomClient, ApiError, random=None):
    """``PatientRandomClient(base_url, retries=3)`` retries GET requests answered 429, 502, 503 or 504,
    at most ``retries`` times, then raises ``ApiError`` with the last status. A 400 is never retried.
    """
    require(ApiError, "ApiError")
    mount_hint = ('mount an HTTPAdapter(max_retries=Retry(total=retries, backoff_factor=0.05, '
                  'status_forcelist=[429, 502, 503, 504], raise_on_status=False)) on self.session')
    with sandbox_server("random", random) as server, FlakyProxy(server.url, only=API) as proxy:
        scenarios = [
            # retries, failures answered first, outcome, requests the proxy should see
            (3, [503, 503], "values", 3),
            (3, [429], "values", 2),
            (3, [502, 504], "values", 3),
            (2, [503] * 5, 503, 3),
            (3, [400], 400, 1),
            (0, [503], 503, 1),
        ]
        for retries, failures, outcome, tries in scenarios:
            client = call(PatientRandomClient, proxy.url, retries=retries, hint=mount_hint)
            try:
                proxy.reset()
                for status in failures:
                    proxy.fail(1, status=status)
                answers = f"{failures[0]} {len(failures)} times" if len(failures) > 2 else " then ".join(map(str, failures))
                story = f"retries={retries}, the server answering {answers} first"
                problem = None
                try:
                    if outcome == "values":
                        values = call(client.ints, 3, 1, 6, limit=20, hint=mount_hint,
                                      expected=f"ints(3, 1, 6) to succeed with {story}")
                        expect(isinstance(values, list) and len(values) == 3, f"3 values with {story}", short(values),
                               "ints() returns the values, as in RandomClient")
                    else:
                        error = call_raising(ApiError, client.ints, 3, 1, 6, limit=20, expected=f"ApiError {outcome} with {story}",
                                             hint="raise_on_status=False: once the retries are used up, requests returns the "
                                                  "last answer, and ints() raises ApiError as before (not RetryError)")
                        expect_equal(getattr(error, "status", None), outcome, f"ApiError.status with {story}",
                                     "the status of the last answer: raise_on_status=False returns it to ints()")
                except Failure as failure:
                    problem = failure  # but a wrong number of tries explains more: checked first
                seen = proxy.count(API)
                if seen < tries:
                    hint = f"too few tries: {mount_hint}"
                elif outcome == 400:
                    hint = "a 400 means the request is wrong: sending it again cannot help; keep 400 out of status_forcelist"
                else:
                    hint = "at most `retries` retries: Retry(total=retries)"
                expect(seen == tries, f"{plural(tries, 'request')} to the server with {story}", f"{seen}", hint)
                if problem:
                    raise problem
            finally:
                _close(client)
    return "retried after 503, 429, 502 and 504, gave up after the retries with ApiError, never retried a 400"


def _get_outcomes(session, url: str, count: int = 10) -> list:
    """The status of each of ``count`` GETs, or the name of the exception that ended it."""
    outcomes = []
    for _ in range(count):
        try:
            outcomes.append(session.get(url, timeout=5).status_code)
        except requests.RequestException as error:
            outcomes.append(type(error).__name__)
    return outcomes


@checker("patient_session")
def check_patient_session(patient_session):
    """``patient_session(retries=3)`` is a ``requests.Session`` that retries what is safe to retry:
    ten GETs to a server that resets or answers 429/503 now and then all succeed, where a session
    without retries fails; a POST answered 503 is sent once, never again.
    """
    idea = ("a Session whose requests are retried, as in step 3: after a 429, a 503 or a lost connection, "
            "for the idempotent methods")
    with sandbox_server("random", faults=FAULTY_GETS) as faulty:
        url = f"{faulty.url}{API}int?n=3&min=1&max=6"
        with requests.Session() as plain:  # the proof that the server really fails: no retries, no luck
            without = _get_outcomes(plain, url)
        failed = [outcome for outcome in without if outcome != 200]
        if not failed:
            raise RuntimeError(f"the faulty server did not fail a session without retries: {without}")
        session = call(patient_session, 3, hint=idea)
        expect(isinstance(session, requests.Session), "patient_session(3) to return a requests.Session",
               short(session), "make a requests.Session, give it retries, and return it")
        try:
            outcomes = call(_get_outcomes, session, url, limit=30, expected="10 GETs to end within 30 s",
                            hint="a small backoff_factor: each retry waits a little, not seconds")
        finally:
            session.close()
        story = (f"10 GETs to a server that resets or answers 429 or 503 now and then "
                 f"(a session without retries got {', '.join(map(str, failed))})")
        expect(outcomes == [200] * 10, f"{story}: all answered 200", ", ".join(map(str, outcomes)),
               "a Session does not retry on its own: give it step 3's retries (more than 0), which also "
               "cover a lost connection")
    with sandbox_server("httpbin", faults=FAILING_POSTS) as failing:
        session = call(patient_session, 3, hint=idea)
        try:
            # Its answer (a 503, or RetryError once retries are used up) matters less than the count below.
            finished, _, _ = run_with_limit(session.post, (f"{failing.url}/post",),
                                            {"json": {"order": "1 pizza"}, "timeout": 5}, limit=20)
            expect(finished, "a POST answered 503 to end within 20 s", "it was still running after 20 s",
                   "a small backoff_factor: each retry waits a little, not seconds")
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{failing.url}/get?end-of-check", timeout=5)  # logged after every POST
        finally:
            session.close()
        failing.wait_for("GET /get?end-of-check")
        sent = failing.log.count("fault: 503 to POST /post")
        expect(sent == 1, "a POST answered 503 to be sent once (was it carried out? the client cannot know)",
               f"the server received it {plural(sent, 'time')}",
               "a POST is not idempotent: repeated, it may order twice. Retry only the methods that "
               "are safe to repeat, the default of Retry's allowed_methods")
    return (f"10 GETs answered 200 despite resets, 429s and 503s (a session without retries failed "
            f"{len(failed)} of them); a POST answered 503 sent once, not retried")
