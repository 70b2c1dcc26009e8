"""The random-number API once more, in FastAPI, served by uvicorn (ASGI): chapter 12.

    python -m sandbox random-async [--host H] [--port P] [--max-connections N]
    python -m sandbox random-async --app hello.py     # your own ASGI application instead

    GET /api/random/int?n=3&min=1&max=6     three dice rolls
    GET /api/random/float?n=2&seed=42       two floats between 0 and 1, the same every time
    GET /api/openapi.json                   the API's description, as the other two versions serve it
    GET /openapi.json, GET /docs            the description FastAPI generates, and Swagger UI on it

Same endpoints, query parameters, JSON answers and JSON errors as the http.server
version (random_api.py) and the Flask one (notebooks/apps/07-random_flask.py):
tests/test_random_async.py sends the same requests to all three. The query
parameters are read as text and checked by hand, as there, so that a mistake
gets the same message; FastAPI's own validation (a 422) is shown in chapter 12.
The differences sit at the edges, where the framework decides:

- like Flask, a verb other than GET or HEAD on a URL that does not exist is a
  404, and two different mistakes in one query may be reported in another order
  than http.server's; OPTIONS is a 405 (Allow: GET, HEAD), as in http.server;
- like http.server, invalid UTF-8 in the query reads as U+FFFD; %-escapes in
  the path are decoded before routing, as in Flask;
- /openapi.json and /docs exist here only; the headers (server, date) differ.
"""

from __future__ import annotations

import random
import socket
from http import HTTPStatus

from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from . import common
# The hand-written description (the same API, the same document), and the same checks and errors.
from .random_api import OPENAPI, ApiError, read_number

NAME = "random-async"
DESCRIPTION = "HTTP JSON API of random numbers in FastAPI, served by uvicorn (ASGI); or your own ASGI app."
MAX_N = 1000
BOUND = 10**15  # |min|, |max| and seed: integers this size are exact in every JSON parser
PARAMETERS = ("n", "min", "max", "seed")
WS_MAX_SIZE = 2**20  # bytes in one WebSocket message (an --app with WebSockets): bounded memory per client
DEFAULTS = {int: (0, 100), float: (0.0, 1.0)}  # (min, max)
LIMITS = f"""limits:
  n                 1 to {MAX_N} values per request
  min, max          -10**15 to 10**15, min <= max (both included)
  seed              0 to 10**15; the same seed and parameters give the same values
  request head      parsed by uvicorn (h11): a malformed one gets its plain-text
                    400 and the connection is closed
  idle connection   closed after 5 s without a request (uvicorn's keep-alive timeout)
  connections       --max-connections connections and requests at once (default
                    {common.DEFAULT_MAX_CONNECTIONS}); beyond it uvicorn answers 503 Service Unavailable
                    (plain text) and closes
  WebSocket message with --app: at most 1 MiB (uvicorn's default is 16 MiB); a larger
                    one closes the connection (1009)
  one event loop    every client shares one thread: an endpoint that blocks
                    (time.sleep, requests.get) stalls them all
"""
EXPOSED = 'anyone who reaches the port can ask for numbers; nothing is kept.'


class Numbers(BaseModel):
    """The answer of both endpoints: FastAPI checks it and describes it in /openapi.json."""

    type: str
    n: int
    min: int | float
    max: int | float
    seed: int | None
    values: list[int] | list[float]


app = FastAPI(
    title="random", version="1.0", description="Random numbers as JSON (FastAPI version).",
    docs_url=None, redoc_url=None,  # /docs below, from local files: FastAPI's own loads them from a CDN
    redirect_slashes=False,  # /api/random/int/ is a 404, as in the other versions (not a redirect)
)
# Swagger UI 4, the version the swagger-ui-bundle package ships, reads OpenAPI 3.0, not 3.1
# (FastAPI's default); below, openapi() writes the one 3.1 feature used here, null, as 3.0 does.
app.openapi_version = "3.0.3"


def random_numbers(request: Request, kind: type) -> dict:
    items = request.query_params.multi_items()  # [(name, value), ...], repeated names included
    for name in dict.fromkeys(name for name, _ in items):  # each name once, in order
        if name not in PARAMETERS:
            raise ApiError(400, f"unknown query parameter {name!r}; the allowed ones are {', '.join(PARAMETERS)}")
        if len(request.query_params.getlist(name)) > 1:
            raise ApiError(400, f"query parameter {name!r} is given more than once; give it once")
    n = read_number(request.query_params, "n", int, 1, 1, MAX_N)
    low = read_number(request.query_params, "min", kind, DEFAULTS[kind][0], -BOUND, BOUND)
    high = read_number(request.query_params, "max", kind, DEFAULTS[kind][1], -BOUND, BOUND)
    if low > high:
        raise ApiError(400, f"min ({low}) must not be greater than max ({high})")
    seed = read_number(request.query_params, "seed", int, None, 0, BOUND)  # not negative: Random(-5) is Random(5)
    generator = random.Random(seed)  # our own generator, not the global one shared by every request
    draw = generator.randint if kind is int else generator.uniform
    values = [draw(low, high) for _ in range(n)]
    return {"type": kind.__name__, "n": n, "min": low, "max": high, "seed": seed, "values": values}


# Declared for the generated description only: read as text, checked by random_numbers().
N = Query(None, description=f"how many values, 1 to {MAX_N} (default 1)")
MIN = Query(None, description="smallest possible value")
MAX = Query(None, description="largest possible value")
SEED = Query(None, description="same seed, same values (0 to 10**15)")
ANSWERS = {"default": {"description": "an error: 4xx status code and an explanation"}}


