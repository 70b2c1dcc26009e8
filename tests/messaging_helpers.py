"""Shared helpers for the tests of the messaging server (tests/test_messaging_*.py).

Most tests talk to the Flask application in this process, through Flask's
test client: no socket, no thread, a few milliseconds per request. The tests
that need a real server (durability, the browser, the command line) start one
with sandbox.launch().
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from sandbox.messaging.app import create_app


def new_app(folder: Path, **config) -> Flask:
    """A fresh application with its own database file in ``folder`` (no rate limit unless given)."""
    return create_app({"DATABASE": folder / "messages.sqlite3", "TESTING": True, **config})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def register(client, name: str) -> tuple[dict, str]:
    """Create user ``name``: (the user, their token)."""
    response = client.post("/api/v1/users", json={"name": name})
    assert response.status_code == 201, response.json
    return response.json["user"], response.json["token"]


def send(client, token: str, recipient_id: int, text: str) -> dict:
    response = client.post(f"/api/v1/users/{recipient_id}/messages", json={"text": text}, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def assert_error(response, status: int, *words: str) -> dict:
    """The course's error shape, with this status, and a message mentioning these words."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert body["status"] == status
    assert set(body) <= {"status", "error", "message", "details"}
    assert isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word.lower() in body["message"].lower(), body["message"]
    return body
