"""Checks for exercises/02-tcp-client.md: reading a whole reply, any length, and "is anyone there?".

    check_recv_until_closed(recv_until_closed)      step 1
    check_echo_any_length(echo_any_length, echo)    step 2 (echo: the notebook's echo server, optional)
    check_is_listening(is_listening, echo)          step 3
"""

from __future__ import annotations

import socket
import threading
import warnings

from .core import Failure, call, checker, describe_exception, expect, expect_equal, run_with_limit, short
from .helpers import (LOCALHOST, connected_pair, free_port, full_backlog, in_background, same_connection, sandbox_server,
                      send_in_pieces)
from .servers import silent_server

BIG = 64_000_000  # more than the buffers of both sides hold: sending it all before reading blocks
SHUTDOWN_HINT = ("once everything is sent, say so with conn.shutdown(socket.SHUT_WR): the echo server closes "
                 'only then, and only then does recv() return b""')
LOOP_HINT = 'recv() returns what has arrived so far: call it in a loop until it returns b"" (the other side closed), and join the pieces'


def _same_bytes(got, data: bytes, what: str, hint: str) -> None:
    if isinstance(got, str):
        raise Failure(f"{what} (bytes)", f"a str: {short(got)}", "return bytes; decode only once every byte is in, and not in this function")
    if isinstance(got, bytearray):
        got = bytes(got)
    if isinstance(got, bytes) and len(got) < len(data) and data.startswith(got):
        hint = LOOP_HINT if hint is None else hint
    expect_equal(got, data, what, hint or "")