def get(path: str, **options):
    """@app.get(path), which answers HEAD too (with the headers of a GET and no body)."""
    def register(function):
        app.add_api_route(path, function, methods=["HEAD"], **{**options, "include_in_schema": False})
        return app.get(path, **options)(function)
    return register


# `def`, not `async def`: FastAPI runs a plain function in a thread of its pool, so a slow one
# cannot stall the event loop. These take microseconds: `async def` would do too (chapter 12).
@get("/")
def index():
    return {"endpoints": list(OPENAPI["paths"]), "docs": "/api/openapi.json"}


@get("/api/random/int", response_model=Numbers, responses=ANSWERS)
def random_ints(request: Request, n: str = N, min: str = MIN, max: str = MAX, seed: str = SEED):
    """n random integers between min and max"""
    return random_numbers(request, int)


@get("/api/random/float", response_model=Numbers, responses=ANSWERS)
def random_floats(request: Request, n: str = N, min: str = MIN, max: str = MAX, seed: str = SEED):
    """n random floats between min and max"""
    return random_numbers(request, float)


@get("/api/openapi.json", include_in_schema=False)
def openapi_document():
    return OPENAPI


@app.get("/docs", include_in_schema=False)
def docs():
    """Swagger UI on /openapi.json, with its JavaScript and CSS from this server."""
    return get_swagger_ui_html(openapi_url=app.openapi_url, title="random: Swagger UI",
                               swagger_js_url="/docs/static/swagger-ui-bundle.js",
                               swagger_css_url="/docs/static/swagger-ui.css",
                               swagger_favicon_url="/docs/static/favicon-32x32.png")


app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-ui")


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    body = {"status": status, "error": HTTPStatus(status).phrase, "message": message}
    return JSONResponse(body, status, headers)


@app.exception_handler(ApiError)
def api_error(request: Request, error: ApiError):
    return error_response(error.status, str(error))


@app.exception_handler(HTTPException)  # Starlette's (FastAPI's is a subclass): no such URL, a wrong verb
def http_error(request: Request, error: HTTPException):
    if error.status_code == 404:
        return error_response(404, f"there is nothing at {request.url.path}; GET / lists the endpoints")
    if error.status_code == 405:
        return error_response(405, f"{request.method} is not allowed: this API only answers GET (and HEAD)",
                              {"Allow": "GET, HEAD"})
    return error_response(error.status_code, str(error.detail), error.headers)


def without_null(schema):
    """OpenAPI 3.1's {"anyOf": [X, {"type": "null"}]} written as 3.0's {X, "nullable": true}."""
    if isinstance(schema, list):
        return [without_null(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: without_null(value) for key, value in schema.items()}
    options = schema.get("anyOf", [])
    if {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        schema.pop("anyOf")
        schema.update(rest[0] if len(rest) == 1 else {"anyOf": rest}, nullable=True)
    return schema


def openapi() -> dict:
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        document = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                               description=app.description, routes=app.routes)
        app.openapi_schema = without_null(document)
    return app.openapi_schema


app.openapi = openapi


class AccessLog:
    """ASGI middleware: one log line per answer, e.g. ``127.0.0.1:5555 GET /api/random/int?n=3 200``.

    It wraps the application: it passes every event through, and logs when the
    answer starts (uvicorn's own access log is off, for lines like the other servers')."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # "lifespan" (start-up, shut-down), "websocket"
            return await self.application(scope, receive, send)
        target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
        client = common.peer(scope["client"]) if scope.get("client") else "-"

        async def logging_send(event):
            if event["type"] == "http.response.start":
                common.log(f"{client} {scope['method']} {target} {event['status']}")
            await send(event)

        await self.application(scope, receive, logging_send)


def serve_asgi(name: str, application, host: str, port: int, max_connections: int) -> None:
    """Serve an ASGI application with uvicorn until Ctrl-C (or standard input closes)."""
    import uvicorn

    # Bind and listen first, as the other servers do: then the announced port is
    # the real one (port 0: the system picks) and clients can connect at once.
    host = common.one_address(host)
    listener = socket.create_server((host, port), family=common.family_of(host), backlog=128)  # as the others
    # uvicorn writes the headers and the body in two sends. With Nagle's algorithm on, the
    # system holds the second until the client acknowledges the first, and the client delays
    # that acknowledgement: ~50 ms per request (measured: 54 ms, 2.8 ms without). The accepted
    # connections inherit TCP_NODELAY from the listening socket (measured on Linux).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    config = uvicorn.Config(AccessLog(application), log_config=None, access_log=False,
                            limit_concurrency=max_connections, timeout_graceful_shutdown=2,
                            server_header=False, lifespan="auto",
                            ws_max_size=WS_MAX_SIZE)  # uvicorn reads a whole message before the app sees it
    server = uvicorn.Server(config)
    common.allow_open_files()
    try:
        common.announce(name, "http", host, listener.getsockname()[1])
        server.run(sockets=[listener])  # returns on Ctrl-C: uvicorn handles the signal itself
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        print(f"{name} stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument("--max-connections", type=common.positive_integer, default=common.DEFAULT_MAX_CONNECTIONS,
                        metavar="N", help="connections and requests at once, all on one event loop; beyond them "
                        f"uvicorn answers 503 (default: {common.DEFAULT_MAX_CONNECTIONS})")
    parser.add_argument("--app", metavar="FILE[:NAME]",
                        help="serve your own ASGI application from this file instead (default name: app)")
    args = common.parse_args(parser, argv)
    application = app
    if args.app:
        from .app import load_app

        application = load_app(args.app)
    serve_asgi(NAME, application, args.host, args.port, args.max_connections)


if __name__ == "__main__":
    main()
