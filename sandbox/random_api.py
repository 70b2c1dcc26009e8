"""HTTP JSON API of random numbers, written with the standard library only.

    python -m sandbox random [--host H] [--port P] [--idle-timeout S] [--max-connections N]
                             [faults: --latency T --reset F --cut F --slow B --http-errors [S:]F --seed N]

    GET /api/random/int?n=3&min=1&max=6     three dice rolls
    GET /api/random/float?n=2&seed=42       two floats between 0 and 1, the same every time
    GET /api/openapi.json                   the machine-readable description of the API

http.server reads the request line and the headers, then calls do_GET(); all
the rest is ours: routing, checking the query string, JSON responses, and
errors as JSON. The course later rewrites this server with Flask, to compare.
The fault options (sandbox/faults.py) make it fail on purpose: see do_GET().
"""

from __future__ import annotations

import http.client
import io
import json
import random
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import common, faults

NAME = "random"
DESCRIPTION = "HTTP JSON API of random numbers (standard library only: http.server)."
MAX_N = 1000
BOUND = 10**15  # |min|, |max| and seed: integers this size are exact in every JSON parser
PARAMETERS = ("n", "min", "max", "seed")
DEFAULTS = {int: (0, 100), float: (0.0, 1.0)}  # (min, max)
MAX_HEAD = 128 * 1024  # bytes of request line and headers, in all
LIMITS = f"""limits:
  n                 1 to {MAX_N} values per request
  min, max          -10**15 to 10**15, min <= max (both included)
  seed              0 to 10**15; the same seed and parameters give the same values
  request line      64 KiB (http.server), longer -> 414
  request head      the request line and headers {MAX_HEAD // 1024} KiB in all, more -> 431
  request time      each request (its line and headers) must arrive whole within
                    --idle-timeout seconds of the answer before it (or of
                    connecting), however slowly it comes; then the connection is
                    closed (a silent or slow client would otherwise hold its
                    thread forever)
  connections       --max-connections at once (default {common.DEFAULT_MAX_CONNECTIONS}); one more is
                    answered 503 Service Unavailable, with Retry-After, and closed
"""
EXPOSED = 'anyone who reaches the port can ask for numbers; nothing is kept.'


def endpoint(summary: str, parameters: list | None = None) -> dict:
    """The OpenAPI description of a GET endpoint answering JSON."""
    return {"get": {
        "summary": summary,
        "parameters": parameters or [],
        "responses": {
            "200": {"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"$ref": "#/components/responses/Error"},  # 400, 404, 405, ...
        },
    }}


def numbers_endpoint(kind: type) -> dict:
    schema = {"type": "integer" if kind is int else "number", "minimum": -BOUND, "maximum": BOUND}
    low, high = DEFAULTS[kind]
    query = [
        ("n", {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 1}, "how many values"),
        ("min", {**schema, "default": low}, "smallest possible value"),
        ("max", {**schema, "default": high}, "largest possible value"),
        ("seed", {"type": "integer", "minimum": 0, "maximum": BOUND}, "same seed, same values"),
    ]
    return endpoint(f"n random {kind.__name__}s between min and max",
                    [{"name": name, "in": "query", "schema": s, "description": d} for name, s, d in query])


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "random", "version": "1.0", "description": "Random numbers as JSON."},
    "paths": {
        "/": endpoint("index of the endpoints"),
        "/api/random/int": numbers_endpoint(int),
        "/api/random/float": numbers_endpoint(float),
        "/api/openapi.json": endpoint("this document"),
    },
    "components": {"responses": {"Error": {
        "description": "an error: 4xx status code and an explanation",
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["status", "error", "message"],
            "properties": {"status": {"type": "integer", "example": 400},
                           "error": {"type": "string", "example": "Bad Request"},
                           "message": {"type": "string"}},
        }}},
    }}},
}
INDEX = {"endpoints": list(OPENAPI["paths"]), "docs": "/api/openapi.json"}


