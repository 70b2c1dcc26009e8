"""The chat server as a Flask application: its WebSocket and HTTP routes.

    app = create_app({"HISTORY": 100, "MAX_CLIENTS": 200, "MAX_POLL": 30.0})

The routes are listed in __init__.py. They share one Room (room.py), kept in
``app.extensions["chat.room"]``: each application has its own.
"""

from __future__ import annotations

import json
import socket

from flask import Blueprint, Flask, current_app, request
from flask_sock import ConnectionClosed, Sock
from werkzeug.exceptions import BadRequest

from .. import common, web
from .room import Member, Room, error_event, name_problem, text_problem

MAX_FRAME = 64 * 1024  # bytes in one WebSocket message on any endpoint: more -> connection closed
PING_EVERY = 25  # seconds: the server pings each client; one that never answers is dropped
DEFAULTS = {
    "HISTORY": 100,  # messages kept, for /api/history and /api/poll
    "MAX_CLIENTS": 200,  # WebSocket connections at once
    "MAX_POLL": 30.0,  # seconds: the longest wait a long poll may ask for
    "SOCK_SERVER_OPTIONS": {"max_message_size": MAX_FRAME, "ping_interval": PING_EVERY},  # for flask-sock
    "MAX_CONTENT_LENGTH": MAX_FRAME,  # Flask answers 413 to a longer HTTP body
}
# The page loads nothing from elsewhere, and runs no inline script.
CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'none'; frame-ancestors 'none'"

views = Blueprint("chat", __name__)
sock = Sock()  # needs no app: its routes go on the blueprint (bp=views)


def create_app(config: dict | None = None) -> Flask:
    """The application; ``config`` overrides DEFAULTS (above) and any Flask setting."""
    app = Flask(__name__)  # serves the files in static/ at /static/...
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.extensions["chat.room"] = Room(app.config["HISTORY"], app.config["MAX_CLIENTS"])
    app.register_blueprint(views)
    web.init_app(app, log_requests=False)  # errors in JSON; finish() logs the requests
    app.after_request(finish)
    app.wsgi_app = EndWebSockets(app.wsgi_app)  # see below: no HTTP answer after a WebSocket
    return app


def current_room() -> Room:
    """The room of the application serving this request (each create_app() makes one)."""
    return current_app.extensions["chat.room"]


# --- WebSockets ------------------------------------------------------------------------


def receive(ws, member: Member | None = None):
    """The next message (str for text, bytes for binary); ConnectionClosed once the
    client is gone, or once the room dropped ``member`` for reading too slowly.

    Like ``ws.receive()``, but it looks every second whether the connection
    is still open: after closing a connection for a message too large,
    simple-websocket may leave ``ws.receive()`` waiting forever.
    """
    while not (member and member.dropped):  # see Member: its writer sends the close frame
        if (data := ws.receive(timeout=1)) is not None:
            return data
        if not ws.connected:
            raise ConnectionClosed(ws.close_reason, ws.close_message)
    raise ConnectionClosed(1008, member.dropped)


def refuse(ws, code: int, message: str) -> None:
    """Tell the client why in an error event, then close with ``code`` and the reason."""
    ws.send(json.dumps(error_event(message)))
    ws.close(code, message[:120])  # a close reason holds at most 123 bytes
    common.log(f"{web.client()} {request.path} refused: {message}")


def refuse_full(ws) -> None:
    """Close with 1013, "try again later": the room has --max-clients connections already."""
    refuse(ws, 1013, f"the server is full ({current_room().max_clients} connections): try again later")


@sock.route("/ws/echo", bp=views)
def echo(ws):
    request.environ["chat.websocket"] = ws  # for EndWebSockets
    room = current_room()
    if not room.admit():
        return refuse_full(ws)
    common.log(f"{web.client()} echo: connected")
    try:
        while True:
            data = receive(ws)
            ws.send(data)
            common.log(f"{web.client()} echo: {len(data)} {'characters' if isinstance(data, str) else 'bytes'}")
    except (ConnectionClosed, OSError):  # the client closed, or vanished
        common.log(f"{web.client()} echo: closed")
    finally:
        room.release()


@sock.route("/ws/chat", bp=views)
def chat(ws):
    request.environ["chat.websocket"] = ws  # for EndWebSockets
    room, name = current_room(), request.args.get("name", "")
    if problem := name_problem(name):
        return refuse(ws, 1008, problem)  # 1008: policy violation
    if not room.admit():
        return refuse_full(ws)
    member = Member(ws, name)
    joined = room.join(member)
    common.log(f"{web.client()} chat: {name} joined ({len(joined['users'])} online)")
    room.broadcast(joined)  # after the log line: the log tells what happened in order
    try:
        while True:
            text = receive(ws, member)
            if problem := text_problem(text):
                member.send(error_event(problem))  # only to this client; it stays in the room
                common.log(f"{web.client()} chat: {name} refused: {problem}")
                continue
            message = room.say(name, text)
            common.log(f"{web.client()} chat: {name} said #{message['id']} ({len(text)} characters)")
            room.broadcast(message)
            member.keep_up()  # a client cannot talk faster than the room can hear it
    except (ConnectionClosed, OSError):
        pass
    finally:
        left = room.leave(member)
        if member.dropped:
            common.log(f"{web.client()} chat: {name} disconnected (code 1008): {member.dropped}")
        common.log(f"{web.client()} chat: {name} left ({len(left['users'])} online)")
        room.broadcast(left)
        member.stop()  # ends its writer thread: up to room.GIVE_UP s for a client that reads nothing
        room.release()


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


# --- HTTP ------------------------------------------------------------------------------


@views.get("/api/history")
def get_history():
    room = current_room()
    kept = room.history.maxlen
    limit = web.number(request.args.get("limit", str(kept)), "limit", 1, kept)
    with room.lock:
        return list(room.history)[-limit:]


@views.get("/api/poll")
def poll():
    room, max_poll = current_room(), current_app.config["MAX_POLL"]
    since = web.number(request.args.get("since", "0"), "since", 0, 2**53)
    timeout = web.number(request.args.get("timeout", str(min(10.0, max_poll))), "timeout", 0, max_poll, float)
    with room.new_message:  # the room's lock; wait_for() releases it while waiting
        room.new_message.wait_for(lambda: room.last_id > since, timeout)
        return room.after(since)  # [] if the time ran out


@views.post("/api/messages")
def post_message():
    body = web.json_body()  # a 400 if the body is broken JSON; None if it is not JSON
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"name": "Ada", "text": "hello"}')
    name, text = body.get("name"), body.get("text")
    problem = name_problem(name) if isinstance(name, str) else "name must be a string"
    if not problem and not isinstance(text, str):
        problem = "text must be a string"
    if problem or (problem := text_problem(text)):
        raise BadRequest(problem)
    room = current_room()
    message = room.say(name, text)
    room.broadcast(message)
    return message, 201


@views.get("/")
def index():
    return current_app.send_static_file("index.html")


def finish(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "chat.websocket" not in request.environ:  # a WebSocket logs its own lines
        web.log_request(response)
    return response
