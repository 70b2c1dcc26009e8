"""Chapter 08: a few tests of the messaging API, as you would write them for your own.

    python -m pytest notebooks/apps/08-test_api.py -q     (in a terminal, in the course folder)

Each test gets a fresh application with its own database file, through the
test client: no server, no port, a few milliseconds per request.
"""

import pytest

from sandbox.messaging.app import create_app


@pytest.fixture
def client(tmp_path):  # tmp_path: a new empty folder for each test, from pytest
    app = create_app({"DATABASE": tmp_path / "test.sqlite3", "TESTING": True})
    return app.test_client()


def register(client, name):
    response = client.post("/api/v1/users", json={"name": name})
    assert response.status_code == 201
    return response.json["user"], response.json["token"]


def test_register_then_read_back(client):
    user, token = register(client, "Ada")
    assert client.get(f"/api/v1/users/{user['id']}").json == user
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json == user


def test_a_name_is_taken_whatever_its_case(client):
    register(client, "Ada")
    response = client.post("/api/v1/users", json={"name": "ADA"})
    assert response.status_code == 409 and response.json["error"] == "Conflict"


def test_no_token_is_401_and_someone_elses_is_403(client):
    ada, _ = register(client, "Ada")
    _, bob_token = register(client, "Bob")
    inbox = f"/api/v1/users/{ada['id']}/messages"
    assert client.get(inbox).status_code == 401
    assert client.get(inbox, headers={"Authorization": f"Bearer {bob_token}"}).status_code == 403


@pytest.mark.parametrize("name", ["' OR '1'='1", "Robert'); DROP TABLE users;--"])
def test_sql_in_a_name_is_only_text(client, name):
    user, _ = register(client, name)
    assert client.get(f"/api/v1/users/{user['id']}").json["name"] == name
    assert client.get("/api/v1/users").json["total"] == 1
