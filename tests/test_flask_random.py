"""The random API rewritten with Flask (notebooks/apps/07-random_flask.py, chapter 07)
answers like the http.server version (sandbox/random_api.py).

Both run as servers and get the same requests: status codes and JSON must be equal, errors
included, and with a seed the numbers too. The Flask app is also run in-process with its
test client, against the http.server version's own functions, on generated queries.
The differences that the app's docstring lists are checked too, so that none goes unnoticed.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import launch, random_api

APP_FILE = Path(__file__).resolve().parent.parent / "notebooks" / "apps" / "07-random_flask.py"
INT, FLOAT = "/api/random/int", "/api/random/float"

SEEDED = [  # valid requests whose answer is fixed by the seed
    (INT, {"seed": 0}),
    (INT, {"n": 10, "seed": 42}),
    (INT, {"n": 5, "min": 1, "max": 6, "seed": 7}),
    (INT, {"n": 1000, "min": -2, "max": 2, "seed": 3}),
    (INT, {"n": 3, "min": -10**15, "max": 10**15, "seed": 10**15}),
    (INT, {"n": "+4", "min": " 1", "max": "1_000", "seed": "5"}),  # what int() accepts
    (INT, {"n": 2, "min": 9, "max": 9, "seed": 1}),
    (FLOAT, {"seed": 0}),
    (FLOAT, {"n": 4, "min": -1.5, "max": 2.5, "seed": 99}),
    (FLOAT, {"n": 3, "min": 7, "max": 7, "seed": 2}),
    (FLOAT, {"n": 2, "min": "-1e15", "max": "1e15", "seed": 8}),
]
UNSEEDED = [(INT, {}), (INT, {"n": 20, "min": -5, "max": 5}), (FLOAT, {}), (FLOAT, {"n": 7, "max": 0.5})]
INVALID = [  # one mistake each: 400 with the same message from both
    (INT, {"n": 0}), (INT, {"n": 1001}), (INT, {"n": "abc"}), (INT, {"n": "2.5"}), (INT, {"n": ""}),
    (INT, {"min": "x"}), (INT, {"max": "1.5"}), (INT, {"min": 5, "max": 1}), (INT, {"max": 10**16}),
    (INT, {"min": "9" * 5000}), (FLOAT, {"min": "abc"}), (FLOAT, {"min": "nan"}), (FLOAT, {"max": "inf"}),
    (FLOAT, {"max": "1e400"}), (FLOAT, {"min": 1, "max": 0.5}), (FLOAT, {"n": -1}), (INT, {"seed": "x"}),
    (INT, {"seed": "1.5"}), (FLOAT, {"seed": -1}), (INT, {"count": 3}), (INT, {"n": [1, 2]}),
    (FLOAT, {"seed": [1, 1]}), (INT, {"N": 3}),
]
NOT_FOUND = ["/nope", "/api/random", "/api/random/int/", "/API/random/int", "/index.html", "/api/random/dice",
             "/static/07-style.css"]  # a file in notebooks/apps/static/, for another app
FIXED = ["/", "/api/openapi.json"]


def relative(path: Path) -> str:
    """`path` relative to the working directory: `--app C:\\...` would read as FILE:NAME on Windows."""
    return os.path.relpath(path)


@pytest.fixture(scope="module")
def servers():
    """(http.server version, Flask version), both running."""
    with launch("random", replace=False) as std, launch("app", app=relative(APP_FILE), replace=False) as flask:
        yield std, flask


@pytest.fixture(scope="module")
def flask_app():
    spec = importlib.util.spec_from_file_location("random_flask_07", APP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def both(servers, method: str, path: str, params: dict | None = None) -> list[requests.Response]:
    return [requests.request(method, srv.url + path, params=params, timeout=10) for srv in servers]


def status_of(server, target: str) -> int:
    """The status for a GET of `target` sent as it is (requests would turn %74 into t)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", target)
        return conn.getresponse().status
    finally:
        conn.close()


def answer(response) -> tuple[int, object]:
    """(status, parsed JSON) of a requests or a test-client response."""
    if isinstance(response, requests.Response):
        return response.status_code, response.json()
    return response.status_code, response.get_json()


@pytest.mark.parametrize("path, params", SEEDED + INVALID)
def test_same_status_and_json(servers, path, params):
    std, flask = both(servers, "GET", path, params)
    assert answer(std) == answer(flask)
    if std.status_code == 200:
        assert flask.json()["values"] and list(flask.json()) == ["type", "n", "min", "max", "seed", "values"]
    else:
        assert flask.json()["error"] == "Bad Request" and flask.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("path, params", UNSEEDED)
