"""How fast is the messaging server? Requests per second and latency, under load.

    python benchmarks/bench_messaging.py [--seconds 3] [--clients 1,20,100] [--workers 4]
    python benchmarks/bench_messaging.py --live [--students 200] [--seconds 60] [--every 3] [--workers 4]

Four servers, each started here and stopped at the end:

  (a) flask-dev   python -m sandbox messaging --dev           Flask's development server
  (b) waitress-1  python -m sandbox messaging                 waitress, one process
  (c) waitress    python -m sandbox messaging --workers W     the classroom server: W
                                                              waitress processes, as in
                                                              the class command
  (d) hello       benchmarks/hello_wsgi.py --workers W        a WSGI hello-world on the
                                                              same W processes: the ceiling

Two operations: reading an inbox (GET /api/v1/users/<id>/messages, a page of
20) and sending a message (POST /api/v1/users/<id>/messages). The hello-world
gets the same requests and ignores them. Each concurrent client is a thread
with its own keep-alive connection (http.client), sending its next request as
soon as it has the answer to the previous one, for --seconds after a short
warm-up. Each client uses its own account, and rate limiting is off.

The figures printed are requests per second (all clients together), the
median (p50) and 99th percentile (p99) latency of one request, and the number
of errors (a failed connection or an unexpected status). At the end, the
ratio messaging/hello-world at the highest number of clients: the share of
the server's capacity the application leaves, with a target of 0.5.

With --live, a class instead: --students students, each with a live stream
open (GET /api/v1/events, read as it comes), each sending a message to
another student every --every seconds (on average), for --seconds; then a
few seconds more for the last messages to arrive. Printed, for one waitress
process and for --workers W side by side: the messages sent and delivered,
the errors (a send that failed, a stream that broke without reconnecting, a
message that never arrived), and the latency of delivery, from just before
the POST to the moment the recipient's stream brings the message (p50, p99,
max). With several processes, sender and recipient are mostly served by
different ones: the message goes through the SQLite file.

The clients run on the same machine as the servers and share its processors
with them: this measures the whole machine, as when an instructor runs the
class server on a laptop. It prints no verdict; it is not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import socket
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # find `sandbox` without installing the course

from sandbox import common, launch  # noqa: E402
from sandbox.launcher import ANNOUNCEMENT  # noqa: E402
from sandbox.messaging import CLASS_WORKERS, db  # noqa: E402

USERS = 100  # accounts, one per client (at most)
INBOX_SIZE = 25  # messages in each inbox before the benchmark: more than one page
WARM_UP = 0.5  # seconds of requests not counted, at the start of each run


def prepare_database(path: Path) -> list[tuple[int, str]]:
    """Accounts with full inboxes: [(user id, token)]."""
    db.create(path)
    conn = db.connect(path)
    try:
        accounts = [(user["id"], token) for user, token in db.add_users(conn, [f"user {i}" for i in range(USERS)])]
        for number, (user_id, _) in enumerate(accounts):
            sender_id = accounts[(number + 1) % USERS][0]
            for i in range(INBOX_SIZE):
                db.add_message(conn, sender_id, user_id, f"message {i} for user {user_id}")
    finally:
        conn.close()  # the last connection to close folds the write-ahead log into the file
    return accounts


class Hello:
    """benchmarks/hello_wsgi.py, started like sandbox.launch() starts a server."""

    def __init__(self, workers: int):
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "hello_wsgi.py"), "--port", "0", "--workers", str(workers),
             "--watch-parent"],
            # stderr: waitress's "Task queue depth" warnings when clients wait, not wanted here
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        match = ANNOUNCEMENT.match(self.process.stdout.readline())
        if not match:
            self.process.kill()
            raise RuntimeError("hello_wsgi.py did not start")
        self.host, self.port = match["host"], int(match["port"])
        self.url = f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.process.stdin.close()  # --watch-parent: end of input stops it
        self.process.wait(10)
        self.process.stdout.close()


def request_for(operation: str, accounts: list[tuple[int, str]], client: int) -> tuple[str, str, bytes | None, dict, int]:
    """(method, path, body, headers, expected status) of one client's request."""
    user_id, token = accounts[client % len(accounts)]
    headers = {"Authorization": f"Bearer {token}"}
    if operation == "read inbox":
        return "GET", f"/api/v1/users/{user_id}/messages?limit=20", None, headers, 200
    recipient = accounts[(client + 1) % len(accounts)][0]
    body = json.dumps({"text": f"benchmark message from user {user_id}"}).encode()
    return "POST", f"/api/v1/users/{recipient}/messages", body, {**headers, "Content-Type": "application/json"}, 201


