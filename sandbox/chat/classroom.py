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


def gunicorn_problem() -> str | None:
    """Why gunicorn cannot serve here, or None if it can."""
    if os.name == "nt":
        return "gunicorn runs on Linux and macOS only (it forks a worker process, which Windows cannot do)"
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return "gunicorn is not installed: pip install gunicorn"
    return None


def serve_gunicorn(name: str, app, host: str, port: int, websockets: int) -> None:
    """Serve ``app`` with gunicorn until Ctrl-C: this process becomes its master (the
    "arbiter"), which listens, then forks one worker process that accepts the connections
    and runs ``app`` in threads: one for each of ``websockets`` WebSockets at once, plus
    HTTP_THREADS. (Each WebSocket also has the two threads of room.py and simple-websocket.)
    """
    from gunicorn.app.base import BaseApplication

    def when_ready(arbiter) -> None:
        # Called in the master once it listens, before the worker starts: the operating
        # system queues connections until the worker accepts them. Port 0 was replaced
        # by a real port when the socket was bound.
        common.announce(name, "http", host, arbiter.LISTENERS[0].sock.getsockname()[1])

    def worker_exit(arbiter, worker) -> None:
        # Called in the worker as it leaves, whatever the reason (Ctrl-C, the master gone).
        # Its threads are a ThreadPoolExecutor's, which Python waits for at exit: one per
        # open WebSocket, which may stay open for hours. Leave without waiting for them,
        # as werkzeug's daemon threads let it do: the clients see their connections end.
        os._exit(0)

    class Gunicorn(BaseApplication):
        def load_config(self):
            settings = {
                "bind": [common.host_port(host, port)],
                "workers": 1,  # see above: one room, in one process
                "worker_class": "gthread",
                "threads": websockets + HTTP_THREADS,  # a WebSocket holds its thread while it is open
                "graceful_timeout": GRACEFUL_TIMEOUT,
                "when_ready": when_ready,
                "worker_exit": worker_exit,
                "loglevel": "warning",  # errors only: the application logs each request itself
                "proc_name": name,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    master = os.getpid()
    try:
        Gunicorn().run()  # gunicorn handles Ctrl-C (SIGINT) itself: it stops its worker, then exits
    except KeyboardInterrupt:  # Ctrl-C before gunicorn had set up its own handling
        pass
    finally:
        if os.getpid() == master:  # the worker is forked inside run(): it leaves through here too
            print(f"{name} stopped", flush=True)
