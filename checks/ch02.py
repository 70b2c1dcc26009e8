"""Checks for exercises/02-tcp-client.md: reading a whole reply, any length, and "is anyone there?".

    check_recv_until_closed(recv_until_closed)      step 1
    check_echo_any_length(echo_any_length, echo)    step 2 (echo: the notebook's echo server, optional)
    check_is_listening(is_listening, echo)          step 3
    check_ask_lines(ask_lines)                          step 4: a client for a line protocol (LineServer)
"""

from __future__ import annotations

import socket
import threading
import time
import warnings

from .core import (Failure, NotDone, call, checker, describe_exception, expect, expect_equal, run_with_limit, short,
                   stub_message)
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
               "TimeoutError (or a result) from a server that never answers", _outcome(finished, None, error, 3), timeout_hint)
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


# --- step 4: a client for a line protocol ------------------------------------------------------------------------


class CheckServer:
    """A small TCP server of a check's own, in threads, for a ``with`` block: ``server.address``,
    ``server.connections`` (accepted so far). A subclass says how it serves one client: ``_serve(conn)``."""

    def __init__(self):
        self.connections = 0
        self._listener = socket.create_server((LOCALHOST, 0))
        self._listener.settimeout(0.1)  # so that the accepting thread sees the end of the block
        self.address = self._listener.getsockname()
        self._stopped = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self):
        self._threads[0].start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        for conn in list(self._conns):  # wakes a thread blocked in recv(): a client left its connection open
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in list(self._threads):
            thread.join(2)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve_quietly, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve_quietly(self, conn: socket.socket) -> None:
        # Longer than the clients' own timeouts (5 s at most in these checks): a client that waits in
        # vain must be the one to give up. Were both 5 s, the server might close first, and the client
        # would see an end of stream, not its timeout.
        conn.settimeout(8)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each piece leaves at once
        with conn:
            try:
                self._serve(conn)
            except OSError:
                pass  # the client reset, or the block ended

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _send(self, conn: socket.socket, data: bytes) -> None:
        """``data``, all at once, or one byte at a time with ``self.pace`` seconds between (the client's
        ``recv()`` then gets pieces of a message)."""
        if not getattr(self, "pace", 0):
            conn.sendall(data)
            return
        for i in range(len(data)):
            conn.sendall(data[i:i + 1])
            time.sleep(self.pace)

    def _finish(self, conn: socket.socket) -> None:
        """End like a polite server: a FIN, then read what the client still sends until it closes."""
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass


class LineServer(CheckServer):
    """The check's own server for step 4: it answers each line it receives with that line in capitals.

    Use it in a ``with`` block: ``with LineServer() as server: ask_lines(server.address, ["hi"])``.
    Each client is served in a thread of its own. Options, to behave as real servers sometimes do:

    - ``pace``: seconds between the bytes of an answer, sent one by one (0: each reply in one send);
    - ``answers``: how many lines it answers on a connection before it stops sending (a FIN) (None: all);
    - ``tail``: bytes it sends after those answers, before the FIN: an answer cut off;
    - ``silent``: it reads, and never answers.
    """

    def __init__(self, pace: float = 0.0, answers: int | None = None, tail: bytes = b"", silent: bool = False):
        super().__init__()
        self.pace, self.answers, self.tail, self.silent = pace, answers, tail, silent
        self.received: list[bytes] = []  # every complete line received, without its b"\n"
        self.unfinished = b""  # bytes after the last b"\n" of the last connection

    def _serve(self, conn: socket.socket) -> None:
        buffer, answered = b"", 0
        while chunk := conn.recv(65536):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            self.unfinished = buffer
            self.received += lines
            if self.silent:
                continue
            for line in lines:
                if self.answers is not None and answered >= self.answers:
                    break
                self._send(conn, line.decode("utf-8", "replace").upper().encode("utf-8") + b"\n")
                answered += 1
            if self.answers is not None and answered >= self.answers:
                self._send(conn, self.tail)
                self._finish(conn)
                return


QUESTIONS = ["hello", "Grüße 👋", " two  spaces ", "x" * 100_000]
PACED = ["hello", "Grüße 👋"]
LINES_HINT = ("recv() returns what has arrived, not one answer: keep what you received in a buffer, and take an "
              'answer out of it only once its b"\\n" is there')


def _answers(questions: list[str]) -> list[str]:
    return [q.upper() for q in questions]


def _ask(ask_lines, server: LineServer, questions: list[str], limit: float = 10, **kwargs):
    """``ask_lines(server.address, questions)``: (finished, value, error), NotDone for a stub."""
    if ask_lines is Ellipsis or ask_lines is None:
        raise NotDone("the function is not written yet (it is still ...)")
    finished, value, error = run_with_limit(ask_lines, (server.address, questions), kwargs, limit)
    if isinstance(error, NotImplementedError):
        raise NotDone(stub_message(ask_lines, error))
    if finished and error is None and value is Ellipsis:
        raise NotDone("ask_lines() returns ... (Ellipsis)")
    return finished, value, error


def _outcome(finished: bool, value, error, limit: float) -> str:
    """What a call did, in words: still running, raised, or returned."""
    if not finished:
        return f"it was still running after {limit:g} s"
    return f"it raised {describe_exception(error)}" if error is not None else f"it returned {short(value)}"


