"""Checks for exercises/06-servers.md: a TCP server for a small line protocol, threaded, then on one event loop.

The protocol: one request per line (UTF-8, ending with "\\n", or "\\r\\n"), one reply line each.

    UPPER some text  ->  SOME TEXT
    COUNT            ->  how many lines the server has received so far, from all clients, this one included
    QUIT             ->  BYE, then the server closes the connection
    anything else    ->  ERROR unknown command

    check_respond(respond)                       step 1: the reply to one line, as a pure function
    check_counter(LineServer)                    step 2: a threaded server with a shared, locked counter
    check_line_server(LineServer, LineHandler)   step 3: the whole server: whole lines, the server's counter, 50 clients at once
    check_serve_lines(serve_lines)               step 4: the same protocol for every client from one thread (selectors)
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .core import (Failure, NotDone, call, checker, describe_exception, expect, expect_equal, plural, run_with_limit, short,
                   stub_message)

CLIENTS = 50
LINES = 3  # UPPER lines per client, then QUIT


@checker("respond")
def check_respond(respond):
    """``respond(line, count)`` returns the reply to one request line (without the newline)."""
    cases = [
        (("UPPER hello", 1), "HELLO"),
        (("UPPER Grüße aus Köln", 2), "GRÜSSE AUS KÖLN"),
        (("UPPER", 3), ""),
        (("UPPER two  spaces, kept", 5), "TWO  SPACES, KEPT"),
        (("COUNT", 7), "7"),
        (("COUNT", 1), "1"),
        (("QUIT", 4), "BYE"),
        (("HELLO", 1), "ERROR unknown command"),
        (("", 1), "ERROR unknown command"),
        (("upper case matters", 1), "ERROR unknown command"),
        (("UPPERCASE is not UPPER", 1), "ERROR unknown command"),
        (("COUNT please", 9), "9"),
        (("QUIT now", 2), "BYE"),
        (("UPPER  padded ", 6), " PADDED "),
    ]
    for (line, count), wanted in cases:
        got = call(respond, line, count, hint='respond answers every line, even an empty one: command, _, text = line.partition(" ") never fails')
        hint = ""
        if isinstance(got, str) and got.endswith("\n"):
            hint = "respond returns the text of the reply; the handler adds the newline"
        elif not isinstance(got, str):
            hint = "respond returns the reply as a str (the handler encodes it)"
        elif line.startswith("UPPERCASE"):
            hint = 'the command is the first word: command, _, text = line.partition(" ")'
        elif "  " in line and isinstance(got, str) and got.strip() == " ".join(wanted.split()):
            hint = ('the text is everything after "UPPER ", spaces included: line.split() would lose them, and so would .strip(); '
                    'use line.partition(" ")')
        elif line.partition(" ")[0] in ("COUNT", "QUIT") and " " in line:
            hint = ('the command is the first word, whatever follows it: "COUNT please" is a COUNT; '
                    'compare the command from line.partition(" "), not the whole line')
        elif line.startswith("upper"):
            hint = "commands are in capitals: compare exactly"
        elif line.startswith("UPPER"):
            hint = 'the reply is the text after "UPPER ", in capitals: command, _, text = line.partition(" "), then text.upper()'
        elif line == "COUNT":
            hint = "COUNT answers the count it is given, as text: str(count)"
        elif line == "QUIT":
            hint = 'QUIT answers "BYE"'
        else:
            hint = 'anything that is not UPPER, COUNT or QUIT answers "ERROR unknown command"'
        expect_equal(got, wanted, f"respond({line!r}, {count})", hint)
    return f"{len(cases)} lines: UPPER, COUNT, QUIT, and unknown commands"


def _listening(server) -> bool:
    return isinstance(getattr(server, "socket", None), socket.socket) and hasattr(server, "server_address")


def _expect_a_server(server) -> None:
    """Fail (instead of crashing the check) where LineServer's constructor skipped socketserver's,
    or next_count() is missing; a server that listens is then closed."""
    expect(_listening(server), "LineServer(address, handler) to listen on address", "no listening socket (self.socket is missing)",
           "in __init__, call super().__init__(address, handler) first: it binds and listens")
    if not callable(getattr(server, "next_count", None)):
        server.server_close()
        raise Failure("a method next_count() on LineServer", short(getattr(server, "next_count", None)),
                      "def next_count(self): with self.lock: ... return the new count")


def _serve(LineServer, handler, before=None):
    """The student's server, listening on a free port, serving in a thread; and a function to stop it.

    ``before(server)`` runs before it starts serving.
    """
    server = call(LineServer, ("127.0.0.1", 0), handler,
                  hint="LineServer(address, handler): call super().__init__(address, handler) first")
    _expect_a_server(server)
    if before is not None:
        try:
            before(server)
        except BaseException:
            server.server_close()
            raise
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


class _WatchedLock:
    """A lock of the student's server, wrapped so that it knows whether the calling thread holds it."""

    def __init__(self, lock):
        self._lock = lock
        self._mine = threading.local()

    def held(self) -> bool:
        return getattr(self._mine, "depth", 0) > 0

    def acquire(self, *args, **kwargs):
        got = self._lock.acquire(*args, **kwargs)
        if got:
            self._mine.depth = getattr(self._mine, "depth", 0) + 1
        return got

    def release(self):
        depth = getattr(self._mine, "depth", 0)
        self._mine.depth = depth - 1
        try:
            self._lock.release()
        except BaseException:
            self._mine.depth = depth
            raise

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def __getattr__(self, name):
        return getattr(self._lock, name)


