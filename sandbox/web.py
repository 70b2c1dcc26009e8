"""What every Flask server of the sandbox shares: one JSON shape for every
error, one log line per request, and reading what a client sends (numbers in
a URL, a JSON body, the Authorization header) with a 400 or a 401 for bad
input, never a 500.

    web.init_app(app, explain)  # in create_app(); explain(error) may word a message of its own
    body = web.json_body()      # in a view: the JSON body, or a 400 that says what is wrong with it
    auth = web.authorization()  # in a view: the Authorization header parsed, or None

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
from werkzeug.datastructures import Authorization
from werkzeug.exceptions import HTTPException, InternalServerError

from . import common

Explain = Callable[[HTTPException], str | None]
# Arrays and objects inside each other in a JSON body, at most (Ruby's JSON
# parser has the same default). Python parses and writes JSON recursively:
# past ~1,000 levels json.loads() raises RecursionError, and a little below
# that json.dumps() does, when a server sends back what it received.
MAX_JSON_DEPTH = 100


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


def json_body() -> object:
    """The request body parsed as JSON when its Content-Type says JSON; else None (also for an empty body).

    A broken body is a 400 that says why. Flask's ``request.get_json(silent=True)``
    would instead return None for most, and let the RecursionError of
    ``[[[[...`` 50,000 deep through: a 500.
    """
    if not request.is_json or not (data := request.get_data()):
        return None
    try:
        body = json.loads(data)
        # The depth is at most the number of [ and {: count them first (fast), walk only if needed.
        if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
            raise RecursionError  # refused as if Python's own limit was reached
    except RecursionError:  # json.loads(): nested beyond Python's recursion limit
        why = f"arrays and objects nested more than {MAX_JSON_DEPTH} deep"
    except ValueError as error:  # not JSON, or not UTF-8
        why = str(error)
    else:
        return body
    abort(400, f"the body is not valid JSON ({why}), yet its Content-Type is {request.mimetype}")


def json_depth(value: object) -> int:
    """How deeply arrays and objects nest in ``value``: 0 for 7, 1 for [7] or {}, 2 for [[7]]...

    Level by level, in a loop: recursion is what fails on deep input.
    """
    depth, level = 0, [value]  # the arrays and objects of one level
    while level := [item for item in level if isinstance(item, (list, dict))]:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            break  # deep enough to refuse: no need to go further
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def authorization() -> Authorization | None:
    """``request.authorization`` (the Authorization header, parsed), or None if absent or unreadable.

    Werkzeug returns None for most malformed headers, but raises ValueError for
    Basic credentials with a byte that is not ASCII (``Basic \\xe9``): Python's
    base64 decoder accepts ASCII text only. Every view reads the header here.
    """
    try:
        return request.authorization
    except ValueError:
        return None
