"""The smallest WSGI application, served like the messaging server: the benchmark's ceiling.

    python benchmarks/hello_wsgi.py [--port P] [--workers N]

Whatever the request, it answers 200 with a short JSON body and does no other
work, on waitress with the same options as ``python -m sandbox messaging``.
No server of ours can be faster on this machine, so bench_messaging.py
reports the messaging server's speed as a fraction of this one's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # find `sandbox` without installing the course

from sandbox import common  # noqa: E402
from sandbox.messaging import WAITRESS_OPTIONS  # noqa: E402

NAME = "hello"
BODY = b'{"hello": "world"}'


def app(environ, start_response):
    environ["wsgi.input"].read()  # read the body, as the messaging server does
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def make_app():
    """The application, for each process of --workers (see common.serve_wsgi_workers)."""
    return app


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, "A WSGI hello-world on waitress, for benchmarks.")
    parser.add_argument("--workers", type=common.positive_integer, default=1, metavar="N",
                        help="processes that serve requests, as in python -m sandbox messaging (default: 1)")
    args = common.parse_args(parser, argv)
    common.serve_wsgi_workers(NAME, app, make_app, args.host, args.port, args.workers, **WAITRESS_OPTIONS)


if __name__ == "__main__":
    main()
