"""Serve your own Flask (or any WSGI) application from a Python file.

    python -m sandbox app --app hello.py            # the variable `app` in hello.py
    python -m sandbox app --app shop.py:create_app  # or a factory that returns it
    python -m sandbox app --app hello.py --server dev
    python -m sandbox app --app hello.py --server gunicorn --workers 4   # Linux, macOS
    python -m sandbox app --app hello.py --server gunicorn --workers 2 --threads 4

From a notebook: ``srv = launch("app", app="hello.py")``, then ``requests.get(srv.url)``.
Like every sandbox server it gets a free port, is ready when launch() returns,
and stops with the notebook.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

from . import common

NAME = "app"
DESCRIPTION = "Serve a WSGI application (Flask app) defined in a Python file."
LIMITS = """limits:
  none of its own: the application sets them (e.g. Flask's MAX_CONTENT_LENGTH)
servers:
  waitress  production server, runs everywhere: one process, a pool of threads (default)
  gunicorn  production server for Linux and macOS: a master process and --workers
            forked worker processes, each serving one request at a time, or
            --threads at a time (gunicorn's gthread worker, which keeps connections alive)
  dev       Flask's development server: reloads nothing here; for comparison, and for
            Flask-SocketIO's WebSockets (chapter 09), which waitress cannot hand over
"""
EXPOSED = 'your application, to anyone who reaches the port: it is as safe as you wrote it.'


def load_app(target: str):
    """The WSGI application named by ``FILE.py[:NAME]`` (NAME: a variable or a factory)."""
    # Split at the last colon, unless the whole target is a file: a Windows
    # path has a colon of its own (C:\\course\\hello.py).
    filename, attribute = (target, "") if Path(target).is_file() or ":" not in target else target.rsplit(":", 1)
    path = Path(filename).resolve()
    if not path.is_file():
        raise SystemExit(f"--app {target}: no such file {path}")
    # The file's folder goes first on sys.path, as with `python file.py`, so it
    # can import its neighbours (templates and static files are found by Flask
    # relative to the file itself).
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    for name in [attribute] if attribute else ["app", "application", "create_app"]:
        found = getattr(module, name, None)
        if found is None:
            continue
        # A factory is a function without parameters: call it to get the app.
        # Anything else (a Flask app, a WSGI function(environ, start_response))
        # is the application itself.
        if inspect.isfunction(found) and not inspect.signature(found).parameters:
            return found()
        return found
    raise SystemExit(f"--app {target}: {path.name} defines no {attribute or 'app, application or create_app'}")


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument("--app", required=True, metavar="FILE[:NAME]",
                        help="the Python file and the name of its application or factory (default: app)")
    parser.add_argument("--server", choices=["waitress", "gunicorn", "dev"], default="waitress",
                        help="which WSGI server runs the application (default: waitress)")
    parser.add_argument("--workers", type=common.positive_integer, default=2, metavar="N",
                        help="gunicorn only: how many worker processes (default: 2)")
    parser.add_argument("--threads", type=common.positive_integer, default=1, metavar="N",
                        help="gunicorn only: threads per worker process (default: 1, the sync worker; "
                        "more: the gthread worker)")
    args = common.parse_args(parser, argv)
    if args.server == "gunicorn" and (problem := common.gunicorn_problem()):
        parser.error(f"{problem}; use --server waitress")
    application = load_app(args.app)
    if args.server == "gunicorn":
        threads = {"worker_class": "gthread", "threads": args.threads} if args.threads > 1 else {}
        common.serve_gunicorn(NAME, application, args.host, args.port, workers=args.workers, **threads)
    else:
        common.serve_wsgi(NAME, application, args.host, args.port, dev=args.server == "dev")


if __name__ == "__main__":
    main()
