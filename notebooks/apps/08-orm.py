"""The messaging server's two tables as SQLAlchemy 2.0 models (chapter 08, "Beyond raw SQL").

sandbox/messaging/db.py writes its SQL by hand: the schema in one string, each query in its
function. Here the same tables are Python classes, and SQLAlchemy writes the SQL. The models
describe the tables that db.py's SCHEMA creates, with the same columns, NOT NULL and UNIQUE
constraints, collation, defaults, foreign keys and index, so the ORM reads and writes a database
that the server made, beside db.py's own functions. tests/test_orm_example.py compares the two.
What differs is only declared, not done: each ``id`` says NOT NULL here (in SQLite an INTEGER
PRIMARY KEY never holds NULL anyway), and messages.read is BOOLEAN here, INTEGER in db.py (SQLite
stores 0 or 1 either way; the ORM gives them back as False or True).

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    engine = create_engine("sqlite:///messages.sqlite3")
    with Session(engine) as session, queries(engine) as sent:
        for user in session.scalars(select(User).order_by(User.name)):
            print(user.name, len(user.inbox))     # user.inbox: one more query for each user
    print(len(sent), "queries")                   # 1 + the number of users

The one migration beside this file, 08-migrations/versions/0001_users_email.py, adds a column to
``users``; it is not in ``User`` below, which stays the table that db.py creates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import Boolean, Engine, ForeignKey, Index, Text, event
from sqlalchemy import text as sql  # not to be confused with the column Message.text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def now() -> str:
    """The time as db.py stores it: ISO 8601 text, UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Base(DeclarativeBase):
    type_annotation_map = {str: Text}  # Mapped[str] is a TEXT column, as in db.py


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text(collation="NOCASE"), unique=True)
    status: Mapped[str] = mapped_column(default="", server_default="")
    token_hash: Mapped[str] = mapped_column(unique=True)  # never the token itself
    created_at: Mapped[str] = mapped_column(default=now)  # text, as db.py writes it
    inbox: Mapped[list[Message]] = relationship(
        back_populates="recipient", foreign_keys="Message.recipient_id", order_by="Message.id.desc()")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("messages_by_recipient", "recipient_id", "id"),  # an inbox, in id order
        {"sqlite_autoincrement": True},  # a deleted message's id is never given again
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str]
    created_at: Mapped[str] = mapped_column(default=now)
    # Stored as 0 or 1 (SQLite has no boolean type), read back as False or True.
    read: Mapped[bool] = mapped_column(Boolean(create_constraint=True), default=False, server_default=sql("0"))

    sender: Mapped[User] = relationship(foreign_keys=[sender_id])
    recipient: Mapped[User] = relationship(foreign_keys=[recipient_id], back_populates="inbox")


@contextmanager
def queries(engine: Engine) -> Iterator[list[str]]:
    """The SQL of every statement that ``engine`` sends to the database inside the block, in
    order, each on one line. ``create_engine(url, echo=True)`` logs them too, with their values."""
    sent: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