def _looks_like_a_lock(value) -> bool:
    return not isinstance(value, type) and all(callable(getattr(value, name, None))
                                               for name in ("acquire", "release", "__enter__", "__exit__"))


def _watch_count(server, where=None) -> tuple[list, list]:
    """Wrap the locks of the student's server, and watch every read and write of ``self.count``.

    Returns the names of the locks found, and a list that receives "read" or "wrote" for each
    access to the count made by a thread holding none of them (with ``where()`` appended, if given:
    ``("read", where())``). Whether the count is guarded does not depend on how the threads
    happen to interleave: this verdict is the same every time.
    """
    classes = [c for c in type(server).__mro__ if not c.__module__.startswith(("socketserver", "builtins"))]
    names = dict.fromkeys([*vars(server), *(name for c in classes for name in vars(c) if not name.startswith("__"))])
    locks = {}
    for name in names:
        value = getattr(server, name, None)
        if _looks_like_a_lock(value):
            locks[name] = _WatchedLock(value)
            setattr(server, name, locks[name])
    outside: list = []

    def guarded() -> bool:
        return any(lock.held() for lock in locks.values())

    def note(action: str) -> None:
        if not guarded():
            outside.append(action if where is None else (action, where()))

    def read(self):
        note("read")
        return self.__dict__["count"]

    def write(self, value):
        note("wrote")
        self.__dict__["count"] = value

    server.__dict__["count"] = server.count  # a class attribute `count = 0` works as well
    student_class = type(server)
    server.__class__ = type(student_class.__name__, (student_class,), {"count": property(read, write)})
    return list(locks), outside


