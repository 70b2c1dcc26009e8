"""checks/ch06.py's step 4, check_serve_lines: one thread serving every client with selectors.

A right answer, then wrong ones, each the mistake of a real first attempt: a blocking sendall()
(one client that does not read stalls the others), send() whose return value is ignored (bytes
lost), a socket closed but never unregistered (its number comes back), one unregistered but never
closed, a busy loop (select with no wait, or write interest always on), a blocking accept() in the
loop, a recv() taken for a line, a count per connection, a loop that ignores `stopping`, and one
that leaves its clients' connections open when it stops. Each gets a cross and its hint, in
bounded time.
"""

from __future__ import annotations

import selectors
import socket
import time

import pytest

from checker_helpers import stub, verdict
from checks import core
from checks.ch06 import check_serve_lines
from checks.core import FAILED, NOT_DONE, PASSED


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checker as a student runs it: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


def respond(line, count):
    command, _, text = line.partition(" ")
    return {"UPPER": text.upper(), "COUNT": str(count), "QUIT": "BYE"}.get(command, "ERROR unknown command")


class Client:
    def __init__(self):
        self.inbox, self.outbox, self.reading, self.count = b"", bytearray(), True, 0


def serving(*, blocking_sendall=False, ignore_partial=False, unregister=True, close=True, timeout=None,
            always_write=False, blocking_accept=False, chunk_is_line=False, per_connection=False,
            stops=True, close_on_stop=True):
    kept = []  # with close_on_stop=False: every client's socket, kept (and so never closed by the garbage collector)
    """The right serve_lines, or one with the mistake each flag names."""

    def serve_lines(listener, stopping):
        count = 0
        listener.setblocking(blocking_accept)
        selector = selectors.DefaultSelector()
        if not blocking_accept:
            selector.register(listener, selectors.EVENT_READ)

        def accept():
            conn, _ = listener.accept()
            conn.setblocking(blocking_sendall)
            selector.register(conn, selectors.EVENT_READ | (selectors.EVENT_WRITE if always_write else 0), Client())
            if not close_on_stop:
                kept.append(conn)

        def finish(conn):
            if unregister:
                selector.unregister(conn)
            if close:
                conn.close()

        while not stopping.is_set() or not stops:
            if blocking_accept:
                accept()  # wrong: waits for the next client, whoever else is waiting
            for key, mask in selector.select(timeout):
                if key.fileobj is listener:
                    try:
                        accept()
                    except BlockingIOError:
                        pass
                    continue
                conn, client = key.fileobj, key.data
                if mask & selectors.EVENT_READ and client.reading:
                    try:
                        data = conn.recv(65536)
                    except BlockingIOError:
                        data = None
                    except ConnectionError:
                        data, client.outbox = b"", bytearray()
                    if data == b"":
                        client.reading = False
                    elif data:
                        client.inbox += data if not chunk_is_line else data.rstrip(b"\n").replace(b"\n", b" ") + b"\n"
                        while client.reading and b"\n" in client.inbox:
                            raw, _, client.inbox = client.inbox.partition(b"\n")
                            line = raw.decode("utf-8", errors="replace").rstrip("\r")
                            if per_connection:
                                client.count += 1
                            else:
                                count += 1
                            reply = respond(line, client.count if per_connection else count).encode() + b"\n"
                            if blocking_sendall:
                                conn.sendall(reply)  # wrong: waits for this client to read
                            else:
                                client.outbox += reply
                            if line.partition(" ")[0] == "QUIT":
                                client.reading = False
                if mask & selectors.EVENT_WRITE and client.outbox:
                    try:
                        sent = conn.send(client.outbox)
                        del client.outbox[:len(client.outbox) if ignore_partial else sent]
                    except BlockingIOError:
                        pass
                    except ConnectionError:
                        client.outbox.clear()
                events = (selectors.EVENT_READ if client.reading else 0) | (
                    selectors.EVENT_WRITE if client.outbox or always_write else 0)
                if not client.reading and not client.outbox:
                    finish(conn)
                elif events != key.events:
                    selector.modify(conn, events, client)
        for key in list(selector.get_map().values()):
            if key.fileobj is not listener and close_on_stop:  # wrong without: the clients wait for ever
                key.fileobj.close()
        selector.close()

    return serve_lines


