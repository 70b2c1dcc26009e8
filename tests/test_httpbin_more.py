"""The local httpbin's endpoints of sandbox/httpbin_more.py (issue 16): each one's right
answer, and its bad input refused with a 4xx in the one JSON error shape, never a 500."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.auth import HTTPDigestAuth

from sandbox import launch
from sandbox import httpbin
from sandbox.httpbin import create_app
from sandbox.httpbin_more import make_nonce, slow_slots
from test_httpbin import assert_json_error, call

NEW_ENDPOINTS = ["/redirect/<n>", "/absolute-redirect/<n>", "/redirect-to", "/gzip", "/deflate", "/range/<n>",
                 "/etag/<etag>", "/cache", "/cache/<seconds>", "/stream/<n>", "/drip", "/sse", "/unstable",
                 "/bearer", "/digest-auth/auth/<user>/<passwd>"]


@pytest.fixture(scope="module")
def server():
    with launch("httpbin", replace=False) as srv:
        yield srv


def test_index_and_docstring_list_the_new_endpoints(server):
    endpoints = call(server, "GET", "/").json()["endpoints"]
    listing = httpbin.__doc__.split("in httpbin_more.py:", 1)[1].split("\n\n", 1)[0]
    for path in NEW_ENDPOINTS:
        assert path in endpoints
        assert " " + path.split("<")[0].rstrip("/") in listing, path  # "/redirect", "/digest-auth/auth"
    assert "/ws/echo" not in endpoints and "waitress cannot hand a connection over" in httpbin.__doc__


def test_help_lists_every_new_limit():
    result = subprocess.run([sys.executable, "-m", "sandbox", "httpbin", "--help"], capture_output=True, text=True,
                            timeout=60, check=True)
    limits = result.stdout.split("limits:", 1)[1]
    for text in ["/redirect/<n>     1 to 20 redirects", "/absolute-redirect/<n>", "/redirect-to", "open redirect",
                 "301, 302, 303, 307, 308", "/range/<n>        0 to 102400 bytes", "416",
                 "/cache/<s>        max-age 0 to 31536000 seconds", "/stream/<n>       0 to 100 lines",
                 "/drip             numbytes 1 to 10240", "delay + duration at most 10 s",
                 "/sse              count 1 to 100", "(count - 1) x delay at most 10 s",
                 "8 of /drip and /sse at once", "503", "Retry-After: 10", "/unstable         failure_rate 0 to 1",
                 "a nonce is good for 300 s", "stale=true"]:
        assert text in limits, text


# --------------------------------------------------------------------------- redirects


def test_redirect_n_follows_relative_locations_to_get(server):
    response = call(server, "GET", "/redirect/3")
    assert response.status_code == 200 and response.url == server.url + "/get"
    assert [r.status_code for r in response.history] == [302, 302, 302]
    assert [r.headers["Location"] for r in response.history] == ["/redirect/2", "/redirect/1", "/get"]


def test_absolute_redirect_builds_urls_from_the_host_header(server):
    response = call(server, "GET", "/absolute-redirect/2")
    assert response.status_code == 200 and len(response.history) == 2
    assert [r.headers["Location"] for r in response.history] == [f"{server.url}/absolute-redirect/1",
                                                                  f"{server.url}/get"]
    other = call(server, "GET", "/absolute-redirect/1", headers={"Host": "example.test:8080"}, allow_redirects=False)
    assert other.status_code == 302 and other.headers["Location"] == "http://example.test:8080/get"


def test_too_many_redirects_stops_the_client(server):
    with requests.Session() as session:
        session.max_redirects = 3
        with pytest.raises(requests.TooManyRedirects):
            session.get(server.url + "/redirect/5", timeout=10)


@pytest.mark.parametrize("path, words", [("/redirect/0", ["between 1 and 20"]), ("/redirect/21", ["between 1 and 20"]),
                                         ("/redirect/x", ["an integer"]), ("/absolute-redirect/-1", ["between"]),
                                         ("/absolute-redirect/99999999999999999999", ["between"])])
def test_redirect_counts_out_of_bounds(server, path, words):
    assert_json_error(call(server, "GET", path, allow_redirects=False), 400, "Bad Request", *words)


def test_redirect_to_a_path_or_this_server(server):
    response = call(server, "GET", "/redirect-to", params={"url": "/get?x=1"})
    assert response.status_code == 200 and response.json()["args"] == {"x": "1"}
    assert response.history[0].status_code == 302 and response.history[0].headers["Location"] == "/get?x=1"
    relative = call(server, "GET", "/redirect-to?url=ip", allow_redirects=False)  # resolved against /redirect-to
    assert relative.headers["Location"] == "ip"
    absolute = call(server, "GET", "/redirect-to", params={"url": server.url + "/ip", "status_code": "301"})
    assert absolute.json() == {"origin": "127.0.0.1"} and absolute.history[0].status_code == 301


def test_redirect_to_307_keeps_the_method_and_the_body_303_does_not(server):
    kept = call(server, "POST", "/redirect-to?url=/anything&status_code=307", json={"a": 1})
    assert kept.json()["method"] == "POST" and kept.json()["json"] == {"a": 1}
    changed = call(server, "POST", "/redirect-to?url=/anything&status_code=303", json={"a": 1})
    assert changed.json()["method"] == "GET" and changed.json()["json"] is None


@pytest.mark.parametrize("url", ["http://example.com/", "https://example.com/x", "//example.com/", "///example.com",
                                 "/\\example.com", "\\\\example.com", "http:example.com", "javascript:alert(1)",
                                 "data:text/html,hi", "http://127.0.0.1:1/get", "http://localhost/get",
                                 "http://127.0.0.1@example.com/", "ftp://127.0.0.1/", "http://[::1"])
def test_redirect_to_refuses_other_hosts(server, url):
    response = call(server, "GET", "/redirect-to", params={"url": url}, allow_redirects=False)
    assert_json_error(response, 400, "Bad Request", repr(url))
    assert "Location" not in response.headers


@pytest.mark.parametrize("query, words", [("", ["say where to"]), ("url=", ["say where to"]),
                                          ("url=/get&status_code=200", ["must be a redirect"]),
                                          ("url=/get&status_code=304", ["must be a redirect"]),
                                          ("url=/get&status_code=abc", ["an integer"]),
                                          ("url=%2Fget%0D%0AX-Evil:%201", ["visible ASCII"]),
                                          ("url=/a%20b", ["visible ASCII"]), ("url=/%C3%A9", ["visible ASCII"]),
                                          ("url=/%09/example.com", ["visible ASCII"])])
def test_redirect_to_rejects_bad_input(server, query, words):
    assert_json_error(call(server, "GET", f"/redirect-to?{query}", allow_redirects=False), 400, "Bad Request", *words)


# --------------------------------------------------------------------------- compression


def test_gzip_and_deflate_are_decoded_by_requests(server):
    for path, flag in [("/gzip", "gzipped"), ("/deflate", "deflated")]:
        response = call(server, "GET", path + "?q=1")
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
        assert response.headers["Content-Encoding"] == path[1:]
        body = response.json()
        assert body[flag] is True and body["args"] == {"q": "1"} and body["url"].endswith(path + "?q=1")


def test_compressed_bytes_on_the_wire(server):
    with requests.get(server.url + "/gzip", stream=True, timeout=10) as response:
        raw = response.raw.read(decode_content=False)
    assert len(raw) == int(response.headers["Content-Length"]) and raw[:2] == b"\x1f\x8b"  # gzip's magic
    assert json.loads(gzip.decompress(raw))["gzipped"] is True
    with requests.get(server.url + "/deflate", stream=True, timeout=10) as response:
        raw = response.raw.read(decode_content=False)
    assert json.loads(zlib.decompress(raw))["deflated"] is True  # the zlib format: header and checksum
    with pytest.raises(zlib.error):
        zlib.decompress(raw, wbits=-15)  # raw deflate would read the zlib header as data


# --------------------------------------------------------------------------- ranges


def test_range_without_range_is_everything(server):
    response = call(server, "GET", "/range/30")
    assert response.status_code == 200 and response.content == b"abcdefghijklmnopqrstuvwxyzabcd"
    assert response.headers["Accept-Ranges"] == "bytes" and "Content-Range" not in response.headers
    assert call(server, "GET", "/range/30", headers={"Range": "items=0-1"}).status_code == 200  # unit ignored
    assert call(server, "GET", "/range/0").content == b""


@pytest.mark.parametrize("header, content_range, content", [
    ("bytes=0-9", "bytes 0-9/100", b"abcdefghij"), ("bytes=26-28", "bytes 26-28/100", b"abc"),
    ("bytes=97-", "bytes 97-99/100", b"tuv"), ("bytes=-3", "bytes 97-99/100", b"tuv"),
    ("bytes=98-5000", "bytes 98-99/100", b"uv"), ("bytes=-500", "bytes 0-99/100", None),
    ("bytes=0-0", "bytes 0-0/100", b"a"), ("Bytes=99-99", "bytes 99-99/100", b"v"),
])
def test_range_206(server, header, content_range, content):
    response = call(server, "GET", "/range/100", headers={"Range": header})
    assert response.status_code == 206 and response.headers["Content-Range"] == content_range
    whole = call(server, "GET", "/range/100").content
    first, last = map(int, content_range.split()[1].split("/")[0].split("-"))
    assert response.content == whole[first:last + 1] == (content or whole)
    assert int(response.headers["Content-Length"]) == last - first + 1


@pytest.mark.parametrize("path, header, words", [
    ("/range/100", "bytes=100-", ["no byte"]), ("/range/100", "bytes=-0", ["no byte"]),
    ("/range/0", "bytes=0-", ["no byte"]), ("/range/100", "bytes=5-2", ["ends before it starts"]),
    ("/range/100", "bytes=0-1,5-6", ["one range"]), ("/range/100", "bytes=abc", ["one range"]),
    ("/range/100", "bytes=-", ["one range"]), ("/range/100", "bytes=\u0663-", ["one range"]),
])
def test_range_416(server, path, header, words):
    response = call(server, "GET", path, headers={"Range": header.encode()})
    assert_json_error(response, 416, "Requested Range Not Satisfiable", *words)
    assert response.headers["Content-Range"] == f"bytes */{path.rsplit('/', 1)[1]}"


@pytest.mark.parametrize("n", ["102401", "-1", "ten"])
def test_range_size_out_of_bounds(server, n):
    assert_json_error(call(server, "GET", f"/range/{n}"), 400, "Bad Request", "the number of bytes")


def test_a_download_resumed_with_range(server):
    whole = call(server, "GET", "/range/1000").content
    first = call(server, "GET", "/range/1000", headers={"Range": "bytes=0-399"}).content
    rest = call(server, "GET", "/range/1000", headers={"Range": f"bytes={len(first)}-"}).content
    assert first + rest == whole and len(first) == 400


# --------------------------------------------------------------------------- conditional requests, caching


@pytest.mark.parametrize("headers, status", [
    ({}, 200), ({"If-None-Match": '"v1"'}, 304), ({"If-None-Match": 'W/"v1"'}, 304), ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"v0", "v1"'}, 304), ({"If-None-Match": '"v2"'}, 200), ({"If-Match": '"v1"'}, 200),
    ({"If-Match": "*"}, 200), ({"If-Match": '"v2"'}, 412), ({"If-Match": 'W/"v1"'}, 412), ({"If-Match": 'bad"'}, 412),
    ({"If-Match": '"v2"', "If-None-Match": '"v1"'}, 412),  # If-Match first
])
def test_etag(server, headers, status):
    response = call(server, "GET", "/etag/v1", headers=headers)
    assert response.status_code == status
    if status == 412:
        assert_json_error(response, 412, "Precondition Failed", "does not match")
    else:
        assert response.headers["ETag"] == '"v1"'
        assert (response.content == b"") == (status == 304)


def test_etag_refuses_a_quote(server):
    assert_json_error(call(server, "GET", "/etag/a%22b"), 400, "Bad Request", "entity tag")


def test_cache_revalidation(server):
    first = call(server, "GET", "/cache")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status_code == 200 and etag.startswith('"') and modified.endswith(" GMT")
    for headers in [{"If-None-Match": etag}, {"If-Modified-Since": modified},
                    {"If-Modified-Since": "Fri, 31 Dec 2100 23:59:59 GMT"}]:
        again = call(server, "GET", "/cache", headers=headers)
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    for headers in [{"If-None-Match": '"other"'}, {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
                    {"If-Modified-Since": "not a date"},  # ignored, as RFC 9110 says
                    {"If-None-Match": '"other"', "If-Modified-Since": modified}]:  # If-None-Match decides
        assert call(server, "GET", "/cache", headers=headers).status_code == 200, headers


def test_cache_control(server):
    response = call(server, "GET", "/cache/60")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "public, max-age=60"
    assert response.json()["url"] == server.url + "/cache/60"
    for bad in ["-1", "31536001", "1.5", "soon"]:
        assert_json_error(call(server, "GET", f"/cache/{bad}"), 400, "Bad Request", "max-age")


# --------------------------------------------------------------------------- streams


def read_chunks(address, path: str) -> tuple[str, list[bytes]]:
    """GET ``path`` over a socket; the head of the answer, and each chunk of its chunked body."""
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        reply = b"".join(iter(lambda: conn.recv(65536), b""))  # waitress closes after a chunked answer
    head, _, body = reply.partition(b"\r\n\r\n")
    chunks = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return head.decode("latin-1"), chunks
        chunks.append(body[:size])
        assert body[size:size + 2] == b"\r\n"
        body = body[size + 2:]


def test_stream_sends_one_json_line_per_chunk(server):
    with requests.get(server.url + "/stream/5?x=1", stream=True, timeout=10) as response:
        lines = [json.loads(line) for line in response.iter_lines()]
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.headers
    assert [line["id"] for line in lines] == [0, 1, 2, 3, 4] and all(line["args"] == {"x": "1"} for line in lines)
    head, chunks = read_chunks(server.address, "/stream/3")
    assert "Transfer-Encoding: chunked" in head and len(chunks) == 3
    assert [json.loads(chunk)["id"] for chunk in chunks] == [0, 1, 2] and all(c.endswith(b"\n") for c in chunks)
    assert call(server, "GET", "/stream/0").content == b""


@pytest.mark.parametrize("n", ["101", "-1", "many"])
def test_stream_out_of_bounds(server, n):
    assert_json_error(call(server, "GET", f"/stream/{n}"), 400, "Bad Request", "the number of lines")


def test_drip_sends_its_bytes_over_the_duration(server):
    started = time.monotonic()
    response = call(server, "GET", "/drip?duration=0.3&numbytes=5")
    assert time.monotonic() - started >= 0.3  # the last byte leaves after the duration
    assert response.status_code == 200 and response.content == b"*****"
    assert response.headers["Content-Length"] == "5" and response.headers["Content-Type"] == "application/octet-stream"
    with requests.get(server.url + "/drip?duration=0&numbytes=1000", stream=True, timeout=10) as streamed:
        assert sum(len(chunk) for chunk in streamed.iter_content(100)) == 1000
    with pytest.raises(requests.Timeout):  # a read timeout: nothing came for 0.2 s
        requests.get(server.url + "/drip?delay=1&duration=0&numbytes=1", timeout=0.2)


@pytest.mark.parametrize("query, words", [
    ("numbytes=0", ["numbytes", "between 1 and 10_240"]), ("numbytes=10241", ["numbytes"]), ("numbytes=x", ["numbytes"]),
    ("duration=11", ["duration"]), ("duration=-1", ["duration"]), ("duration=nan", ["duration"]),
    ("delay=inf", ["delay"]), ("delay=6&duration=5", ["delay + duration", "at most 10"]),
])
def test_drip_bad_input_is_refused_at_once(server, query, words):
    started = time.monotonic()
    assert_json_error(call(server, "GET", f"/drip?{query}"), 400, "Bad Request", *words)
    assert time.monotonic() - started < 1


def parse_events(text: str) -> list[dict]:
    """Server-Sent Events as dicts of their fields: an event ends at a blank line."""
    events = []
    for block in text.split("\n\n"):
        if block:
            events.append(dict(line.split(": ", 1) for line in block.split("\n")))
    return events


def test_sse_events_then_the_end(server):
    response = call(server, "GET", "/sse?count=3&delay=0")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Transfer-Encoding"] == "chunked"
    assert response.text.endswith("\n\n")
    events = parse_events(response.text)
    assert [event["id"] for event in events] == ["1", "2", "3"]
    assert [json.loads(event["data"]) for event in events] == [{"id": i, "count": 3} for i in (1, 2, 3)]
    resumed = call(server, "GET", "/sse?count=3&delay=0", headers={"Last-Event-ID": "2"})  # a reconnection
    assert [event["id"] for event in parse_events(resumed.text)] == ["3"]
    done = call(server, "GET", "/sse?count=3&delay=0", headers={"Last-Event-ID": "3"})
    assert done.status_code == 204 and done.content == b""  # EventSource: stop reconnecting


def test_sse_paces_its_events(server):
    started = time.monotonic()
    with requests.get(server.url + "/sse?count=3&delay=0.1", stream=True, timeout=10) as response:
        lines = [line for line in response.iter_lines(decode_unicode=True) if line.startswith("id:")]
    assert lines == ["id: 1", "id: 2", "id: 3"] and time.monotonic() - started >= 0.2


@pytest.mark.parametrize("query, headers, words", [
    ("count=0", {}, ["count"]), ("count=101", {}, ["count"]), ("delay=-1", {}, ["delay"]),
    ("count=12&delay=1", {}, ["(count - 1) x delay"]), ("count=3", {"Last-Event-ID": "4"}, ["Last-Event-ID"]),
    ("count=3", {"Last-Event-ID": "x"}, ["Last-Event-ID"]),
])
def test_sse_bad_input(server, query, headers, words):
    assert_json_error(call(server, "GET", f"/sse?{query}", headers=headers), 400, "Bad Request", *words)


def test_slow_bodies_leave_threads_for_the_others():
    """8 drips (half of waitress's 16 threads) at once: a 9th is a 503, a /get is served at once."""
    with launch("httpbin", replace=False) as own:  # its own server: the slots free up after the test
        def start_drip(_):  # the headers come with the first byte, after 10 ms; the rest over 2 s
            return requests.get(own.url + "/drip?duration=2&numbytes=200", stream=True, timeout=10)

        with ThreadPoolExecutor(httpbin.MAX_SLOW) as pool:
            drips = list(pool.map(start_drip, range(httpbin.MAX_SLOW)))
        try:
            assert all(drip.status_code == 200 for drip in drips)
            refused = call(own, "GET", "/sse?count=1")
            assert_json_error(refused, 503, "Service Unavailable", "8 slow answers")
            assert refused.headers["Retry-After"] == "10"
            started = time.monotonic()
            assert call(own, "GET", "/get").status_code == 200
            assert time.monotonic() - started < 1
        finally:
            for drip in drips:
                drip.close()
        assert "Traceback" not in own.log


def free_slots() -> int:
    """How many slow bodies could start now (taken, then given back)."""
    taken = 0
    while slow_slots.acquire(blocking=False):
        taken += 1
    for _ in range(taken):
        slow_slots.release()
    return taken


def test_a_slow_slot_is_given_back_however_the_body_ends():
    client = create_app().test_client()
    free = free_slots()
    unread = client.get("/drip?duration=0&numbytes=3")  # Flask's test client: the body is not read yet
    assert free_slots() == free - 1
    unread.close()  # as waitress does, once the body is sent or once the client is gone
    assert free_slots() == free
    client.head("/drip?duration=0&numbytes=3").close()
    client.get("/sse?count=2&delay=0").close()
    assert client.get("/sse?count=2&delay=0", headers={"Last-Event-ID": "2"}).status_code == 204  # takes none
    assert free_slots() == free


# --------------------------------------------------------------------------- failures on purpose


def test_unstable_is_reproducible_with_a_seed(server):
    runs = [[call(server, "GET", f"/unstable?seed={seed}").status_code for seed in range(20)] for _ in range(2)]
    assert runs[0] == runs[1] and set(runs[0]) == {200, 500}
    failed = call(server, "GET", f"/unstable?seed={runs[0].index(500)}")
    assert_json_error(failed, 500, "Internal Server Error", "on purpose", "failure_rate=0.5")
    assert all(call(server, "GET", f"/unstable?failure_rate=0&seed={s}").status_code == 200 for s in range(5))
    assert all(call(server, "GET", f"/unstable?failure_rate=1&seed={s}").status_code == 500 for s in range(5))
    assert "Traceback" not in server.log  # a failure on purpose, not a bug


@pytest.mark.parametrize("query, words", [("failure_rate=1.5", ["failure_rate"]), ("failure_rate=-0.1", ["failure_rate"]),
                                          ("failure_rate=nan", ["failure_rate"]), ("failure_rate=half", ["failure_rate"]),
                                          ("seed=-1", ["seed"]), ("seed=x", ["seed"])])
def test_unstable_bad_input(server, query, words):
    assert_json_error(call(server, "GET", f"/unstable?{query}"), 400, "Bad Request", *words)


# --------------------------------------------------------------------------- Bearer and Digest


def test_bearer(server):
    ok = call(server, "GET", "/bearer", headers={"Authorization": "Bearer abc.DEF-123"})
    assert ok.status_code == 200 and ok.json() == {"authenticated": True, "token": "abc.DEF-123"}
    for headers, words in [({}, "Authorization: Bearer TOKEN"), ({"Authorization": "Bearer"}, "'Bearer '"),
                           ({"Authorization": "Basic YTpi"}, "'Bearer '"), ({"Authorization": "Bearer a=b"}, "'Bearer '")]:
        response = call(server, "GET", "/bearer", headers=headers)
        assert_json_error(response, 401, "Unauthorized", words)
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_digest_with_requests(server):
    url = server.url + "/digest-auth/auth/ada/s3cret"
    ok = requests.get(url, auth=HTTPDigestAuth("ada", "s3cret"), timeout=10)
    assert ok.status_code == 200 and ok.json() == {"authenticated": True, "user": "ada"}
    challenge = ok.history[0]
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"].startswith('Digest realm="httpbin", qop="auth", algorithm=MD5, nonce="')
    assert 'opaque="' in challenge.headers["WWW-Authenticate"]
    for auth in [HTTPDigestAuth("ada", "wrong"), HTTPDigestAuth("bob", "s3cret")]:
        assert_json_error(requests.get(url, auth=auth, timeout=10), 401, "Unauthorized", "wrong user name or password")
    for auth in [None, ("ada", "s3cret")]:  # none, or Basic
        response = call(server, "GET", "/digest-auth/auth/ada/s3cret", auth=auth)
        assert_json_error(response, 401, "Unauthorized", "HTTPDigestAuth")
        assert response.headers["WWW-Authenticate"].startswith("Digest ")
    with requests.Session() as session:  # the nonce is reused: the second request needs no 401 first
        session.auth = HTTPDigestAuth("ada", "s3cret")
        assert session.get(url, timeout=10).status_code == 200
        second = session.get(url, timeout=10)
        assert second.status_code == 200 and second.history == []


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_header(client, path: str, user: str, passwd: str, **changes) -> str:
    """The Authorization header answering the challenge of ``path``'s 401, with some fields changed."""
    challenge = client.get(path).headers["WWW-Authenticate"]
    fields = dict(part.split("=", 1) for part in challenge.removeprefix("Digest ").split(", "))
    fields = {name: value.strip('"') for name, value in fields.items()}
    nonce, uri = changes.pop("nonce", fields["nonce"]), changes.pop("uri", path)
    ha1, ha2 = md5(f"{user}:httpbin:{passwd}"), md5(f"GET:{uri}")
    values = {"username": user, "realm": "httpbin", "nonce": nonce, "uri": uri, "qop": "auth", "nc": "00000001",
              "cnonce": "c0ffee", "opaque": fields["opaque"],
              "response": md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"), **changes}
    return "Digest " + ", ".join(f'{name}="{value}"' for name, value in values.items() if value is not None)


def test_digest_checks_every_field():
    client = create_app().test_client()
    path = "/digest-auth/auth/ada/s3cret"
    assert client.get(path, headers={"Authorization": digest_header(client, path, "ada", "s3cret")}).status_code == 200
    old = make_nonce(int(time.time()) - httpbin.NONCE_SECONDS - 5)
    stale = client.get(path, headers={"Authorization": digest_header(client, path, "ada", "s3cret", nonce=old)})
    assert stale.status_code == 401 and stale.headers["WWW-Authenticate"].endswith(", stale=true")
    assert "older than 300 s" in stale.json["message"]
    for changes, words in [({"nonce": "1700000000.forged"}, "not from this server"), ({"opaque": "x"}, "not from this server"),
                           ({"qop": "auth-int"}, "not from this server"), ({"nonce": "\u00b2.x"}, "not from this server"),
                           ({"uri": "/digest-auth/auth/ada/other"}, "not the URL"), ({"cnonce": None}, "lack cnonce"),
                           ({"response": "0" * 32}, "wrong user name"), ({"response": "\u00e9"}, "wrong user name"),
                           ({"username": "bob"}, "wrong user name")]:
        response = client.get(path, headers={"Authorization": digest_header(client, path, "ada", "s3cret", **changes)})
        assert response.status_code == 401 and words in response.json["message"], changes
        assert "stale" not in response.headers["WWW-Authenticate"]
    for header in ["Digest", "Digest garbage", 'Digest username="ada"', "Digest \u00e9=\u00e9"]:
        response = client.get(path, headers={"Authorization": header})
        assert response.status_code == 401 and response.json["status"] == 401, header


# --------------------------------------------------------------------------- never a 500


ODD = [("/redirect/1.5", {}), ("/absolute-redirect/%00", {}), ("/redirect-to?url=", {}), ("/redirect-to?url=%FF", {}),
       ("/redirect-to?url=%00", {}), ("/redirect-to?url=http://%5B", {}), ("/range/5", {"Range": "bytes=99999999999999999999999-"}),
       ("/range/5", {"Range": "bytes=0-99999999999999999999999"}), ("/range/5", {"Range": "bytes=\xff"}),
       ("/etag/%FF", {}), ("/etag/x", {"If-Match": "\xff"}), ("/cache", {"If-Modified-Since": "\xff"}),
       ("/cache", {"If-None-Match": '"'}), ("/cache/1e400", {}), ("/stream/1e3", {}), ("/drip?numbytes=1e400", {}),
       ("/sse?count=1", {"Last-Event-ID": "\xff"}), ("/unstable?failure_rate=1e400", {}),
       ("/bearer", {"Authorization": "Bearer \xff"}), ("/bearer", {"Authorization": "\xff"}),
       ("/digest-auth/auth/a/b", {"Authorization": 'Digest username="\xff", nonce="\xff", uri="\xff"'})]


@pytest.mark.parametrize("path, headers", ODD)
def test_odd_input_is_never_a_500(server, path, headers):
    response = call(server, "GET", path, headers={name: value.encode("latin-1") for name, value in headers.items()},
                    allow_redirects=False)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert list(response.json())[:3] == ["status", "error", "message"]


def test_no_traceback_in_the_log(server):
    assert call(server, "GET", "/").status_code == 200
    assert "Traceback" not in server.log