class _Reader(socket.socket):
    """A socket that notes when its ``recv()`` (or ``recv_into()``, which files use) has returned a first byte."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_read = threading.Event()

    def recv(self, *args):
        data = super().recv(*args)
        if data:
            self.first_read.set()
        return data

    def recv_into(self, *args):
        n = super().recv_into(*args)
        if n:
            self.first_read.set()
        return n


def _send_after_first_read(sock: socket.socket, data: bytes, reader: _Reader) -> None:
    """Send one byte, wait until ``reader`` has received it, then the rest in pieces.

    A reader that stops before the other side has closed (one ``recv``, or a loop that
    ends on a short piece) has then returned with that one byte: every time, not by luck.
    """
    if data:
        sock.sendall(data[:1])
        reader.first_read.wait(5)
    send_in_pieces(sock, data[1:])


@checker("recv_until_closed")
def check_recv_until_closed(recv_until_closed):
    """``recv_until_closed(conn)`` returns every byte the other side sent, once it closed.

    The other side sends in small and large pieces (1, 2, 3, 1000, 7, 65536 bytes...),
    so a single ``recv`` cannot get a 300 kB message; an empty message must give ``b""``.
    """
    messages = [b"", b"hello", "Grüße 👋".encode("utf-8"), bytes(range(256)) * 1200]
    for data in messages:
        client, server = connected_pair()
        server = same_connection(server, _Reader)
        with client, server:
            sender = in_background(_send_after_first_read, client, data, server)
            got = call(recv_until_closed, server, expected=f"all {len(data):,} bytes the other side sent", hint=LOOP_HINT)
            sender.join(5)
        _same_bytes(got, data, f"the {len(data):,} bytes the other side sent, in order", None)
    return "4 messages of 0 bytes to 300 kB, sent in pieces, came back whole"


@checker("echo_any_length")
def check_echo_any_length(echo_any_length, echo=None):
    """``echo_any_length(address, data)`` gets back exactly ``data`` from the echo server, whatever its size.

    Up to 64 MB: more than the buffers hold, so a client that sends everything
    before reading anything waits forever (or until its timeout).
    """
    messages = [b"", b"hi", "Grüße 👋".encode("utf-8"), bytes(range(256)) * 1200, bytes(range(256)) * (BIG // 256)]
    with sandbox_server("echo", echo) as server:
        for data in messages:
            big = len(data) >= BIG
            hint = ("with 64 MB, the echo fills the buffers while you are still sending, and both sides wait "
                    "for each other: send from a second thread (threading.Thread) while this one reads"
                    if big else None)
            got = call(echo_any_length, server.address, data, limit=30 if big else 10,
                       expected=f"the {len(data):,} bytes sent to come back", hint=hint or SHUTDOWN_HINT)
            _same_bytes(got, data, f"the same {len(data):,} bytes back", hint)
    timeout_hint = ("connect with socket.create_connection(address, timeout=timeout): then recv() raises TimeoutError "
                    "when nothing comes for that long, instead of waiting forever")
    with silent_server() as address:
        finished, _, error = run_with_limit(echo_any_length, (address, b"hi"), {"timeout": 0.5}, limit=3)
        expect(finished, f"echo_any_length({address}, b'hi', timeout=0.5) to give up after 0.5 s on a server that never answers",
               "it was still running after 3 s", timeout_hint)
        expect(error is None or isinstance(error, OSError),
               "TimeoutError (or a result) from a server that never answers", f"it raised {describe_exception(error)}", timeout_hint)
    return "5 messages from 0 bytes to 64 MB came back unchanged; a server that never answers, given up after the timeout"


def _unclosed_sockets(caught, port: int) -> list[str]:
    """The ResourceWarnings "unclosed <socket...>" among ``caught`` for a connection to ``port``."""
    return [str(w.message) for w in caught
            if issubclass(w.category, ResourceWarning) and "unclosed" in str(w.message) and f", {port})" in str(w.message)]


@checker("is_listening")
def check_is_listening(is_listening, echo=None):
    """``is_listening(host, port, timeout=1.0)`` is True where a server listens, False where the connection is refused.

    It must never raise for a refused connection; a server that accepts but
    never answers is listening too. It closes the connection it opened (the
    check's own server sees it closed, and Python warns of no socket left unclosed),
    and it gives up after ``timeout`` seconds where connecting hangs (a server
    whose queue of waiting connections is full drops the handshake).
    """
    refused_hint = "connect in a try block; ConnectionRefusedError (an OSError) means nobody listens: return False"
    with sandbox_server("echo", echo) as server:
        got = call(is_listening, server.host, server.port, hint="connect with socket.create_connection((host, port), timeout=...)")
        expect_equal(got, True, f"is_listening{server.address} where the echo server listens",
                     "return True (a bool) once the connection is made")
    port = free_port()
    got = call(is_listening, "127.0.0.1", port, hint=refused_hint,
               expected=f"is_listening('127.0.0.1', {port}) to return False: nobody listens there")
    expect_equal(got, False, f"is_listening('127.0.0.1', {port}) where nobody listens", refused_hint)
    with silent_server() as (host, port):
        got = call(is_listening, host, port, limit=10,
                   hint="only connect: do not send or wait for an answer; the connection itself is the answer")
        expect_equal(got, True, "True for a server that accepts connections but never says anything",
                     "only connect: do not send or wait for an answer; the connection itself is the answer")

    close_hint = ("close the connection you opened: `with socket.create_connection((host, port), timeout=timeout):` "
                  "closes it at the end of the block, even on return")
    with socket.create_server((LOCALHOST, 0)) as listener:
        host, port = listener.getsockname()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            got = call(is_listening, host, port, hint="connect with socket.create_connection((host, port), timeout=timeout)")
        expect_equal(got, True, f"is_listening{(host, port)} where the check's own server listens",
                     "return True (a bool) once the connection is made")
        unclosed = _unclosed_sockets(caught, port)
        expect(not unclosed, "is_listening to close the socket it connected",
               "a socket left for Python to close (ResourceWarning: unclosed <socket.socket ...>)", close_hint)
        listener.settimeout(2)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            raise Failure(f"is_listening{(host, port)} to connect to the server", "no connection arrived",
                          "connect with socket.create_connection((host, port), timeout=timeout)") from None
        with conn:
            conn.settimeout(2)
            try:
                closed = conn.recv(1) == b""
            except TimeoutError:
                closed = False
            except OSError:  # reset: closed too
                closed = True
        expect(closed, "is_listening to close the connection before returning",
               "the server's end was still open 2 s after is_listening returned", close_hint)

    with full_backlog() as address:
        if address is not None:  # None: this system refuses at once where others let connect() hang
            host, port = address
            hang_hint = ("give connect a timeout: socket.create_connection((host, port), timeout=timeout); without one, "
                         "a connection nobody answers waits for minutes; TimeoutError is an OSError too: return False")
            got = call(is_listening, host, port, timeout=0.5, limit=3, hint=hang_hint,
                       expected=f"is_listening({host!r}, {port}, timeout=0.5) to return False within 0.5 s: connecting there hangs")
            expect_equal(got, False, "is_listening(..., timeout=0.5) where connecting hangs (a server too busy to accept)",
                         hang_hint)
    return ("True for the echo server and a silent server, False for a port where nobody listens and after a timeout; "
            "the connection closed")
