"""The messaging API, endpoint by endpoint: what succeeds, and every way it refuses.

Through Flask's test client (see messaging_helpers.py): fast, no server process.
"""

from __future__ import annotations

import json
import re
import threading

import pytest

from messaging_helpers import assert_error, bearer, new_app, register, send
from sandbox.messaging.validation import NAME_MAX, PAGE_MAX, STATUS_MAX, TEXT_MAX

API = "/api/v1"

# Strings that break a program pasting values into SQL (or into HTML); the
# server must store and return each of them exactly.
HOSTILE = [
    "Robert'); DROP TABLE users;--",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM messages",
    "%_\\",
    "<img src=x onerror=alert(1)>",
    "emoji 🎉 and accents éà and a\x00nul",
    "line one\nline two\ttab",
]


@pytest.fixture
def ada(client):
    return register(client, "Ada")


@pytest.fixture
def bob(client):
    return register(client, "Bob")


@pytest.fixture
def eve(client):
    return register(client, "Eve")


# --- registration ------------------------------------------------------------------


def test_register_returns_the_user_a_token_and_where_it_lives(client):
    response = client.post(f"{API}/users", json={"name": "Ada"})
    assert response.status_code == 201
    user, token = response.json["user"], response.json["token"]
    assert set(user) == {"id", "name", "status", "created_at"}
    assert user["name"] == "Ada" and user["status"] == ""
    assert len(token) >= 40
    assert response.headers["Location"].endswith(f"{API}/users/{user['id']}")
    assert client.get(response.headers["Location"]).json == user
    assert client.get(f"{API}/me", headers=bearer(token)).json == user


def test_tokens_are_random_and_stored_only_as_hashes(app, client):
    tokens = [register(client, f"user{i}")[1] for i in range(5)]
    assert len(set(tokens)) == 5
    content = app.config["DATABASE"].read_bytes()
    for token in tokens:
        assert token.encode() not in content


def test_a_taken_name_is_409_ignoring_case(client, ada):
    assert_error(client.post(f"{API}/users", json={"name": "ADA"}), 409, "taken")


def test_registration_can_be_closed(tmp_path):
    closed = new_app(tmp_path, REGISTRATION_OPEN=False).test_client()
    assert_error(closed.post(f"{API}/users", json={"name": "Ada"}), 403, "closed")


def test_with_registration_closed_reading_the_users_needs_a_token(tmp_path, client, ada):
    user, other_token = ada  # an account on another server (the open one)
    assert client.get(f"{API}/users").status_code == 200, "registration open: anyone may read the users"
    (tmp_path / "class").mkdir()
    closed = new_app(tmp_path / "class", REGISTRATION_OPEN=False)
    from sandbox.messaging import db
    member, token = db.add_users(db.connect(closed.config["DATABASE"]), ["Grace"])[0]  # as --users does
    closed = closed.test_client()
    for path in (f"{API}/users", f"{API}/users?name=Gr", f"{API}/users/{member['id']}"):
        assert_error(closed.get(path), 401, "token")
        assert_error(closed.get(path, headers=bearer(other_token)), 401, "no user")
        assert closed.get(path, headers=bearer(token)).status_code == 200, path
    assert [u["name"] for u in closed.get(f"{API}/users", headers=bearer(token)).json["items"]] == ["Grace"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": 42}, "name"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * (NAME_MAX + 1)}, "name"),
        ({"name": "Ada", "admin": True}, "admin"),
        (["Ada"], "body"),
        ("Ada", "body"),
        (None, "body"),
    ],
)
def test_invalid_registrations_are_422_with_details(client, body, field):
    response = client.post(f"{API}/users", data=json.dumps(body), content_type="application/json")
    error = assert_error(response, 422)
    assert field in error["details"]


def test_a_name_of_exactly_the_maximum_length_is_fine(client):
    register(client, "x" * NAME_MAX)


# --- what every body must be ----------------------------------------------------------


