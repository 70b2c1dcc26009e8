"""The random API (http.server): values, bounds, seeds, every error as JSON, many clients."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from openapi_spec_validator import validate

from sandbox import launch

SERVED_PATHS = {"/", "/api/random/int", "/api/random/float", "/api/openapi.json"}


@pytest.fixture(scope="module")
def api():
    with launch("random", replace=False, idle_timeout=1) as srv:
        yield srv


def get(api, path: str, **params) -> requests.Response:
    return requests.get(api.url + path, params=params, timeout=10)


def assert_json_error(response: requests.Response, status: int, reason: str, *words: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body == {"status": status, "error": reason, "message": body["message"]}
    for word in words:
        assert word in body["message"]


def raw_request(address, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(data)
        return b"".join(iter(lambda: conn.recv(65536), b""))


def wait_for_log(server, text: str, within: float = 3.0) -> bool:
    """True once ``text`` is in the server's log (it arrives through a pipe, a little later)."""
    deadline = time.monotonic() + within
    while text not in server.log and time.monotonic() < deadline:
        time.sleep(0.05)
    return text in server.log


def test_index_lists_the_endpoints(api):
    response = get(api, "/")
    assert response.status_code == 200
    assert set(response.json()["endpoints"]) == SERVED_PATHS
    assert response.json()["docs"] == "/api/openapi.json"


def test_int_defaults(api):
    response = get(api, "/api/random/int")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(response.headers["Content-Length"]) == len(response.content)
    body = response.json()
    assert {k: body[k] for k in ("type", "n", "min", "max", "seed")} == {
        "type": "int", "n": 1, "min": 0, "max": 100, "seed": None}
    assert len(body["values"]) == 1 and type(body["values"][0]) is int and 0 <= body["values"][0] <= 100


def test_float_defaults(api):
    body = get(api, "/api/random/float").json()
    assert {k: body[k] for k in ("type", "n", "min", "max", "seed")} == {
        "type": "float", "n": 1, "min": 0.0, "max": 1.0, "seed": None}
    assert type(body["values"][0]) is float and 0.0 <= body["values"][0] <= 1.0


def test_int_bounds_are_inclusive(api):
    values = get(api, "/api/random/int", n=1000, min=-2, max=2).json()["values"]
    assert len(values) == 1000
    assert set(values) == {-2, -1, 0, 1, 2}  # both ends reached, nothing outside


def test_float_bounds(api):
    body = get(api, "/api/random/float", n=1000, min=-1.5, max=2.5).json()
    assert body["n"] == 1000 and body["min"] == -1.5 and body["max"] == 2.5
    assert all(-1.5 <= v <= 2.5 for v in body["values"])
    assert min(body["values"]) < -1 and max(body["values"]) > 2  # really spread over the range
    assert get(api, "/api/random/float", n=3, min=7, max=7).json()["values"] == [7.0, 7.0, 7.0]


def test_n_limits_and_large_bounds(api):
    assert len(get(api, "/api/random/int", n=1).json()["values"]) == 1
    assert len(get(api, "/api/random/int", n=1000).json()["values"]) == 1000
    body = get(api, "/api/random/int", min=-10**15, max=10**15, n=5).json()
    assert all(-10**15 <= v <= 10**15 for v in body["values"])


def test_same_seed_same_values_other_seed_other_values(api):
    first = get(api, "/api/random/int", n=20, seed=42).json()
    again = get(api, "/api/random/int", n=20, seed=42).json()
    other = get(api, "/api/random/int", n=20, seed=43).json()
    assert first["seed"] == 42
    assert first["values"] == again["values"]
    assert first["values"] != other["values"]
    floats = [get(api, "/api/random/float", n=5, seed=0).json()["values"] for _ in range(2)]
    assert floats[0] == floats[1]
    unseeded = [get(api, "/api/random/int", n=20, max=10**6).json()["values"] for _ in range(2)]
    assert unseeded[0] != unseeded[1]


def test_seeds_do_not_leak_between_requests(api):
    # With the global generator, an unseeded request would continue the
    # sequence of the seeded request before it.
    continuation = get(api, "/api/random/int", n=40, seed=1, max=10**6).json()["values"][20:]
    get(api, "/api/random/int", n=20, seed=1, max=10**6)
    assert get(api, "/api/random/int", n=20, max=10**6).json()["values"] != continuation
    # And it would interleave the draws of parallel requests.
    expected = get(api, "/api/random/int", n=200, seed=7, max=10**6).json()["values"]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: get(api, "/api/random/int", n=200, seed=7, max=10**6).json()["values"], range(20)))
    assert all(values == expected for values in results)


