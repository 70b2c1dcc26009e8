"""The chat server as a Flask application: its WebSocket and HTTP routes.

    app = create_app({"HISTORY": 100, "MAX_CLIENTS": 200, "MAX_PER_ADDRESS": 10, "TOKEN": "our-class"})

The routes are listed in __init__.py. They share one Room (room.py), kept in
``app.extensions["chat.room"]``: each application has its own.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import socket

from flask import Blueprint, Flask, Response, current_app, request
from flask_sock import ConnectionClosed, Sock
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import BadRequest, ServiceUnavailable, TooManyRequests, Unauthorized

from .. import common, web
from .room import Member, Room, error_event, name_problem, text_problem

MAX_FRAME = 64 * 1024  # bytes in one WebSocket message on any endpoint: more -> connection closed
PING_EVERY = 25  # seconds: the server pings each client; one that never answers is dropped
SSE_RETRY = 3000  # milliseconds an EventSource waits before it reconnects (the stream's "retry:" field)
DEFAULTS = {
    "HISTORY": 100,  # messages kept, for /api/history and /api/poll
    "MAX_CLIENTS": 200,  # WebSocket connections at once
    "MAX_PER_ADDRESS": 200,  # WebSocket connections at once from one IP address (a class: 10, see __init__.py)
    "TOKEN": None,  # the class token every route but the page needs; None: none needed
    "MAX_POLL": 30.0,  # seconds: the longest wait a long poll may ask for
    "SSE_QUIET": 15.0,  # seconds of silence after which /api/events sends a comment: a vanished client is noticed
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
    app.extensions["chat.room"] = Room(app.config["HISTORY"], app.config["MAX_CLIENTS"], app.config["MAX_PER_ADDRESS"])
    app.register_blueprint(views)
    web.init_app(app, log_requests=False)  # errors in JSON; finish() logs the requests
    app.after_request(finish)
    app.wsgi_app = EndWebSockets(app.wsgi_app)  # see below: no HTTP answer after a WebSocket
    return app


def current_room() -> Room:
    """The room of the application serving this request (each create_app() makes one)."""
    return current_app.extensions["chat.room"]


def token_problem() -> str | None:
    """Why this request may not use the room, or None if it may.

    With a class token (--token), every route but the page needs it: in the header
    ``Authorization: Bearer TOKEN``, or, since a browser cannot add headers to a
    WebSocket, in a WebSocket's URL: ``/ws/chat?name=Ada&token=TOKEN``. (Not in the
    URL of an HTTP request: the server logs those URLs.)
    """
    expected = current_app.config["TOKEN"]
    if expected is None:
        return None
    auth, websocket = web.authorization(), request.path.startswith("/ws/")
    given = auth.token if auth and auth.type == "bearer" else None
    if given is None and websocket:
        given = request.args.get("token")
    if not given:
        where = "add token=<token> to the URL's query" if websocket else "send 'Authorization: Bearer <token>'"
        return f"this server needs the class token: {where}"
    # compare_digest() takes as long whatever the first wrong character: the time of the
    # answer does not tell how much of a guess was right.
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
        return "that is not the class token: check that you copied all of it"
    return None


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


@sock.route("/ws/echo", bp=views)
def echo(ws):
    request.environ["chat.websocket"] = ws  # for EndWebSockets
    room, address = current_room(), request.remote_addr
    if problem := token_problem():
        return refuse(ws, 1008, problem)  # 1008: policy violation
    if refusal := room.admit(address):  # --max-clients, --max-per-address
        return refuse(ws, *refusal)
    common.log(f"{web.client()} echo: connected")
    try:
        while True:
            data = receive(ws)
            ws.send(data)
            common.log(f"{web.client()} echo: {len(data)} {'characters' if isinstance(data, str) else 'bytes'}")
    except (ConnectionClosed, OSError):  # the client closed, or vanished
        pass
    finally:
        room.release(address)
    common.log(f"{web.client()} echo: closed")  # after release(): once logged, the slot is free


@sock.route("/ws/chat", bp=views)
def chat(ws):
    request.environ["chat.websocket"] = ws  # for EndWebSockets
    room, address, name = current_room(), request.remote_addr, request.args.get("name", "")
    if problem := token_problem() or name_problem(name):
        return refuse(ws, 1008, problem)  # 1008: policy violation
    if refusal := room.admit(address):  # --max-clients, --max-per-address
        return refuse(ws, *refusal)
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
        room.release(address)


class EndWebSockets:
    """WSGI middleware: how a WebSocket ends, once its route returns.

    The server closes the TCP connection first, once the closing handshake is over (the
    reader thread, ``ws.thread``, ends then). Then no HTTP response: werkzeug would write
    one onto the connection (a browser reads it as a broken frame: close code 1006), and
    wait there for another request. An error that says the connection is gone stops
    werkzeug; gunicorn is stopped by flask-sock itself, which raises StopIteration."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        try:
            body = self.wsgi_app(environ, start_response)
        finally:  # also after gunicorn's StopIteration
            ws = environ.get("chat.websocket")  # set by the WebSocket routes
            if ws is not None:
                ws.thread.join(5)  # let its reader thread finish the closing handshake
                with contextlib.suppress(OSError):  # already closed by the client
                    ws.sock.shutdown(socket.SHUT_RDWR)  # the server closes TCP first
        if ws is None:
            return body
        raise ConnectionAbortedError("the WebSocket is over: no HTTP response to send")


# --- HTTP ------------------------------------------------------------------------------


@views.before_request
def need_token():
    """With --token, every /api/ route needs it; a WebSocket route looks for itself,
    after the handshake, so that its close frame can say why."""
    if request.path.startswith("/api/") and (problem := token_problem()):
        wrong = {"error": "invalid_token"} if "Authorization" in request.headers else None  # RFC 6750, 3.1
        raise Unauthorized(problem, www_authenticate=WWWAuthenticate("Bearer", wrong))


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


@views.get("/api/events")
def events():
    """Server-Sent Events: the room's messages, pushed down one HTTP answer that never ends.

    Each event is a few "field: value" lines and a blank line. ``id:`` is the message's id:
    a browser's EventSource that loses the connection reconnects after ``retry:`` ms and
    sends the last id it got in a ``Last-Event-ID`` header, so it misses nothing still in
    the history. A first connection gets the messages from then on.
    """
    room, address, quiet = current_room(), request.remote_addr, current_app.config["SSE_QUIET"]
    with room.lock:
        last = room.last_id
    since = web.number(request.headers.get("Last-Event-ID", str(last)), "Last-Event-ID", 0, 2**53)
    if refusal := room.admit(address):  # a stream holds a thread as long as a WebSocket: same limits
        code, problem = refusal
        raise ServiceUnavailable(problem) if code == 1013 else TooManyRequests(problem)

    def stream():  # runs after the view has returned, while the server sends the answer
        nonlocal since
        yield f"retry: {SSE_RETRY}\n\n"
        while True:
            with room.new_message:  # as in poll()
                room.new_message.wait_for(lambda: room.last_id > since, quiet)
                news = room.after(since)
            if not news:  # a comment line, which clients ignore: writing it fails once the client is gone
                yield ": nothing new\n\n"
            for message in news:  # json.dumps() escapes newlines: the whole event fits on one data line
                yield f"id: {message['id']}\ndata: {json.dumps(message)}\n\n"
                since = message["id"]

    response = Response(stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-store"})
    response.call_on_close(lambda: room.release(address))  # when the server closes the stream, however
    return response


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
