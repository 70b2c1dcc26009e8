"""The messaging REST API and its web client, as a Flask application.

    app = create_app({"DATABASE": "messages.sqlite3"})

Every URL of the API starts with /api/v1 (a later, incompatible version would
be /api/v2, and old clients would keep working). Resources are nouns, and the
HTTP method says what to do with them:

    GET    /api/v1/users?name=&limit=&offset=      list users (whose name contains `name`)
    POST   /api/v1/users                           register {"name"} -> 201, the user and a token
    GET    /api/v1/users/<id>                      one user
    PATCH  /api/v1/users/<id>                      change my {"status"}
    GET    /api/v1/me                              the user my token belongs to
    POST   /api/v1/users/<id>/messages             send {"text"} to user <id> -> 201
    GET    /api/v1/users/<id>/messages             my inbox, newest first: ?unread=true&since=<id>&limit=&offset=
    GET    /api/v1/users/<id>/messages/<mid>       one message (to me, or from me)
    PATCH  /api/v1/users/<id>/messages/<mid>       mark my message {"read": true} (or false)
    DELETE /api/v1/users/<id>/messages/<mid>       delete my message -> 204
    GET    /api/v1/events                          my live events, as Server-Sent Events (see live.py)
    GET    /api/v1/openapi.json and /api/v1/docs   the API's description, and a page to try it
    GET    /                                       the web client (files in static/)
    /class, /class/api/...                         the instructor's dashboard (see dashboard.py)

"My" means: the request carries the owner's token, ``Authorization: Bearer
<token>``; without a token the answer is 401, with someone else's 403.
Reading users needs a token only when registration is closed (a class server).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request, send_from_directory, url_for
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from swagger_ui_bundle import swagger_ui_path
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import (
    Conflict, Forbidden, HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge, ServiceUnavailable,
    Unauthorized,
)

from .. import web
from . import dashboard, db, live, openapi
from .validation import (
    BODY_MAX, ID_MAX, NAME_MAX, PAGE_DEFAULT, PAGE_MAX, STATUS_MAX, TEXT_MAX,
    ValidationFailed, bool_arg, boolean, fields, int_arg, json_body, string,
)

DEFAULTS = {
    "DATABASE": None,  # the SQLite file: required
    "REGISTRATION_OPEN": True,  # False: POST /api/v1/users answers 403
    "RATE_LIMIT": None,  # e.g. "20/second" per client address; None: no limit
    "LOG_REQUESTS": False,  # one line per request on standard output
    "MAX_CONTENT_LENGTH": BODY_MAX,  # Flask answers 413 to a longer body
    "LIVE_STREAMS": live.LIVE_STREAMS,  # live streams (GET /api/v1/events) open at once in one process
    "INSTRUCTOR_TOKEN": None,  # the dashboard's secret (/class); None: no dashboard
}
# The web page may load its own files and talk to this server only: even if
# some text slipped into the page as HTML, it could not load or send anything
# elsewhere, nor run an inline script. (Defence in depth: app.js already shows
# every text as text.)
CONTENT_SECURITY_POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

api = Blueprint("api", __name__, url_prefix="/api/v1")


def create_app(config: dict | None = None) -> Flask:
    """The application; ``config`` overrides DEFAULTS (above) and any Flask setting."""
    app = Flask(__name__)  # serves the files in static/ at /static/...
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    if not app.config["DATABASE"]:
        raise ValueError('create_app() needs {"DATABASE": path of the SQLite file}')
    db.create(app.config["DATABASE"])
    app.extensions["messaging.connections"] = threading.local()  # see database()
    app.extensions["messaging.hub"] = live.Hub(app.config["DATABASE"], app.config["LIVE_STREAMS"])
    # What the command line says about registration; the dashboard may change it later.
    conn = db.connect(app.config["DATABASE"])
    try:
        db.set_setting(conn, "registration", "open" if app.config["REGISTRATION_OPEN"] else "closed")
    finally:
        conn.close()
    app.json.sort_keys = False  # keep fields in the order written, "id" first

    app.register_blueprint(api)
    dashboard.init_app(app)
    app.add_url_rule("/", "web_client", web_client)
    # One JSON shape for every error, whoever raises it: our views, Flask's
    # routing (404, 405), its body size limit (413), Flask-Limiter (429).
    # The log never shows the Authorization header: tokens are secrets.
    web.init_app(app, explain, log_requests=app.config["LOG_REQUESTS"])
    app.after_request(finish)

    # CORS: let pages from any origin (a student's own HTML file included) call
    # the API and read the answers. This is safe because the API does not use
    # cookies: a page can act as you only if it has your token.
    CORS(app, resources={r"/api/*": {"origins": "*"}}, send_wildcard=True, max_age=600,
         expose_headers=["Location", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"])
    if app.config["RATE_LIMIT"]:
        # One budget per client address for the whole application, counted in
        # this process's memory (forgotten on restart, which is fine here).
        Limiter(get_remote_address, app=app, application_limits=[app.config["RATE_LIMIT"]],
                storage_uri="memory://", headers_enabled=True)
    return app


# --- the database: one connection per thread -----------------------------------
#
# The server answers several requests at once, each in a thread (waitress has
# a fixed set; Flask's development server starts one per client connection).
# A sqlite3 connection must not be used by two threads at once, so each thread
# opens its own on its first request and keeps it for the next ones. Opening
# and closing one per request would also work, but when the last connection
# to a file closes, SQLite folds the write-ahead log back into the file and
# flushes it to disk: a few milliseconds on every request of a quiet server.


def database() -> sqlite3.Connection:
    """The connection of this thread, for this application."""
    connections = current_app.extensions["messaging.connections"]  # a threading.local
    if not hasattr(connections, "conn"):
        connections.conn = db.connect(current_app.config["DATABASE"])
    return connections.conn


# --- who is asking -------------------------------------------------------------


def current_user() -> dict:
    """The user whose token came with the request: 401 without a valid one."""
    auth = web.authorization()  # parsed from "Authorization: Bearer <token>"; None if unreadable
    if auth is None or auth.type != "bearer" or not auth.token:
        if "Authorization" not in request.headers:
            message = "This needs your token: send the header 'Authorization: Bearer <token>'."
        else:
            message = "The Authorization header must be 'Bearer <token>' (the word Bearer, a space, the token)."
        raise Unauthorized(message, www_authenticate=WWWAuthenticate("Bearer"))
    user = db.user_by_token(database(), auth.token)
    if user is None:
        raise Unauthorized("This token belongs to no user: check that you copied all of it.",
                           www_authenticate=WWWAuthenticate("Bearer", {"error": "invalid_token"}))
    dashboard.saw(user["id"])
    return user


def registration_open() -> bool:
    """Whether anyone may register: set by the command line, changed from the dashboard (for every process)."""
    return db.setting(database(), "registration", "open") == "open"


def require_reader() -> None:
    """Who may read the users (names and statuses): anyone while anyone may register,
    since a token is then one request away; only the class when the instructor hands
    out the accounts (--no-registration), so that a class server on a network does not
    show its roster to whoever reaches it."""
    if not registration_open():
        current_user()


def find_user(user_id: int) -> dict:
    user = db.get_user(database(), user_id) if user_id <= ID_MAX else None  # larger ones cannot exist
    if user is None:
        raise NotFound(f"There is no user with id {user_id}.")
    return user


def require_owner(user_id: int, action: str) -> dict:
    """The token's user, if it is user ``user_id``: else 401, 404 or 403."""
    me = current_user()
    if me["id"] != user_id:
        find_user(user_id)  # 404 if there is no such user at all
        raise Forbidden(f"Only user {user_id} can {action}; your token is user {me['id']}'s ({me['name']}).")
    return me


