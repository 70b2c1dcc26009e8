"""Odd input that once made a sandbox server answer 500 (issue 20): now a 400 or a 401 in JSON.

    Authorization: Basic \\xe9       a byte that is not ASCII in Basic credentials
    [[[[[... 50,000 deep           a JSON body nested beyond Python's recursion limit
    {"text": "\\ud800"}              half of a UTF-16 pair: no character at all

Through Flask's test client (fast: a traceback would show in the test), and
over a real socket to a launched server, which must go on serving and log no
traceback. Everything stays on loopback and small.
"""

from __future__ import annotations

import json
import socket

import pytest

from messaging_helpers import assert_error, bearer, register, send
from sandbox import launch
from sandbox.chat.app import create_app as create_chat
from sandbox.httpbin import create_app as create_httpbin

DEEP = b"[" * 50_000  # json.loads() raises RecursionError at about 1,000
NOT_ASCII_BASIC = b"Authorization: Basic \xe9\r\n"  # as it is on the wire: one byte 0xe9


def raw_request(address, method: str, path: str, headers: bytes = b"", body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send exactly these bytes; return the status, the headers and the body of the answer."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n").encode() + headers + b"\r\n"
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    top, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    fields = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), fields, content


def assert_standard_error(status: int, content: bytes, expected: int) -> None:
    assert status == expected, content
    body = json.loads(content)
    assert list(body)[:3] == ["status", "error", "message"] and body["status"] == expected


# --- servers, launched once for this module ----------------------------------------------


@pytest.fixture(scope="module")
def servers():
    """Every sandbox server with an HTTP endpoint that reads a body; messaging twice (1 and 2 processes)."""
    started = {}
    try:
        for key, name, options in [("httpbin", "httpbin", {}), ("chat", "chat", {}), ("contacts3", "contacts3", {}),
                                   ("random", "random", {}), ("messaging", "messaging", {"rate_limit": "off"}),
                                   ("messaging2", "messaging", {"rate_limit": "off", "workers": 2})]:
            started[key] = launch(name, replace=False, **options)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def token(servers):
    """A user of each messaging server, with a message to themselves (user 1, message 1): the PATCH endpoints need both."""
    tokens = {}
    for key in ("messaging", "messaging2"):
        body = json.dumps({"name": "Ada"}).encode()
        status, _, answer = raw_request(servers[key].address, "POST", "/api/v1/users",
                                        b"Content-Type: application/json\r\n", body)
        answer = json.loads(answer)
        assert status == 201 and answer["user"]["id"] == 1
        auth = f"Authorization: Bearer {answer['token']}\r\nContent-Type: application/json\r\n".encode()
        status, _, _ = raw_request(servers[key].address, "POST", "/api/v1/users/1/messages", auth, b'{"text": "hi"}')
        assert status == 201
        tokens[key] = answer["token"]
    return tokens


def assert_still_serving_without_traceback(server) -> None:
    status, _, _ = raw_request(server.address, "GET", "/")
    assert status == 200
    assert "Traceback" not in server.log


# --- item 2: Basic credentials that are not ASCII -------------------------------------------


