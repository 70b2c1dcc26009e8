"""WebSocket echo and a chat room with broadcast (Flask + flask-sock), plus long polling to compare.

    python -m sandbox chat [--host H] [--port P] [--history N] [--max-clients N] [--max-per-address N]
                           [--max-poll S] [--token TOKEN] [--server {dev,gunicorn}]

    WS   /ws/echo                 sends back every message, text or binary
    WS   /ws/chat?name=Ada        joins the chat room: each text message you send reaches everyone
                                  as {"type": "message", "id", "from", "text", "time"}; people come
                                  and go as {"type": "join" or "leave", "name", "users"}
    GET  /api/history?limit=N     the last messages, oldest first
    GET  /api/poll?since=ID&timeout=S   the messages after ID; if there are none yet, waits up
                                  to S seconds for one (long polling); timeout=0: plain polling
    GET  /api/events              Server-Sent Events (text/event-stream): each new message as
                                  "id: ID" and "data: {...}"; send Last-Event-ID: ID to resume after ID
    POST /api/messages            {"name": "Ada", "text": "hi"}: chat without a WebSocket
    GET  /                        a chat page for the browser (static/)

With --token TOKEN, every route but the page needs the class token: in the header
``Authorization: Bearer TOKEN``, or (a browser's WebSocket cannot send headers) in
a WebSocket's URL, ``/ws/chat?name=Ada&token=TOKEN``; else HTTP 401, or close code 1008.

Why flask-sock rather than Flask-SocketIO: flask-sock speaks the standard
WebSocket protocol (RFC 6455), so the browser's built-in ``WebSocket`` and any
Python client (the course uses websockets' sync client) talk to it
directly; its whole API is one decorator; it runs on Flask's development
server and on gunicorn. Flask-SocketIO speaks Socket.IO, its own protocol on
top (named events, acknowledgements, rooms, reconnection, a fallback to long
polling): every client then needs a Socket.IO library, and a plain WebSocket
client cannot talk to it. Since version 5 it needs no eventlet or gevent: its
threading mode uses simple-websocket, as flask-sock does.

Why Flask's development server (werkzeug), when the other Flask sandboxes use
waitress: a WebSocket starts as an HTTP request, then takes over its TCP
connection. Waitress cannot hand a connection over to the application;
werkzeug can. Each WebSocket holds two threads for as long as it is open: the
one running its handler, and one that reads its frames. A chat client holds a
third, which sends it its events from a queue of its own (room.py: Member), so
that a client that reads slowly, or not at all, holds up no one else.

For a class, on the instructor's machine (Linux or macOS)::

    python -m sandbox chat --host 0.0.0.0 --port 8000 --token our-class-token

On a network (--host not 127.0.0.1) the server runs on gunicorn, a production
server that can do WebSockets (classroom.py), unless --server says otherwise;
on Windows, where gunicorn does not run, on werkzeug, and it says so. What it
exposes there: the page, to anyone who reaches the port; with --token, nothing
else without the class token. Without --token, anyone on the network can read
the room and post as any name. With it, reading (the history, long polls, the
names in join events) needs the token too: a class's conversation is not for
whoever shares its network. Everything travels in clear text (HTTP and ws://,
not HTTPS): the token too, so make it a token for this class only, not a
password. Each IP address may hold --max-per-address WebSockets (default 10 on
a network), so that one machine cannot fill the room; machines behind one router
(NAT) or proxy share its address: raise it then.

The package: app.py (the Flask application: its routes), room.py (the room:
who is connected, the last messages, the events), classroom.py (gunicorn),
static/ (the page).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import common
from .app import DEFAULTS, MAX_FRAME, PING_EVERY, create_app
from ..common import gunicorn_problem
from .classroom import serve_gunicorn
from .room import GIVE_UP, MAX_AHEAD, MAX_NAME, MAX_QUEUE, MAX_TEXT

NAME = "chat"
CLASS_MAX_PER_ADDRESS = 10  # --max-per-address on a network: a browser or two, and a notebook's clients
DESCRIPTION = "WebSocket echo and chat room with broadcast (Flask + flask-sock), and long polling."
LIMITS = f"""limits:
  chat message      1 to {MAX_TEXT} bytes of UTF-8 text; longer, empty or binary -> an error
                    event {{"type": "error", "message": ...}} to that client only, which stays connected
  any message       {MAX_FRAME // 1024} KiB; larger -> the server closes that connection (code 1009)
  name              1 to {MAX_NAME} printable characters; else an error event, then close (code 1008)
  clients           --max-clients WebSocket connections at once (default 200); more -> close (code 1013);
                    3 threads per chat connection, 2 per echo
  per address       --max-per-address WebSocket connections at once from one IP address (default
                    {CLASS_MAX_PER_ADDRESS} with --host on a network, else --max-clients); more -> close (code 1008)
  class token       with --token, every route but the page needs it: else HTTP 401, or close (code 1008)
  slow readers      {MAX_QUEUE} events waiting for one chat client; one more -> that client only is
                    closed (code 1008, "too slow"), or cut {GIVE_UP} s later if it takes no close frame
  fast talkers      a chat client's next message is read once at most {MAX_AHEAD} events wait for that client:
                    no one talks faster than the server can send them their own messages back
  history           the last --history messages (default 100), for /api/history and /api/poll
  poll timeout      0 to --max-poll seconds (default 30); /api/poll waits 10 s unless told
  event streams     each /api/events stream counts as a connection (--max-clients, --max-per-address;
                    more -> 503 or 429) and holds a thread; a comment line after {int(DEFAULTS["SSE_QUIET"])} s of silence
                    tells a stream whose client is gone, which then frees its slot
  idle clients      pinged every {PING_EVERY} s; one that does not answer is disconnected
"""
EXPOSED = ('the page, to anyone who reaches the port. Without --token, anyone can read the room and '
           'post under any name; with it, reading and posting need the class token. Everything travels '
           'in clear (HTTP, ws://), the token too.')


def class_token(text: str) -> str:
    """argparse type: a token that fits in a header and a URL as it is."""
    if not text or not all("!" <= c <= "~" for c in text):
        raise argparse.ArgumentTypeError(f"{text!r}: a token is letters, digits and punctuation (ASCII), no spaces")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument("--history", type=common.positive_integer, default=DEFAULTS["HISTORY"], metavar="N",
                        help="messages kept (default: %(default)s)")
    parser.add_argument("--max-clients", type=common.positive_integer, default=DEFAULTS["MAX_CLIENTS"], metavar="N",
                        help="WebSocket connections at once (default: %(default)s)")
    parser.add_argument("--max-per-address", type=common.positive_integer, metavar="N",
                        help=f"WebSocket connections at once from one IP address (default: {CLASS_MAX_PER_ADDRESS} "
                        "when --host is reachable from the network; on this machine only, --max-clients)")
    parser.add_argument("--max-poll", type=common.positive_seconds, default=DEFAULTS["MAX_POLL"], metavar="S",
                        help="longest wait a long poll may ask for, in seconds (default: %(default)s)")
    parser.add_argument("--token", type=class_token, metavar="TOKEN",
                        help="a class token: reading and posting then need it ('Authorization: Bearer TOKEN', "
                        "or ?token=TOKEN in a WebSocket's URL); the page asks for it")
    parser.add_argument("--server", choices=["dev", "gunicorn"],
                        help="dev: Flask's development server; gunicorn: a production server, Linux and macOS "
                        "only (default: gunicorn when --host is reachable from the network and gunicorn runs here, "
                        "else dev)")
    args = common.parse_args(parser, argv)
    on_network = not common.is_loopback(args.host)
    if args.server == "gunicorn" and (problem := gunicorn_problem()):
        parser.error(f"--server gunicorn: {problem}; use --server dev")
    server = args.server or ("gunicorn" if on_network and not gunicorn_problem() else "dev")
    if on_network and server == "dev":  # see classroom.py
        why = "as --server dev asks" if args.server else gunicorn_problem()
        print(f"WARNING: {NAME} serves the network with Flask's development server, which is not made for one; "
              f"{why}", file=sys.stderr, flush=True)
    per_address = args.max_per_address or (CLASS_MAX_PER_ADDRESS if on_network else args.max_clients)
    app = create_app({"HISTORY": args.history, "MAX_CLIENTS": args.max_clients, "MAX_PER_ADDRESS": per_address,
                      "MAX_POLL": args.max_poll, "TOKEN": args.token})
    if server == "gunicorn":
        serve_gunicorn(NAME, app, args.host, args.port, websockets=args.max_clients)
        return
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our own log lines are enough
    # dev=True: Flask's development server, because waitress cannot do WebSockets (see above).
    common.serve_wsgi(NAME, app, args.host, args.port, dev=True)


if __name__ == "__main__":
    main()
