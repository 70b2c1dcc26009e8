"""Chapter 09's Socket.IO chat (notebooks/apps/09-socketio_chat.py), through its real server.

The app runs as the notebook runs it, ``launch("app", app=..., server="dev")`` (Werkzeug),
and python-socketio's clients talk to it: join notices, a broadcast that reaches one room
only, acknowledgements, a leave when a client disconnects or its connection drops, and
bad input answered with an error event to its sender, who stays, while the server serves on.

Deterministic: every wait has a timeout, and nothing sleeps. That a client did *not* hear
something is shown by order, not by waiting: each client's events come in the order the
server emitted them, so when a client's next event is a later one (its own message, sent
after), the earlier one never came to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from sandbox import launch
from sandbox.launcher import Server

APP_FILE = Path(__file__).resolve().parent.parent / "notebooks" / "apps" / "09-socketio_chat.py"
TROUBLE = ("Traceback", "Error", "Bad request", "Exception")  # in a line of the server's log


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One server for the module, each test in rooms of its own; its log stays clean."""
    with launch("app", app=os.path.relpath(APP_FILE), server="dev", replace=False) as srv:
        yield srv
    assert "app stopped" in srv.log
    troubles = [line for line in srv.log.splitlines() if any(word in line for word in TROUBLE)]
    assert not troubles, srv.log


@contextlib.contextmanager
def connected(server: Server, **options) -> Iterator[socketio.SimpleClient]:
    """A python-socketio client, connected for the ``with`` block; no reconnection (a test
    whose connection the server closes must see it closed, not a new one)."""
    client = socketio.SimpleClient(reconnection=False)
    client.connect(server.url, wait_timeout=5, **options)
    try:
        yield client
    finally:
        client.disconnect()


@contextlib.contextmanager
def joined(server: Server, name: str, room: str, **options) -> Iterator[socketio.SimpleClient]:
    """Connected, and in ``room`` as ``name``: its own join event read."""
    with connected(server, **options) as client:
        ack = client.call("join", {"name": name, "room": room}, timeout=5)
        assert name in ack["users"], ack
        assert next_event(client, "join") == {"name": name, "users": ack["users"]}
        yield client


def next_event(client: socketio.SimpleClient, kind: str | None = None, timeout: float = 5):
    """The argument of the next event ``client`` receives, which must be of type ``kind``
    (socketio.exceptions.TimeoutError if nothing comes within ``timeout`` s)."""
    event, *args = client.receive(timeout=timeout)
    if kind is not None:
        assert event == kind, (event, args)
    return args[0] if len(args) == 1 else args


def says(client: socketio.SimpleClient, text: str) -> dict:
    """``client`` says ``text``; its acknowledgement, which must carry the message's id."""
    ack = client.call("say", text, timeout=5)
    assert list(ack) == ["id"] and isinstance(ack["id"], int), ack
    return ack


# --- joining, saying, leaving -------------------------------------------------------


def test_a_join_is_told_to_the_room_and_acknowledged(server):
    with joined(server, "Ada", "join-room") as ada, connected(server) as bob:
        ack = bob.call("join", {"name": "Bob", "room": "join-room"}, timeout=5)
        assert ack == {"users": ["Ada", "Bob"]}
        notice = {"name": "Bob", "users": ["Ada", "Bob"]}
        assert next_event(ada, "join") == notice and next_event(bob, "join") == notice  # the newcomer too


def test_a_message_reaches_the_whole_room_the_sender_too_with_its_id(server):
    with joined(server, "Ada", "say-room") as ada, joined(server, "Bob", "say-room") as bob:
        assert next_event(ada, "join")["name"] == "Bob"
        ack = says(bob, "hello, room")
        message = {"id": ack["id"], "from": "Bob", "text": "hello, room"}
        assert next_event(ada, "say") == message and next_event(bob, "say") == message


def test_a_client_in_another_room_does_not_hear(server):
    with joined(server, "Ada", "room-a") as ada, joined(server, "Zed", "room-b") as zed:
        first = says(ada, "for room a only")
        later = says(zed, "for room b only")  # after Ada's message was sent to its room
        assert next_event(zed, "say") == {"id": later["id"], "from": "Zed", "text": "for room b only"}
        assert next_event(ada, "say")["id"] == first["id"]
        assert first["id"] < later["id"]


