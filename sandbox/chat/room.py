"""The chat room: who is connected, the last messages, and the events it sends.

Every event is one JSON text message on the WebSocket:

    {"type": "message", "id": 7, "from": "Bob", "text": "hi", "time": "..."}
    {"type": "join" or "leave", "name": "Bob", "users": ["Ada", "Bob"], "time": "..."}
    {"type": "error", "message": "..."}   to one client only
"""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import socket
import threading
from datetime import datetime, timezone

from flask_sock import ConnectionClosed

MAX_TEXT = 4096  # bytes (UTF-8) in one chat message: more -> an error event, message dropped
MAX_NAME = 32  # characters in a name
MAX_QUEUE = 1024  # events waiting to be sent to one client: one more -> it is disconnected (code 1008)
MAX_AHEAD = 64  # events waiting for a client past which the server reads no more of what it sends
SEND_BUFFER = 64 * 1024  # bytes of the kernel's TCP buffer towards each client (Linux's grows to 4 MiB)
GIVE_UP = 5  # seconds a disconnected client has to take its close frame; then its TCP connection is cut


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be used, or None if it can."""
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable() or name != name.strip():
        return f"a name is 1 to {MAX_NAME} printable characters, no spaces around: got {name[:40]!r}"
    return None


def text_problem(text) -> str | None:
    """Why ``text`` cannot be a chat message, or None if it can."""
    if not isinstance(text, str):
        return "send text, not binary data: each text message is one chat message"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # JSON can carry "\ud800", half of a UTF-16 pair: no character at all
        return "a message must be valid Unicode text: it contains a lone surrogate (half of a UTF-16 pair)"
    if not 1 <= size <= MAX_TEXT:
        return f"a message is 1 to {MAX_TEXT} bytes of UTF-8 text: got {size} bytes"
    return None


def error_event(message: str) -> dict:
    return {"type": "error", "message": message}


class Member:
    """One client in the chat room, with its own outbox (a bounded queue of the
    events still to send to it) and its own writer thread, which sends them.

    A broadcast only puts the event in each outbox, which never waits: a client
    that reads slowly, or not at all, delays no one but itself. Sending in the
    broadcaster's thread instead lets one client that never reads stop the
    room: once the TCP buffers towards it are full, ``ws.send()`` waits, for
    ever. Its outbox fills up instead, and once MAX_QUEUE events wait, the
    client is too far behind: it is dropped.

    The other half of back-pressure is for the one who talks: keep_up() holds
    back a client that sends faster than the server can send it its own
    messages back. Without it a burst would fill every outbox at the speed of
    the server's reading, healthy clients' too.

    What a client has not read also waits in the kernel, in the TCP buffers of
    both ends; a small send buffer keeps most of it here, where it is counted.
    """

    def __init__(self, ws, name: str):
        self.ws, self.name = ws, name
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.outbox = queue.Queue(MAX_QUEUE)  # None in it: the writer stops there
        self.lock = threading.Lock()  # for send() and stop(), called from several threads
        self.caught_up = threading.Condition(self.lock)  # notified when the outbox shrinks, or the writer stops
        self.stopped = False  # no more events are queued
        self.dropped: str | None = None  # why the server disconnects this client, if it does
        self.writer = threading.Thread(target=self.write, name=f"chat writer ({name})", daemon=True)
        self.writer.start()

    def send(self, event: dict) -> bool:
        """Queue one event for this client, without waiting; False if it is gone or dropped."""
        with self.lock:
            if self.stopped:
                return False
            try:
                self.outbox.put_nowait(event)
                return True
            except queue.Full:
                self.stop_writer(f"too slow: {MAX_QUEUE} messages waiting")
                return False  # its own handler thread notices, and ends the connection (stop)

    def keep_up(self) -> None:
        """Wait while more than MAX_AHEAD events wait for this client; call it from its
        own handler thread before reading its next message. Meanwhile its messages wait
        in TCP buffers, which fill up: then TCP makes the client's own sends wait.

        The writer notifies ``caught_up`` as it takes each event from a short enough outbox,
        and when it stops. Nothing notifies it when the client closes the connection: the
        timeout is for that (receive(), in app.py, looks as often).
        """
        with self.caught_up:  # holds self.lock, except while it waits
            while self.outbox.qsize() > MAX_AHEAD and not self.stopped and self.ws.connected:
                self.caught_up.wait(timeout=1)

    def stop_writer(self, dropped: str | None = None) -> None:
        """Let the writer end after the event it is sending; call it holding self.lock."""
        if not self.stopped:
            self.stopped, self.dropped = True, dropped
            with contextlib.suppress(queue.Empty):
                while True:  # events the client will never get
                    self.outbox.get_nowait()
            self.outbox.put_nowait(None)
            self.caught_up.notify_all()  # a keep_up() waits no more

    def write(self) -> None:
        """The writer thread: send the queued events in order, as fast as the client takes them."""
        try:
            while (event := self.outbox.get()) is not None:
                if self.outbox.qsize() <= MAX_AHEAD:  # short enough: wake keep_up() if it waits
                    with self.caught_up:
                        self.caught_up.notify_all()
                self.ws.send(json.dumps(event))
            if self.dropped:
                # 1008 "policy violation" (RFC 6455, 7.4.1) is the generic code for a client that
                # breaks the server's rules, here "read what you are sent". Not 1013 "try again
                # later" (IANA registry): it says the server is overloaded, and it is not.
                # The close frame waits behind everything the client has not read yet.
                self.ws.close(1008, self.dropped)
        except (ConnectionClosed, OSError):
            pass  # the client is gone, or stop() cut the connection
        finally:
            with self.caught_up:
                self.stopped = True
                self.caught_up.notify_all()

    def stop(self) -> None:
        """Once the client has left the room: end the writer thread. It may wait
        GIVE_UP seconds, so call it from this client's own handler thread."""
        with self.lock:
            self.stop_writer()
        self.writer.join(GIVE_UP)  # a dropped client gets this long to take its close frame
        if self.writer.is_alive():  # stuck in ws.send(): the client reads nothing
            with contextlib.suppress(OSError):  # the connection is already closed
                # Ends the TCP connection in both directions, at once: a send() waiting
                # on this socket, in any thread, fails (closing it would not wake it).
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            self.writer.join(GIVE_UP)


