"""Checks for exercises/06-servers.md: a threaded TCP server for a small line protocol.

The protocol: one request per line (UTF-8, ending with "\\n", or "\\r\\n"), one reply line each.

    UPPER some text  ->  SOME TEXT
    COUNT            ->  how many lines the server has received so far, from all clients, this one included
    QUIT             ->  BYE, then the server closes the connection
    anything else    ->  ERROR unknown command

    check_respond(respond)                       step 1: the reply to one line, as a pure function
    check_counter(LineServer)                    step 2: a threaded server with a shared, locked counter
    check_line_server(LineServer, LineHandler)   step 3: the whole server, with 50 clients at once
"""

from __future__ import annotations

import socket
import socketserver
import threading
from concurrent.futures import ThreadPoolExecutor

from .core import Failure, NotDone, call, checker, describe_exception, expect, expect_equal, run_with_limit, short, stub_message

CLIENTS = 50
LINES = 3  # UPPER lines per client, then QUIT


@checker("respond")
def check_respond(respond):
    """``respond(line, count)`` returns the reply to one request line (without the newline)."""
    cases = [
        (("UPPER hello", 1), "HELLO"),
        (("UPPER Grüße aus Köln", 2), "GRÜSSE AUS KÖLN"),
        (("UPPER", 3), ""),
        (("COUNT", 7), "7"),
        (("COUNT", 1), "1"),
        (("QUIT", 4), "BYE"),
        (("HELLO", 1), "ERROR unknown command"),
        (("", 1), "ERROR unknown command"),
        (("upper case matters", 1), "ERROR unknown command"),
        (("UPPERCASE is not UPPER", 1), "ERROR unknown command"),
    ]
    for (line, count), wanted in cases:
        got = call(respond, line, count)
        hint = ""
        if isinstance(got, str) and got.endswith("\n"):
            hint = "respond returns the text of the reply; the handler adds the newline"
        elif not isinstance(got, str):
            hint = "respond returns the reply as a str (the handler encodes it)"
        elif line.startswith("UPPERCASE"):
            hint = 'the command is the first word: command, _, text = line.partition(" ")'
        elif line.startswith("upper"):
            hint = "commands are in capitals: compare exactly"
        expect_equal(got, wanted, f"respond({line!r}, {count})", hint)
    return f"{len(cases)} lines: UPPER, COUNT, QUIT, and unknown commands"


def _serve(LineServer, handler):
    """The student's server, listening on a free port, serving in a thread; and a function to stop it."""
    server = call(LineServer, ("127.0.0.1", 0), handler,
                  hint="LineServer(address, handler): call super().__init__(address, handler) first")
    thread = threading.Thread(target=server.serve_forever, name="check:LineServer", daemon=True)
    thread.start()

    def stop():
        def close():
            server.shutdown()
            server.server_close()

        finished, _, _ = run_with_limit(close, limit=10)
        if not finished:
            raise Failure("the server to stop within 10 s (shutdown, then server_close)", "it was still stopping",
                          "daemon_threads = True, so that server_close() does not wait for the clients' threads")

    return server, stop