def test_message_ids_grow_in_the_order_the_room_hears(server):
    with joined(server, "Ada", "order-room") as ada:
        ids = [says(ada, f"message {i}")["id"] for i in range(5)]
        assert ids == sorted(set(ids))
        assert [next_event(ada, "say")["id"] for _ in ids] == ids


def test_a_disconnect_is_told_to_the_others_as_a_leave(server):
    with joined(server, "Ada", "leave-room") as ada:
        with joined(server, "Bob", "leave-room"):
            assert next_event(ada, "join")["name"] == "Bob"
        assert next_event(ada, "leave") == {"name": "Bob", "users": ["Ada"]}
        with joined(server, "Cy", "leave-room") as cy:  # the room goes on
            assert next_event(ada, "join") == {"name": "Cy", "users": ["Ada", "Cy"]}
            says(cy, "still here")
            assert next_event(ada, "say")["from"] == "Cy"


def test_a_dropped_connection_is_a_leave_too(server):
    """A client gone without a word: its TCP connection just ends (no Socket.IO disconnect
    packet, no close frame). Engine.IO and Socket.IO spoken by hand over a raw WebSocket."""
    with joined(server, "Ada", "drop-room") as ada:
        with connect("ws" + server.url.removeprefix("http") + "/socket.io/?EIO=4&transport=websocket",
                     open_timeout=5) as raw:
            assert raw.recv(timeout=5).startswith('0{"sid":')  # Engine.IO: open
            raw.send("40")  # Socket.IO: connect to "/"
            assert raw.recv(timeout=5).startswith('40{"sid":')
            raw.send('42["join",{"name":"Dropped","room":"drop-room"}]')
            assert json.loads(raw.recv(timeout=5).removeprefix("42")) == [
                "join", {"name": "Dropped", "users": ["Ada", "Dropped"]}]
            assert next_event(ada, "join")["name"] == "Dropped"
            raw.socket.shutdown(socket.SHUT_RDWR)  # the TCP connection ends, nothing said
        assert next_event(ada, "leave") == {"name": "Dropped", "users": ["Ada"]}


def test_the_default_client_upgrades_to_a_websocket_and_a_polling_one_works_too(server):
    with joined(server, "Ws", "transport-room") as ws_client, \
            joined(server, "Poll", "transport-room", transports=["polling"]) as poll_client:
        assert ws_client.transport == "websocket" and poll_client.transport == "polling"
        assert next_event(ws_client, "join")["name"] == "Poll"
        ack = says(poll_client, "over long polling")
        message = {"id": ack["id"], "from": "Poll", "text": "over long polling"}
        assert next_event(ws_client, "say") == message and next_event(poll_client, "say") == message


