"""Checks for exercises/08-rest-apis.md: a REST API for tasks, with the status codes a client can rely on.

    check_validate_task(validate_task)              step 1: the problems of a body, per field (for a 422)
    check_paginate(paginate, Invalid)               step 2: one page of a list, with the URL of the next one
    check_require_token(require_token)              step 3: a decorator answering 401 without the right token
    check_collection_routes(add_collection_routes)  step 4: GET and POST /api/v1/tasks
    check_tasks_api(create_app)                     step 5: the whole API, with GET/PATCH/DELETE /api/v1/tasks/<id>

A task is ``{"id": 1, "title": "write the report", "done": false}``. Every check
works in-process, with Flask's test client.
"""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from .core import Failure, call, call_raising, checker, expect, expect_equal, require, short
from .helpers import expect_json_error, flask_request

TOKEN = "check-token-8b1f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/api/v1/tasks"

VALID = [
    ({"title": "write the report"}, False),
    ({"title": "x", "done": True}, False),
    ({"title": "x" * 100, "done": False}, False),
    ({"title": "  Grüße an Ada 👋  "}, False),
    ({}, True),
    ({"done": True}, True),
    ({"title": "new title"}, True),
]
INVALID = [  # body, partial, the fields with a problem, a hint
    ({}, False, {"title"}, 'a missing "title" is a problem, unless partial'),
    ({"done": True}, False, {"title"}, 'a missing "title" is a problem, unless partial'),
    ({"title": ""}, False, {"title"}, "a title has 1 to 100 characters"),
    ({"title": "   "}, False, {"title"}, 'a title of spaces only is no title: title.strip() == ""'),
    ({"title": "x" * 101}, False, {"title"}, "a title has 1 to 100 characters"),
    ({"title": 5}, False, {"title"}, "a title must be a str: isinstance(value, str)"),
    ({"title": None}, True, {"title"}, "a field that is given is checked, even when partial"),
    ({"title": "a", "done": "yes"}, False, {"done"}, "done must be a bool: isinstance(value, bool)"),
    ({"done": 1}, True, {"done"}, "1 is not a boolean in JSON: isinstance(1, bool) is False, and that is the test to use"),
    ({"title": "a", "colour": "red"}, False, {"colour"}, "a field other than title and done is a problem too"),
    ({"titel": "a"}, False, {"titel", "title"}, "a typo is two problems: an unexpected field, and a missing one"),
    ({"id": 3, "title": "a"}, True, {"id"}, "the client never chooses the id: id is not a field it may send"),
    ([], False, {"body"}, 'a body that is not a dict (a JSON object) gives {"body": "must be a JSON object"}'),
    ("write the report", False, {"body"}, 'a body that is not a dict (a JSON object) gives {"body": "..."}'),
    (None, True, {"body"}, 'a body that is not a dict (a JSON object) gives {"body": "..."}'),
]


@checker("validate_task")
def check_validate_task(validate_task):
    """``validate_task(body, partial=False)`` returns ``{field: problem}``, empty when the body is
    a valid task; ``partial=True`` (for a PATCH) lets fields be missing, not be wrong.
    """
    for body, partial in VALID:
        original = repr(body)
        got = call(validate_task, body, partial=partial)
        expect(got == {}, f"validate_task({short(body)}, partial={partial}) to be {{}} (valid)", short(got, 120),
               "return an empty dict when there is nothing wrong")
        expect(repr(body) == original, f"validate_task({original}, partial={partial}) to leave the body as it was",
               repr(body), "only read the body: the view stores it as the client sent it")
    for body, partial, fields, hint in INVALID:
        original = repr(body)
        got = call(validate_task, body, partial=partial)
        shown = f"validate_task({short(body)}, partial={partial})"
        expect(isinstance(got, dict), f"{shown}: a dict of problems", short(got), "return {field: problem, ...}")
        expect(set(got) == fields, f"{shown}: problems for {sorted(fields)}", short(got, 120), hint)
        expect(all(isinstance(problem, str) and problem for problem in got.values()),
               f"{shown}: each problem said in words", short(got, 120), 'e.g. {"title": "must have 1 to 100 characters"}')
        expect(repr(body) == original, f"{shown} to leave the body as it was", repr(body), "only read the body")
    return f"{len(VALID)} valid bodies, {len(INVALID)} invalid ones with the right fields named"


