"""Benchmark of contacts --data: the time of one change as the book grows.

    python benchmarks/bench_contacts_data.py [--adds 3000] [--block 500] [--churn 3000] [--folder DIR]

Starts ``contacts --data FILE`` with an empty book in a temporary folder (on
the disk of DIR, default: the system's temporary folder), adds ``--adds``
contacts one after the other on one connection, and prints the time per add
(median, mean, slowest) for each block of ``--block`` adds; then the time per
change of ``--churn`` pairs of an add and a delete, the book's size staying
the same; then the size of the data file and the time the server takes to
start with the full book.
Every change is written to the disk (fsync) before it is answered, so the
figures depend on the disk: compare them between versions on the same machine.
Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # find `sandbox` without installing the course

from sandbox import common, launch  # noqa: E402


def ask(conn: socket.socket, reader, request: dict) -> dict:
    conn.sendall(json.dumps(request).encode() + b"\n")
    reply = json.loads(reader.readline())
    assert reply["status"], reply
    return reply


def show(label: str, timings: list[float]) -> None:
    print(f"{label:<22}{statistics.median(timings) * 1000:>10.2f}"
          f"{statistics.mean(timings) * 1000:>10.2f}{max(timings) * 1000:>10.2f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adds", type=common.positive_integer, default=3000, help="contacts to add (default: 3000)")
    parser.add_argument("--block", type=common.positive_integer, default=500,
                        help="adds per line of figures (default: 500)")
    parser.add_argument("--churn", type=common.positive_integer, default=3000,
                        help="pairs of an add and a delete on the full book (default: 3000)")
    parser.add_argument("--folder", type=Path, default=None,
                        help="where to make the temporary folder (default: the system's)")
    args = parser.parse_args(argv)

    print(f"Python {sys.version.split()[0]} on {sys.platform}; contacts --data, one connection, one change at a time\n")
    print(f"{'changes':<22}{'median':>10}{'mean':>10}{'slowest':>10}   (ms per change)")
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        book = Path(folder) / "book.json"
        with launch("contacts", replace=False, data=book) as server:
            with socket.create_connection(server.address, timeout=60) as conn, conn.makefile("rb") as reader:
                for first in range(0, args.adds, args.block):
                    timings = []
                    for i in range(first, min(first + args.block, args.adds)):
                        started = time.perf_counter()
                        ask(conn, reader, {"cmd": "add", "args": {"name": f"Contact {i:06}", "email": f"{i}@example.org"}})
                        timings.append(time.perf_counter() - started)
                    show(f"{first + 1}-{first + len(timings)}", timings)
                timings = []
                for _ in range(args.churn):
                    for cmd in ("add", "delete"):  # the book keeps its size
                        started = time.perf_counter()
                        ask(conn, reader, {"cmd": cmd, "args": {"name": "Temp"}})
                        timings.append(time.perf_counter() - started)
                show(f"{args.churn} x add+delete", timings)
        size = sum(path.stat().st_size for path in Path(folder).iterdir())
        print(f"\ndata file after these changes: {size / 1024:,.0f} KiB")
        started = time.perf_counter()
        with launch("contacts", replace=False, data=book) as server:
            ready = time.perf_counter() - started
            with socket.create_connection(server.address, timeout=60) as conn, conn.makefile("rb") as reader:
                count = len(ask(conn, reader, {"cmd": "list"})["data"])
        print(f"launch with the full book: {ready * 1000:,.0f} ms ({count} contacts)")


if __name__ == "__main__":
    main()
