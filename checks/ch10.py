"""Checks for exercises/10-deployment.md: serve an application with a production server, measure it,
configure it from its environment, answer health checks, and write the command that starts it.

    check_serve(serve, app_file)        step 1: serve(app_file, server="waitress") -> a running sandbox server
    check_summarize(summarize)          step 2: latencies, errors, elapsed -> requests/s, p50, p99 (exact)
    check_measure(measure)              step 3: N requests from C clients at once, against the check's server
    check_settings(load_settings)       step 5: load_settings(environ) -> {"port", "database_url", "debug",
                                        "secret_key"}; ValueError naming the variable for a missing secret
                                        or a malformed port
    check_healthz(create_app)           step 6: create_app(settings, ping) -> a Flask app whose GET /healthz
                                        answers 200 when ping() returns, 503 and the error's class when it raises
    check_gunicorn_command(gunicorn_command)
                                        step 7: gunicorn_command(target, port, cores) -> gunicorn's command
                                        line: (2 x cores) + 1 workers, listening on 127.0.0.1:port only

No check asserts a speed: the measurement is checked against what the check's
own server saw (how many requests, how many at once, which ones failed) and
against the check's clock, never against a number of requests per second.
Steps 5 to 7 start nothing: the settings are a dict, the health check runs in
Flask's test client, and the command line is read as gunicorn reads its
options (with gunicorn's own parser where it is installed), never run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import ipaddress
import json
import math
import ntpath
import posixpath
import random
import threading
import time
from http.server import BaseHTTPRequestHandler

import requests

from .core import Failure, call, call_raising, checker, describe_exception, expect, expect_equal, short
from .helpers import flask_request
from .servers import ThreadedHTTPServer

KEYS = {"requests", "errors", "per_second", "p50_ms", "p99_ms"}


def _get(url: str):
    try:
        return requests.get(url, timeout=5)
    except requests.RequestException as error:
        raise Failure(f"an answer to GET {url}", f"{type(error).__name__}: {error}",
                      "is the server still running? serve() returns the server that launch() started") from None


@checker("serve")
def check_serve(serve, app_file):
    """``serve(app_file, server="waitress")`` starts the application of ``app_file`` under that
    server (``"waitress"``, or ``"dev"`` for Flask's development server) and returns the running
    sandbox server; two may run at once. The ``Server`` header says who answered.
    """
    started = []
    try:
        srv = call(serve, app_file, hint='return launch("app", app=app_file, server=server, replace=False)')
        started.append(srv)
        expect(getattr(srv, "running", False) and hasattr(srv, "url"),
               "serve(app_file) to return the running server, as launch() returns it", short(srv), "return launch(...)")
        answer = _get(f"{srv.url}/notes")
        expect(answer.status_code == 200 and answer.json() == [], "GET /notes of the notes application: 200 and []",
               f"{answer.status_code} {short(answer.text)}", 'launch("app", app=app_file, ...) serves the file given')
        expect_equal(answer.headers.get("Server"), "waitress", "the Server header of serve(app_file)",
                     'the default is waitress: launch("app", app=app_file, server=server, ...)')
        dev = call(serve, app_file, "dev", hint="pass server on to launch: server=server")
        started.append(dev)
        expect(srv.running, "the first server to keep running once the second started", f"{srv!r}",
               "replace=False: else launch() stops the earlier server of the same name first")
        answer = _get(f"{dev.url}/notes")
        software = answer.headers.get("Server", "")
        expect(software.startswith("Werkzeug/"), 'the Server header of serve(app_file, "dev"): Werkzeug/... Python/...',
               repr(software), "pass server on to launch: server=server")
    finally:
        for server in started:
            stop = getattr(server, "stop", None)
            if callable(stop):
                stop()
    return f"waitress by default, the development server ({software.split()[0]}) when asked, both at once"


def _nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


@checker("summarize")
def check_summarize(summarize):
    """``summarize(latencies, errors, elapsed)`` returns ``{"requests", "errors", "per_second",
    "p50_ms", "p99_ms"}``: all requests (answered or not), per second of ``elapsed``, and the
    percentiles of the latencies (seconds in, milliseconds out) by nearest rank; None without any.
    """
    rng = random.Random(10)
    hundred = [n / 1000 for n in range(1, 101)]
    rng.shuffle(hundred)
    skewed = [0.002] * 180 + [0.5] * 15 + [2.0] * 5
    rng.shuffle(skewed)
    cases = [
        ([0.010, 0.040, 0.020, 0.030], 1, 0.5),
        (hundred, 0, 2.0),
        (skewed, 0, 4.0),
        ([0.25], 2, 1.0),
        ([], 3, 1.5),
    ]
    for latencies, errors, elapsed in cases:
        given = list(latencies)
        shown = f"summarize({short(latencies, 40)}, {errors}, {elapsed})"
        got = call(summarize, latencies, errors, elapsed)
        expect(isinstance(got, dict) and set(got) == KEYS, f"{shown}: a dict with the keys {sorted(KEYS)}", short(got, 100))
        total = len(latencies) + errors
        expect_equal(got["requests"], total, f"{shown}: requests, answered or not", "len(latencies) + errors")
        expect_equal(got["errors"], errors, f"{shown}: errors")
        expect(isinstance(got["per_second"], (int, float)) and math.isclose(got["per_second"], total / elapsed),
               f"{shown}: per_second = {total / elapsed:g}", short(got["per_second"]),
               "every request, answered or not, divided by the elapsed time")
        for name, p in (("p50_ms", 50), ("p99_ms", 99)):
            wanted = _nearest_rank(latencies, p) * 1000 if latencies else None
            value = got[name]
            right = value is None if wanted is None else isinstance(value, (int, float)) and math.isclose(value, wanted)
            hint = ("no latency, no percentile: None" if wanted is None else
                    "in milliseconds: seconds * 1000" if isinstance(value, (int, float)) and math.isclose(value, wanted / 1000) else
                    f"sorted(latencies)[math.ceil({p} / 100 * n) - 1]: a latency that was measured, not an average")
            expect(right, f"{shown}: {name} = {wanted if wanted is None else round(wanted, 6)}", short(value), hint)
        expect(latencies == given, f"{shown} to leave the list of latencies as it was", short(latencies, 40),
               "sorted(latencies) makes a sorted copy; latencies.sort() sorts the caller's list")
    return f"{len(cases)} runs: counts, requests per second, and the 50th and 99th percentiles by nearest rank"


class _LoadServer:
    """An HTTP server for the measure: a few milliseconds per request, and known failures.

    Request number n (in the order they arrive, from 1) gets a 503 if n is a
    multiple of ``fail_every``, no answer at all (the connection closes) if n is
    in ``drops``, and its answer only after ``hang`` seconds if n is in ``slow``.
    It records how many requests it served at once, at most.
    """

    def __init__(self, delay=0.01, fail_every=0, drops=(), slow=(), hang=2.0):
        self.delay, self.fail_every, self.drops, self.slow, self.hang = delay, fail_every, set(drops), set(slow), hang
        self.lock = threading.Lock()
        self.count = self.in_flight = self.most = 0
        self.first = self.last = None
        self.server = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/work"

    @property
    def errors(self) -> int:
        multiples = self.count // self.fail_every if self.fail_every else 0
        return multiples + len(self.drops) + len(self.slow)

    def __enter__(self):
        load = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            timeout = 30

            def do_GET(self):
                with load.lock:
                    load.count += 1
                    n = load.count
                    load.first = load.first or time.monotonic()
                if n in load.drops:
                    self.close_connection = True  # no answer: the client sees the connection close
                    return
                if n in load.slow:
                    time.sleep(load.hang)  # a client with a shorter timeout has given up by then
                    self.answer(200, n)
                    return
                with load.lock:
                    load.in_flight += 1
                    load.most = max(load.most, load.in_flight)
                time.sleep(load.delay)
                with load.lock:
                    load.in_flight -= 1
                self.answer(503 if load.fail_every and n % load.fail_every == 0 else 200, n)
                with load.lock:
                    load.last = time.monotonic()

            def answer(self, status, n):
                data = json.dumps({"n": n}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):
                pass

        class Server(ThreadedHTTPServer):  # daemon threads, listen backlog 128: a burst of clients
            def handle_error(self, request, client_address):
                pass  # a client that hung up early: nothing to print under the check

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="check:load-server", daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _plausible(result, total, server, elapsed, shown):
    """The measure agrees with what the server saw and with the check's clock."""
    expect(isinstance(result, dict) and set(result) == KEYS, f"{shown}: a dict with the keys {sorted(KEYS)}",
           short(result, 100), "return summarize(latencies, errors, elapsed)")
    expect_equal(result["requests"], total, f"{shown}: requests", "send exactly total requests, spread over the clients")
    expect_equal(server.count, total, f"requests that reached the server during {shown}",
                 "one GET per request counted: no retries, no extra request")
    expect_equal(result["errors"], server.errors, f"{shown}: errors (503s, dropped connections and timeouts, as the server made them)",
                 "an error is an answer that is not 2xx, or an exception (requests.RequestException): count it, and go on")
    p50, p99 = result["p50_ms"], result["p99_ms"]
    expect(isinstance(p50, (int, float)) and isinstance(p99, (int, float)) and 0 < p50 <= p99,
           f"{shown}: 0 < p50_ms <= p99_ms", f"p50_ms={short(p50)}, p99_ms={short(p99)}")
    expect(p50 >= server.delay * 1000, f"{shown}: p50_ms of at least {server.delay * 1000:g} (the server waits that long)",
           f"{p50:g}", "milliseconds: time.perf_counter() differences are seconds, times 1000")
    expect(p99 <= elapsed * 1000, f"{shown}: p99_ms below the {elapsed * 1000:.0f} ms the whole call took", f"{p99:g}",
           "time each request alone: from just before the GET to just after its answer")
    lowest = total / elapsed * 0.9
    busy = (server.last - server.first) if server.last and server.first else elapsed
    highest = total / busy * 1.25 + 1
    expect(lowest <= result["per_second"] <= highest,
           f"{shown}: per_second between {lowest:.0f} and {highest:.0f} (the check's clock, the server's)",
           f"{result['per_second']:.0f}", "elapsed: from before the first request to after the last one")


@checker("measure")
def check_measure(measure):
    """``measure(url, total=200, clients=10, timeout=5.0)`` sends ``total`` GET requests to
    ``url`` from ``clients`` threads at once, never more, and returns ``summarize(...)`` of
    them; an error (not 2xx, or an exception such as a timeout) is counted, not raised.
    """
    drops, slow = (33, 77, 151), (101,)
    with _LoadServer(fail_every=20, drops=drops, slow=slow) as server:
        shown = f"measure(url, total=200, clients=8, timeout=0.5)"
        begin = time.monotonic()
        result = call(measure, server.url, total=200, clients=8, timeout=0.5, limit=30,
                      hint="each GET with timeout=timeout; an exception (requests.RequestException) is an error: "
                           "count it, and go on")
        elapsed = time.monotonic() - begin
        _plausible(result, 200, server, elapsed, shown)
        expect(2 <= server.most <= 8, f"{shown}: between 2 and 8 requests at once on the server", f"at most {server.most} at once",
               "ThreadPoolExecutor(max_workers=clients): the clients send at the same time, and there are only 8 of them")
    with _LoadServer() as server:
        shown = "measure(url, total=20, clients=1)"
        begin = time.monotonic()
        result = call(measure, server.url, total=20, clients=1, limit=30)
        elapsed = time.monotonic() - begin
        _plausible(result, 20, server, elapsed, shown)
        expect(server.most == 1, f"{shown}: one request at a time", f"{server.most} at once", "clients=1: a single thread")
    return (f"200 requests from 8 clients ({len(drops)} dropped, 1 timed out, 10 answered 503: all counted), "
            "then 20 from one client; counts, percentiles and rate agree with the server and the clock")


# --------------------------------------------------------------------------- step 5: settings


SECRET = "k3y-of-the-check-7f3a"  # a secret the check makes up
DATABASE = "postgresql://notes:s3cret-pw@db.internal:5432/notes"
SETTING_KEYS = {"port", "database_url", "debug", "secret_key"}
ON, OFF = ("1", "true", "TRUE", "Yes", "on"), ("0", "false", "False", "no", "off", "")


def _settings(load_settings, environ: dict):
    """``load_settings(environ)``, which returns the settings, leaving ``environ`` as it was."""
    given = dict(environ)
    shown = f"load_settings({short(environ, 70)})"
    got = call(load_settings, environ, expected=f"{shown} to return the settings",
               hint="read every variable from environ, the dict given (not os.environ): the check passes its own")
    expect(environ == given, f"{shown} to leave environ as it was", short(environ, 70),
           "read environ, never write it (environ.get, not environ.setdefault): it is the service's os.environ")
    expect(isinstance(got, dict) and set(got) == SETTING_KEYS, f"{shown}: a dict with the keys {sorted(SETTING_KEYS)}",
           short(got, 100))
    return got, shown


def _refused(load_settings, environ: dict, variable: str, why: str, hint: str, unnamed: str = ""):
    """``load_settings(environ)`` raises ValueError, and its message names ``variable``."""
    shown = f"load_settings({short(environ, 70)})"
    error = call_raising(ValueError, load_settings, environ, expected=f"{shown} to raise ValueError: {why}", hint=hint)
    expect(variable in str(error), f"{shown}: a ValueError whose message names {variable}",
           f"ValueError: {short(str(error), 80)}",
           unnamed or "say which variable is wrong, and why: the person starting the service reads only this message")


@checker("settings")
def check_settings(load_settings):
    """``load_settings(environ)`` returns ``{"port", "database_url", "debug", "secret_key"}`` from
    the dict of environment variables given: ``PORT`` (1 to 65535, 8000 by default), ``DATABASE_URL``
    (None if unset or empty), ``DEBUG`` (off unless 1, true, yes or on, in any case), ``SECRET_KEY``
    (required, not empty); a missing secret or a malformed port is a ValueError naming the variable.
    """
    everything = {"PORT": "8123", "DATABASE_URL": DATABASE, "DEBUG": "true", "SECRET_KEY": SECRET, "HOME": "/home/ada"}
    got, shown = _settings(load_settings, everything)
    expect_equal(got["secret_key"], SECRET, f"{shown}: secret_key", "SECRET_KEY, as it is in environ")
    expect_equal(got["port"], 8123, f"{shown}: port",
                 "a port is a number: convert the text of PORT with int()" if got["port"] == "8123" else
                 "PORT, from environ")
    expect_equal(got["database_url"], DATABASE, f"{shown}: database_url", "DATABASE_URL, as it is in environ")
    expect_equal(got["debug"], True, f"{shown}: debug", "DEBUG=true turns debug on: True, a bool")

    got, shown = _settings(load_settings, {"SECRET_KEY": SECRET})
    expect_equal(got["debug"], False, f"{shown}: debug, off by default",
                 "never on by default: forget DEBUG in production, and the service would run in debug mode there")
    expect_equal(got["port"], 8000, f"{shown}: port, 8000 by default", "environ.get() takes a default")
    expect_equal(got["database_url"], None, f"{shown}: database_url, None when unset")
    expect_equal(got["secret_key"], SECRET, f"{shown}: secret_key")

    got, shown = _settings(load_settings, {"SECRET_KEY": SECRET, "DATABASE_URL": ""})
    expect_equal(got["database_url"], None, f"{shown}: database_url, None when empty",
                 "DATABASE_URL= (empty) in an environment file means no database, as if it were unset: None")
    for word, wanted in [(word, True) for word in ON] + [(word, False) for word in OFF]:
        got, shown = _settings(load_settings, {"SECRET_KEY": SECRET, "DEBUG": word})
        hint = ('bool(text) is True for any text but "": bool("0") and bool("false") are True too; '
                "compare the text, in lower case, with the words that turn debug on") if not wanted else (
                "1, true, yes and on, in any case, turn debug on: compare the text in lower case")
        expect_equal(got["debug"], wanted, f"{shown}: debug", hint)

    no_default = ("a secret has no default: a default secret is written in the code, for all who can read it, "
                  "and a service started without SECRET_KEY would run with it; raise ValueError instead")
    _refused(load_settings, {"PORT": "8123"}, "SECRET_KEY", "no SECRET_KEY, no start", no_default)
    _refused(load_settings, {"SECRET_KEY": ""}, "SECRET_KEY", "an empty secret is no secret",
             "SECRET_KEY= (empty) in an environment file is a forgotten secret: refuse it as a missing one")
    port_hint = "check PORT before using it: a whole number from 1 to 65535; else raise ValueError, naming PORT"
    unnamed = ("int() raises a ValueError of its own, which names no variable: catch it, and raise yours, "
               "naming PORT and what it holds")
    for bad in ("eighty", "80.5", "0", "65536", "-1"):
        _refused(load_settings, {"SECRET_KEY": SECRET, "PORT": bad}, "PORT", "a port is a whole number from 1 to 65535",
                 port_hint, unnamed)
    return ("the settings from the dict given, their defaults (debug off), a DEBUG of 11 spellings, "
            "and no start without a secret or with a port such as 'eighty' or 65536")


# --------------------------------------------------------------------------- step 6: health check


class DatabaseError(Exception):
    """What a database driver raises (psycopg.OperationalError, say): not an OSError."""


class _Database:
    """The dependency of the check's application: ``ping()`` returns, or raises ``self.failure``;
    ``pings`` counts the calls."""

    def __init__(self):
        self.failure: BaseException | None = None
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1
        if self.failure is not None:
            raise self.failure


HEALTH_SETTINGS = {"port": 8000, "database_url": DATABASE, "debug": False, "secret_key": SECRET}
ALWAYS_OK = ("a health check that always says 200 tells nothing: call ping() in the view, at each request, "
             "and answer 503 when it raises")


def _health(client, database: _Database):
    """GET /healthz: the response, and whether ping() was called while it was answered."""
    before = database.pings
    response = flask_request(client, "GET", "/healthz",
                             hint="catch the exception of ping() in the view: uncaught, it becomes a 500 (a bug), "
                                  "not a 503 (cannot work now); any exception, not only OSError")
    return response, database.pings > before


@checker("healthz")
def check_healthz(create_app):
    """``create_app(settings, ping)`` returns a Flask application configured with
    ``settings["secret_key"]``, whose ``GET /healthz`` calls ``ping()`` at each request: 200 and
    ``{"status": "ok"}`` when it returns; 503 and ``{"status": "failing", "error": <its class>}`` when
    it raises, whatever it raises, without the error's message; and 200 again once it works again.
    """
    database = _Database()
    app = call(create_app, dict(HEALTH_SETTINGS), database.ping, expected="create_app(settings, ping) to return the application")
    expect(hasattr(app, "test_client") and hasattr(app, "config"), "create_app(settings, ping) to return a Flask application",
           short(app), "app = Flask(__name__), then return app")
    expect_equal(app.config.get("SECRET_KEY"), SECRET, 'the application\'s SECRET_KEY: settings["secret_key"]',
                 "the secret comes from the settings, never from the code")
    app.testing = True  # an exception in the view reaches the check, which names its line
    client = app.test_client()

    response, _ = _health(client, database)
    body = response.get_json(silent=True)
    expect(response.status_code == 200 and body == {"status": "ok"}, 'GET /healthz, the database up: 200 and {"status": "ok"}',
           f"{response.status_code} {short(response.get_data(as_text=True))}", "a view may return a dict (Flask sends it as JSON)")

    failures = [ConnectionRefusedError(111, f"connection to {DATABASE} refused"),
                DatabaseError(f"server closed the connection unexpectedly ({DATABASE})")]
    for failure in failures:
        database.failure = failure
        name = type(failure).__name__
        shown = f"GET /healthz while ping() raises {name}"
        response, pinged = _health(client, database)
        text = response.get_data(as_text=True)
        expect(response.status_code == 503, f"{shown}: 503 Service Unavailable", f"{response.status_code} {short(text)}",
               ALWAYS_OK if response.status_code == 200 else
               "503 says: up, but cannot work now; load balancers and Docker read it, and stop sending requests")
        expect(pinged, f"{shown}: ping() called at that request", "ping() was not called while answering", ALWAYS_OK)
        wanted = {"status": "failing", "error": name}
        leak = next((text.index(word) for word in ("s3cret", "db.internal") if word in text), None)
        expect(leak is None, f"{shown}: an answer without the error's message",
               f"...{text[max(leak - 30, 0):leak + 30]}..." if leak is not None else "",
               "the message of a database error may hold its address and password: name the error by its class only")
        expect(response.get_json(silent=True) == wanted, f"{shown}: {json.dumps(wanted)}", short(text, 100),
               "the name of the exception's class: type(error).__name__")

    database.failure = None
    response, pinged = _health(client, database)
    expect(response.status_code == 200, "GET /healthz once the database is back: 200 again",
           f"{response.status_code} {short(response.get_data(as_text=True))}",
           "answer what ping() says now, at each request: never remember a failure")
    expect(pinged, "GET /healthz to call ping(), at that request", "ping() was not called while answering",
           "the database may go away, or come back, at any time: only a call made now tells")
    return ("200 with the database up, 503 and the error's class (never its message) for a refused connection "
            "and for a driver's error, 200 again once it is back; the secret from the settings")


# --------------------------------------------------------------------------- step 7: gunicorn's command line


class _Refused(Exception):
    """gunicorn would refuse these options: the message it would print."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Refused(message)


def _fallback_parser() -> argparse.ArgumentParser:
    """gunicorn's main options, where gunicorn is not installed (Windows): what ``gunicorn.config``
    declares for them, with its names (``dest``) and its defaults (None: not given)."""
    parser = _Parser(prog="gunicorn", add_help=False)
    parser.add_argument("args", nargs="*")
    valued = {("-w", "--workers"): int, ("--threads",): int, ("-t", "--timeout"): int, ("--graceful-timeout",): int,
              ("--keep-alive",): int, ("--max-requests",): int, ("-k", "--worker-class"): str, ("-c", "--config"): str,
              ("--chdir",): str, ("--access-logfile",): str, ("--error-logfile", "--log-file"): str,
              ("--log-level",): str, ("-n", "--name"): str, ("--pid", "-p"): str, ("-u", "--user"): str,
              ("-g", "--group"): str, ("--worker-tmp-dir",): str, ("--forwarded-allow-ips",): str}
    for flags, kind in valued.items():
        parser.add_argument(*flags, type=kind, default=None)
    parser.add_argument("-b", "--bind", action="append", default=None)
    parser.add_argument("-e", "--env", action="append", default=None)
    for flag in ("--reload", "--preload", "--capture-output", "--check-config", "--print-config"):
        parser.add_argument(flag, action="store_true", default=None)
    parser.add_argument("-D", "--daemon", action="store_true", default=None)
    return parser


def _gunicorn_options(options: list[str]) -> argparse.Namespace:
    """The options as gunicorn reads them: its own parser where it is installed, else the fallback."""
    try:
        from gunicorn.config import Config  # Linux, macOS: gunicorn itself

        parser = Config(prog="gunicorn").parser()
    except ImportError:  # Windows: no gunicorn (its config needs pwd and grp)
        parser = _fallback_parser()
    stderr, stdout = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            return parser.parse_args(options)
    except SystemExit:  # argparse: an error, --help or --version
        said = (stderr.getvalue() or stdout.getvalue()).strip().splitlines()
        raise _Refused(said[-1] if said else "it stops before serving anything") from None


def _program(command: list[str]) -> tuple[str, list[str]]:
    """The program a command starts (``gunicorn``, ``flask``, ``python -m flask``...), and its arguments."""
    def name(path):
        base = ntpath.basename(posixpath.basename(path)).lower()
        return base[:-4] if base.endswith(".exe") else base

    first = name(command[0]) if command else ""
    if first.startswith("python") and len(command) >= 3 and command[1] == "-m":
        return command[2], command[3:]
    return first, command[1:]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _address(bind: str) -> tuple[str, str]:
    """``(host, port)`` of a ``--bind`` value, as gunicorn reads it (``util.parse_address``)."""
    if bind.startswith(("unix:", "fd://")):
        return bind, ""
    bind = bind.removeprefix("tcp://")
    if bind.startswith("[") and "]" in bind:
        host, _, rest = bind[1:].partition("]")
        return host, rest.removeprefix(":") or "8000"
    if ":" in bind:
        host, _, port = bind.partition(":")
        return host or "0.0.0.0", port or "8000"
    return bind or "0.0.0.0", "8000"


NOT_GUNICORN = {
    "flask": "flask run is Flask's development server: for your laptop only, never in production",
    "waitress-serve": "waitress is a production server too, but here the service runs under gunicorn, as in "
                      "deploy/netcourse.service and the Dockerfile",
}


@checker("gunicorn command")
def check_gunicorn_command(gunicorn_command):
    """``gunicorn_command(target, port, cores)`` returns gunicorn's command line as a list of strings:
    ``target`` served by (2 x cores) + 1 worker processes, listening on 127.0.0.1 (or another loopback
    address) at ``port``, and nowhere else. The list is read as gunicorn reads it; nothing runs.
    """
    for target, port, cores in (("wsgi:app", 8123, 1), ("contacts.wsgi:create_app()", 9000, 4)):
        shown = f"gunicorn_command({target!r}, {port}, {cores})"
        command = call(gunicorn_command, target, port, cores, expected=f"{shown} to return the command line")
        expect(isinstance(command, (list, tuple)) and command, f"{shown}: a list of strings, one per word",
               short(command, 100),
               "a list: subprocess.run() and a Dockerfile's exec-form CMD take one, and no shell splits it at spaces"
               if isinstance(command, str) else "return the list")
        wrong = [item for item in command if not isinstance(item, str)]
        expect(not wrong, f"{shown}: every item a str", f"{short(wrong[0]) if wrong else ''} in {short(list(command), 100)}",
               "numbers as text too: str(...) or an f-string; subprocess.run() refuses an int")
        program, options = _program(list(command))
        expect(program == "gunicorn", f"{shown}: a command that starts gunicorn (its name, its full path, "
                                      "or python -m gunicorn, first)",
               short(list(command), 100), NOT_GUNICORN.get(program, "the first item is the program to start"))
        try:
            parsed = _gunicorn_options(options)
        except _Refused as error:
            raise Failure(f"{shown}: options gunicorn accepts", f"gunicorn says: {error}",
                          "gunicorn [OPTIONS] APP: each option and each value one item of the list") from None
        expect_equal(list(parsed.args), [target], f"{shown}: the application to serve",
                     "target, once, as it is given: gunicorn [OPTIONS] wsgi:app")
        workers = parsed.workers
        expect(workers == 2 * cores + 1, f"{shown}: {2 * cores + 1} worker processes, (2 x {cores}) + 1",
               f"{workers if workers is not None else 'no --workers (gunicorn then starts 1)'}",
               "--workers: gunicorn suggests (2 x cores) + 1, a few per core, since workers also wait for I/O")
        binds = parsed.bind or []
        expect(binds, f"{shown}: --bind 127.0.0.1:{port}", "no --bind",
               "say where to listen: without --bind, gunicorn listens on 127.0.0.1:8000, "
               "or on 0.0.0.0:$PORT, every network interface, when the environment has a PORT")
        for bind in binds:
            host, at = _address(bind)
            expect(_loopback(host), f"{shown}: to listen on 127.0.0.1 only", f"--bind {bind}",
                   f"{host} is every network interface: anyone could reach gunicorn without nginx; bind to 127.0.0.1"
                   if host in ("0.0.0.0", "::") else
                   "a Unix socket works behind nginx too, but this step asks for 127.0.0.1 and the port given"
                   if bind.startswith(("unix:", "fd://")) else "127.0.0.1: from the network, the way in is nginx")
            expect(at == str(port), f"{shown}: to listen at port {port}", f"--bind {bind}", "HOST:PORT, the port given")
    return "gunicorn, (2 x cores) + 1 workers, on 127.0.0.1 at the port given only, as gunicorn reads its options"
