"""sandbox/web.py on a tiny app: every error in one JSON shape, a bug logged and
answered as a JSON 500, one log line per request."""

from __future__ import annotations

import logging

import pytest
from flask import Flask, abort
from werkzeug.exceptions import NotFound, UnprocessableEntity

from sandbox import web


class Invalid(UnprocessableEntity):
    def __init__(self, details: dict):
        super().__init__("the body breaks a rule")
        self.details = details


def tiny_app(explain=None, log_requests=True) -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/ok", "ok", lambda: "fine")
    app.add_url_rule("/missing", "missing", lambda: abort(404, "no such thing"))
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)

    @app.get("/invalid")
    def invalid():
        raise Invalid({"name": "missing"})

    web.init_app(app, explain, log_requests)
    return app


def test_an_http_error_is_json_status_first():
    response = tiny_app().test_client().get("/missing")
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert list(response.json.items()) == [("status", 404), ("error", "Not Found"), ("message", "no such thing")]


def test_details_and_headers_are_kept():
    client = tiny_app().test_client()
    invalid = client.get("/invalid").json
    assert invalid == {"status": 422, "error": "Unprocessable Entity", "message": "the body breaks a rule",
                       "details": {"name": "missing"}}
    wrong = client.delete("/ok")
    assert wrong.json["status"] == 405 and set(wrong.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert wrong.mimetype == "application/json"


def test_the_app_may_word_its_own_messages():
    def explain(error):
        return "try /ok" if isinstance(error, NotFound) else None

    client = tiny_app(explain).test_client()
    assert client.get("/nowhere").json["message"] == "try /ok"
    assert client.delete("/ok").json["message"] == "The method is not allowed for the requested URL."  # Flask's own


def test_a_bug_is_logged_and_answered_as_a_json_500(caplog):
    with caplog.at_level(logging.ERROR):
        response = tiny_app().test_client().get("/boom?x=1")
    assert response.status_code == 500 and response.mimetype == "application/json"
    assert response.json == {"status": 500, "error": "Internal Server Error",
                             "message": "The server failed to answer this request; the details are in its log."}
    assert "unexpected error in GET /boom?x=1" in caplog.text and "ZeroDivisionError" in caplog.text


@pytest.mark.parametrize("log_requests", [True, False])
def test_one_log_line_per_request(capsys, log_requests):
    client = tiny_app(log_requests=log_requests).test_client()
    client.get("/ok?a=1", environ_base={"REMOTE_ADDR": "::1", "REMOTE_PORT": 50123})
    client.get("/nowhere", headers={"Authorization": "Bearer s3cret"})
    lines = capsys.readouterr().out.splitlines()
    if not log_requests:
        assert lines == []
        return
    assert [line.split(" ", 1)[1] for line in lines] == ["[::1]:50123 GET /ok?a=1 200", "127.0.0.1:? GET /nowhere 404"]
