"""The messaging server's SQLite layer (sandbox/messaging/db.py): when writes are committed."""

from __future__ import annotations

import pytest

from sandbox.messaging import db


@pytest.fixture
def two_connections(tmp_path):
    """Two connections to one new database, as two threads (or processes) of the server have."""
    path = tmp_path / "messages.sqlite3"
    db.create(path)
    first, second = db.connect(path), db.connect(path)
    yield first, second
    first.close()
    second.close()


def names(conn) -> list[str]:
    return [row["name"] for row in conn.execute("SELECT name FROM users ORDER BY id")]


def test_each_write_is_committed_when_the_function_returns(two_connections):
    first, second = two_connections
    (ada, _), (bob, _) = db.add_user(first, "Ada"), db.add_user(first, "Bob")
    message = db.add_message(first, ada["id"], bob["id"], "hello")
    assert not first.in_transaction  # nothing left open, holding the write lock
    # Another connection sees it all at once: it is in the file.
    assert names(second) == ["Ada", "Bob"]
    assert db.get_message(second, bob["id"], message["id"])["text"] == "hello"
    db.set_read(first, bob["id"], message["id"], True)
    assert db.get_message(second, bob["id"], message["id"])["read"] is True
    db.delete_message(first, message["id"])
    assert db.get_message(second, bob["id"], message["id"]) is None


def test_a_transaction_is_all_or_nothing(two_connections):
    first, second = two_connections
    with pytest.raises(RuntimeError):
        with db.transaction(first):
            first.execute("INSERT INTO users (name, token_hash, created_at) VALUES ('Ada', 'x', 'now')")
            raise RuntimeError("something failed half-way")
    assert names(second) == [] and not first.in_transaction

    with db.transaction(first):
        first.execute("INSERT INTO users (name, token_hash, created_at) VALUES ('Ada', 'x', 'now')")
        assert names(second) == []  # not yet committed: others do not see it
    assert names(second) == ["Ada"]


def test_add_users_skips_the_names_taken_ignoring_case(two_connections):
    first, second = two_connections
    db.add_user(first, "Ada")
    created = db.add_users(first, ["ada", "Bob", "Carol"])
    assert [user["name"] for user, _ in created] == ["Bob", "Carol"]
    assert names(second) == ["Ada", "Bob", "Carol"]
