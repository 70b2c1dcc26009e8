"""The waitress servers (httpbin, messaging) under a class: many idle
connections, a body too large, and "Expect: 100-continue" without a body.

Each test starts a real server with sandbox.launch() and talks to it over
raw sockets on this machine, so that it sees exactly what waitress sends.
"""

from __future__ import annotations

import contextlib
import socket

import pytest

from sandbox import launch

IDLE = 500  # connections a class's browsers may hold open, idle (keep-alive)


def exchange(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        return reply


def get(port: int, path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close", *headers, "", ""]
    return exchange(port, "\r\n".join(lines).encode())


def status_of(reply: bytes) -> bytes:
    return reply.split(b"\r\n", 1)[0]


def assert_fresh_request_answered_despite_idle(port: int, path: str) -> None:
    with contextlib.ExitStack() as stack:
        for _ in range(IDLE):  # connect and send nothing, as an idle browser does
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        # Before the fix, waitress stopped accepting at 100 (or 400) connections:
        # this request waited in the backlog and timed out.
        assert status_of(get(port, path)) == b"HTTP/1.1 200 OK"


def test_httpbin_answers_with_500_idle_connections():
    with launch("httpbin", replace=False) as server:
        assert_fresh_request_answered_despite_idle(server.port, "/get")


@pytest.mark.parametrize("workers", [1, 2])
def test_messaging_answers_with_500_idle_connections(tmp_path, workers):
    with launch("messaging", replace=False, db=tmp_path / "m.sqlite3", workers=workers, quiet=True) as server:
        assert_fresh_request_answered_despite_idle(server.port, "/api/v1/users")


@pytest.mark.parametrize("name", ["httpbin", "messaging"])
def test_expect_100_continue_without_body_is_answered(tmp_path, name):
    options = {"db": tmp_path / "m.sqlite3", "quiet": True} if name == "messaging" else {}
    path = "/get" if name == "httpbin" else "/api/v1/users"
    with launch(name, replace=False, **options) as server:
        # Before the fix: "100 Continue", then nothing until channel_timeout.
        reply = get(server.port, path, "Expect: 100-continue")
    assert b"HTTP/1.1 200 OK" in reply


def test_httpbin_refuses_a_huge_body_without_reading_it():
    """waitress's 413 comes after at most its limit (11 MiB), not after the whole body."""
    with launch("httpbin", replace=False) as server:
        size = 300 * 1024 * 1024
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % size)
            sent = 0
            chunk = b"x" * (1024 * 1024)
            with contextlib.suppress(OSError):  # the server closes while we still send
                while sent < size:
                    sock.sendall(chunk)
                    sent += len(chunk)
            reply = b""
            with contextlib.suppress(OSError):
                while data := sock.recv(65536):
                    reply += data
        assert sent < 100 * 1024 * 1024  # it stopped reading long before the 300 MiB
        assert status_of(reply) == b"HTTP/1.1 413 Request Entity Too Large", reply[:200]
        assert status_of(get(server.port, "/get")) == b"HTTP/1.1 200 OK"  # and still serves
