"""What every Flask server of the sandbox shares: one JSON shape for every
error, one log line per request, and numbers read from a URL.

    web.init_app(app, explain)  # in create_app(); explain(error) may word a message of its own

Every HTTP error, whoever raises it (a view, with ``abort(400, "...")`` or
``raise NotFound("...")``; Flask's routing, for an unknown URL or a wrong
method; its body size limit; an extension), is answered in JSON:

    {"status": 404, "error": "Not Found", "message": "There is no user with id 7."}

plus ``"details"`` when the error has some (the messaging API's
ValidationFailed, one per field). Any other exception is a bug: its traceback
goes to the server's log, and the client gets a 500 in the same shape, without
the bug's details.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask, Response, abort, current_app, request
from werkzeug.exceptions import HTTPException, InternalServerError

from . import common

Explain = Callable[[HTTPException], str | None]


def init_app(app: Flask, explain: Explain | None = None, log_requests: bool = True) -> None:
    """Answer every error of ``app`` in JSON, and log each request unless told not to.

    ``explain(error)`` gives the message for an error whose own text is vague
    (Flask's 404 says nothing of the URLs there are), or None to keep the
    error's own text.
    """
    app.extensions["web.explain"] = explain or (lambda error: None)
    app.register_error_handler(HTTPException, error_response)
    app.register_error_handler(Exception, unexpected_error)  # the rest: Flask picks the closest class
    if log_requests:
        app.after_request(log_request)


def error_response(error: HTTPException) -> Response:
    """``error`` as {"status", "error", "message"} (and "details"), with its headers."""
    message = current_app.extensions["web.explain"](error) or error.description or error.name
    body = {"status": error.code, "error": error.name, "message": message}
    if getattr(error, "details", None) is not None:  # such as the messaging API's ValidationFailed
        body["details"] = error.details
    # json.dumps() keeps "status" first (Flask's jsonify() may sort the keys).
    response = Response(json.dumps(body), error.code, mimetype="application/json")
    for name, value in error.get_headers():  # such as Allow (405) and WWW-Authenticate (401)
        if name != "Content-Type":  # that of Flask's HTML page
            response.headers.add(name, value)
    return response


def unexpected_error(error: Exception) -> Response:
    """A bug, not bad input: log its traceback, and still answer in JSON."""
    current_app.logger.exception("unexpected error in %s %s", request.method, request.full_path.rstrip("?"))
    return error_response(InternalServerError("The server failed to answer this request; the details are in its log."))


def client() -> str:
    """The client of this request, as host:port (the port tells apart two connections from one machine)."""
    return common.peer((request.remote_addr, request.environ.get("REMOTE_PORT", "?")))


def log_request(response: Response) -> Response:
    """One line per request: who asked, what, and the status of the answer.

    No header is logged: some hold secrets (Authorization, Cookie).
    """
    common.log(f"{client()} {request.method} {request.full_path.rstrip('?')} {response.status_code}")
    return response


def number(text: str, what: str, low, high, kind: type = int):
    """``text`` (from the URL or the query string) as an int or a float between low and high, else a 400."""
    try:
        value = kind(text)
    except ValueError:
        abort(400, f"{what} must be {'an integer' if kind is int else 'a number'}, got {text!r}")
    if not low <= value <= high:  # also false for nan
        abort(400, f"{what} must be between {low:_} and {high:_}, got {text!r}")
    return value