class ApiError(Exception):
    """Answered to the client as a JSON error: {"status", "error", "message"}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def read_number(params: dict, name: str, kind: type, default, low, high):
    """params[name] as an int or a float, checked to be between low and high."""
    text = params.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ApiError(400, f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if not low <= value <= high:  # also false for nan
        raise ApiError(400, f"{name} must be between {low:_} and {high:_}, got {text!r}")
    return value


def random_numbers(kind: type, query: str) -> dict:
    params = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in PARAMETERS:
            raise ApiError(400, f"unknown query parameter {name!r}; the allowed ones are {', '.join(PARAMETERS)}")
        if name in params:
            raise ApiError(400, f"query parameter {name!r} is given more than once; give it once")
        params[name] = value
    n = read_number(params, "n", int, 1, 1, MAX_N)
    low = read_number(params, "min", kind, DEFAULTS[kind][0], -BOUND, BOUND)
    high = read_number(params, "max", kind, DEFAULTS[kind][1], -BOUND, BOUND)
    if low > high:
        raise ApiError(400, f"min ({low}) must not be greater than max ({high})")
    seed = read_number(params, "seed", int, None, 0, BOUND)  # not negative: Random(-5) is Random(5)
    # A generator of our own: seeding the global one would change the numbers
    # of the requests that other threads are serving at the same time.
    generator = random.Random(seed)  # seed None: seeded from the operating system
    draw = generator.randint if kind is int else generator.uniform
    values = [draw(low, high) for _ in range(n)]
    return {"type": kind.__name__, "n": n, "min": low, "max": high, "seed": seed, "values": values}


ROUTES = {
    "/": lambda query: INDEX,
    "/api/random/int": lambda query: random_numbers(int, query),
    "/api/random/float": lambda query: random_numbers(float, query),
    "/api/openapi.json": lambda query: OPENAPI,
}


class HeadTooLarge(http.client.HTTPException):
    """Raised while http.server reads the headers: it answers 431 with our message."""


class RequestHead(common.RequestReader):
    """common.RequestReader (a deadline for each request), with at most MAX_HEAD bytes
    per request too. http.server alone accepts 100 header lines of 64 KiB each: parsed,
    about 6 MiB of memory per connection, held as long as the client likes. This API
    never reads a body, so every byte of a request is its head."""

    def start(self) -> None:
        super().start()
        self.received = 0  # bytes of this request so far

    def readinto(self, buffer) -> int:
        if self.received >= MAX_HEAD:
            raise HeadTooLarge(f"the request line and headers hold more than {MAX_HEAD // 1024} KiB")
        count = super().readinto(memoryview(buffer)[:MAX_HEAD - self.received])  # never past the limit
        self.received += count
        return count


class RandomHandler(BaseHTTPRequestHandler):
    """Serves the requests of one connection (a thread per connection)."""

    # HTTP/1.1 keeps the connection open for the client's next request.
    protocol_version = "HTTP/1.1"
    # A malformed request line still gets a status line and headers (with the
    # default, "HTTP/0.9", http.server would send the bare body).
    default_request_version = "HTTP/1.0"
    # Headers and body leave in two writes. With Nagle's algorithm on, the
    # system holds the second one until the client acknowledges the first,
    # and the client delays that acknowledgement: ~40 ms lost per request.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # setup() gives it to the socket: for sending
        super().setup()  # self.rfile and self.wfile, on the socket
        # http.server reads the request line and the headers from self.rfile.
        # A socket's timeout counts from each recv(): a client sending a header
        # a minute would hold its thread for ever. This reader gives each
        # request a deadline, in all, and a size (RequestHead).
        self.rfile.close()
        self.reader = RequestHead(self.request, self.server.idle_timeout)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.reader.start()  # the clock of the next request starts
        super().handle_one_request()  # reads it, calls do_GET() (a timeout is logged, then the connection closed)

    def handle(self) -> None:
        try:
            super().handle()  # reads each request of the connection and calls do_GET()...
        except ConnectionError:  # reset or broken pipe: the client vanished before the answer was written
            self.log_message("connection lost")  # one line, instead of socketserver's traceback

    def do_GET(self) -> None:
        # The server's faults, if any (sandbox/faults.py): the latency, then this answer's fault.
        what = f"{self.command} {self.path} from {common.peer(self.client_address)}"
        fault = self.server.faults.before_answer(what)
        if isinstance(fault, int):  # an HTTP error instead of the answer, with Retry-After
            body, headers = self.server.faults.error_answer(fault, what)
            return self.send_json(fault, body, headers)
        url = urlsplit(self.path)
        route = ROUTES.get(url.path)
        try:
            if route is None:
                raise ApiError(404, f"there is nothing at {url.path}; GET / lists the endpoints")
            self.send_json(200, route(url.query), fault=fault, what=what)
        except ApiError as error:
            self.send_json_error(error.status, str(error), fault=fault, what=what)

    def do_HEAD(self) -> None:
        self.do_GET()  # send_json() leaves the body out

    def do_POST(self) -> None:
        # We never read the request body: close the connection after answering,
        # or what is left of the body would be read as the next request.
        self.send_json_error(405, f"{self.command} is not allowed: this API only answers GET (and HEAD)",
                             {"Allow": "GET, HEAD", "Connection": "close"})

    do_PUT = do_PATCH = do_DELETE = do_POST

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server calls this for a request it cannot parse, and for a method
        with no do_METHOD above: answer in JSON rather than its HTML page."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # e.g. OPTIONS: not allowed, like POST
            return self.do_POST()
        if code == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE and explain:
            message = None  # http.server's "Too many headers" or "Line too long": the explanation says which
        message = ": ".join(filter(None, [message, explain])) or HTTPStatus(code).description
        if code == HTTPStatus.BAD_REQUEST:
            message += "; a request line looks like 'GET /api/random/int HTTP/1.1'"
        # After a malformed request, where the next one starts is unknown: close.
        self.send_json_error(code, message, {"Connection": "close"})

    def send_json_error(self, status: int, message: str, headers: dict | None = None, **fault) -> None:
        body = {"status": status, "error": HTTPStatus(status).phrase, "message": message}
        self.send_json(status, body, headers, **fault)

    def send_json(self, status: int, body: dict, headers: dict | None = None,
                  fault: str | None = None, what: str = "") -> None:
        """Answer ``body`` as JSON; ``fault`` (drawn in do_GET) may reset, cut or slow it."""
        data = json.dumps(body).encode() + b"\n"
        if fault == "reset":  # before any byte of the answer
            self.server.faults.send(self.request, data, fault, what)  # raises FaultClosed
        self.send_response(status)  # the status line; also logs the request
        self.send_header("Content-Type", "application/json; charset=utf-8")
        # With HTTP/1.1 the length is how the client knows where the body ends.
        self.send_header("Content-Length", str(len(data)))
        headers = headers or {}
        if self.close_connection and "Connection" not in headers:
            # The client asked to close (Connection: close): say we will, so
            # that it does not try to send another request on this connection.
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            # self.wfile sends on the socket at once (no buffer): the body may follow it there.
            self.server.faults.send(self.request, data, fault, what)

    def log_request(self, code="-", size="-") -> None:
        """One line per response, e.g. ``127.0.0.1:5555 GET /api/random/int?n=3 200``."""
        request = f"{self.command} {self.path}" if self.command else repr(self.requestline)
        self.log_message("%s %s", request, int(code))

    def log_message(self, format: str, *args) -> None:  # also used for timeouts
        common.log(f"{common.peer(self.client_address)} {format % args}")


class RandomServer(common.SandboxServer, ThreadingHTTPServer):
    """Listens on ``address`` and serves each connection with a RandomHandler, in a thread of its own."""

    def __init__(self, address: tuple[str, int], idle_timeout: float,
                 max_connections: int = common.DEFAULT_MAX_CONNECTIONS, fault_plan: faults.FaultPlan = faults.NO_FAULTS):
        super().__init__(address, RandomHandler, max_connections)
        self.idle_timeout = idle_timeout  # seconds; read by each RandomHandler
        self.faults = fault_plan

    def refusal(self, message: str) -> bytes:
        """A client beyond --max-connections gets a 503, the JSON error of send_json_error().

        It is written out by hand: a refused connection has no RandomHandler.
        The answer does not wait for the request; Retry-After says when to try again.
        """
        body = json.dumps({"status": 503, "error": HTTPStatus(503).phrase, "message": message}).encode() + b"\n"
        head = ("HTTP/1.1 503 Service Unavailable\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Retry-After: 5\r\n"
                "Connection: close\r\n\r\n")
        return head.encode() + body


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    common.add_idle_timeout(parser, default=60)
    common.add_max_connections(parser)
    faults.add_faults(parser, faults.HTTP)
    args = common.parse_args(parser, argv)
    server = RandomServer((args.host, args.port), idle_timeout=args.idle_timeout, max_connections=args.max_connections,
                          fault_plan=faults.from_args(parser, args))
    common.serve(NAME, server, "http")


if __name__ == "__main__":
    main()