def check(serve, limit=25.0):
    """The verdict, which must come within `limit` seconds: a wrong answer never hangs the check."""
    start = time.monotonic()
    result = check_serve_lines(serve)
    assert time.monotonic() - start < limit, f"the check took {time.monotonic() - start:.1f} s"
    return result


def test_a_right_answer_passes():
    verdict(check(serving()), PASSED, "20 MB of replies", "every byte in order", "COUNT", "a clean stop")


def test_a_stub_is_not_done():
    verdict(check(stub), NOT_DONE, "serve_lines() still raises NotImplementedError")


def test_a_server_that_returns_at_once():
    def in_another_thread(listener, stopping):
        pass  # wrong: serve_lines returns before it has served anyone

    verdict(check(in_another_thread), FAILED, "serve_lines to serve until stopping is set", "it returned at once")


def test_a_blocking_sendall_stalls_everyone():
    verdict(check(serving(blocking_sendall=True)), FAILED, "from a client that reads its replies only at the end",
            "it stopped reading them", "never sendall() from the loop")


def test_sends_whose_return_value_is_ignored_lose_bytes():
    verdict(check(serving(ignore_partial=True)), FAILED, "bytes of replies to a client that read them only at the end",
            "the part send() did not take must go, in order")


def test_a_socket_closed_but_never_unregistered():
    verdict(check(serving(unregister=False)), FAILED, "already registered", "unregister a socket from the selector before closing it")


def test_a_socket_unregistered_but_never_closed():
    verdict(check(serving(close=False)), FAILED, "the server to close the connection after BYE",
            "unregister and close its socket")


@pytest.mark.parametrize("mistake", [{"timeout": 0}, {"always_write": True}])
def test_a_busy_loop(mistake):
    verdict(check(serving(**mistake)), FAILED, "a server that sleeps while no client sends anything",
            "s of processor time in", "with clients connected and none sending", "watch a socket for writing only while its output buffer holds something")


def test_a_blocking_accept_in_the_loop():
    verdict(check(serving(blocking_accept=True)), FAILED, "the reply", "no reply", "never wait for one of them")


def test_a_recv_taken_for_a_line():
    verdict(check(serving(chunk_is_line=True)), FAILED, "the reply", "TCP carries bytes, not lines")


def test_a_count_per_connection():
    verdict(check(serving(per_connection=True)), FAILED, "COUNT", "one count for the whole server")


def test_a_loop_that_never_stops():
    verdict(check(serving(stops=False)), FAILED, "serve_lines to return once stopping is set", "while not stopping.is_set()")


def test_clients_left_open_at_the_stop():
    verdict(check(serving(close_on_stop=False)), FAILED, "close its clients' connections when it stops")


def test_one_blocking_readline_after_the_other():
    """No selector at all: each client in turn, a whole line read with a blocking readline(): it
    answers one client alone perfectly, and a silent client then holds up all the others."""

    def round_robin(listener, stopping):
        listener.settimeout(0.05)
        files, count = {}, 0
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
                files[conn] = conn.makefile("rwb")
            except TimeoutError:
                pass
            for conn, file in list(files.items()):
                raw = file.readline()  # wrong: waits for this client, however long it says nothing
                line = raw.decode().rstrip("\r\n")
                count += bool(raw)
                if raw:
                    file.write(respond(line, count).encode() + b"\n")
                    file.flush()
                if not raw or line == "QUIT":
                    del files[conn]
                    file.close()
                    conn.close()

    verdict(check(round_robin), FAILED, "no reply", "never wait for one of them")
