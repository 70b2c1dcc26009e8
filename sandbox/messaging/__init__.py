"""Messaging REST API and web client: the server of the course's capstone exercise.

    python -m sandbox messaging [--host H] [--port P] [--db FILE] [--users CSV [--tokens-out CSV]]
                                [--no-registration] [--rate-limit RATE] [--workers N] [--dev] [--quiet]
                                [--certfile PEM --keyfile PEM]
                                [faults: --latency T --cut F --slow B --http-errors [S:]F --seed N]

Users register (or get a token from their instructor), set a status, send
each other messages and read their own inbox, with ``requests`` or from the web
page the server shows at ``/``. The API is described at /api/v1/docs.

For a class, on the instructor's machine::

    python -m sandbox messaging --host 0.0.0.0 --port 8000 --db class.sqlite3 \\
        --users class.csv --no-registration --workers 4

serves every student's machine with waitress (a production server that also
runs on Windows) in 4 processes, with the accounts of class.csv; their tokens
are in class-tokens.csv (see roster.py).

On a network, what it exposes: the web page and the API to anyone who reaches
the port; with --no-registration, nothing but the page without a token. Over
plain HTTP the tokens travel in clear: anyone on the same Wi-Fi who records its
traffic can read them, and act as their owner. Given a certificate
(--certfile, --keyfile), the server speaks HTTPS instead (served by gunicorn:
Linux and macOS). A class whose network is shared with strangers wants that;
on Windows, put a reverse proxy that does TLS in front.

At start-up it prints the address of the instructor's dashboard, with its
token: ``instructor dashboard: http://...:8000/class#TOKEN`` (dashboard.py).

The package: app.py (the Flask application: routes, the wording of its errors,
authentication; the JSON error shape and the request log are sandbox/web.py's),
db.py (SQLite), validation.py (limits and checks), openapi.py (the API's
description), live.py (each user's events, pushed as Server-Sent Events),
dashboard.py (the instructor's page at /class), roster.py (accounts from a CSV
file), static/ (the web client and the dashboard's page).
"""

from __future__ import annotations

import functools
import logging
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from limits import parse_many  # the library under Flask-Limiter

from .. import common, faults
from . import roster
from .app import create_app
from .dashboard import new_token
from .live import LIVE_STREAMS
from .validation import LIMITS

NAME = "messaging"
DESCRIPTION = """Messaging REST API (Flask) with accounts, persistence in SQLite, interactive docs at
/api/v1/docs and a web client at /. Served by waitress (by gunicorn over HTTPS with --certfile;
by Flask's development server with --dev)."""
DEFAULT_RATE_LIMIT = "20/second"
CLASS_WORKERS = 4  # the --workers of the class command above

# How waitress serves: common.WAITRESS_OPTIONS (sized for a class), plus a
# body limit, and threads for the live streams. threads (16 there): with waitress's default of 4, a burst of 100
# clients with open connections stalled it (27 requests/s, p50 1 s, measured
# with benchmarks/bench_messaging.py); 16 threads served them at ~700/s. More
# threads do not make one request faster: a process runs one thread's Python
# at a time. More processes do (--workers): 4 of them read ~2,700 inboxes a
# second on a laptop with 2 processors. max_request_body_size: waitress
# refuses larger bodies itself, before the application (which allows 64 KiB,
# and answers 413 in JSON between the two) reads a byte. Each live stream
# (GET /api/v1/events) holds a thread while it is open (see live.py): the
# streams get threads of their own, on top of those that answer requests.
THREADS = common.WAITRESS_OPTIONS["threads"] + LIVE_STREAMS
WAITRESS_OPTIONS = {"max_request_body_size": 1024 * 1024, "threads": THREADS}