@checker("LineServer")
def check_counter(LineServer):
    """``LineServer(address, handler)`` is a ``ThreadingTCPServer`` with daemon threads whose
    ``next_count()`` returns 1, 2, 3... exactly once each, even when called from many threads at once.

    Whether two threads can read the same count depends on luck (and the count is right
    most of the time without a lock): so the check also watches ``self.count`` itself, and
    fails every read or write of it made without holding the server's lock.
    """
    server = call(LineServer, ("127.0.0.1", 0), socketserver.StreamRequestHandler,
                  hint="LineServer(address, handler): call super().__init__(address, handler), then set up the counter and its lock")
    _expect_a_server(server)
    try:
        expect(isinstance(server, socketserver.ThreadingMixIn), "a server with a thread per client",
               f"a {type(server).__mro__[1].__name__}", "class LineServer(socketserver.ThreadingTCPServer)")
        expect(getattr(server, "daemon_threads", False) is True, "daemon_threads = True", short(getattr(server, "daemon_threads", None)),
               "a client's thread must never keep Python running: set the class attribute daemon_threads = True")
        start = getattr(server, "count", None)
        expect(type(start) is int and start == 0, "self.count, 0 once LineServer(...) is created",
               short(start) if hasattr(server, "count") else "no attribute count",
               "in the constructor, after super().__init__(address, handler): self.count = 0")
        locks, outside = _watch_count(server)
        expect(locks, "a lock on the server: self.lock", "none among its attributes",
               "in the constructor: self.lock = threading.Lock(); next_count() holds it with `with self.lock:`")
        first = call(server.next_count)
        expect_equal(first, 1, "the first next_count()", "add one to self.count, then return the new count: 1 the first time")
        shown = " or ".join(f"self.{name}" for name in locks)
        expect(not outside, f"next_count() to read and write self.count only while holding {shown}",
               f"it {outside[0] if outside else ''} self.count while holding no lock",
               "self.count += 1 reads, adds and writes: two threads can read the same count and both return the "
               "same number; add one and read the new count inside `with self.lock:`, and return the value read there")
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
        expect(not errors, "next_count() to work from 20 threads at once", f"it raised {describe_exception(errors[0]) if errors else ''}",
               "use the lock created in the constructor: `with self.lock:`")
        wanted = list(range(2, 2 + 20 * 500))
        duplicates = len(counts) - len(set(counts))
        expect(sorted(counts) == wanted, "each of 2 to 10,001 exactly once from 20 threads",
               f"{duplicates} numbers given twice" if duplicates else f"{short(sorted(set(counts) ^ set(wanted)))} wrong",
               "increment and read the count inside `with self.lock:`, and return the value read there")
        expect(not outside, f"next_count() to read and write self.count only while holding {shown}",
               f"from 20 threads, it {outside[0] if outside else ''} self.count while holding no lock",
               "add one and read the new count inside `with self.lock:`, and return the value read there")
    finally:
        server.server_close()
    return "a threading server with daemon threads; self.count only touched under the lock; 10,000 counts from 20 threads, each number once"


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
    """The whole server: one client runs through the protocol; another sends two lines in one
    piece, then one line in two pieces (a reply to half a line fails); then, while one client stays
    connected and silent, 50 clients at once send 3 UPPER lines and QUIT each; finally COUNT
    must count every line the server received. Every line must be counted by one call of
    ``self.server.next_count()``, and the handler must not touch ``self.server.count`` itself
    (a counter of its own, or the count read unlocked, give the right numbers here by luck).
    """
    crashes: list = []  # exceptions raised by the student's handle(), in the server's threads

    class Watched(LineHandler):
        def handle(self):
            try:
                super().handle()
            except Exception as error:  # noqa: BLE001 - reported with the verdict
                crashes.append(error)

    watch = _CountWatch()
    server, stop = _serve(LineServer, Watched, before=watch.install)
    try:
        return _run_clients(server, watch)
    except Failure as failure:
        if any(isinstance(error, NotImplementedError) for error in crashes):
            stub = next(error for error in crashes if isinstance(error, NotImplementedError))
            raise NotDone(stub_message("LineHandler.handle", stub)) from None
        if crashes:
            failure.got += f"; the handler raised {describe_exception(crashes[0])}"
        raise
    finally:
        stop()