def find_message(user_id: int, message_id: int) -> dict:
    """Message ``message_id`` in user ``user_id``'s inbox: else 404."""
    exists = user_id <= ID_MAX and message_id <= ID_MAX  # larger numbers cannot even be given to SQLite
    message = db.get_message(database(), user_id, message_id) if exists else None
    if message is None:
        find_user(user_id)  # "no such user" if that is the reason
        raise NotFound(f"User {user_id} has no message with id {message_id}.")
    return message


# --- pages of a list ---------------------------------------------------------------


def page_args() -> tuple[int, int]:
    """?limit= and ?offset=, checked."""
    return int_arg("limit", PAGE_DEFAULT, 1, PAGE_MAX), int_arg("offset", 0, 0, ID_MAX)


def page(items: list[dict], total: int, limit: int, offset: int, filters: dict) -> dict:
    """The answer holding one page, and the URL of the next one (with the same filters)."""
    following = None
    if offset + len(items) < total:
        query = {**filters, "limit": limit, "offset": offset + limit}
        following = f"{request.base_url}?{urlencode(query)}"  # this URL, with the next offset
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next": following}


# --- users -------------------------------------------------------------------------


@api.get("/users")
def list_users():
    require_reader()
    name = request.args.get("name", "")
    limit, offset = page_args()
    users, total = db.find_users(database(), name, limit, offset)
    return page(users, total, limit, offset, {"name": name} if name else {})


