"""The tap: bytes passed on exactly, ends mirrored, a record in bounded memory, bad targets and clients.

Every target is on this machine: the echo server, or a small server in this
test's own thread when the test must see what the target received.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import struct
import subprocess
import sys
import threading
import urllib.request

import pytest

from sandbox import launch
from sandbox.wire import Diagram
from socket_helpers import echoed_at_once, payload_of, recv_all

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def echo():
    with launch("echo", replace=False) as srv:
        yield srv


@pytest.fixture
def tap(echo):
    with launch("tap", target=echo, replace=False) as tap:
        yield tap


def roundtrip(address, payload: bytes) -> bytes:
    """Send ``payload`` and half-close while reading in parallel, then read to the end."""
    received = []
    with socket.create_connection(address, timeout=10) as conn:
        reader = threading.Thread(target=lambda: received.append(recv_all(conn)))
        reader.start()
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        reader.join(20)
    return received[0]


def send_reset(conn: socket.socket) -> None:
    """Close with a reset, an abort (SO_LINGER on, 0 s)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@contextlib.contextmanager
def one_shot_server(handle):
    """A target for one connection, served by ``handle(conn)`` in a thread; yields its "host:port"."""
    errors = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve():
            try:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(10)
                    handle(conn)
            except Exception as error:  # shown by the assertion below
                errors.append(error)

        thread = threading.Thread(target=serve)
        thread.start()
        yield f"127.0.0.1:{listener.getsockname()[1]}"
        thread.join(10)
    assert not thread.is_alive() and not errors, errors


def kinds(events, conn=None):
    return [(e.kind, e.direction) for e in events if conn is None or e.conn == conn]


def test_forwards_bytes_exactly_both_ways(tap):
    payload = random.Random(1).randbytes(3 * MiB)
    small = "héllo wörld ✓\r\n\x00\xff".encode()
    assert roundtrip(tap.address, payload) == payload
    assert roundtrip(tap.address, small) == small
    record = tap.exchanges(wait=True)
    first, second = record.connections[1], record.connections[2]
    assert first.closed and first.bytes == {"c>s": 3 * MiB, "s>c": 3 * MiB}
    assert sum(e.size for e in record if e.conn == 1 and e.kind == "data" and e.direction == "c>s") == 3 * MiB
    assert b"".join(e.preview for e in record if e.conn == 2 and e.direction == "c>s") == small
    assert all(len(e.preview) <= 64 for e in record)
    assert tap.running and "Traceback" not in tap.log


def test_what_the_client_saw_is_in_the_record_at_once(tap):
    with socket.create_connection(tap.address, timeout=5) as conn:
        conn.sendall(b"ping")
        assert conn.recv(4) == b"ping"
        # No wait: the tap records each chunk before passing it on.
        assert kinds(tap.exchanges()) == [("open", ""), ("data", "c>s"), ("data", "s>c")]
        assert [e.preview for e in tap.exchanges() if e.kind == "data"] == [b"ping", b"ping"]
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1) == b""  # the server's FIN, passed on by the tap: recorded already
        assert kinds(tap.exchanges())[3:5] == [("fin", "c>s"), ("fin", "s>c")]
    record = tap.exchanges(wait=True)  # the close follows at once
    assert record[-1].kind == "close" and record.connections[1].closed
    assert record.connections[1].bytes == {"c>s": 4, "s>c": 4}
    assert [e.t_ms for e in record] == sorted(e.t_ms for e in record)


def test_a_half_close_stays_a_half_close_from_the_client():
    def answer_after_end_of_data(conn):  # reads to the end, then answers: needs a half-close
        conn.sendall(b"got %d bytes" % len(recv_all(conn)))

    with one_shot_server(answer_after_end_of_data) as target, launch("tap", target=target, replace=False) as tap:
        with socket.create_connection(tap.address, timeout=5) as conn:
            conn.sendall(b"abc")
            conn.shutdown(socket.SHUT_WR)
            assert recv_all(conn) == b"got 3 bytes"
        assert kinds(tap.exchanges(wait=True)) == [
            ("open", ""), ("data", "c>s"), ("fin", "c>s"), ("data", "s>c"), ("fin", "s>c"), ("close", "")]