class _CountWatch:
    """How the handler counts: its calls of ``self.server.next_count()``, and any read or write
    of the server's ``count`` made without its lock, inside ``next_count()`` or in the handler.

    A handler with a counter of its own (a global, a class attribute) never calls
    ``next_count()``, and one that answers COUNT with ``self.server.count`` reads it unlocked:
    both give the right numbers here, one client after another, so the check counts and watches.
    """

    def __init__(self):
        self.calls = 0
        self.outside: list = []
        self._lock = threading.Lock()
        self._inside = threading.local()

    def install(self, server) -> None:
        if type(getattr(server, "count", None)) is int:  # else step 2 says what is missing
            _, self.outside = _watch_count(server, where=lambda: "next_count" if getattr(self._inside, "depth", 0) else "handler")
        original = server.next_count

        def next_count(*args, **kwargs):
            with self._lock:
                self.calls += 1
            self._inside.depth = getattr(self._inside, "depth", 0) + 1
            try:
                return original(*args, **kwargs)
            finally:
                self._inside.depth -= 1

        server.next_count = next_count

    def expect_calls(self, lines: int, what: str) -> None:
        expect(self.calls == lines, f"{plural(lines, 'call')} of self.server.next_count() for {what}", f"{self.calls}",
               "every line counts once, on the server: call self.server.next_count() once per line (not a counter of "
               "the handler's own), and answer COUNT with the number it returned")

    def expect_guarded(self) -> None:
        if not self.outside:
            return
        action, place = self.outside[0]
        if place == "handler":
            raise Failure("the handler to use the count only through self.server.next_count()",
                          f"it {action} self.server.count while holding no lock",
                          "another client's thread may change self.server.count at any moment: answer COUNT with the "
                          "number next_count() returned for this line (it read it under the lock)")
        raise Failure("next_count() to read and write self.count only while holding the lock",
                      f"it {action} self.count while holding no lock",
                      "as in step 2: add one and read the new count inside `with self.lock:`, and return the value read there")


def _read_line(sock: socket.socket, sent: bytes) -> bytes:
    """One reply line from ``sock``, read a byte at a time (nothing is read beyond it)."""
    line = b""
    try:
        while not line.endswith(b"\n"):
            byte = sock.recv(1)
            if not byte:
                break
            line += byte
    except TimeoutError:
        raise Failure(f"a reply line to {sent!r}", f"{line!r} and no end of line within 5 s",
                      'end each reply with b"\\n", and write one for each line of self.rfile') from None
    except OSError as error:
        raise Failure(f"a reply line to {sent!r}", f"{type(error).__name__}: {error}",
                      "for each line of self.rfile: decode, respond, write the reply and b\"\\n\" to self.wfile") from None
    return line


STREAM_HINT = ("TCP carries a stream of bytes, not messages: one recv() may return two lines, or half of one; "
               "iterate over self.rfile, which gives whole lines, each once it has all arrived")
STREAM_LINES = 4  # lines the check sends in _check_stream


def _check_stream(address) -> None:
    """Two lines in one piece, then one line in two pieces: a reply for each whole line, and only then."""
    try:
        with socket.create_connection(address, timeout=5) as sock:
            _stream_lines(sock)
    except OSError as error:  # the server closed or reset the connection while the check was sending
        raise Failure("the server to answer each line, sent in one piece with another or in two pieces",
                      f"{type(error).__name__}: {error}", STREAM_HINT) from None


def _stream_lines(sock: socket.socket) -> None:
    pair = b"UPPER one\nUPPER two\n"
    sock.sendall(pair)
    replies = [_read_line(sock, pair), _read_line(sock, pair)]
    expect(replies == [b"ONE\n", b"TWO\n"], f"two replies, b'ONE\\n' then b'TWO\\n', to {pair!r} sent at once",
           short(replies, 80), STREAM_HINT)
    sock.sendall(b"UPPER ha")
    sock.settimeout(0.5)  # a reply to half a line comes at once: 0.5 s without one is enough
    try:
        early = sock.recv(100)
    except TimeoutError:
        early = None
    sock.settimeout(5)
    expect(early is None, "no reply to b'UPPER ha' before the rest of its line, b'lf\\n', arrives",
           "the connection closed" if early == b"" else f"{early!r} at once", STREAM_HINT)
    sock.sendall(b"lf\n")
    expect_equal(_read_line(sock, b"lf\n"), b"HALF\n", "the reply to b'UPPER ha' + b'lf\\n', one line in two pieces",
                 STREAM_HINT)
    sock.sendall(b"QUIT\n")
    expect_equal(_read_line(sock, b"QUIT\n"), b"BYE\n", "the reply to b'QUIT\\n'", 'QUIT answers "BYE"')