@api.post("/users")
def register():
    if not registration_open():
        raise Forbidden("Registration is closed on this server: ask your instructor for your token.")
    name = fields(json_body(), {"name": string(1, NAME_MAX, not_blank=True)})["name"]
    created = db.add_user(database(), name)
    if created is None:
        raise Conflict(f"The name {name!r} is taken (names ignore the case of A-Z): choose another one.")
    user, token = created
    # 201 Created, and where the new resource lives. The token is shown this
    # once: the server keeps only its hash.
    return {"user": user, "token": token}, 201, {"Location": url_for("api.get_user", user_id=user["id"], _external=True)}


@api.get("/users/<int:user_id>")
def get_user(user_id: int):
    require_reader()
    return find_user(user_id)


@api.patch("/users/<int:user_id>")
def update_status(user_id: int):
    require_owner(user_id, "change their status")
    status = fields(json_body(), {"status": string(0, STATUS_MAX)})["status"]
    return db.set_status(database(), user_id, status)


@api.get("/me")
def me():
    return current_user()


# --- messages ----------------------------------------------------------------------


@api.post("/users/<int:user_id>/messages")
def send_message(user_id: int):
    sender = current_user()  # the sender is always the token's user: no one can send as someone else
    find_user(user_id)
    text = fields(json_body(), {"text": string(1, TEXT_MAX, not_blank=True)})["text"]
    message = db.add_message(database(), sender["id"], user_id, text)
    location = url_for("api.get_message", user_id=user_id, message_id=message["id"], _external=True)
    return message, 201, {"Location": location}


@api.get("/users/<int:user_id>/messages")
def list_messages(user_id: int):
    require_owner(user_id, "read their inbox")
    unread, since = bool_arg("unread"), int_arg("since", 0, 0, ID_MAX)
    limit, offset = page_args()
    messages, total = db.inbox(database(), user_id, unread_only=unread, since=since, limit=limit, offset=offset)
    filters = {key: value for key, value in (("unread", "true" if unread else ""), ("since", since)) if value}
    return page(messages, total, limit, offset, filters)


@api.get("/users/<int:user_id>/messages/<int:message_id>")
def get_message(user_id: int, message_id: int):
    me = current_user()
    message = find_message(user_id, message_id)
    if me["id"] not in (message["recipient_id"], message["sender_id"]):
        raise Forbidden(f"Only the recipient (user {user_id}) and the sender can read this message; "
                        f"your token is user {me['id']}'s ({me['name']}).")
    return message


@api.patch("/users/<int:user_id>/messages/<int:message_id>")
def mark_message(user_id: int, message_id: int):
    require_owner(user_id, "mark their messages")
    find_message(user_id, message_id)
    read = fields(json_body(), {"read": boolean})["read"]
    return db.set_read(database(), user_id, message_id, read)


@api.delete("/users/<int:user_id>/messages/<int:message_id>")
def delete_message(user_id: int, message_id: int):
    require_owner(user_id, "delete their messages")
    find_message(user_id, message_id)
    db.delete_message(database(), message_id)
    return "", 204  # No Content: done, nothing to say


# --- live events --------------------------------------------------------------------


