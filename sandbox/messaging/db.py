"""Where the messaging server keeps users and messages: one SQLite file.

Three rules hold for every function below:

* Values go into SQL as ``?`` parameters, never pasted into the SQL text. A
  name such as ``Robert'); DROP TABLE users;--`` is then just a name: SQLite
  receives the statement and the values separately, and never reads the
  values as SQL. (The f-strings below only join pieces of SQL written in
  this file, such as USER; no value from a client ever goes into them.)
* A write is one transaction, committed before the function returns. The
  connection is in autocommit mode (see connect()): a single INSERT, UPDATE
  or DELETE is a transaction of its own, committed by SQLite before
  ``execute()`` returns; a write of several statements uses ``with
  transaction(conn):``, all or nothing. The API answers only after the
  commit, so a client that got "201 Created" knows the message is in the file
  and survives a crash of the server (not a crash of the disk).
* Functions take an open connection and return plain dicts, ready for JSON.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from os import PathLike

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,  -- "Ada" and "ada" are the same name
    status      TEXT    NOT NULL DEFAULT '',
    token_hash  TEXT    NOT NULL UNIQUE,                 -- never the token itself: see token_hash()
    created_at  TEXT    NOT NULL                         -- ISO 8601, UTC
);
CREATE TABLE IF NOT EXISTS messages (
    -- AUTOINCREMENT: the id of a deleted message is never given to a new one,
    -- so "?since=<id>" and a saved Location keep their meaning.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id     INTEGER NOT NULL REFERENCES users (id),
    recipient_id  INTEGER NOT NULL REFERENCES users (id),
    text          TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    read          INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0, 1))
);
-- An inbox is read by recipient, newest (highest id) first: this index has
-- them in that order, so a page costs the same with 10 or 100,000 messages.
CREATE INDEX IF NOT EXISTS messages_by_recipient ON messages (recipient_id, id);
"""

USER = "SELECT id, name, status, created_at FROM users"
MESSAGE = """SELECT m.id, m.sender_id, s.name AS sender_name, m.recipient_id, m.text, m.created_at, m.read
FROM messages AS m JOIN users AS s ON s.id = m.sender_id"""


