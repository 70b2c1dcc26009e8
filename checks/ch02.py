"""Checks for exercises/02-tcp-client.md: reading a whole reply, any length, and "is anyone there?".

    check_recv_until_closed(recv_until_closed)      step 1
    check_echo_any_length(echo_any_length, echo)    step 2 (echo: the notebook's echo server, optional)
    check_is_listening(is_listening, echo)          step 3
"""

from __future__ import annotations

from .core import Failure, call, checker, expect_equal, short
from .helpers import connected_pair, free_port, in_background, sandbox_server, send_in_pieces
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


@checker("recv_until_closed")
def check_recv_until_closed(recv_until_closed):
    """``recv_until_closed(conn)`` returns every byte the other side sent, once it closed.

    The other side sends in small and large pieces (1, 2, 3, 1000, 7, 65536 bytes...),
    so a single ``recv`` cannot get a 300 kB message; an empty message must give ``b""``.
    """
    messages = [b"", b"hello", "Grüße 👋".encode("utf-8"), bytes(range(256)) * 1200]
    for data in messages:
        client, server = connected_pair()
        with client, server:
            sender = in_background(send_in_pieces, client, data)
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
    return "5 messages from 0 bytes to 64 MB came back unchanged"


@checker("is_listening")
def check_is_listening(is_listening, echo=None):
    """``is_listening(host, port)`` is True where a server listens, False where the connection is refused.

    It must never raise for a refused connection; a server that accepts but
    never answers is listening too.
    """
    refused_hint = "connect in a try block; ConnectionRefusedError (an OSError) means nobody listens: return False"
    with sandbox_server("echo", echo) as server:
        got = call(is_listening, server.host, server.port, hint="connect with socket.create_connection((host, port), timeout=...)")
        expect_equal(got, True, f"is_listening{server.address} where the echo server listens")
    port = free_port()
    got = call(is_listening, "127.0.0.1", port, hint=refused_hint,
               expected=f"is_listening('127.0.0.1', {port}) to return False: nobody listens there")
    expect_equal(got, False, f"is_listening('127.0.0.1', {port}) where nobody listens", refused_hint)
    with silent_server() as (host, port):
        got = call(is_listening, host, port, limit=10,
                   hint="only connect: do not send or wait for an answer; the connection itself is the answer")
        expect_equal(got, True, "True for a server that accepts connections but never says anything",
                     "only connect: do not send or wait for an answer; the connection itself is the answer")
    return "True for the echo server and a silent server, False for a port where nobody listens"