def body_requests(ada_token: str, bob_id: int, message_id: int):
    """(method, url, headers) of every request with a JSON body, authorised to succeed."""
    return [
        ("POST", f"{API}/users", {}),
        ("PATCH", f"{API}/users/{bob_id}", bearer(ada_token)),
        ("POST", f"{API}/users/{bob_id}/messages", bearer(ada_token)),
        ("PATCH", f"{API}/users/{bob_id}/messages/{message_id}", bearer(ada_token)),
    ]


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize(
    "content_type, data, status",
    [
        (None, "", 415),
        ("text/plain", '{"text": "hi"}', 415),
        ("application/x-www-form-urlencoded", "text=hi", 415),
        ("application/json", "", 400),
        ("application/json", "{'text': 'hi'}", 400),
        ("application/json", '{"text": "hi"', 400),
        ("application/json", b"\xff\xfe\x00", 400),
        ("application/json", "[" * 100_000, 413),
        ("application/json", "[" * 50_000, 400),  # nested too deep for Python, not a crash
        ("application/json", '{"text": "' + "x" * 70_000 + '"}', 413),
        ("application/json", '{"n": 1' + "0" * 5000 + "}", 400),  # too many digits for int()
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(client, which, content_type, data, status):
    # Bob's own token, so that authentication passes and the body is what fails.
    bob, bob_token = register(client, "Bob")
    message = send(client, bob_token, bob["id"], "to myself")
    method, url, headers = body_requests(bob_token, bob["id"], message["id"])[which]
    if content_type:
        headers = {**headers, "Content-Type": content_type}
    assert_error(client.open(url, method=method, data=data, headers=headers), status)


def test_a_lone_surrogate_is_422_not_a_crash(client, ada):
    _, token = ada
    response = client.post(f"{API}/users/1/messages", data='{"text": "\\ud800"}',
                           content_type="application/json", headers=bearer(token))
    assert "Unicode" in assert_error(response, 422)["details"]["text"]


# --- users -----------------------------------------------------------------------------


def test_listing_users_filters_by_name_and_pages(client):
    for i in range(25):
        register(client, f"Student {i:02}")
    register(client, "Teacher")
    page = client.get(f"{API}/users?limit=10").json
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (26, 10, 0, 10)
    names = [user["name"] for user in page["items"]]
    while page["next"]:
        page = client.get(page["next"]).json
        names += [user["name"] for user in page["items"]]
    assert names == sorted(names) and len(names) == 26
    assert page["offset"] == 20 and len(page["items"]) == 6

    found = client.get(f"{API}/users?name=TEACH").json
    assert [user["name"] for user in found["items"]] == ["Teacher"] and found["next"] is None
    page = client.get(f"{API}/users?name=student&limit=20").json
    assert page["total"] == 25 and "name=student" in page["next"]
    assert client.get(f"{API}/users?offset=100").json["items"] == []
    assert client.get(f"{API}/users").json["limit"] == 20


def test_the_name_filter_takes_wildcards_literally(client):
    register(client, "100% sure")
    register(client, "a_b")
    register(client, "ab")
    assert [u["name"] for u in client.get(f"{API}/users", query_string={"name": "%"}).json["items"]] == ["100% sure"]
    assert [u["name"] for u in client.get(f"{API}/users", query_string={"name": "_"}).json["items"]] == ["a_b"]
    assert client.get(f"{API}/users", query_string={"name": "' OR 1=1 --"}).json["total"] == 0


@pytest.mark.parametrize(
    "query, field",
    [("limit=0", "limit"), (f"limit={PAGE_MAX + 1}", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
     ("offset=-1", "offset"), ("offset=1.5", "offset"), ("offset=99999999999999999999999", "offset")],
)
def test_bad_page_parameters_are_422(client, query, field):
    assert field in assert_error(client.get(f"{API}/users?{query}"), 422)["details"]


def test_get_one_user(client, ada):
    user, _ = ada
    assert client.get(f"{API}/users/{user['id']}").json == user


@pytest.mark.parametrize("user_id", ["999", "0", "99999999999999999999999", "abc", "-1", "1.5"])
def test_missing_users_are_404(client, ada, user_id):
    assert_error(client.get(f"{API}/users/{user_id}"), 404)


def test_i_change_my_status(client, ada):
    user, token = ada
    response = client.patch(f"{API}/users/{user['id']}", json={"status": "coding"}, headers=bearer(token))
    assert response.status_code == 200 and response.json["status"] == "coding"
    assert client.get(f"{API}/users/{user['id']}").json["status"] == "coding"
    long_status = "s" * STATUS_MAX
    assert client.patch(f"{API}/users/{user['id']}", json={"status": long_status}, headers=bearer(token)).status_code == 200
    assert client.patch(f"{API}/users/{user['id']}", json={"status": ""}, headers=bearer(token)).json["status"] == ""


@pytest.mark.parametrize("body", [{"status": "s" * (STATUS_MAX + 1)}, {"status": 1}, {"status": None}, {}, {"name": "Bob"}])
def test_invalid_status_updates_are_422(client, ada, body):
    user, token = ada
    assert_error(client.patch(f"{API}/users/{user['id']}", json=body, headers=bearer(token)), 422)


@pytest.mark.parametrize(
    "headers, words",
    [
        ({}, ["Authorization: Bearer"]),
        ({"Authorization": "Bearer"}, ["Bearer"]),
        ({"Authorization": "Bearer "}, ["Bearer"]),
        ({"Authorization": "Basic YWRhOnNlY3JldA=="}, ["Bearer"]),
        ({"Authorization": "Bearer not-a-token"}, ["no user"]),
        ({"Authorization": "Bearer ' OR '1'='1"}, ["Bearer"]),
        ({"Authorization": "Bearer '--"}, ["no user"]),
    ],
)
def test_no_valid_token_is_401_with_www_authenticate(client, ada, headers, words):
    user, _ = ada
    response = client.patch(f"{API}/users/{user['id']}", json={"status": "x"}, headers=headers)
    assert_error(response, 401, *words)
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert client.get(f"{API}/users/{user['id']}").json["status"] == ""


def test_the_bearer_scheme_ignores_case(client, ada):
    _, token = ada
    assert client.get(f"{API}/me", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_me_needs_a_token(client):
    assert_error(client.get(f"{API}/me"), 401)


# --- messages ---------------------------------------------------------------------------


def test_send_a_message(client, ada, bob):
    (ada_user, ada_token), (bob_user, bob_token) = ada, bob
    response = client.post(f"{API}/users/{bob_user['id']}/messages", json={"text": "Hello Bob"}, headers=bearer(ada_token))
    assert response.status_code == 201
    message = response.json
    assert message == {
        "id": message["id"], "sender_id": ada_user["id"], "sender_name": "Ada", "recipient_id": bob_user["id"],
        "text": "Hello Bob", "created_at": message["created_at"], "read": False,
    }
    assert response.headers["Location"].endswith(f"{API}/users/{bob_user['id']}/messages/{message['id']}")
    # Both ends of the conversation may read it there.
    assert client.get(response.headers["Location"], headers=bearer(bob_token)).json == message
    assert client.get(response.headers["Location"], headers=bearer(ada_token)).json == message


def test_no_one_can_send_as_someone_else(client, ada, bob):
    (_, ada_token), (bob_user, _) = ada, bob
    body = {"text": "from Bob, honest", "sender_id": bob_user["id"]}
    assert_error(client.post(f"{API}/users/{bob_user['id']}/messages", json=body, headers=bearer(ada_token)), 422)
    assert_error(client.post(f"{API}/users/{bob_user['id']}/messages", json={"text": "hi"}), 401)


@pytest.mark.parametrize("text", ["", "   \n\t", "x" * (TEXT_MAX + 1), 42, None, ["hi"]])
def test_invalid_messages_are_422(client, ada, text):
    user, token = ada
    assert_error(client.post(f"{API}/users/{user['id']}/messages", json={"text": text}, headers=bearer(token)), 422)


def test_a_message_of_exactly_the_maximum_length_is_fine(client, ada):
    user, token = ada
    assert send(client, token, user["id"], "x" * TEXT_MAX)["text"] == "x" * TEXT_MAX


def test_sending_to_a_missing_user_is_404(client, ada):
    _, token = ada
    assert_error(client.post(f"{API}/users/999/messages", json={"text": "hi"}, headers=bearer(token)), 404, "999")


def inbox(client, user: dict, token: str, query: str = "") -> dict:
    response = client.get(f"{API}/users/{user['id']}/messages?{query}", headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def test_the_inbox_is_newest_first_and_paginated(client, ada, bob):
    (ada_user, ada_token), (bob_user, bob_token) = ada, bob
    sent = [send(client, ada_token, bob_user["id"], f"message {i}") for i in range(45)]
    page = inbox(client, bob_user, bob_token)
    assert page["total"] == 45 and page["limit"] == 20 and page["offset"] == 0
    assert [m["text"] for m in page["items"]] == [f"message {i}" for i in range(44, 24, -1)]
    ids = [m["id"] for m in page["items"]]
    while page["next"]:
        page = client.get(page["next"], headers=bearer(bob_token)).json
        ids += [m["id"] for m in page["items"]]
    assert ids == [m["id"] for m in reversed(sent)]
    page = inbox(client, bob_user, bob_token, f"limit={PAGE_MAX}")
    assert len(page["items"]) == 45 and page["next"] is None
    assert inbox(client, ada_user, ada_token)["total"] == 0  # sending does not fill my own inbox


def test_the_inbox_filters_unread_and_since(client, ada, bob):
    (_, ada_token), (bob_user, bob_token) = ada, bob
    first, second, third = (send(client, ada_token, bob_user["id"], text) for text in ("one", "two", "three"))
    page = inbox(client, bob_user, bob_token, f"since={first['id']}")
    assert [m["text"] for m in page["items"]] == ["three", "two"]
    client.patch(f"{API}/users/{bob_user['id']}/messages/{third['id']}", json={"read": True}, headers=bearer(bob_token))
    assert [m["text"] for m in inbox(client, bob_user, bob_token, "unread=true")["items"]] == ["two", "one"]
    assert [m["text"] for m in inbox(client, bob_user, bob_token, "unread=false")["items"]] == ["three", "two", "one"]
    page = inbox(client, bob_user, bob_token, f"unread=true&since={first['id']}&limit=1")
    assert [m["text"] for m in page["items"]] == ["two"] and page["total"] == 1 and page["next"] is None
    page = inbox(client, bob_user, bob_token, "unread=true&limit=1")
    assert "unread=true" in page["next"] and page["total"] == 2
    assert inbox(client, bob_user, bob_token, f"since={third['id']}")["items"] == []


@pytest.mark.parametrize("query, field", [("unread=yes", "unread"), ("unread=1", "unread"), ("since=-1", "since"),
                                          ("since=x", "since"), ("limit=1000", "limit")])
def test_bad_inbox_parameters_are_422(client, ada, query, field):
    user, token = ada
    response = client.get(f"{API}/users/{user['id']}/messages?{query}", headers=bearer(token))
    assert field in assert_error(response, 422)["details"]


def test_mark_a_message_read_and_unread(client, ada, bob):
    (_, ada_token), (bob_user, bob_token) = ada, bob
    message = send(client, ada_token, bob_user["id"], "read me")
    url = f"{API}/users/{bob_user['id']}/messages/{message['id']}"
    response = client.patch(url, json={"read": True}, headers=bearer(bob_token))
    assert response.status_code == 200 and response.json == {**message, "read": True}
    assert client.get(url, headers=bearer(bob_token)).json["read"] is True
    assert client.patch(url, json={"read": False}, headers=bearer(bob_token)).json["read"] is False


@pytest.mark.parametrize("body", [{"read": "yes"}, {"read": 1}, {"read": None}, {}, {"read": True, "text": "edited"}])
def test_invalid_read_marks_are_422(client, ada, body):
    user, token = ada
    message = send(client, token, user["id"], "note to self")
    url = f"{API}/users/{user['id']}/messages/{message['id']}"
    assert_error(client.patch(url, json=body, headers=bearer(token)), 422)


def test_delete_a_message(client, ada, bob):
    (_, ada_token), (bob_user, bob_token) = ada, bob
    message = send(client, ada_token, bob_user["id"], "delete me")
    url = f"{API}/users/{bob_user['id']}/messages/{message['id']}"
    response = client.delete(url, headers=bearer(bob_token))
    assert response.status_code == 204 and response.data == b""
    assert_error(client.get(url, headers=bearer(bob_token)), 404)
    assert_error(client.delete(url, headers=bearer(bob_token)), 404)
    assert inbox(client, bob_user, bob_token)["total"] == 0
    # The id of a deleted message is never given again.
    assert send(client, ada_token, bob_user["id"], "next")["id"] > message["id"]


def test_missing_messages_are_404(client, ada, bob):
    (ada_user, ada_token), (bob_user, bob_token) = ada, bob
    message = send(client, ada_token, bob_user["id"], "for Bob")
    for url in [f"{API}/users/{bob_user['id']}/messages/999",
                f"{API}/users/{bob_user['id']}/messages/99999999999999999999999",
                f"{API}/users/999/messages/{message['id']}",
                f"{API}/users/99999999999999999999999/messages/{message['id']}"]:
        assert_error(client.get(url, headers=bearer(bob_token)), 404)
    # Message 1 is in Bob's inbox, not in Ada's.
    assert_error(client.get(f"{API}/users/{ada_user['id']}/messages/{message['id']}", headers=bearer(ada_token)), 404)


# --- isolation: no one reads or changes another's data --------------------------------------


def test_no_user_can_read_or_change_another_users_data(client, ada, bob, eve):
    (ada_user, ada_token), (bob_user, bob_token), (_, eve_token) = ada, bob, eve
    message = send(client, ada_token, bob_user["id"], "private, for Bob")
    bob_inbox = f"{API}/users/{bob_user['id']}/messages"
    bob_message = f"{bob_inbox}/{message['id']}"
    attempts = [
        ("PATCH", f"{API}/users/{bob_user['id']}", {"status": "hacked"}),
        ("GET", bob_inbox, None),
        ("GET", f"{bob_inbox}?unread=true", None),
        ("GET", bob_message, None),
        ("PATCH", bob_message, {"read": True}),
        ("DELETE", bob_message, None),
    ]
    for method, url, body in attempts:
        assert_error(client.open(url, method=method, json=body, headers=bearer(eve_token)), 403, "only")
        assert_error(client.open(url, method=method, json=body), 401)
    # Ada sent the message: she may read it, not mark or delete it for Bob.
    assert client.get(bob_message, headers=bearer(ada_token)).status_code == 200
    assert_error(client.get(bob_inbox, headers=bearer(ada_token)), 403)
    assert_error(client.patch(bob_message, json={"read": True}, headers=bearer(ada_token)), 403)
    assert_error(client.delete(bob_message, headers=bearer(ada_token)), 403)
    # Nothing changed.
    assert client.get(f"{API}/users/{bob_user['id']}").json["status"] == ""
    assert client.get(bob_message, headers=bearer(bob_token)).json == message
    assert ada_user["id"] != bob_user["id"]


# --- hostile strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_sql_and_html_strings_are_stored_and_returned_verbatim(client, text):
    user, token = register(client, text[:NAME_MAX])
    assert client.get(f"{API}/users/{user['id']}").json["name"] == text[:NAME_MAX]
    client.patch(f"{API}/users/{user['id']}", json={"status": text}, headers=bearer(token))
    assert client.get(f"{API}/users/{user['id']}").json["status"] == text
    message = send(client, token, user["id"], text)
    assert message["text"] == text
    assert inbox(client, user, token)["items"][0]["text"] == text
    found = client.get(f"{API}/users", query_string={"name": text[:NAME_MAX]}).json
    assert [u["name"] for u in found["items"]] == [text[:NAME_MAX]]
    assert client.get(f"{API}/users").json["total"] == 1  # the tables are still there, with one user


# --- routing, methods, unexpected errors ----------------------------------------------------------------


@pytest.mark.parametrize("url", [f"{API}/nope", f"{API}/users/1/friends", "/nope", "/api/v2/users", f"{API}/docs/nope.js"])
def test_unknown_urls_are_404_in_json(client, url):
    assert_error(client.get(url), 404)


@pytest.mark.parametrize("method, url", [("DELETE", f"{API}/users"), ("PUT", f"{API}/users/1"),
                                         ("DELETE", f"{API}/users/1/messages"), ("POST", f"{API}/me")])
def test_wrong_methods_are_405_with_allow(client, method, url):
    response = client.open(url, method=method)
    assert_error(response, 405, method)
    assert "GET" in response.headers["Allow"]


def test_head_is_answered_like_get_without_a_body(client, ada):
    response = client.head(f"{API}/users")
    assert response.status_code == 200 and response.data == b""


def test_a_bug_is_a_json_500_and_is_logged(app, client, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    body = assert_error(client.get("/boom"), 500)
    assert "a bug" not in body["message"]  # no internals for the client...
    assert "a bug" in caplog.text  # ...they are in the log


def test_rate_limit_is_429_in_json_with_retry_after(tmp_path):
    limited = new_app(tmp_path, RATE_LIMIT="3/minute").test_client()
    for _ in range(3):
        response = limited.get(f"{API}/users")
        assert response.status_code == 200 and "Retry-After" not in response.headers
    response = limited.get(f"{API}/users", headers={"Origin": "http://example.org"})
    assert_error(response, 429, "Retry-After")
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # a page can read why
    # Another client address has its own budget.
    assert limited.get(f"{API}/users", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200


# --- CORS, the web client, headers -----------------------------------------------------------------------


def test_cors_lets_any_page_call_the_api(client, ada):
    _, token = ada
    response = client.get(f"{API}/me", headers={**bearer(token), "Origin": "null"})  # a page opened from a file
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(f"{API}/users/1/messages", headers={
        "Origin": "http://localhost:5500",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    created = client.post(f"{API}/users", json={"name": "Cors"}, headers={"Origin": "http://localhost:5500"})
    assert "location" in created.headers["Access-Control-Expose-Headers"].lower()


def test_the_web_client_is_served_with_a_strict_policy(client):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for path, mimetype in [("/static/app.js", "javascript"), ("/static/style.css", "text/css")]:
        asset = client.get(path)
        assert asset.status_code == 200 and mimetype in asset.mimetype
        asset.close()
    response.close()


def test_the_web_client_never_turns_data_into_html(app):
    script = (app.root_path + "/static/app.js")
    with open(script, encoding="utf-8") as file:
        code = file.read()
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", code)
    assert "textContent" in code


def test_every_answer_is_json_or_a_file(client, ada):
    response = client.get(f"{API}/users")
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- concurrency and persistence -----------------------------------------------------------------------------


def test_two_registrations_of_one_name_at_once_give_one_account(app):
    results = []

    def attempt():
        results.append(app.test_client().post(f"{API}/users", json={"name": "Twin"}).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201] + [409] * 7


def test_data_survives_a_new_application_on_the_same_file(app, client, ada):
    user, token = ada
    send(client, token, user["id"], "still there?")
    again = new_app(app.config["DATABASE"].parent).test_client()
    assert again.get(f"{API}/users/{user['id']}/messages", headers=bearer(token)).json["items"][0]["text"] == "still there?"
