"""A local stand-in for httpbin.org: a server that describes the request it received.

    python -m sandbox httpbin [--host H] [--port P] [--certfile PEM --keyfile PEM]
                              [faults: --latency T --cut F --slow B --http-errors [S:]F --seed N]

    GET  /get?a=1                your query string, headers and address, as JSON
    POST /post                   the same, plus the body: data, form, files and json
         PUT /put, PATCH /patch, DELETE /delete: the same; /anything/... takes any method
    GET  /headers, /ip, /user-agent    a part of /get's answer
    GET  /status/404             answers with that status code
    GET  /delay/2                waits 2 seconds, then answers as /get
    GET  /cookies, /cookies/set?name=value, /cookies/delete?name   cookies, and a 302
    GET  /basic-auth/USER/PASSWD 200 with HTTP Basic credentials USER:PASSWD, else 401
    GET  /bytes/100?seed=1       that many random bytes (the same ones for a seed)
    GET  /json, /html            a sample document
    GET  /                       the list of all the endpoints
  and, in httpbin_more.py:
    GET  /redirect/3             redirects 3 times (a relative Location), then to /get
    GET  /absolute-redirect/3    the same, with absolute URLs built from your Host header
    GET  /redirect-to?url=/get&status_code=307   one redirect, to a path or this server only
    GET  /gzip, /deflate         /get's answer, compressed (Content-Encoding: gzip or deflate)
    GET  /range/1000             1000 bytes; "Range: bytes=0-99" gets a part of them (206)
    GET  /etag/v1                ETag: "v1"; If-None-Match: "v1" -> 304, If-Match: "v2" -> 412
    GET  /cache                  Last-Modified and ETag; If-Modified-Since or If-None-Match -> 304
    GET  /cache/60               Cache-Control: public, max-age=60
    GET  /stream/5               5 lines of JSON, each sent as soon as it is made (chunked)
    GET  /drip?duration=2&numbytes=10&delay=0   a slow body: 10 bytes over 2 seconds
    GET  /sse?count=5&delay=1    Server-Sent Events: 5 events, one a second, then the end
    GET  /unstable?failure_rate=0.5&seed=1   a 500 half of the time (always the same for a seed)
    GET  /bearer                 200 and your token with "Authorization: Bearer TOKEN", else 401
    GET  /digest-auth/auth/USER/PASSWD   the same as /basic-auth, with HTTP Digest (RFC 7616)

Why it exists: the notebooks show what a client really sends (headers, forms,
uploads, cookies, authentication) by asking a server to describe the request.
httpbin.org does exactly that, but no notebook may need the internet, and the
`httpbin` package on PyPI pins an old greenlet that no longer installs on
recent Pythons. So here is a small Flask app with the endpoints the course
uses and the same response shapes, served by waitress. With --certfile and
--keyfile it speaks HTTPS, served by gunicorn (waitress does no TLS; gunicorn
runs on Linux and macOS only).

Every error is JSON, as on every Flask server of the sandbox (web.py):
{"status": 404, "error": "Not Found", "message": "..."}. On purpose, bad input
is a 400 where httpbin.org caps or ignores it (/delay/60, /bytes/999999, an
invalid JSON body): a student sees the mistake. Requests too malformed to
reach Flask (a garbled request line) get waitress's own plain-text 400.

An uploaded file (multipart/form-data) shows in "files" as on httpbin.org:
{"field": "its text"} when it is UTF-8, else a data: URL that holds its type
and its bytes in base64, {"field": "data:image/png;base64,iVBORw0..."};
several files in one field, a list. Its file name is not shown (httpbin.org
shows none either).

httpbin_more.py adds its views to this module's Blueprint; their limits are
here, in LIMITS, with the others (--help prints them). There is no WebSocket
echo: a WebSocket takes over the TCP connection of its HTTP request, and
waitress cannot hand a connection over to the application. The chat server
(python -m sandbox chat) has one, at /ws/echo.

The fault options (sandbox/faults.py) put a WSGI middleware in front of the
application: latency, 503 or 429 answers with Retry-After, cut or slow bodies,
on every endpoint (where /status/503 fails every time, --http-errors fails some).
"""

from __future__ import annotations

import base64
import random
import re
import time

