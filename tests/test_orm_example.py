"""Chapter 08's ORM and migration (notebooks/apps/08-orm.py, notebooks/apps/08-migrations/).

The models against the messaging server's own schema (sandbox/messaging/db.py): the same tables,
the same rows whichever side writes them, names unique whatever their case. The queries the ORM
sends: 1 + N when each user's inbox loads lazily, 2 with selectinload (3 past 500 users). The
one migration, through Alembic's Python API as the chapter runs it: upgrade, downgrade, upgrade
again, rows kept, alembic_version as it should be; and its SQL printed without running it.
"""

from __future__ import annotations

import importlib.util
import io
import sqlite3
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

import sandbox.messaging.db as db

APPS = Path(__file__).resolve().parent.parent / "notebooks" / "apps"
ORM_FILE = APPS / "08-orm.py"
MIGRATIONS = APPS / "08-migrations"
COLUMNS = ["id", "name", "status", "token_hash", "created_at"]


@pytest.fixture(scope="module")
def orm():
    spec = importlib.util.spec_from_file_location("orm_08", ORM_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # SQLAlchemy reads the annotations in the module's namespace
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture
def server_db(tmp_path):
    """A database made by the messaging server's own code: (its path, a sqlite3 connection)."""
    path = tmp_path / "messages.sqlite3"
    db.create(path)
    conn = db.connect(path)
    yield path, conn
    conn.close()


@pytest.fixture
def engine(server_db):
    engine = create_engine(f"sqlite:///{server_db[0]}")
    yield engine
    engine.dispose()


def migrations(path: Path, **options) -> Config:
    """The chapter's Alembic settings, for the database at ``path``."""
    config = Config(**options)
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    return config


def structure(path: Path) -> dict:
    """What SQLite does with the tables of ``path``: columns, keys, indexes, collations, checks."""
    conn = sqlite3.connect(path)
    try:
        found = {}
        for table in ("users", "messages"):
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
            columns = [(name, kind, bool(notnull) or bool(pk), default, pk)
                       for _cid, name, kind, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})")]
            indexes = {}
            for _seq, index, unique, _origin, _partial in conn.execute(f"PRAGMA index_list({table})"):
                keys = [(name, collation) for _n, _cid, name, _desc, collation, key
                        in conn.execute(f"PRAGMA index_xinfo({index})") if key]
                indexes[index if not index.startswith("sqlite_autoindex") else tuple(keys)] = (bool(unique), keys)
            foreign = sorted((row[3], row[2], row[4]) for row in conn.execute(f"PRAGMA foreign_key_list({table})"))
            found[table] = {"columns": columns, "indexes": indexes, "foreign keys": foreign,
                            "autoincrement": "AUTOINCREMENT" in sql, "check read": "CHECK (read IN (0, 1))" in sql}
        return found
    finally:
        conn.close()


# --- the models and db.py's schema --------------------------------------------------------


def test_the_models_make_the_tables_that_db_py_makes(orm, tmp_path):
    db.create(tmp_path / "server.sqlite3")
    orm_engine = create_engine(f"sqlite:///{tmp_path / 'orm.sqlite3'}")
    orm.Base.metadata.create_all(orm_engine)
    orm_engine.dispose()
    server, mapped = structure(tmp_path / "server.sqlite3"), structure(tmp_path / "orm.sqlite3")
    # The one type that differs: read is INTEGER in db.py, BOOLEAN for the ORM; both hold 0 or 1.
    read = [c for c in mapped["messages"]["columns"] if c[0] == "read"][0]
    assert read[1] == "BOOLEAN"
    mapped["messages"]["columns"] = [c if c[0] != "read" else ("read", "INTEGER", *c[2:])
                                     for c in mapped["messages"]["columns"]]
    assert mapped == server
    assert [c[0] for c in server["users"]["columns"]] == COLUMNS
    assert server["users"]["indexes"][(("name", "NOCASE"),)] == (True, [("name", "NOCASE")])
    assert server["messages"]["indexes"]["messages_by_recipient"] == (False, [("recipient_id", "BINARY"),
                                                                             ("id", "BINARY")])
    assert server["messages"]["autoincrement"] and server["messages"]["check read"]


