"""The idioms of chapter 07's Flask site (notebooks/apps/07-idioms.py).

Configuration from FLASK_* environment variables, the `flask init-db` command, CSRF
protection, password hashes, g.user from before_request, the per-request database
connection, and the session: a signed cookie that nobody can change without the key.
Most tests use Flask's test client; one goes through a real server (waitress), since
cookies on the wire are the point there.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import requests
from flask import g
from itsdangerous import URLSafeTimedSerializer
from werkzeug.security import check_password_hash

from sandbox import launch
from sandbox.app import load_app

APP_FILE = Path(__file__).resolve().parent.parent / "notebooks" / "apps" / "07-idioms.py"
ADA = {"username": "ada", "password": "correct horse battery staple"}
GRACE = {"username": "grace", "password": "Hopper-COBOL-1959"}


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict:
    """The site's settings, as whoever runs it would set them: a fresh key and database file."""
    for name in [name for name in os.environ if name.startswith("FLASK_")]:
        monkeypatch.delenv(name)  # nothing from the developer's own environment
    settings = {"FLASK_SECRET_KEY": secrets.token_hex(32), "FLASK_DATABASE": str(tmp_path / "idioms.sqlite3")}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


def new_site():
    """A fresh application from the file (load_app runs the module again), configured by os.environ."""
    return load_app(str(APP_FILE))


@pytest.fixture
def site(env):
    app = new_site()
    app.testing = True  # an exception in a view reaches the test (CSRF protection stays on)
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def visitor(site):
    return site.test_client()


def module_of(app):
    return sys.modules[app.import_name]


def csrf_token_of(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]* value="([^"]+)"', page)[1]


def heading(page: str) -> str:
    return re.search("<h1>(.*)</h1>", page)[1]