EXPOSED = ('the page and the API, to anyone who reaches the port; with --no-registration, nothing but '
           'the page without a token. Over HTTP the tokens travel in clear: give --certfile and '
           '--keyfile for HTTPS.')


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument(
        "--db", type=Path, metavar="FILE",
        help="SQLite file with the users and messages; created if missing, kept after the server stops "
        "(default: a temporary file, deleted when the server stops)",
    )
    parser.add_argument(
        "--users", type=Path, metavar="CSV",
        help="create an account for each name of this CSV file (header: name) that has none yet, "
        "and write the new accounts' tokens to --tokens-out",
    )
    parser.add_argument(
        "--tokens-out", type=Path, metavar="CSV",
        help="where --users appends name,id,token for each account it creates "
        "(default: next to the --users file, e.g. class.csv -> class-tokens.csv)",
    )
    parser.add_argument(
        "--no-registration", action="store_true",
        help="refuse POST /api/v1/users (403): only the accounts already in --db or from --users exist; "
        "reading the users then needs a token too",
    )
    parser.add_argument(
        "--rate-limit", default=DEFAULT_RATE_LIMIT, metavar="RATE",
        help=f'requests allowed per client address, e.g. "20/second" or "1000/minute"; '
        f'"off" for no limit (default: {DEFAULT_RATE_LIMIT})',
    )
    parser.add_argument(
        "--workers", type=common.positive_integer, default=1, metavar="N",
        help="processes that serve requests (default: 1). A Python process computes on one processor at a "
        f"time: for a class, use one per processor, e.g. --workers {CLASS_WORKERS} (the rate limit is then "
        "counted by each process on its own)",
    )
    parser.add_argument(
        "--dev", action="store_true",
        help="serve with Flask's development server instead of waitress (to compare them; not for a class)",
    )
    parser.add_argument(
        "--certfile", type=Path, metavar="PEM",
        help="serve HTTPS with this certificate (and --keyfile), so that tokens and messages travel "
        "encrypted on the network; served by gunicorn (Linux and macOS)",
    )
    parser.add_argument("--keyfile", type=Path, metavar="PEM", help="the private key of --certfile")
    parser.add_argument("--quiet", action="store_true", help="do not print a line for each request")
    faults.add_faults(parser, faults.WSGI)
    args = common.parse_args(parser, argv)
    fault_settings = faults.settings(parser, args)  # FaultPlan's arguments: each process makes its own plan
    if faults.FaultPlan(**fault_settings).active and (args.dev or args.certfile):
        parser.error("the fault options need waitress: leave out --dev and --certfile")

    if args.dev and args.workers > 1:
        parser.error("--workers needs waitress: leave out --dev")
    if args.certfile or args.keyfile:
        check_https(parser, args)
    rate_limit = None if args.rate_limit == "off" else args.rate_limit
    if rate_limit:
        try:
            parse_many(rate_limit)
        except ValueError:
            parser.error(f'--rate-limit {args.rate_limit!r}: expected something like "20/second", or "off"')

    with ExitStack() as cleanup:
        database = args.db
        if database is None:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="messaging-", ignore_cleanup_errors=True))
            database = Path(folder) / "messages.sqlite3"
        config = {
            "DATABASE": database,
            "REGISTRATION_OPEN": not args.no_registration,
            "RATE_LIMIT": rate_limit,
            "LOG_REQUESTS": not args.quiet,
            "INSTRUCTOR_TOKEN": new_token(),  # one for every process: made here, given to each
        }
        try:
            app = served_app(config, fault_settings)  # creates the database, if needed
            if args.users:
                add_class(args.users, args.tokens_out, database, temporary=args.db is None)
        except (ValueError, OSError) as e:  # a bad --users file, a --db that is no SQLite file...
            parser.exit(2, f"{parser.prog}: error: {e}\n")
        announce_dashboard(config["INSTRUCTOR_TOKEN"], args)
        if args.certfile:
            # waitress does no TLS: gunicorn does, in worker processes of its own, each
            # with threads as waitress's (on Windows, a reverse proxy in front does it).
            common.serve_gunicorn(NAME, app, args.host, args.port, scheme="https", workers=args.workers,
                                  worker_class="gthread", threads=THREADS,
                                  certfile=str(args.certfile), keyfile=str(args.keyfile))
        elif args.dev:
            # Flask's server logs each request itself; ours (LOG_REQUESTS) is enough.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            common.serve_wsgi(NAME, app, args.host, args.port, dev=True)
        else:
            make_app = functools.partial(served_app, config, fault_settings)  # for the other processes, if --workers > 1
            common.serve_wsgi_workers(NAME, app, make_app, args.host, args.port, args.workers, **WAITRESS_OPTIONS)


def served_app(config: dict, fault_settings: dict):
    """The application of one process: create_app(config), behind the faults asked for (if any).
    A function at the top of the module: serve_wsgi_workers() calls it in each process."""
    return faults.wrap(create_app(config), faults.FaultPlan(**fault_settings))


def announce_dashboard(token: str, args) -> None:
    """Where the instructor's dashboard is, with its token: printed once, on stderr, never logged again."""
    # After # in a URL: the browser keeps it (the page reads it), never sends it, so no log shows it.
    where = (common.url_of("https" if args.certfile else "http", args.host, args.port) if args.port
             else "this server")
    print(f"instructor dashboard: {where}/class#{token} (the token after # opens it: keep it to yourself)",
          file=sys.stderr, flush=True)


def check_https(parser, args) -> None:
    """--certfile and --keyfile: both, readable, and a server that can use them."""
    if not (args.certfile and args.keyfile):
        parser.error("HTTPS needs both --certfile and --keyfile")
    if args.dev:
        parser.error("--certfile needs gunicorn: leave out --dev")
    if problem := common.gunicorn_problem():
        parser.error(f"--certfile: {problem}; there, put a reverse proxy that does TLS in front "
                     "(chapter 10's nginx)")
    for option, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
        if not path.is_file():
            parser.error(f"{option} {path}: no such file")
    import ssl

    try:  # what gunicorn will do in each worker: fail here, with a clear message, rather than there
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(args.certfile, args.keyfile)
    except (ssl.SSLError, OSError) as e:
        parser.error(f"--certfile {args.certfile} --keyfile {args.keyfile}: not a certificate and its key ({e})")


def add_class(users_file: Path, tokens_file: Path | None, database: Path, temporary: bool) -> None:
    """--users: create the missing accounts; say where their tokens are (on stderr, before the server starts)."""
    names = roster.read_names(users_file)
    created = roster.add_accounts(database, names)
    if not created:
        print(f"{users_file}: all {len(names)} names have an account already", file=sys.stderr)
        return
    tokens_file = tokens_file or roster.default_tokens_file(users_file)
    roster.write_tokens(tokens_file, created)
    print(f"{users_file}: created {len(created)} accounts; their tokens were added to {tokens_file}. "
          "Give each student their own: the server keeps only a hash of it.", file=sys.stderr)
    if temporary:
        print("note: without --db these accounts disappear when the server stops", file=sys.stderr)