@api.get("/events")
def events():
    """My events as they happen, as Server-Sent Events (live.py says how, and why so)."""
    me = current_user()
    types, after = event_types(), last_event_id()
    conn = database()
    db.record_live(conn, me["id"])
    hub = current_app.extensions["messaging.hub"]
    try:
        subscriber, seen = hub.subscribe(conn, me["id"], types)
    except live.TooManyStreams:
        raise ServiceUnavailable(f"This server already sends {hub.max_streams} live streams: try again shortly.",
                                 retry_after=5) from None
    try:
        missed = live.replay(conn, me["id"], after, seen, types) if after is not None else []
    except BaseException:
        hub.unsubscribe(subscriber)
        raise
    # waitress says when the client has gone; Flask's development server cannot.
    disconnected = request.environ.get("waitress.client_disconnected", lambda: False)
    body = live.stream(hub, subscriber, missed, max(seen, after or 0), disconnected)
    headers = {"Cache-Control": "no-store",  # a live answer is no one's to keep
               "X-Accel-Buffering": "no"}  # a proxy (nginx) passes each event on at once
    return Response(body, mimetype="text/event-stream", headers=headers)


def event_types() -> set[str]:
    """?types=message,read: only these events (default: all); a reset always comes.

    Any other parameter is refused: a typo such as ?type=message would otherwise
    subscribe to everything, silently."""
    if unknown := [name for name in request.args if name != "types"]:
        raise ValidationFailed({name[:30]: "unexpected parameter; allowed: types" for name in unknown})
    text = request.args.get("types")
    if text is None:
        return set(live.TYPES)
    asked = text.split(",")
    if not text or not set(asked) <= set(live.TYPES):
        raise ValidationFailed({"types": f"must be event types separated by commas, among {', '.join(live.TYPES)}; "
                                         f"not {text[:60]!r}"})
    return {*asked, "reset"}


def last_event_id() -> int | None:
    """The Last-Event-ID header: the id of the last event the client got, when it reconnects."""
    text = request.headers.get("Last-Event-ID")
    if text is None:  # the first connection (a browser sends none before it has seen an id)
        return None
    if not re.fullmatch(r"[0-9]{1,19}", text) or int(text) > ID_MAX:
        raise ValidationFailed({"Last-Event-ID": f"must be the id of an event, an integer from 0 to {ID_MAX}, "
                                                 f"not {text[:30]!r}"})
    return int(text)


# --- the description and the pages --------------------------------------------------


@api.get("/openapi.json")
def openapi_json():
    return openapi.document()


@api.get("/docs")
def docs():
    """Swagger UI, from the swagger-ui-bundle package: works without the Internet."""
    return current_app.send_static_file("docs.html")


@api.get("/docs/<path:filename>")
def docs_files(filename: str):
    return send_from_directory(swagger_ui_path, filename)  # refuses paths leaving that folder


def web_client():
    response = current_app.send_static_file("index.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


# --- every answer --------------------------------------------------------------------


def finish(response):
    # Browsers must take the Content-Type as given, never guess ("sniff") that
    # a JSON answer holding <script> is a web page.
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.status_code not in (429, 503):
        # Flask-Limiter sends Retry-After with every answer; it means something only with a 429 (or a 503).
        response.headers.pop("Retry-After", None)
    return response


def explain(error: HTTPException) -> str | None:
    """A message for a person, for the errors whose default text is vague (see web.py)."""
    where = f"{request.method} {request.path}"
    if isinstance(error, NotFound) and request.url_rule is None:  # no route matched
        return f"There is no {where}: the API's URLs start with /api/v1/ and are listed at /api/v1/docs."
    if isinstance(error, MethodNotAllowed):
        return f"{where} is not allowed; this URL accepts {', '.join(error.valid_methods or [])}."
    if isinstance(error, RequestEntityTooLarge):
        return f"The body is too large: at most {BODY_MAX // 1024} KiB."
    if isinstance(error, RateLimitExceeded):
        return (f"Too many requests: this server allows {error.description} per client address. "
                "Wait for the number of seconds in the Retry-After header, then slow down.")
    return None  # the error's own text: ours, from the views, says enough