def test_a_half_close_stays_a_half_close_from_the_server():
    received = []

    def speak_first_then_listen(conn):
        conn.sendall(b"hello")
        conn.shutdown(socket.SHUT_WR)
        received.append(recv_all(conn))

    with one_shot_server(speak_first_then_listen) as target, launch("tap", target=target, replace=False) as tap:
        with socket.create_connection(tap.address, timeout=5) as conn:
            assert recv_all(conn) == b"hello"  # the server's FIN: its side has ended, ours has not
            conn.sendall(b"late words")
            conn.shutdown(socket.SHUT_WR)
            assert tap.exchanges(wait=True).connections[1].closed
    assert received == [b"late words"]
    assert kinds(tap.exchanges()) == [
        ("open", ""), ("data", "s>c"), ("fin", "s>c"), ("data", "c>s"), ("fin", "c>s"), ("close", "")]


def test_a_client_that_vanishes_is_a_reset_for_the_server():
    seen = []
    got_it = threading.Event()

    def read_until_reset(conn):
        seen.append(conn.recv(100))
        got_it.set()
        with pytest.raises(ConnectionResetError):
            conn.recv(100)
        seen.append("reset")

    with one_shot_server(read_until_reset) as target, launch("tap", target=target, replace=False) as tap:
        conn = socket.create_connection(tap.address, timeout=5)
        conn.sendall(b"half a mess")
        assert got_it.wait(5)
        send_reset(conn)
        record = tap.exchanges(wait=True)
    assert seen == [b"half a mess", "reset"]
    assert kinds(record)[-2:] == [("reset", "c>s"), ("close", "")]
    assert "reset by the client" in tap.log and "Traceback" not in tap.log


def test_a_server_reset_is_a_reset_for_the_client():
    def reset_after_reading(conn):
        conn.recv(100)
        send_reset(conn)

    with one_shot_server(reset_after_reading) as target, launch("tap", target=target, replace=False) as tap:
        with socket.create_connection(tap.address, timeout=5) as conn:
            conn.sendall(b"hello?")
            with pytest.raises(ConnectionResetError):
                conn.recv(100)
            assert ("reset", "s>c") in kinds(tap.exchanges())  # recorded before the client saw it
        assert kinds(tap.exchanges(wait=True)) == [("open", ""), ("data", "c>s"), ("reset", "s>c"), ("close", "")]


def test_a_refusing_target_resets_the_client_and_the_tap_goes_on():
    with socket.socket() as nobody:  # bound, not listening: a connection to it is refused
        nobody.bind(("127.0.0.1", 0))
        with launch("tap", target=f"127.0.0.1:{nobody.getsockname()[1]}", replace=False) as tap:
            for _ in range(2):
                # The reset may come as soon as the connection does (the client's connect()
                # may already see it, under load), or at its first send or receive.
                with pytest.raises(ConnectionResetError):
                    with socket.create_connection(tap.address, timeout=5) as conn:
                        conn.sendall(b"anyone?")
                        conn.recv(100)
            record = tap.exchanges(wait=True, connections=2)
            assert tap.running
    assert kinds(record, 1) == kinds(record, 2) == [("open", ""), ("error", ""), ("close", "")]
    error = record.connections[2].errors[0]
    assert "did not accept" in error and "refused" in error.lower() and "client reset" in error
    assert "Traceback" not in tap.log


def test_a_hundred_connections_at_once(echo):
    with launch("tap", target=echo, replace=False) as tap:
        assert echoed_at_once(tap.address, clients=100, repeat=200)
        connections = tap.exchanges(wait=True, connections=100, timeout=10).connections
    assert sorted(connections) == list(range(1, 101))
    assert all(c.closed and c.bytes["c>s"] == c.bytes["s>c"] for c in connections.values())
    assert sorted(c.bytes["c>s"] for c in connections.values()) == sorted(len(payload_of(i, 200)) for i in range(100))