@checker("LineServer")
def check_counter(LineServer):
    """``LineServer(address, handler)`` is a ``ThreadingTCPServer`` with daemon threads whose
    ``next_count()`` returns 1, 2, 3... exactly once each, even when called from many threads at once.
    """
    server = call(LineServer, ("127.0.0.1", 0), socketserver.StreamRequestHandler,
                  hint="LineServer(address, handler): call super().__init__(address, handler), then set up the counter and its lock")
    try:
        expect(isinstance(server, socketserver.ThreadingMixIn), "a server with a thread per client",
               f"a {type(server).__mro__[1].__name__}", "class LineServer(socketserver.ThreadingTCPServer)")
        expect(getattr(server, "daemon_threads", False) is True, "daemon_threads = True", short(getattr(server, "daemon_threads", None)),
               "a client's thread must never keep Python running: set the class attribute daemon_threads = True")
        first = call(server.next_count)
        expect_equal(first, 1, "the first next_count()")
        counts: list = []
        errors: list = []
        lock = threading.Lock()

        def count_many():
            try:
                mine = [server.next_count() for _ in range(500)]
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
                return
            with lock:
                counts.extend(mine)

        def run_all():
            threads = [threading.Thread(target=count_many) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        finished, _, _ = run_with_limit(run_all)
        expect(finished, "20 threads calling next_count() 500 times each to finish", "they were still running after 10 s",
               "does next_count() wait for a lock it already holds? `with self.lock:` releases it at the end of the block")
        expect(not errors, "next_count() to work from 20 threads at once", f"it raised {describe_exception(errors[0]) if errors else ''}")
        wanted = list(range(2, 2 + 20 * 500))
        duplicates = len(counts) - len(set(counts))
        expect(sorted(counts) == wanted, "each of 2 to 10,001 exactly once from 20 threads",
               f"{duplicates} numbers given twice" if duplicates else f"{short(sorted(set(counts) ^ set(wanted)))} wrong",
               "increment and read the count inside `with self.lock:`, and return the value read there")
    finally:
        server.server_close()
    return "a threading server with daemon threads; 10,000 counts from 20 threads, each number once"


def _exchange(stream, line: bytes) -> bytes:
    stream.write(line)
    stream.flush()
    return stream.readline()


def _one_client(address, i: int):
    """Run one client of the protocol; None if all went well, else what went wrong."""
    try:
        with socket.create_connection(address, timeout=5) as sock, sock.makefile("rwb") as stream:
            for k in range(LINES):
                reply = _exchange(stream, f"UPPER client {i} line {k}\n".encode())
                if reply != f"CLIENT {i} LINE {k}\n".encode():
                    return f"client {i} sent 'UPPER client {i} line {k}', got {reply!r}"
            reply = _exchange(stream, b"QUIT\n")
            if reply != b"BYE\n":
                return f"client {i} sent QUIT, got {reply!r}"
    except OSError as error:
        return f"client {i}: {type(error).__name__} {error}".strip()
    return None


@checker("LineHandler")
def check_line_server(LineServer, LineHandler):
    """The whole server: one client runs through the protocol; then, while one client stays
    connected and silent, 50 clients at once send 3 UPPER lines and QUIT each; finally COUNT
    must count every line the server received.
    """
    crashes: list = []  # exceptions raised by the student's handle(), in the server's threads

    class Watched(LineHandler):
        def handle(self):
            try:
                super().handle()
            except Exception as error:  # noqa: BLE001 - reported with the verdict
                crashes.append(error)

    server, stop = _serve(LineServer, Watched)
    try:
        return _run_clients(server)
    except Failure as failure:
        if any(isinstance(error, NotImplementedError) for error in crashes):
            stub = next(error for error in crashes if isinstance(error, NotImplementedError))
            raise NotDone(stub_message("LineHandler.handle", stub)) from None
        if crashes:
            failure.got += f"; the handler raised {describe_exception(crashes[0])}"
        raise
    finally:
        stop()


def _run_clients(server) -> str:
    address = server.server_address[:2]
    with socket.create_connection(address, timeout=5) as sock, sock.makefile("rwb") as stream:
        script = [
            (b"UPPER hello\n", b"HELLO\n", ""),
            ("UPPER grüße\r\n".encode(), "GRÜSSE\n".encode(), 'strip the end of line, "\\r\\n" as well as "\\n": line.rstrip("\\r\\n")'),
            (b"NOPE\n", b"ERROR unknown command\n", ""),
            (b"COUNT\n", b"4\n", "every line counts, this COUNT included: call self.server.next_count() once per line"),
            (b"QUIT\n", b"BYE\n", ""),
        ]
        for line, wanted, hint in script:
            try:
                reply = _exchange(stream, line)
            except TimeoutError:
                raise Failure(f"the reply {wanted!r} to {line!r}", "no whole reply line within 5 s",
                              'the client reads whole lines: end each reply with b"\\n" '
                              "(and write it to self.wfile for each line of self.rfile)") from None
            except OSError as error:
                raise Failure(f"the reply {wanted!r} to {line!r}", f"{type(error).__name__}: {error}",
                              "for each line of self.rfile: decode, respond, write the reply and b\"\\n\" to self.wfile") from None
            expect_equal(reply, wanted, f"the reply to {line!r}",
                         hint or "write respond(...) encoded in UTF-8, then b\"\\n\", to self.wfile")
        try:
            after = stream.readline()
        except OSError as error:
            after = f"{type(error).__name__}"
        expect(after == b"", "the server to close the connection after BYE", f"{short(after)}",
               "return from handle() after answering QUIT: socketserver then closes the connection")

    silent = socket.create_connection(address, timeout=5)
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            problems = [p for p in pool.map(lambda i: _one_client(address, i), range(CLIENTS)) if p]
    finally:
        silent.close()
    expect(not problems, f"{CLIENTS} clients served at once, while another one stays silent",
           f"{len(problems)} failed; the first: {problems[0] if problems else ''}",
           "a ThreadingTCPServer gives each client its own thread, so a silent client cannot hold up the others")

    with socket.create_connection(address, timeout=5) as sock, sock.makefile("rwb") as stream:
        total = len(script) + CLIENTS * (LINES + 1) + 1
        reply = _exchange(stream, b"COUNT\n")
        expect_equal(reply, f"{total}\n".encode(), f"COUNT after {total - 1} lines from {CLIENTS + 1} clients",
                     "one counter on the server (self.server.next_count()), shared by every client")
    return f"the protocol, then {CLIENTS} clients at once beside a silent one, and an exact COUNT of {total}"
