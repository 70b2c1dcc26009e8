"""Checks for exercises/03-serialization.md: framing JSON messages, and refusing pickle.

    check_send_json(send_json)                               step 1: one JSON message per line
    check_recv_json(recv_json, send_json, contacts)          step 2: read them back; talk to the contacts server
    check_length_prefix(send_framed, recv_framed, echo)      step 3: a 4-byte length, then the message
    check_safe_loads(safe_loads)                             step 4: JSON only, never pickle
    check_framed_client(FramedClient)                        step 5: framed JSON both ways, one connection (FramedServer)
"""

from __future__ import annotations

import json
import pickle
import socket
import struct
import threading
import uuid

from .core import Failure, call, call_raising, checker, expect, expect_equal, short
from .ch02 import CheckServer
from .helpers import connected_pair, in_background, read_all, sandbox_server, send_in_pieces, stingy

MESSAGES = [
    {"cmd": "list"},
    {"cmd": "get", "args": {"name": "Ada Lovelace"}},
    {"note": "first line\nsecond line"},
    "Grüße 👋",
    [1, 2.5, None, True, False],
]
SENDALL_HINT = "send() may send only part of the bytes (it returns how many it sent): sendall() sends them all"
PEOPLE = [{"name": f"Person {i}", "email": f"p{i}@example.org", "phone": None} for i in range(1500)]