def test_alembic_sees_only_declared_differences(orm, server_db, engine):
    """What autogenerate would write for db.py's database: nothing SQLite would do differently."""
    with engine.connect() as connection:
        changes = compare_metadata(MigrationContext.configure(connection), orm.Base.metadata)
    # The tables of the server's live events and dashboard (events, activity, settings) are not modelled.
    changes = [change for change in changes
               if not (change[0] == "remove_table" and change[1].name in {"events", "activity", "settings"})]
    summary = sorted((change[0][0], change[0][2], change[0][3]) for change in changes)
    # An INTEGER PRIMARY KEY is never NULL in SQLite, declared NOT NULL or not; 0/1 either way.
    assert summary == [("modify_nullable", "messages", "id"), ("modify_nullable", "users", "id"),
                       ("modify_type", "messages", "read")]


def test_the_orm_reads_what_db_py_wrote_and_db_py_what_the_orm_wrote(orm, server_db, engine):
    _, conn = server_db
    ada, _ = db.add_user(conn, "Ada")
    first = db.add_message(conn, ada["id"], ada["id"], "a note to myself")
    with Session(engine) as session:
        bob = orm.User(name="Bob", token_hash=db.token_hash(db.new_token()))
        session.add(bob)
        session.flush()
        session.add(orm.Message(sender_id=bob.id, recipient_id=ada["id"], text="Hi Ada!"))
        session.commit()
        users = session.scalars(select(orm.User).order_by(orm.User.name)).all()
        assert [(u.id, u.name, u.status) for u in users] == [(ada["id"], "Ada", ""), (2, "Bob", "")]
        assert [(m.text, m.sender.name, m.read) for m in users[0].inbox] == [("Hi Ada!", "Bob", False),
                                                                           ("a note to myself", "Ada", False)]
        assert users[0].inbox[1].read is False and users[0].inbox[1].created_at == first["created_at"]
    items, total = db.inbox(conn, ada["id"], unread_only=False, since=0, limit=10, offset=0)
    assert total == 2 and [(m["text"], m["sender_name"], m["read"]) for m in items] == [
        ("Hi Ada!", "Bob", False), ("a note to myself", "Ada", False)]
    assert db.get_user(conn, 2)["created_at"] == users[1].created_at and users[1].created_at.endswith("Z")
    db.set_read(conn, ada["id"], first["id"], True)
    with Session(engine) as session:
        assert session.get(orm.Message, first["id"]).read is True
    assert conn.execute("SELECT read FROM messages WHERE id = ?", (first["id"],)).fetchone()[0] == 1


def test_names_are_unique_whatever_their_case_in_tables_the_orm_makes(orm, tmp_path):
    orm_engine = create_engine(f"sqlite:///{tmp_path / 'orm.sqlite3'}")
    orm.Base.metadata.create_all(orm_engine)
    with Session(orm_engine) as session:
        session.add(orm.User(name="Ada", token_hash="1"))
        session.commit()
        session.add(orm.User(name="ada", token_hash="2"))
        with pytest.raises(IntegrityError, match="UNIQUE constraint failed: users.name"):
            session.commit()
    orm_engine.dispose()


# --- the queries it sends -----------------------------------------------------------------


def add_users_with_a_message(conn, count: int) -> None:
    with db.transaction(conn):
        for i in range(count):
            user_id = conn.execute("INSERT INTO users (name, token_hash, created_at) VALUES (?, ?, ?)",
                                   (f"user-{i}", f"hash-{i}", db.now())).lastrowid
            conn.execute("INSERT INTO messages (sender_id, recipient_id, text, created_at) VALUES (?, ?, ?, ?)",
                         (user_id, user_id, "hello", db.now()))


def inbox_sizes(orm, engine, *options) -> tuple[dict, list[str]]:
    with orm.queries(engine) as sent, Session(engine) as session:
        users = session.scalars(select(orm.User).order_by(orm.User.id).options(*options))
        return {user.name: len(user.inbox) for user in users}, sent


