"""The checkers of exercises 07 to 10 and of the capstone: each passes a right answer, fails
wrong ones (with the message a student reads), and sees a stub as "not done yet".

(tests/test_checks.py does the same for 02 to 06, and tests the core.)
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hmac
import itertools
import json
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import requests
from flask import Flask, abort, current_app, request, url_for
from websockets.sync.client import connect
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import HTTPException, Unauthorized, UnprocessableEntity
from werkzeug.routing import BaseConverter, ValidationError

from checks import capstone_messaging as cm
from checks import ch07, ch08, ch09, ch10, core
from checker_helpers import stub, verdict
from checks.core import FAILED, NOT_DONE, PASSED
from checks.helpers import Remote
from sandbox import launch


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checkers as a student runs them: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


# --- 07 -----------------------------------------------------------------------


class IntListConverter(BaseConverter):
    def to_python(self, value):
        if not re.fullmatch(r"[0-9]+(,[0-9]+)*", value):
            raise ValidationError()
        return [int(part) for part in value.split(",")]

    def to_url(self, value):
        return ",".join(str(n) for n in value)


def json_error(error):
    body = {"status": error.code, "error": error.name, "message": error.description}
    return body, error.code, {k: v for k, v in error.get_headers() if k != "Content-Type"}


def add_reading_routes(app, notes):
    @app.get("/sum/<intlist:numbers>")
    def total(numbers):
        return {"numbers": numbers, "sum": sum(numbers)}

    @app.get("/notes")
    def list_notes():
        return list(notes.values())

    @app.get("/notes/<int:note_id>")
    def get_note(note_id):
        if note_id not in notes:
            abort(404, "no such note")
        return notes[note_id]


def add_writing_routes(app, notes, ids, reuse=False):
    @app.post("/notes")
    def create_note():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            abort(400, "send {text}")
        note_id = len(notes) + 1 if reuse else next(ids)
        notes[note_id] = {"id": note_id, "text": body["text"]}
        return notes[note_id], 201, {"Location": url_for("get_note", note_id=note_id)}

    @app.delete("/notes/<int:note_id>")
    def delete_note(note_id):
        if notes.pop(note_id, None) is None:
            abort(404, "no such note")
        return "", 204


def notes_app(converter=IntListConverter, handler=json_error, reading=add_reading_routes, writing=add_writing_routes):
    def create_app():
        app = Flask(__name__)
        app.url_map.converters["intlist"] = converter
        app.register_error_handler(HTTPException, handler)
        notes, ids = {}, itertools.count(1)
        reading(app, notes)
        writing(app, notes, ids)
        return app

    return create_app


def test_intlist():
    class Lenient(IntListConverter):
        def to_python(self, value):
            return [int(part) for part in value.split(",")]  # ValueError for "1,,2"; int(" 2") is 2

    class Strings(IntListConverter):
        def to_python(self, value):
            return super().to_python(value) and value.split(",")

    class NoUrl(IntListConverter):
        def to_url(self, value):
            return str(value)

    class Unfinished(IntListConverter):
        to_url = stub

    verdict(ch07.check_intlist(IntListConverter), PASSED, "url_for builds /sum/4,5")
    verdict(ch07.check_intlist(Lenient), FAILED, "GET /sum/1,,2", "ValueError", "raise ValidationError()")
    verdict(ch07.check_intlist(Strings), FAILED, "GET /sum/1,2,3", "TypeError", "[int(part)")
    verdict(ch07.check_intlist(NoUrl), FAILED, "'/sum/4,5'", "got:      '/sum/[4, 5]'", '",".join')
    verdict(ch07.check_intlist(Unfinished), NOT_DONE, "url_for() still raises NotImplementedError in stub()")

    class Stubbed(BaseConverter):
        to_python = stub

    verdict(ch07.check_intlist(Stubbed), NOT_DONE, "GET /sum/1,2,3: stub() still raises")


def test_json_error():
    def all_headers(error):
        return {"status": error.code, "error": error.name, "message": error.description}, error.code, error.get_headers()

    def no_headers(error):
        return {"status": error.code, "error": error.name, "message": error.description}, error.code

    def always_200(error):
        return {"status": error.code, "error": error.name, "message": error.description}

    verdict(ch07.check_json_error(json_error), PASSED)
    verdict(ch07.check_json_error(all_headers), FAILED, "GET /ratio/1/0: a JSON error", "text/html")
    verdict(ch07.check_json_error(no_headers), FAILED, "keep its Allow header", "get_headers()")
    verdict(ch07.check_json_error(always_200), FAILED, "status 400 Bad Request", "got:      200")
    verdict(ch07.check_json_error(stub), NOT_DONE, "GET /ratio/1/0: stub() still raises")


def test_reading_routes():
    def frozen(app, notes):
        copied = dict(notes)
        add_reading_routes(app, copied)

    def crashing(app, notes):
        add_reading_routes(app, notes)
        app.view_functions["get_note"] = lambda note_id: notes[note_id]

    def unfinished(app, notes):
        add_reading_routes(app, notes)
        app.view_functions["list_notes"] = stub

    verdict(ch07.check_reading_routes(add_reading_routes), PASSED)
    verdict(ch07.check_reading_routes(frozen), FAILED, "after a note was added", "at each request")
    verdict(ch07.check_reading_routes(crashing), FAILED, "GET /notes/2", "KeyError", "abort(404")
    verdict(ch07.check_reading_routes(unfinished), NOT_DONE, "GET /notes: ")
    verdict(ch07.check_reading_routes(stub), NOT_DONE, "still raises NotImplementedError")


def test_notes_api():
    def without_location(app, notes, ids):
        add_writing_routes(app, notes, ids)
        create = app.view_functions["create_note"]
        app.view_functions["create_note"] = lambda: create()[:2]

    def trusting(app, notes, ids):
        add_writing_routes(app, notes, ids)

        def create_note():
            body = request.get_json(silent=True) or {}
            note_id = next(ids)
            notes[note_id] = {"id": note_id, "text": body.get("text")}
            return notes[note_id], 201, {"Location": url_for("get_note", note_id=note_id)}

        app.view_functions["create_note"] = create_note

    def unchecked(app, notes, ids):  # no check of the body: a list or a form raises in the view
        add_writing_routes(app, notes, ids)

        def create_note():
            body = request.get_json(silent=True)
            note_id = next(ids)
            notes[note_id] = {"id": note_id, "text": body["text"]}
            return notes[note_id], 201, {"Location": url_for("get_note", note_id=note_id)}

        app.view_functions["create_note"] = create_note

    def no_content(app, notes, ids):
        add_writing_routes(app, notes, ids)

        def delete_note(note_id):
            return notes.pop(note_id)

        app.view_functions["delete_note"] = delete_note

    shared = {}

    def shared_notes(app, notes, ids):
        add_reading_routes(app, shared)

    verdict(ch07.check_notes_api(notes_app()), PASSED, "ids never reused")
    verdict(ch07.check_notes_api(notes_app(writing=lambda a, n, i: add_writing_routes(a, n, i, reuse=True))), FAILED,
            "after deleting note 1", "itertools.count(1)")
    verdict(ch07.check_notes_api(notes_app(writing=without_location)), FAILED, "Location header ending with /notes/1")
    verdict(ch07.check_notes_api(notes_app(writing=trusting)), FAILED, "POST /notes with a form", "get_json(silent=True)")
    verdict(ch07.check_notes_api(notes_app(writing=unchecked)), FAILED, "POST /notes", "raised TypeError",
            "get_json(silent=True) is None unless the body is JSON")
    verdict(ch07.check_notes_api(notes_app(writing=no_content)), FAILED, "204 No Content", "return \"\", 204")
    verdict(ch07.check_notes_api(notes_app(handler=lambda e: (e.description, e.code))), FAILED, "a JSON error")
    verdict(ch07.check_notes_api(notes_app(reading=shared_notes, writing=add_writing_routes)), FAILED)
    verdict(ch07.check_notes_api(notes_app(writing=lambda a, n, i: None)), FAILED, "POST /notes", "405")
    verdict(ch07.check_notes_api(notes_app(reading=stub)), NOT_DONE)
    verdict(ch07.check_notes_api(stub), NOT_DONE)


# --- 08 -----------------------------------------------------------------------


class Invalid(UnprocessableEntity):
    def __init__(self, details):
        super().__init__("Invalid: " + "; ".join(f"{k}: {v}" for k, v in details.items()))
        self.details = details


def task_error(error):
    body = {"status": error.code, "error": error.name, "message": error.description}
    if isinstance(error, Invalid):
        body["details"] = error.details
    return body, error.code, {k: v for k, v in error.get_headers() if k != "Content-Type"}


def json_body():
    if not request.is_json:
        abort(415, "send JSON")
    body = request.get_json(silent=True)
    if body is None:
        abort(400, "broken JSON")
    return body


def title_taken(tasks, title, but=None):
    return any(t["title"].casefold() == title.casefold() for t in tasks.values() if t["id"] != but)


def validate_task(body, partial=False, bools=True):
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    problems = {name: "unexpected field" for name in body if name not in ("title", "done")}
    if "title" in body:
        title = body["title"]
        if not isinstance(title, str) or not 1 <= len(title) <= 100 or not title.strip():
            problems["title"] = "must be 1 to 100 characters"
    elif not partial:
        problems["title"] = "missing"
    if "done" in body and not isinstance(body["done"], bool if bools else int):
        problems["done"] = "must be true or false"
    return problems


def paginate(items, args, base_url, keep_others=True, strict=True):
    limit, offset = args.get("limit", "20"), args.get("offset", "0")
    problems = {}
    if not (limit.isdigit() and 1 <= int(limit) <= 100):
        problems["limit"] = "1 to 100"
    if not offset.isdigit():
        problems["offset"] = "0 or more"
    if problems and strict:
        raise Invalid(problems)
    limit, offset = int(limit), int(offset)
    following = None
    if offset + limit < len(items):
        query = {k: v for k, v in args.items() if k not in ("limit", "offset")} if keep_others else {}
        following = f"{base_url}?{urlencode({**query, 'limit': limit, 'offset': offset + limit})}"
    return {"items": items[offset:offset + limit], "total": len(items), "limit": limit, "offset": offset, "next": following}


def require_token(view, wraps=True):
    def wrapper(*args, **kwargs):
        auth, token = request.authorization, current_app.config["API_TOKEN"]
        if auth is None or auth.type != "bearer" or not hmac.compare_digest(auth.token or "", token):
            raise Unauthorized("token!", www_authenticate=WWWAuthenticate("Bearer"))
        return view(*args, **kwargs)

    return functools.wraps(view)(wrapper) if wraps else wrapper


def add_collection_routes(app, tasks, ids, external=True, check_conflict=True, decorate=require_token):
    @app.get("/api/v1/tasks")
    def list_tasks():
        done = request.args.get("done")
        if done not in (None, "true", "false"):
            raise Invalid({"done": "true or false"})
        found = [t for t in tasks.values() if done is None or t["done"] == (done == "true")]
        return paginate(found, request.args, request.base_url)

    @app.post("/api/v1/tasks")
    @decorate
    def create_task():
        body = json_body()
        if problems := validate_task(body):
            raise Invalid(problems)
        if check_conflict and title_taken(tasks, body["title"]):
            abort(409, "taken")
        task_id = next(ids)
        tasks[task_id] = {"id": task_id, "title": body["title"], "done": body.get("done", False)}
        return tasks[task_id], 201, {"Location": url_for("get_task", task_id=task_id, _external=external)}


def add_item_routes(app, tasks, partial=True, status=204):
    @app.get("/api/v1/tasks/<int:task_id>")
    def get_task(task_id):
        if task_id not in tasks:
            abort(404, "no such task")
        return tasks[task_id]

    @app.patch("/api/v1/tasks/<int:task_id>")
    @require_token
    def update_task(task_id):
        task = get_task(task_id)
        body = json_body()
        if problems := validate_task(body, partial=partial):
            raise Invalid(problems)
        if "title" in body and title_taken(tasks, body["title"], but=task_id):
            abort(409, "taken")
        task.update(body)
        return task

    @app.delete("/api/v1/tasks/<int:task_id>")
    @require_token
    def delete_task(task_id):
        del tasks[get_task(task_id)["id"]]
        return ("", 204) if status == 204 else ({}, status)


def tasks_app(collection=add_collection_routes, items=add_item_routes):
    def create_app(token):
        app = Flask(__name__)
        app.config["API_TOKEN"] = token
        app.register_error_handler(HTTPException, task_error)
        tasks, ids = {}, itertools.count(1)
        collection(app, tasks, ids)
        items(app, tasks)
        return app

    return create_app


def test_validate_task():
    def first_problem_only(body, partial=False):
        problems = validate_task(body, partial)
        return dict(list(problems.items())[:1])

    def mutating(body, partial=False):
        if isinstance(body, dict):
            body.setdefault("done", False)
        return validate_task(body, partial)

    verdict(ch08.check_validate_task(validate_task), PASSED)
    verdict(ch08.check_validate_task(lambda body, partial=False: validate_task(body, partial, bools=False)), FAILED,
            "partial=True): problems for ['done']", "isinstance(1, bool) is False")
    verdict(ch08.check_validate_task(lambda body, partial=False: validate_task(body, False)), FAILED,
            "to be {} (valid)", "partial=True")
    verdict(ch08.check_validate_task(first_problem_only), FAILED, "problems for ['titel', 'title']", "a typo is two problems")
    verdict(ch08.check_validate_task(mutating), FAILED, "to leave the body as it was")
    verdict(ch08.check_validate_task(stub), NOT_DONE)


def test_paginate():
    verdict(ch08.check_paginate(paginate, Invalid), PASSED)
    verdict(ch08.check_paginate(lambda i, a, b: paginate(i, a, b, keep_others=False), Invalid), FAILED,
            "done=true&limit=5&offset=15", "the other args")
    verdict(ch08.check_paginate(lambda i, a, b: paginate(i, a, b, strict=False), Invalid), FAILED,
            "{'limit': '0'}", "to raise Invalid", "1 <= limit <= 100")
    verdict(ch08.check_paginate(lambda i, a, b: {**paginate(i, a, b), "total": len(paginate(i, a, b)["items"])}, Invalid),
            FAILED, "total, the number of items in all pages")
    verdict(ch08.check_paginate(paginate, ...), NOT_DONE, "Invalid is still ...")
    verdict(ch08.check_paginate(stub, Invalid), NOT_DONE)


def test_require_token():
    def startswith(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not request.headers.get("Authorization", "").startswith("Bearer " + current_app.config["API_TOKEN"]):
                raise Unauthorized("token!", www_authenticate=WWWAuthenticate("Bearer"))
            return view(*args, **kwargs)
        return wrapper

    def without_header(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if request.headers.get("Authorization") != "Bearer " + current_app.config["API_TOKEN"]:
                abort(401, "token!")
            return view(*args, **kwargs)
        return wrapper

    verdict(ch08.check_require_token(require_token), PASSED)
    verdict(ch08.check_require_token(lambda view: require_token(view, wraps=False)), FAILED, "functools.wraps")
    verdict(ch08.check_require_token(startswith), FAILED, "a token that only starts right", "status 401", "got:      200")
    verdict(ch08.check_require_token(without_header), FAILED, "WWW-Authenticate: Bearer", "got:      None")
    verdict(ch08.check_require_token(stub), NOT_DONE)


def test_collection_routes():
    verdict(ch08.check_collection_routes(add_collection_routes), PASSED)
    verdict(ch08.check_collection_routes(lambda a, t, i: add_collection_routes(a, t, i, external=False)), FAILED,
            "the full URL of the new task", "_external=True")
    verdict(ch08.check_collection_routes(lambda a, t, i: add_collection_routes(a, t, i, check_conflict=False)), FAILED,
            "status 409 Conflict", "got:      201")
    verdict(ch08.check_collection_routes(lambda a, t, i: add_collection_routes(a, t, i, decorate=lambda v: v)), FAILED,
            "without a token", "@require_token")
    verdict(ch08.check_collection_routes(lambda a, t, i: add_collection_routes(a, t, i, decorate=stub)), NOT_DONE)


def test_tasks_api():
    verdict(ch08.check_tasks_api(tasks_app()), PASSED)
    verdict(ch08.check_tasks_api(tasks_app(items=lambda a, t: add_item_routes(a, t, partial=False))), FAILED,
            'PATCH /api/v1/tasks/2 {"done": "yes"}: "details" naming done only', "partial=True")
    verdict(ch08.check_tasks_api(tasks_app(items=lambda a, t: add_item_routes(a, t, status=200))), FAILED,
            "204 and no body")
    verdict(ch08.check_tasks_api(tasks_app(items=stub)), NOT_DONE)


# --- 10 -----------------------------------------------------------------------


NOTES_APP = Path(__file__).resolve().parent.parent / "solutions" / "apps" / "notes_app.py"


def serve(app_file, server="waitress", replace=False):
    return launch("app", app=app_file, server=server, replace=replace)


def summarize(latencies, errors, elapsed, unit=1000):
    ordered = sorted(latencies)

    def percentile(p):
        return ordered[math.ceil(p / 100 * len(ordered)) - 1] * unit if ordered else None

    total = len(latencies) + errors
    return {"requests": total, "errors": errors, "per_second": total / elapsed, "p50_ms": percentile(50), "p99_ms": percentile(99)}


def measure(url, total=200, clients=10, timeout=5.0, catch=True, workers=None):
    def one_client(share):
        latencies, errors = [], 0
        with requests.Session() as session:
            for _ in range(share):
                begin = time.perf_counter()
                try:
                    ok = 200 <= session.get(url, timeout=timeout).status_code < 300
                except requests.RequestException:
                    if not catch:
                        raise
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - begin)
                else:
                    errors += 1
        return latencies, errors

    shares = [total // clients + (i < total % clients) for i in range(clients)]
    begin = time.perf_counter()
    with ThreadPoolExecutor(workers or clients) as pool:
        done = list(pool.map(one_client, shares))
    elapsed = time.perf_counter() - begin
    return summarize([t for lat, _ in done for t in lat], sum(e for _, e in done), elapsed)


def test_serve():
    verdict(ch10.check_serve(serve, NOTES_APP), PASSED, "waitress by default")
    verdict(ch10.check_serve(lambda app_file, server="waitress": serve(app_file, server, replace=True), NOTES_APP), FAILED,
            "the first server to keep running", "replace=False")
    verdict(ch10.check_serve(lambda app_file, server="waitress": serve(app_file), NOTES_APP), FAILED,
            "Werkzeug/", "'waitress'", "server=server")
    verdict(ch10.check_serve(lambda app_file, server="waitress": serve(app_file, "dev"), NOTES_APP), FAILED,
            "the Server header of serve(app_file)", "Werkzeug/")
    verdict(ch10.check_serve(stub, NOTES_APP), NOT_DONE)


def test_summarize():
    def mean_based(latencies, errors, elapsed):
        result = summarize(latencies, errors, elapsed)
        if latencies:
            result["p50_ms"] = sum(latencies) / len(latencies) * 1000
        return result

    def in_place(latencies, errors, elapsed):
        latencies.sort()
        return summarize(latencies, errors, elapsed)

    def answered_only(latencies, errors, elapsed):
        return {**summarize(latencies, errors, elapsed), "per_second": len(latencies) / elapsed}

    verdict(ch10.check_summarize(summarize), PASSED)
    verdict(ch10.check_summarize(lambda l, e, t: summarize(l, e, t, unit=1)), FAILED, "p50_ms = 20.0", "0.02", "seconds * 1000")
    verdict(ch10.check_summarize(mean_based), FAILED, "p50_ms = 20.0", "25.0", "not an average")
    verdict(ch10.check_summarize(in_place), FAILED, "to leave the list of latencies as it was", "sorted(latencies)")
    verdict(ch10.check_summarize(answered_only), FAILED, "per_second = 10", "answered or not")
    verdict(ch10.check_summarize(stub), NOT_DONE)


def test_measure():
    verdict(ch10.check_measure(measure), PASSED, "all counted")
    verdict(ch10.check_measure(lambda url, total=200, clients=10, timeout=5.0: measure(url, total, clients, timeout, workers=1)),
            FAILED, "between 2 and 8 requests at once", "at most 1 at once")
    verdict(ch10.check_measure(lambda url, total=200, clients=10, timeout=5.0: measure(url, total, clients, timeout, catch=False)),
            FAILED, "it raised", "requests.RequestException", "count it, and go on")  # a ConnectionError or a ReadTimeout
    verdict(ch10.check_measure(lambda url, total=200, clients=10, timeout=5.0: measure(url, total, clients, 10.0)), FAILED,
            "errors", "got:      13")
    verdict(ch10.check_measure(stub), NOT_DONE)


# --- capstone: messaging client --------------------------------------------------


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A messaging server with a class of four: (server, {name: token})."""
    folder = tmp_path_factory.mktemp("class")
    roster = folder / "class.csv"
    roster.write_text("name\nAda Lovelace\nGrace Hopper\nAda\nAlan Turing\n", encoding="utf-8")
    with launch("messaging", replace=False, users=roster, tokens_out=folder / "tokens.csv", quiet=True,
                rate_limit="off") as server:
        with (folder / "tokens.csv").open(encoding="utf-8") as file:
            tokens = {row["name"]: row["token"] for row in csv.DictReader(file)}
        yield server, tokens


