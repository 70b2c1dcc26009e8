"""A class at once on the stdlib servers (echo, contacts, random): bounded threads, bounded time.

- at most --max-connections are served at once; one more gets a clear refusal
  in the server's own protocol, and the server goes on serving;
- a contacts or HTTP request must arrive whole within the idle timeout, however
  slowly it trickles in (a timeout per recv() would let a byte every few
  seconds hold a thread for ever);
- a thousand connections make no more threads than the limit.

Everything on loopback, with small limits so that each test takes seconds.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time

import psutil
import pytest

from sandbox import launch

LIMIT = 3


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (or resets it: see SandboxServer.refuse)."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def assert_refused(name: str, answer: bytes, limit: int = LIMIT) -> None:
    """The refusal of each server, in its own protocol, saying why."""
    if name == "echo":  # one line of text
        assert answer.decode() == f"server busy: it already serves {limit} connection(s), its limit; try again in a moment\n"
    elif name == "contacts":  # the protocol's error line
        assert answer.endswith(b"\n") and answer.count(b"\n") == 1
        response = json.loads(answer)
        assert response["status"] is False and response["data"] is None
        assert f"server busy: it already serves {limit} connection(s)" in response["msg"]
    else:  # an HTTP 503, with the API's JSON error
        head, _, body = answer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {key.lower(): value.strip() for key, _, value in (line.partition(":") for line in header_lines)}
        assert status_line == "HTTP/1.1 503 Service Unavailable"
        assert headers["content-type"] == "application/json; charset=utf-8"
        assert int(headers["content-length"]) == len(body) and int(headers["retry-after"]) > 0
        error = json.loads(body)
        assert error["status"] == 503 and error["error"] == "Service Unavailable"
        assert f"it already serves {limit} connection(s)" in error["message"]


EXCHANGES = {  # server: (a request, the start of its answer)
    "echo": (b"ping", b"ping"),
    "contacts": (b'{"cmd": "list"}\n', b'{"status": true'),
    "random": (b"GET /api/random/int HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 "),
}


def served(name: str, address) -> bool:
    """One exchange on a new connection: True if served, False if refused."""
    request, answer_start = EXCHANGES[name]
    with socket.create_connection(address, timeout=5) as conn:
        with contextlib.suppress(OSError):  # refused, the connection may be closed (or reset) already
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)  # each server answers, then reads end of file and closes
        answer = read_all(conn)
    if answer.startswith(answer_start):
        return True
    if answer:  # (a reset may have dropped it on some systems)
        assert_refused(name, answer)
    return False


def served_again(name: str, address, within: float = 5.0) -> bool:
    """True once a new connection is served: a client that leaves frees its place a moment later."""
    deadline = time.monotonic() + within
    while not served(name, address):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("name", ["echo", "contacts", "random"])
def test_one_connection_beyond_the_limit_is_refused_and_the_others_are_served(name):
    with launch(name, replace=False, max_connections=LIMIT) as srv:
        held = [socket.create_connection(srv.address, timeout=5) for _ in range(LIMIT)]
        try:
            # The server accepts connections in the order they came: these
            # three hold the three places when it accepts the next ones.
            for _ in range(2):
                with socket.create_connection(srv.address, timeout=5) as extra:
                    assert_refused(name, read_all(extra))
            assert srv.wait_for(f"refused: already serving {LIMIT} connection(s), the limit (--max-connections)")
            request, answer_start = EXCHANGES[name]
            held[0].sendall(request)  # the held connections are served as before
            with held[0].makefile("rb") as answer:
                assert answer.read(len(answer_start)) == answer_start
            held.pop().close()  # one leaves: its place is free again
            assert served_again(name, srv.address)
        finally:
            for conn in held:
                conn.close()
    assert "Traceback" not in srv.log


def trickle(address, first: bytes, byte_every: float, at_most: float) -> tuple[float, bytes]:
    """Send ``first``, then one byte every ``byte_every`` seconds, never ending the request.

    Returns when the server ends the connection (or after ``at_most`` seconds):
    the time it took, and what the server sent.
    """
    started = time.monotonic()
    received = b""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(first)
        conn.settimeout(byte_every)
        try:
            while time.monotonic() - started < at_most:
                conn.sendall(b"x")
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:  # nothing from the server yet: go on trickling
                    continue
                received += chunk
                if not chunk:
                    break
        except ConnectionError:  # reset: the server closed while we were sending
            pass
    return time.monotonic() - started, received


def test_a_contacts_request_trickled_byte_by_byte_is_cut_at_its_deadline():
    with launch("contacts", replace=False, idle_timeout=1) as srv:
        took, received = trickle(srv.address, b'{"cmd": "list", "pad": "', byte_every=0.2, at_most=6)
        assert 0.9 < took < 3  # the idle timeout, counted once for the whole request
        response = json.loads(received)
        assert response["status"] is False
        assert response["msg"].startswith("no complete request within 1 s: closing the connection")
        assert served("contacts", srv.address)  # and it goes on serving the others


def test_http_headers_trickled_one_by_one_are_cut_at_the_deadline():  # "slowloris"
    with launch("random", replace=False, idle_timeout=1) as srv:
        took, received = trickle(srv.address, b"GET /api/random/int HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                                 byte_every=0.2, at_most=6)
        assert 0.9 < took < 3
        assert received == b""  # closed without an answer, as http.server does on a timeout
        assert srv.wait_for("Request timed out: TimeoutError('no complete request within 1 s')")
        assert served("random", srv.address)


@pytest.mark.parametrize("headers, why", [
    (b"X-Big: " + b"x" * 60_000 + b"\r\n" + b"X-Big-Too: " + b"y" * 60_000 + b"\r\n" + b"X-More: " + b"z" * 20_000
     + b"\r\n", "more than 128 KiB"),  # three lines under http.server's 64 KiB each, 140 kB in all
    (b"".join(b"X-%d: 1\r\n" % i for i in range(120)), "more than 100 headers"),
])
def test_http_headers_are_bounded_in_all_431_and_the_server_goes_on(headers, why):
    from sandbox.random_api import MAX_HEAD

    assert MAX_HEAD == 128 * 1024
    with launch("random", replace=False) as srv, socket.create_connection(srv.address, timeout=10) as sock:
        sock.sendall(b"GET /api/random/int HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
        assert (response.status, body["status"], body["error"]) == (431, 431, "Request Header Fields Too Large")
        assert why in body["message"]
        assert served("random", srv.address)


def test_a_keep_alive_client_gets_the_whole_timeout_for_each_request():
    with launch("random", replace=False, idle_timeout=1) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        try:
            sockets = set()
            for _ in range(3):  # 3 requests 0.6 s apart: 1.8 s in all, each one in time
                time.sleep(0.6)
                conn.request("GET", "/api/random/int")
                response = conn.getresponse()
                assert response.status == 200 and response.read()
                sockets.add(conn.sock)
            assert len(sockets) == 1  # all on one connection
        finally:
            conn.close()


def test_a_thousand_connections_make_no_more_threads_than_the_limit():
    limit = 20
    with launch("echo", replace=False, max_connections=limit) as srv:
        server = psutil.Process(srv.pid)
        before = server.num_threads()
        conns = []
        try:
            for _ in range(1000):  # one after the other: all of them stay open on our side
                conns.append(socket.create_connection(srv.address, timeout=5))
            assert server.num_threads() <= before + limit
            for conn in conns[limit:]:  # each of the others was told why, and closed
                assert_refused("echo", read_all(conn), limit)
        finally:
            for conn in conns:
                conn.close()
        assert served_again("echo", srv.address)



class _Handler:  # what socketserver calls with each connection: here, nothing to serve
    def __init__(self, request, client_address, server):
        pass


@pytest.mark.parametrize("failure", ["thread refused", "stopped while starting"])
def test_a_connection_slot_is_given_back_once_whatever_interrupts_its_thread(monkeypatch, failure):
    """A thread that cannot start takes no slot; a Ctrl-C (the server stopping) that arrives in
    Thread.start() after the thread began must not give its slot back a second time: once it
    did, and the server's log held "ValueError: Semaphore released too many times"."""
    import socketserver
    import threading

    from sandbox.common import SandboxServer

    class Server(SandboxServer, socketserver.ThreadingTCPServer):
        pass

    original_start = threading.Thread.start
    started = []

    def start(thread):
        if failure == "thread refused":
            raise RuntimeError("can't start new thread")
        original_start(thread)
        started.append(thread)
        raise KeyboardInterrupt  # the stop signal, while start() waited for the thread

    server = Server(("127.0.0.1", 0), _Handler, max_connections=2)
    left, right = socket.socketpair()
    in_threads = []  # exceptions raised in the connection's thread (the second release raised there)
    monkeypatch.setattr(threading, "excepthook", lambda hook: in_threads.append(hook.exc_value))
    try:
        monkeypatch.setattr(threading.Thread, "start", start)
        with pytest.raises(RuntimeError if failure == "thread refused" else KeyboardInterrupt):
            server.process_request(left, ("127.0.0.1", 1))
        monkeypatch.setattr(threading.Thread, "start", original_start)
        for thread in started:
            thread.join(5)
        assert in_threads == []
        assert [server.free_slots.acquire(blocking=False) for _ in range(3)] == [True, True, False]
    finally:
        server.server_close()
        left.close()
        right.close()
