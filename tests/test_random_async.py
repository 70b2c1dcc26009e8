"""The random API in FastAPI (sandbox/random_async.py, chapter 12) answers like the Flask
version (notebooks/apps/07-random_flask.py) and the http.server one (sandbox/random_api.py).

The three run as servers and get the same requests: status codes and JSON must be equal,
errors included, and with a seed the numbers too. The differences that the module's
docstring lists are checked too; then what only this server has: its generated OpenAPI,
Swagger UI from local files, bad input, --help, and --app for an ASGI application of one's own.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import validate

from sandbox import launch
from test_flask_random import FIXED, FLOAT, INT, INVALID, NOT_FOUND, SEEDED, UNSEEDED, answer, status_of

ROOT = Path(__file__).resolve().parent.parent
FLASK_APP = ROOT / "notebooks" / "apps" / "07-random_flask.py"
HELLO_ASGI = ROOT / "notebooks" / "apps" / "12-hello_asgi.py"


@pytest.fixture(scope="module")
def servers():
    """(http.server version, Flask version, FastAPI version), all three running."""
    with launch("random", replace=False) as std, \
            launch("app", app=os.path.relpath(FLASK_APP), replace=False) as flask, \
            launch("random-async", replace=False) as fast:
        yield std, flask, fast


def three(servers, method: str, path: str, params: dict | None = None) -> list[requests.Response]:
    return [requests.request(method, srv.url + path, params=params, timeout=10) for srv in servers]


@pytest.mark.parametrize("path, params", SEEDED + INVALID)
def test_same_status_and_json_as_flask_and_http_server(servers, path, params):
    std, flask, fast = three(servers, "GET", path, params)
    assert answer(fast) == answer(flask) == answer(std)
    assert fast.headers["Content-Type"] == "application/json"
    if fast.status_code == 200:
        assert list(fast.json()) == ["type", "n", "min", "max", "seed", "values"]
        assert [type(x) for x in fast.json()["values"]] == [type(x) for x in flask.json()["values"]]


@pytest.mark.parametrize("path, params", UNSEEDED)
def test_same_answer_but_the_values_without_a_seed(servers, path, params):
    flask, fast = (response.json() for response in three(servers[1:], "GET", path, params))
    values = fast.pop("values")
    flask.pop("values")
    assert fast == flask and fast["seed"] is None and len(values) == fast["n"]
    assert all(fast["min"] <= x <= fast["max"] for x in values)
    assert {type(x) for x in values} == {int if path == INT else float}


@pytest.mark.parametrize("path", FIXED)
def test_index_and_openapi_are_the_same(servers, path):
    std, flask, fast = three(servers, "GET", path)
    assert answer(fast) == answer(flask) == answer(std) and fast.status_code == 200


@pytest.mark.parametrize("path", NOT_FOUND)
def test_unknown_paths_are_the_same_404(servers, path):
    std, flask, fast = three(servers, "GET", path)
    assert answer(fast) == answer(flask) == answer(std)
    assert fast.status_code == 404 and path in fast.json()["message"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", [INT, FLOAT, *FIXED])
def test_other_verbs_are_the_same_405(servers, method, path):
    std, flask, fast = three(servers, method, path)
    assert answer(fast) == answer(flask) == answer(std)
    assert fast.status_code == 405 and fast.headers["Allow"] == std.headers["Allow"] == "GET, HEAD"


def test_head_has_the_headers_of_get_and_no_body(servers):
    fast = servers[2]
    head = requests.head(fast.url + INT, params={"seed": 1}, timeout=10)
    got = requests.get(fast.url + INT, params={"seed": 1}, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"] == str(len(got.content))


def test_the_documented_differences(servers):
    """Where it differs from one version or the other (see the docstring of random_async.py)."""
    std, flask, fast = three(servers, "POST", "/nowhere")  # routed first, as in Flask
    assert (std.status_code, flask.status_code, fast.status_code) == (405, 404, 404)
    std, flask, fast = three(servers, "OPTIONS", INT)      # no automatic OPTIONS, as in http.server
    assert (std.status_code, flask.status_code, fast.status_code) == (405, 200, 405)
    std, flask, fast = (requests.get(srv.url + INT + "?n=1&min=2&min=3&n=4", timeout=10) for srv in servers)
    assert fast.json() == flask.json() and "'n' is given more than once" in fast.json()["message"]
    std, flask, fast = (requests.get(srv.url + INT + "?n=%FF", timeout=10) for srv in servers)
    assert fast.json() == std.json() != flask.json()        # invalid UTF-8 read as U+FFFD
    assert [status_of(srv, "/api/random/in%74") for srv in servers] == [404, 200, 200]
    std, flask, fast = three(servers, "GET", "/openapi.json")
    assert (std.status_code, flask.status_code, fast.status_code) == (404, 404, 200)


def test_the_generated_openapi_is_valid_3_0_and_describes_the_answer(servers):
    document = requests.get(servers[2].url + "/openapi.json", timeout=10).json()
    validate(document)  # OpenAPI 3.0: what the Swagger UI of swagger-ui-bundle reads
    assert document["openapi"].startswith("3.0.")
    assert set(document["paths"]) == {"/", INT, FLOAT} and all(list(p) == ["get"] for p in document["paths"].values())
    parameters = document["paths"][INT]["get"]["parameters"]
    assert [p["name"] for p in parameters] == ["n", "min", "max", "seed"] and {p["in"] for p in parameters} == {"query"}
    numbers = document["components"]["schemas"]["Numbers"]
    assert numbers["required"] == ["type", "n", "min", "max", "seed", "values"]
    assert numbers["properties"]["seed"]["nullable"] is True


def test_swagger_ui_loads_nothing_from_elsewhere(servers):
    fast = servers[2]
    page = requests.get(fast.url + "/docs", timeout=10)
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "cdn" not in page.text and "https://" not in page.text and "http://" not in page.text
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]:
        assert f"/docs/static/{asset}" in page.text
        assert requests.get(f"{fast.url}/docs/static/{asset}", timeout=10).status_code == 200
    outside = requests.get(fast.url + "/docs/static/../random_api.py", timeout=10)
    assert outside.status_code == 404


@pytest.mark.parametrize("data", [
    b"garbage\r\n\r\n",
    b"GET /api/random/int HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(32) + b"\r\n\r\n",  # a TLS hello on plain HTTP
])
def test_malformed_requests_get_a_400_and_the_server_keeps_serving(servers, data):
    fast = servers[2]
    with socket.create_connection(fast.address, timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert requests.get(fast.url + INT, params={"seed": 1}, timeout=10).status_code == 200


def test_many_clients_at_once(servers):
    from concurrent.futures import ThreadPoolExecutor

    fast = servers[2]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: requests.get(fast.url + INT, params={"seed": i}, timeout=10), range(60)))
    assert {a.status_code for a in answers} == {200}
    assert [a.json()["seed"] for a in answers] == list(range(60))


def test_help_lists_the_limits(capsys):
    from sandbox import random_async

    with pytest.raises(SystemExit):
        random_async.main(["--help"])
    out = capsys.readouterr().out
    for words in ["--max-connections", "--app", "1 to 1000 values", "one event loop", "on a network"]:
        assert words in out


def test_it_serves_an_asgi_application_of_ones_own():
    with launch("random-async", app=os.path.relpath(HELLO_ASGI), replace=False) as srv:
        answer = requests.get(srv.url + "/from/asgi", timeout=10)
        assert answer.status_code == 200 and answer.text == "Hello from /from/asgi\n"
        assert srv.wait_for("GET /from/asgi 200")
    assert "random-async stopped" in srv.log


def test_no_nagle_delay_between_requests(servers):
    """Headers and body leave in two sends: with Nagle's algorithm, ~40-50 ms per request."""
    import time

    durations = []
    with requests.Session() as session:
        for _ in range(11):
            begin = time.perf_counter()
            session.get(servers[2].url + INT, timeout=10)
            durations.append(time.perf_counter() - begin)
    assert sorted(durations)[5] < 0.035  # the median; a delayed acknowledgement each: 0.04 s or more


WS_ECHO = '''
async def app(scope, receive, send):  # a WebSocket echo with no limit of its own
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (event := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "bytes": event.get("bytes"), "text": event.get("text")})
'''


def test_a_websocket_message_is_bounded_before_the_application_sees_it(tmp_path):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from sandbox.random_async import WS_MAX_SIZE

    (tmp_path / "ws_echo.py").write_text(WS_ECHO, encoding="utf-8")
    with launch("random-async", app=str(tmp_path / "ws_echo.py"), replace=False) as srv:
        with connect(f"ws://{srv.host}:{srv.port}/", open_timeout=5, max_size=None) as ws:
            ws.send(b"x" * WS_MAX_SIZE)
            assert len(ws.recv(timeout=10)) == WS_MAX_SIZE  # the limit itself: accepted
            ws.send(b"x" * (WS_MAX_SIZE + 1))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # "message too big"
