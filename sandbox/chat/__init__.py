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
one running its handler, and one that reads its frames. A chat client holds a
third, which sends it its events from a queue of its own (room.py: Member), so
that a client that reads slowly, or not at all, holds up no one else.

The package: app.py (the Flask application: its routes), room.py (the room:
who is connected, the last messages, the events), static/ (the page).
"""

from __future__ import annotations

import logging

from .. import common
from .app import DEFAULTS, MAX_FRAME, PING_EVERY, create_app
from .room import GIVE_UP, MAX_AHEAD, MAX_NAME, MAX_QUEUE, MAX_TEXT

NAME = "chat"
DESCRIPTION = "WebSocket echo and chat room with broadcast (Flask + flask-sock), and long polling."
LIMITS = f"""limits:
  chat message      1 to {MAX_TEXT} bytes of UTF-8 text; longer, empty or binary -> an error
                    event {{"type": "error", "message": ...}} to that client only, which stays connected
  any message       {MAX_FRAME // 1024} KiB; larger -> the server closes that connection (code 1009)
  name              1 to {MAX_NAME} printable characters; else an error event, then close (code 1008)
  clients           --max-clients WebSocket connections at once (default 200); more -> close (code 1013);
                    3 threads per chat connection, 2 per echo
  slow readers      {MAX_QUEUE} events waiting for one chat client; one more -> that client only is
                    closed (code 1008, "too slow"), or cut {GIVE_UP} s later if it takes no close frame
  fast talkers      a chat client's next message is read once at most {MAX_AHEAD} events wait for that client:
                    no one talks faster than the server can send them their own messages back
  history           the last --history messages (default 100), for /api/history and /api/poll
  poll timeout      0 to --max-poll seconds (default 30); /api/poll waits 10 s unless told
  idle clients      pinged every {PING_EVERY} s; one that does not answer is disconnected
"""


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS)
    parser.add_argument("--history", type=common.positive_integer, default=DEFAULTS["HISTORY"], metavar="N",
                        help="messages kept (default: %(default)s)")
    parser.add_argument("--max-clients", type=common.positive_integer, default=DEFAULTS["MAX_CLIENTS"], metavar="N",
                        help="WebSocket connections at once (default: %(default)s)")
    parser.add_argument("--max-poll", type=common.positive_seconds, default=DEFAULTS["MAX_POLL"], metavar="S",
                        help="longest wait a long poll may ask for, in seconds (default: %(default)s)")
    args = common.parse_args(parser, argv)
    app = create_app({"HISTORY": args.history, "MAX_CLIENTS": args.max_clients, "MAX_POLL": args.max_poll})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our own log lines are enough
    # dev=True: Flask's development server, because waitress cannot do WebSockets (see above).
    common.serve_wsgi(NAME, app, args.host, args.port, dev=True)


if __name__ == "__main__":
    main()