def _next_query(url) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@checker("paginate")
def check_paginate(paginate, Invalid):
    """``paginate(items, args, base_url)`` returns ``{"items", "total", "limit", "offset", "next"}``:
    ``limit`` (1 to 100, default 20) items from ``offset`` (default 0), read from the query
    parameters ``args``; ``next`` is the URL of the next page, with the same other parameters,
    or None. A ``limit`` or ``offset`` that is not such a number raises ``Invalid({name: problem})``.
    """
    require(Invalid, "Invalid")
    items = [{"id": n} for n in range(1, 46)]
    base = "http://localhost/api/v1/tasks"
    cases = [  # args, the items' ids, next's query (None: no next page)
        ({}, range(1, 21), {"limit": "20", "offset": "20"}),
        (MultiDict({"limit": "20", "offset": "20"}), range(21, 41), {"limit": "20", "offset": "40"}),
        ({"limit": "20", "offset": "40"}, range(41, 46), None),
        ({"limit": "5", "offset": "10", "done": "true"}, range(11, 16), {"done": "true", "limit": "5", "offset": "15"}),
        ({"limit": "100"}, range(1, 46), None),
        ({"offset": "45"}, [], None),
        ({"offset": "1000"}, [], None),
        ({"limit": "1", "offset": "43"}, [44], {"limit": "1", "offset": "44"}),
    ]
    for args, ids, following in cases:
        shown = f"paginate(45 items, {dict(args)}, ...)"
        page = call(paginate, list(items), args, base, hint="int(args.get(\"limit\", 20)) ... after checking the text")
        expect(isinstance(page, dict) and set(page) == {"items", "total", "limit", "offset", "next"},
               f"{shown}: a dict with items, total, limit, offset and next", short(page, 100))
        expect_equal([item["id"] for item in page["items"]], list(ids), f"{shown}: the ids of the items",
                     "items[offset:offset + limit]")
        expect_equal(page["total"], 45, f"{shown}: total, the number of items in all pages")
        expect_equal((page["limit"], page["offset"]),
                     (int(args.get("limit", 20)), int(args.get("offset", 0))), f"{shown}: (limit, offset) as ints")
        if following is None:
            expect(page["next"] is None, f"{shown}: next is None (this is the last page)", short(page["next"]),
                   "no next page once offset + limit >= total")
        else:
            expect(isinstance(page["next"], str) and page["next"].split("?")[0] == base
                   and _next_query(page["next"]) == following,
                   f"{shown}: next is {base}?{'&'.join(f'{k}={v}' for k, v in following.items())}",
                   short(page["next"], 100),
                   "base_url + \"?\" + urlencode({...the other args, \"limit\": limit, \"offset\": offset + limit})")
    bad = [({"limit": "0"}, {"limit"}), ({"limit": "101"}, {"limit"}), ({"limit": "ten"}, {"limit"}),
           ({"offset": "-1"}, {"offset"}), ({"limit": " 5"}, {"limit"}), ({"limit": "5.0", "offset": "x"}, {"limit", "offset"})]
    for args, fields in bad:
        error = call_raising(Invalid, paginate, list(items), args, base,
                             hint='check the text first: "1".isdigit(); then the range: 1 <= limit <= 100')
        details = getattr(error, "details", None)
        expect(isinstance(details, dict) and set(details) == fields, f"Invalid with details for {sorted(fields)} for {args}",
               short(details), "collect the problems of both, then raise Invalid(problems) once")
    return f"{len(cases)} pages, with next links keeping the other parameters, and {len(bad)} bad limits or offsets refused"


def _bare_error(error):
    body = {"status": error.code, "error": error.name, "message": error.description}
    if getattr(error, "details", None) is not None:
        body["details"] = error.details
    return body, error.code, {k: v for k, v in error.get_headers() if k != "Content-Type"}


def _app(name: str) -> Flask:
    app = Flask(name)
    app.testing = True
    app.config["API_TOKEN"] = TOKEN
    app.register_error_handler(HTTPException, _bare_error)
    return app