def test_fifty_megabytes_in_a_bounded_record(echo):
    payload = random.Random(2).randbytes(50 * MiB)
    with launch("tap", target=echo, replace=False) as tap:
        received = roundtrip(tap.address, payload)
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
        record = tap.exchanges(wait=True, timeout=10)
        size = tap.record.stat().st_size
    conn = record.connections[1]
    assert conn.closed and conn.bytes == {"c>s": 50 * MiB, "s>c": 50 * MiB}  # exact
    assert conn.chunks["c>s"] >= 50 * MiB // 65536  # at most 64 KiB a chunk
    assert conn.recorded == 200  # --keep-chunks's default
    assert size < 100_000, "the record holds a preview of each kept chunk, not the data"
    assert "not recorded" in Diagram(record)._repr_html_()


def test_the_record_keeps_a_number_of_chunks_in_all(echo):
    with launch("tap", target=echo, replace=False, keep_in_all=5, preview=4) as tap:
        for i in range(4):
            with socket.create_connection(tap.address, timeout=5) as conn:
                conn.sendall(b"message %d" % i)
                assert conn.recv(100) == b"message %d" % i  # a chunk each way, at least
        record = tap.exchanges(wait=True, connections=4)
    assert sum(e.kind == "data" for e in record) == 5
    assert all(e.preview == b"mess" for e in record if e.kind == "data")
    assert all(c.closed and c.bytes == {"c>s": 9, "s>c": 9} for c in record.connections.values())


def test_a_client_beyond_max_connections_is_closed_and_recorded(echo):
    with launch("tap", target=echo, replace=False, max_connections=1) as tap:
        with socket.create_connection(tap.address, timeout=5) as first:
            first.sendall(b"a")
            assert first.recv(1) == b"a"
            with socket.create_connection(tap.address, timeout=5) as second:
                assert recv_all(second) == b""  # closed, without a byte of the tap's own
            first.sendall(b"b")
            assert first.recv(1) == b"b"
        record = tap.exchanges(wait=True, connections=2)
    assert "its limit (--max-connections)" in record.connections[2].errors[0]
    assert record.connections[1].bytes == {"c>s": 2, "s>c": 2}


def test_an_idle_connection_is_reset_after_the_idle_timeout(echo):
    with launch("tap", target=echo, replace=False, idle_timeout=0.3) as tap:
        with socket.create_connection(tap.address, timeout=5) as conn:
            with pytest.raises(ConnectionResetError):
                conn.recv(1)
        assert "idle for 0.3 s" in tap.exchanges(wait=True).connections[1].errors[0]


def test_an_http_target_gives_the_tap_an_http_url_and_a_readable_record():
    with launch("random", replace=False) as api, launch("tap", target=api, replace=False) as tap:
        assert tap.url.startswith("http://127.0.0.1:") and tap.port != api.port
        with urllib.request.urlopen(tap.url + "/api/random/int?min=1&max=6", timeout=5) as response:
            assert response.status == 200
        diagram = tap.show()
    request = next(e for e in diagram.events if e.kind == "data")
    assert request.direction == "c>s" and request.preview.startswith(b"GET /api/random/int?min=1&max=6 HTTP/1.1\r\n")
    assert "GET /api/random/int?min=1&amp;max=6 HTTP/1.1" in diagram._repr_html_()


def test_the_temporary_record_goes_when_the_tap_stops_and_its_events_stay(tap):
    assert roundtrip(tap.address, b"bye") == b"bye"
    tap.exchanges(wait=True)
    tap.stop()
    assert not tap.record.exists()
    assert tap.exchanges().connections[1].bytes == {"c>s": 3, "s>c": 3}
    assert "bye" in str(tap.show())


@pytest.mark.parametrize("arguments, message", [
    ([], "the following arguments are required: --target"),
    (["--target", "nowhere"], "is not HOST:PORT"),
    (["--target", "127.0.0.1:1", "--max-connections", "1000"], "at most 400"),
])
def test_bad_command_lines_are_clear_errors(arguments, message):
    result = subprocess.run([sys.executable, "-m", "sandbox", "tap", *arguments], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2 and message in result.stderr
