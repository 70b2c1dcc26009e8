"""Serving the chat to a class: gunicorn, a production server that can do WebSockets.

On this machine only, Flask's development server (werkzeug) is fine. On a network it
is not what Flask's own documentation recommends: it is not designed to be efficient,
stable or secure, and it starts a thread for every connection, as many as come.
Waitress, the other sandboxes' production server, cannot hand a connection over to a
WebSocket. gunicorn can, with its threaded worker ("gthread"): connections that have
not sent anything yet wait in one thread (a selector), at most 1,000 of them, and each
request gets one of a fixed number of threads. It runs on Linux and macOS, not Windows
(it forks its worker process).

One worker process, not several: the room (who is connected, the last messages)
lives in the memory of one process, and every member must be in the same one.
"""

from __future__ import annotations

import os

from .. import common

HTTP_THREADS = 32  # threads for HTTP requests (the page, a long poll), besides one per WebSocket
GRACEFUL_TIMEOUT = 2  # seconds gunicorn lets requests finish when told to stop gracefully (SIGTERM)


def serve_gunicorn(name: str, app, host: str, port: int, websockets: int) -> None:
    """Serve ``app`` with gunicorn until Ctrl-C (common.serve_gunicorn), in one worker
    process running ``app`` in threads: one for each of ``websockets`` WebSockets at
    once, plus HTTP_THREADS. (Each WebSocket also has the two threads of room.py and
    simple-websocket.)
    """

    def worker_exit(arbiter, worker) -> None:
        # Called in the worker as it leaves, whatever the reason (Ctrl-C, the master gone).
        # Its threads are a ThreadPoolExecutor's, which Python waits for at exit: one per
        # open WebSocket, which may stay open for hours. Leave without waiting for them,
        # as werkzeug's daemon threads let it do: the clients see their connections end.
        os._exit(0)

    common.serve_gunicorn(
        name, app, host, port,
        workers=1,  # see above: one room, in one process
        worker_class="gthread",
        threads=websockets + HTTP_THREADS,  # a WebSocket holds its thread while it is open
        graceful_timeout=GRACEFUL_TIMEOUT,
        worker_exit=worker_exit,
    )