@checker("send_json")
def check_send_json(send_json):
    """``send_json(conn, obj)`` sends ``obj`` as one line of JSON: UTF-8, ending with one ``b"\\n"``."""
    client, server = connected_pair()
    client = stingy(client)  # its send() sends 3 bytes at most, as a send() may: sendall() sends it all
    with client, server:
        for message in MESSAGES:
            call(send_json, client, message,
                 hint='a socket sends bytes: encode the JSON text in UTF-8, end it with b"\\n", and send it all')
        client.shutdown(socket.SHUT_WR)
        raw = read_all(server)
    least = sum(len(json.dumps(m, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + 1 for m in MESSAGES)
    expect(not client.cut or len(raw) >= least, f"all {len(MESSAGES)} messages sent whole", f"{len(raw)} bytes: {short(raw)}",
           SENDALL_HINT)
    expect(raw.endswith(b"\n"), 'the bytes sent to end with b"\\n"', short(raw),
           'end each message with b"\\n": that is how the receiver knows where it ends')
    lines = raw.split(b"\n")[:-1]
    expect(len(lines) == len(MESSAGES), f"{len(MESSAGES)} messages sent as {len(MESSAGES)} lines",
           f"{len(lines)} lines: {short(raw)}",
           "one message, one line: json.dumps writes one line unless you pass indent=, and add one b\"\\n\" per message")
    for line, message in zip(lines, MESSAGES):
        try:
            back = json.loads(line)
        except ValueError as error:
            raise Failure(f"each line to be JSON, such as {json.dumps(message)!r}", f"{short(line)} ({error})",
                          "send the text json.dumps gives, encoded in UTF-8") from None
        expect_equal(back, message, "the line to decode back to the message", "send json.dumps(obj) itself, encoded with UTF-8")
    return f"{len(MESSAGES)} messages, each one line of JSON ending with b'\\n', even one with a newline inside"


@checker("recv_json")
def check_recv_json(recv_json, send_json, contacts=None):
    """``recv_json(lines)`` reads one message from ``lines = conn.makefile("rb")``.

    The bytes arrive in pieces (a character cut in two); after the last message,
    and when the connection closes in the middle of one, it raises ConnectionError.
    Then ``send_json`` and ``recv_json`` talk to the contacts server: add a contact
    and get it back; the check confirms on its own connection that the server has it.
    """
    sent = [{"cmd": "list"}, {"greeting": "Grüße 👋"}, [1, 2]]
    raw = b"".join(json.dumps(m).encode("utf-8") + b"\n" for m in sent) + b'{"cut": '
    closed_hint = 'readline() returns b"" (or a line without its b"\\n") once the connection is closed: raise ConnectionError then'
    client, server = connected_pair()
    with client, server, server.makefile("rb") as lines:
        sender = in_background(send_in_pieces, client, raw)
        for message in sent:
            got = call(recv_json, lines, hint="lines is a file: its readline() gives the next line, b\"\\n\" included, however recv() cut it")
            expect_equal(got, message, "the next message", "return the message decoded from its line, not the line itself")
        call_raising(ConnectionError, recv_json, lines, hint=closed_hint,
                     expected='ConnectionError when the connection closes in the middle of a message (b\'{"cut": \')')
        sender.join(5)
    client, server = connected_pair()
    with client, server, server.makefile("rb") as lines:
        client.close()
        call_raising(ConnectionError, recv_json, lines, hint=closed_hint,
                     expected="ConnectionError when the connection closes with no message at all")

    name = f"Check {uuid.uuid4().hex[:8]}"
    with sandbox_server("contacts", contacts) as server:
        with socket.create_connection(server.address, timeout=5) as conn, conn.makefile("rb") as lines:
            request = {"cmd": "add", "args": {"name": name, "email": "check@example.org"}}
            call(send_json, conn, request, hint="send_json sent the messages of step 1: it works on any connected socket")
            reply = call(recv_json, lines, hint="the contacts server answers one line of JSON per request: recv_json reads one")
            expect(isinstance(reply, dict) and reply.get("status") is True,
                   f"the contacts server to answer {{'status': True, ...}} to {request}", short(reply),
                   "send the request with send_json, then read the answer with recv_json on the same connection")
        with socket.create_connection(server.address, timeout=5) as conn, conn.makefile("rb") as own:
            conn.sendall(json.dumps({"cmd": "delete", "args": {"name": name}}).encode() + b"\n")
            seen = json.loads(own.readline())
        expect(seen["status"] and seen["data"]["name"] == name, f"the server to hold the contact {name!r}", short(seen),
               "send_json must send the request as it is: json.dumps(obj)")
    return "3 messages read from pieces, ConnectionError on a closed connection, a contact added on the contacts server"


@checker("send_framed / recv_framed")
def check_length_prefix(send_framed, recv_framed, echo=None):
    """``send_framed(conn, obj)`` sends a 4-byte big-endian length, then the JSON in UTF-8;
    ``recv_framed(conn, max_size=1_000_000)`` reads one such message.

    Through the echo server: small messages and 1500 contacts (about 100 kB).
    ``recv_framed`` refuses a header larger than ``max_size`` with ValueError,
    *before* reading the body, and raises ConnectionError on a body cut short.
    """
    obj = {"cmd": "get", "args": {"name": "Grüße"}}
    body = json.dumps(obj).encode("utf-8")
    client, server = connected_pair()
    client = stingy(client)  # its send() sends 3 bytes at most, as a send() may
    with client, server:
        call(send_framed, client, obj, hint='the header is the size of the body in bytes, packed in 4 bytes big-endian; then the body, all of it sent')
        client.shutdown(socket.SHUT_WR)
        raw = read_all(server)
    expect(not client.cut or len(raw) >= 4 + len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")),
           "the header and the whole message sent", f"{len(raw)} bytes: {short(raw)}", SENDALL_HINT)
    header = raw[:4]
    expect(header == struct.pack("!I", len(raw) - 4) and len(raw) >= 4,
           f"a 4-byte header giving the length of the body, big-endian: {struct.pack('!I', len(body))!r} for {len(body)} bytes",
           f"{short(raw)}", '"!I": 4 bytes, network byte order (big-endian); the length counts bytes, not characters')
    try:
        back = json.loads(raw[4:])
    except ValueError:
        back = raw[4:]
    expect_equal(back, obj, "the body to be the JSON of the message", 'the body is json.dumps(obj).encode("utf-8"), after the header')

    messages = [{"cmd": "list"}, "Grüße 👋", {}, PEOPLE]
    with sandbox_server("echo", echo) as echo_server:
        with stingy(socket.create_connection(echo_server.address, timeout=5)) as conn:
            for message in messages:
                call(send_framed, conn, message)
            for message in messages:
                got = call(recv_framed, conn, hint="read the whole 4-byte header, however it comes, then exactly the size it announces")
                expect_equal(got, message, "the message sent, through the echo server",
                             "read exactly the size the header announces, then json.loads those bytes")

    refuse_hint = "unpack the header first and compare the size with max_size; raise ValueError before reading the body"
    # Not 4 GB: a recv() of that size would first allocate a 4 GB buffer.
    for size, label in [(100_000_000, "100 MB"), (101, "101 bytes")]:
        client, server = connected_pair(timeout=2)
        with client, server:
            client.sendall(struct.pack("!I", size) + b'"xx')
            call_raising(ValueError, recv_framed, server, max_size=100, limit=5, hint=refuse_hint,
                         expected=f"ValueError for a header announcing {label} when max_size=100, without waiting for the body")
    client, server = connected_pair()
    with client, server:
        exact = json.dumps("x" * 98).encode()  # 100 bytes: the largest allowed
        client.sendall(struct.pack("!I", len(exact)) + exact)
        got = call(recv_framed, server, max_size=100, hint="refuse only what is larger than max_size")
        expect_equal(got, "x" * 98, "a message of exactly max_size bytes to be accepted", "refuse only what is larger than max_size")
    client, server = connected_pair()
    with client, server:
        client.sendall(struct.pack("!I", 10) + b'"ab')
        client.close()
        call_raising(ConnectionError, recv_framed, server, hint="recv_exactly raises ConnectionError when the connection closes early",
                     expected="ConnectionError when the connection closes 3 bytes into a 10-byte body")
    return "header format, 4 messages through the echo server (up to 100 kB), max_size enforced before reading, cut body refused"


# A pickle whose loading calls _tripwire(): proof that someone ran pickle.loads on it.
_TRIPPED: list[str] = []


def _tripwire(note: str) -> None:
    _TRIPPED.append(note)


class _Booby:
    def __reduce__(self):
        return (_tripwire, ("pickle.loads ran the sender's code",))


@checker("safe_loads")
def check_safe_loads(safe_loads):
    """``safe_loads(data)`` returns the JSON value of ``data`` (bytes), and raises ValueError for
    anything else: a pickle (never loaded!), NaN or Infinity, bytes that are not UTF-8, not JSON at all.
    """
    accepted = [
        (b'{"name": "Ada", "n": [1, 2.5, null, true]}', {"name": "Ada", "n": [1, 2.5, None, True]}),
        ('"Grüße"'.encode("utf-8"), "Grüße"),
        (b"[]", []),
    ]
    decode = 'the bytes are UTF-8: decode them as such (data.decode("utf-8")), then load the text as JSON'
    for data, value in accepted:
        got = call(safe_loads, data, hint=decode)
        expect_equal(got, value, f"safe_loads({short(data)})", decode)
    never = "never call pickle.loads on received bytes: it runs whatever function the sender named"
    not_json = "json.loads raises json.JSONDecodeError, a ValueError, for what is not JSON: let it go up to the caller"
    nan = "json.loads's parse_constant decides what NaN, Infinity and -Infinity become: make it refuse them"
    refused = [
        (pickle.dumps(_Booby()), "a pickle that runs code when loaded", never),
        (pickle.dumps({"name": "Ada"}), "a harmless-looking pickle", never),
        (b"NaN", "NaN, which is not standard JSON", nan),
        (b'{"x": Infinity}', "Infinity, which is not standard JSON", nan),
        (b'{"name": "\xff"}', "bytes that are not UTF-8", "decoding with UTF-8 raises UnicodeDecodeError, a ValueError"),
        (b"", "empty bytes", not_json),
        (b'{"a": 1} and more', "JSON followed by garbage", not_json),
    ]
    for data, label, hint in refused:
        _TRIPPED.clear()
        try:
            call_raising(ValueError, safe_loads, data, hint=hint, expected=f"ValueError for {label}")
        except Failure:
            if not _TRIPPED:
                raise
        expect(not _TRIPPED, f"safe_loads never to unpickle: {label} must be refused with ValueError",
               "it ran the code inside the pickle!", never)
    return f"{len(accepted)} JSON values loaded; {len(refused)} refusals with ValueError, and no pickle was ever loaded"


# --- step 5: a client that keeps its connection --------------------------------------------------------------------


def _recv_exactly(conn: socket.socket, n: int) -> bytes | None:
    """Exactly ``n`` bytes, or None if the connection ends first."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class FramedServer(CheckServer):
    """The check's own server for step 5: framed JSON both ways (a 4-byte big-endian size, then JSON in UTF-8).

    It answers each request ``obj`` with ``{"echo": obj, "n": N}``, N counting the requests of this
    connection (1, 2, ...). Options, to behave as real servers sometimes do:

    - ``pace``: seconds between the bytes of a reply, sent one by one (header included);
    - ``huge``: the reply's header announces 100,000,000 bytes, and nothing follows (not 4 GB: a
      client without a limit would first ask for a buffer of that size);
    - ``body``: the reply is these bytes (framed), whatever the request;
    - ``cut``: the reply's header announces 20 bytes, 5 follow, then the server closes;
    - ``silent``: it reads the request and never answers.

    ``errors`` lists what it could not read as a request; ``ended`` is set when a client's
    connection has ended (the client closed it, or reset it).
    """

    def __init__(self, pace: float = 0.0, huge: bool = False, body: bytes | None = None, cut: bool = False,
                 silent: bool = False):
        super().__init__()
        self.pace, self.huge, self.body, self.cut, self.silent = pace, huge, body, cut, silent
        self.errors: list[str] = []
        self.ended = threading.Event()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._answer(conn)
        except OSError:
            pass
        finally:
            self.ended.set()

    def _answer(self, conn: socket.socket) -> None:
        n = 0
        while (header := _recv_exactly(conn, 4)) is not None:
            (size,) = struct.unpack("!I", header)
            body = _recv_exactly(conn, size) if size <= 1_000_000 else None
            try:
                request = json.loads(body.decode("utf-8")) if body is not None else None
            except ValueError as error:
                request, body = None, None
                self.errors.append(f"{size}-byte header, then bytes that are not that much JSON ({error})")
            if body is None:
                if not self.errors:
                    self.errors.append(f"a header announcing {size:,} bytes, then not that many bytes")
                return
            n += 1
            if self.silent:
                continue
            if self.huge:
                conn.sendall(struct.pack("!I", 100_000_000))
            elif self.cut:
                self._send(conn, struct.pack("!I", 20) + b'{"ech')
                self._finish(conn)
                return
            else:
                reply = self.body if self.body is not None else json.dumps({"echo": request, "n": n}).encode("utf-8")
                self._send(conn, struct.pack("!I", len(reply)) + reply)
        # b"" at a message boundary: the client closed


REQUESTS = [{"cmd": "list"}, "Grüße 👋", [1, 2.5, None]]
STREAM_HINT = ("recv() returns what has arrived: read the 4 bytes of the header, however they come, then exactly the "
               "size they announce (step 3's recv_framed does)")


def _client(FramedClient, address, **options):
    """``FramedClient(address, **options)``, or Failure / NotDone as call() says."""
    return call(FramedClient, address, **options, hint="connect in __init__, once: every request uses that connection")


def _ended(server: FramedServer, what: str, hint: str) -> None:
    expect(server.ended.wait(2), what, "the server's end of the connection was still open 2 s later", hint)


@checker("FramedClient")
def check_framed_client(FramedClient):
    """``FramedClient(address, timeout=5.0, max_size=...)``: ``request(obj)`` sends framed JSON and returns the
    framed reply, decoded, on one connection kept for all requests; ``close()``; a ``with`` block.

    Against FramedServer: replies whole and in 1-byte pieces; a header announcing 100 MB, or more than
    max_size (ValueError, and the connection closed); a reply cut off (ConnectionError); no reply (TimeoutError).
    """
    with FramedServer() as server:
        client = _client(FramedClient, server.address, timeout=5)
        for n, obj in enumerate(REQUESTS, 1):
            try:
                reply = call(client.request, obj, hint=STREAM_HINT)
            except Failure:
                if not server.errors:
                    raise
                reply = None
            if server.errors:  # it closed the connection: nothing came back to look at
                raise Failure("the server to read your request: a 4-byte big-endian size in bytes, then that many bytes "
                              "of JSON in UTF-8", f"it received {server.errors[0]}",
                              "the header counts the bytes of the encoded body, not the characters of the text")
            if isinstance(reply, dict) and reply.get("echo") == obj and reply.get("n") == 1 and n > 1:
                raise Failure(f"request {n} on the connection of the first ones", f"{short(reply)}: a new connection",
                              "connect once, in __init__; request() uses that connection")
            expect_equal(reply, {"echo": obj, "n": n}, f"the reply to request {n}, decoded", STREAM_HINT)
        expect(server.connections == 1, "one connection for 3 requests", f"{server.connections} connections",
               "connect once, in __init__; request() uses that connection")
        call(client.close, hint="close() closes the connection")
        _ended(server, "close() to close the connection", "close the socket in close()")

    with FramedServer() as server:
        def in_a_with_block():
            with FramedClient(server.address) as client:
                return client.request({"cmd": "list"})

        got = call(in_a_with_block, hint="a with block needs __enter__ (returning the client itself) and __exit__ (closing it)")
        expect_equal(got, {"echo": {"cmd": "list"}, "n": 1}, "the reply, from a client used in a with block",
                     "__enter__ returns the client itself")
        _ended(server, "the end of the with block to close the connection", "__exit__ closes the connection")

    with FramedServer(pace=0.002) as server:
        client = _client(FramedClient, server.address, timeout=5)
        try:
            for n, obj in enumerate(REQUESTS[:2], 1):
                reply = call(client.request, obj, hint=STREAM_HINT,
                             expected="the reply of a server that sends it one byte at a time, header included")
                expect_equal(reply, {"echo": obj, "n": n}, "the reply, sent one byte at a time", STREAM_HINT)
        finally:
            _quietly_close(client)

    limit_hint = ("compare the size in the header with max_size before reading the body: a forged header must cost "
                  "nothing; then close the connection, since where the next message starts is now unknown")
    for options, label in [({"huge": True}, "announcing 100,000,000 bytes"),
                           ({"body": json.dumps("x" * 99).encode()}, "of 101 bytes (max_size=100)")]:
        with FramedServer(**options) as server:
            client = _client(FramedClient, server.address, timeout=5, max_size=100)
            try:
                call_raising(ValueError, client.request, {"cmd": "list"}, limit=3, hint=limit_hint,
                             expected=f"ValueError at once for a reply {label}")
            finally:
                closed = server.ended.wait(2)
                _quietly_close(client)
            expect(closed, f"request() to close the connection after a reply {label}",
                   "it was still open 2 s after the ValueError",
                   "after a framing error the stream is out of step (the next bytes may be anything): close the "
                   "connection before raising")

    with FramedServer(cut=True) as server:
        client = _client(FramedClient, server.address, timeout=5)
        try:
            call_raising(ConnectionError, client.request, {"cmd": "list"}, limit=3,
                         expected="ConnectionError: the server closed 5 bytes into a 20-byte reply",
                         hint='recv() returns b"" when the server has closed: before a whole reply, that is a '
                              "ConnectionError (step 3's recv_exactly raises it)")
        finally:
            _quietly_close(client)

    timeout_hint = "connect with the timeout given: then a server that never replies ends in TimeoutError, not a wait for ever"
    with FramedServer(silent=True) as server:
        client = _client(FramedClient, server.address, timeout=0.5)
        try:
            call_raising(OSError, client.request, {"cmd": "list"}, limit=3, hint=timeout_hint,
                         expected="TimeoutError (an OSError) from FramedClient(..., timeout=0.5) on a server that never replies")
        finally:
            _quietly_close(client)
    return ("3 requests on one connection, replies whole and in 1-byte pieces, a with block; ValueError and the connection "
            "closed for 100 MB and for more than max_size; ConnectionError for a cut reply; TimeoutError from a silent server")


def _quietly_close(client) -> None:
    try:
        client.close()
    except Exception:  # noqa: BLE001 - the check is over with this client; its own verdict comes from elsewhere
        pass
