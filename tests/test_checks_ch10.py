"""checks/ch10.py's steps 5 to 7 (settings, health check, gunicorn's command line) against right
and wrong answers. Steps 1 to 3 (serve, summarize, measure): tests/test_checks_part2.py."""

from __future__ import annotations

import os
import sys
import time

import pytest
from flask import Flask

from checker_helpers import stub, verdict
from checks import ch10, core
from checks.core import FAILED, NOT_DONE, PASSED


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checkers as a student runs them: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


# --------------------------------------------------------------------------- step 5


def load_settings(environ, debug_default="", secret_default=None, empty_database=None, port_as_text=False,
                  name_port=True, port_range=True, debug_words=("1", "true", "yes", "on"), source=None):
    source = environ if source is None else source
    text = source.get("PORT", "8000")
    try:
        port = int(text)
    except ValueError:
        if not name_port:
            raise
        raise ValueError(f"PORT must be a whole number, not {text!r}") from None
    if port_range and not 1 <= port <= 65535:
        raise ValueError(f"PORT must be a whole number from 1 to 65535, not {text!r}")
    secret = source.get("SECRET_KEY", secret_default)
    if not secret:
        raise ValueError("SECRET_KEY is required")
    database = source.get("DATABASE_URL")
    return {"port": text if port_as_text else port,
            "database_url": database if database or database is None or not empty_database else None,
            "debug": source.get("DEBUG", debug_default).lower() in debug_words,
            "secret_key": secret}


def settings_written_otherwise(environ):
    """Another right answer: the same idea, written differently."""
    def word(name, default):
        return environ.get(name, default)

    if not word("PORT", "8000").isdigit() or not 0 < int(word("PORT", "8000")) < 65536:
        raise ValueError(f"bad PORT: {word('PORT', '8000')!r}")
    if not environ.get("SECRET_KEY"):
        raise ValueError("no SECRET_KEY in the environment")
    return dict(port=int(word("PORT", "8000")), database_url=environ.get("DATABASE_URL") or None,
                debug=word("DEBUG", "off").casefold() in {"1", "true", "yes", "on"}, secret_key=environ["SECRET_KEY"])


def test_settings_right():
    begin = time.perf_counter()
    verdict(ch10.check_settings(lambda environ: load_settings(environ, empty_database=True)), PASSED, "11 spellings")
    assert time.perf_counter() - begin < 2
    verdict(ch10.check_settings(settings_written_otherwise), PASSED)


def bool_debug(environ):
    return {**load_settings(environ, empty_database=True), "debug": bool(environ.get("DEBUG"))}


def key_error_secret(environ):
    settings = load_settings({**environ, "SECRET_KEY": "x"}, empty_database=True)
    return {**settings, "secret_key": environ["SECRET_KEY"]}


def present_but_empty_secret(environ):
    if "SECRET_KEY" not in environ:
        raise ValueError("SECRET_KEY is required")
    return {**load_settings({**environ, "SECRET_KEY": "x"}, empty_database=True), "secret_key": environ["SECRET_KEY"]}


def setdefault_port(environ):
    environ.setdefault("PORT", "8000")
    return load_settings(environ, empty_database=True)


@pytest.mark.parametrize("answer, fragments", [
    (lambda e: load_settings(e, debug_default="1", empty_database=True), ["debug, off by default", "never on by default"]),
    (bool_debug, ["'DEBUG': '0'", "debug: False", 'bool("0")']),
    (lambda e: load_settings(e, debug_words=("true",), empty_database=True), ["'DEBUG': '1'", "debug: True", "in any case"]),
    (lambda e: load_settings(e, secret_default="dev", empty_database=True),
     ["to raise ValueError: no SECRET_KEY", "returned", "a secret has no default"]),
    (key_error_secret, ["to raise ValueError: no SECRET_KEY", "it raised KeyError: 'SECRET_KEY'", "raise ValueError instead"]),
    (present_but_empty_secret, ["'SECRET_KEY': ''", "an empty secret is no secret", "returned", "a forgotten secret"]),
    (lambda e: load_settings(e, port_as_text=True, empty_database=True), ["port: 8123 (int)", "'8123' (str)", "int()"]),
    (lambda e: load_settings(e, name_port=False, empty_database=True),
     ["a ValueError whose message names PORT", "invalid literal for int()", "catch it, and raise yours"]),
    (lambda e: load_settings(e, port_range=False, empty_database=True),
     ["'PORT': '0'", "a port is a whole number from 1 to 65535", "returned"]),
    (lambda e: load_settings(e), ["database_url, None when empty", "got:      ''"]),
    (lambda e: load_settings(e, source=os.environ, empty_database=True),
     ["to return the settings", "SECRET_KEY", "not os.environ"]),
    (setdefault_port, ["to leave environ as it was", "'PORT': '8000'", "environ.setdefault"]),
    (lambda e: list(load_settings(e, empty_database=True).values()), ["a dict with the keys"]),
])
def test_settings_wrong(monkeypatch, answer, fragments):
    monkeypatch.delenv("SECRET_KEY", raising=False)  # the answer that reads os.environ finds none there
    verdict(ch10.check_settings(answer), FAILED, *fragments)