class Client:
    """The solution of the capstone notebook, for one user; variants change one thing."""

    def __init__(self, server, token, **variant):
        self.base, self.session, self.variant = f"{server.url}/api/v1", cm.api_session(token), variant
        self.me = self.session.get(f"{self.base}/me", timeout=10).json()

    def api(self, method, path, **kwargs):
        url = path if path.startswith("http") and not self.variant.get("paths_only") else self.base + path
        response = self.session.request(method, url, timeout=10, **kwargs)
        if not self.variant.get("no_raise"):
            response.raise_for_status()
        if response.status_code == 204 and not self.variant.get("json_204"):
            return None
        return response.json()

    def get_me(self):
        return self.api("GET", "/me")

    def find_user(self, name):
        page = self.api("GET", "/users", params={"name": name, "limit": 100})
        while True:
            for user in page["items"]:
                if (user["name"].casefold() == name.casefold()) or (self.variant.get("contains") and name in user["name"]):
                    return user
            if page["next"] is None or self.variant.get("one_page"):
                return None
            page = self.api("GET", page["next"])

    def set_status(self, text):
        return self.api("PATCH", f"/users/{self.me['id']}", json={"status": text})

    def send_message(self, user_id, text):
        return self.api("POST", f"/users/{self.me['id'] if self.variant.get('to_self') else user_id}/messages",
                        json={"text": text})

    def read_inbox(self, unread_only=False, page_size=20):
        params = {"limit": page_size, **({"unread": "true"} if unread_only else {})}
        page = self.api("GET", f"/users/{self.me['id']}/messages", params=params)
        messages = list(page["items"])
        while page["next"] and not self.variant.get("one_page"):
            page = self.session.get(page["next"], timeout=10).json()
            messages += page["items"]
        return messages

    def mark_read(self, message_id):
        return self.api("PATCH", f"/users/{self.me['id']}/messages/{message_id}", json={"read": True})

    def delete_message(self, message_id):
        return self.api("DELETE", f"/users/{self.me['id']}/messages/{message_id}")