@checker("require_token")
def check_require_token(require_token):
    """``@require_token`` lets a request through only with ``Authorization: Bearer <the token>``
    (the token is ``app.config["API_TOKEN"]``); else 401, with ``WWW-Authenticate: Bearer``.
    It keeps the view's name (``functools.wraps``), so that it can decorate several views.
    """
    app = _app("check_require_token")

    def secret():
        return {"secret": 42}

    def other(n):
        return {"n": n}

    app.add_url_rule("/secret", view_func=call(require_token, secret, hint="a decorator returns the function that wraps the view"))
    try:
        app.add_url_rule("/other/<int:n>", view_func=require_token(other))
    except AssertionError:
        raise Failure("@require_token on two views", "Flask refused the second: View function mapping is overwriting "
                      "an existing endpoint function", "decorate the wrapper with @functools.wraps(view)") from None
    expect(app.view_functions.get("secret") is not None, "the view to keep its name, secret", f"{sorted(app.view_functions)}",
           "@functools.wraps(view) on the wrapper")
    client = app.test_client()
    response = flask_request(client, "GET", "/secret", headers=AUTH)
    expect(response.status_code == 200 and response.get_json() == {"secret": 42},
           "GET /secret with the right token: the view's answer", f"{response.status_code} {short(response.get_json(silent=True))}",
           "call the view and return what it returns: return view(*args, **kwargs)")
    response = flask_request(client, "GET", "/other/7", headers=AUTH)
    expect_equal(response.get_json(silent=True), {"n": 7}, "GET /other/7 with the token (the view's arguments passed on)",
                 "def wrapper(*args, **kwargs): ... return view(*args, **kwargs)")
    refused = [("no Authorization header", {}), ("a wrong token", {"Authorization": "Bearer nope"}),
               ("the token without Bearer", {"Authorization": TOKEN}),
               ("a token that only starts right", {"Authorization": f"Bearer {TOKEN}x"}),
               ("Basic authentication", {"Authorization": "Basic dXNlcjpwYXNz"})]
    for what, headers in refused:
        response = flask_request(client, "GET", "/secret", headers=headers)
        expect_json_error(response, 401, f"GET /secret with {what}",
                          "abort(401, ...) unless request.authorization is a bearer token equal to current_app.config[\"API_TOKEN\"]")
        expect(response.headers.get("WWW-Authenticate", "").lower().startswith("bearer"),
               f"GET /secret with {what}: the header WWW-Authenticate: Bearer", f"{response.headers.get('WWW-Authenticate')!r}",
               'raise Unauthorized("...", www_authenticate=WWWAuthenticate("Bearer"))')
    return f"the right token lets through; {len(refused)} wrong ones get 401 with WWW-Authenticate; views keep their names"


def _json(response):
    return response.get_json(silent=True)


def _status(response, status: int, what: str, hint: str = ""):
    expect(response.status_code == status, f"{what}: {status}", f"{response.status_code} {short(_json(response), 100)}", hint)
    return _json(response)


def _task(task_id: int, title: str, done: bool = False) -> dict:
    return {"id": task_id, "title": title, "done": done}


