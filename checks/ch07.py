"""Checks for exercises/07-flask.md: a converter, JSON errors, and a small notes API, with the test client.

    check_intlist(IntListConverter)              step 1: <intlist:numbers> matches 1,2,3 and gives [1, 2, 3]
    check_json_error(json_error)                 step 2: every HTTP error as {"status", "error", "message"}
    check_reading_routes(add_reading_routes)     step 3: GET /sum/<intlist>, GET /notes, GET /notes/<id>
    check_notes_api(create_app)                  step 4: the whole API, with POST /notes and DELETE /notes/<id>

Every check builds a Flask application and sends it requests with its test
client: in-process, no server, no port. The application is in testing mode,
so an exception in a view reaches the check, which names the view.
"""

from __future__ import annotations

import re

from flask import Flask, abort, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, ValidationError

from .core import call, checker, expect, expect_equal, short
from .helpers import expect_json_error, flask_request

MATCHING = {"/sum/1,2,3": [1, 2, 3], "/sum/42": [42], "/sum/0,10,200": [0, 10, 200], "/sum/007,8": [7, 8]}
NOT_MATCHING = ["/sum/1,,2", "/sum/1,a", "/sum/1,2,", "/sum/,1", "/sum/-1,2", "/sum/1.5", "/sum/1,%202", "/sum/"]
NOT_MATCHING_HINT = ("split the text at the commas; each part must be digits only (re.fullmatch(r\"[0-9]+\", part)), "
                     "else raise ValidationError(): then the rule does not match, and the answer is 404")


def _sum_app(converter) -> Flask:
    app = Flask("check_intlist")
    app.testing = True
    app.url_map.converters["intlist"] = converter

    @app.get("/sum/<intlist:numbers>")
    def total(numbers):
        return {"numbers": numbers, "sum": sum(numbers)}

    return app


def _url_for(app, endpoint, **values):
    """``url_for`` in a request context of ``app`` (call() runs it in a thread of its own)."""
    with app.test_request_context():
        return url_for(endpoint, **values)


_url_for.__qualname__ = "url_for"  # as the student knows it, in the verdicts


@checker("IntListConverter")
def check_intlist(IntListConverter):
    """``<intlist:numbers>`` matches one or more non-negative integers separated by commas, and
    gives the view a list of ints; anything else (an empty part, a sign, a space...) does not match;
    ``url_for`` builds ``/sum/4,5`` from ``[4, 5]``.
    """
    app = call(_sum_app, IntListConverter, hint="IntListConverter is a class: class IntListConverter(BaseConverter)")
    client = app.test_client()
    for url, numbers in MATCHING.items():
        response = flask_request(client, "GET", url, hint="to_python(value) returns [int(part) for part in ...]")
        expect(response.status_code == 200, f"GET {url}: 200, the view given {numbers}",
               f"{response.status_code}", "to_python(value) returns the list of ints: [int(part) for part in ...]")
        expect_equal(response.get_json()["numbers"], numbers, f"what the view gets for {url}",
                     "to_python returns a list of ints, not of strings")
    for url in NOT_MATCHING:
        response = flask_request(client, "GET", url, hint=NOT_MATCHING_HINT)
        expect(response.status_code == 404, f"GET {url}: 404, the rule does not match",
               f"{response.status_code} {short(response.get_json(silent=True))}", NOT_MATCHING_HINT)
    join_hint = 'to_url(value) turns the list back into text: ",".join(str(n) for n in value)'
    link = call(_url_for, app, "total", numbers=[4, 5], hint=join_hint)
    expect_equal(link, "/sum/4,5", 'url_for("total", numbers=[4, 5])', join_hint)
    link = call(_url_for, app, "total", numbers=[12], hint=join_hint)
    expect_equal(link, "/sum/12", 'url_for("total", numbers=[12])', join_hint)
    return f"{len(MATCHING)} URLs matched, {len(NOT_MATCHING)} refused with 404, and url_for builds /sum/4,5"


def _error_app(json_error) -> Flask:
    app = Flask("check_json_error")
    app.logger.disabled = True  # the crash below would print its traceback under the check
    app.register_error_handler(HTTPException, json_error)

    @app.get("/ratio/<int:a>/<int:b>")
    def ratio(a, b):
        if b == 0:
            abort(400, "b must not be 0")
        return {"ratio": a / b}

    @app.get("/crash")
    def crash():
        return {"value": 1 / 0}

    return app