def _stuck_hint(server: LineServer) -> str:
    if server.unfinished and not server.received:
        return ('the server received your bytes but no whole line: each question must end with b"\\n", '
                "the end of a line, or the server waits for the rest")
    return "the server answers one line per question: read until you have one answer per question, then stop"


@checker("ask_lines")
def check_ask_lines(ask_lines):
    """``ask_lines(address, questions, timeout=5.0)`` asks each question as a line, on one connection,
    and returns the answers; ConnectionError if the server stops before answering them all.

    The server (LineServer) answers each line in capitals; it cuts its answers in 1-byte pieces,
    stops after some answers, sends half an answer before it stops, or never answers.
    """
    with LineServer() as server:
        finished, got, error = _ask(ask_lines, server, [])
        expect(finished and error is None, "ask_lines(address, []) to return []", _outcome(finished, got, error, 10),
               "no question, no answer to wait for")
        expect_equal(got, [], "no answers for no questions", "no question, no answer to wait for")

    with LineServer() as server:
        finished, got, error = _ask(ask_lines, server, QUESTIONS)
        expected = "the 4 answers, in capitals (the last one 100,000 characters long)"
        if not finished:
            raise Failure(expected, "it was still running after 10 s", _stuck_hint(server))
        if error is not None:
            raise Failure(expected, f"it raised {describe_exception(error)}",
                          _stuck_hint(server) if isinstance(error, TimeoutError) else LINES_HINT)
        if server.received != [q.encode("utf-8") for q in QUESTIONS]:
            raise Failure("the server to receive each question as one line of UTF-8, in order",
                          f"it received the lines {short(server.received)}",
                          'one question per line: its text in UTF-8, then b"\\n"; nothing else')
        if isinstance(got, list) and len(got) == 4 and got[:3] == _answers(QUESTIONS)[:3] and got[3] != QUESTIONS[3].upper():
            raise Failure("the 100,000-character answer whole",
                          f"{len(got[3]) if isinstance(got[3], str) else got[3]!r} characters of it", LINES_HINT)
        if isinstance(got, list) and [a.strip() if isinstance(a, str) else a for a in got] == [a.strip() for a in _answers(QUESTIONS)] \
                and got != _answers(QUESTIONS):
            raise Failure("each answer exactly as sent, without only its b\"\\n\"", f"{short(got)}",
                          "the spaces of an answer are part of it: take away the end of line, nothing more")
        expect_equal(got, _answers(QUESTIONS), "the answers, one str per question, in order, without their b\"\\n\"",
                     LINES_HINT)
        expect(server.connections == 1, "one connection for all the questions",
               f"{server.connections} connections", "connect once, then ask every question on that connection")

    with LineServer(pace=0.005) as server:
        finished, got, error = _ask(ask_lines, server, PACED)
        expected = "the answers of a server that sends them one byte at a time"
        if not finished:
            raise Failure(expected, "it was still running after 10 s", LINES_HINT)
        if isinstance(error, UnicodeDecodeError):
            raise Failure(expected, f"it raised {describe_exception(error)}",
                          "a piece may end inside a character (Ü is 2 bytes, 👋 4): decode a whole line, not each piece")
        if error is not None:
            raise Failure(expected, f"it raised {describe_exception(error)}", LINES_HINT)
        expect_equal(got, _answers(PACED), expected, LINES_HINT)

    early_hint = ("the server stopped (recv() returned b\"\") before answering every question: that is an error, say so "
                  "with ConnectionError instead of returning fewer answers")
    with LineServer(answers=2) as server:
        finished, got, error = _ask(ask_lines, server, ["one", "two", "three"])
        expected = "ConnectionError: the server closed after answering 2 of the 3 questions"
        expect(finished, expected, "it was still running after 10 s",
               'recv() returns b"" once the server has closed: stop waiting then')
        expect(error is not None, expected, f"it returned {short(got)}", early_hint)
        expect(isinstance(error, ConnectionError), expected, _outcome(finished, got, error, 10), early_hint)

    with LineServer(answers=1, tail=b"TW") as server:
        finished, got, error = _ask(ask_lines, server, ["one", "two"])
        expected = 'ConnectionError: the server sent "ONE\\n", then "TW" without its b"\\n", then closed'
        expect(finished, expected, "it was still running after 10 s", 'recv() returns b"" once the server has closed')
        expect(error is not None, expected, f"it returned {short(got)}",
               'an answer ends with b"\\n": bytes left without one when the server closes are an answer cut off')
        expect(isinstance(error, ConnectionError), expected, _outcome(finished, got, error, 10), early_hint)

    timeout_hint = ("give the connection a timeout (the timeout argument): a server that never answers then ends in "
                    "TimeoutError instead of a wait for ever")
    with LineServer(silent=True) as server:
        finished, got, error = _ask(ask_lines, server, ["anyone?"], limit=3, timeout=0.5)
        expected = "ask_lines(..., timeout=0.5) to give up with TimeoutError (an OSError) on a server that never answers"
        expect(finished, expected, "it was still running after 3 s", timeout_hint)
        expect(isinstance(error, OSError), expected, _outcome(finished, got, error, 3), timeout_hint)
    return ("4 questions on one connection, a 100 kB answer, answers in 1-byte pieces; ConnectionError when the server "
            "stops early or cuts an answer; TimeoutError from a silent server")
