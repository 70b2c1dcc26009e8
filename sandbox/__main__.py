"""Command line: ``python -m sandbox --list`` or ``python -m sandbox NAME [options]``."""

from __future__ import annotations

import importlib
import sys

from .servers import SERVERS

USAGE = """usage: python -m sandbox --list
       python -m sandbox NAME --help
       python -m sandbox NAME [--host HOST] [--port PORT] [options]"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        print("\nservers: " + ", ".join(SERVERS))
        return 0
    if argv[0] == "--list":
        width = max(map(len, SERVERS))
        for name, (_, description) in SERVERS.items():
            print(f"{name:<{width}}  {description}")
        return 0
    name, *rest = argv
    if name not in SERVERS:
        print(f"unknown server {name!r}; choose one of: {', '.join(SERVERS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(SERVERS[name][0])
    module.main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