def test_the_server_ends_the_tcp_connection_once_a_websocket_is_over(server):
    """EndWebSockets: after the closing handshake Werkzeug reads end of file and closes, instead
    of reading on for another HTTP request (and logging the client's last bytes as a bad one)."""
    raw = socket.create_connection((server.host, server.port), timeout=5)
    with contextlib.closing(raw):
        raw.sendall(f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {server.host}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += raw.recv(4096)
        assert received.startswith(b"HTTP/1.1 101 "), received
        mask = b"\x01\x02\x03\x04"
        raw.sendall(b"\x88\x82" + mask + bytes(b ^ mask[i] for i, b in enumerate(b"\x03\xe8")))  # close, 1000
        while chunk := raw.recv(4096):  # socket.timeout (5 s) if the server kept the connection open
            received += chunk
        # End of file: the server closed. Its close frame usually comes first, but on a busy machine
        # the server may end the connection before echoing it (seen once under CI load): not asserted.


# --- bad input ------------------------------------------------------------------------


BAD_MESSAGES = [
    (42, "a message is a string: got int"),
    ((None,), "a message is a string: got NoneType"),  # one argument, JSON null
    (["a", "list"], "a message is a string: got list"),
    ({"text": "hi"}, "a message is a string: got dict"),
    ("", "a message is 1 to 4096 bytes of UTF-8 text: got 0 bytes"),
    ("x" * 4097, "a message is 1 to 4096 bytes of UTF-8 text: got 4097 bytes"),
    ("é" * 2049, "a message is 1 to 4096 bytes of UTF-8 text: got 4098 bytes"),  # bytes, not characters
    ("\ud800", "a message must be valid Unicode text"),
    (("two", "arguments"), "say takes one argument, the message: got 2"),  # a tuple: two arguments
    (None, "say takes one argument, the message: got 0"),  # no argument at all
]


@pytest.mark.parametrize(("text", "problem"), BAD_MESSAGES, ids=[repr(t)[:20] for t, _ in BAD_MESSAGES])
def test_a_bad_message_is_an_error_to_its_sender_only_who_stays(server, text, problem):
    with joined(server, "Ada", "bad-room") as ada, joined(server, "Bob", "bad-room") as bob:
        assert next_event(ada, "join")["name"] == "Bob"
        ack = bob.call("say", text, timeout=5)
        assert ack["error"].startswith(problem), ack
        assert next_event(bob, "error") == {"message": ack["error"]}
        good = says(bob, "a good one")  # still connected, still in the room
        assert next_event(bob, "say")["id"] == good["id"]
        assert next_event(ada, "say")["id"] == good["id"]  # Ada never got Bob's error


BAD_JOINS = [
    ({"name": "", "room": "r"}, "a name is 1 to 32 printable characters"),
    ({"name": "x" * 33, "room": "r"}, "a name is 1 to 32 printable characters"),
    ({"name": " Ada", "room": "r"}, "a name is 1 to 32 printable characters, no spaces around"),
    ({"name": "Ada\n", "room": "r"}, "a name is 1 to 32 printable characters"),
    ({"name": 7, "room": "r"}, "a name is 1 to 32 printable characters"),
    ({"name": "Ada"}, "a room is 1 to 32 printable characters"),
    ("Ada", "a name is 1 to 32 printable characters"),  # not an object
]


@pytest.mark.parametrize(("data", "problem"), BAD_JOINS, ids=[repr(d)[:24] for d, _ in BAD_JOINS])
def test_a_bad_join_is_an_error_and_the_client_may_join_after(server, data, problem):
    with connected(server) as client:
        ack = client.call("join", data, timeout=5)
        assert ack["error"].startswith(problem), ack
        assert next_event(client, "error") == {"message": ack["error"]}
        assert client.call("join", {"name": "Fixed", "room": "bad-join-room"}, timeout=5) == {"users": ["Fixed"]}


def test_saying_before_joining_joining_twice_and_unknown_events_are_errors(server):
    with connected(server) as client:
        assert client.call("say", "too early", timeout=5)["error"].startswith("join a room first")
        assert next_event(client, "error")["message"].startswith("join a room first")
        client.call("join", {"name": "Twice", "room": "twice-room"}, timeout=5)
        assert next_event(client, "join")["name"] == "Twice"
        again = client.call("join", {"name": "Twice", "room": "other-room"}, timeout=5)
        assert again == {"error": "already in room 'twice-room': one room per connection"}
        assert next_event(client, "error") == {"message": again["error"]}
        unknown = client.call("shout", "hi", timeout=5)
        assert unknown == {"error": "unknown event 'shout': emit join or say"}
        assert next_event(client, "error") == {"message": unknown["error"]}
        assert client.connected


def test_a_packet_over_64_kib_closes_that_connection_only(server):
    with joined(server, "Ada", "big-room") as ada, joined(server, "Big", "big-room") as big:
        assert next_event(ada, "join")["name"] == "Big"
        big.emit("say", "x" * 70_000)  # more than the server's maxPayload: not even read as a message
        assert next_event(ada, "leave") == {"name": "Big", "users": ["Ada"]}
        # SimpleClient.receive() is not woken by a disconnect: wait for Engine.IO's end instead.
        ended = threading.Thread(target=big.client.eio.wait, daemon=True)
        ended.start()
        ended.join(5)
        assert not ended.is_alive() and not big.connected
        with pytest.raises(socketio.exceptions.DisconnectedError):
            big.receive(timeout=5)
        says(ada, "the server serves on")
        assert next_event(ada, "say")["text"] == "the server serves on"


# --- not a WebSocket, either way ------------------------------------------------------


def test_a_plain_websocket_client_is_refused(server):
    with pytest.raises(InvalidStatus) as refused:
        connect("ws" + server.url.removeprefix("http") + "/socket.io/", open_timeout=5)
    assert refused.value.response.status_code == 400


def test_a_socketio_client_cannot_talk_to_the_plain_websocket_chat():
    with launch("chat", replace=False) as chat:
        client = socketio.SimpleClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError, match="404"):
            client.connect(chat.url, wait_timeout=5)