def test_capstone_api(classroom):
    server, tokens = classroom
    token = tokens["Ada Lovelace"]
    verdict(cm.check_api(Client(server, token).api, server, token), PASSED)
    verdict(cm.check_api(Client(server, token, json_204=True).api, server, token), FAILED, "JSONDecodeError", "a 204")
    verdict(cm.check_api(Client(server, token, no_raise=True).api, server, token), FAILED, "to raise HTTPError", "raise_for_status")
    verdict(cm.check_api(Client(server, token, paths_only=True).api, server, token), FAILED, "the next page",
            "404 Client Error", "path if path.startswith")
    verdict(cm.check_api(stub, server, token), NOT_DONE)


def test_capstone_who(classroom):
    server, tokens = classroom
    token = tokens["Ada Lovelace"]
    client = Client(server, token)
    verdict(cm.check_who(client.get_me, client.find_user, server, token), PASSED, "Ada Lovelace", "reads every page")
    verdict(cm.check_who(client.get_me, Client(server, token, contains=True).find_user, server, token), FAILED,
            "find_user('Alan'): None", "exactly it")
    verdict(cm.check_who(Client(server, tokens["Grace Hopper"]).get_me, client.find_user, server, token), FAILED,
            "get_me(): user")
    verdict(cm.check_who(client.get_me, Client(server, token, one_page=True).find_user, server, token), FAILED,
            "find_user('Page Two Pat')", "after 100 others", '"next" link')
    verdict(cm.check_who(client.get_me, stub, server, token), NOT_DONE)
    verdict(cm.check_who(client.get_me, client.find_user, Remote(server.url), token), PASSED)  # as in class


