"""Chapter 09's chat room again, in Socket.IO: Flask-SocketIO in threading mode.

    srv = launch("app", app="apps/09-socketio_chat.py", server="dev")   # from a notebook
    python -m sandbox app --app notebooks/apps/09-socketio_chat.py --server dev

A client speaks Socket.IO, at /socket.io/, with a Socket.IO library (python-socketio,
the socket.io JavaScript client). It emits two events, and may ask for an ack for each:

    join  {"name": "Ada", "room": "lobby"}   ack: {"users": ["Ada", "Bob"]}
    say   "hi"                               ack: {"id": 7}

and receives these, from the room it joined (its own join and messages included):

    join  {"name": "Ada", "users": ["Ada", "Bob"]}
    say   {"id": 7, "from": "Ada", "text": "hi"}
    leave {"name": "Ada", "users": ["Bob"]}        once Ada has disconnected
    error {"message": "..."}                       to the sender of bad input only: it
                                                   stays connected (the ack, if it asked
                                                   for one, is {"error": "..."})

One room per connection; two members may share a name, as in the sandbox chat
(sandbox/chat/). Unlike it: no history, no class token, no limit on connections.

Which server: in threading mode each client holds a thread, and a WebSocket needs the
raw TCP connection of its HTTP request, which simple-websocket takes from the server.
Werkzeug's development server (``--server dev``) and gunicorn's workers hand it over;
waitress cannot. With gunicorn, one worker process only (``--workers 1 --threads 100``):
a Socket.IO session lives in the memory of the process that opened it, and several
processes would need sticky sessions and a message queue between them. On Werkzeug,
EndWebSockets (at the end) ends the TCP connection once a WebSocket is over.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading

from flask import Flask, request
from flask_socketio import SocketIO, emit, join_room

from sandbox.chat.room import MAX_TEXT
from sandbox.chat.room import text_problem as chat_text_problem

MAX_NAME = 32  # characters in a name, or in a room's name
MAX_PACKET = 64 * 1024  # bytes in one Engine.IO packet: more -> the connection is closed

app = Flask(__name__)
socketio = SocketIO(
    app,
    # Threads, and simple-websocket for the WebSocket transport: no eventlet, no gevent.
    # Said here rather than guessed: Flask-SocketIO would pick eventlet if it were installed.
    async_mode="threading",
    max_http_buffer_size=MAX_PACKET,  # 1,000,000 bytes by default
    # Not set, cors_allowed_origins lets a browser page connect only from this server's
    # own origin (its Origin header is checked). A client that sends no Origin (a
    # program, not a browser) is let in: Origin protects the users of a browser only.
)

# Handlers run in threads of their own, several at once: the lock guards what follows,
# and keeps each room's events in order (emit() only queues them, it never waits).
lock = threading.Lock()
online: set[str] = set()  # the sids connected now: a join may be handled after its disconnect
rooms: dict[str, dict[str, str]] = {}  # room -> {sid: name}, the members of each room
members: dict[str, tuple[str, str]] = {}  # sid -> (room, name), each member's place
message_ids = itertools.count(1)


def name_problem(name, what: str) -> str | None:
    """Why ``name`` cannot be a name (``what``: "name" or "room"), or None if it can."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME or not name.isprintable() or name != name.strip():
        return f"a {what} is 1 to {MAX_NAME} printable characters, no spaces around: got {name!r:.40}"
    return None


def text_problem(text) -> str | None:
    """Why ``text`` cannot be a message, or None if it can: the sandbox chat's rules (its size,
    valid Unicode), after one of our own, since JSON can carry a number, a list or null."""
    if not isinstance(text, str):
        return f"a message is a string: got {type(text).__name__}"
    return chat_text_problem(text)


def reject(problem: str) -> dict:
    """Tell the sender only (emit() in a handler goes back to it), and answer its ack."""
    emit("error", {"message": problem})
    return {"error": problem}  # a handler's return value is the ack, if the client asked for one


