"""The messaging server as a process: command line, classroom mode, and durability.

Each test starts a real server with sandbox.launch() (``python -m sandbox
messaging ...``) and talks to it over HTTP with requests.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from sandbox import launch
from sandbox.launcher import SandboxError

API = "/api/v1"
ROOT = Path(__file__).resolve().parent.parent


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def register(base: str, name: str) -> tuple[dict, str]:
    response = requests.post(f"{base}{API}/users", json={"name": name}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["user"], response.json()["token"]


def all_items(url: str, token: str) -> list[dict]:
    """Every item of a paginated list, following "next"."""
    items = []
    while url:
        page = requests.get(url, headers=bearer(token), timeout=5).json()
        items += page["items"]
        url = page["next"]
    return items


def kill_hard(server) -> None:
    """Kill the server as `kill -9` does: no clean-up code of its own runs."""
    if hasattr(signal, "SIGKILL"):
        os.kill(server.pid, signal.SIGKILL)
    else:  # Windows: TerminateProcess, just as abrupt
        server.process.kill()
    server.process.wait(10)


def test_help_lists_the_options_and_limits():
    result = subprocess.run([sys.executable, "-m", "sandbox", "messaging", "--help"],
                            capture_output=True, text=True, timeout=30, check=True)
    for text in ("--db", "--users", "--tokens-out", "--no-registration", "--rate-limit", "--workers", "--dev",
                 "64 KiB", "2000 characters", "?limit=1 to 100"):
        assert text in result.stdout


def test_classroom_mode_is_waitress_with_limits(tmp_path):
    with launch("messaging", replace=False, host="0.0.0.0", db=tmp_path / "class.sqlite3", rate_limit="5/minute") as server:
        first = requests.get(f"{server.url}{API}/users", timeout=5)
        assert first.status_code == 200
        assert first.headers["Server"].startswith("waitress")  # not Flask's development server
        # 64 KiB to 1 MiB: the application answers 413 in JSON...
        big = requests.post(f"{server.url}{API}/users", data=b'{"name": "' + b"x" * 100_000 + b'"}',
                            headers={"Content-Type": "application/json"}, timeout=5)
        assert big.status_code == 413 and big.json()["status"] == 413
        # ...and past the rate limit, 429 in JSON with Retry-After.
        statuses = [requests.get(f"{server.url}{API}/users", timeout=5).status_code for _ in range(5)]
        assert statuses[-1] == 429
        limited = requests.get(f"{server.url}{API}/users", timeout=5)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert limited.json()["error"] == "Too Many Requests"
    assert "reachable from the network" in server.log  # the warning for --host 0.0.0.0
    assert f"GET {API}/users 429" in server.log


def test_dev_mode_is_flasks_development_server(tmp_path):
    with launch("messaging", replace=False, dev=True, db=tmp_path / "dev.sqlite3") as server:
        response = requests.get(f"{server.url}{API}/users", timeout=5)
        assert response.status_code == 200 and response.headers["Server"].startswith("Werkzeug")


def worker_pids(server) -> list[int]:
    """The processes a --workers server started (each a child of the first one)."""
    import psutil

    # The other child, multiprocessing's resource tracker, is not a worker.
    return [child.pid for child in psutil.Process(server.pid).children() if "spawn_main" in " ".join(child.cmdline())]


def get_json(connection: http.client.HTTPConnection, path: str) -> dict:
    """GET over a connection kept open (http.client, to know its socket)."""
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 200
    return json.loads(response.read())


def test_workers_share_the_port_and_the_database(tmp_path):
    psutil = pytest.importorskip("psutil")
    with launch("messaging", replace=False, db=tmp_path / "workers.sqlite3", workers=3, quiet=True) as server:
        processes = [psutil.Process(pid) for pid in [server.pid, *worker_pids(server)]]
        assert len(processes) == 3
        # Each new connection goes to whichever process accepts it first. Open
        # connections (and keep them open) until two processes hold some.
        connections, answering = [], set()
        try:
            while len(answering) < 2 and len(connections) < 200:
                for _ in range(10):
                    connections.append(http.client.HTTPConnection(server.host, server.port, timeout=5))
                    get_json(connections[-1], f"{API}/users")
                ours = {connection.sock.getsockname() for connection in connections}
                answering = {process.pid for process in processes for c in process.net_connections(kind="tcp")
                             if c.status == psutil.CONN_ESTABLISHED and tuple(c.raddr) in ours}
            assert len(answering) >= 2, "every connection went to one process"
            # Whichever process answers sees the same users: they share one SQLite file.
            names = {register(server.url, f"Worker test {i}")[0]["name"] for i in range(5)}
            for connection in connections:
                listed = get_json(connection, f"{API}/users?name=Worker+test")
                assert {user["name"] for user in listed["items"]} == names
        finally:
            for connection in connections:
                connection.close()


def test_workers_stop_with_the_server_even_when_it_is_killed(tmp_path):
    psutil = pytest.importorskip("psutil")
    server = launch("messaging", replace=False, workers=2, quiet=True)
    workers = [psutil.Process(pid) for pid in worker_pids(server)]
    server.stop()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive and "messaging stopped" in server.log

    server = launch("messaging", replace=False, workers=2, quiet=True)
    workers = [psutil.Process(pid) for pid in worker_pids(server)]
    kill_hard(server)  # no clean-up runs in the first process: the workers notice it is gone
    alive = workers
    try:
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"workers left running: {alive}"
    finally:
        server.stop()
        for process in alive:
            process.kill()


def test_a_worker_that_cannot_start_stops_the_server_with_its_error(tmp_path):
    (tmp_path / "broken_app.py").write_text(
        "def make_app():\n    raise RuntimeError('no application here')\n", encoding="utf-8")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import broken_app; from sandbox import common; "
            "common.serve_wsgi_workers('broken', None, broken_app.make_app, '127.0.0.1', 0, 2)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "broken: a worker process failed to start" in result.stderr
    assert "RuntimeError: no application here" in result.stderr  # the worker's own traceback
    assert "listening on" not in result.stdout  # never announced


@pytest.mark.parametrize("options, words", [
    ({"workers": 0}, "--workers: 0 is less than 1"),
    ({"workers": "two"}, "--workers: 'two' is not a whole number"),
    ({"workers": 2, "dev": True}, "--workers needs waitress: leave out --dev"),
])
def test_bad_workers_stop_the_server_with_a_reason(options, words):
    with pytest.raises(SandboxError, match=re.escape(words)):
        launch("messaging", replace=False, **options)


def test_a_burst_of_sends_from_many_clients_is_all_stored(tmp_path):
    """50 clients send 20 messages each at once, to 2 processes: every one is answered 201 and kept."""
    with launch("messaging", replace=False, db=tmp_path / "burst.sqlite3", workers=2, rate_limit="off",
                quiet=True) as server:
        recipient, recipient_token = register(server.url, "Busy inbox")
        tokens = [register(server.url, f"Burst {i}")[1] for i in range(50)]
        url = f"{server.url}{API}/users/{recipient['id']}/messages"
        start = threading.Barrier(len(tokens))
        answers: list[tuple[int, int | None]] = []

        def send_twenty(token: str) -> None:
            with requests.Session() as session:
                start.wait()
                for i in range(20):
                    response = session.post(url, json={"text": f"burst {i}"}, headers=bearer(token), timeout=30)
                    answers.append((response.status_code, response.json().get("id")))

        threads = [threading.Thread(target=send_twenty, args=(token,)) for token in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert [status for status, _ in answers] == [201] * 1000
        stored = all_items(f"{url}?limit=100", recipient_token)
        assert sorted(m["id"] for m in stored) == sorted(message_id for _, message_id in answers)


def test_the_log_never_shows_tokens(tmp_path):
    with launch("messaging", replace=False, db=tmp_path / "log.sqlite3") as server:
        user, token = register(server.url, "Ada")
        requests.get(f"{server.url}{API}/me", headers=bearer(token), timeout=5)
    assert f"GET {API}/me 200" in server.log
    assert token not in server.log


def read_tokens(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_a_class_from_a_csv_file(tmp_path):
    database = tmp_path / "class.sqlite3"
    users_file = tmp_path / "class.csv"
    # As a spreadsheet may write it: a BOM, a second column, spaces, an empty line, a repeated name.
    users_file.write_text("\ufeffname,email\nAda Lovelace,ada@example.org\n  Alan Turing ,\n\nada lovelace,\n",
                          encoding="utf-8")
    with launch("messaging", replace=False, db=database, users=users_file, no_registration=True) as server:
        tokens = read_tokens(tmp_path / "class-tokens.csv")
        assert [row["name"] for row in tokens] == ["Ada Lovelace", "Alan Turing"]
        for row in tokens:
            me = requests.get(f"{server.url}{API}/me", headers=bearer(row["token"]), timeout=5).json()
            assert me == {**me, "id": int(row["id"]), "name": row["name"]}
        closed = requests.post(f"{server.url}{API}/users", json={"name": "Mallory"}, timeout=5)
        assert closed.status_code == 403 and "instructor" in closed.json()["message"]
    assert "created 2 accounts" in server.log

    # A student joins late: the same command creates only their account.
    with users_file.open("a", encoding="utf-8") as file:
        file.write("Grace Hopper,\n")
    with launch("messaging", replace=False, db=database, users=users_file) as server:
        tokens_after = read_tokens(tmp_path / "class-tokens.csv")
        assert tokens_after[:2] == tokens and [row["name"] for row in tokens_after[2:]] == ["Grace Hopper"]
        assert requests.get(f"{server.url}{API}/users", timeout=5).json()["total"] == 3
    if os.name == "posix":
        assert (tmp_path / "class-tokens.csv").stat().st_mode & 0o077 == 0  # for its owner's eyes only


@pytest.mark.parametrize(
    "content, words",
    [("student\nAda\n", "header 'name'"), ("name\n" + "x" * 60 + "\n", "line 2")],
)
def test_a_bad_class_file_stops_the_server_with_a_reason(tmp_path, content, words):
    users_file = tmp_path / "bad.csv"
    users_file.write_text(content, encoding="utf-8")
    with pytest.raises(SandboxError, match=words):
        launch("messaging", replace=False, users=users_file)


def test_a_bad_rate_limit_stops_the_server_with_a_reason():
    with pytest.raises(SandboxError, match="--rate-limit"):
        launch("messaging", replace=False, rate_limit="lots")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_messages_survive_kill_9(tmp_path, workers):
    """Every message answered 201 is in the database after kill -9 and a restart.

    With --workers 2, kill -9 hits the first process; the other one stops at once.
    """
    database = tmp_path / "durable.sqlite3"
    server = launch("messaging", replace=False, db=database, rate_limit="off", quiet=True, workers=workers)
    recipient, recipient_token = register(server.url, "Inbox")
    senders = [register(server.url, f"Sender {i}")[1] for i in range(4)]
    acknowledged: dict[int, str] = {}  # message id -> text, for every 201
    lock = threading.Lock()

    def send_until_the_server_dies(number: int, token: str) -> None:
        url = f"{server.url}{API}/users/{recipient['id']}/messages"
        with requests.Session() as session:
            for i in range(100_000):
                text = f"sender {number}, message {i}"
                try:
                    response = session.post(url, json={"text": text}, headers=bearer(token), timeout=10)
                except requests.RequestException:
                    return  # the server is gone
                assert response.status_code == 201, response.text
                with lock:
                    acknowledged[response.json()["id"]] = text

    threads = [threading.Thread(target=send_until_the_server_dies, args=(n, token)) for n, token in enumerate(senders)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        kill_hard(server)  # in the middle of the stream of sends
    finally:
        server.stop()
        for thread in threads:
            thread.join(15)
    assert len(acknowledged) >= 300

    with launch("messaging", replace=False, db=database, quiet=True) as restarted:
        stored = {m["id"]: m["text"] for m in all_items(
            f"{restarted.url}{API}/users/{recipient['id']}/messages?limit=100", recipient_token)}
    missing = {i: text for i, text in acknowledged.items() if stored.get(i) != text}
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {list(missing.items())[:3]}"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command makes the test's certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.mark.skipif(os.name == "nt", reason="HTTPS is served by gunicorn (Linux and macOS)")
def test_given_a_certificate_the_api_speaks_https_only(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    with launch("messaging", replace=False, db=tmp_path / "tls.sqlite3", workers=2, certfile=cert, keyfile=key) as server:
        assert server.url.startswith("https://127.0.0.1:")
        created = requests.post(f"{server.url}{API}/users", json={"name": "Ada"}, verify=cert, timeout=10)
        assert created.status_code == 201
        token = created.json()["token"]
        me = requests.get(f"{server.url}{API}/me", headers=bearer(token), verify=cert, timeout=10)
        assert me.json()["name"] == "Ada"
        with pytest.raises(requests.exceptions.SSLError):  # a certificate no authority signed: refused by default
            requests.get(f"{server.url}{API}/users", timeout=10)
        with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP on that port
            requests.get(f"http://127.0.0.1:{server.port}{API}/users", timeout=10)


def test_https_options_are_checked_before_the_server_starts(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    (tmp_path / "junk.pem").write_text("not a certificate")
    cases = [(["--certfile", str(cert)], "both --certfile and --keyfile"),
             (["--certfile", str(cert), "--keyfile", str(tmp_path / "missing.pem")], "no such file"),
             (["--certfile", str(tmp_path / "junk.pem"), "--keyfile", str(key)], "not a certificate and its key"),
             (["--certfile", str(cert), "--keyfile", str(key), "--dev"], "leave out --dev")]
    for arguments, message in cases:
        result = subprocess.run([sys.executable, "-m", "sandbox", "messaging", *arguments], capture_output=True,
                                text=True, timeout=60, cwd=ROOT)
        assert result.returncode == 2 and message in result.stderr, (arguments, result.stderr)
