"""The echo server: every byte back, many clients, silent and vanishing clients."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from sandbox import launch
from socket_helpers import echoed_at_once, recv_all


@pytest.fixture(scope="module")
def echo():
    with launch("echo", replace=False, idle_timeout=1) as srv:
        yield srv


def roundtrip(address, payload: bytes) -> bytes:
    """Send ``payload`` while reading the echo in parallel (a large payload would
    otherwise fill both directions' buffers and block), then read to the end."""
    received = bytearray()
    with socket.create_connection(address, timeout=10) as conn:
        reader = threading.Thread(target=lambda: received.extend(recv_all(conn)))
        reader.start()
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)  # "I am done sending": the server sees b""
        reader.join(20)
    return bytes(received)


def test_echoes_bytes_exactly(echo):
    assert roundtrip(echo.address, b"hello") == b"hello"
    assert roundtrip(echo.address, "héllo wörld ✓".encode()) == "héllo wörld ✓".encode()
    assert roundtrip(echo.address, b"") == b""


def test_large_message_comes_back_whole(echo):
    payload = os.urandom(5 * 1024 * 1024)
    assert roundtrip(echo.address, payload) == payload


def test_several_sends_on_one_connection(echo):
    with socket.create_connection(echo.address, timeout=5) as conn:
        for word in (b"one", b"two", b"three"):
            conn.sendall(word)
            got = b""
            while len(got) < len(word):
                got += conn.recv(100)
            assert got == word


def test_fifty_simultaneous_clients(echo):
    assert echoed_at_once(echo.address, clients=50, repeat=1000)


def test_silent_client_is_closed_and_blocks_nobody(echo):
    with socket.create_connection(echo.address, timeout=5) as silent:
        assert roundtrip(echo.address, b"meanwhile") == b"meanwhile"
        assert silent.recv(1) == b""  # closed by the server after its 1 s idle timeout
    assert echo.wait_for("closed by server")


def test_client_vanishing_mid_message(echo):
    conn = socket.create_connection(echo.address, timeout=5)
    conn.sendall(b"half a mess")
    # SO_LINGER 0: close() sends a reset, as a crashed client would
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()
    assert roundtrip(echo.address, b"still here") == b"still here"
