"""The chat room: who is connected, the last messages, and the events it sends.

Every event is one JSON text message on the WebSocket:

    {"type": "message", "id": 7, "from": "Bob", "text": "hi", "time": "..."}
    {"type": "join" or "leave", "name": "Bob", "users": ["Ada", "Bob"], "time": "..."}
    {"type": "error", "message": "..."}   to one client only
"""

from __future__ import annotations

import collections
import json
import threading
from datetime import datetime, timezone

from flask_sock import ConnectionClosed

MAX_TEXT = 4096  # bytes (UTF-8) in one chat message: more -> an error event, message dropped
MAX_NAME = 32  # characters in a name


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
    """One client in the chat room. Several threads may send to it at once (each
    broadcast runs in the sender's thread): a lock keeps their frames apart."""

    def __init__(self, ws, name: str):
        self.ws, self.name = ws, name
        self.sending = threading.Lock()

    def send(self, event: dict) -> bool:
        """Send one event as JSON text; False if the client is gone."""
        try:
            with self.sending:
                self.ws.send(json.dumps(event))
            return True
        except (ConnectionClosed, OSError):
            return False


class Room:
    """Who is connected, and the last messages. The server runs one thread per
    connection, so every change happens under one lock."""

    def __init__(self, history: int, max_clients: int):
        self.lock = threading.Lock()
        self.new_message = threading.Condition(self.lock)  # long polls wait on it
        self.members: set[Member] = set()
        self.history = collections.deque(maxlen=history)  # old messages fall off the front
        self.last_id = 0
        self.connections, self.max_clients = 0, max_clients

    def admit(self) -> bool:
        with self.lock:
            if self.connections >= self.max_clients:
                return False
            self.connections += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.connections -= 1

    def broadcast(self, event: dict) -> None:
        with self.lock:
            members = list(self.members)  # send outside the lock: a slow client must not block the room
        for member in members:
            if not member.send(event):  # gone: stop sending to it (its own thread announces it left)
                with self.lock:
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
