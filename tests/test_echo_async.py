"""The asyncio echo server (chapter 12): every byte back, many clients on one thread, limits."""

from __future__ import annotations

import os
import socket
import threading

import psutil
import pytest

from sandbox import launch
from socket_helpers import recv_all


@pytest.fixture(scope="module")
def echo():
    with launch("echo-async", replace=False, idle_timeout=1, max_connections=300) as srv:
        yield srv


def roundtrip(address, payload: bytes) -> bytes:
    received = bytearray()
    with socket.create_connection(address, timeout=10) as conn:
        reader = threading.Thread(target=lambda: received.extend(recv_all(conn)))
        reader.start()
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        reader.join(20)
    return bytes(received)


def test_echoes_bytes_exactly(echo):
    assert roundtrip(echo.address, b"hello") == b"hello"
    assert roundtrip(echo.address, b"") == b""
    payload = os.urandom(3 * 1024 * 1024)  # more than the buffers: drain() waits for the reader
    assert roundtrip(echo.address, payload) == payload


def test_many_clients_on_one_thread(echo):
    clients = []
    try:
        for i in range(250):  # each sends at once: the fixture's server closes a client idle for 1 s
            clients.append(socket.create_connection(echo.address, timeout=10))
            clients[-1].sendall(f"{i}\n".encode())
        assert [conn.recv(100) for conn in clients] == [f"{i}\n".encode() for i in range(250)]
        assert psutil.Process(echo.pid).num_threads() < 10  # one event loop (and a watcher or two)
    finally:
        for conn in clients:
            conn.close()


def test_a_silent_client_is_closed_after_the_idle_timeout(echo):
    with socket.create_connection(echo.address, timeout=10) as conn:
        assert conn.recv(100) == b""  # after 1 s, the server closes
    assert echo.wait_for("idle for 1 s, closed by server")


def test_beyond_the_limit_a_client_is_told_and_closed():
    with launch("echo-async", replace=False, max_connections=2) as srv:
        first, second = (socket.create_connection(srv.address, timeout=10) for _ in range(2))
        first.sendall(b"a")
        second.sendall(b"b")
        assert (first.recv(10), second.recv(10)) == (b"a", b"b")  # both are served
        with socket.create_connection(srv.address, timeout=10) as third:
            assert recv_all(third).startswith(b"server busy")
        first.sendall(b"still")
        assert first.recv(10) == b"still"
        first.close()
        second.close()
    assert "echo-async stopped" in srv.log
