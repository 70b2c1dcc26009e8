"""Checks for exercises/04-http.md: HTTP by hand over a socket, then with requests.

    check_http_get(http_get, httpbin)      step 1: GET over a raw socket -> (status, headers, body)
    check_post_json(post_json, httpbin)    step 2: POST JSON with requests; errors and timeouts raise
    check_classify(classify, httpbin)      step 3: "ok", "redirect", ..., "unreachable", never raising
"""

from __future__ import annotations

import http.client
import json
import re

import requests

from .core import call, call_raising, checker, expect, expect_equal, run_with_limit, short
from .helpers import free_port, full_backlog, sandbox_server
from .servers import silent_server

PAYLOAD = {"name": "Ada", "age": 36, "tags": ["math", "poetry"], "address": {"city": "London"}, "alive": False}


def _fetch(server, path: str) -> bytes:
    """The body of GET path, fetched by the check itself (with http.client)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


@checker("http_get")
def check_http_get(http_get, httpbin=None):
    """``http_get(host, port, path)`` returns ``(status, headers, body)``: an int, a dict with
    lower-case header names, and the body as bytes, exactly ``Content-Length`` of them.

    Tried on httpbin: /get with a query string, /status/404 (no body), 100 kB of
    binary data (several recv calls) holding b"\\r\\n\\r\\n" itself, and an HTML page;
    the Date header, whose value holds ":", must be whole. httpbin must have received
    "Host: host:port" and "Connection: close" (waitress answers without either, and an
    HTTP/1.0 request closes unasked); on a server that never answers, ``timeout`` ends the wait.
    """
    hang_hint = ('send "Connection: close" in the request, each line ending with "\\r\\n" and the head with an empty line: '
                 'the server then closes the connection after its answer, and you can read until recv() returns b""')
    with sandbox_server("httpbin", httpbin) as hb:
        cases = [
            ("/get?course=networking", 200, "application/json"),
            ("/status/404", 404, None),
            # With this seed, the sandbox's 100 kB (random.Random(seed).randbytes) hold b"\r\n\r\n" themselves,
            # 57,750 bytes in: a client that splits the answer at every b"\r\n\r\n", not the first only, cuts the body there.
            ("/bytes/102400?seed=19605", 200, "application/octet-stream"),
            ("/html", 200, "text/html; charset=utf-8"),
        ]
        for path, status, content_type in cases:
            answer = call(http_get, hb.host, hb.port, path, hint=hang_hint)
            shown = f"http_get(..., {path!r})"
            expect(isinstance(answer, tuple) and len(answer) == 3, f"{shown} to return (status, headers, body)",
                   short(answer), "return status, headers, body: a tuple of three")
            got_status, headers, body = answer
            expect_equal(got_status, status, f"the status code of {path}",
                         'the status line is "HTTP/1.1 200 OK": the code is its second word, as an int')
            expect(isinstance(headers, dict), f"headers as a dict for {path}", short(headers),
                   "headers = {}, then headers[name.strip().lower()] = value.strip() for each header line")
            upper = [name for name in headers if not isinstance(name, str) or name != name.lower()]
            expect(not upper, "header names in lower case (HTTP ignores their case)", f"{upper}",
                   "headers[name.strip().lower()] = value.strip()")
            expect(isinstance(body, bytes), f"the body of {path} as bytes", short(body),
                   "keep the body as bytes: it may be an image; the caller decodes it if it is text")
            if content_type:
                expect_equal(headers.get("content-type"), content_type, f"headers['content-type'] for {path}",
                             "strip the spaces around each value")
            date = headers.get("date")
            expect(date is None or (isinstance(date, str) and re.search(r"\d\d:\d\d:\d\d GMT$", date)),
                   f"headers['date'] for {path}, a date and time such as 'Wed, 02 Dec 2026 19:51:08 GMT'", short(date),
                   'split each header line at its first ":" only (line.partition(":")): a value may hold ":" too')
            if path.startswith("/bytes"):
                whole = _fetch(hb, path)
                cut = whole.find(b"\r\n\r\n")
                expect(cut == -1 or body != whole[:cut], f"the whole body of {path}, {len(whole):,} bytes",
                       f"the first {cut:,} bytes, up to a b'\\r\\n\\r\\n' inside the body",
                       'only the first b"\\r\\n\\r\\n" ends the head: head, _, body = raw.partition(b"\\r\\n\\r\\n")')
            length = headers.get("content-length")
            expect(length == str(len(body)), f"a body of {length} bytes for {path}, as headers['content-length'] says",
                   f"{len(body):,} bytes",
                   'read until recv() returns b"" (one recv() gets only what has arrived so far); '
                   'the body is everything after the first b"\\r\\n\\r\\n"')
            if path.startswith("/get"):
                seen = json.loads(body)
                expect_equal(seen["args"], {"course": "networking"}, "the args httpbin saw",
                             "send the path as given, query string included: GET <path> HTTP/1.1")
                sent = {name.lower(): value for name, value in seen.get("headers", {}).items()}
                expect_equal(sent.get("host"), f"{hb.host}:{hb.port}", "the Host header httpbin received",
                             'send "Host: <host>:<port>" after the request line: HTTP/1.1 requires it '
                             "(a server may host several sites at one address)")
                expect_equal(sent.get("connection", "").lower(), "close", "the Connection header httpbin received",
                             'send "Connection: close": the server then closes the connection once it has answered')
            elif path.startswith("/bytes"):
                expect_equal(body, whole, "the 102,400 bytes httpbin sent",
                             'read until recv() returns b"": one recv() gets only what has arrived so far')
            elif path.startswith("/status"):
                expect_equal(body, b"", "an empty body for 404", 'the body is what follows the first b"\\r\\n\\r\\n": here, nothing')
    timeout_hint = ("connect with socket.create_connection((host, port), timeout=timeout): then recv() raises "
                    "TimeoutError when nothing comes for that long, instead of waiting forever")
    with silent_server() as (host, port):
        # Whatever it then does (TimeoutError, or a result of its own), it must stop waiting.
        finished, _, _ = run_with_limit(http_get, (host, port, "/"), {"timeout": 0.5}, limit=3)
        expect(finished, f"http_get({host!r}, {port}, '/', timeout=0.5) to give up after 0.5 s on a server that never answers",
               "it was still running after 3 s", timeout_hint)
    return ("/get, /status/404, 100 kB of binary data and an HTML page: status, headers and body right; "
            "Host and Connection sent; a silent server given up after the timeout")


@checker("post_json")
def check_post_json(post_json, httpbin=None):
    """``post_json(url, payload, timeout=5.0)`` POSTs ``payload`` as JSON and returns the JSON answer.

    An error status (4xx, 5xx) raises ``requests.HTTPError``; a server that does
    not answer raises ``requests.Timeout`` after ``timeout`` seconds.
    """
    with sandbox_server("httpbin", httpbin) as hb:
        answer = call(post_json, f"{hb.url}/post", PAYLOAD, hint="requests.post(url, json=payload, timeout=timeout), then .json()")
        expect(isinstance(answer, dict), "the answer of httpbin's /post, decoded: a dict", short(answer),
               "return response.json(), the decoded body")
        expect_equal(answer.get("json"), PAYLOAD, "httpbin to receive the payload as JSON",
                     "json=payload encodes it as JSON (data= would send a form)")
        expect_equal(answer.get("headers", {}).get("Content-Type"), "application/json",
                     "the Content-Type the server received", "json=payload sets Content-Type: application/json")
        for code in (500, 404):
            error = call_raising(requests.HTTPError, post_json, f"{hb.url}/status/{code}", PAYLOAD,
                                 hint="call response.raise_for_status() before response.json()")
            status = getattr(getattr(error, "response", None), "status_code", None)
            expect_equal(status, code, f"the HTTPError to carry the {code} response", "let raise_for_status() raise it")
    with silent_server() as (host, port):
        # 1.5 s: three times the timeout asked for, and far from the 5 s of a timeout written as a number
        call_raising(requests.Timeout, post_json, f"http://{host}:{port}/post", PAYLOAD, timeout=0.5, limit=1.5,
                     expected="requests.Timeout after 0.5 s from post_json(..., timeout=0.5) on a server that never answers",
                     hint="pass timeout=timeout to requests.post (the caller's, not a number of your own): "
                          "without it, requests waits forever")
    return "payload received as JSON, HTTPError for 500 and 404, Timeout on a silent server"


@checker("classify")
def check_classify(classify, httpbin=None):
    """``classify(url, timeout=2.0)`` returns "ok", "redirect", "client error", "server error",
    "timeout" or "unreachable", and never raises.
    """
    never = "classify must never raise: check response.status_code, and catch requests' exceptions"
    with sandbox_server("httpbin", httpbin) as hb:
        cases = [(200, "ok"), (204, "ok"), (302, "redirect"), (301, "redirect"), (404, "client error"),
                 (418, "client error"), (500, "server error"), (503, "server error")]
        for code, label in cases:
            got = call(classify, f"{hb.url}/status/{code}", hint=never)
            hint = ("requests follows redirects: pass allow_redirects=False to see the 3xx answer itself"
                    if code in (301, 302) else "2xx ok, 3xx redirect, 4xx client error, 5xx server error")
            expect_equal(got, label, f"classify(.../status/{code})", hint)
        # /delay/3 and 1.5 s: a timeout written as a number (2.0, the default) is still waiting at 1.5 s, every time
        timeout_hint = ("pass timeout=timeout to requests (the caller's, not a number of your own), "
                        "and catch requests.Timeout (before requests.ConnectionError)")
        got = call(classify, f"{hb.url}/delay/3", timeout=0.3, limit=1.5, hint=timeout_hint,
                   expected="classify(.../delay/3, timeout=0.3) to return 'timeout' after 0.3 s")
        expect_equal(got, "timeout", "classify(.../delay/3, timeout=0.3)", timeout_hint)
    port = free_port()
    got = call(classify, f"http://127.0.0.1:{port}/", hint="catch requests.ConnectionError")
    expect_equal(got, "unreachable", f"classify() where nobody listens (port {port})",
                 "catch requests.ConnectionError: the connection was refused")
    with full_backlog() as address:
        if address is None:  # this system refuses a connection to a full queue: no connection can time out here
            return f"{len(cases)} status codes, a timeout and a refused connection, without raising"
        host, port = address
        got = call(classify, f"http://{host}:{port}/", timeout=0.3, limit=5, hint=never)
        expect_equal(got, "timeout", "classify(..., timeout=0.3) where connecting times out (a server too busy to accept)",
                     "connecting timed out: requests raises ConnectTimeout, which is both a Timeout and a ConnectionError; "
                     "catch requests.Timeout before requests.ConnectionError")
    return f"{len(cases)} status codes, a timeout while reading and one while connecting, and a refused connection, without raising"
