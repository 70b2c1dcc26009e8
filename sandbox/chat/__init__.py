"""WebSocket echo and a chat room with broadcast (Flask + flask-sock), plus long polling to compare.

    python -m sandbox chat [--host H] [--port P] [--history N] [--max-clients N] [--max-poll S]

    WS   /ws/echo                 sends back every message, text or binary
    WS   /ws/chat?name=Ada        joins the chat room: each text message you send reaches everyone
                                  as {"type": "message", "id", "from", "text", "time"}; people come
                                  and go as {"type": "join" or "leave", "name", "users"}
    GET  /api/history?limit=N     the last messages, oldest first
    GET  /api/poll?since=ID&timeout=S   the messages after ID; if there are none yet, waits up
                                  to S seconds for one (long polling); timeout=0: plain polling
    POST /api/messages            {"name": "Ada", "text": "hi"}: chat without a WebSocket
    GET  /                        a chat page for the browser (static/)

Why flask-sock rather than Flask-SocketIO: flask-sock speaks the standard
WebSocket protocol (RFC 6455), so the browser's built-in ``WebSocket`` and any
Python client (the course uses websockets' sync client) talk to it
directly; its whole API is one decorator; it runs on Flask's development
server and on gunicorn. Flask-SocketIO speaks Socket.IO, its own protocol on
top (events, rooms, a fallback to long polling): every client then needs a
Socket.IO library, and it wants an asynchronous server (eventlet, gevent).

Why Flask's development server (werkzeug), when the other Flask sandboxes use
waitress: a WebSocket starts as an HTTP request, then takes over its TCP
connection. Waitress cannot hand a connection over to the application;
werkzeug can. Each WebSocket holds two threads for as long as it is open: the
one running its handler below, and one that reads its frames.
"""

from __future__ import annotations

import collections
import json
import logging
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, jsonify, request
from flask_sock import ConnectionClosed, Sock
from werkzeug.exceptions import BadRequest, HTTPException

from .. import common

NAME = "chat"
DESCRIPTION = "WebSocket echo and chat room with broadcast (Flask + flask-sock), and long polling."
MAX_TEXT = 4096          # bytes (UTF-8) in one chat message: more -> an error event, message dropped
MAX_FRAME = 64 * 1024    # bytes in one WebSocket message on any endpoint: more -> connection closed
MAX_NAME = 32            # characters in a name
PING_EVERY = 25          # seconds: the server pings each client; one that never answers is dropped
LIMITS = f"""limits:
  chat message      1 to {MAX_TEXT} bytes of UTF-8 text; longer, empty or binary -> an error
                    event {{"type": "error", "message": ...}} to that client only, which stays connected
  any message       {MAX_FRAME // 1024} KiB; larger -> the server closes that connection (code 1009)
  name              1 to {MAX_NAME} printable characters; else an error event, then close (code 1008)
  clients           --max-clients WebSocket connections at once (default 200); more -> close (code 1013)
  history           the last --history messages (default 100), for /api/history and /api/poll
  poll timeout      0 to --max-poll seconds (default 30); /api/poll waits 10 s unless told
  idle clients      pinged every {PING_EVERY} s; one that does not answer is disconnected
"""


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
    size = len(text.encode("utf-8"))
    if not 1 <= size <= MAX_TEXT:
        return f"a message is 1 to {MAX_TEXT} bytes of UTF-8 text: got {size} bytes"
    return None


def error(message: str) -> dict:
    return {"type": "error", "message": message}


def receive(ws):
    """The next message (str for text, bytes for binary); ConnectionClosed once the client is gone.

    Like ``ws.receive()``, but it looks every second whether the connection
    is still open: after closing a connection for a message too large,
    simple-websocket may leave ``ws.receive()`` waiting forever.
    """
    while (data := ws.receive(timeout=1)) is None:
        if not ws.connected:
            raise ConnectionClosed(ws.close_reason, ws.close_message)
    return data