def _run_clients(server, watch: _CountWatch) -> str:
    address = server.server_address[:2]
    with socket.create_connection(address, timeout=5) as sock, sock.makefile("rwb") as stream:
        script = [
            (b"UPPER hello\n", b"HELLO\n", ""),
            ("UPPER grüße\r\n".encode(), "GRÜSSE\n".encode(), 'strip the end of line, "\\r\\n" as well as "\\n": line.rstrip("\\r\\n")'),
            (b"UPPER bye\n", b"BYE\n", ""),
            (b"NOPE\n", b"ERROR unknown command\n", ""),
            (b"COUNT\n", b"5\n", "every line counts, this COUNT included: call self.server.next_count() once per line"),
            (b"QUIT\n", b"BYE\n", ""),
        ]
        previous = b""
        for line, wanted, hint in script:
            after_bye = previous == b"UPPER bye\n"
            bye_hint = ("the reply to 'UPPER bye' is BYE as well, and the client goes on: compare the command, "
                        "not the reply, to know whether to stop")
            hint = hint or (bye_hint if after_bye else "")
            previous = line
            try:
                reply = _exchange(stream, line)
            except TimeoutError:
                raise Failure(f"the reply {wanted!r} to {line!r}", "no whole reply line within 5 s",
                              'the client reads whole lines: end each reply with b"\\n" '
                              "(and write it to self.wfile for each line of self.rfile)") from None
            except OSError as error:
                raise Failure(f"the reply {wanted!r} to {line!r}", f"{type(error).__name__}: {error}",
                              bye_hint if after_bye else
                              "for each line of self.rfile: decode, respond, write the reply and b\"\\n\" to self.wfile") from None
            if not line.isascii() and isinstance(reply, bytes) and b"\r" not in reply:
                hint = ('decode each line as UTF-8 (raw.decode("utf-8")), and encode the reply as UTF-8: '
                        '"ü" is two bytes, which another encoding reads as two characters')
            expect_equal(reply, wanted, f"the reply to {line!r}",
                         hint or "write respond(...) encoded in UTF-8, then b\"\\n\", to self.wfile")
        try:
            after = stream.readline()
        except OSError as error:
            after = f"{type(error).__name__}"
        expect(after == b"", "the server to close the connection after BYE", f"{short(after)}",
               "return from handle() after answering QUIT: socketserver then closes the connection")
    watch.expect_calls(len(script), f"the {len(script)} lines of one client")
    watch.expect_guarded()
    _check_stream(address)

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
        total = len(script) + STREAM_LINES + CLIENTS * (LINES + 1) + 1
        reply = _exchange(stream, b"COUNT\n")
        expect_equal(reply, f"{total}\n".encode(), f"COUNT after {total - 1} lines from {CLIENTS + 2} clients",
                     "one counter on the server (self.server.next_count()), shared by every client")
    watch.expect_calls(total, f"the {total} lines of {CLIENTS + 3} clients")
    watch.expect_guarded()
    return (f"the protocol, lines in one piece and in two, then {CLIENTS} clients at once beside a silent one, "
            f"and an exact COUNT of {total}")


# --- step 4: one thread for every client, with selectors -------------------------------------------------------

REPLY_WAIT = 2.0  # seconds a reply may take: a right answer takes milliseconds
HOG_LINES, HOG_TEXT = 400, 50_000  # a client that sends 20 MB of requests and reads no reply until the end
CHURN = 30  # clients that come and go one after the other
QUIET_CPU = 0.01  # processor seconds per second the server may use while nobody sends (a right answer: about 0,
# since it sleeps in select(); a busy loop gets 0.3 and more, and never under 0.03 even on a machine loaded to the full)

STALL_HINT = ("one thread serves every client, so it must never wait for one of them: make each socket non-blocking, "
              "and accept() or recv() only on a socket the selector reported ready")
SEND_HINT = ("send() on a non-blocking socket takes what fits in the system's buffer and says how much: keep the rest "
             "in that client's output buffer, and send more when the selector reports the socket writable")
