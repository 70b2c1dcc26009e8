"""Faults on demand: a sandbox server that is slow, drops connections or answers 503, when asked.

A real network and real servers fail now and then; a client must cope. These
options make a sandbox server fail on purpose, so that a client's timeouts and
retries meet real faults (all off by default):

    python -m sandbox httpbin --http-errors 503:0.3 --retry-after 1 --seed 1
    launch("httpbin", faults={"http_errors": 0.3, "seed": 1})      # the same, from Python

    --latency 50ms           wait this long before each answer
    --reset 0.1              reset the connection (RST) instead of a tenth of the answers
    --cut 0.1                send half of a tenth of the answers, then close the connection
    --slow 100               send every answer (over HTTP, its body) byte by byte, 100 bytes per second
    --http-errors 503:0.2    answer a fifth of the HTTP requests 503 instead (429, 500, 502, 504 too)
    --retry-after 1          the Retry-After header of those 429 and 503 answers
    --seed 1                 the same seed, the same faults for the same requests in the same order

Each server lists under "faults:" in its --help the ones it supports, and
every fault it injects is one line of its log, e.g.

    12:00:01 fault: 503 to GET /get from 127.0.0.1:50312 (Retry-After: 1)

How it decides: for each answer, one random number between 0 and 1, from a
generator seeded with --seed (``random.Random(seed)``). With ``--reset 0.1
--cut 0.1 --http-errors 0.2``, below 0.1 is a reset, then up to 0.2 a cut,
then up to 0.4 a 503; the rest is answered normally.

Where the faults apply: echo and contacts call ``plan.sendall(sock, answer,
what)`` instead of ``sock.sendall(answer)``; random (http.server) draws the
fault of a request with ``plan.before_answer(what)`` in do_GET(), and sends
its body with ``plan.send()``; a WSGI application (httpbin, messaging) is
wrapped by ``wrap(app, plan)``. A WSGI application never holds its connection
(the server, waitress, does): it can answer an error, wait, send its body
slowly or cut it short, but it cannot reset the connection: --reset exists for
the servers that own their sockets. With messaging --workers N, each process
has a plan of its own: the same seed, a sequence of its own.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import struct
import textwrap
import threading
import time
from http import HTTPStatus

from . import common

TCP = ("latency", "reset", "cut", "slow")  # echo, contacts: they own their sockets
HTTP = TCP + ("http_errors",)  # random (http.server): its socket, and HTTP answers
WSGI = ("latency", "cut", "slow", "http_errors")  # httpbin, messaging: no socket, see above
ERROR_STATUSES = (429, 500, 502, 503, 504)  # what --http-errors may answer
RETRY_AFTER_STATUSES = (429, 503)  # the ones where Retry-After means something (RFC 9110, RFC 6585)
MAX_LATENCY = 60.0
MAX_RETRY_AFTER = 3600


class FaultClosed(ConnectionAbortedError):
    """Raised by ``sendall`` after a reset or a cut: the connection is gone, stop serving it.

    A ConnectionError, so that a handler's ``except ConnectionError`` ends the
    connection as it does when a client vanishes."""


class FaultPlan:
    """Which faults, how often, and the seeded generator that picks them.

    ``http_errors`` is ``{status: fraction}``. The plan is shared by every
    client thread: a lock keeps the draws in one order.
    """

    def __init__(self, latency: float = 0.0, reset: float = 0.0, cut: float = 0.0, slow: int = 0,
                 http_errors: dict[int, float] | None = None, retry_after: int = 1, seed: int | None = None):
        self.latency = latency  # seconds
        self.slow = slow  # bytes per second; 0: at full speed
        self.retry_after = retry_after
        self.seed = seed
        # The faults a draw may pick, each with its share of [0, 1): reset, cut, then the statuses.
        self.chances = [("reset", reset), ("cut", cut)] + sorted((http_errors or {}).items())
        if sum(share for _, share in self.chances) > 1:
            given = [f"--{name}" for name, share in (("reset", reset), ("cut", cut)) if share]
            given += ["--http-errors"] if http_errors else []
            raise ValueError(f"the fractions of {' and '.join(given)} add up to more than 1")
        self.random = random.Random(seed)  # seed None: seeded from the operating system
        self.lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self.latency or self.slow or any(share for _, share in self.chances))

    def describe(self) -> str:
        """One line: the faults on, e.g. ``latency 50 ms, 503 for 20% of answers (Retry-After: 1), seed 1``."""
        parts = [f"latency {self.latency * 1000:g} ms"] if self.latency else []
        for fault, share in self.chances:
            if share:
                extra = f" (Retry-After: {self.retry_after})" if fault in RETRY_AFTER_STATUSES else ""
                parts.append(f"{fault} for {share:.0%} of answers{extra}")
        if self.slow:
            parts.append(f"slow answers, {self.slow} bytes/s")
        parts.append(f"seed {self.seed}" if self.seed is not None else "no seed (different faults each run)")
        return ", ".join(parts)

    def before_answer(self, what: str) -> str | int | None:
        """Wait the latency, then draw this answer's fault: "reset", "cut", a status, or None.

        ``what`` names the request in the log, e.g. "GET /get from 127.0.0.1:50312".
        """
        if not self.active:
            return None
        if self.latency:
            common.log(f"fault: latency {self.latency * 1000:g} ms before answering {what}")
            time.sleep(self.latency)  # holds this client's thread only: the others are served meanwhile
        with self.lock:
            draw = self.random.random()
        for fault, share in self.chances:
            if draw < share:
                return fault
            draw -= share
        return None

    def error_answer(self, status: int, what: str) -> tuple[dict, dict]:
        """The JSON error body and headers of an injected error, logged."""
        headers = {"Retry-After": str(self.retry_after)} if status in RETRY_AFTER_STATUSES else {}
        common.log(f"fault: {status} to {what}" + (f" (Retry-After: {self.retry_after})" if headers else ""))
        message = "a fault on purpose (--http-errors): the request was not carried out"
        if headers:
            message += f"; try again in {self.retry_after} s"
        body = {"status": status, "error": HTTPStatus(status).phrase, "message": message}  # as sandbox/web.py
        return body, headers

    # --- the TCP side: servers that own their sockets ---------------------------

    def sendall(self, sock: socket.socket, data: bytes, what: str) -> None:
        """``sock.sendall(data)``, with this answer's faults: the latency first, then
        a reset, a cut or a slow answer. After a reset or a cut, FaultClosed."""
        if not self.active:
            sock.sendall(data)  # the server as it is without faults
            return
        self.send(sock, data, self.before_answer(what), what)

    def send(self, sock: socket.socket, data: bytes, fault: str | None, what: str) -> None:
        """Send ``data`` as ``fault`` (drawn by before_answer) says; also slowly with --slow."""
        if fault == "reset":
            common.log(f"fault: reset, no answer to {what}")
            reset(sock)
            raise FaultClosed("connection reset on purpose (--reset)")
        if fault == "cut":
            common.log(f"fault: cut, the answer to {what} stops after {len(data) // 2} of {len(data)} bytes")
            data = data[:len(data) // 2]
        if self.slow:
            common.log(f"fault: slow, the answer to {what} goes at {self.slow} bytes/s")
            for piece in self.trickle(data):
                sock.sendall(piece)
        else:
            sock.sendall(data)
        if fault == "cut":
            # The end of our side (FIN) in the middle of the answer: the client reads
            # what came, then end of file. Closing happens as the handler returns.
            sock.shutdown(socket.SHUT_WR)
            raise FaultClosed("connection closed mid-answer on purpose (--cut)")

    def trickle(self, data: bytes):
        """``data`` one byte at a time, each when it is due at ``self.slow`` bytes per second."""
        start = time.monotonic()
        for index in range(len(data)):
            time.sleep(max(0.0, start + index / self.slow - time.monotonic()))
            yield data[index:index + 1]


NO_FAULTS = FaultPlan()  # a server's default: sendall() is sock.sendall()


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (RST) instead of a normal end (FIN).

    SO_LINGER on, with a linger time of 0: close() then drops whatever is not
    sent yet and sends RST. The client's next recv() raises ConnectionResetError.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --- the HTTP side: a WSGI middleware ---------------------------------------------


class FaultyApp:
    """WSGI middleware: the application ``app``, behind the faults of ``plan``.

    A middleware is itself a WSGI application that calls the next one. An
    injected error answers without calling ``app`` (nothing is carried out);
    a cut calls it first (the request is carried out, only its answer is lost).
    """

    def __init__(self, app, plan: FaultPlan):
        self.app = app
        self.plan = plan

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        client = common.peer((environ.get("REMOTE_ADDR", "?"), environ.get("REMOTE_PORT", "?")))
        what = f"{environ['REQUEST_METHOD']} {path} from {client}"
        fault = self.plan.before_answer(what)
        if isinstance(fault, int):  # an HTTP status: answer it instead of the application
            body, headers = self.plan.error_answer(fault, what)
            data = json.dumps(body).encode()
            start_response(f"{fault} {HTTPStatus(fault).phrase}",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers.items()])
            return [data]
        if fault != "cut" and not self.plan.slow:
            return self.app(environ, start_response)
        # The whole answer first, to know its length; then what the fault lets through.
        answer = {}

        def keep(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)
            return lambda data: None  # the old write() callable: Flask does not use it

        chunks = self.app(environ, keep)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()  # WSGI: the server must close what the application returned
        headers = [(name, value) for name, value in answer["headers"] if name.lower() != "content-length"]
        start_response(answer["status"], headers + [("Content-Length", str(len(data)))])
        if fault == "cut":
            # Fewer bytes than the Content-Length announces: waitress then closes the
            # connection (its log says "too few bytes"), and the client sees a body cut short.
            common.log(f"fault: cut, the answer to {what} stops after {len(data) // 2} of {len(data)} bytes")
            data = data[:len(data) // 2]
        if not self.plan.slow:
            return [data]
        common.log(f"fault: slow, the answer to {what} goes at {self.plan.slow} bytes/s")
        return self.plan.trickle(data)  # the server sends each piece as it comes


def wrap(app, plan: FaultPlan):
    """``app`` behind the faults of ``plan``; ``app`` itself when there are none."""
    return FaultyApp(app, plan) if plan.active else app


# --- the command line ----------------------------------------------------------------


def fraction(text: str) -> float:
    """argparse type: a fraction, 0 to 1 (0.25: a quarter of the answers)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a fraction such as 0.1") from None
    if not 0 <= value <= 1:  # also false for nan
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1")
    return value