def test_lazy_inboxes_take_one_query_per_user_and_selectinload_two(orm, server_db, engine):
    add_users_with_a_message(server_db[1], 5)
    lazily, lazy = inbox_sizes(orm, engine)
    eagerly, eager = inbox_sizes(orm, engine, selectinload(orm.User.inbox))
    assert lazily == eagerly == {f"user-{i}": 1 for i in range(5)}
    assert len(lazy) == 6 and lazy[0].startswith("SELECT users.id, users.name")
    assert lazy[0].endswith("FROM users ORDER BY users.id")
    assert all(q == "SELECT messages.id, messages.sender_id, messages.recipient_id, messages.text, "
               "messages.created_at, messages.read FROM messages WHERE ? = messages.recipient_id "
               "ORDER BY messages.id DESC" for q in lazy[1:])
    assert len(eager) == 2 and eager[0] == lazy[0]
    assert eager[1].endswith("WHERE messages.recipient_id IN (?, ?, ?, ?, ?) ORDER BY messages.id DESC")


def test_selectinload_sends_the_ids_500_at_a_time(orm, server_db, engine):
    """The chapter's "2 queries for up to 500 users": 501 take 3."""
    add_users_with_a_message(server_db[1], 500)
    assert len(inbox_sizes(orm, engine, selectinload(orm.User.inbox))[1]) == 2
    db.add_user(server_db[1], "one more")
    sizes, sent = inbox_sizes(orm, engine, selectinload(orm.User.inbox))
    assert len(sizes) == 501 and len(sent) == 3 and sizes["one more"] == 0


def test_queries_records_inside_its_block_only(orm, engine):
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        with orm.queries(engine) as sent:
            connection.exec_driver_sql("SELECT  2\n  AS two")
        connection.exec_driver_sql("SELECT 3")
    assert sent == ["SELECT 2 AS two"]


# --- the migration ------------------------------------------------------------------------


def columns(conn) -> list[str]:
    return [name for (name,) in conn.execute("SELECT name FROM pragma_table_info('users')")]


def versions(conn) -> list[str]:
    return [version for (version,) in conn.execute("SELECT version_num FROM alembic_version")]


def test_one_migration_first_of_its_line():
    scripts = ScriptDirectory.from_config(migrations(Path("unused.sqlite3")))
    assert scripts.get_heads() == ["0001"] and scripts.get_bases() == ["0001"]
    revision = scripts.get_revision("0001")
    assert revision.down_revision is None and revision.doc.startswith("Add users.email")
    assert sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py")) == ["0001_users_email.py"]


def test_upgrade_downgrade_upgrade_keeps_the_rows(server_db):
    path, conn = server_db
    ada, _ = db.add_user(conn, "Ada")
    db.add_message(conn, ada["id"], ada["id"], "kept")
    config = migrations(path)
    assert columns(conn) == COLUMNS

    command.upgrade(config, "head")
    assert columns(conn) == COLUMNS + ["email"] and versions(conn) == ["0001"]
    assert [tuple(row) for row in conn.execute("SELECT name, email FROM users")] == [("Ada", None)]
    conn.execute("UPDATE users SET email = 'ada@example.org'")

    command.downgrade(config, "base")
    assert columns(conn) == COLUMNS and versions(conn) == []
    assert db.get_user(conn, ada["id"]) == ada
    assert [tuple(row) for row in conn.execute("SELECT text FROM messages")] == [("kept",)]

    command.upgrade(config, "head")
    assert columns(conn) == COLUMNS + ["email"] and versions(conn) == ["0001"]
    # The column was dropped, and its values with it.
    assert [tuple(row) for row in conn.execute("SELECT name, email FROM users")] == [("Ada", None)]
    command.upgrade(config, "head")  # at head already: nothing to do
    assert versions(conn) == ["0001"]


def test_the_migration_runs_on_tables_the_orm_made_too(orm, tmp_path):
    path = tmp_path / "orm.sqlite3"
    orm_engine = create_engine(f"sqlite:///{path}")
    orm.Base.metadata.create_all(orm_engine)
    orm_engine.dispose()
    command.upgrade(migrations(path), "head")
    conn = sqlite3.connect(path)
    try:
        assert columns(conn) == COLUMNS + ["email"] and versions(conn) == ["0001"]
    finally:
        conn.close()
    command.downgrade(migrations(path), "base")


def test_the_sql_of_the_migration_without_running_it(server_db):
    """Offline mode (`alembic upgrade head --sql`): env.py prints the SQL; the database stays as it was."""
    path, conn = server_db
    printed = io.StringIO()
    command.upgrade(migrations(path, output_buffer=printed), "head", sql=True)
    sql = printed.getvalue()
    assert "ALTER TABLE users ADD COLUMN email TEXT;" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert columns(conn) == COLUMNS
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'").fetchone()[0] == 0