LINES_HINT = ("TCP carries bytes, not lines: keep what recv() returns in an input buffer per client, "
              "and answer each complete line, and only those")
CLOSE_HINT = ('recv() returning b"" means the client has sent all it will: answer what it sent, '
              "then unregister its socket and close it")
UNREGISTER_HINT = ("unregister a socket from the selector before closing it: the system gives its number to the next "
                   "connection, and register() refuses a number it already holds")
SPIN_HINT = ("select() without a timeout sleeps until a socket is ready; watch a socket for writing only while its "
             "output buffer holds something (a socket is writable nearly all the time)")


class _LineClient:
    """A client of the protocol that reads whole reply lines, each within ``REPLY_WAIT`` seconds."""

    def __init__(self, address, opened: list):
        self.sock = socket.create_connection(address, timeout=5)
        opened.append(self.sock)
        self.sock.settimeout(REPLY_WAIT)
        self.buffer = b""

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def closed(self) -> bool:
        """True once the server has closed the connection (b"" within REPLY_WAIT seconds)."""
        try:
            return self.buffer == b"" and self.sock.recv(65536) == b""
        except TimeoutError:
            return False
        except OSError:  # a reset: closed too
            return True


class _Run:
    """The student's serve_lines(listener, stopping), in a thread, and what the check sent it."""

    def __init__(self, serve_lines):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.address = self.listener.getsockname()
        self.stopping = threading.Event()
        self.crashes: list = []
        self.opened: list = []  # every socket of the check, closed at the end
        self.lines = 0  # request lines sent, for COUNT

        def target():
            try:
                serve_lines(self.listener, self.stopping)
            except BaseException as error:  # noqa: BLE001 - reported with the verdict
                self.crashes.append(error)

        self.thread = threading.Thread(target=target, name="check:serve_lines", daemon=True)
        self.thread.start()

    def client(self) -> _LineClient:
        return _LineClient(self.address, self.opened)

    def ask(self, client: _LineClient, data: bytes, wanted: list, hint: str = "", stuck: str = STALL_HINT) -> None:
        """Send ``data`` and expect the reply lines ``wanted``; ``stuck`` is the hint when no reply comes."""
        self.lines += data.count(b"\n")
        client.sock.sendall(data)
        got = []
        try:
            for _ in wanted:
                got.append(client.line())
        except TimeoutError:
            raise Failure(f"the reply {short(b''.join(wanted))} to {short(data)} within {REPLY_WAIT:g} s",
                          f"{short(b''.join(got))} and nothing more" if got else "no reply", stuck) from None
        except (EOFError, OSError) as error:
            raise Failure(f"the reply {short(b''.join(wanted))} to {short(data)}",
                          f"{short(b''.join(got))}, then the connection "
                          + ("closed" if isinstance(error, EOFError) else f"failed ({type(error).__name__})"), hint) from None
        expect_equal(b"".join(got), b"".join(wanted), f"the reply to {short(data)}", hint)

    def cpu_seconds(self) -> float:
        """Processor time used so far by the server's thread (by the whole process where the system cannot tell)."""
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(self.thread.ident))
        except (AttributeError, OSError):
            return time.process_time()

    def quiet(self, seconds: float) -> tuple[float, float]:
        """The processor time the server's thread used while nobody sent anything for ``seconds``."""
        before = self.cpu_seconds()
        time.sleep(seconds)
        return self.cpu_seconds() - before, seconds

    def stop(self) -> bool:
        """Set stopping, wake select() up with a connection, and wait: True if serve_lines returned."""
        self.stopping.set()
        try:
            socket.create_connection(self.address, timeout=2).close()
        except OSError:
            pass
        self.thread.join(3)
        return not self.thread.is_alive()

    def clean_up(self) -> None:
        """Leave nothing behind, whatever the student's loop is stuck in."""
        self.stopping.set()
        for sock in self.opened:
            sock.close()  # a recv() or send() of the server waiting on this client returns
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a blocking accept() on Linux
        except OSError:
            pass
        self.listener.close()
        self.thread.join(2)


