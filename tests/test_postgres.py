"""The contacts service of chapter 10 on a real PostgreSQL server.

The tests start their own throwaway server with the ``postgres`` sandbox server
(initdb in a temporary folder, a free port on 127.0.0.1, a Unix socket in that
folder, trust authentication, run as the user "postgres" when the tests run as
root), and stop it at the end. Without PostgreSQL's programs they are skipped,
except under CI (the CI variable set), where .ci/run installs Debian's
``postgresql``: there, a missing PostgreSQL is a failure.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from pathlib import Path

import psutil
import pytest
import requests

from sandbox import SandboxError, launch
from sandbox.postgres import find_programs

psycopg = pytest.importorskip("psycopg")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
import contacts_service  # noqa: E402

sys.path.remove(str(ROOT / "deploy"))


def start_postgres():
    if find_programs() is None:
        reason = "PostgreSQL is not installed (Debian: apt install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI is set: .ci/run installs it")
        pytest.skip(reason)
    try:
        return launch("postgres", replace=False, timeout=60)
    except SandboxError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is installed but could not start here: {error}")


def url_of(server) -> str:
    return f"postgresql://postgres@{server.host}:{server.port}/postgres"


@pytest.fixture(scope="module")
def database():
    server = start_postgres()
    try:
        yield url_of(server)
    finally:
        server.stop()


@pytest.fixture
def fresh(database):
    """The database URL, without the service's table: each test starts from the seed."""
    with psycopg.connect(database) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {contacts_service.TABLE}")
    return database


def test_the_throwaway_server_is_a_real_postgresql(database):
    with psycopg.connect(database) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        user = conn.execute("SELECT current_user").fetchone()[0]
    assert int(version.split(".")[0]) >= 12 and user == "postgres"


def test_the_store_creates_its_table_and_the_seed_once(fresh):
    store = contacts_service.PostgresStore(fresh)
    assert store.all() == sorted(contacts_service.SEED, key=lambda c: c["name"])
    store.add({"name": "Linus", "email": None, "phone": None})
    again = contacts_service.PostgresStore(fresh)  # a restart: the table and its rows are kept
    assert [c["name"] for c in again.all()] == ["Ada", "Alan", "Grace", "Linus"]
    assert again.get("Ada") == contacts_service.SEED[0] and again.get("Nobody") is None
    with pytest.raises(contacts_service.Conflict):
        again.add({"name": "Ada", "email": None, "phone": None})
    assert again.check() == "ok"


@pytest.mark.parametrize("name", ["O'Brien", "x'); DROP TABLE netcourse_contacts; --", 'Robert"; --', "Zoë %s %(name)s"])
def test_parametrized_queries_store_any_text_as_it_is(fresh, name):
    store = contacts_service.PostgresStore(fresh)
    store.add({"name": name, "email": "a@example.org", "phone": None})
    assert store.get(name)["name"] == name
    assert len(store.all()) == len(contacts_service.SEED) + 1  # the table is still there, and whole


def test_the_service_on_postgresql_through_gunicorn(fresh, monkeypatch):
    if os.name == "nt":
        pytest.skip("gunicorn: Linux and macOS only")
    monkeypatch.setenv("DATABASE_URL", fresh)
    with launch("app", app=ROOT / "deploy" / "wsgi.py", server="gunicorn", workers=2, replace=False) as srv:
        created = requests.post(f"{srv.url}/api/contacts", json={"name": "Katherine", "phone": "+1 757 555 0106"},
                                timeout=5)
        assert created.status_code == 201
        # Two worker processes, one database: every worker sees the new contact.
        names = {tuple(c["name"] for c in requests.get(f"{srv.url}/api/contacts", timeout=5).json())
                 for _ in range(6)}
        assert names == {("Ada", "Alan", "Grace", "Katherine")}
        assert requests.get(f"{srv.url}/healthz", timeout=5).json() == {"status": "ok", "database": "ok"}
    started = next(json.loads(line) for line in srv.log.splitlines() if line.startswith("{"))
    assert started["message"] == "started" and "postgresql://postgres@" in started["settings"]


