"""The instructor's dashboard: a page at /class, and the JSON API it uses.

    GET  /class                         the page (static/class.html; holds no secret)
    GET  /class/api/roster              every student: last request, status, messages sent and received,
                                        the capstone steps the server saw them do; and the settings
    GET  /class/api/roster.csv          the same, as a CSV file
    POST /class/api/registration        {"open": true|false}: let new users register, or not
    POST /class/api/tokens.csv          {"confirm": "NEW TOKENS"}: a new token for everyone, as CSV
    POST /class/api/reset               {"confirm": "RESET"}: delete every message and status

Every URL but the page needs ``Authorization: Bearer <instructor token>``,
a token the server makes at start-up and prints once (with the page's URL,
``/class#<token>``: what follows # stays in the browser, it is never sent to
the server, so no log ever has it). Without it the answer is 401, as for
the API; with a student's token, 403.

The server keeps only a hash of each student's token: it cannot show the
tokens it gave out. "New tokens" makes new ones and shows them this once (the
old ones stop working): for a class whose tokens file was lost.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
import time

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, NotFound, Unauthorized

from .. import web
from . import db
from .validation import boolean, fields, json_body

FLUSH_SECONDS = 5  # how often each process writes down when it last saw each user
# Step names, in the order of the capstone, and how the dashboard shows them.
STEPS = {"registered": "registered", "status": "status changed", "sent": "message sent",
         "read": "message read", "live": "subscribed live"}
CSV_COLUMNS = ["id", "name", "status", "created_at", "last_request_at", "sent", "received",
               *(f"step_{step}" for step in STEPS)]

classroom = Blueprint("classroom", __name__, url_prefix="/class")


def init_app(app: Flask) -> None:
    app.extensions["messaging.seen"] = {"lock": threading.Lock(), "times": {}, "flushed": time.monotonic()}
    app.register_blueprint(classroom)
    app.after_request(flush_seen)


def new_token() -> str:
    return secrets.token_urlsafe(32)


# --- when each student was last seen ----------------------------------------------
#
# Writing the time of every request to the database would make each request a
# write, and writes take turns (one at a time for the whole file). Each process
# keeps the times in memory instead, and writes them all in one transaction at
# most every FLUSH_SECONDS: the dashboard is that much behind, at worst.


def saw(user_id: int) -> None:
    seen = current_app.extensions["messaging.seen"]
    with seen["lock"]:
        seen["times"][user_id] = db.now()


def flush_seen(response):
    seen = current_app.extensions["messaging.seen"]
    with seen["lock"]:
        if time.monotonic() - seen["flushed"] < FLUSH_SECONDS or not seen["times"]:
            return response
        times, seen["times"], seen["flushed"] = seen["times"], {}, time.monotonic()
    from .app import database  # (app.py imports this module)

    db.record_requests(database(), times)
    # The events table would otherwise grow while nobody subscribes (the polling thread prunes it too).
    current_app.extensions["messaging.hub"].prune(database())
    return response


# --- who may -------------------------------------------------------------------------


@classroom.before_request
def instructor_only():
    token = current_app.config["INSTRUCTOR_TOKEN"]
    if not token:
        raise NotFound("This server has no dashboard.")
    if request.endpoint == "classroom.page":
        return  # the page itself holds nothing secret: it asks for the token
    auth = web.authorization()
    if auth is None or auth.type != "bearer" or not auth.token:
        raise Unauthorized("The dashboard needs the instructor token the server printed at start-up: "
                           "'Authorization: Bearer <instructor token>'.", www_authenticate=WWWAuthenticate("Bearer"))
    # compare_digest takes the same time wherever the strings differ: a
    # wrong guess tells nothing about how close it was.
    if not secrets.compare_digest(auth.token.encode(), token.encode()):
        raise Forbidden("This is not the instructor token (a student's token does not open the dashboard).")


# --- the page and its API -----------------------------------------------------------


@classroom.get("")
def page():
    from .app import CONTENT_SECURITY_POLICY

    response = current_app.send_static_file("class.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def database():
    from .app import database

    return database()


def summary() -> dict:
    conn = database()
    return {
        "registration_open": db.setting(conn, "registration", "open") == "open",
        "live_here": current_app.extensions["messaging.hub"].count(),  # streams open in this process
        "steps": STEPS,
        "users": db.roster(conn),
    }


@classroom.get("/api/roster")
def roster():
    response = current_app.json.response(summary())
    response.headers["Cache-Control"] = "no-store"
    return response


def csv_file(rows: list[list], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(rows)
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


def csv_safe(value) -> object:
    """A cell a spreadsheet shows as text: one starting with = + - @ would be run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@classroom.get("/api/roster.csv")
def roster_csv():
    rows = [CSV_COLUMNS]
    for user in db.roster(database()):
        row = [user[column] for column in CSV_COLUMNS[:7]] + [user["steps"][step] for step in STEPS]
        rows.append([csv_safe(value) for value in row])
    return csv_file(rows, "roster.csv")


@classroom.post("/api/registration")
def registration():
    is_open = fields(json_body(), {"open": boolean})["open"]
    db.set_setting(database(), "registration", "open" if is_open else "closed")
    return {"registration_open": is_open}


def confirmed(words: str) -> None:
    """A body {"confirm": words}: what stands between a slip of the mouse and a lost class."""
    def check(value):
        return None if value == words else f'must be exactly "{words}", to confirm'

    fields(json_body(), {"confirm": check})


@classroom.post("/api/tokens.csv")
def tokens_csv():
    confirmed("NEW TOKENS")
    rows = [["name", "id", "token"]]
    rows += [[csv_safe(user["name"]), user["id"], token] for user, token in db.new_tokens(database())]
    return csv_file(rows, "class-tokens.csv")


@classroom.post("/api/reset")
def reset():
    confirmed("RESET")
    db.reset_class(database())
    return summary()
