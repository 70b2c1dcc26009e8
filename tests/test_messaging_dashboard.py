"""The instructor's dashboard (/class): nothing without the instructor token, and each of its actions.

Through Flask's test client; one test starts the real server, for the token it prints.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
import requests

from messaging_helpers import assert_error, bearer, new_app, register, send
from sandbox import launch
from sandbox.messaging import dashboard

API = "/api/v1"
CLASS = "/class/api"
SECRET = "instructor-secret-token"
ENDPOINTS = [("GET", "/roster"), ("GET", "/roster.csv"), ("POST", "/registration"), ("POST", "/tokens.csv"),
             ("POST", "/reset")]


@pytest.fixture
def app(tmp_path):
    return new_app(tmp_path, INSTRUCTOR_TOKEN=SECRET)


def instructor(client, method: str, path: str, body=None):
    return client.open(f"{CLASS}{path}", method=method, json=body, headers=bearer(SECRET))


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_nothing_without_the_instructor_token(client, method, path):
    _, student_token = register(client, "Ada")
    body = assert_error(client.open(f"{CLASS}{path}", method=method), 401, "instructor token")
    assert client.open(f"{CLASS}{path}", method=method).headers["WWW-Authenticate"] == "Bearer"
    assert_error(client.open(f"{CLASS}{path}", method=method, headers=bearer(student_token)), 403, "instructor")
    assert_error(client.open(f"{CLASS}{path}", method=method, headers=bearer(SECRET + "x")), 403)
    assert SECRET not in body["message"]


@pytest.mark.parametrize("method, path", [*ENDPOINTS, ("GET", "")])
def test_a_server_without_an_instructor_token_has_no_dashboard(tmp_path, method, path):
    client = new_app(tmp_path).test_client()  # INSTRUCTOR_TOKEN None: create_app's default
    url = "/class" if path == "" else f"{CLASS}{path}"
    assert_error(client.open(url, method=method, headers=bearer("None")), 404, "no dashboard")


def test_the_page_holds_no_secret(client):
    page = client.get("/class")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert SECRET not in page.get_data(as_text=True)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_roster_shows_each_step_as_the_server_sees_it(client, monkeypatch):
    monkeypatch.setattr(dashboard, "FLUSH_SECONDS", 0)  # write the last-request times at once
    ada, ada_token = register(client, "Ada")
    bob, bob_token = register(client, "Bob")

    def of(name):
        data = instructor(client, "GET", "/roster").json
        return next(user for user in data["users"] if user["name"] == name), data

    user, data = of("Ada")
    assert data["registration_open"] is True and list(data["steps"]) == list(dashboard.STEPS)
    assert user["steps"]["registered"] and not any(user["steps"][s] for s in ("status", "sent", "read", "live"))
    assert user["last_request_at"] is None and user["sent"] == user["received"] == 0

    client.patch(f"{API}/users/{ada['id']}", json={"status": "<b>here</b>"}, headers=bearer(ada_token))
    message = send(client, ada_token, bob["id"], "hi")
    client.patch(f"{API}/users/{bob['id']}/messages/{message['id']}", json={"read": True}, headers=bearer(bob_token))
    client.get(f"{API}/events", headers=bearer(bob_token), buffered=False).close()
    ada_row, bob_row = of("Ada")[0], of("Bob")[0]
    assert ada_row["status"] == "<b>here</b>" and ada_row["steps"]["status"] and ada_row["steps"]["sent"]
    assert (ada_row["sent"], ada_row["received"], bob_row["sent"], bob_row["received"]) == (1, 0, 0, 1)
    assert not ada_row["steps"]["read"] and bob_row["steps"]["read"]  # read: the recipient marked it
    assert bob_row["steps"]["live"] and not ada_row["steps"]["live"]
    assert ada_row["last_request_at"] and bob_row["last_request_at"]


def test_closing_registration_reaches_the_api(client):
    register(client, "Ada")
    assert instructor(client, "POST", "/registration", {"open": False}).json == {"registration_open": False}
    assert_error(client.post(f"{API}/users", json={"name": "Late"}), 403, "closed")
    assert_error(client.get(f"{API}/users"), 401)  # a closed class's roster is the class's
    assert instructor(client, "GET", "/roster").json["registration_open"] is False
    instructor(client, "POST", "/registration", {"open": True})
    register(client, "Late")


@pytest.mark.parametrize("body", [None, {}, {"open": "no"}, {"open": True, "extra": 1}])
def test_a_bad_registration_switch_is_refused(client, body):
    assert instructor(client, "POST", "/registration", body).status_code in (415, 422)


def test_the_roster_as_csv_is_safe_in_a_spreadsheet(client):
    register(client, "=HYPERLINK(\"http://evil\")")
    register(client, "Ada")
    response = instructor(client, "GET", "/roster.csv")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["name"] for row in rows] == ["'=HYPERLINK(\"http://evil\")", "Ada"]  # a formula, shown as text
    assert set(rows[0]) == set(dashboard.CSV_COLUMNS) and rows[0]["step_registered"]


@pytest.mark.parametrize("path, words", [("/tokens.csv", "NEW TOKENS"), ("/reset", "RESET")])
@pytest.mark.parametrize("body", [None, {}, {"confirm": "yes"}, {"confirm": True}])
def test_destructive_actions_need_their_confirmation(client, path, words, body):
    ada, token = register(client, "Ada")
    send(client, token, ada["id"], "kept")
    response = instructor(client, "POST", path, body)
    assert response.status_code in (415, 422)
    assert client.get(f"{API}/users/{ada['id']}/messages", headers=bearer(token)).json["total"] == 1


def test_new_tokens_replace_the_old_ones(client):
    ada, old = register(client, "Ada")
    response = instructor(client, "POST", "/tokens.csv", {"confirm": "NEW TOKENS"})
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(row["name"], int(row["id"])) for row in rows] == [("Ada", ada["id"])]
    assert_error(client.get(f"{API}/me", headers=bearer(old)), 401)
    assert client.get(f"{API}/me", headers=bearer(rows[0]["token"])).json["name"] == "Ada"


def test_reset_deletes_messages_and_statuses_but_keeps_the_accounts(client):
    ada, token = register(client, "Ada")
    client.patch(f"{API}/users/{ada['id']}", json={"status": "busy"}, headers=bearer(token))
    send(client, token, ada["id"], "gone soon")
    stream = client.get(f"{API}/events", headers=bearer(token), buffered=False)
    chunks = iter(stream.response)
    while "event: ready" not in next(chunks).decode():
        pass
    users = instructor(client, "POST", "/reset", {"confirm": "RESET"}).json["users"]
    assert [(u["name"], u["status"], u["sent"], u["steps"]["status"]) for u in users] == [("Ada", "", 0, None)]
    assert client.get(f"{API}/users/{ada['id']}/messages", headers=bearer(token)).json["total"] == 0
    while "event: reset" not in (chunk := next(chunks).decode()):  # the live page is told to reload
        assert "event: message" not in chunk
    stream.close()


def test_the_server_prints_the_token_once_and_never_logs_it(tmp_path):
    with launch("messaging", db=tmp_path / "class.sqlite3") as server:
        assert server.wait_for("instructor dashboard:", 10)
        token = re.search(r"/class#(\S+)", server.log).group(1)
        assert requests.get(f"{server.url}{CLASS}/roster", timeout=5).status_code == 401
        assert requests.get(f"{server.url}{CLASS}/roster", headers=bearer(token), timeout=5).status_code == 200
        assert requests.get(f"{server.url}/class", timeout=5).status_code == 200
        assert server.wait_for(f"GET {CLASS}/roster 200")
    assert server.log.count(token) == 1, server.log