def test_capstone_status(classroom):
    server, tokens = classroom
    token = tokens["Alan Turing"]
    client = Client(server, token)
    verdict(cm.check_status(client.set_status, server, token), PASSED)
    other = Client(server, tokens["Ada"])  # sets someone else's status: the token's own user
    verdict(cm.check_status(other.set_status, server, token), FAILED, "my status on the server")
    verdict(cm.check_status(Client(server, token, no_raise=True).set_status, server, token), FAILED, "to raise HTTPError")
    verdict(cm.check_status(stub, server, token), NOT_DONE)


def test_capstone_send(classroom):
    server, tokens = classroom
    token = tokens["Ada Lovelace"]
    client = Client(server, token)
    verdict(cm.check_send(client.send_message, server, token, "Grace Hopper", tokens["Grace Hopper"]), PASSED,
            "seen in their inbox with their token")
    verdict(cm.check_send(client.send_message, Remote(server.url), token, "Grace Hopper"), PASSED, "read back from the server")
    verdict(cm.check_send(Client(server, token, to_self=True).send_message, server, token, "Grace Hopper",
                          tokens["Grace Hopper"]), FAILED, "in Grace Hopper's inbox", "it went to user 1")
    verdict(cm.check_send(client.send_message, server, token, "Nobody Here"), FAILED, "CLASSMATE")
    verdict(cm.check_send(stub, server, token, "Grace Hopper"), NOT_DONE)


