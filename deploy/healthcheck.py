"""Exit 0 when the service answers its health check with 200, else 1.

    python healthcheck.py http://127.0.0.1:8000/healthz             # Docker's HEALTHCHECK
    python healthcheck.py --wait 30 http://127.0.0.1:8000/healthz   # systemd's ExecStartPost

With ``--wait``, try again every half second for that many seconds (a service
that is starting). Standard library only: a slim image has no curl.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request

# No proxy: an HTTP_PROXY variable in the environment must not send a check
# of 127.0.0.1 to another machine.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthy(url: str, timeout: float = 3.0) -> bool:
    try:
        with OPENER.open(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):  # refused, timed out, or an HTTP error status such as 503
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="keep trying for this many seconds (default: try once)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while not healthy(args.url):
        if time.monotonic() >= deadline:
            print(f"unhealthy: {args.url}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