@checker("json_error")
def check_json_error(json_error):
    """``json_error(error)``, registered for every ``HTTPException``, answers each error as JSON:
    ``{"status": 404, "error": "Not Found", "message": ...}`` with the error's status, and its
    headers (``Allow`` for a 405) but not its ``Content-Type``; a crash is a vague 500.
    """
    client = _error_app(json_error).test_client()
    ok = flask_request(client, "GET", "/ratio/1/4")
    expect_equal(ok.get_json(), {"ratio": 0.25}, "GET /ratio/1/4 (no error)")
    response = flask_request(client, "GET", "/ratio/1/0")
    body = expect_json_error(response, 400, "GET /ratio/1/0",
                             'return the body, error.code and the headers: {"status": error.code, "error": error.name, '
                             '"message": error.description}, error.code, headers')
    expect_equal(body["message"], "b must not be 0", 'the message of abort(400, "b must not be 0")',
                 "the message is error.description")
    expect_json_error(flask_request(client, "GET", "/nothing"), 404, "GET /nothing (no rule matches)")
    refused = flask_request(client, "POST", "/ratio/1/4")
    expect_json_error(refused, 405, "POST /ratio/1/4 (a GET-only rule)")
    expect("GET" in refused.headers.get("Allow", ""), "the 405 answer to keep its Allow header (GET, HEAD, OPTIONS)",
           f"Allow: {refused.headers.get('Allow')}",
           "error.get_headers() gives the error's headers: keep them all except Content-Type")
    crash = flask_request(client, "GET", "/crash")
    body = expect_json_error(crash, 500, "GET /crash (a bug in the view)")
    expect("ZeroDivisionError" not in crash.get_data(as_text=True), "the details of a crash to stay on the server",
           short(body), "answer error.description, never str() of the original exception")
    return "400, 404, 405 (with Allow) and 500 answered as JSON in the course's shape"


class _IntList(BaseConverter):
    """The check's own <intlist:...>, so that step 3 is checked whatever step 1 gives."""

    def to_python(self, value):
        if not re.fullmatch(r"[0-9]+(,[0-9]+)*", value):
            raise ValidationError()
        return [int(part) for part in value.split(",")]

    def to_url(self, value):
        return ",".join(str(n) for n in value)


def _json_error(error):
    """The check's own error handler, so that step 3 is checked whatever step 2 gives."""
    body = {"status": error.code, "error": error.name, "message": error.description}
    return body, error.code, {k: v for k, v in error.get_headers() if k != "Content-Type"}


@checker("add_reading_routes")
def check_reading_routes(add_reading_routes):
    """``add_reading_routes(app, notes)`` adds to ``app``: ``GET /sum/<intlist:numbers>`` ->
    ``{"numbers": [...], "sum": ...}``; ``GET /notes`` -> the notes of the dict ``notes``, in
    order; ``GET /notes/<int:note_id>`` -> that note, or 404. It reads ``notes`` at each request.
    """
    app = Flask("check_reading_routes")
    app.testing = True
    app.url_map.converters["intlist"] = _IntList
    app.register_error_handler(HTTPException, _json_error)
    notes = {1: {"id": 1, "text": "buy milk"}, 3: {"id": 3, "text": "call Ada"}}
    call(add_reading_routes, app, notes, hint="add_reading_routes(app, notes) defines views with @app.get(...)")
    client = app.test_client()

    response = flask_request(client, "GET", "/sum/1,2,3")
    expect(response.status_code == 200, "GET /sum/1,2,3: 200", f"{response.status_code} {short(response.get_json(silent=True))}")
    expect_equal(response.get_json(), {"numbers": [1, 2, 3], "sum": 6}, "GET /sum/1,2,3",
                 'return {"numbers": numbers, "sum": sum(numbers)}: a dict becomes JSON')
    expect_equal(_notes(client), [notes[1], notes[3]], "GET /notes: the notes of the dict, oldest first",
                 "return list(notes.values())")
    response = flask_request(client, "GET", "/notes/3")
    expect(response.status_code == 200, "GET /notes/3: 200", f"{response.status_code} {short(response.get_json(silent=True))}")
    expect_equal(response.get_json(), notes[3], "GET /notes/3")
    missing_hint = "if note_id not in notes: abort(404, ...), before reading notes[note_id]"
    expect_json_error(flask_request(client, "GET", "/notes/2", hint=missing_hint), 404, "GET /notes/2 (no such note)",
                      missing_hint)
    notes[4] = {"id": 4, "text": "water the plants"}
    expect_equal(_notes(client), [notes[1], notes[3], notes[4]], "GET /notes after a note was added to the dict",
                 "read the dict at each request, in the view: not once, when the routes are added")
    response = flask_request(client, "GET", "/notes/4")
    expect_equal(response.get_json(silent=True), notes[4], "GET /notes/4 after it was added")
    return "GET /sum/1,2,3, GET /notes (read at each request), GET /notes/3, and 404 for a missing note"


def _notes(client):
    response = flask_request(client, "GET", "/notes")
    expect(response.status_code == 200 and isinstance(response.get_json(silent=True), list),
           "GET /notes: 200 and a JSON list of notes", f"{response.status_code} {short(response.get_json(silent=True))}",
           "return list(notes.values()): Flask answers a list as JSON")
    return response.get_json()


def _post(client, text):
    response = flask_request(client, "POST", "/notes", json={"text": text})
    expect(response.status_code == 201, f'POST /notes {{"text": {text!r}}}: 201 Created',
           f"{response.status_code} {short(response.get_json(silent=True))}",
           "return note, 201, {\"Location\": url_for(\"get_note\", note_id=note_id)}")
    return response