def connect(path) -> sqlite3.Connection:
    """A connection of the test's own (closing() closes it; `with conn:` alone only commits)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


def users(app) -> list[dict]:
    with closing(connect(app.config["DATABASE"])) as db:
        return [dict(row) for row in db.execute("SELECT * FROM users ORDER BY id")]


def submit(client, path: str, data: dict):
    """GET the form at `path`, then POST it back with its CSRF token, as a browser does."""
    return client.post(path, data=data | {"csrf_token": csrf_token_of(client.get(path).text)})


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- configuration: from_prefixed_env ----------------------------------------------


def test_settings_come_from_flask_prefixed_environment_variables(env, monkeypatch):
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "1000")  # JSON: an int
    monkeypatch.setenv("FLASK_SESSION_COOKIE_SAMESITE", "Strict")  # not JSON: a string, over the default
    monkeypatch.setenv("FLASK_TESTING", "true")  # JSON: a bool
    app = new_site()
    assert app.config["SECRET_KEY"] == env["FLASK_SECRET_KEY"]
    assert app.config["DATABASE"] == env["FLASK_DATABASE"]
    assert app.config["MAX_CONTENT_LENGTH"] == 1000 and app.config["TESTING"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"
    app.test_cli_runner().invoke(args=["init-db"])
    assert app.test_client().post("/register", data={"username": "x" * 2000}).status_code == 413


def test_defaults_apply_without_their_variables(env, monkeypatch):
    monkeypatch.delenv("FLASK_DATABASE")
    app = new_site()
    assert app.config["DATABASE"] == os.path.join(app.instance_path, "07-idioms.sqlite3")
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax" and app.config["WTF_CSRF_ENABLED"] is True


def test_the_site_refuses_to_start_without_a_secret_key(env, monkeypatch):
    monkeypatch.delenv("FLASK_SECRET_KEY")
    with pytest.raises(RuntimeError, match="FLASK_SECRET_KEY"):
        new_site()
    monkeypatch.setenv("FLASK_SECRET_KEY", "")
    with pytest.raises(RuntimeError, match="FLASK_SECRET_KEY"):
        new_site()


# --- the flask init-db command ----------------------------------------------------


def test_init_db_creates_the_tables(env):
    app = new_site()
    assert not Path(env["FLASK_DATABASE"]).exists()
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0 and result.output == f"Created the tables in {env['FLASK_DATABASE']}\n"
    with closing(connect(env["FLASK_DATABASE"])) as db:
        columns = [row["name"] for row in db.execute("PRAGMA table_info(users)")]
    assert columns == ["id", "username", "password_hash"]


def test_init_db_through_the_flask_command_line(env, tmp_path):
    """`python -m flask --app FILE init-db`, as a user types it: Flask finds the module's `app`."""
    database = tmp_path / "deeper" / "site.sqlite3"  # its folder is created too
    result = subprocess.run([sys.executable, "-m", "flask", "--app", str(APP_FILE), "init-db"],
                            env=dict(os.environ, FLASK_DATABASE=str(database)), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Created the tables in {database}\n"
    with closing(connect(database)) as db:
        tables = [row["name"] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["users"]


def test_init_db_keeps_the_data(site, visitor):
    assert submit(visitor, "/register", ADA).status_code == 302
    assert site.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    assert [u["username"] for u in users(site)] == ["ada"]


def test_without_init_db_there_is_no_table(env):
    app = new_site()
    app.testing = True  # the exception reaches the test instead of becoming a 500
    with pytest.raises(sqlite3.OperationalError, match="no such table: users"):
        submit(app.test_client(), "/register", ADA)


# --- the database connection: g and teardown_appcontext -------------------------------


def test_one_connection_per_app_context_closed_at_its_end(site):
    get_db = module_of(site).get_db
    with site.app_context():
        db = get_db()
        assert get_db() is db and g.db is db
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        db.execute("SELECT 1")
    with site.app_context():
        assert get_db() is not db  # a new context, a new connection


def test_each_request_has_its_own_connection_and_closes_it(site, visitor, monkeypatch):
    submit(visitor, "/register", ADA)
    submit(visitor, "/login", ADA)  # g.user is now read from the database on each request
    opened = []

    def connect_and_record(*args, **kwargs):
        opened.append(real_connect(*args, **kwargs))
        return opened[-1]

    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", connect_and_record)  # what get_db() calls
    assert heading(visitor.get("/").text) == heading(visitor.get("/").text) == "Hello, ada!"
    assert len(opened) == 2 and opened[0] is not opened[1]
    for db in opened:  # both closed by close_db() at the end of their request
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            db.execute("SELECT 1")


def test_the_connection_is_closed_even_after_an_exception(site):
    get_db = module_of(site).get_db
    with pytest.raises(ZeroDivisionError):
        with site.app_context():
            db = get_db()
            1 / 0
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")


# --- CSRF ------------------------------------------------------------------------------


def test_a_post_without_the_token_is_refused(site, visitor):
    response = visitor.post("/register", data=ADA)
    assert response.status_code == 400 and "The CSRF token is missing." in response.text
    assert users(site) == []


@pytest.mark.parametrize("path", ["/register", "/login", "/logout"])
def test_every_post_is_protected(visitor, path):
    visitor.get("/register")  # the session now holds a CSRF token: only the form's value is missing
    assert visitor.post(path, data=ADA).status_code == 400


def test_a_wrong_or_foreign_token_is_refused(site, visitor):
    visitor.get("/register")
    wrong = visitor.post("/register", data=ADA | {"csrf_token": "forged"})
    assert wrong.status_code == 400 and "The CSRF token is invalid." in wrong.text
    other = site.test_client()  # another browser: its own session, so its own token
    foreign = visitor.post("/register", data=ADA | {"csrf_token": csrf_token_of(other.get("/register").text)})
    assert foreign.status_code == 400 and "The CSRF tokens do not match." in foreign.text
    signed_elsewhere = URLSafeTimedSerializer("another key", salt="wtf-csrf-token").dumps("x" * 40)
    assert visitor.post("/register", data=ADA | {"csrf_token": signed_elsewhere}).status_code == 400
    assert users(site) == []


def test_a_post_with_the_token_is_accepted(site, visitor):
    page = visitor.get("/register")
    assert page.status_code == 200 and 'type="hidden"' in page.text
    response = visitor.post("/register", data=ADA | {"csrf_token": csrf_token_of(page.text)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert [u["username"] for u in users(site)] == ["ada"]


def test_the_token_comes_in_a_header_too(site, visitor):
    token = csrf_token_of(visitor.get("/register").text)
    response = visitor.post("/register", data=ADA, headers={"X-CSRFToken": token})
    assert response.status_code == 302


def test_invalid_fields_and_a_taken_name_render_the_form_again(site, visitor):
    short = submit(visitor, "/register", {"username": "bob", "password": "short"})
    assert short.status_code == 200 and "Field must be between 8 and 200 characters long." in short.text
    assert submit(visitor, "/register", ADA).status_code == 302
    taken = submit(visitor, "/register", ADA | {"password": "another long password"})
    assert taken.status_code == 200 and "this name is taken" in taken.text
    assert [u["username"] for u in users(site)] == ["ada"]


# --- passwords ---------------------------------------------------------------------------


def test_the_database_holds_a_salted_hash_never_the_password(site, visitor):
    submit(visitor, "/register", ADA)
    submit(visitor, "/register", GRACE | {"password": ADA["password"]})  # the same password
    ada, grace = users(site)
    assert set(ada) == {"id", "username", "password_hash"}
    for user in (ada, grace):
        assert user["password_hash"].startswith("scrypt:32768:8:1$")
        assert ADA["password"] not in user["password_hash"]
        assert check_password_hash(user["password_hash"], ADA["password"])
        assert not check_password_hash(user["password_hash"], ADA["password"] + " ")
    assert ada["password_hash"] != grace["password_hash"]  # different salts
    raw = Path(site.config["DATABASE"]).read_bytes()
    assert ADA["password"].encode() not in raw


def test_log_in_checks_the_password(site, visitor):
    submit(visitor, "/register", ADA)
    wrong = submit(visitor, "/login", ADA | {"password": "not the password"})
    assert wrong.status_code == 200 and "wrong name or password" in wrong.text
    nobody = submit(visitor, "/login", {"username": "nobody", "password": ADA["password"]})
    assert nobody.status_code == 200 and "wrong name or password" in nobody.text
    with visitor.session_transaction() as session:
        assert "user_id" not in session
    right = submit(visitor, "/login", ADA)
    assert right.status_code == 302 and right.headers["Location"] == "/"
    with visitor.session_transaction() as session:
        assert session["user_id"] == users(site)[0]["id"]


# --- before_request and g.user ---------------------------------------------------------------


def test_before_request_loads_the_logged_in_user_into_g(site, visitor):
    submit(visitor, "/register", ADA)
    with visitor:
        assert heading(visitor.get("/").text) == "Hello, stranger!" and g.user is None
        submit(visitor, "/login", ADA)
        assert heading(visitor.get("/").text) == "Hello, ada!"
        assert g.user["username"] == "ada" and "password_hash" not in g.user.keys()


def test_a_deleted_user_is_nobody(site, visitor):
    submit(visitor, "/register", ADA)
    submit(visitor, "/login", ADA)
    with closing(connect(site.config["DATABASE"])) as db, db:  # closed, after the commit
        db.execute("DELETE FROM users")
    assert heading(visitor.get("/").text) == "Hello, stranger!"


def test_log_out_needs_its_token_and_clears_the_session(site, visitor):
    submit(visitor, "/register", ADA)
    submit(visitor, "/login", ADA)
    assert visitor.post("/logout").status_code == 400  # another site's form cannot log you out
    assert heading(visitor.get("/").text) == "Hello, ada!"
    home = visitor.get("/").text
    out = visitor.post("/logout", data={"csrf_token": csrf_token_of(home)})
    assert out.status_code == 302 and heading(visitor.get("/").text) == "Hello, stranger!"


# --- templates -------------------------------------------------------------------------------


def test_pages_extend_the_base_template(visitor):
    for path, title in [("/register", "Register"), ("/login", "Log in"), ("/", "Home")]:
        page = visitor.get(path).text
        assert f"<title>{title}</title>" in page  # the page's block, in the base's <head>
        assert '<a href="/register">Register</a>' in page  # the base's navigation
        assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


# --- the session: signed, not encrypted -------------------------------------------------------


def log_in(client) -> str:
    """Register and log in ADA; the value of the session cookie."""
    submit(client, "/register", ADA)
    submit(client, "/login", ADA)
    return client.get_cookie("session").value


def test_the_session_cookie_is_readable_by_anyone(site, visitor):
    cookie = log_in(visitor)
    payload, signed_at, signature = cookie.split(".")
    assert unb64(payload) == b'{"user_id":1}' and len(unb64(signature)) == 20


def test_a_tampered_session_is_refused(site, visitor):
    cookie = log_in(visitor)
    submit(site.test_client(), "/register", GRACE)  # user 2
    _, signed_at, signature = cookie.split(".")
    as_grace = base64.urlsafe_b64encode(b'{"user_id":2}').decode().rstrip("=")
    stranger = site.test_client()
    for forged in [f"{as_grace}.{signed_at}.{signature}",  # the payload edited
                   f"{cookie[:-27]}{'B' if cookie[-27] == 'A' else 'A'}{cookie[-26:]}",  # the signature edited
                   site.session_interface.get_signing_serializer(new_key_site()).dumps({"user_id": 2})]:
        stranger.set_cookie("session", forged)
        assert heading(stranger.get("/").text) == "Hello, stranger!", forged
    # The check is the signature: with the site's own key, the same forgery works.
    stranger.set_cookie("session", site.session_interface.get_signing_serializer(site).dumps({"user_id": 2}))
    assert heading(stranger.get("/").text) == "Hello, grace!"


def new_key_site():
    """The same site with another key, as in another deployment (restores the environment after)."""
    saved = os.environ["FLASK_SECRET_KEY"]
    os.environ["FLASK_SECRET_KEY"] = secrets.token_hex(32)
    try:
        return new_site()
    finally:
        os.environ["FLASK_SECRET_KEY"] = saved


def test_a_new_key_logs_everyone_out(site, visitor):
    cookie = log_in(visitor)
    other = new_key_site()
    client = other.test_client()
    client.set_cookie("session", cookie)
    assert heading(client.get("/").text) == "Hello, stranger!"


def test_log_in_starts_a_new_session(site, visitor):
    submit(visitor, "/register", ADA)
    with visitor.session_transaction() as session:
        session["left_over"] = "from before"
    submit(visitor, "/login", ADA)
    with visitor.session_transaction() as session:
        assert dict(session) == {"user_id": 1}


def test_the_session_cookie_on_the_wire(env):
    """Through a real server: the Set-Cookie header, and a tampered cookie sent by requests."""
    new_site().test_cli_runner().invoke(args=["init-db"])
    with launch("app", app=os.path.relpath(APP_FILE), replace=False) as server, requests.Session() as browser:
        token = csrf_token_of(browser.get(f"{server.url}/register", timeout=5).text)
        browser.post(f"{server.url}/register", data=ADA | {"csrf_token": token}, timeout=5)
        logged_in = browser.post(f"{server.url}/login", data=ADA | {"csrf_token": token},
                                 allow_redirects=False, timeout=5)
        cookie = browser.cookies["session"]
        header = logged_in.headers["Set-Cookie"]
        home = requests.get(f"{server.url}/", cookies={"session": cookie}, timeout=5)
        payload, signed_at, signature = cookie.split(".")
        edited = base64.urlsafe_b64encode(b'{"user_id":2}').decode().rstrip("=")
        tampered = requests.get(f"{server.url}/", cookies={"session": f"{edited}.{signed_at}.{signature}"},
                                timeout=5)
    assert logged_in.status_code == 302 and logged_in.headers["Location"] == "/"
    assert header.startswith(f"session={cookie}; ") and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # plain HTTP here: a Secure cookie would never be sent back
    assert unb64(payload) == b'{"user_id":1}'
    assert heading(home.text) == "Hello, ada!" and heading(tampered.text) == "Hello, stranger!"
