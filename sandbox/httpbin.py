"""A local stand-in for httpbin.org: a server that describes the request it received.

    python -m sandbox httpbin [--host H] [--port P] [--certfile PEM --keyfile PEM]

    GET  /get?a=1            your query string, headers and address, as JSON
    POST /post               the same, plus the body: data, form, files and json
    GET  /status/404         answers with that status code
    GET  /                   the list of all the endpoints

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
"""

from __future__ import annotations

import random
import re
import time

from flask import Blueprint, Flask, Response, abort, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge, Unauthorized

from . import common, tls, web

NAME = "httpbin"
DESCRIPTION = "Local stand-in for httpbin.org: describes the request it received (Flask)."
MAX_BODY = 10 * 1024 * 1024
MAX_FORM_FIELD = 500_000  # Flask's default MAX_FORM_MEMORY_SIZE
MAX_DELAY = 10
MAX_BYTES = 100 * 1024
THREADS = common.WAITRESS_OPTIONS["threads"]
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


def flat(multidict) -> dict:
    """{"a": "1"} for ?a=1 but {"a": ["1", "2"]} for ?a=1&a=2, as httpbin.org shows them."""
    return {key: values[0] if len(values) == 1 else values for key, values in multidict.lists()}


def describe(with_body: bool = False) -> dict:
    """What httpbin.org answers: the request as the server saw it."""
    info = {"args": flat(request.args), "headers": dict(request.headers),
            "origin": request.remote_addr, "url": request.url}
    if with_body:
        # Reading a form (urlencoded or multipart) consumes the body, so
        # get_data() then returns "": the body appears in "form" and "files"
        # for a form, in "data" (and "json") otherwise.
        form = flat(request.form)
        files = {name: file.read().decode("utf-8", "replace") for name, file in request.files.items()}
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
    seed = request.args.get("seed")
    generator = random.Random(None if seed is None else web.number(seed, "seed", 0, 10**15))
    return Response(generator.randbytes(size), mimetype="application/octet-stream")


@views.get("/json")
def sample_json():
    return SAMPLE_JSON


@views.get("/html")
def sample_html():
    return Response(SAMPLE_HTML, mimetype="text/html")


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
    args = common.parse_args(parser, argv)
    if tls.server_context(parser, args):  # checked here, with a clear message, rather than in gunicorn's worker
        if problem := common.gunicorn_problem():
            parser.error(f"--certfile: {problem}; there, put a reverse proxy that does TLS in front (nginx)")
        # waitress does no TLS: gunicorn does, with threads as waitress's.
        common.serve_gunicorn(NAME, create_app(), args.host, args.port, scheme="https", workers=1,
                              worker_class="gthread", threads=THREADS,
                              certfile=str(args.certfile), keyfile=str(args.keyfile))
        return
    common.serve_wsgi(NAME, create_app(), args.host, args.port, max_request_body_size=WAITRESS_BODY_MAX)


if __name__ == "__main__":
    main()