def test_capstone_inbox(classroom):
    server, tokens = classroom
    token = tokens["Grace Hopper"]
    verdict(cm.check_inbox(Client(server, token).read_inbox, server, token, tokens["Ada"]), PASSED)
    verdict(cm.check_inbox(Client(server, token, one_page=True).read_inbox, server, token), FAILED,
            "read_inbox(page_size=2): every message", "page[\"next\"]")
    verdict(cm.check_inbox(lambda unread_only=False, page_size=20: Client(server, token).read_inbox(False, page_size),
                           server, token), FAILED, "the unread messages", '"unread": "true"')
    verdict(cm.check_inbox(stub, server, token), NOT_DONE)


def test_capstone_mark_and_delete(classroom):
    server, tokens = classroom
    token = tokens["Ada"]
    client = Client(server, token)
    verdict(cm.check_mark_and_delete(client.mark_read, client.delete_message, server, token), PASSED)
    verdict(cm.check_mark_and_delete(client.mark_read, Client(server, token, json_204=True).delete_message, server, token),
            FAILED, "JSONDecodeError")
    verdict(cm.check_mark_and_delete(lambda message_id: client.get_me(), client.delete_message, server, token), FAILED,
            "read on the server after mark_read")
    verdict(cm.check_mark_and_delete(client.mark_read, stub, server, token), NOT_DONE)


