"""Checks for exercises/10-deployment.md: serve an application with a production server, and measure it.

    check_serve(serve, app_file)        step 1: serve(app_file, server="waitress") -> a running sandbox server
    check_summarize(summarize)          step 2: latencies, errors, elapsed -> requests/s, p50, p99 (exact)
    check_measure(measure)              step 3: N requests from C clients at once, against the check's server

No check asserts a speed: the measurement is checked against what the check's
own server saw (how many requests, how many at once, which ones failed) and
against the check's clock, never against a number of requests per second.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from http.server import BaseHTTPRequestHandler

import requests

from .core import call, checker, expect, expect_equal, short
from .servers import ThreadedHTTPServer

KEYS = {"requests", "errors", "per_second", "p50_ms", "p99_ms"}


def _get(url: str):
    try:
        return requests.get(url, timeout=5)
    except requests.RequestException as error:
        from .core import Failure

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
