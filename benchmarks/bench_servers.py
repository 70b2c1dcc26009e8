"""Benchmark of the sandbox servers: start-up time and request throughput.

    python benchmarks/bench_servers.py [--launches 10] [--seconds 2] [--servers echo ...]

Prints, in one run:
- the median launch-to-ready time of each server over N launches, next to the
  bare interpreter start-up (``python -c pass``) measured in the same run;
- echo and contacts round trips per second with 1 and 50 concurrent clients,
  each client on its own connection, one request in flight at a time.
Figures, not pass/fail: compare them between versions on the same machine.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # find `sandbox` without installing the course

from sandbox import common, launch  # noqa: E402
from sandbox.servers import SERVERS  # noqa: E402


NEED_OPTIONS = {"app", "tap"}  # servers that cannot start without options of their own


def median_seconds(action, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def interpreter_startup() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def time_launches(name: str, repeat: int) -> float:
    """Median time from launch() to a server that accepts connections (stop() not timed)."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        server = launch(name, replace=False)
        timings.append(time.perf_counter() - started)
        server.stop()
    return statistics.median(timings)


def echo_exchange(conn: socket.socket, reader) -> None:
    conn.sendall(b"x" * 64)
    received = 0
    while received < 64:
        received += len(conn.recv(64 - received))


def contacts_exchange(conn: socket.socket, reader) -> None:
    conn.sendall(b'{"cmd": "get", "args": {"name": "Ada"}}\n')
    reply = json.loads(reader.readline())
    assert reply["status"], reply


def throughput(address, exchange, clients: int, seconds: float) -> tuple[float, int]:
    """Round trips per second over all clients, and the number of failed clients."""
    counts = [0] * clients
    errors = []
    connected = threading.Barrier(clients + 1)
    go = threading.Event()
    deadline = 0.0

    def client(i: int) -> None:
        with socket.create_connection(address, timeout=10) as conn, conn.makefile("rb") as reader:
            connected.wait()
            go.wait()
            try:
                while time.perf_counter() < deadline:
                    exchange(conn, reader)
                    counts[i] += 1
            except (OSError, AssertionError, ValueError) as error:
                errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    connected.wait()  # every client has its connection: start them all at once
    started = time.perf_counter()
    deadline = started + seconds
    go.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started), len(errors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=common.positive_integer, default=10, help="launches per server (default: 10)")
    parser.add_argument("--seconds", type=common.positive_seconds, default=2.0,
                        help="duration of each throughput run (default: 2)")
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), metavar="NAME",
                        help="servers whose start-up to time (default: all that start without options)")
    args = parser.parse_args(argv)

    print(f"Python {sys.version.split()[0]} on {sys.platform}; median of {args.launches} runs\n")
    bare = median_seconds(interpreter_startup, args.launches)
    print(f"{'start-up':<28}{'median':>10}{'x python -c pass':>20}")
    print(f"{'python -c pass':<28}{bare * 1000:>8.0f} ms{1:>20.1f}")
    for name in args.servers or [name for name in SERVERS if name not in NEED_OPTIONS]:
        ready = time_launches(name, args.launches)
        print(f"{'launch(' + repr(name) + ')':<28}{ready * 1000:>8.0f} ms{ready / bare:>20.1f}")

    print(f"\n{'throughput':<28}{'clients':>8}{'round trips/s':>16}{'errors':>8}")
    with launch("echo", replace=False) as echo, launch("contacts", replace=False) as contacts:
        with socket.create_connection(contacts.address) as conn:
            conn.sendall(b'{"cmd": "add", "args": {"name": "Ada", "email": "ada@example.org"}}\n')
            conn.makefile("rb").readline()
        for label, server, exchange in (("echo (64 bytes)", echo, echo_exchange), ("contacts (get)", contacts, contacts_exchange)):
            for clients in (1, 50):
                rate, errors = throughput(server.address, exchange, clients, args.seconds)
                print(f"{label:<28}{clients:>8}{rate:>16,.0f}{errors:>8}")


if __name__ == "__main__":
    main()