@checker("serve_lines")
def check_serve_lines(serve_lines):
    """``serve_lines(listener, stopping)`` serves the protocol to every client from one thread.

    The check sends one client through the protocol (lines in one piece and in two), then, while
    a silent client and one with half a line stay connected, serves another; a client sends 20 MB
    of requests and reads no reply until the end, while another one must be served at once, and
    every byte of its replies must come, in order; a client that shuts down its sending side is
    answered, then closed; 30 clients come and go; the server must use (almost) no processor in a
    quiet second; COUNT must count every line; the server must return once ``stopping`` is set, and
    close its clients' connections. Every wait is bounded: a wrong answer never hangs the check.
    """
    run = _Run(serve_lines)
    run.thread.join(0.1)  # a stub raises at once
    try:
        summary = _drive(run)
    except Failure as failure:
        if any(isinstance(error, NotImplementedError) for error in run.crashes):
            stub = next(error for error in run.crashes if isinstance(error, NotImplementedError))
            raise NotDone(stub_message("serve_lines", stub)) from None
        if run.crashes:
            failure.got += f"; serve_lines raised {describe_exception(run.crashes[0])}"
            if isinstance(run.crashes[0], KeyError) and "registered" in str(run.crashes[0]):
                failure.hint = UNREGISTER_HINT
            elif isinstance(run.crashes[0], BlockingIOError):
                failure.hint = SEND_HINT + "; a non-blocking socket raises BlockingIOError where it would wait: catch it"
        raise
    finally:
        run.clean_up()
    return summary


def _drive(run: _Run) -> str:
    if run.crashes:  # a stub raises at once: "not done yet", said by check_serve_lines
        raise Failure("serve_lines to keep serving", "it returned at once")
    expect(run.thread.is_alive(), "serve_lines to serve until stopping is set", "it returned at once",
           "serve_lines runs the loop itself, in the thread that called it, and returns only once stopping is set")
    first = run.client()
    run.ask(first, b"UPPER hello\n", [b"HELLO\n"], "for each request line, the reply of respond() and b\"\\n\"")
    run.ask(first, "UPPER grüße\r\n".encode(), ["GRÜSSE\n".encode()],
            'decode each line as UTF-8 and strip its end of line, "\\r\\n" as well as "\\n"')
    run.ask(first, b"COUNT\n", [b"3\n"], "COUNT answers the number of lines the server has received, this one included")
    run.ask(first, b"UPPER one\nUPPER two\n", [b"ONE\n", b"TWO\n"], LINES_HINT, stuck=LINES_HINT)
    first.sock.sendall(b"UPPER ha")
    try:
        early = first.line()
    except (TimeoutError, EOFError, OSError):
        early = None
    expect(early is None, "no reply to b'UPPER ha' before the rest of its line arrives", f"{early!r}", LINES_HINT)
    run.ask(first, b"lf\n", [b"HALF\n"], LINES_HINT, stuck=LINES_HINT)
    run.ask(first, b"QUIT\n", [b"BYE\n"], 'QUIT answers "BYE"')
    expect(first.closed(), "the server to close the connection after BYE", "it stayed open",
           "after QUIT, stop reading from that client: once its reply has gone, unregister and close its socket")

    silent = run.client()  # connected, never says a word
    half = run.client()
    half.sock.sendall(b"UPPER ha")  # half a line, for a while
    other = run.client()
    for k in range(3):
        run.ask(other, b"UPPER again %d\n" % k, [b"AGAIN %d\n" % k],
                f"{STALL_HINT} (a silent client, and one that sent half a line, are connected meanwhile)")
    run.ask(half, b"lf\n", [b"HALF\n"], LINES_HINT, stuck=LINES_HINT)

    _hog(run, other)

    closing = run.client()
    run.lines += 2
    closing.sock.sendall(b"UPPER a\nUPPER b\n")
    closing.sock.shutdown(socket.SHUT_WR)
    try:
        replies = [closing.line(), closing.line()]
    except (TimeoutError, EOFError, OSError) as error:
        raise Failure("the replies b'A\\n' and b'B\\n' to a client that then shut down its sending side",
                      f"{type(error).__name__}", CLOSE_HINT) from None
    expect_equal(b"".join(replies), b"A\nB\n", "the replies to b'UPPER a\\nUPPER b\\n', sent before a shutdown", CLOSE_HINT)
    expect(closing.closed(), "the server to close a connection once the client has sent all (recv() gives b\"\") "
           "and its replies have gone", f"it stayed open {REPLY_WAIT:g} s", CLOSE_HINT)

    for k in range(CHURN):
        visitor = run.client()
        run.ask(visitor, b"UPPER visitor %d\n" % k, [b"VISITOR %d\n" % k],
                f"{UNREGISTER_HINT} (client {k + 1} of {CHURN} that come and go one after the other)",
                stuck=f"{UNREGISTER_HINT} (client {k + 1} of {CHURN} that come and go one after the other)")
        visitor.sock.close()
    later = run.client()
    run.ask(later, b"UPPER later\n", [b"LATER\n"], UNREGISTER_HINT, stuck=UNREGISTER_HINT)

    spent, seconds = run.quiet(1.0)
    if QUIET_CPU / 2 < spent / seconds < 10 * QUIET_CPU:  # unclear (a loaded machine?): look longer
        more, longer = run.quiet(2.0)
        spent, seconds = spent + more, seconds + longer
    expect(spent / seconds < QUIET_CPU, "a server that sleeps while no client sends anything",
           f"{spent:.2f} s of processor time in {seconds:.0f} s with clients connected and none sending", SPIN_HINT)

    wanted = run.lines + 1
    run.ask(later, b"COUNT\n", [b"%d\n" % wanted],
            "one count for the whole server, every client's lines included: a plain variable of serve_lines "
            "is enough, since one thread does all the counting")

    expect(run.stop(), "serve_lines to return once stopping is set (the check then connects once, to wake select() up)",
           "it was still running 3 s later (and still is: restart the kernel to end it)",
           "look at stopping at each turn of the loop: while not stopping.is_set()")
    expect(silent.closed(), "the server to close its clients' connections when it stops", "a client's connection stayed open",
           "when the loop ends, close every client socket still registered (the listener is the caller's)")
    return (f"the protocol in one thread, beside a silent client and half a line; {HOG_LINES * HOG_TEXT // 10**6} MB of "
            f"replies to a client that did not read, every byte in order, while another was served; a half-close, "
            f"{CHURN} clients coming and going, {spent:.2f} s of processor in a quiet second, COUNT {wanted}, and a clean stop")