@socketio.on("connect")
def connect(auth=None):  # auth: what the client sent to connect (nothing is asked here)
    with lock:
        online.add(request.sid)


# A client may send an event with any number of arguments: *args takes them all, so
# that bad input reaches the checks below instead of failing the call.
@socketio.on("join")
def join(*args):
    data = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}  # else: no name
    name, room = data.get("name"), data.get("room")
    if problem := name_problem(name, "name") or name_problem(room, "room"):
        return reject(problem)
    with lock:
        if request.sid not in online:
            return None  # gone while this event waited: nobody to answer, nothing to join
        if request.sid in members:
            return reject(f"already in room {members[request.sid][0]!r}: one room per connection")
        rooms.setdefault(room, {})[request.sid] = name
        members[request.sid] = (room, name)
        users = sorted(rooms[room].values())
        join_room(room)  # a room is a set of sids on the server: clients never see it
        emit("join", {"name": name, "users": users}, to=room)  # to every member, the new one too
    return {"users": users}


@socketio.on("say")
def say(*args):
    if len(args) != 1:
        return reject(f"say takes one argument, the message: got {len(args)}")
    if problem := text_problem(text := args[0]):
        return reject(problem)
    with lock:
        if request.sid not in members:
            return reject("join a room first: emit join {'name': ..., 'room': ...}")
        room, name = members[request.sid]
        message = {"id": next(message_ids), "from": name, "text": text}
        emit("say", message, to=room)  # the sender too: everyone sees the same order
    return {"id": message["id"]}


@socketio.on("disconnect")
def disconnect(reason=None):  # reason: why it ended (recent versions pass it; not needed here)
    # A clean disconnect, a lost connection, or a client that stopped answering the
    # server's pings (ping_interval + ping_timeout, 25 + 20 s by default). Its sid
    # leaves its rooms after this handler: include_self=False, the leave goes to the others.
    with lock:
        online.discard(request.sid)
        if (member := members.pop(request.sid, None)) is None:
            return  # connected, never joined
        room, name = member
        del rooms[room][request.sid]
        users = sorted(rooms[room].values())
        if not users:
            del rooms[room]
        emit("leave", {"name": name, "users": users}, to=room, include_self=False)


@socketio.on("*")
def unknown(event, *args):
    """Any other event: say which ones this server knows."""
    return reject(f"unknown event {event!r:.40}: emit join or say")


class EndWebSockets:
    """WSGI middleware for Werkzeug's server: the TCP connection ends with its WebSocket.

    Once a WebSocket is over, Flask-SocketIO raises ConnectionError, and Werkzeug goes
    back to reading the connection for another HTTP request: whatever the client sends
    after that (python-socketio's client may send its last packets after its own close
    frame, or that close frame after the server's) is then logged as "400 Bad request
    syntax", and the client waits for the connection to end (3 s for python-socketio's).
    So the server ends it first, as RFC 6455 (7.1.1) asks: it sends end of file, reads and drops what
    the client still sends until the client closes too (GIVE_UP s at most), and Werkzeug,
    reading end of file, closes the connection. gunicorn closes it itself.
    """

    GIVE_UP = 2  # seconds a client has to close its side

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        try:
            return self.wsgi_app(environ, start_response)
        except ConnectionError:  # the end of a WebSocket, or a connection that broke
            sock = environ.get("werkzeug.socket")  # set by Werkzeug's server only
            if sock is not None and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                self.end(sock)
            raise

    def end(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # TimeoutError too; or the client closed already
            sock.shutdown(socket.SHUT_WR)  # end of file to the client, after the close frames
            sock.settimeout(self.GIVE_UP)
            while sock.recv(65536):  # until the client's end of file: drop what came too late
                pass
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)  # a client that never closed: Werkzeug reads end of file anyway


app.wsgi_app = EndWebSockets(app.wsgi_app)  # around Flask-SocketIO's own middleware
