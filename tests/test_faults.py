"""Faults on demand (sandbox/faults.py), as a client sees them, on each server they apply to.

A reset is a ConnectionResetError, a cut an answer that stops before its end,
an injected error a 503 or 429 with Retry-After and the JSON error shape,
latency a lower bound on the time (never an upper one: the machine may be
busy). Also: the same seed gives the same faults, no option means no fault,
bad options are refused, and other clients keep being served.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from sandbox import SandboxError, echo, faults, launch
from sandbox import contacts, httpbin, random_api
from sandbox.messaging import main as messaging_main

TCP_SERVERS = ("echo", "contacts")
HTTP_SERVERS = ("random", "httpbin", "messaging")
ALL = TCP_SERVERS + HTTP_SERVERS
PATHS = {"random": "/api/random/int?n=50", "httpbin": "/get", "messaging": "/"}
CONTACTS_REQUEST = b'{"cmd": "help"}\n'


def tcp_answer(server) -> bytes:
    """One whole answer: the echo of 16 bytes, or contacts' answer to "help" (one line);
    EOFError, holding what came, if the server ends the connection before."""
    request = b"0123456789abcdef" if server.name == "echo" else CONTACTS_REQUEST
    with socket.create_connection(server.address, timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while not (received.endswith(b"\n") if server.name == "contacts" else len(received) >= len(request)):
            chunk = conn.recv(65536)
            if not chunk:
                raise EOFError(received)
            received += chunk
        return received


# --- off by default, and --help -----------------------------------------------------


@pytest.mark.parametrize("module, expected", [
    (echo, faults.TCP), (contacts, faults.TCP), (random_api, faults.HTTP), (httpbin, faults.WSGI),
])
def test_help_lists_exactly_the_faults_of_each_server(module, expected, capsys):
    with pytest.raises(SystemExit):
        module.main(["--help"])
    text = capsys.readouterr().out
    assert "faults:" in text and "--seed N" in text
    for kind in ("latency", "reset", "cut", "slow", "http_errors"):
        assert (f"--{kind.replace('_', '-')} " in text) == (kind in expected), kind
    assert ("--retry-after" in text) == ("http_errors" in expected)


def test_messaging_help_lists_the_wsgi_faults(capsys):
    with pytest.raises(SystemExit):
        messaging_main(["--help"])
    text = capsys.readouterr().out
    assert "faults:" in text and "--http-errors" in text and "--cut FRACTION" in text and "--reset" not in text


@pytest.mark.parametrize("name", ["echo", "random", "httpbin"])
def test_off_by_default_no_fault_and_no_fault_line(name):
    with launch(name, replace=False) as server:
        for _ in range(20):
            if name == "echo":
                assert tcp_answer(server) == b"0123456789abcdef"
            else:
                assert requests.get(server.url + PATHS[name], timeout=5).status_code == 200
        assert "fault" not in server.log


# --- bad options ---------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["--reset", "1.5"], "argument --reset: 1.5 is not a fraction between 0 and 1"),
    (["--cut", "half"], "argument --cut: 'half' is not a number"),
    (["--latency", "5 minutes"], "argument --latency: '5 minutes' is not a duration"),
    (["--latency", "90s"], "more than 60 s"),
    (["--slow", "0"], "argument --slow: 0 is not between 1 and 1000000"),
    (["--http-errors", "404:0.1"], "the status must be one of 429, 500, 502, 503, 504"),
    (["--http-errors", "503:0.1,503:0.2"], "503 is given twice"),
    (["--retry-after", "0.5"], "Retry-After has no fractions"),
    (["--seed", "-1"], "argument --seed: -1 is less than 0"),
    (["--reset", "0.5", "--cut", "0.3", "--http-errors", "0.3"], "add up to more than 1"),
])
def test_bad_options_are_refused_with_a_clear_message(args, words, capsys):
    with pytest.raises(SystemExit) as stopped:
        random_api.main(args)
    assert stopped.value.code == 2 and words in capsys.readouterr().err


def test_a_fault_a_server_does_not_support_is_shown_by_launch():
    with pytest.raises(SandboxError, match=r"(?s)exited with code 2.*unrecognized arguments: --reset 0.1"):
        launch("httpbin", replace=False, faults={"reset": 0.1})


@pytest.mark.parametrize("extra", [["--dev"], ["--certfile", "x.pem", "--keyfile", "x.key"]])
def test_messaging_faults_need_waitress(extra, capsys):
    with pytest.raises(SystemExit):
        messaging_main(["--latency", "10ms", *extra])
    assert "the fault options need waitress: leave out --dev and --certfile" in capsys.readouterr().err


# --- each fault, as a client sees it ---------------------------------------------------


@pytest.mark.parametrize("name", ["echo", "contacts"])
def test_tcp_reset_is_a_connection_reset(name):
    with launch(name, replace=False, faults={"reset": 1}) as server:
        with pytest.raises(ConnectionResetError):
            tcp_answer(server)
        assert server.wait_for("fault: reset, no answer to")


def test_http_reset_is_a_connection_reset_and_requests_sees_a_connection_error():
    with launch("random", replace=False, faults={"reset": 1}) as server:
        with socket.create_connection(server.address, timeout=5) as conn:
            conn.sendall(b"GET /api/random/int HTTP/1.1\r\nHost: localhost\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                conn.recv(1024)
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + PATHS["random"], timeout=5)
        assert server.wait_for("fault: reset, no answer to GET /api/random/int")


@pytest.mark.parametrize("name", ["echo", "contacts"])
def test_tcp_cut_is_half_an_answer_then_end_of_file(name):
    with launch(name, replace=False, faults={"cut": 1}) as server:
        with pytest.raises(EOFError) as cut:
            tcp_answer(server)
        received = cut.value.args[0]  # what came before the end of file
        if name == "echo":
            assert received == b"01234567"
        else:
            assert received.startswith(b'{"status": true') and not received.endswith(b"\n")
        assert server.wait_for("fault: cut, the answer to")


@pytest.mark.parametrize("name", HTTP_SERVERS)
def test_http_cut_is_a_body_shorter_than_its_content_length(name):
    with launch(name, replace=False, faults={"cut": 1}) as server:
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
            requests.get(server.url + PATHS[name], timeout=5)
        assert server.wait_for("fault: cut, the answer to GET")


@pytest.mark.parametrize("name", HTTP_SERVERS)
@pytest.mark.parametrize("status", [503, 429])
def test_http_errors_carry_retry_after_and_the_json_error_shape(name, status):
    with launch(name, replace=False, faults={"http_errors": {status: 1}, "retry_after": 2}) as server:
        response = requests.get(server.url + PATHS[name], timeout=5)
        assert response.status_code == status and response.headers["Retry-After"] == "2"
        body = response.json()
        assert body["status"] == status and body["error"] == response.reason and "--http-errors" in body["message"]
        assert server.wait_for(f"fault: {status} to GET {PATHS[name]} from 127.0.0.1:")
        assert "(Retry-After: 2)" in server.log


def test_a_500_has_no_retry_after():
    with launch("httpbin", replace=False, faults={"http_errors": "500:1"}) as server:
        response = requests.get(server.url + "/get", timeout=5)
        assert response.status_code == 500 and "Retry-After" not in response.headers


@pytest.mark.parametrize("name", ALL)
def test_latency_delays_every_answer_at_least_that_long(name):
    with launch(name, replace=False, faults={"latency": "200ms"}) as server:
        for _ in range(2):
            start = time.perf_counter()
            if name in TCP_SERVERS:
                tcp_answer(server)
            else:
                assert requests.get(server.url + PATHS[name], timeout=5).status_code == 200
            assert time.perf_counter() - start >= 0.2
        assert server.wait_for("fault: latency 200 ms before answering")


@pytest.mark.parametrize("name", ["echo", "random", "httpbin"])
def test_slow_answers_arrive_whole_at_most_at_that_rate(name):
    with launch(name, replace=False, faults={"slow": 200}) as server:
        start = time.perf_counter()
        if name == "echo":
            size = len(tcp_answer(server))
        else:
            response = requests.get(server.url + ("/bytes/100" if name == "httpbin" else "/api/random/int"), timeout=10)
            assert response.ok
            size = len(response.content)
        # n bytes at 200 bytes/s: the last leaves (n - 1) / 200 s after the first
        assert time.perf_counter() - start >= (size - 1) / 200
        assert server.wait_for("fault: slow, the answer to")


# --- seeds, and the other clients --------------------------------------------------------


def statuses(seed: int, count: int = 30) -> list[int]:
    with launch("httpbin", replace=False, faults={"http_errors": "503:0.3,429:0.2", "seed": seed}) as server:
        with requests.Session() as session:
            return [session.get(server.url + "/get", timeout=5).status_code for _ in range(count)]


def test_the_same_seed_gives_the_same_faults():
    first = statuses(seed=7)
    assert first == statuses(seed=7)
    assert {200, 429, 503} == set(first)
    assert statuses(seed=8) != first


def test_random_reproduces_its_resets_with_a_seed():
    def outcomes():
        with launch("random", replace=False, faults={"reset": 0.5, "seed": 3}) as server:
            seen = []
            for _ in range(12):
                try:
                    seen.append(requests.get(server.url + PATHS["random"], timeout=5).status_code)
                except requests.ConnectionError:
                    seen.append("reset")
            return seen

    first = outcomes()
    assert "reset" in first and 200 in first and outcomes() == first


def test_messaging_workers_each_answer_the_faults():
    with launch("messaging", replace=False, workers=2, faults={"http_errors": 1}) as server:
        for _ in range(6):  # new connections: the system hands them to either process
            response = requests.get(server.url + "/", timeout=5, headers={"Connection": "close"})
            assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert "faults on: 503 for 100% of answers (Retry-After: 1)" in server.log


# A long answer (about 300 bytes: 3 s at 100 bytes/s) and a short one (1 byte, 2 bytes, or 60).
LONG_AND_SHORT = {"random": ("/api/random/int?n=50&min=100&max=999", "/api/random/int?min=1&max=1"),
                  "httpbin": ("/bytes/300", "/bytes/1")}


@pytest.mark.parametrize("name", ["echo", "random", "httpbin"])
def test_a_slow_answer_delays_nobody_else(name):
    """While one client's answer trickles, another is answered: its thread waits, not the server."""
    with launch(name, replace=False, faults={"slow": 100}) as server:
        long_done = threading.Event()

        def long_answer():
            if name == "echo":
                with socket.create_connection(server.address, timeout=10) as conn:
                    conn.sendall(b"x" * 300)
                    received = b""
                    while len(received) < 300 and (chunk := conn.recv(1024)):
                        received += chunk
            else:
                requests.get(server.url + LONG_AND_SHORT[name][0], timeout=10)
            long_done.set()

        thread = threading.Thread(target=long_answer, daemon=True)
        thread.start()
        assert server.wait_for("fault: slow")
        if name == "echo":
            with socket.create_connection(server.address, timeout=10) as conn:
                conn.sendall(b"hi")
                assert conn.recv(1) + conn.recv(1) == b"hi"
        else:
            assert requests.get(server.url + LONG_AND_SHORT[name][1], timeout=10).ok
        assert not long_done.is_set()  # the short answer came while the long one was still on its way
        thread.join(10)
        assert long_done.is_set()


def test_after_resets_the_server_goes_on_serving():
    with launch("contacts", replace=False, faults={"reset": 0.5, "seed": 1}) as server:
        answered = resets = 0
        for _ in range(12):
            try:
                assert tcp_answer(server).startswith(b'{"status": true')
                answered += 1
            except ConnectionResetError:
                resets += 1
        assert answered and resets and server.running
