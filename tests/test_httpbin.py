"""The local httpbin (Flask + waitress): every endpoint, limits, errors as JSON, many clients."""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sandbox import launch
from sandbox.httpbin import MAX_BODY, SAMPLE_JSON, create_app

GET_KEYS = {"args", "headers", "origin", "url"}
BODY_KEYS = GET_KEYS | {"data", "files", "form", "json"}


@pytest.fixture(scope="module")
def httpbin():
    with launch("httpbin", replace=False) as srv:
        yield srv


def call(httpbin, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, httpbin.url + path, timeout=10, **kwargs)


def assert_json_error(response: requests.Response, status: int, reason: str, *words: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body == {"status": status, "error": reason, "message": body["message"]}
    assert list(body) == ["status", "error", "message"]
    for word in words:
        assert word in body["message"]


def wait_for_log(server, text: str, within: float = 3.0) -> bool:
    """True once ``text`` is in the server's log (it arrives through a pipe, a little later)."""
    deadline = time.monotonic() + within
    while text not in server.log and time.monotonic() < deadline:
        time.sleep(0.05)
    return text in server.log


def test_index_lists_the_endpoints(httpbin):
    endpoints = call(httpbin, "GET", "/").json()["endpoints"]
    for path in ["/get", "/post", "/put", "/patch", "/delete", "/anything", "/status/<code>", "/headers",
                 "/ip", "/user-agent", "/delay/<seconds>", "/cookies", "/cookies/set", "/cookies/delete",
                 "/basic-auth/<user>/<passwd>", "/bytes/<n>", "/json", "/html"]:
        assert path in endpoints
    assert not any(path.startswith("/static") for path in endpoints)


def test_get_describes_the_request(httpbin):
    response = call(httpbin, "GET", "/get?a=1&a=2&b=3", headers={"X-Course": "networking"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == GET_KEYS
    assert body["args"] == {"a": ["1", "2"], "b": "3"}
    assert body["headers"]["X-Course"] == "networking"
    assert body["headers"]["Host"] == f"127.0.0.1:{httpbin.port}"
    assert body["origin"] == "127.0.0.1"
    assert body["url"] == f"{httpbin.url}/get?a=1&a=2&b=3"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_methods_with_a_body(httpbin, method):
    body = call(httpbin, method, f"/{method.lower()}?q=1", json={"name": "Ada", "n": [1, 2]}).json()
    assert set(body) == BODY_KEYS
    assert body["json"] == {"name": "Ada", "n": [1, 2]}
    assert body["data"] == '{"name": "Ada", "n": [1, 2]}'
    assert body["form"] == {} and body["files"] == {} and body["args"] == {"q": "1"}
    wrong = "GET" if method != "GET" else "POST"
    response = call(httpbin, wrong, f"/{method.lower()}")
    assert_json_error(response, 405, "Method Not Allowed", wrong, method)
    assert method in response.headers["Allow"]


def test_form_versus_json_versus_raw(httpbin):
    form = call(httpbin, "POST", "/post", data={"name": "Ada", "lang": ["py", "c"]}).json()
    assert form["form"] == {"name": "Ada", "lang": ["py", "c"]}
    assert form["data"] == "" and form["json"] is None
    assert form["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    raw = call(httpbin, "POST", "/post", data="plain text é".encode(), headers={"Content-Type": "text/plain"}).json()
    assert raw["data"] == "plain text é" and raw["form"] == {} and raw["json"] is None
    empty_json = call(httpbin, "POST", "/post", headers={"Content-Type": "application/json"}).json()
    assert empty_json["json"] is None and empty_json["data"] == ""


def test_file_upload(httpbin):
    files = [("doc", ("notes.txt", b"line 1\nline 2\n", "text/plain")), ("bin", ("x.bin", b"\xff\x00ok")),
             ("pic", ("a.png", b"\x89PNG\r\n", "image/png")), ("two", ("1.txt", b"one")), ("two", ("2.txt", "twö"))]
    body = call(httpbin, "POST", "/post", data={"title": "notes"}, files=files).json()
    assert body["files"] == {"doc": "line 1\nline 2\n",  # text as it is; binary as a data: URL, every byte kept
                             "bin": "data:application/octet-stream;base64," + base64.b64encode(b"\xff\x00ok").decode(),
                             "pic": "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n").decode(),
                             "two": ["one", "twö"]}
    assert body["files"]["pic"] == "data:image/png;base64,iVBORw0K"
    assert body["form"] == {"title": "notes"}
    assert body["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert body["data"] == ""


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_anything_accepts_any_method(httpbin, method):
    body = call(httpbin, method, "/anything/deep/path?x=1", data="hi").json()
    assert body["method"] == method
    assert body["url"].endswith("/anything/deep/path?x=1")
    assert body["args"] == {"x": "1"} and body["data"] == "hi"


@pytest.mark.parametrize("code", [200, 201, 202, 204, 400, 403, 404, 418, 429, 500, 503, 599])
def test_status_answers_that_code_with_an_empty_body(httpbin, code):
    for method in ("GET", "POST"):
        response = call(httpbin, method, f"/status/{code}")
        assert response.status_code == code
        assert response.content == b""
        assert "Content-Type" not in response.headers


@pytest.mark.parametrize("code", [300, 301, 302, 303, 307, 308])
def test_status_redirects_go_to_get(httpbin, code):
    response = call(httpbin, "GET", f"/status/{code}", allow_redirects=False)
    assert response.status_code == code and response.headers["Location"] == "/get"
    if code != 300:  # requests follows the others
        followed = call(httpbin, "GET", f"/status/{code}")
        assert followed.status_code == 200 and followed.url == httpbin.url + "/get"
        assert followed.history[0].status_code == code


def test_status_401_asks_for_credentials(httpbin):
    response = call(httpbin, "GET", "/status/401")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Basic realm="httpbin"'


@pytest.mark.parametrize("code, words", [("99", ["between 200 and 599"]), ("600", ["between 200 and 599"]),
                                         ("abc", ["an integer", "'abc'"]), ("2.5", ["an integer"])])
def test_status_rejects_bad_codes(httpbin, code, words):
    assert_json_error(call(httpbin, "GET", f"/status/{code}"), 400, "Bad Request", *words)


def test_headers_ip_user_agent(httpbin):
    headers = call(httpbin, "GET", "/headers", headers={"X-Test": "yes", "User-Agent": "student/1.0"}).json()
    assert set(headers) == {"headers"} and headers["headers"]["X-Test"] == "yes"
    assert call(httpbin, "GET", "/ip").json() == {"origin": "127.0.0.1"}
    agent = call(httpbin, "GET", "/user-agent", headers={"User-Agent": "student/1.0"}).json()
    assert agent == {"user-agent": "student/1.0"}


def test_delay_waits_then_describes(httpbin):
    started = time.monotonic()
    response = call(httpbin, "GET", "/delay/0.3?x=1")
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["args"] == {"x": "1"}
    assert 0.3 <= elapsed < 2
    with pytest.raises(requests.Timeout):  # what the notebooks show with it
        requests.get(httpbin.url + "/delay/1", timeout=0.2)


@pytest.mark.parametrize("seconds", ["10.5", "11", "999", "-1", "abc", "nan", "inf"])
def test_delay_beyond_the_documented_bound_is_refused_at_once(httpbin, seconds):
    started = time.monotonic()
    assert_json_error(call(httpbin, "GET", f"/delay/{seconds}"), 400, "Bad Request", "delay", repr(seconds))
    assert time.monotonic() - started < 1


def test_cookies_with_a_session(httpbin):
    with requests.Session() as session:
        response = session.get(httpbin.url + "/cookies/set?flavour=chocolate&size=large", timeout=10)
        assert response.history[0].status_code == 302
        assert response.history[0].headers["Location"] == "/cookies"
        assert response.json() == {"cookies": {"flavour": "chocolate", "size": "large"}}
        assert session.cookies.get("flavour") == "chocolate"
        response = session.get(httpbin.url + "/cookies/delete?flavour", timeout=10)
        assert response.json() == {"cookies": {"size": "large"}}
        assert "flavour" not in session.cookies
    assert call(httpbin, "GET", "/cookies", cookies={"a": "1"}).json() == {"cookies": {"a": "1"}}


@pytest.mark.parametrize("query", ["a%3Bb=1", "=v", "a%0D%0Ab=1", "a%20b=1"])
def test_bad_cookie_names_are_refused(httpbin, query):
    for action in ("set", "delete"):
        assert_json_error(call(httpbin, "GET", f"/cookies/{action}?{query}", allow_redirects=False),
                          400, "Bad Request", "cannot be a cookie name")


def test_basic_auth(httpbin):
    ok = call(httpbin, "GET", "/basic-auth/ada/s3cret", auth=("ada", "s3cret"))
    assert ok.status_code == 200 and ok.json() == {"authenticated": True, "user": "ada"}
    for auth, words in [(("ada", "wrong"), "wrong user name or password"),
                        (("bob", "s3cret"), "wrong user name or password"),
                        (None, "HTTP Basic authentication")]:
        response = call(httpbin, "GET", "/basic-auth/ada/s3cret", auth=auth)
        assert_json_error(response, 401, "Unauthorized", words)
        assert response.headers["WWW-Authenticate"] == 'Basic realm="httpbin"'
    bearer = call(httpbin, "GET", "/basic-auth/ada/s3cret", headers={"Authorization": "Bearer abc"})
    assert bearer.status_code == 401
    for unreadable in ["Basic ****", "Basic \xe9"]:  # not base64; not even ASCII (requests sends byte 0xe9)
        response = call(httpbin, "GET", "/basic-auth/ada/s3cret", headers={"Authorization": unreadable})
        assert_json_error(response, 401, "Unauthorized", "base64 of user:password")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="httpbin"'


def test_bytes(httpbin):
    response = call(httpbin, "GET", "/bytes/1000")
    assert response.status_code == 200 and len(response.content) == 1000
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert call(httpbin, "GET", "/bytes/0").content == b""
    assert len(call(httpbin, "GET", "/bytes/102400").content) == 102400
    seeded = [call(httpbin, "GET", "/bytes/64?seed=5").content for _ in range(2)]
    assert seeded[0] == seeded[1] != call(httpbin, "GET", "/bytes/64?seed=6").content
    assert call(httpbin, "GET", "/bytes/64").content != call(httpbin, "GET", "/bytes/64").content


@pytest.mark.parametrize("path, words", [("/bytes/102401", ["between 0 and 102_400"]), ("/bytes/-1", ["between"]),
                                         ("/bytes/ten", ["an integer"]), ("/bytes/8?seed=x", ["seed", "integer"]),
                                         ("/bytes/8?seed=-3", ["seed", "between"])])
def test_bytes_rejects_bad_input(httpbin, path, words):
    assert_json_error(call(httpbin, "GET", path), 400, "Bad Request", *words)


def test_sample_json_and_html(httpbin):
    response = call(httpbin, "GET", "/json")
    assert response.headers["Content-Type"] == "application/json" and response.json() == SAMPLE_JSON
    page = call(httpbin, "GET", "/html")
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.text.startswith("<!DOCTYPE html>") and "</html>" in page.text


def test_body_size_limit(httpbin):
    at_limit = call(httpbin, "POST", "/post", data=b"x" * MAX_BODY)
    assert at_limit.status_code == 200 and len(at_limit.json()["data"]) == MAX_BODY
    assert_json_error(call(httpbin, "POST", "/post", data=b"x" * (MAX_BODY + 1)), 413,
                      "Request Entity Too Large", f"{MAX_BODY:_}")
    big_field = {"big": (None, "x" * 600_000)}  # a multipart field that is not a file
    assert_json_error(call(httpbin, "POST", "/post", files=big_field), 413, "Request Entity Too Large", "multipart")
    big_file = {"big": ("big.txt", "x" * 600_000)}
    assert call(httpbin, "POST", "/post", files=big_file).json()["files"]["big"] == "x" * 600_000
    assert call(httpbin, "GET", "/get").status_code == 200


@pytest.mark.parametrize("body", [b"{bad", b"[1, 2", b"\xff\xfe", b"[" * 100_000, b"1" * 5000, b"{'single': 1}"])
def test_invalid_json_body_is_a_400(httpbin, body):
    response = call(httpbin, "POST", "/post", data=body, headers={"Content-Type": "application/json"})
    assert_json_error(response, 400, "Bad Request", "not valid JSON", "application/json")
    assert call(httpbin, "POST", "/post", json=[1]).json()["json"] == [1]


@pytest.mark.parametrize("path", ["/nope", "/get/", "/status", "/basic-auth/only-user", "/GET"])
def test_unknown_path_is_a_json_404(httpbin, path):
    assert_json_error(call(httpbin, "GET", path), 404, "Not Found", "GET / lists the endpoints")


def test_wrong_method_is_a_json_405_with_allow(httpbin):
    response = call(httpbin, "DELETE", "/get")
    assert_json_error(response, 405, "Method Not Allowed", "DELETE", "/get")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_garbled_request_line_is_refused_by_waitress(httpbin):
    # Documented: waitress answers it before Flask sees it, in plain text.
    with socket.create_connection(httpbin.address, timeout=5) as conn:
        conn.sendall(b"GARBAGE\r\n\r\n")
        reply = b"".join(iter(lambda: conn.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.0 400 Bad Request")
    assert call(httpbin, "GET", "/get").status_code == 200


def test_unexpected_exception_is_a_logged_json_500(caplog):
    app = create_app()
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    assert response.status_code == 500 and response.content_type == "application/json"
    assert response.get_json() == {"status": 500, "error": "Internal Server Error",
                                   "message": "The server failed to answer this request; the details are in its log."}
    assert "ZeroDivisionError" in caplog.text


def test_fifty_simultaneous_clients(httpbin):
    barrier = threading.Barrier(50)

    def client(i: int) -> bool:
        barrier.wait(10)  # all 50 requests leave at the same time
        response = call(httpbin, "POST", f"/anything?i={i}", json={"i": i})
        return response.status_code == 200 and response.json()["json"] == {"i": i}

    with ThreadPoolExecutor(50) as pool:
        assert all(pool.map(client, range(50)))


def test_one_log_line_per_request(httpbin):
    call(httpbin, "GET", "/get?trace=42")
    assert wait_for_log(httpbin, " GET /get?trace=42 200\n")
    call(httpbin, "GET", "/nope")
    assert wait_for_log(httpbin, " GET /nope 404\n")
