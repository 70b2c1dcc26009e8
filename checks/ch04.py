"""Checks for exercises/04-http.md: HTTP by hand over a socket, then with requests.

    check_http_get(http_get, httpbin)      step 1: GET over a raw socket -> (status, headers, body)
    check_post_json(post_json, httpbin)    step 2: POST JSON with requests; errors and timeouts raise
    check_classify(classify, httpbin)      step 3: "ok", "redirect", ..., "unreachable", never raising
    check_get_many(get_many, httpbin)      step 4: several GETs on one kept-alive connection, read by Content-Length
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import threading
import time

import requests

from .core import (Failure, NotDone, call, call_raising, checker, describe_exception, expect, expect_equal, plural,
                   run_with_limit, short, stub_message)
from .helpers import LOCALHOST, free_port, full_backlog, in_background, sandbox_server
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


# --- step 4: one kept-alive connection --------------------------------------------

PAUSE = 0.1  # seconds between the pieces of an answer: one recv() cannot get it whole
DATA = random.Random(4).randbytes(200_000) + b"\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"  # the answer of /data, b"\r\n\r\n" inside
WAITED_TOO_LONG = 1.0  # seconds from a complete answer to the next request: the client waited for more


def _head(status: str, fields: list[str]) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *fields]) + "\r\n\r\n").encode("ascii")


# Each answer as the check's server sends it: pieces of bytes, with a pause between them.
# /hello: the head in two pieces, the second with the start of the body; /missing: an empty
# body (Content-Length: 0); /data: 200 kB holding b"\r\n\r\n", its header name in lower case
# (header names ignore case).
HELLO = _head("200 OK", ["Content-Type: text/plain; charset=utf-8", "Content-Length: 13"]) + b"Hello, world!"
MISSING = _head("404 Not Found", ["Content-Length: 0"])
DATA_HEAD = _head("200 OK", ["content-type: application/octet-stream", f"content-length: {len(DATA)}"])
ANSWERS = {
    "/hello": [HELLO[:20], HELLO[20:-8], HELLO[-8:-4], HELLO[-4:]],
    "/missing": [MISSING],
    "/data": [DATA_HEAD + DATA[:1000], DATA[1000:150_000], DATA[150_000:]],
}
EXPECTED = {"/hello": (200, "13", b"Hello, world!"), "/missing": (404, "0", b""), "/data": (200, str(len(DATA)), DATA)}


ONE_ANSWER = ('An answer is its head, up to the first b"\\r\\n\\r\\n" (a head may come in several pieces), then exactly '
              "Content-Length bytes of body: read no less (the rest would be taken for the next answer) and no more; "
              "bytes received after the head are the start of the body")


def _check_requests(heads: list[bytes], host: str, port: int) -> None:
    """Each request the server received: HTTP/1.1, with Host, without Connection: close."""
    for head in heads:
        lines = head.decode("iso-8859-1").split("\r\n")
        fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        expect(lines[0].endswith(" HTTP/1.1"), "requests in HTTP/1.1 (where a connection stays open by default)",
               repr(lines[0]), "GET <path> HTTP/1.1")
        expect_equal(fields.get("host"), f"{host}:{port}", "the Host header the server received",
                     'send "Host: <host>:<port>": HTTP/1.1 requires it')
        expect(fields.get("connection", "").lower() != "close", 'no "Connection: close" in the requests',
               f"{lines[0]!r} with Connection: {fields.get('connection')}",
               '"Connection: close" asks the server to close after its answer: leave it out to keep the connection')


class KeptAliveServer:
    """An HTTP/1.1 server that never closes a connection first: only Content-Length tells where an answer ends.

    It answers each GET with ANSWERS[path], piece by piece, PAUSE seconds apart, and records
    each connection's requests (their heads), and how long after an answer its client sent
    the next request or closed. ``cut=True``: it sends only part of each body, then closes.
    """

    def __init__(self, cut: bool = False):
        self.cut = cut
        self.listener = socket.create_server((LOCALHOST, 0))
        self.listener.settimeout(0.1)  # accept() wakes up to see whether the check is over
        self.address = self.listener.getsockname()
        self.closed = False
        self.connections: list[list[bytes]] = []  # each connection's request heads, in order
        self.waits: list[tuple[str, float]] = []  # (path answered, seconds until the client's next move)
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed: the check is over
                return
            sock.settimeout(30)
            self.open.append(sock)
            self.connections.append([])
            in_background(self._serve, sock, self.connections[-1])

    def _serve(self, sock: socket.socket, heads: list[bytes]):
        pending, answered = b"", None  # answered: (path, when its last byte left)
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = sock.recv(65536)
                if answered:
                    self.waits.append((answered[0], time.monotonic() - answered[1]))
                    answered = None
                if not chunk:
                    sock.close()
                    return
                pending += chunk
            head, _, pending = pending.partition(b"\r\n\r\n")
            heads.append(head)
            path = head.split(b"\r\n")[0].split(b" ")[1:2]
            path = path[0].decode("ascii", "replace") if path else ""
            pieces = ANSWERS.get(path, [MISSING])
            if self.cut:  # Content-Length: 13, and 5 bytes of body
                pieces = [HELLO[:-8]]
            for i, piece in enumerate(pieces):
                if i:
                    time.sleep(PAUSE)
                sock.sendall(piece)
            if self.cut or b"\r\nconnection: close" in head.lower():  # asked to close: it does, as HTTP says
                sock.close()
                return
            answered = (path, time.monotonic())

    def close(self):
        self.closed = True
        self.listener.close()
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes its thread up, and the client's recv(): b""
                sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@checker("get_many")
def check_get_many(get_many, httpbin=None):
    """``get_many(host, port, paths, timeout=5.0)`` GETs each path in turn over one kept-alive
    connection and returns a list of ``(status, headers, body)``, each body read to its Content-Length.

    Tried on a server of the check's own, which never closes first and sends each answer in
    pieces (a head in two, a body in three, an empty body, 200 kB holding b"\\r\\n\\r\\n", a
    header name in lower case); then on httpbin; a server that never answers must be given up
    after ``timeout``, and one that closes in the middle of a body must raise ConnectionError.
    """
    paths = ["/hello", "/missing", "/data", "/hello"]
    keep_alive = ("the server keeps the connection open after each answer, as HTTP/1.1 servers do: it never closes "
                  'to say "the end". ' + ONE_ANSWER)
    with KeptAliveServer() as server:
        host, port = server.address
        shown = f"get_many({host!r}, {port}, {paths})"
        finished, answers, error = run_with_limit(get_many, (host, port, paths), limit=4)
        heads = [head for conn in server.connections for head in conn]
        _check_requests(heads, host, port)
        if not finished or isinstance(error, TimeoutError):
            last = heads[-1].split(b"\r\n")[0].decode("ascii", "replace") if heads else "no request"
            got = "it was still running after 4 s" if not finished else f"it raised {describe_exception(error)}"
            hint = keep_alive
            if last.startswith("GET /missing"):
                hint = ("Content-Length: 0 means no body at all: when the body is complete already, do not call recv() "
                        "again (it would wait for bytes that never come)")
            elif not server.connections or not heads:
                hint = 'end each request line and header with "\\r\\n", and the head with an empty line'
            raise Failure(f"{shown} to return, the last request sent being {last!r}", got, hint)
        if isinstance(error, NotImplementedError):
            raise NotDone(stub_message(get_many, error))
        if error is not None:
            last = heads[-1].split(b"\r\n")[0].decode("ascii", "replace") if heads else "no request"
            raise Failure(f"{shown} to return a result (request {len(heads)}, the last sent, was {last!r})",
                          f"it raised {describe_exception(error)}", ONE_ANSWER)
        if answers is Ellipsis:
            raise NotDone("get_many() returns ... (Ellipsis)")
        expect(isinstance(answers, list) and len(answers) == len(paths), f"a list of {len(paths)} answers, one per path",
               short(answers), "return a list: one (status, headers, body) per path, in the order of the paths")
        expect(len(server.connections) == 1, "the 4 requests sent on one connection",
               f"{plural(len(server.connections), 'connection')}",
               "connect once, before the first request, and send every request on that connection")
        for i, (path, answer) in enumerate(zip(paths, answers)):
            status, length, body = EXPECTED[path]
            what = f"answer {i + 1}, to GET {path}"
            expect(isinstance(answer, tuple) and len(answer) == 3, f"{what}: (status, headers, body)", short(answer),
                   "one tuple of three per path")
            got_status, headers, got_body = answer
            expect_equal(got_status, status, f"the status of {what}", "the second word of the status line, as an int")
            named = isinstance(headers, dict) and "content-length" in {str(name).lower() for name in headers}
            expect(isinstance(headers, dict) and headers.get("content-length") == length,
                   f"headers['content-length'] == {length!r} in {what}", short(headers),
                   "header names in lower case: a server may write Content-Length or content-length" if named else
                   ONE_ANSWER)
            expect_equal(got_body, body, f"the body of {what}, {int(length):,} bytes",
                         "receive until the body has Content-Length bytes: one recv() gets only what has arrived "
                         "so far, and the first may hold the start of the body with the end of the head")
        slow = [(path, seconds) for path, seconds in server.waits if seconds > WAITED_TOO_LONG]
        expect(not slow, "each next request (or the end) at once after an answer was complete",
               f"{slow[0][1]:.1f} s of waiting after the answer to {slow[0][0]}" if slow else "",
               "once Content-Length bytes of body are in, the answer is complete: do not wait for more")
    with sandbox_server("httpbin", httpbin) as hb:
        real = ["/get?n=1", "/bytes/102400?seed=19605", "/status/404", "/html", "/get?n=2"]
        answers = call(get_many, hb.host, hb.port, real, limit=5, hint=keep_alive)
        expect(isinstance(answers, list) and len(answers) == len(real), f"a list of {len(real)} answers from httpbin",
               short(answers), "one (status, headers, body) per path")
        for path, (status, headers, body) in zip(real, answers):
            if path.startswith("/get"):
                expect_equal(status, 200, f"the status of GET {path} on httpbin")
                expect_equal(json.loads(body)["args"], {"n": path[-1]}, f"the args httpbin saw for {path}",
                             "send each path as given, query string included")
            else:
                expect_equal(body, _fetch(hb, path), f"the body of GET {path} on httpbin",
                             "read exactly Content-Length bytes of body, however many recv() calls that takes")
    with silent_server() as (host, port):
        finished, _, _ = run_with_limit(get_many, (host, port, ["/"]), {"timeout": 0.5}, limit=3)
        expect(finished, f"get_many({host!r}, {port}, ['/'], timeout=0.5) to give up after 0.5 s on a server that never answers",
               "it was still running after 3 s",
               "connect with socket.create_connection((host, port), timeout=timeout): a recv() then gives up in time")
    with KeptAliveServer(cut=True) as server:
        host, port = server.address
        call_raising(ConnectionError, get_many, host, port, ["/hello"], limit=3,
                     expected=f"ConnectionError from get_many({host!r}, {port}, ['/hello']) when the server closes "
                              "after 5 of the 13 bytes its Content-Length announced",
                     hint='recv() returns b"" once the server has closed, and every time after: the body will never be '
                          "complete; raise ConnectionError then (a loop that keeps calling recv() never ends: "
                          "restart the kernel to stop it)")
    return ("4 answers on one connection that the server never closed (a head in pieces, an empty body, 200 kB); "
            "5 from httpbin; a silent server given up; a cut answer raised ConnectionError")