@pytest.mark.parametrize(
    "path, params, words",
    [
        ("/api/random/int", {"n": 0}, ["n must be between 1 and 1_000", "'0'"]),
        ("/api/random/int", {"n": 1001}, ["n must be between 1 and 1_000"]),
        ("/api/random/int", {"n": "abc"}, ["n must be an integer", "'abc'"]),
        ("/api/random/int", {"n": "2.5"}, ["n must be an integer"]),
        ("/api/random/int", {"n": ""}, ["n must be an integer"]),
        ("/api/random/int", {"min": "x"}, ["min must be an integer"]),
        ("/api/random/int", {"max": "1.5"}, ["max must be an integer"]),
        ("/api/random/int", {"min": 5, "max": 1}, ["min (5) must not be greater than max (1)"]),
        ("/api/random/int", {"max": 10**16}, ["max must be between"]),
        ("/api/random/int", {"min": "9" * 5000}, ["min must be"]),
        ("/api/random/float", {"min": "abc"}, ["min must be a number", "'abc'"]),
        ("/api/random/float", {"min": "nan"}, ["min must be between"]),
        ("/api/random/float", {"max": "inf"}, ["max must be between"]),
        ("/api/random/float", {"max": "1e400"}, ["max must be between"]),
        ("/api/random/float", {"min": 1, "max": 0.5}, ["min (1.0) must not be greater than max (0.5)"]),
        ("/api/random/float", {"n": -1}, ["n must be between"]),
        ("/api/random/int", {"seed": "x"}, ["seed must be an integer", "'x'"]),
        ("/api/random/int", {"seed": "1.5"}, ["seed must be an integer"]),
        ("/api/random/float", {"seed": -1}, ["seed must be between 0 and"]),
        ("/api/random/int", {"count": 3}, ["unknown query parameter 'count'", "n, min, max, seed"]),
        ("/api/random/int", {"n": [1, 2]}, ["'n' is given more than once"]),
    ],
)
def test_bad_query_is_a_json_400_and_the_server_goes_on(api, path, params, words):
    assert_json_error(get(api, path, **params), 400, "Bad Request", *words)
    assert get(api, path, n=2).status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/api/random", "/api/random/int/", "/API/random/int", "/index.html"])
def test_unknown_path_is_a_json_404(api, path):
    assert_json_error(get(api, path), 404, "Not Found", path, "GET /")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
def test_other_methods_are_a_json_405_with_allow(api, method):
    response = requests.request(method, api.url + "/api/random/int", json={"n": 3}, timeout=10)
    assert_json_error(response, 405, "Method Not Allowed", method, "GET")
    assert response.headers["Allow"] == "GET, HEAD"
    assert get(api, "/api/random/int").status_code == 200


def test_head_has_headers_but_no_body(api):
    response = requests.head(api.url + "/api/random/int", timeout=10)
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["Content-Length"]) > 0


@pytest.mark.parametrize(
    "request_line, status",
    [(b"GARBAGE", 400), (b"GET / HTTP/x", 400), (b"GET / HTTP/1.1 extra", 400), (b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414)],
)
def test_malformed_request_line_gets_a_json_error(api, request_line, status):
    reply = raw_request(api.address, request_line + b"\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"Content-Type: application/json; charset=utf-8" in head
    assert json.loads(body)["status"] == status
    assert get(api, "/api/random/int").status_code == 200


def test_several_requests_on_one_connection(api):
    reply = raw_request(api.address, b"GET /api/random/int HTTP/1.1\r\nHost: x\r\n\r\n"
                                     b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200 OK") == 2
    with requests.Session() as session:
        for _ in range(3):
            assert session.get(api.url + "/api/random/int", timeout=10).status_code == 200


def test_openapi_document_is_valid_and_lists_exactly_the_served_paths(api):
    response = get(api, "/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)  # raises if the document is not valid OpenAPI
    assert document["openapi"].startswith("3.0")
    assert set(document["paths"]) == SERVED_PATHS
    for path in document["paths"]:
        assert get(api, path).status_code == 200
    int_params = {p["name"] for p in document["paths"]["/api/random/int"]["get"]["parameters"]}
    assert int_params == {"n", "min", "max", "seed"}
    error = document["components"]["responses"]["Error"]["content"]["application/json"]["schema"]
    assert set(error["required"]) == {"status", "error", "message"}


def test_fifty_simultaneous_clients(api):
    barrier = threading.Barrier(50)

    def client(i: int) -> int:
        barrier.wait(10)  # all 50 requests leave at the same time
        return get(api, "/api/random/int", n=10, seed=i).status_code

    with ThreadPoolExecutor(50) as pool:
        assert list(pool.map(client, range(50))) == [200] * 50


def test_silent_client_blocks_nobody_and_is_closed(api):
    with socket.create_connection(api.address, timeout=5) as silent:
        started = time.monotonic()
        assert get(api, "/api/random/int").status_code == 200
        assert time.monotonic() - started < 0.5
        assert silent.recv(1) == b""  # closed by the server after its 1 s idle timeout
    assert wait_for_log(api, "Request timed out")


def test_one_log_line_per_request(api):
    get(api, "/api/random/int", n=3, seed=99)
    assert wait_for_log(api, " GET /api/random/int?n=3&seed=99 200\n")
    get(api, "/nope")
    assert wait_for_log(api, " GET /nope 404\n")


@pytest.mark.parametrize("request_bytes", [
    b"GET /api/random/float?n=1000 HTTP/1.1\r\nHost: x\r\n\r\n",  # the biggest answer: ~20 kB
    b"GET /api/random/int HTTP/1.1\r\nHost: x\r\n",  # the headers never end: reset while reading them
], ids=["while-answering", "while-reading"])
def test_a_client_that_resets_gets_one_log_line_and_no_traceback(api, request_bytes):
    for _ in range(5):  # the server may, rarely, finish writing before the reset arrives: try again
        with socket.create_connection(api.address, timeout=5) as conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends a reset
            client = f"127.0.0.1:{conn.getsockname()[1]}"
            conn.sendall(request_bytes)
        if wait_for_log(api, f"{client} connection lost\n", within=2):
            break
    else:
        pytest.fail("no reset reached the server before its answer, in 5 tries")
    assert api.log.count(f"{client} connection lost") == 1
    assert "Traceback" not in api.log
    assert get(api, "/api/random/int").status_code == 200  # and it goes on serving