@checker("notes API")
def check_notes_api(create_app):
    """``create_app()`` returns a new Flask application each time, with its own notes:

    ``GET /sum/<intlist:numbers>`` -> ``{"numbers": [...], "sum": ...}``;
    ``GET /notes`` -> the notes, oldest first; ``POST /notes`` with ``{"text": "..."}`` -> 201,
    the note ``{"id", "text"}`` and ``Location: /notes/<id>`` (400 for any other body);
    ``GET /notes/<id>`` -> the note; ``DELETE /notes/<id>`` -> 204, no body; an unknown id is
    a 404, ids are never given twice, and every error is JSON.
    """
    app = call(create_app, hint="create_app() builds the application and returns it")
    expect(isinstance(app, Flask), "create_app() to return a Flask application", short(app), "end with: return app")
    app.testing = True
    app.logger.disabled = True
    client = app.test_client()

    response = flask_request(client, "GET", "/sum/1,2,3")
    expect(response.status_code == 200, "GET /sum/1,2,3: 200", f"{response.status_code} {short(response.get_json(silent=True))}",
           'register the converter: app.url_map.converters["intlist"] = IntListConverter')
    expect_equal(response.get_json(), {"numbers": [1, 2, 3], "sum": 6}, "GET /sum/1,2,3")
    expect_json_error(flask_request(client, "GET", "/sum/1,,2"), 404, "GET /sum/1,,2",
                      "register your error handler: app.register_error_handler(HTTPException, json_error)")

    expect_equal(_notes(client), [], "GET /notes in a new application", "each create_app() starts with no notes")
    first = _post(client, "buy milk")
    expect_equal(first.get_json(), {"id": 1, "text": "buy milk"}, "the note created", 'the note is {"id": ..., "text": ...}')
    location = first.headers.get("Location", "")
    expect(location.endswith("/notes/1"), "a Location header ending with /notes/1", f"Location: {location!r}",
           'url_for("get_note", note_id=...) builds it')
    second = _post(client, "Grüße an Ada 👋").get_json()
    expect_equal(second, {"id": 2, "text": "Grüße an Ada 👋"}, "the second note")
    fetched = flask_request(client, "GET", "/notes/1")
    expect_equal(fetched.get_json(silent=True), {"id": 1, "text": "buy milk"}, "GET /notes/1 (the Location of the first)")
    expect_equal(_notes(client), [first.get_json(), second], "GET /notes after two POSTs, oldest first")

    bad_bodies = [("a form", {"data": {"text": "x"}}), ("a JSON list", {"json": ["x"]}), ("{}", {"json": {}}),
                  ('{"text": 5}', {"json": {"text": 5}}), ("broken JSON", {"data": "{", "content_type": "application/json"})]
    body_hint = ('request.get_json(silent=True) is None unless the body is JSON; then check that it is a dict '
                 'whose "text" is a str, else abort(400, "...")')
    for what, body in bad_bodies:
        response = flask_request(client, "POST", "/notes", body_hint, **body)  # a view that raises: this hint too
        status = response.status_code if response.status_code in (400, 415) and what == "a form" else 400
        expect_json_error(response, status, f"POST /notes with {what}", body_hint)
    expect_equal(len(_notes(client)), 2, "2 notes after the refused POSTs", "refuse a bad body before storing anything")

    expect_json_error(flask_request(client, "GET", "/notes/99"), 404, "GET /notes/99 (no such note)", "abort(404, ...)")
    deleted = flask_request(client, "DELETE", "/notes/1")
    expect(deleted.status_code == 204 and deleted.get_data() == b"", "DELETE /notes/1: 204 No Content, and no body",
           f"{deleted.status_code} {short(deleted.get_data())}", 'return "", 204')
    expect_json_error(flask_request(client, "GET", "/notes/1"), 404, "GET /notes/1 after its DELETE")
    expect_json_error(flask_request(client, "DELETE", "/notes/1"), 404, "DELETE /notes/1 a second time")
    third = _post(client, "call Bob").get_json()
    expect_equal(third, {"id": 3, "text": "call Bob"}, "the note created after deleting note 1",
                 "an id is never given twice, even once its note is deleted: count with itertools.count(1), "
                 "not with len(notes) + 1")
    expect_equal(_notes(client), [second, third], "GET /notes at the end")
    refused = flask_request(client, "PUT", "/notes/2", json={"text": "x"})
    expect_json_error(refused, 405, "PUT /notes/2 (no such method)")
    expect_json_error(flask_request(client, "GET", "/nothing"), 404, "GET /nothing")

    other = call(create_app)
    expect_equal(_notes(other.test_client()), [], "GET /notes in a second application",
                 "keep the notes inside create_app(), so that each application has its own")
    return "sum, create (201 + Location), list, read, delete (204), ids never reused, and JSON errors (400, 404, 405)"