def connect(path: str | PathLike) -> sqlite3.Connection:
    """A new connection; the server opens one per thread (see app.database())."""
    # timeout: when another thread (or process) is writing, wait up to 10 s for
    # its commit instead of failing at once with "database is locked".
    # isolation_level=None: autocommit. Python's default instead starts a
    # transaction before the first INSERT and commits it at ``with conn:``'s
    # end: two calls, and between them this thread must wait for its turn to
    # run Python (the GIL) while it holds the file's write lock. Other threads
    # that want to write meanwhile sleep in SQLite's waiting loop, longer at
    # each try (1, 2, 5 ... 100 ms). With 100 clients sending at once that made
    # about 100 messages a second; with each write a single statement, done
    # and committed inside SQLite, about 900 (benchmarks/bench_messaging.py).
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row  # rows by column name: row["text"]
    conn.execute("PRAGMA foreign_keys = ON")  # off by default, for each new connection
    # How far a commit goes before it returns. With the write-ahead log (see
    # create()), NORMAL writes each commit to the log file, that is, hands it
    # to the operating system: it survives the server crashing or being
    # killed (kill -9), which the tests check, but the last commits may be
    # lost if the whole machine loses power. FULL would also wait for the disk
    # at each commit: about 3 ms, so at most some 300 messages per second.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def create(path: str | PathLike) -> None:
    """Create the tables if the file does not have them yet."""
    conn = connect(path)
    try:
        # Write-ahead log: readers no longer wait for a writer, nor the writer
        # for readers. The setting is stored in the file.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Several statements as one write: all committed at the end, or none if an exception leaves the block."""
    # IMMEDIATE takes the write lock now, before the first read: no other
    # writer can change what the block reads before it writes.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_token() -> str:
    """A fresh secret: 32 random bytes (256 bits) as 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps instead of a token.

    Someone who gets a copy of the file then holds hashes, which the API does
    not accept. A fast hash such as SHA-256 is enough here because a token is
    256 random bits: there is no way to find one faster than trying 2**256
    values. Passwords are different: people choose short, guessable ones, and
    a fast hash lets an attacker try billions of guesses per second. Store
    passwords with a slow, salted hash instead (hashlib.scrypt, argon2, bcrypt).
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_json(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "name": row["name"], "status": row["status"], "created_at": row["created_at"]}


def message_json(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"],
        "sender_id": row["sender_id"],
        "sender_name": row["sender_name"],
        "recipient_id": row["recipient_id"],
        "text": row["text"],
        "created_at": row["created_at"],
        "read": bool(row["read"]),  # stored as 0 or 1: SQLite has no boolean type
    }


# --- users -------------------------------------------------------------------


def add_user(conn: sqlite3.Connection, name: str) -> tuple[dict, str] | None:
    """Create a user: (user, token), or None if the name is taken."""
    token = new_token()
    try:
        cursor = conn.execute(
            "INSERT INTO users (name, token_hash, created_at) VALUES (?, ?, ?)",
            (name, token_hash(token), now()),
        )
    except sqlite3.IntegrityError:
        # The UNIQUE constraint, not an earlier SELECT, decides: two requests
        # for the same name at the same moment cannot both succeed.
        return None
    return get_user(conn, cursor.lastrowid), token


def add_users(conn: sqlite3.Connection, names: list[str]) -> list[tuple[dict, str]]:
    """Create the users among ``names`` that do not exist yet, in one transaction."""
    created = []
    with transaction(conn):
        for name in names:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                continue  # there already (the comparison ignores case: COLLATE NOCASE)
            token = new_token()
            cursor = conn.execute(
                "INSERT INTO users (name, token_hash, created_at) VALUES (?, ?, ?)",
                (name, token_hash(token), now()),
            )
            created.append((cursor.lastrowid, token))
    return [(get_user(conn, user_id), token) for user_id, token in created]


def get_user(conn: sqlite3.Connection, user_id: int) -> dict | None:
    row = conn.execute(f"{USER} WHERE id = ?", (user_id,)).fetchone()
    return user_json(row) if row else None


def user_by_token(conn: sqlite3.Connection, token: str) -> dict | None:
    # Looking the hash up (rather than comparing tokens character by character)
    # also means the time this takes tells an attacker nothing about how close
    # a guess was.
    row = conn.execute(f"{USER} WHERE token_hash = ?", (token_hash(token),)).fetchone()
    return user_json(row) if row else None


def find_users(conn: sqlite3.Connection, name_part: str, limit: int, offset: int) -> tuple[list[dict], int]:
    """A page of users whose name contains ``name_part`` (all if empty), by name; and their number."""
    # instr() looks for the text as it is, while LIKE would treat % and _ in
    # it as wildcards. lower() ignores the case of A-Z only.
    matches = "? = '' OR instr(lower(name), lower(?)) > 0"
    total = conn.execute(f"SELECT count(*) FROM users WHERE {matches}", (name_part, name_part)).fetchone()[0]
    rows = conn.execute(
        f"{USER} WHERE {matches} ORDER BY name, id LIMIT ? OFFSET ?",
        (name_part, name_part, limit, offset),
    ).fetchall()
    return [user_json(row) for row in rows], total


def set_status(conn: sqlite3.Connection, user_id: int, status: str) -> dict:
    conn.execute("UPDATE users SET status = ? WHERE id = ?", (status, user_id))
    return get_user(conn, user_id)


# --- messages ----------------------------------------------------------------


def add_message(conn: sqlite3.Connection, sender_id: int, recipient_id: int, text: str) -> dict:
    cursor = conn.execute(
        "INSERT INTO messages (sender_id, recipient_id, text, created_at) VALUES (?, ?, ?, ?)",
        (sender_id, recipient_id, text, now()),
    )
    return get_message(conn, recipient_id, cursor.lastrowid)


def get_message(conn: sqlite3.Connection, recipient_id: int, message_id: int) -> dict | None:
    row = conn.execute(f"{MESSAGE} WHERE m.id = ? AND m.recipient_id = ?", (message_id, recipient_id)).fetchone()
    return message_json(row) if row else None


def inbox(
    conn: sqlite3.Connection, recipient_id: int, *, unread_only: bool, since: int, limit: int, offset: int
) -> tuple[list[dict], int]:
    """A page of the messages to ``recipient_id``, newest first; and their number.

    ``unread_only`` keeps the unread ones; ``since`` the ones with a larger id
    (sent after that message), which is how a client asks "anything new?".
    """
    matches = "m.recipient_id = ? AND (m.read = 0 OR NOT ?) AND m.id > ?"
    parameters = (recipient_id, unread_only, since)
    total = conn.execute(f"SELECT count(*) FROM messages AS m WHERE {matches}", parameters).fetchone()[0]
    rows = conn.execute(
        f"{MESSAGE} WHERE {matches} ORDER BY m.id DESC LIMIT ? OFFSET ?", (*parameters, limit, offset)
    ).fetchall()
    return [message_json(row) for row in rows], total


def set_read(conn: sqlite3.Connection, recipient_id: int, message_id: int, read: bool) -> dict:
    conn.execute("UPDATE messages SET read = ? WHERE id = ?", (read, message_id))
    return get_message(conn, recipient_id, message_id)


def delete_message(conn: sqlite3.Connection, message_id: int) -> None:
    conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