def test_settings_stub():
    verdict(ch10.check_settings(stub), NOT_DONE)


# --------------------------------------------------------------------------- step 6


def create_app(settings, ping, catch=Exception, status=503, detail=lambda error: type(error).__name__,
               secret=None, at_start=False, remember=False, call=True):
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secret or settings["secret_key"]
    state = {"failed": False}
    if at_start:
        try:
            ping()
            state["start"] = None
        except Exception as error:  # noqa: BLE001
            state["start"] = error

    @app.get("/healthz")
    def healthz():
        try:
            if at_start and state["start"] is not None:
                raise state["start"]
            if call and not at_start:
                ping()
        except catch as error:
            state["failed"] = True
            return {"status": "failing", "error": detail(error)}, status
        if remember and state["failed"]:  # once failed, failing for ever
            return {"status": "failing", "error": "ConnectionRefusedError"}, status
        return {"status": "ok"}

    return app


def jsonify_app(settings, ping):
    """Another right answer: jsonify, and the route added with add_url_rule."""
    from flask import jsonify

    app = Flask("service")
    app.secret_key = settings["secret_key"]

    def healthz():
        try:
            ping()
        except BaseException as error:  # noqa: BLE001
            response = jsonify(status="failing", error=error.__class__.__name__)
            response.status_code = 503
            return response
        return jsonify(status="ok")

    app.add_url_rule("/healthz", view_func=healthz)
    return app


def test_healthz_right():
    begin = time.perf_counter()
    verdict(ch10.check_healthz(create_app), PASSED, "200 again")
    assert time.perf_counter() - begin < 2
    verdict(ch10.check_healthz(jsonify_app), PASSED)


def text_app(settings, ping):
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings["secret_key"]

    @app.get("/healthz")
    def healthz():
        try:
            ping()
        except Exception:  # noqa: BLE001
            return "failing", 503
        return "ok"

    return app


def unfinished_view(settings, ping):
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings["secret_key"]

    @app.get("/healthz")
    def healthz():
        raise NotImplementedError("TODO: write the view")

    return app


@pytest.mark.parametrize("answer, fragments", [
    (lambda s, p: create_app(s, p, call=False), ["ConnectionRefusedError: 503 Service Unavailable", "got:      200",
                                               "always says 200"]),
    (lambda s, p: create_app(s, p, at_start=True), ["503 Service Unavailable", "200", "always says 200"]),
    (lambda s, p: create_app(s, p, catch=()), ["the application raised ConnectionRefusedError", "in healthz",
                                             "uncaught, it becomes a 500"]),
    (lambda s, p: create_app(s, p, catch=OSError), ["the application raised DatabaseError", "not only OSError"]),
    (lambda s, p: create_app(s, p, status=500), ["503 Service Unavailable", "got:      500", "503 says"]),
    (lambda s, p: create_app(s, p, status=200), ["503 Service Unavailable", "got:      200", "always says 200"]),
    (lambda s, p: create_app(s, p, detail=str), ["without the error's message", "s3cret", "by its class only"]),
    (lambda s, p: create_app(s, p, detail=repr), ["without the error's message", "by its class only"]),
    (lambda s, p: create_app(s, p, detail=lambda e: "database down"),
     ['{"status": "failing", "error": "ConnectionRefusedError"}', "database down", "type(error).__name__"]),
    (lambda s, p: create_app(s, p, remember=True), ["once the database is back: 200 again", "503", "never remember"]),
    (lambda s, p: create_app(s, p, secret="dev"), ["SECRET_KEY", "'dev'", "never from the code"]),
    (text_app, ['200 and {"status": "ok"}', "200 'ok'", "a dict"]),
    (lambda s, p: None, ["a Flask application", "None"]),
])
def test_healthz_wrong(answer, fragments):
    verdict(ch10.check_healthz(answer), FAILED, *fragments)


def test_healthz_stub():
    verdict(ch10.check_healthz(stub), NOT_DONE)
    verdict(ch10.check_healthz(unfinished_view), NOT_DONE, "healthz() still raises NotImplementedError")


# --------------------------------------------------------------------------- step 7


def gunicorn_command(target, port, cores, program=("gunicorn",), workers="--workers", bind="--bind", host="127.0.0.1"):
    return [*program, workers, str(2 * cores + 1), bind, f"{host}:{port}", target]


RIGHT_COMMANDS = [
    gunicorn_command,
    lambda t, p, c: ["gunicorn", "-w", str(2 * c + 1), "-b", f"127.0.0.1:{p}", t],
    lambda t, p, c: ["gunicorn", f"--workers={2 * c + 1}", f"--bind=127.0.0.1:{p}", "--timeout", "30", t],
    lambda t, p, c: ["gunicorn", t, "--bind", f"localhost:{p}", "--bind", f"[::1]:{p}", "--workers", str(2 * c + 1)],
    lambda t, p, c: gunicorn_command(t, p, c, program=(sys.executable, "-m", "gunicorn")),
    lambda t, p, c: gunicorn_command(t, p, c, program=("/srv/netcourse/venv/bin/gunicorn",)),
    lambda t, p, c: tuple(gunicorn_command(t, p, c)),
]


