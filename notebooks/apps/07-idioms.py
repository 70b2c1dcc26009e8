"""The idioms of every Flask application, in one small site (chapter 07).

    export FLASK_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_hex())')"
    flask --app notebooks/apps/07-idioms.py init-db     # creates the tables
    flask --app notebooks/apps/07-idioms.py run         # then open /register

What Flask's own tutorial (flaskr) and most books teach, each in a few lines:

- configuration from FLASK_* environment variables (app.config.from_prefixed_env()),
  the secret key included: it never goes in the code;
- one SQLite connection per request, kept in g, closed by teardown_appcontext;
- a command of the app's own: flask init-db (app.cli.command);
- before_request loads the logged-in user into g.user, for every view and template;
- forms with CSRF protection (Flask-WTF): a POST without the form's token gets 400;
- passwords stored as salted, slow hashes (werkzeug.security), never as they are;
- the session, a signed cookie, remembers who is logged in;
- templates/07-base.html, which the pages' templates extend.

The database file is FLASK_DATABASE, by default 07-idioms.sqlite3 in the app's
instance folder (notebooks/apps/instance/, which git ignores).
"""

import os
import sqlite3

import click
from flask import Flask, current_app, g, redirect, render_template, session, url_for
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id             INTEGER PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL          -- never the password: see generate_password_hash()
);
"""

app = Flask(__name__)
app.config["DATABASE"] = os.path.join(app.instance_path, "07-idioms.sqlite3")  # defaults first
app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # from other sites, browsers send it only with a link
app.config.from_prefixed_env()  # then FLASK_SECRET_KEY -> SECRET_KEY, FLASK_DATABASE -> DATABASE...
if not app.config.get("SECRET_KEY"):  # never in the code: every copy of the code would hold it
    raise RuntimeError("set FLASK_SECRET_KEY in the environment: it signs the session cookie")
csrf = CSRFProtect(app)  # every POST must carry the token of a form this app sent


# --- the database: one connection per request --------------------------------


def get_db() -> sqlite3.Connection:
    """This request's connection: opened on first use, then kept in g until the request ends."""
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row  # rows by column name: row["username"]
    return g.db


@app.teardown_appcontext
def close_db(error):
    """Flask calls this when the request (its app context) ends, even after an exception."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


@app.cli.command("init-db")
def init_db():
    """Create the tables (keeping any data already there)."""
    os.makedirs(os.path.dirname(current_app.config["DATABASE"]) or ".", exist_ok=True)
    get_db().executescript(SCHEMA)
    click.echo(f"Created the tables in {current_app.config['DATABASE']}")


# --- who is asking -----------------------------------------------------------


@app.before_request
def load_logged_in_user():
    """Before every view: g.user is the logged-in user's row, or None."""
    user_id = session.get("user_id")
    g.user = None if user_id is None else get_db().execute(
        "SELECT id, username FROM users WHERE id = ?", (user_id,)).fetchone()


# --- the pages ---------------------------------------------------------------


class Credentials(FlaskForm):
    """A name and a password; FlaskForm adds the hidden csrf_token field."""
    username = StringField("Name", validators=[InputRequired(), Length(max=40)])
    password = PasswordField("Password", validators=[InputRequired(), Length(min=8, max=200)])


@app.route("/register", methods=["GET", "POST"])
def register():
    form = Credentials()
    if form.validate_on_submit():  # a POST whose fields are valid (CSRFProtect checked the token)
        try:
            with get_db() as db:  # one transaction: committed at the end of the block
                db.execute("INSERT INTO users (username, password_hash) VALUES (?, ?)",
                           (form.username.data, generate_password_hash(form.password.data)))
        except sqlite3.IntegrityError:  # UNIQUE: the name exists
            form.username.errors.append("this name is taken")
        else:
            return redirect(url_for("login"))
    return render_template("07-form.html", form=form, title="Register")


@app.route("/login", methods=["GET", "POST"])
def login():
    form = Credentials()
    if form.validate_on_submit():
        user = get_db().execute("SELECT id, password_hash FROM users WHERE username = ?",
                                (form.username.data,)).fetchone()
        if user is not None and check_password_hash(user["password_hash"], form.password.data):
            session.clear()  # a new session at each log-in: nothing kept from before
            session["user_id"] = user["id"]
            return redirect(url_for("index"))
        form.password.errors.append("wrong name or password")
    return render_template("07-form.html", form=form, title="Log in")


@app.post("/logout")  # a POST, so CSRFProtect checks it: no other site can log you out
def logout():
    session.clear()
    return redirect(url_for("index"))


@app.get("/")
def index():
    return render_template("07-home.html")