def _hog(run: _Run, other: _LineClient) -> None:
    """A client sends 20 MB of requests and reads nothing, while `other` must still be served; then every reply."""
    hog = run.client()
    hog.sock.settimeout(3)
    request = b"UPPER " + b"x" * HOG_TEXT + b"\n"
    run.lines += HOG_LINES
    try:
        hog.sock.sendall(request * HOG_LINES)
    except (TimeoutError, OSError) as error:
        raise Failure(f"the server to read {HOG_LINES} requests of {HOG_TEXT:,} bytes from a client that reads its replies "
                      "only at the end", f"it stopped reading them ({type(error).__name__})",
                      SEND_HINT + "; never sendall() from the loop: it waits for this client, and the client waits for you") from None
    run.ask(other, b"UPPER meanwhile\n", [b"MEANWHILE\n"],
            f"{SEND_HINT}; sendall() waits until the client reads, and this one does not read yet",
            stuck=f"{SEND_HINT}; sendall() waits until the client reads, and this one does not read yet")
    wanted = (b"X" * HOG_TEXT + b"\n") * HOG_LINES
    got = bytearray()
    hog.sock.settimeout(REPLY_WAIT)
    try:
        while len(got) < len(wanted):
            chunk = hog.sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    except (TimeoutError, OSError):
        pass
    expect_equal(bytes(got), wanted, f"the {len(wanted):,} bytes of replies to a client that read them only at the end",
                 SEND_HINT + ": the part send() did not take must go, in order, before anything that came later")