from flask import Blueprint, Flask, Response, abort, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge, Unauthorized

from . import common, faults, tls, web

NAME = "httpbin"
DESCRIPTION = "Local stand-in for httpbin.org: describes the request it received (Flask)."
MAX_BODY = 10 * 1024 * 1024
MAX_FORM_FIELD = 500_000  # Flask's default MAX_FORM_MEMORY_SIZE
MAX_DELAY = 10
MAX_BYTES = 100 * 1024
MAX_REDIRECTS = 20  # a chain of /redirect/<n>; requests follows 30, browsers about 20
MAX_AGE = 365 * 24 * 3600  # /cache/<s>: a year, the longest anyone caches
MAX_LINES = 100  # /stream/<n>, as httpbin.org
MAX_DRIP_BYTES = 10 * 1024
MAX_EVENTS = 100  # /sse
NONCE_SECONDS = 300  # how long a Digest nonce is good for
THREADS = common.WAITRESS_OPTIONS["threads"]
MAX_SLOW = THREADS // 2  # slow bodies (/drip, /sse) sent at once: the other threads stay free
CONNECTIONS = common.WAITRESS_OPTIONS["connection_limit"]
IDLE_SECONDS = common.WAITRESS_OPTIONS["channel_timeout"]
# waitress answers 413 itself to a body beyond this (its default is 1 GiB,
# buffered to a temporary file first); Flask's 10 MiB, MAX_BODY, comes before.
WAITRESS_BODY_MAX = MAX_BODY + 1024 * 1024
LIMITS = f"""limits:
  request body      10 MiB, larger -> 413; in a multipart form, 500 kB per field
                    that is not a file; beyond 11 MiB waitress answers its own
                    plain-text 413 and reads no more of the body
  /delay/<s>        0 to {MAX_DELAY} seconds, more -> 400 (httpbin.org waits 10 s instead)
  /bytes/<n>        0 to {MAX_BYTES} bytes (100 KiB), more -> 400
  /status/<code>    200 to 599
  /redirect/<n>     1 to {MAX_REDIRECTS} redirects; the same for /absolute-redirect/<n>
  /redirect-to      url: a path, or a URL of this very server (the Host asked for);
                    any other -> 400, never an open redirect; status_code 301, 302, 303, 307, 308
  /range/<n>        0 to {MAX_BYTES} bytes; one range (bytes=a-b, a- or -n), else 416
  /cache/<s>        max-age 0 to {MAX_AGE} seconds (a year)
  /stream/<n>       0 to {MAX_LINES} lines
  /drip             numbytes 1 to {MAX_DRIP_BYTES} (10 KiB); delay + duration at most {MAX_DELAY} s
  /sse              count 1 to {MAX_EVENTS}; (count - 1) x delay at most {MAX_DELAY} s
  slow bodies       {MAX_SLOW} of /drip and /sse at once (half the threads): more -> 503,
                    Retry-After: {MAX_DELAY}; the other threads stay free for the rest
  /unstable         failure_rate 0 to 1; seed 0 to 10**15 (as /bytes)
  /digest-auth/...  a nonce is good for {NONCE_SECONDS} s, then 401 with stale=true (answer anew)
  JSON body         with Content-Type: application/json, invalid JSON -> 400
                    (httpbin.org answers "json": null instead); an empty body is null;
                    arrays and objects nested more than {web.MAX_JSON_DEPTH} deep -> 400
  simultaneous      {THREADS} requests at once (waitress threads); more wait their turn
  connections       {CONNECTIONS} open at once, more wait to be accepted; closed after {IDLE_SECONDS} s idle
  HTTPS             with --certfile: gunicorn, one worker process with {THREADS} threads; a client
                    that fails the TLS handshake is closed, the others are served as before
"""
EXPOSED = ('anyone who reaches the port can use it. It sends each request back to its own sender '
           '(headers included, Authorization too) and keeps nothing.')