class Room:
    """Who is connected, and the last messages. The server runs one thread per
    connection, so every change happens under one lock."""

    def __init__(self, history: int, max_clients: int, max_per_address: int):
        self.lock = threading.Lock()
        self.new_message = threading.Condition(self.lock)  # long polls wait on it
        self.members: set[Member] = set()
        self.history = collections.deque(maxlen=history)  # old messages fall off the front
        self.last_id = 0
        self.max_clients, self.max_per_address = max_clients, max_per_address
        self.connections: collections.Counter[str] = collections.Counter()  # WebSockets open, by IP address

    def admit(self, address: str) -> tuple[int, str] | None:
        """Count one more WebSocket from ``address``; or, if there is no room for it,
        why not: the close code and its reason. Call release() when it closes."""
        with self.lock:
            if self.connections.total() >= self.max_clients:
                # 1013 "try again later" (IANA registry): the server is overloaded.
                return 1013, f"the server is full ({self.max_clients} connections): try again later"
            if self.connections[address] >= self.max_per_address:
                # 1008 "policy violation": the server is not full, this client has its share.
                return 1008, f"{address} has {self.max_per_address} connections open already: close one first"
            self.connections[address] += 1
            return None

    def release(self, address: str) -> None:
        with self.lock:
            self.connections[address] -= 1
            if not self.connections[address]:
                del self.connections[address]  # no entry left behind for every address ever seen

    def broadcast(self, event: dict) -> None:
        # member.send() only queues the event, and never waits: the lock is held a moment,
        # and everyone gets the events in the same order.
        with self.lock:
            for member in list(self.members):
                if not member.send(event):  # gone or dropped: its own thread announces that it left
                    self.members.discard(member)

    # join, leave and say change the room and return the event to broadcast.
    def join(self, member: Member) -> dict:
        with self.lock:
            self.members.add(member)
            return {"type": "join", "name": member.name, "users": self.names(), "time": now()}

    def leave(self, member: Member) -> dict:
        with self.lock:
            self.members.discard(member)
            return {"type": "leave", "name": member.name, "users": self.names(), "time": now()}

    def say(self, name: str, text: str) -> dict:
        with self.lock:
            self.last_id += 1
            message = {"type": "message", "id": self.last_id, "from": name, "text": text, "time": now()}
            self.history.append(message)
            self.new_message.notify_all()  # wake every long poll
            return message

    def names(self) -> list[str]:
        return sorted(member.name for member in self.members)

    def after(self, since: int) -> list[dict]:
        """The messages kept whose id is above ``since``; call it holding the lock."""
        return [m for m in self.history if m["id"] > since]
