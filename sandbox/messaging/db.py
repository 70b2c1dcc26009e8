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

-- What live subscribers are told (see live.py): one row per event and per
-- user it concerns (user_id NULL: everyone). The triggers below write them,
-- inside the very statement that changes a message or a status: the change
-- and its event are committed together, or not at all, and each write stays
-- one statement (see connect() for why that matters).
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a client resumes "after event N"
    type        TEXT    NOT NULL,                   -- message, read, status, reset
    user_id     INTEGER,                            -- whose event it is; NULL: everyone's
    data        TEXT    NOT NULL,                   -- JSON, as the client receives it
    created_at  TEXT    NOT NULL
);
-- What the instructor's dashboard shows: when each student was last seen, and
-- when the server first saw them do each step of the capstone.
CREATE TABLE IF NOT EXISTS activity (
    user_id          INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_request_at  TEXT,
    status_at        TEXT,
    read_at          TEXT,
    live_at          TEXT
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TRIGGER IF NOT EXISTS message_event AFTER INSERT ON messages BEGIN
    INSERT INTO events (type, user_id, data, created_at)
    SELECT 'message', who, json_object(
        'id', NEW.id, 'sender_id', NEW.sender_id,
        'sender_name', (SELECT name FROM users WHERE id = NEW.sender_id),
        'recipient_id', NEW.recipient_id, 'text', NEW.text, 'created_at', NEW.created_at,
        'read', json(CASE WHEN NEW.read THEN 'true' ELSE 'false' END)), NEW.created_at
    FROM (SELECT NEW.recipient_id AS who UNION SELECT NEW.sender_id);  -- UNION: once if sent to oneself
END;
CREATE TRIGGER IF NOT EXISTS read_event AFTER UPDATE OF read ON messages WHEN NEW.read != OLD.read BEGIN
    INSERT INTO events (type, user_id, data, created_at)
    SELECT 'read', who, json_object('id', NEW.id, 'sender_id', NEW.sender_id, 'recipient_id', NEW.recipient_id,
                                    'read', json(CASE WHEN NEW.read THEN 'true' ELSE 'false' END)), NOW
    FROM (SELECT NEW.recipient_id AS who UNION SELECT NEW.sender_id);
    INSERT INTO activity (user_id, read_at) SELECT NEW.recipient_id, NOW WHERE NEW.read
    ON CONFLICT (user_id) DO UPDATE SET read_at = coalesce(read_at, excluded.read_at);
END;
CREATE TRIGGER IF NOT EXISTS status_event AFTER UPDATE OF status ON users BEGIN
    INSERT INTO events (type, user_id, data, created_at)
    VALUES ('status', NULL, json_object('id', NEW.id, 'name', NEW.name, 'status', NEW.status,
                                        'created_at', NEW.created_at), NOW);
    INSERT INTO activity (user_id, status_at) VALUES (NEW.id, NOW)
    ON CONFLICT (user_id) DO UPDATE SET status_at = coalesce(status_at, excluded.status_at);
END;
""".replace("NOW", "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')")  # the format of now() below

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


# --- events, for live subscribers (live.py) ------------------------------------


def last_event_id(conn: sqlite3.Connection) -> int:
    """The id of the latest event (0 if none yet)."""
    # sqlite_sequence holds AUTOINCREMENT's counter: right even when the events were pruned.
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return row[0] if row else 0


def events_after(conn: sqlite3.Connection, after: int, user_id: int | None = None, limit: int = 500) -> list[dict]:
    """The events with an id above ``after``, oldest first: all of them, or those of ``user_id`` (and everyone's).

    Ids grow in the order the events were committed, because SQLite lets one
    writer at a time commit, and gives the next id inside that writer's
    transaction: a reader that saw event N has seen all the events before it.
    That is what makes "give me what came after N" miss nothing. (In a
    database with concurrent writers, such as PostgreSQL, a sequence's ids
    may become visible out of order.)
    """
    rows = conn.execute(
        "SELECT id, type, user_id, data FROM events WHERE id > ? AND (? IS NULL OR user_id = ? OR user_id IS NULL) "
        "ORDER BY id LIMIT ?", (after, user_id, user_id, limit),
    ).fetchall()
    return [dict(row) for row in rows]


def first_event_id(conn: sqlite3.Connection) -> int | None:
    """The oldest event still kept, or None."""
    return conn.execute("SELECT min(id) FROM events").fetchone()[0]


def prune_events(conn: sqlite3.Connection, seconds: int) -> None:
    """Forget the events older than ``seconds``: a client away longer reloads everything."""
    conn.execute("DELETE FROM events WHERE created_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?)", (f"-{seconds} seconds",))


# --- the instructor's view (dashboard.py) -----------------------------------------


def setting(conn: sqlite3.Connection, key: str, default: str) -> str:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (key, value))


def record_requests(conn: sqlite3.Connection, last_seen: dict[int, str]) -> None:
    """When each user was last seen: {user id: time}, kept in memory by each process and written now and then."""
    with transaction(conn):
        conn.executemany(
            "INSERT INTO activity (user_id, last_request_at) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?) "
            "ON CONFLICT (user_id) DO UPDATE SET last_request_at = max(coalesce(last_request_at, ''), excluded.last_request_at)",
            [(user_id, at, user_id) for user_id, at in last_seen.items()],
        )


def record_live(conn: sqlite3.Connection, user_id: int) -> None:
    """The first time ``user_id`` subscribed to live events."""
    conn.execute("INSERT INTO activity (user_id, live_at) VALUES (?, ?) "
                 "ON CONFLICT (user_id) DO UPDATE SET live_at = coalesce(live_at, excluded.live_at)", (user_id, now()))


def roster(conn: sqlite3.Connection) -> list[dict]:
    """Every user, by name, with what the dashboard shows of them."""
    rows = conn.execute("""
        SELECT u.id, u.name, u.status, u.created_at, a.last_request_at, a.status_at, a.read_at, a.live_at,
               (SELECT count(*) FROM messages WHERE sender_id = u.id) AS sent,
               (SELECT min(created_at) FROM messages WHERE sender_id = u.id) AS sent_at,
               (SELECT count(*) FROM messages WHERE recipient_id = u.id) AS received
        FROM users AS u LEFT JOIN activity AS a ON a.user_id = u.id
        ORDER BY u.name, u.id""").fetchall()
    return [{
        **user_json(row), "last_request_at": row["last_request_at"], "sent": row["sent"], "received": row["received"],
        # The capstone's steps, each with when the server first saw it (null: not yet).
        "steps": {"registered": row["created_at"], "status": row["status_at"], "sent": row["sent_at"],
                  "read": row["read_at"], "live": row["live_at"]},
    } for row in rows]


def new_tokens(conn: sqlite3.Connection) -> list[tuple[dict, str]]:
    """A new token for every user (their old one stops working): [(user, token)]."""
    users = [user_json(row) for row in conn.execute(f"{USER} ORDER BY name, id")]
    tokens = [new_token() for _ in users]
    with transaction(conn):
        conn.executemany("UPDATE users SET token_hash = ? WHERE id = ?",
                         [(token_hash(token), user["id"]) for user, token in zip(users, tokens)])
    return list(zip(users, tokens))


def reset_class(conn: sqlite3.Connection) -> None:
    """Delete every message and status and what the dashboard saw; keep the accounts (and their tokens)."""
    with transaction(conn):
        conn.execute("DELETE FROM messages")
        conn.execute("UPDATE users SET status = '' WHERE status != ''")  # (its trigger writes events: deleted next)
        conn.execute("DELETE FROM events")
        conn.execute("DELETE FROM activity")
        # Whoever is subscribed reloads: their page no longer matches the server.
        conn.execute("INSERT INTO events (type, user_id, data, created_at) VALUES ('reset', NULL, '{}', ?)", (now(),))