# --- 09 -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat():
    with launch("chat", replace=False) as server:
        yield server


def event_or_none(ws, timeout):
    try:
        return json.loads(ws.recv(timeout=timeout))
    except TimeoutError:
        return None


def joined_factory(quoting=True, own=True, error=True):
    @contextlib.contextmanager
    def joined(url, name, timeout=5.0):
        path = f"/ws/chat?name={quote(name) if quoting else name}"
        with connect("ws" + url.removeprefix("http") + path, open_timeout=timeout, max_queue=100, proxy=None) as ws:
            while (event := event_or_none(ws, timeout)) is not None:
                if event["type"] == "error" and error:
                    raise ValueError(event["message"])
                if event["type"] == "join" and (event["name"] == name or not own):
                    yield ws, event["users"]
                    return
            raise TimeoutError("no join")

    return joined


joined = joined_factory()


def say(ws, text, timeout=5.0, skip_others=True):
    ws.send(text)
    while (event := event_or_none(ws, timeout)) is not None:
        if event["type"] == "error":
            raise ValueError(event["message"])
        if event["type"] == "message" and (event["text"] == text or not skip_others):
            return event
    raise TimeoutError("nothing")


def bot_factory(ignore_self=True, track=True, send=True, stops=True):
    def run_bot(url, stop, name="Bot"):
        with joined(url, name) as (ws, users):
            while not (stop.is_set() and stops):
                event = event_or_none(ws, 0.2)
                if event is None:
                    continue
                if event["type"] in ("join", "leave") and track:
                    users = event["users"]
                elif event["type"] == "message" and (event["from"] != name or not ignore_self):
                    answer = None
                    if event["text"] == "!users":
                        answer = ", ".join(users)
                    elif event["text"].startswith("!echo "):
                        answer = event["text"].removeprefix("!echo ")
                    if answer is not None:
                        ws.send(answer) if send else say(ws, answer)

    return run_bot


