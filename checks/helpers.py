"""What the checkers share: sandbox servers (or a remote one), socket pairs,
sending and reading in pieces, and a Flask application's answers.

The small servers of the checks themselves are in servers.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

from .core import Failure

LOCALHOST = "127.0.0.1"


@contextlib.contextmanager
def sandbox_server(name: str, given=None, **options):
    """The sandbox server ``given`` (the notebook's own), or one launched for this check.

    A server launched here is stopped when the block ends; the notebook's own
    servers are left alone (even one of the same name: ``replace=False``).
    """
    if given is not None:
        if not getattr(given, "running", False):
            raise Failure(
                f"the {name} server given to the check to be running",
                f"{given!r}",
                "run the cell near the top that launches it, then this check again",
            )
        yield given
        return
    from sandbox import launch

    server = launch(name, replace=False, **options)  # the notebook's own servers stay as they are
    try:
        yield server
    finally:
        server.stop()


class Remote:
    """A server the notebook did not launch (an instructor's, for the whole class), given by URL.

    It has what checkers use of a sandbox ``Server``, so it can be passed where one is
    expected: ``check_inbox(read_inbox, Remote("http://192.168.1.10:8000"))``.
    """

    running = True

    def __init__(self, url: str):
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"{url!r}: give the scheme, host and port, e.g. http://192.168.1.10:8000")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.url = f"{parts.scheme}://{parts.netloc}"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __repr__(self) -> str:
        return f"<remote server at {self.url}>"


def connected_pair(timeout: float = 5.0) -> tuple[socket.socket, socket.socket]:
    """Both ends of one TCP connection on this machine: ``(client, server)``."""
    with socket.create_server((LOCALHOST, 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=timeout)
        server, _ = listener.accept()
    server.settimeout(timeout)
    return client, server


def in_background(fn, *args) -> threading.Thread:
    """Run ``fn(*args)`` in a daemon thread, started; ``join()`` it to wait."""
    thread = threading.Thread(target=_quietly, args=(fn, *args), daemon=True)
    thread.start()
    return thread


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except OSError:  # the other end went away: what the check looks at is the other end
        pass


class _Stingy(socket.socket):
    """A socket whose ``send()`` sends at most a few bytes per call, as any ``send()`` may:
    it returns how many it sent, and the rest is the caller's to send. ``sendall()`` sends them all."""

    cut = False  # True once a send() was given more than it sent

    def send(self, data, flags=0):
        if isinstance(data, (bytes, bytearray, memoryview)) and memoryview(data).nbytes > STINGY:
            data = memoryview(data).cast("B")[:STINGY]
            self.cut = True
        return super().send(data, flags)


STINGY = 3  # bytes that one send() of a stingy socket sends at most


def stingy(sock: socket.socket) -> socket.socket:
    """The same connection as ``sock`` (which can no longer be used), with a ``send()`` that sends
    only a few bytes per call: code that calls ``send()`` once instead of ``sendall()`` loses the rest,
    every time, whatever the buffers."""
    return same_connection(sock, _Stingy)


def same_connection(sock: socket.socket, cls: type) -> socket.socket:
    """The connection of ``sock`` (which can no longer be used) as an instance of ``cls``, a
    subclass of ``socket.socket`` whose methods watch what the student's code does with it."""
    timeout = sock.gettimeout()
    other = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
    other.settimeout(timeout)
    return other


def send_in_pieces(sock: socket.socket, data: bytes, sizes=(1, 2, 3, 1000, 7, 65536), close: bool = True) -> None:
    """Send ``data`` in pieces of these sizes (cycling), then shut down writing (``close``)."""
    position, i = 0, 0
    while position < len(data):
        size = sizes[i % len(sizes)]
        sock.sendall(data[position : position + size])
        position += size
        i += 1
    if close:
        sock.shutdown(socket.SHUT_WR)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the other end shuts down writing or closes."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def free_port() -> int:
    """A port on 127.0.0.1 where nobody listens (connecting there is refused)."""
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def full_backlog(probe: float = 0.2, attempts: int = 20):
    """``(host, port)`` of a listener whose queue of waiting connections is full, or None.

    It listens with the smallest backlog and never accepts; the check fills its queue
    itself, until connecting times out twice in a row. From then on, the system drops
    every new handshake there (Linux, macOS): a client's ``connect`` waits until its
    timeout, deterministically, as on a server that does not answer at all. Where the
    system refuses such connections instead (Windows), there is no such place: None.
    """
    listener = socket.create_server((LOCALHOST, 0), backlog=0)
    address = listener.getsockname()
    fillers: list[socket.socket] = []
    timeouts = 0
    try:
        while timeouts < 2 and len(fillers) < attempts:
            sock = socket.socket()
            sock.settimeout(probe)
            try:
                sock.connect(address)
            except TimeoutError:
                sock.close()
                timeouts += 1
                continue
            except OSError:
                sock.close()
                break
            if timeouts:  # a connection got through after a timeout: the queue was not full
                timeouts = 0
            fillers.append(sock)
        yield address if timeouts == 2 else None
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


# --- a Flask application, through its test client ----------------------------------


def flask_request(client, method: str, url: str, hint: str = "", **kwargs):
    """``client.open(url, method=method, **kwargs)``: the response of the student's application.

    With ``app.testing = True`` an exception in a view reaches us instead of
    becoming a 500: a view still raising NotImplementedError is "not done yet",
    and any other exception is reported with the line of the view that raised it.
    """
    from .core import NotDone, describe_exception, run_with_limit, student_frames

    finished, response, error = run_with_limit(client.open, (url,), dict(method=method, **kwargs))
    if not finished:
        raise Failure(f"an answer to {method} {url} within 10 s", "the view was still running", hint)
    if isinstance(error, NotImplementedError):
        frames = student_frames(error)
        view = f"{frames[-1].name}()" if frames else "its view"
        raise NotDone(f"{method} {url}: {view} still raises NotImplementedError: {error}")
    if error is not None:
        raise Failure(f"an answer to {method} {url}", f"the application raised {describe_exception(error)}", hint)
    return response


def expect_json_error(response, status: int, request: str, hint: str = "") -> dict:
    """The response is an error in the course's shape, with this status:
    ``{"status": 404, "error": "Not Found", "message": "..."}`` (plus ``details`` for a 422)."""
    from werkzeug.http import HTTP_STATUS_CODES  # Flask's names: "Unprocessable Entity" for 422

    from .core import expect, short

    shape_hint = hint or 'every error is JSON: {"status": ..., "error": ..., "message": ...} (see the error handler)'
    name = HTTP_STATUS_CODES[status]
    expect(response.status_code == status, f"{request}: status {status} {name}",
           f"{response.status_code} {short(response.get_data(as_text=True))}", hint)
    body = response.get_json(silent=True)
    expect(response.mimetype == "application/json" and isinstance(body, dict),
           f"{request}: a JSON error", f"{response.content_type}: {short(response.get_data(as_text=True))}", shape_hint)
    keys = set(body) - {"details"}
    expect(keys == {"status", "error", "message"} and body["status"] == status
           and body["error"] == name and isinstance(body["message"], str) and body["message"],
           f'{request}: {{"status": {status}, "error": "{name}", "message": "..."}}',
           short(body, 120), shape_hint)
    return body