@checker("add_collection_routes")
def check_collection_routes(add_collection_routes):
    """``GET /api/v1/tasks`` answers a page of tasks (``?done=true`` or ``false`` filters, 422 for
    another value); ``POST /api/v1/tasks`` needs the token (401), a JSON body (415, 400), a valid
    task (422 with details) whose title no task has yet, ignoring case (409); it answers 201, the
    task, and ``Location``: its full URL.
    """
    app = _app("check_collection_routes")
    tasks = {n: _task(n, f"task {n}", done=n % 3 == 0) for n in range(1, 26)}
    ids = itertools.count(26)
    call(add_collection_routes, app, tasks, ids)

    @app.get(f"{API}/<int:task_id>")
    def get_task(task_id):  # the check's own, for url_for("get_task", ...)
        return tasks[task_id]

    client = app.test_client()
    page = _status(flask_request(client, "GET", API), 200, f"GET {API}", "return paginate(found, request.args, request.base_url)")
    expect(isinstance(page, dict) and [t["id"] for t in page.get("items", [])] == list(range(1, 21)) and page.get("total") == 25,
           f"GET {API}: the first page, tasks 1 to 20 of 25", short(page, 100), "paginate the tasks, in order")
    page = _status(flask_request(client, "GET", f"{API}?done=true&limit=3"), 200, f"GET {API}?done=true&limit=3")
    expect(page["total"] == 8 and [t["id"] for t in page["items"]] == [3, 6, 9]
           and _next_query(page["next"]) == {"done": "true", "limit": "3", "offset": "3"},
           f"GET {API}?done=true&limit=3: 3 of the 8 done tasks, and a next link keeping done=true",
           short(page, 120), 'keep the tasks whose "done" is (request.args["done"] == "true"), then paginate them')
    page = _status(flask_request(client, "GET", f"{API}?done=false&offset=15"), 200, f"GET {API}?done=false&offset=15")
    expect_equal(page["total"], 17, f"GET {API}?done=false: total")
    body = expect_json_error(flask_request(client, "GET", f"{API}?done=maybe"), 422, f"GET {API}?done=maybe",
                             'raise Invalid({"done": "must be true or false"})')
    expect("done" in (body.get("details") or {}), "details naming done", short(body))
    expect_json_error(flask_request(client, "GET", f"{API}?limit=0"), 422, f"GET {API}?limit=0")

    post = f"POST {API}"
    expect_json_error(flask_request(client, "POST", API, json={"title": "x"}), 401, f"{post} without a token",
                      "decorate the view with @require_token (below @app.post)")
    expect_json_error(flask_request(client, "POST", API, data={"title": "x"}), 401, f"{post} without a token, with a form",
                      "@require_token first: who asks comes before what they send")
    expect_json_error(flask_request(client, "POST", API, data="title=x", headers=AUTH,
                                    content_type="application/x-www-form-urlencoded"), 415, f"{post} with a form",
                      "read the body with json_body(): 415 if it is not JSON")
    expect_json_error(flask_request(client, "POST", API, data="{", headers=AUTH, content_type="application/json"),
                      400, f"{post} with broken JSON", "json_body(): 400 for broken JSON")
    body = expect_json_error(flask_request(client, "POST", API, json={"title": "", "colour": "red"}, headers=AUTH), 422,
                             f'{post} {{"title": "", "colour": "red"}}', "if problems := validate_task(body): raise Invalid(problems)")
    expect(set(body.get("details") or {}) == {"title", "colour"}, '"details" naming title and colour', short(body, 120),
           "the error handler adds error.details: raise Invalid(problems)")
    expect_json_error(flask_request(client, "POST", API, json={"title": "TASK 7"}, headers=AUTH), 409,
                      f'{post} {{"title": "TASK 7"}} (task 7 exists)', "title_taken(tasks, title) ignores case: abort(409, ...)")
    expect_equal(len(tasks), 25, "25 tasks after the refused POSTs", "store nothing before every check has passed")

    made = flask_request(client, "POST", API, json={"title": "write the report"}, headers=AUTH)
    task = _status(made, 201, f'{post} {{"title": "write the report"}}', 'return task, 201, {"Location": ...}')
    expect_equal(task, _task(26, "write the report"), "the task created", '"done" is False unless the body says')
    location = made.headers.get("Location", "")
    expect(location == f"http://localhost{API}/26", f"Location: http://localhost{API}/26, the full URL of the new task",
           f"{location!r}", 'url_for("get_task", task_id=..., _external=True)')
    expect_equal(tasks.get(26), task, "tasks[26] after the POST", "store the task in the dict tasks")
    made = flask_request(client, "POST", API, json={"title": "read it", "done": True}, headers=AUTH)
    expect_equal(_status(made, 201, f'{post} {{"title": "read it", "done": true}}'), _task(27, "read it", True), "the task created")
    return "pages, the done filter, 401 before 415, 400, 422 with details, 409, then 201 with the task and its full URL"