def test_joined(chat):
    left_open = []

    @contextlib.contextmanager
    def hangs_on(url, name, timeout=5.0):
        ws = connect("ws" + url.removeprefix("http") + f"/ws/chat?name={quote(name)}", open_timeout=5, proxy=None)
        left_open.append(ws.__enter__())
        while (event := event_or_none(ws, timeout)) is not None:
            if event["type"] == "error":
                raise ValueError(event["message"])
            if event["type"] == "join" and event["name"] == name:
                yield ws, event["users"]
                return

    verdict(ch09.check_join(joined, chat), PASSED, "(quoted)")
    verdict(ch09.check_join(joined_factory(quoting=False), chat), FAILED, "quote(name)")
    verdict(ch09.check_join(joined_factory(error=False), chat), FAILED, "to raise ValueError", "raise ValueError")
    verdict(ch09.check_join(hangs_on, chat), FAILED, "the end of the with block to hang up")
    for ws in left_open:
        ws.close()
    verdict(ch09.check_join(stub, chat), NOT_DONE, "joined() still raises")

    @contextlib.contextmanager
    def broken(url, name):
        yield {}[name]  # a KeyError: the verdict shows the call as written, not the checker's helper
    result = ch09.check_join(broken, chat)
    verdict(result, FAILED, f"joined('{chat.url}', 'Zoë & Co #1') to return a result", "raised KeyError")
    assert "<function" not in str(result)