def test_health_check_fails_when_the_database_goes_away(monkeypatch):
    server = start_postgres()  # a server of its own: this test stops it
    try:
        monkeypatch.setenv("DATABASE_URL", url_of(server))
        with launch("app", app=ROOT / "deploy" / "wsgi.py", replace=False) as srv:
            assert requests.get(f"{srv.url}/healthz", timeout=5).status_code == 200
            server.stop()
            health = requests.get(f"{srv.url}/healthz", timeout=10)
            assert health.status_code == 503 and health.json() == {"status": "failing", "database": "OperationalError"}
            listing = requests.get(f"{srv.url}/api/contacts", timeout=10)
            assert listing.status_code == 503 and "database unavailable" in listing.json()["error"]
    finally:
        server.stop()


def nobody_listens() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


class Records(logging.Handler):
    """`with Records() as records:` collects what the service logs."""

    def __enter__(self):
        self.records = []
        contacts_service.log.addHandler(self)
        return self.records

    def __exit__(self, *exc):
        contacts_service.log.removeHandler(self)

    def emit(self, record):
        self.records.append(record)


def test_connect_retries_a_few_times_then_raises():
    with Records() as records, pytest.raises(psycopg.OperationalError):
        contacts_service.connect(nobody_listens(), attempts=3, delay=0.01)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and warnings[0].startswith("database unreachable (attempt 1 of 3)")


def test_connect_does_not_retry_a_mistake():
    with Records() as records, pytest.raises(psycopg.ProgrammingError):  # a misspelt option: waiting would not fix it
        contacts_service.connect(nobody_listens(), attempts=3, delay=10, conect_timeout=1)
    assert records == []


# --- the sandbox server's start-up, with fake PostgreSQL programs (no PostgreSQL needed) ---

FAKE_INITDB = "import sys; sys.exit(0)"
FAKE_POSTGRES = """
import json, os, sys, time
json.dump({{"pid": os.getpid(), "data": sys.argv[sys.argv.index("-D") + 1]}}, open({record!r}, "w"))
print("fake postgres: starting", flush=True)
{then}
"""
NEVER_READY = """
try:
    time.sleep(30)  # never logs "ready to accept connections"
except KeyboardInterrupt:  # SIGINT, as the sandbox server stops it
    pass
"""
FAILS = 'print("FATAL: could not create any TCP/IP sockets", flush=True); sys.exit(1)'


@pytest.fixture
def fake_postgres(tmp_path, monkeypatch):
    """Runs the sandbox server on fake initdb and postgres programs, with START_TIMEOUT = 1.

    ``fake_postgres(then)`` returns the server's error message and what the
    fake postgres recorded: its process id and its data folder.
    """
    if os.name == "nt":
        pytest.skip("the fake PostgreSQL programs are scripts started by their #! line")
    from sandbox import postgres

    def program(name: str, code: str) -> str:
        path = tmp_path / name
        path.write_text(f"#!{sys.executable}\n{code}\n")
        path.chmod(0o755)
        return str(path)

    def run(then: str) -> tuple[str, dict]:
        record = tmp_path / "record.json"
        programs = program("initdb", FAKE_INITDB), program("postgres", FAKE_POSTGRES.format(record=str(record), then=then))
        monkeypatch.setattr(postgres, "find_programs", lambda: programs)
        monkeypatch.setattr(postgres, "run_as", lambda: {})  # the tests may run as root: no other user
        monkeypatch.setattr(postgres, "START_TIMEOUT", 1)
        with pytest.raises(SystemExit) as stopped:
            postgres.main([])
        return str(stopped.value), json.loads(record.read_text())

    return run


def test_a_server_never_ready_is_stopped_after_the_start_timeout(fake_postgres, capsys):
    message, started = fake_postgres(NEVER_READY)
    assert message == "postgres was not ready after 1 s (START_TIMEOUT); its log is above"
    log = capsys.readouterr().out
    assert "fake postgres: starting" in log and log.rstrip().endswith("postgres stopped")
    assert not psutil.pid_exists(started["pid"])  # stopped, and waited for
    assert not Path(started["data"]).parent.exists()  # the temporary folder is deleted


def test_a_server_that_exits_before_it_is_ready_is_reported_with_its_exit_code(fake_postgres, capsys):
    message, started = fake_postgres(FAILS)
    assert message == "postgres exited with code 1 before it was ready; its log is above"
    assert "FATAL: could not create any TCP/IP sockets" in capsys.readouterr().out
    assert not Path(started["data"]).parent.exists()
