"""The checks' own small servers: a silent one, a flaky HTTP proxy, static files.

Each listens on 127.0.0.1 only, on a port the system picks, and is stopped by
the ``with`` block that started it.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .helpers import LOCALHOST


class ThreadedHTTPServer(ThreadingHTTPServer):
    """An HTTP server with a thread per connection, none of which keeps Python running."""

    daemon_threads = True
    # The listen() backlog (socketserver's default: 5). The constructor reads it
    # when it listens: set on the class, as on a server afterwards it does nothing.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        """A browser that closes a connection before a file is all sent (it moved on
        to another page) is normal: only other errors get socketserver's traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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
        self.server: ThreadedHTTPServer | None = None

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

        self.server = ThreadedHTTPServer((LOCALHOST, 0), Handler)
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


@contextlib.contextmanager
def static_server(folder):
    """``http://127.0.0.1:PORT``, serving the files of ``folder`` (never cached), until the block ends."""

    class Handler(SimpleHTTPRequestHandler):
        def end_headers(self):
            self.send_header("Cache-Control", "no-store")  # a reload shows the files as saved now
            super().end_headers()

        def log_message(self, format, *args):
            pass

    server = ThreadedHTTPServer((LOCALHOST, 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, name="static-files", daemon=True)
    thread.start()
    try:
        yield f"http://{LOCALHOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
