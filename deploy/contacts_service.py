"""The contacts service, ready to leave your laptop (chapter 10, Deployment).

A small REST API over an address book, with what a service needs in production:

- its settings come from the environment (``DATABASE_URL``, ``LOG_LEVEL``,
  ``TRUSTED_PROXIES``), never from the code: see ``Settings``;
- the contacts live in PostgreSQL when ``DATABASE_URL`` is set (psycopg 3,
  parametrized queries), in memory otherwise;
- at start-up, an unreachable database is retried a few times, then the
  service fails loudly (and systemd or Docker restarts it): see ``connect``;
- one structured log line (JSON) per request, on standard error;
- ``GET /healthz`` checks the service *and its database*, for Docker, systemd and nginx.

Routes: ``GET /api/contacts``, ``GET /api/contacts/<name>``, ``POST /api/contacts``
(``{"name": ..., "email": ..., "phone": ...}``), ``GET /healthz``.

Serve it with a production server, through ``wsgi.py``:  ``gunicorn --workers 3 wsgi:app``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger("contacts")

SEED = [
    {"name": "Ada", "email": "ada@example.org", "phone": "+44 20 7946 0001"},
    {"name": "Alan", "email": "alan@example.org", "phone": None},
    {"name": "Grace", "email": "grace@example.org", "phone": "+1 202 555 0104"},
]
MAX_FIELD = 200  # characters in a name, email or phone, as in the sandbox's contacts server
TABLE = "netcourse_contacts"  # a name of our own: DATABASE_URL may point at a database shared with others


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Everything that changes between your laptop, the test suite and production."""

    database_url: str | None = None  # postgresql://USER:PASSWORD@HOST:5432/DB; None: in memory
    log_level: str = "INFO"
    trusted_proxies: int = 0  # reverse proxies (nginx) in front of us, whose X-Forwarded-* we believe

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings":
        """The settings from environment variables, with defaults; a bad value stops the start."""
        proxies = environ.get("TRUSTED_PROXIES", "0")
        if not proxies.isdigit():
            raise ValueError(f"TRUSTED_PROXIES must be a whole number (0, 1...), not {proxies!r}")
        level = environ.get("LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
        return cls(environ.get("DATABASE_URL") or None, level, int(proxies))

    def __repr__(self) -> str:  # settings end up in logs: never show a password there
        return (f"Settings(database_url={hide_password(self.database_url)!r}, "
                f"log_level={self.log_level!r}, trusted_proxies={self.trusted_proxies})")


def hide_password(url: str | None) -> str | None:
    """``postgresql://app:s3cret@db/contacts`` -> ``postgresql://app:***@db/contacts``."""
    return url and re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


# --------------------------------------------------------------------------- storage


class Conflict(ValueError):
    """The name is taken already."""


class MemoryStore:
    """The contacts in a dictionary: lost at every restart, and each gunicorn
    worker process has its own copy. Fine for a demo, not for production."""

    def __init__(self, contacts=SEED):
        self.contacts = {c["name"]: dict(c) for c in contacts}

    def all(self) -> list[dict]:
        return [self.contacts[name] for name in sorted(self.contacts)]

    def get(self, name: str) -> dict | None:
        return self.contacts.get(name)

    def add(self, contact: dict) -> None:
        if contact["name"] in self.contacts:
            raise Conflict(contact["name"])
        self.contacts[contact["name"]] = contact

    def check(self) -> str:
        return "in memory"


def connect(url: str, attempts: int = 5, delay: float = 0.5, **options):
    """A psycopg connection to ``url``, trying ``attempts`` times at most.

    Only ``OperationalError`` is retried: the server is down, starting or out of
    reach, and waiting may help. Anything else (a wrong option, a bug) is raised
    at once: waiting would not fix it. Each failure is logged; the last one is raised.
    """
    import psycopg  # imported here: the in-memory service runs without it

    for attempt in range(1, attempts + 1):
        try:
            return psycopg.connect(url, connect_timeout=3, **options)
        except psycopg.OperationalError as error:
            if attempt == attempts:
                raise
            log.warning("database unreachable (attempt %d of %d): %s; retrying in %.2f s",
                        attempt, attempts, str(error).strip(), delay)
            time.sleep(delay)
            delay *= 2  # back off: do not hammer a server that is struggling


class PostgresStore:
    """The contacts in a PostgreSQL table, through psycopg 3.

    Every query passes the values separately from the SQL text (``%s``,
    ``%(name)s``): psycopg sends them apart, so a value can never change the
    query, whatever quotes it contains. Never build SQL with f-strings.

    One connection per request keeps this short; a real service keeps a pool of
    open connections instead (``psycopg_pool.ConnectionPool``), opened in each
    worker process after gunicorn has forked it.
    """

    def __init__(self, url: str):
        from psycopg.rows import dict_row

        self.url, self.rows = url, dict_row
        with connect(url) as conn:  # at start-up: bounded retry, then fail loudly
            conn.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                                 name  text PRIMARY KEY CHECK (name <> ''),
                                 email text,
                                 phone text)""")
            if conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 0:
                with conn.cursor() as cursor:
                    cursor.executemany(f"INSERT INTO {TABLE} VALUES (%(name)s, %(email)s, %(phone)s) "
                                       "ON CONFLICT DO NOTHING", SEED)
        # Leaving the `with` block commits, then closes the connection.

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, connect_timeout=3, row_factory=self.rows)

    def all(self) -> list[dict]:
        with self._connect() as conn:
            return conn.execute(f"SELECT name, email, phone FROM {TABLE} ORDER BY name").fetchall()

    def get(self, name: str) -> dict | None:
        with self._connect() as conn:
            return conn.execute(f"SELECT name, email, phone FROM {TABLE} WHERE name = %s", (name,)).fetchone()

    def add(self, contact: dict) -> None:
        import psycopg

        try:
            with self._connect() as conn:
                conn.execute(f"INSERT INTO {TABLE} (name, email, phone) VALUES (%(name)s, %(email)s, %(phone)s)",
                             contact)
        except psycopg.errors.UniqueViolation:
            raise Conflict(contact["name"]) from None

    def check(self) -> str:
        with self._connect() as conn:
            conn.execute("SELECT 1")
        return "ok"


# --------------------------------------------------------------------------- logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to search, filter and count, by people and programs."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)  # systemd's journal and Docker collect it
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]  # create_app() may run twice in one process (tests)
    log.setLevel(level)
    log.propagate = False


# --------------------------------------------------------------------------- the application


def checked_contact(data) -> dict:
    """The contact in a POST body, or ValueError saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError('send a JSON object: {"name": ..., "email": ..., "phone": ...}')
    unknown = set(data) - {"name", "email", "phone"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    contact = {key: data.get(key) for key in ("name", "email", "phone")}
    if not isinstance(contact["name"], str) or not contact["name"].strip():
        raise ValueError('"name" must be a non-empty string')
    for key, value in contact.items():
        if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD):
            raise ValueError(f'"{key}" must be a string of at most {MAX_FIELD} characters')
    return contact


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    setup_logging(settings.log_level)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # bytes in a request body
    if settings.trusted_proxies:
        # Behind nginx, the client's address is in X-Forwarded-For; believe only
        # as many entries as there are proxies of ours, or anyone could fake it.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    store = PostgresStore(settings.database_url) if settings.database_url else MemoryStore()
    log.info("started", extra={"fields": {"settings": repr(settings), "pid": os.getpid()}})

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()
        # nginx sets X-Request-ID (see nginx.conf); the same id in both logs links them.
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex

    @app.after_request
    def log_request(response):
        response.headers["X-Request-ID"] = g.request_id
        log.info("request", extra={"fields": {
            "method": request.method, "path": request.path, "status": response.status_code,
            "ms": round(1000 * (time.perf_counter() - g.started), 2),
            "client": request.remote_addr, "request_id": g.request_id}})
        return response

    @app.errorhandler(HTTPException)
    def http_error(error):  # 404, 405, 413...: JSON, like the rest of the API
        return jsonify(error=error.description), error.code

    if settings.database_url:
        import psycopg

        @app.errorhandler(psycopg.OperationalError)
        def database_down(error):  # the database went away after start-up
            log.warning("database unavailable", extra={"fields": {"error": str(error).strip()}})
            return jsonify(error="database unavailable, try again later"), 503

    @app.errorhandler(Exception)
    def server_error(error):
        log.error("unhandled error", exc_info=error, extra={"fields": {"request_id": g.get("request_id")}})
        return jsonify(error="internal error", request_id=g.get("request_id")), 500

    @app.get("/api/contacts")
    def list_contacts():
        return jsonify(store.all())

    @app.get("/api/contacts/<name>")
    def get_contact(name):
        contact = store.get(name)
        if contact is None:
            return jsonify(error=f"no contact named {name!r}"), 404
        return jsonify(contact)

    @app.post("/api/contacts")
    def add_contact():
        try:
            contact = checked_contact(request.get_json(silent=True))
            store.add(contact)
        except Conflict:
            return jsonify(error=f"a contact named {contact['name']!r} exists already"), 409
        except ValueError as error:
            return jsonify(error=str(error)), 400
        return jsonify(contact), 201, {"Location": f"/api/contacts/{quote(contact['name'], safe='')}"}

    @app.get("/healthz")
    def healthz():
        """200 when the service can do its job, 503 when it cannot (its database is down)."""
        try:
            database = store.check()
        except Exception as error:  # any failure of the check means "not healthy"
            log.warning("health check failed", extra={"fields": {"error": repr(error)}})
            return jsonify(status="failing", database=type(error).__name__), 503
        return jsonify(status="ok", database=database)

    return app