DEFAULTS = {
    # Flask refuses larger bodies with a 413 as soon as the view reads them.
    "MAX_CONTENT_LENGTH": MAX_BODY,
    "MAX_FORM_MEMORY_SIZE": MAX_FORM_FIELD,
}
# How to authenticate, with a 401 (a browser then asks for a user name and a password).
CHALLENGE = {"WWW-Authenticate": 'Basic realm="httpbin"'}
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]  # Flask adds HEAD and OPTIONS
COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a "token" in HTTP's grammar
SAMPLE_JSON = {"slideshow": {
    "author": "Yours Truly", "date": "date of publication", "title": "Sample Slide Show",
    "slides": [{"title": "Wake up to WonderWidgets!", "type": "all"},
               {"title": "Overview", "type": "all",
                "items": ["Why <em>WonderWidgets</em> are great", "Who <em>buys</em> WonderWidgets"]}],
}}
SAMPLE_HTML = """<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>httpbin sandbox</title></head>
  <body>
    <h1>Hello from the sandbox</h1>
    <p>The one endpoint that answers HTML: <a href="/json">the others answer JSON</a>.</p>
  </body>
</html>
"""

views = Blueprint("httpbin", __name__)


def create_app(config: dict | None = None) -> Flask:
    """The application; ``config`` overrides DEFAULTS (above) and any Flask setting."""
    app = Flask(__name__, static_folder=None)  # no /static/ route: this app serves no files
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.json.sort_keys = False  # keys in the order written, not sorted
    app.register_blueprint(views)
    web.init_app(app, explain)  # every error in JSON, and a log line per request
    return app


def empty(status: int, headers: dict | None = None) -> Response:
    """A response without a body, hence without a Content-Type."""
    response = Response(status=status, headers=headers)
    del response.headers["Content-Type"]
    return response


def cookie_name(name: str) -> str:
    """``name`` if it can name a cookie, else a 400 (a ";" or a newline would break the header)."""
    if not COOKIE_NAME.fullmatch(name):
        abort(400, f"{name!r} cannot be a cookie name: use letters, digits and !#$%&'*+-.^_`|~")
    return name


def flat(multidict, shown=lambda value: value) -> dict:
    """{"a": "1"} for ?a=1 but {"a": ["1", "2"]} for ?a=1&a=2, as httpbin.org shows them."""
    return {key: shown(values[0]) if len(values) == 1 else [shown(value) for value in values]
            for key, values in multidict.lists()}


def file_content(file) -> str:
    """An uploaded file as httpbin.org shows it: its text, or if it is not UTF-8 a data: URL (RFC 2397)."""
    content = file.read()
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:  # binary: base64 keeps every byte, and the part's Content-Type goes along
        return f"data:{file.mimetype or 'application/octet-stream'};base64,{base64.b64encode(content).decode()}"


def describe(with_body: bool = False) -> dict:
    """What httpbin.org answers: the request as the server saw it."""
    info = {"args": flat(request.args), "headers": dict(request.headers),
            "origin": request.remote_addr, "url": request.url}
    if with_body:
        # Reading a form (urlencoded or multipart) consumes the body, so
        # get_data() then returns "": the body appears in "form" and "files"
        # for a form, in "data" (and "json") otherwise.
        form = flat(request.form)
        files = flat(request.files, file_content)
        data = request.get_data(as_text=True)  # undecodable bytes become U+FFFD
        info.update(data=data, files=files, form=form, json=web.json_body())  # None if not JSON
    return info


@views.get("/")
def index():
    return {"endpoints": sorted(rule.rule for rule in current_app.url_map.iter_rules())}


@views.get("/get")
def get():
    return describe()


@views.post("/post")
@views.put("/put")
@views.patch("/patch")
@views.delete("/delete")
def with_body():
    return describe(with_body=True)


@views.route("/anything", methods=ANY_METHOD)
@views.route("/anything/<path:rest>", methods=ANY_METHOD)
def anything(rest: str = ""):
    return {**describe(with_body=True), "method": request.method}


@views.route("/status/<code>", methods=ANY_METHOD)
def status(code: str):
    code = web.number(code, "the status code", 200, 599)
    if 300 <= code < 400:
        return empty(code, {"Location": "/get"})
    if code == 401:
        return empty(code, CHALLENGE)
    return empty(code)


@views.get("/headers")
def headers():
    return {"headers": dict(request.headers)}


@views.get("/ip")
def ip():
    return {"origin": request.remote_addr}


@views.get("/user-agent")
def user_agent():
    return {"user-agent": request.headers.get("User-Agent")}