def run(host: str, port: int, requests: list[tuple], seconds: float) -> dict:
    """Every client sends its request in a loop: the figures of the measured period."""
    start_barrier = threading.Barrier(len(requests) + 1)
    results = []  # per client: (latencies in seconds, errors)
    lock = threading.Lock()
    timing = {}

    def client(method: str, path: str, body: bytes | None, headers: dict, expected: int) -> None:
        latencies, errors = [], 0
        connection = http.client.HTTPConnection(host, port, timeout=30)
        start_barrier.wait()
        while (now := time.perf_counter()) < timing["end"]:
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == expected
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
            finished = time.perf_counter()
            if timing["start"] <= now and finished <= timing["end"]:  # entirely in the measured period
                latencies.append(finished - now)
                errors += not ok
        connection.close()
        with lock:
            results.append((latencies, errors))

    threads = [threading.Thread(target=client, args=request) for request in requests]
    for thread in threads:
        thread.start()
    timing["start"] = time.perf_counter() + WARM_UP
    timing["end"] = timing["start"] + seconds
    start_barrier.wait()
    for thread in threads:
        thread.join()
    latencies = sorted(latency for client_latencies, _ in results for latency in client_latencies)
    count = len(latencies)
    return {
        "rps": count / seconds,
        "p50": latencies[count // 2] * 1000 if count else float("nan"),
        "p99": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else float("nan"),
        "errors": sum(errors for _, errors in results),
    }


# --- --live: a class, each student subscribed ------------------------------------------------


class Student:
    """One student: a live stream read in a thread of its own, and messages sent now and then."""

    def __init__(self, host: str, port: int, user_id: int, token: str, board: "Board"):
        self.host, self.port, self.user_id, self.token, self.board = host, port, user_id, token, board
        self.ready = threading.Event()
        self.stopping = False
        self.connection = None
        self.sock = None  # the stream's socket (http.client lets go of it once the answer has begun)
        self.last_id = None
        self.thread = threading.Thread(target=self.listen, daemon=True)

    def listen(self) -> None:
        """Read the stream; reconnect (with Last-Event-ID) when the server ends it."""
        while not self.stopping:
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            try:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.connection.connect()
                self.sock = self.connection.sock
                if self.stopping:
                    break
                self.connection.request("GET", "/api/v1/events", headers=headers)
                response = self.connection.getresponse()
                if response.status != 200:
                    raise http.client.HTTPException(f"status {response.status}")
                event = {}
                while not self.stopping and (line := response.fp.readline()):
                    line = line.decode().rstrip("\n")
                    if line:
                        name, _, value = line.partition(": ")
                        event[name] = value
                        continue
                    if "id" in event:
                        self.last_id = event["id"]
                    if event.get("event") == "ready":
                        self.ready.set()
                    elif event.get("event") == "message":
                        message = json.loads(event["data"])
                        if message["recipient_id"] == self.user_id:
                            self.board.delivered(message["text"])
                    event = {}
            except (OSError, http.client.HTTPException, ValueError):
                if not self.stopping:
                    self.board.error("stream")
                    time.sleep(1)  # as a browser would, after the server's retry:
            finally:
                self.connection.close()
        self.ready.set()

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError, AttributeError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread


class Board:
    """What the students saw: when each message was sent, when it arrived, and the errors."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def sending(self, text: str) -> None:
        with self.lock:
            self.sent[text] = time.perf_counter()

    def delivered(self, text: str) -> None:
        now = time.perf_counter()
        with self.lock:
            if text in self.sent:
                self.latencies.append(now - self.sent.pop(text))

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


def simulate_class(host: str, port: int, accounts: list[tuple[int, str]], seconds: float, every: float) -> dict:
    board = Board()
    students = [Student(host, port, user_id, token, board) for user_id, token in accounts]
    for student in students:
        student.thread.start()
    for student in students:
        student.ready.wait(30)
    end = time.perf_counter() + seconds
    sent = [0]

    def sender(number: int) -> None:
        rng = random.Random(number)
        user_id, token = accounts[number]
        connection = http.client.HTTPConnection(host, port, timeout=30)
        time.sleep(rng.uniform(0, every))  # not all at once
        while time.perf_counter() < end:
            recipient = accounts[(number + rng.randrange(1, len(accounts))) % len(accounts)][0]
            text = f"from {user_id} to {recipient}: {rng.random()}"
            body = json.dumps({"text": text}).encode()
            board.sending(text)
            try:
                connection.request("POST", f"/api/v1/users/{recipient}/messages", body=body,
                                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                if response.status != 201:
                    board.error(f"send {response.status}")
            except (OSError, http.client.HTTPException):
                board.error("send")
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
            sent[0] += 1
            time.sleep(rng.expovariate(1 / every))  # on average every `every` seconds
        connection.close()

    senders = [threading.Thread(target=sender, args=(number,)) for number in range(len(accounts))]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    deadline = time.perf_counter() + 5  # the last messages on their way
    while board.sent and time.perf_counter() < deadline:
        time.sleep(0.05)
    for student in students:
        student.stop()
    for student in students:
        student.thread.join(5)
    latencies = sorted(board.latencies)
    count = len(latencies)

    def at(share: float) -> float:
        return latencies[min(count - 1, int(count * share))] * 1000 if count else float("nan")

    return {"sent": sent[0], "delivered": count, "lost": len(board.sent), "errors": dict(board.errors),
            "p50": at(0.5), "p99": at(0.99), "max": latencies[-1] * 1000 if count else float("nan")}


def live_main(args) -> None:
    print(f"{args.students} students on loopback, each with a live stream open and sending a message every "
          f"{args.every:g} s on average, for {args.seconds:g} s\n")
    header = (f"{'server':<12} {'sent':>6} {'delivered':>9} {'lost':>5} {'errors':>6} "
              f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="bench-messaging-live-") as folder:
        for workers in (1, args.workers):
            database = Path(folder) / f"class-{workers}.sqlite3"
            db.create(database)
            conn = db.connect(database)
            try:
                accounts = [(user["id"], token) for user, token in
                            db.add_users(conn, [f"student {i}" for i in range(args.students)])]
            finally:
                conn.close()
            with launch("messaging", replace=False, db=database, rate_limit="off", quiet=True, workers=workers,
                        timeout=60) as server:
                figures = simulate_class(server.host, server.port, accounts, args.seconds, args.every)
            errors = sum(figures["errors"].values()) + figures["lost"]
            name = "waitress-1" if workers == 1 else f"waitress-{workers}"
            print(f"{name:<12} {figures['sent']:>6} {figures['delivered']:>9} {figures['lost']:>5} {errors:>6} "
                  f"{figures['p50']:>7.0f} {figures['p99']:>7.0f} {figures['max']:>7.0f}"
                  + (f"   {figures['errors']}" if figures["errors"] else ""), flush=True)
    print("\nerrors: sends that failed, streams that broke, and messages never delivered (lost); "
          "latency: from just before the POST to the recipient's stream")


def client_counts(text: str) -> list[int]:
    """argparse type: "1,20,100", each a positive whole number."""
    return [common.positive_integer(count) for count in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=common.positive_seconds,
                        help="measured seconds per run (default: 3; with --live, 60)")
    parser.add_argument("--clients", type=client_counts, default="1,20,100",
                        help="numbers of concurrent clients, comma-separated (default: 1,20,100)")
    parser.add_argument("--workers", type=common.positive_integer, default=CLASS_WORKERS,
                        help=f"processes of the classroom server and of the hello-world (default: {CLASS_WORKERS})")
    parser.add_argument("--live", action="store_true", help="simulate a class with live streams instead (see above)")
    parser.add_argument("--students", type=common.positive_integer, default=200, help="with --live (default: 200)")
    parser.add_argument("--every", type=common.positive_seconds, default=3.0,
                        help="with --live: seconds between a student's messages, on average (default: 3)")
    args = parser.parse_args()
    if args.live:
        args.seconds = args.seconds or 60.0  # a class's minute
        print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
              f"{os.cpu_count()} processors")
        live_main(args)
        return
    args.seconds = args.seconds or 3.0
    levels = args.clients
    if max(levels) > USERS:
        parser.error(f"at most {USERS} clients")

    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} processors; {args.seconds:g} s per run after {WARM_UP:g} s of warm-up")
    if hasattr(os, "getloadavg"):  # other programs busy on the machine change every figure
        print(f"load average before the run: {os.getloadavg()[0]:.1f} (1.0 = one busy processor)")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")
    operations = ["read inbox", "send message"]
    table: dict[tuple[str, str, int], dict] = {}

    with tempfile.TemporaryDirectory(prefix="bench-messaging-") as folder:
        template = Path(folder) / "template.sqlite3"
        accounts = prepare_database(template)

        def messaging(name: str, **options):
            database = Path(folder) / f"{name}.sqlite3"
            shutil.copy(template, database)  # every server starts from the same data
            return launch("messaging", replace=False, db=database, rate_limit="off", quiet=True, **options)

        servers = [
            ("flask-dev", lambda: messaging("flask-dev", dev=True)),
            ("waitress-1", lambda: messaging("waitress-1")),
            ("waitress", lambda: messaging("waitress", workers=args.workers)),
            ("hello", lambda: Hello(args.workers)),
        ]
        print(f"waitress and hello: {args.workers} processes (--workers {args.workers})\n")
        header = f"{'server':<10} {'operation':<13} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        print(header)
        print("-" * len(header))
        for name, start in servers:
            server = start()
            try:
                for operation in operations:
                    for clients in levels:
                        requests = [request_for(operation, accounts, client) for client in range(clients)]
                        if name == "hello":  # it answers 200 to everything
                            requests = [(*request[:4], 200) for request in requests]
                        figures = table[name, operation, clients] = run(server.host, server.port, requests, args.seconds)
                        print(f"{name:<10} {operation:<13} {clients:>7} {figures['rps']:>8.0f} "
                              f"{figures['p50']:>8.1f} {figures['p99']:>8.1f} {figures['errors']:>6}", flush=True)
            finally:
                server.stop()

    top = max(levels)

    def ratio(name: str, other: str, operation: str) -> str:
        below = table[other, operation, top]["rps"]
        if not below:  # a short run on a busy machine: no request of `other` ended within it
            return " n/a"
        return f"{table[name, operation, top]['rps'] / below:.2f}"

    print(f"\nmessaging / hello-world, both on {args.workers} waitress processes, requests per second at {top} clients:")
    for operation in operations:
        errors = sum(table[name, operation, top]["errors"] for name in ("waitress", "hello"))
        print(f"  {operation:<13} {ratio('waitress', 'hello', operation)}   "
              f"(target: at least 0.50, with no error; errors: {errors})")
    for other in ("flask-dev", "waitress-1"):
        print(f"\nmessaging: waitress ({args.workers} processes) / {other} at {top} clients:")
        for operation in operations:
            print(f"  {operation:<13} {ratio('waitress', other, operation)}")
    print("\n(n/a: no request ended within a run, too short for this machine now: try a longer --seconds)")


if __name__ == "__main__":
    main()