def test_same_answer_but_the_values_without_a_seed(servers, path, params):
    std, flask = (response.json() for response in both(servers, "GET", path, params))
    values = flask.pop("values"), std.pop("values")
    assert flask == std and flask["seed"] is None
    assert all(len(v) == flask["n"] and all(flask["min"] <= x <= flask["max"] for x in v) for v in values)
    assert {type(x) for v in values for x in v} == {int if path == INT else float}


@pytest.mark.parametrize("path", FIXED)
def test_index_and_openapi_are_the_same(servers, path):
    std, flask = both(servers, "GET", path)
    assert answer(std) == answer(flask) and std.status_code == 200


@pytest.mark.parametrize("path", NOT_FOUND)
def test_unknown_paths_are_the_same_404(servers, path):
    std, flask = both(servers, "GET", path)
    assert answer(std) == answer(flask)
    assert flask.status_code == 404 and path in flask.json()["message"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", [INT, FLOAT, *FIXED])
def test_other_verbs_are_the_same_405(servers, method, path):
    std, flask = both(servers, method, path)
    assert answer(std) == answer(flask)
    assert flask.status_code == 405 and method in flask.json()["message"]
    assert std.headers["Allow"] == "GET, HEAD" and flask.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_head_has_no_body_in_both(servers):
    for response in both(servers, "HEAD", INT, {"seed": 1}):
        assert response.status_code == 200 and response.content == b""
        assert int(response.headers["Content-Length"]) > 0


def test_the_test_client_answers_like_the_server(servers, flask_app):
    client = flask_app.test_client()
    for path, params in SEEDED + INVALID + [(p, {}) for p in NOT_FOUND + FIXED]:
        served = requests.get(servers[1].url + path, params=params, timeout=10)
        assert answer(client.get(path, query_string=params)) == answer(served)


def test_the_documented_differences(servers):
    """Where the two versions differ on purpose (see the docstring of 07-random_flask.py)."""
    std, flask = both(servers, "POST", "/nowhere")  # Flask routes first: 404; do_POST() says 405
    assert (std.status_code, flask.status_code) == (405, 404)
    std, flask = both(servers, "OPTIONS", INT)      # Flask answers OPTIONS by itself
    assert (std.status_code, flask.status_code) == (405, 200)
    std, flask = (requests.get(srv.url + INT + "?n=1&min=2&min=3&n=4", timeout=10) for srv in servers)
    assert std.status_code == flask.status_code == 400  # two mistakes: either may be named first
    assert "'min' is given more than once" in std.json()["message"]
    assert "'n' is given more than once" in flask.json()["message"]
    std, flask = (requests.get(srv.url + INT + "?n=%FF", timeout=10) for srv in servers)
    assert std.json()["message"] == "n must be an integer, got '\ufffd'"  # invalid UTF-8
    assert flask.json()["message"] == "n must be an integer, got '%FF'"
    assert [status_of(srv, "/api/random/in%74") for srv in servers] == [404, 200]  # Flask decodes first
    std, flask = both(servers, "GET", INT, {"seed": 1})
    assert std.json() == flask.json() and std.content != flask.content  # same JSON, other spacing


# In-process, on generated queries: the Flask app against random_api.random_numbers().

NAMES = st.sampled_from(["n", "min", "max", "seed", "count", "N", ""])
VALUES = st.one_of(
    st.integers(-10**16, 10**16).map(str),
    st.floats().map(repr),
    st.sampled_from(["", "abc", "1.5", " 3", "+4", "1_000", "nan", "-inf", "1e3", "٣", "9" * 5000]),
    st.text(max_size=6),
)


def stdlib_answer(kind: type, query: str) -> tuple[int, dict]:
    try:
        return 200, random_api.random_numbers(kind, query)
    except random_api.ApiError as error:
        return error.status, {"status": error.status, "error": HTTPStatus(error.status).phrase, "message": str(error)}


@settings(deadline=None, max_examples=300)
@given(path=st.sampled_from([INT, FLOAT]), pairs=st.lists(st.tuples(NAMES, VALUES), max_size=4, unique_by=lambda p: p[0]))
def test_generated_queries_without_repeated_names(flask_app, path, pairs):
    query = urlencode(pairs)
    status, body = answer(flask_app.test_client().get(f"{path}?{query}"))
    expected_status, expected = stdlib_answer(int if path == INT else float, query)
    assert status == expected_status
    if status == 200 and body["seed"] is None:  # values drawn at random: compare the rest
        assert len(body.pop("values")) == len(expected.pop("values"))
    assert body == expected
