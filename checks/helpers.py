"""What the checkers share: sandbox servers, socket pairs, a silent server, a flaky proxy.

Everything here listens on 127.0.0.1 only, on a port the system picks, and is
stopped by the ``with`` block (or the ``finally``) that started it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from http import HTTPStatus
import functools
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .core import Failure

LOCALHOST = "127.0.0.1"


@contextlib.contextmanager
def sandbox_server(name: str, given=None, **options):
    """The sandbox server ``given`` (the notebook's own), or one launched for this check.

    A server launched here is stopped when the block ends; the notebook's own
    servers are left alone (even one of the same name: ``replace=False``).
    """
    if given is not None:
        if not getattr(given, "running", False):
            raise Failure(
                f"the {name} server given to the check to be running",
                f"{given!r}",
                "run the cell near the top that launches it, then this check again",
            )
        yield given
        return
    from sandbox import launch

    server = launch(name, replace=False, **options)  # the notebook's own servers stay as they are
    try:
        yield server
    finally:
        server.stop()


class Remote:
    """A server the notebook did not launch (an instructor's, for the whole class), given by URL.

    It has what checkers use of a sandbox ``Server``, so it can be passed where one is
    expected: ``check_inbox(read_inbox, Remote("http://192.168.1.10:8000"))``.
    """

    running = True

    def __init__(self, url: str):
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"{url!r}: give the scheme, host and port, e.g. http://192.168.1.10:8000")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.url = f"{parts.scheme}://{parts.netloc}"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __repr__(self) -> str:
        return f"<remote server at {self.url}>"


def connected_pair(timeout: float = 5.0) -> tuple[socket.socket, socket.socket]:
    """Both ends of one TCP connection on this machine: ``(client, server)``."""
    with socket.create_server((LOCALHOST, 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=timeout)
        server, _ = listener.accept()
    server.settimeout(timeout)
    return client, server


def in_background(fn, *args) -> threading.Thread:
    """Run ``fn(*args)`` in a daemon thread, started; ``join()`` it to wait."""
    thread = threading.Thread(target=_quietly, args=(fn, *args), daemon=True)
    thread.start()
    return thread


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except OSError:  # the other end went away: what the check looks at is the other end
        pass


def send_in_pieces(sock: socket.socket, data: bytes, sizes=(1, 2, 3, 1000, 7, 65536), close: bool = True) -> None:
    """Send ``data`` in pieces of these sizes (cycling), then shut down writing (``close``)."""
    position, i = 0, 0
    while position < len(data):
        size = sizes[i % len(sizes)]
        sock.sendall(data[position : position + size])
        position += size
        i += 1
    if close:
        sock.shutdown(socket.SHUT_WR)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the other end shuts down writing or closes."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def free_port() -> int:
    """A port on 127.0.0.1 where nobody listens (connecting there is refused)."""
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def silent_server():
    """``(host, port)`` of a server that lets clients connect and never answers.

    It listens but never accepts: the operating system completes the handshake,
    then nothing. Closing it at the end resets the waiting connections, which
    ends a client that was stuck waiting there.
    """
    listener = socket.create_server((LOCALHOST, 0), backlog=16)
    try:
        yield listener.getsockname()
    finally:
        listener.close()


class FlakyProxy:
    """An HTTP proxy in front of one server: logs every request, fails on demand.

        with FlakyProxy(rnd.url, only="/api/random/") as proxy:
            proxy.fail(2, status=503)     # the next 2 requests under /api/random/ get a 503
            client = RandomClient(proxy.url)
            ...
            proxy.count("/api/random/")   # how many requests reached the proxy there

    The failures are JSON errors in the sandbox APIs' format:
    ``{"status": 503, "error": "Service Unavailable", "message": ...}``.
    """

    def __init__(self, target_url: str, only: str = "/"):
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port)
        self.only = only
        self.failures: list[tuple[int, str]] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, times: int, status: int = 503, message: str = "") -> None:
        """The next ``times`` requests under ``only`` get this status, not the real answer."""
        with self.lock:
            self.failures += [(status, message or f"{HTTPStatus(status).phrase} (sent by the check)")] * times

    def count(self, prefix: str = "/") -> int:
        with self.lock:
            return sum(path.startswith(prefix) for _, path, _ in self.log)

    def reset(self) -> None:
        with self.lock:
            self.failures.clear()
            self.log.clear()

    def __enter__(self) -> "FlakyProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real servers do
            timeout = 30
            disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms wait

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                failure = None
                with proxy.lock:
                    if self.path.startswith(proxy.only) and proxy.failures:
                        failure = proxy.failures.pop(0)
                if failure:
                    status, message = failure
                    data = json.dumps({"status": status, "error": HTTPStatus(status).phrase, "message": message}).encode()
                    content_type = "application/json"
                else:
                    status, content_type, data = proxy._forward(self.command, self.path, self.headers, body)
                with proxy.lock:
                    proxy.log.append((self.command, self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="flaky-proxy", daemon=True).start()
        return self

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self.target, timeout=30)
        try:
            kept = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "keep-alive")}
            conn.request(method, path, body=body, headers=kept)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type", "application/json"), response.read()
        finally:
            conn.close()

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- a Flask application, through its test client ----------------------------------


def flask_request(client, method: str, url: str, hint: str = "", **kwargs):
    """``client.open(url, method=method, **kwargs)``: the response of the student's application.

    With ``app.testing = True`` an exception in a view reaches us instead of
    becoming a 500: a view still raising NotImplementedError is "not done yet",
    and any other exception is reported with the line of the view that raised it.
    """
    from .core import NotDone, describe_exception, run_with_limit, student_frames

    finished, response, error = run_with_limit(client.open, (url,), dict(method=method, **kwargs))
    if not finished:
        raise Failure(f"an answer to {method} {url} within 10 s", "the view was still running", hint)
    if isinstance(error, NotImplementedError):
        frames = student_frames(error)
        view = f"{frames[-1].name}()" if frames else "its view"
        raise NotDone(f"{method} {url}: {view} still raises NotImplementedError: {error}")
    if error is not None:
        raise Failure(f"an answer to {method} {url}", f"the application raised {describe_exception(error)}", hint)
    return response


def expect_json_error(response, status: int, request: str, hint: str = "") -> dict:
    """The response is an error in the course's shape, with this status:
    ``{"status": 404, "error": "Not Found", "message": "..."}`` (plus ``details`` for a 422)."""
    from werkzeug.http import HTTP_STATUS_CODES  # Flask's names: "Unprocessable Entity" for 422

    from .core import expect, short

    shape_hint = hint or 'every error is JSON: {"status": ..., "error": ..., "message": ...} (see the error handler)'
    name = HTTP_STATUS_CODES[status]
    expect(response.status_code == status, f"{request}: status {status} {name}",
           f"{response.status_code} {short(response.get_data(as_text=True))}", hint)
    body = response.get_json(silent=True)
    expect(response.mimetype == "application/json" and isinstance(body, dict),
           f"{request}: a JSON error", f"{response.content_type}: {short(response.get_data(as_text=True))}", shape_hint)
    keys = set(body) - {"details"}
    expect(keys == {"status", "error", "message"} and body["status"] == status
           and body["error"] == name and isinstance(body["message"], str) and body["message"],
           f'{request}: {{"status": {status}, "error": "{name}", "message": "..."}}',
           short(body, 120), shape_hint)
    return body


@contextlib.contextmanager
def static_server(folder):
    """``http://127.0.0.1:PORT``, serving the files of ``folder`` (never cached), until the block ends."""

    class Handler(SimpleHTTPRequestHandler):
        def end_headers(self):
            self.send_header("Cache-Control", "no-store")  # a reload shows the files as saved now
            super().end_headers()

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="static-files", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