def duration(text: str) -> float:
    """argparse type: a duration, in seconds (0.05, 2s) or milliseconds (50ms), at most MAX_LATENCY s."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; give seconds (0.05, 2s) or milliseconds (50ms)")
    seconds = float(match[1]) / (1000 if match[2] == "ms" else 1)
    if seconds > MAX_LATENCY:
        raise argparse.ArgumentTypeError(f"{text} is more than {MAX_LATENCY:g} s")
    return seconds


def whole_number(low: int, high: int | None = None, unit: str = ""):
    """An argparse type: a whole number from ``low`` to ``high`` (no upper limit if None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number{unit}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}" if high is not None
                                             else f"{value} is less than {low}")
        return value

    return parse


rate = whole_number(1, 1_000_000, " of bytes per second")
seconds_after = whole_number(0, MAX_RETRY_AFTER, " of seconds (Retry-After has no fractions)")  # HTTP says so
seed_number = whole_number(0)


def http_errors(text: str) -> dict[int, float]:
    """argparse type: "0.2" (503 for a fifth of the requests) or "503:0.2,429:0.1"."""
    errors = {}
    for item in text.split(","):
        status, _, share = item.rpartition(":")
        status = status.strip() or "503"
        if status not in map(str, ERROR_STATUSES):
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r}: the status must be one of {', '.join(map(str, ERROR_STATUSES))}, "
                "as in 503:0.2 (a bare fraction means 503)")
        if int(status) in errors:
            raise argparse.ArgumentTypeError(f"{status} is given twice")
        errors[int(status)] = fraction(share)
    return errors