@checker("tasks API")
def check_tasks_api(create_app):
    """The whole API from ``create_app(token)``: the collection (step 4) and the items:
    ``GET /api/v1/tasks/<id>`` (404 if none), ``PATCH`` (token, 404, 415, 422, 409, then the
    task changed), ``DELETE`` (token, 404, then 204 and no body); other methods get 405.
    """
    app = call(create_app, TOKEN, hint="create_app(token) is given: has every step been done?")
    expect(isinstance(app, Flask), "create_app(token) to return a Flask application", short(app))
    app.testing = True
    client = app.test_client()
    for title in ["write the report", "read it", "send it"]:
        _status(flask_request(client, "POST", API, json={"title": title}, headers=AUTH), 201, f'POST {API} {{"title": "{title}"}}')
    item = f"{API}/2"
    expect_equal(_status(flask_request(client, "GET", item), 200, f"GET {item}"), _task(2, "read it"), f"GET {item}")
    expect_json_error(flask_request(client, "GET", f"{API}/99"), 404, f"GET {API}/99 (no such task)", "abort(404, ...)")

    patch = f"PATCH {item}"
    expect_json_error(flask_request(client, "PATCH", item, json={"done": True}), 401, f"{patch} without a token",
                      "@require_token on update_task too")
    expect_json_error(flask_request(client, "PATCH", f"{API}/99", json={"done": True}, headers=AUTH), 404,
                      f"PATCH {API}/99 (no such task)")
    expect_json_error(flask_request(client, "PATCH", item, data="done", headers=AUTH, content_type="text/plain"), 415,
                      f"{patch} with text", "json_body()")
    body = expect_json_error(flask_request(client, "PATCH", item, json={"done": "yes"}, headers=AUTH), 422,
                             f'{patch} {{"done": "yes"}}', "validate_task(body, partial=True)")
    expect(set(body.get("details") or {}) == {"done"}, f'{patch} {{"done": "yes"}}: "details" naming done only', short(body),
           "validate_task(body, partial=True): a PATCH may leave out the fields it does not change")
    expect_json_error(flask_request(client, "PATCH", item, json={"title": "Send It"}, headers=AUTH), 409,
                      f'{patch} {{"title": "Send It"}} (task 3 has it)', "title_taken(tasks, title, but=task_id)")
    changed = _status(flask_request(client, "PATCH", item, json={"done": True}, headers=AUTH), 200, f'{patch} {{"done": true}}',
                      "update the task with the fields given, and return it")
    expect_equal(changed, _task(2, "read it", True), f'the task after {patch} {{"done": true}}', "task.update(body)")
    changed = _status(flask_request(client, "PATCH", item, json={"title": "READ IT"}, headers=AUTH), 200,
                      f'{patch} {{"title": "READ IT"}} (its own title, in capitals)',
                      "a task does not conflict with itself: title_taken(tasks, title, but=task_id)")
    expect_equal(changed, _task(2, "READ IT", True), f'the task after {patch} {{"title": "READ IT"}}')
    expect_equal(_json(flask_request(client, "GET", item)), _task(2, "READ IT", True), f"GET {item} after the PATCHes",
                 "change the stored task, not a copy")

    expect_json_error(flask_request(client, "DELETE", item), 401, f"DELETE {item} without a token")
    deleted = flask_request(client, "DELETE", item, headers=AUTH)
    expect(deleted.status_code == 204 and deleted.get_data() == b"", f"DELETE {item}: 204 and no body",
           f"{deleted.status_code} {short(deleted.get_data())}", 'return "", 204')
    expect_json_error(flask_request(client, "GET", item), 404, f"GET {item} after its DELETE")
    expect_json_error(flask_request(client, "DELETE", item, headers=AUTH), 404, f"DELETE {item} again")
    refused = flask_request(client, "PUT", f"{API}/1", json={"title": "x"}, headers=AUTH)
    expect_json_error(refused, 405, f"PUT {API}/1")
    expect("PATCH" in refused.headers.get("Allow", ""), "Allow to list PATCH", f"{refused.headers.get('Allow')!r}")
    page = _status(flask_request(client, "GET", API), 200, f"GET {API}")
    expect_equal([t["id"] for t in page["items"]], [1, 3], f"the ids of GET {API} at the end")
    made = flask_request(client, "POST", API, json={"title": "read it"}, headers=AUTH)
    expect_equal(_status(made, 201, f'POST {API} {{"title": "read it"}} (a title free again)')["id"], 4,
                 "the id of the next task: ids are never given twice")
    return "GET, PATCH (401, 404, 415, 422, 409, then 200) and DELETE (401, 204, then 404) of one task, and 405"