@views.get("/delay/<seconds>")
def delay(seconds: str):
    time.sleep(web.number(seconds, "the delay in seconds", 0, MAX_DELAY, float))  # holds one of the threads
    return describe()


@views.get("/cookies")
def cookies():
    return {"cookies": request.cookies.to_dict()}


@views.get("/cookies/set")
def set_cookies():  # /cookies/set?name=value&other=value
    response = empty(302, {"Location": "/cookies"})
    for name, value in request.args.items():
        response.set_cookie(cookie_name(name), value)  # Path=/ : the client sends it back on every request here
    return response


@views.get("/cookies/delete")
def delete_cookies():  # /cookies/delete?name&other
    response = empty(302, {"Location": "/cookies"})
    for name in request.args:
        response.delete_cookie(cookie_name(name))  # the same cookie, already expired: the client drops it
    return response


@views.get("/basic-auth/<user>/<passwd>")
def basic_auth(user: str, passwd: str):
    auth = web.authorization()  # from the header "Authorization: Basic base64(user:passwd)"
    if auth and auth.type == "basic" and auth.username == user and auth.password == passwd:
        return {"authenticated": True, "user": user}
    if auth:
        message = "wrong user name or password"
    elif "Authorization" in request.headers:  # there, but not as Basic base64(user:passwd) in UTF-8
        message = "the Authorization header must be 'Basic ' and then base64 of user:password (UTF-8)"
    else:
        message = f"send user {user!r} and the password from the URL with HTTP Basic authentication"
    return web.error_response(Unauthorized(message)), CHALLENGE


@views.get("/bytes/<n>")
def random_bytes(n: str):
    size = web.number(n, "the number of bytes", 0, MAX_BYTES)
    return Response(seeded().randbytes(size), mimetype="application/octet-stream")


def seeded() -> random.Random:
    """A random generator, the same one for a given ?seed=: reproducible runs."""
    seed = request.args.get("seed")
    return random.Random(None if seed is None else web.number(seed, "seed", 0, 10**15))


@views.get("/json")
def sample_json():
    return SAMPLE_JSON


@views.get("/html")
def sample_html():
    return Response(SAMPLE_HTML, mimetype="text/html")


# More views on the Blueprint above: imported here, once all it takes from this module exists.
from . import httpbin_more  # noqa: E402, F401


def explain(error: HTTPException) -> str | None:
    """httpbin's own message for the errors whose default text is vague (see web.py)."""
    if isinstance(error, NotFound) and request.url_rule is None:  # no route matched
        return f"there is nothing at {request.path}; GET / lists the endpoints"
    if isinstance(error, MethodNotAllowed):
        return f"{request.method} is not allowed on {request.path}; use {', '.join(error.valid_methods)}"
    if isinstance(error, RequestEntityTooLarge):
        return (f"the request body is too large: at most {MAX_BODY:_} bytes (10 MiB), "
                f"and {MAX_FORM_FIELD:_} bytes per multipart form field that is not a file")
    return None  # the error's own text: ours, from abort(), says enough


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    tls.add_options(parser, served_by=", served by gunicorn (Linux and macOS)")
    faults.add_faults(parser, faults.WSGI)
    args = common.parse_args(parser, argv)
    fault_plan = faults.from_args(parser, args)
    if tls.server_context(parser, args):  # checked here, with a clear message, rather than in gunicorn's worker
        if fault_plan.active:  # gunicorn keeps a connection open after a body cut short: the client would wait
            parser.error("the fault options need waitress, without --certfile")
        if problem := common.gunicorn_problem():
            parser.error(f"--certfile: {problem}; there, put a reverse proxy that does TLS in front (nginx)")
        # waitress does no TLS: gunicorn does, with threads as waitress's.
        common.serve_gunicorn(NAME, create_app(), args.host, args.port, scheme="https", workers=1,
                              worker_class="gthread", threads=THREADS,
                              certfile=str(args.certfile), keyfile=str(args.keyfile))
        return
    app = faults.wrap(create_app(), fault_plan)  # create_app() itself without faults
    common.serve_wsgi(NAME, app, args.host, args.port, max_request_body_size=WAITRESS_BODY_MAX)


if __name__ == "__main__":
    main()