OPTIONS = {  # name -> (type, metavar, help)
    "latency": (duration, "TIME", "wait this long before each answer: 0.05 or 50ms (at most 60 s)"),
    "reset": (fraction, "FRACTION", "reset the connection (RST) instead of this fraction of the answers, "
              "e.g. 0.1: the client reads ConnectionResetError"),
    "cut": (fraction, "FRACTION", "send only the first half of this fraction of the answers (over HTTP, "
            "of the body), then close the connection: the client reads an answer cut short"),
    "slow": (rate, "BYTES_PER_SECOND", "send every answer (over HTTP, its body) byte by byte, this many "
             "bytes per second (a slow network)"),
    "http_errors": (http_errors, "[STATUS:]FRACTION,...",
                    "answer this fraction of the requests with an error instead, without carrying them out: "
                    f"0.2 (503), or 503:0.2,429:0.1; a status among {', '.join(map(str, ERROR_STATUSES))}; "
                    "429 and 503 say when to come back in Retry-After"),
}


def add_faults(parser: argparse.ArgumentParser, kinds: tuple[str, ...]) -> None:
    """The options of the faults in ``kinds`` (TCP, HTTP or WSGI above), in a "faults:" group of --help."""
    drawn = [f"--{kind.replace('_', '-')}" for kind in kinds if kind in ("reset", "cut", "http_errors")]
    about = ("Make the server fail on purpose, to test a client (off by default; see sandbox/faults.py). "
             f"Each answer draws one random number, which picks at most one of {' and '.join(drawn)}: their "
             "fractions add up to 1 at most. --latency and --slow apply to every answer.")
    # The parsers of the servers keep their text as written (RawDescriptionHelpFormatter): wrap it here.
    group = parser.add_argument_group("faults", textwrap.fill(about, width=76))
    for kind in kinds:
        kind_type, metavar, help_text = OPTIONS[kind]
        group.add_argument("--" + kind.replace("_", "-"), type=kind_type, metavar=metavar, help=help_text)
    if "http_errors" in kinds:
        group.add_argument("--retry-after", type=seconds_after, default=1, metavar="SECONDS",
                           help="the Retry-After of the 429 and 503 answers of --http-errors (default: 1)")
    group.add_argument("--seed", type=seed_number, metavar="N",
                       help="seed of the faults: the same seed, the same faults for the same requests in the same "
                       "order (default: different at each start)")


def settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """The keyword arguments of FaultPlan from the parsed options, checked (a parser error if
    the fractions add up to more than 1). With faults on, one line in the log says which."""
    found = {name: getattr(args, name) for name in ("latency", "reset", "cut", "slow", "http_errors", "retry_after", "seed")
             if getattr(args, name, None) is not None}
    try:
        plan = FaultPlan(**found)
    except ValueError as error:
        parser.error(str(error))
    if plan.active:
        print(f"faults on: {plan.describe()}", flush=True)
    return found


def from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> FaultPlan:
    """The FaultPlan of the parsed options (``add_faults``): no fault at all without them."""
    return FaultPlan(**settings(parser, args))
