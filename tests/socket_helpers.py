"""Shared helpers for the tests that talk to TCP servers with plain sockets."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor


def recv_all(conn: socket.socket) -> bytes:
    """Everything until the other side closes (or shuts down writing)."""
    return b"".join(iter(lambda: conn.recv(65536), b""))


def payload_of(i: int, repeat: int) -> bytes:
    return f"client {i} ".encode() * repeat


def echoed_at_once(address, clients: int, repeat: int) -> bool:
    """``clients`` connections open at the same moment, each sending its own payload
    (``repeat`` times "client I "), half-closing, and reading it all back: all echoed?"""
    barrier = threading.Barrier(clients)

    def client(i: int) -> bool:
        with socket.create_connection(address, timeout=10) as conn:
            barrier.wait(10)  # all connected at the same time
            conn.sendall(payload_of(i, repeat))
            conn.shutdown(socket.SHUT_WR)
            return recv_all(conn) == payload_of(i, repeat)

    with ThreadPoolExecutor(clients) as pool:
        return all(pool.map(client, range(clients)))