def test_say(chat):
    verdict(ch09.check_say(say, chat), PASSED)
    verdict(ch09.check_say(lambda ws, text, timeout=5.0: say(ws, text, timeout, skip_others=False), chat), FAILED,
            "'first noise'", "skip the events that are not your message")
    verdict(ch09.check_say(lambda ws, text, timeout=5.0: ws.send(text) or {"type": "message", "from": "Student", "text": text},
                           chat), FAILED, "the others to hear it, the same message")
    verdict(ch09.check_say(stub, chat), NOT_DONE)


def test_bot(chat):
    verdict(ch09.check_bot(bot_factory(), chat), PASSED, "silent to itself")
    verdict(ch09.check_bot(bot_factory(ignore_self=False), chat), FAILED, "no answer to the bot's own message",
            "the bot said 'hi'")
    verdict(ch09.check_bot(bot_factory(track=False), chat), FAILED, "'!users' with 'Ada, Bot, Cy'", "got:      'Ada, Bot'")  # its own join's users
    verdict(ch09.check_bot(bot_factory(send=False), chat), FAILED, "'one', 'two', 'three'", "got:      ['one'", "say() would skip")

    verdict(ch09.check_bot(bot_factory(stops=False), chat), FAILED, "to return within 2 s of stop.set()", "stop.is_set()")
    verdict(ch09.check_bot(stub, chat), NOT_DONE, "run_bot() still raises")