def test_not_ascii_basic_credentials_are_a_401_in_flask(client):
    httpbin = create_httpbin().test_client()
    response = httpbin.get("/basic-auth/u/p", headers={"Authorization": "Basic \xe9"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Basic realm="httpbin"'
    assert "base64" in response.json["message"]
    response = client.get("/api/v1/me", headers={"Authorization": "Basic \xe9"})
    assert_error(response, 401, "Bearer")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("key, path, challenge", [
    ("httpbin", "/basic-auth/u/p", 'Basic realm="httpbin"'),
    ("messaging", "/api/v1/me", "Bearer"),
    ("messaging2", "/api/v1/me", "Bearer"),  # --workers 2: the same, from either process
])
def test_not_ascii_basic_credentials_are_a_401_over_the_network(servers, key, path, challenge):
    for _ in range(4):  # with two processes, each likely gets one
        status, headers, body = raw_request(servers[key].address, "GET", path, NOT_ASCII_BASIC)
        assert_standard_error(status, body, 401)
        assert headers["www-authenticate"] == challenge
    assert_still_serving_without_traceback(servers[key])


# --- item 4: deep nesting at every JSON endpoint, and lone surrogates ----------------------------


# (server, method, path, status): every endpoint that reads a JSON body. The
# random API never reads a body: a 405 for any method but GET and HEAD.
JSON_ENDPOINTS = [
    ("httpbin", "POST", "/post", 400), ("httpbin", "PUT", "/put", 400), ("httpbin", "PATCH", "/patch", 400),
    ("httpbin", "DELETE", "/delete", 400), ("httpbin", "POST", "/anything", 400),
    ("httpbin", "PUT", "/anything/x", 400),
    ("chat", "POST", "/api/messages", 400),
    ("contacts3", "POST", "/graphql", 400),
    ("random", "POST", "/api/random/int", 405),
    *[(key, method, path, 400) for key in ("messaging", "messaging2") for method, path in [
        ("POST", "/api/v1/users"), ("PATCH", "/api/v1/users/1"),
        ("POST", "/api/v1/users/1/messages"), ("PATCH", "/api/v1/users/1/messages/1")]],
]


@pytest.mark.parametrize("key, method, path, expected", JSON_ENDPOINTS)
def test_deeply_nested_json_is_a_400_at_every_json_endpoint(servers, token, key, method, path, expected):
    headers = b"Content-Type: application/json\r\n"
    if key in token:
        headers += f"Authorization: Bearer {token[key]}\r\n".encode()
    status, _, answer = raw_request(servers[key].address, method, path, headers, DEEP)
    assert_standard_error(status, answer, expected)
    if expected == 400:
        assert "nested" in json.loads(answer)["message"]  # not Python's "maximum recursion depth exceeded"
    assert_still_serving_without_traceback(servers[key])


def test_json_nested_just_below_python_limit_cannot_break_the_answer():
    """httpbin sends the JSON back: 980 levels parsed but could not be written (a 500); over 100 is refused."""
    httpbin = create_httpbin().test_client()
    for depth, status in [(100, 200), (101, 400), (980, 400)]:
        response = httpbin.post("/post", data="[" * depth + "]" * depth, content_type="application/json")
        assert response.status_code == status, response.json
    assert httpbin.post("/post", json={"a": [[{"b": [1]}]]}).json["json"] == {"a": [[{"b": [1]}]]}


def test_lone_surrogate_in_a_chat_message_is_a_400():
    chat = create_chat().test_client()
    for body, words in [('{"name": "a", "text": "\\ud800"}', "lone surrogate"),
                        ('{"name": "a", "text": "x\\udfffy"}', "lone surrogate"),
                        ('{"name": "\\ud800", "text": "x"}', "printable"),
                        ('{"name": "a", "text": ["x"]}', "text must be a string")]:
        response = chat.post("/api/messages", data=body, content_type="application/json")
        assert_error(response, 400, words)
    assert chat.post("/api/messages", json={"name": "a", "text": "\U0001f600 fine"}).status_code == 201


def test_lone_surrogate_over_the_network_to_chat(servers):
    body = b'{"name": "a", "text": "\\ud800"}'
    status, _, answer = raw_request(servers["chat"].address, "POST", "/api/messages",
                                    b"Content-Type: application/json\r\n", body)
    assert_standard_error(status, answer, 400)
    assert_still_serving_without_traceback(servers["chat"])


@pytest.mark.parametrize("field", ["name", "status", "text"])
@pytest.mark.parametrize("value", ["\\ud800", "a\\udc00b", "\\udbff\\udbff"])
def test_lone_surrogate_in_a_messaging_field_is_a_422(client, field, value):
    me, token = register(client, "Ada")
    send(client, token, me["id"], "hello")
    method, path = {"name": ("POST", "/api/v1/users"), "status": ("PATCH", f"/api/v1/users/{me['id']}"),
                    "text": ("POST", f"/api/v1/users/{me['id']}/messages")}[field]
    response = client.open(path, method=method, data=f'{{"{field}": "{value}"}}',
                           content_type="application/json", headers=bearer(token))
    body = assert_error(response, 422, "surrogate")
    assert list(body["details"]) == [field]


def test_lone_surrogate_in_a_graphql_request_is_a_400_and_one_log_line(servers):
    """GraphQL's error quotes the operation name: the log line must print it (escaped), not crash."""
    body = b'{"query": "query Q { contacts { id } }", "operationName": "\\ud800"}'
    status, _, answer = raw_request(servers["contacts3"].address, "POST", "/graphql",
                                    b"Content-Type: application/json\r\n", body)
    assert status == 400 and json.loads(answer)["errors"][0]["message"] == "Unknown operation named '\ud800'."
    assert servers["contacts3"].wait_for("GraphQL error: Unknown operation named '\\ud800'.")
    assert_still_serving_without_traceback(servers["contacts3"])


def test_the_log_writes_a_lone_surrogate_as_an_escape(monkeypatch):
    """common.log() is given a client's text by every server: it must never raise on it."""
    import io

    from sandbox import common

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # strict, like a server's standard output
    monkeypatch.setattr("sys.stdout", out)
    common.log("GET /?q=\ud800 éa 400")
    common.log("next line")
    out.seek(0)
    lines = out.read().splitlines()
    assert lines[0].endswith(" GET /?q=\\ud800 éa 400") and lines[1].endswith(" next line")