@pytest.fixture(params=["gunicorn", "fallback"])
def parser(request, monkeypatch):
    """gunicorn's own parser (Linux, macOS), or the check's fallback (Windows: no gunicorn)."""
    if request.param == "fallback":
        monkeypatch.setitem(sys.modules, "gunicorn.config", None)  # `from gunicorn.config import ...` fails
    else:
        pytest.importorskip("gunicorn.config")
    return request.param


@pytest.mark.parametrize("answer", RIGHT_COMMANDS)
def test_gunicorn_command_right(parser, answer):
    begin = time.perf_counter()
    verdict(ch10.check_gunicorn_command(answer), PASSED, "(2 x cores) + 1 workers")
    assert time.perf_counter() - begin < 2


def no_workers(target, port, cores):
    return ["gunicorn", "--bind", f"127.0.0.1:{port}", target]


def no_bind(target, port, cores):
    return ["gunicorn", "--workers", str(2 * cores + 1), target]


@pytest.mark.parametrize("answer, fragments", [
    (lambda t, p, c: ["flask", "--app", t.split(":")[0], "run", "--port", str(p)],
     ["a command that starts gunicorn", "'flask'", "development server"]),
    (lambda t, p, c: gunicorn_command(t, p, c, program=(sys.executable, "-m", "flask")), ["starts gunicorn", "development server"]),
    (lambda t, p, c: ["waitress-serve", f"--listen=127.0.0.1:{p}", t], ["starts gunicorn", "waitress is a production server"]),
    (lambda t, p, c: " ".join(gunicorn_command(t, p, c)), ["a list of strings", "'gunicorn --workers 3", "no shell splits it"]),
    (lambda t, p, c: ["gunicorn", "--workers", 2 * c + 1, "--bind", f"127.0.0.1:{p}", t],
     ["every item a str", "3 in", "subprocess.run() refuses an int"]),
    (lambda t, p, c: gunicorn_command(t, p, c, host="0.0.0.0"), ["to listen on 127.0.0.1 only", "--bind 0.0.0.0:8123",
                                                                 "every network interface"]),
    (lambda t, p, c: ["gunicorn", "-w", str(2 * c + 1), "-b", f":{p}", t], ["127.0.0.1 only", "--bind :8123"]),
    (lambda t, p, c: gunicorn_command(t, p, c, host="192.168.1.20"), ["127.0.0.1 only", "the way in is nginx"]),
    (lambda t, p, c: ["gunicorn", "-w", str(2 * c + 1), "-b", "unix:/run/netcourse.sock", t], ["127.0.0.1 only", "a Unix socket"]),
    (lambda t, p, c: gunicorn_command(t, 8000, c), ["to listen at port 8123", "--bind 127.0.0.1:8000"]),
    (lambda t, p, c: gunicorn_command(t, p, c)[:-1] + [t, f"127.0.0.1:{p}"], ["the application to serve"]),
    (lambda t, p, c: gunicorn_command(t, p, c)[:-1], ["the application to serve", "got:      []"]),
    (lambda t, p, c: ["gunicorn", "--workers", str(c), "--bind", f"127.0.0.1:{p}", t],
     ["3 worker processes, (2 x 1) + 1", "got:      1", "gunicorn suggests"]),
    (lambda t, p, c: ["gunicorn", "--workers", str(2 * os.cpu_count() + 1), "--bind", f"127.0.0.1:{p}", t],
     ["worker processes", "gunicorn suggests"]),  # this machine's cores, not the ones given
    (no_workers, ["3 worker processes", "no --workers (gunicorn then starts 1)"]),
    (no_bind, ["--bind 127.0.0.1:8123", "no --bind", "0.0.0.0:$PORT"]),
    (lambda t, p, c: gunicorn_command(t, p, c, bind="--bnd"), ["options gunicorn accepts", "gunicorn says", "--bnd"]),
    (lambda t, p, c: gunicorn_command(t, p, c, workers="--workers", program=("gunicorn", "--workers", "three")),
     ["options gunicorn accepts", "three"]),
])
def test_gunicorn_command_wrong(parser, answer, fragments):
    verdict(ch10.check_gunicorn_command(answer), FAILED, *fragments)


def test_gunicorn_command_stub():
    verdict(ch10.check_gunicorn_command(stub), NOT_DONE)


def test_the_fallback_reads_options_as_gunicorn_does():
    gunicorn = pytest.importorskip("gunicorn.config")
    for answer in RIGHT_COMMANDS[:4]:
        options = list(answer("wsgi:app", 8123, 2))
        options = options[1:] if options[0] == "gunicorn" else options
        ours, theirs = ch10._fallback_parser().parse_args(options), gunicorn.Config().parser().parse_args(options)
        assert (ours.workers, ours.bind, ours.args) == (theirs.workers, theirs.bind, theirs.args), options