class EndWebSockets:
    """WSGI middleware for werkzeug. Once a WebSocket route returns, werkzeug
    would write an HTTP response onto the connection (a browser reads it as a
    broken frame: close code 1006), then wait there for another request. This
    ends the TCP connection instead, and tells werkzeug it is gone."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        body = self.wsgi_app(environ, start_response)
        ws = environ.get("chat.websocket")  # set by the WebSocket routes
        if ws is None:
            return body
        ws.thread.join(5)  # let its reader thread finish the closing handshake
        try:
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)  # the server closes TCP first
        except OSError:  # already closed by the client
            pass
        raise ConnectionAbortedError("the WebSocket is over: no HTTP response to send")


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


def create_app(history: int = 100, max_clients: int = 200, max_poll: float = 30.0) -> Flask:
    app = Flask(__name__, static_folder=str(Path(__file__).parent / "static"), static_url_path="/static")
    app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": MAX_FRAME, "ping_interval": PING_EVERY}
    app.config["MAX_CONTENT_LENGTH"] = MAX_FRAME
    app.wsgi_app = EndWebSockets(app.wsgi_app)
    sock = Sock(app)
    room = app.room = Room(history, max_clients)

    def client() -> str:
        return common.peer((request.remote_addr, request.environ.get("REMOTE_PORT", "?")))

    def refuse(ws, code: int, message: str) -> None:
        """Tell the client why in an error event, then close with ``code`` and the reason."""
        ws.send(json.dumps(error(message)))
        ws.close(code, message[:120])  # a close reason holds at most 123 bytes
        common.log(f"{client()} {request.path} refused: {message}")

    @sock.route("/ws/echo")
    def echo(ws):
        request.environ["chat.websocket"] = ws
        if not room.admit():
            return refuse(ws, 1013, f"the server is full ({max_clients} connections): try again later")
        common.log(f"{client()} echo: connected")
        try:
            while True:
                data = receive(ws)
                ws.send(data)
                common.log(f"{client()} echo: {len(data)} {'characters' if isinstance(data, str) else 'bytes'}")
        except (ConnectionClosed, OSError):  # the client closed, or vanished
            common.log(f"{client()} echo: closed")
        finally:
            room.release()

    @sock.route("/ws/chat")
    def chat(ws):
        request.environ["chat.websocket"] = ws
        name = request.args.get("name", "")
        if problem := name_problem(name):
            return refuse(ws, 1008, problem)  # 1008: policy violation
        if not room.admit():
            return refuse(ws, 1013, f"the server is full ({max_clients} connections): try again later")
        member = Member(ws, name)
        joined = room.join(member)
        common.log(f"{client()} chat: {name} joined ({len(joined['users'])} online)")
        room.broadcast(joined)  # after the log line: the log tells what happened in order
        try:
            while True:
                text = receive(ws)
                if problem := text_problem(text):
                    member.send(error(problem))  # only to this client; it stays in the room
                    common.log(f"{client()} chat: {name} refused: {problem}")
                    continue
                message = room.say(name, text)
                common.log(f"{client()} chat: {name} said #{message['id']} ({len(text)} characters)")
                room.broadcast(message)
        except (ConnectionClosed, OSError):
            pass
        finally:
            left = room.leave(member)
            room.release()
            common.log(f"{client()} chat: {name} left ({len(left['users'])} online)")
            room.broadcast(left)

    def number(key: str, default, low, high, kind=int):
        try:
            value = kind(request.args.get(key, default))
        except ValueError:
            raise BadRequest(f"{key} must be a number, got {request.args[key]!r}")
        if not low <= value <= high:  # also false for nan
            raise BadRequest(f"{key} must be between {low} and {high}, got {request.args[key]!r}")
        return value

    @app.get("/api/history")
    def get_history():
        limit = number("limit", room.history.maxlen, 1, room.history.maxlen)
        with room.lock:
            return jsonify(list(room.history)[-limit:])

    @app.get("/api/poll")
    def poll():
        since = number("since", 0, 0, 2**53)
        timeout = number("timeout", min(10.0, max_poll), 0, max_poll, float)
        with room.new_message:  # the room's lock; wait_for() releases it while waiting
            room.new_message.wait_for(lambda: room.last_id > since, timeout)
            return jsonify(room.after(since))  # [] if the time ran out

    @app.post("/api/messages")
    def post_message():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadRequest('send a JSON object: {"name": "Ada", "text": "hello"}')
        name, text = body.get("name"), body.get("text")
        problem = name_problem(name) if isinstance(name, str) else "name must be a string"
        if problem or (problem := text_problem(text)):
            raise BadRequest(problem)
        message = room.say(name, text)
        room.broadcast(message)
        return message, 201

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return jsonify(error(e.description)), e.code

    @app.after_request
    def finish(response):
        # The page loads nothing from elsewhere, and runs no inline script.
        response.headers["Content-Security-Policy"] = "default-src 'self'; base-uri 'none'; frame-ancestors 'none'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if not request.path.startswith("/ws/"):  # WebSockets log their own lines
            common.log(f"{client()} {request.method} {request.full_path.rstrip('?')} {response.status_code}")
        return response

    return app


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS)
    parser.add_argument("--history", type=int, default=100, help="messages kept (default: 100)")
    parser.add_argument("--max-clients", type=int, default=200, help="WebSocket connections at once (default: 200)")
    parser.add_argument("--max-poll", type=common.positive_seconds, default=30.0,
                        help="longest wait a long poll may ask for, in seconds (default: 30)")
    args = common.parse_args(parser, argv)
    if args.history < 1 or args.max_clients < 1:
        parser.error("--history and --max-clients must be at least 1")
    app = create_app(args.history, args.max_clients, args.max_poll)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our own log lines are enough
    # dev=True: Flask's development server, because waitress cannot do WebSockets (see above).
    common.serve_wsgi(NAME, app, args.host, args.port, dev=True)


if __name__ == "__main__":
    main()
