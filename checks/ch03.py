"""Checks for exercises/03-serialization.md: framing JSON messages, and refusing pickle.

    check_send_json(send_json)                               step 1: one JSON message per line
    check_recv_json(recv_json, send_json, contacts)          step 2: read them back; talk to the contacts server
    check_length_prefix(send_framed, recv_framed, echo)      step 3: a 4-byte length, then the message
    check_safe_loads(safe_loads)                             step 4: JSON only, never pickle
"""

from __future__ import annotations

import json
import pickle
import socket
import struct
import uuid

from .core import Failure, call, call_raising, checker, expect, expect_equal, short
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
                 hint='a socket sends bytes: json.dumps(obj).encode("utf-8") + b"\\n", with sendall')
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
                          "send json.dumps(obj), encoded with UTF-8") from None
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
            got = call(recv_json, lines, hint="lines is a file: lines.readline() gives the next line, b\"\\n\" included; json.loads accepts bytes")
            expect_equal(got, message, "the next message", "return json.loads(line): the message, decoded")
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
        call(send_framed, client, obj, hint='struct.pack("!I", len(body)) + body, with sendall')
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
                got = call(recv_framed, conn, hint="read the 4-byte header with recv_exactly, then exactly that many bytes")
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
    decode = 'decode the bytes as UTF-8, data.decode("utf-8"), then json.loads the text'
    for data, value in accepted:
        got = call(safe_loads, data, hint=decode)
        expect_equal(got, value, f"safe_loads({short(data)})", decode)
    never = "never call pickle.loads on received bytes: it runs whatever function the sender named"
    not_json = "json.loads raises json.JSONDecodeError, a ValueError, for what is not JSON: let it go up to the caller"
    nan = 'json.loads(text, parse_constant=...) calls its function for NaN, Infinity and -Infinity: raise ValueError there'
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
