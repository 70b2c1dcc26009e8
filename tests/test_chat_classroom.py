"""The chat server on a classroom network (issue 20): a limit per IP address, a class token,
gunicorn; and the pacing of a fast talker (Member.keep_up), woken by its writer thread."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed

from sandbox import chat, launch
from sandbox.common import gunicorn_problem
from sandbox.chat.room import MAX_AHEAD, Member, Room
from test_chat import assert_json_error, closed_with, joined, next_event, open_ws, wait_for_own_join
from test_chat import open_page  # noqa: F401  (a fixture)

TOKEN = "our-class-7"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def refused_with(ws) -> tuple[str, int, str]:
    """The error event's message, then the code and reason of the close frame that follows it."""
    event = next_event(ws)
    assert event["type"] == "error", event
    return (event["message"], *closed_with(ws))


# --- One address cannot fill the room --------------------------------------------------


def test_one_address_gets_its_share_of_the_room():
    with (launch("chat", replace=False, max_clients=10, max_per_address=2) as server,
          joined(server, "Ada") as ada, open_ws(server, "/ws/echo") as echo):
        assert server.wait_for("echo: connected")  # counted (after the handshake, which open_ws() waits for)
        with open_ws(server, "/ws/chat?name=Ada3") as third:  # echo and chat count alike
            message, code, reason = refused_with(third)
        assert code == 1008 and "127.0.0.1 has 2 connections open already" in message and reason in message
        assert server.wait_for("/ws/chat refused: 127.0.0.1 has 2 connections")
        ada.send("still here")  # the refusal closed that one connection only
        assert next_event(ada)["text"] == "still here"
        echo.close()  # its slot is free again
        assert server.wait_for("echo: closed")
        with joined(server, "Bob"):
            assert next_event(ada)["name"] == "Bob"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux routes all of 127.0.0.0/8 to loopback")
def test_another_address_is_still_accepted():
    with launch("chat", replace=False, max_per_address=1) as server, joined(server, "Ada") as ada:
        with open_ws(server, "/ws/echo") as second:
            assert refused_with(second)[1] == 1008
        with (socket.create_connection(server.address, timeout=5, source_address=("127.0.0.2", 0)) as tcp,
              open_ws(server, "/ws/chat?name=Bob", sock=tcp) as bob):  # from another address
            wait_for_own_join(bob, "Bob")
            assert next_event(ada)["users"] == ["Ada", "Bob"]


def test_the_room_counts_connections_by_address():
    room = Room(history=10, max_clients=3, max_per_address=2)
    assert room.admit("10.0.0.1") is None and room.admit("10.0.0.1") is None
    assert room.admit("10.0.0.1") == (1008, "10.0.0.1 has 2 connections open already: close one first")
    assert room.admit("10.0.0.2") is None  # another student
    assert room.admit("10.0.0.3")[0] == 1013  # the room is full: --max-clients
    room.release("10.0.0.1")
    assert room.admit("10.0.0.3") is None
    for address in ["10.0.0.1", "10.0.0.2", "10.0.0.3"]:
        room.release(address)
    assert not room.connections  # nothing kept for addresses that left


def test_help_lists_the_classroom_options():
    result = subprocess.run([sys.executable, "-m", "sandbox", "chat", "--help"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0
    for words in ["--max-per-address", "default 10", "--token", "HTTP 401", "--server", "gunicorn"]:
        assert words in result.stdout, words
    bad = subprocess.run([sys.executable, "-m", "sandbox", "chat", "--token", "two words"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "no spaces" in bad.stderr


# --- A class token ---------------------------------------------------------------------


@pytest.fixture
def classroom():
    with launch("chat", replace=False, token=TOKEN) as server:
        yield server


def test_posting_and_reading_need_the_class_token(classroom):
    url = classroom.url
    for headers, why in [({}, "needs the class token"),
                         ({"Authorization": "Bearer our-class-8"}, "not the class token"),
                         ({"Authorization": f"Basic {TOKEN}"}, "needs the class token")]:
        r = requests.post(f"{url}/api/messages", json={"name": "Eve", "text": "spam"}, headers=headers, timeout=5)
        assert_json_error(r, 401, "Unauthorized", why)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        for path in ["/api/history", "/api/poll?timeout=0"]:
            assert_json_error(requests.get(url + path, headers=headers, timeout=5), 401, "Unauthorized", why)
    r = requests.post(f"{url}/api/messages", json={"name": "Ada", "text": "hello"}, headers=BEARER, timeout=5)
    assert r.status_code == 201
    history = requests.get(f"{url}/api/history", headers=BEARER, timeout=5).json()
    assert [(m["from"], m["text"]) for m in history] == [("Ada", "hello")]  # none of the refused ones
    assert requests.get(url + "/", timeout=5).status_code == 200  # the page is open: it asks for the token
    assert TOKEN not in classroom.log


def test_a_websocket_needs_the_class_token(classroom):
    with open_ws(classroom, f"/ws/chat?name=Ada&token={TOKEN}") as ada:  # in the URL, as a browser sends it
        wait_for_own_join(ada, "Ada")
        for path, why in [("/ws/chat?name=Eve", "needs the class token: add token=<token> to the URL"),
                          ("/ws/chat?name=Eve&token=our-class-8", "not the class token"),
                          ("/ws/chat?name=Eve&token=%C3%A9", "not the class token"),
                          ("/ws/echo", "needs the class token")]:
            with open_ws(classroom, path) as eve:
                message, code, reason = refused_with(eve)
            assert code == 1008 and why in message and reason == message, (path, message)
        with open_ws(classroom, "/ws/chat?name=Bob", additional_headers=BEARER) as bob:  # or in a header
            wait_for_own_join(bob, "Bob")
            bob.send("hi, Ada")
            assert [next_event(ada)["name"], next_event(ada)["text"]] == ["Bob", "hi, Ada"]  # Eve never joined
    assert TOKEN not in classroom.log


@pytest.mark.browser
def test_the_page_asks_for_the_class_token(classroom, open_page):
    from playwright.sync_api import expect

    requests.post(f"{classroom.url}/api/messages", json={"name": "Ada", "text": "before you came"}, headers=BEARER,
                  timeout=5)
    page = open_page(classroom.url + "/")
    expect(page.locator("#error")).to_contain_text("this server needs the class token")
    expect(page.locator("#token")).to_be_visible()
    page.fill("#name", "Bob")
    page.fill("#token", "our-class-8")
    page.click("#join button")
    expect(page.locator("#status")).to_have_text("Disconnected (code 1008): that is not the class token: "
                                                 "check that you copied all of it.")
    page.fill("#token", TOKEN)
    page.click("#join button")
    expect(page.locator("#status")).to_have_text("Connected as Bob.")
    expect(page.locator("#messages li.message .text")).to_have_text("before you came")  # the history, with the token
    assert page.errors == [] and page.requests.outside == []


# --- gunicorn --------------------------------------------------------------------------


@pytest.mark.skipif(gunicorn_problem() is not None, reason=str(gunicorn_problem()))
def test_gunicorn_serves_the_chat():
    with launch("chat", replace=False, server="gunicorn", token=TOKEN, max_per_address=3) as server:
        with open_ws(server, f"/ws/chat?name=Ada&token={TOKEN}") as ada:
            wait_for_own_join(ada, "Ada")
            with open_ws(server, "/ws/chat?name=Bob", additional_headers=BEARER) as bob:
                wait_for_own_join(bob, "Bob")
                bob.send("served by gunicorn")
                assert next_event(ada)["name"] == "Bob" and next_event(ada)["text"] == "served by gunicorn"
                r = requests.post(f"{server.url}/api/messages", json={"name": "Cy", "text": "over HTTP"},
                                  headers=BEARER, timeout=5)
                assert r.status_code == 201 and r.headers["Server"] == "gunicorn" and next_event(ada) == r.json()
                with open_ws(server, "/ws/echo") as eve:
                    assert refused_with(eve)[1] == 1008  # the token, under gunicorn too
                with open_ws(server, f"/ws/echo?token={TOKEN}") as third:
                    third.send("ping")
                    assert third.recv(timeout=5) == "ping"  # counted: the echo loop runs
                    with open_ws(server, f"/ws/echo?token={TOKEN}") as fourth:
                        assert refused_with(fourth)[1] == 1008  # --max-per-address 3
            event = next_event(ada)
            assert (event["type"], event["name"], event["users"]) == ("leave", "Bob", ["Ada"])
            history = requests.get(f"{server.url}/api/history", headers=BEARER, timeout=5).json()
            assert [m["text"] for m in history] == ["served by gunicorn", "over HTTP"]
    assert "Traceback" not in server.log and "[ERROR]" not in server.log, server.log


@pytest.mark.skipif(gunicorn_problem() is not None, reason=str(gunicorn_problem()))
def test_under_gunicorn_the_server_sends_nothing_after_the_closing_handshake():
    with launch("chat", replace=False, server="gunicorn") as server, \
            socket.create_connection(server.address, timeout=5) as raw:
        raw.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += raw.recv(4096)
        mask = b"\x01\x02\x03\x04"
        raw.sendall(b"\x88\x82" + mask + bytes(b ^ m for b, m in zip(b"\x03\xe8", mask)))  # close, 1000
        while chunk := raw.recv(4096):  # until the server closes the TCP connection
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert rest == b"\x88\x02\x03\xe8"  # its close frame, and nothing after it


@pytest.mark.skipif(gunicorn_problem() is not None, reason=str(gunicorn_problem()))
def test_gunicorn_stops_at_once_with_websockets_open():
    """Its worker's threads are not daemon threads: without chat's worker_exit, each open
    WebSocket kept the worker alive after the server was told to stop."""
    import psutil

    server = launch("chat", replace=False, server="gunicorn")
    with open_ws(server, "/ws/chat?name=Ada") as ada:
        wait_for_own_join(ada, "Ada")
        worker, = psutil.Process(server.pid).children()
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 4 and server.process.returncode == 0
        psutil.wait_procs([worker], timeout=5)
        assert not worker.is_running()
        assert server.log.endswith("chat stopped\n")
        with pytest.raises(ConnectionClosed):
            ada.recv(timeout=5)


def serving_choice(monkeypatch, argv: list[str], problem: str | None) -> tuple[str, dict]:
    """Which server main() picks, and the app's limits, with nothing served (nor bound)."""
    chosen = {}
    monkeypatch.setattr(chat, "gunicorn_problem", lambda: problem)
    monkeypatch.setattr(chat, "serve_gunicorn", lambda name, app, *args, **kw: chosen.update(gunicorn=app.config))
    monkeypatch.setattr(chat.common, "serve_wsgi", lambda name, app, *args, **kw: chosen.update(dev=app.config))
    chat.main(argv)
    (server, config), = chosen.items()
    return server, {key: config[key] for key in ["MAX_CLIENTS", "MAX_PER_ADDRESS", "TOKEN"]}


def test_on_a_network_chat_picks_gunicorn_and_a_limit_per_address(monkeypatch, capsys):
    on_network = ["--host", "0.0.0.0", "--token", TOKEN]
    assert serving_choice(monkeypatch, on_network, None) == (
        "gunicorn", {"MAX_CLIENTS": 200, "MAX_PER_ADDRESS": 10, "TOKEN": TOKEN})
    assert capsys.readouterr().err == ""
    windows = "gunicorn runs on Linux and macOS only"
    assert serving_choice(monkeypatch, on_network + ["--max-per-address", "3"], windows)[0] == "dev"
    assert f"Flask's development server, which is not made for one; {windows}" in capsys.readouterr().err
    assert serving_choice(monkeypatch, [], None) == ("dev", {"MAX_CLIENTS": 200, "MAX_PER_ADDRESS": 200, "TOKEN": None})
    assert serving_choice(monkeypatch, ["--server", "gunicorn"], None)[0] == "gunicorn"
    with pytest.raises(SystemExit):
        serving_choice(monkeypatch, ["--server", "gunicorn"], windows)
    assert f"--server gunicorn: {windows}; use --server dev" in capsys.readouterr().err


# --- Pacing a fast talker: a Condition, no polling -------------------------------------


class HeldWebSocket:
    """What a Member uses of a WebSocket; each send() waits until the test lets one through."""

    def __init__(self):
        self.sock = socket.socket()  # only for Member's setsockopt()
        self.connected = True
        self.let_through = threading.Semaphore(0)
        self.sent: list[str] = []

    def send(self, data: str) -> None:
        self.let_through.acquire()
        self.sent.append(data)

    def close(self, *reason) -> None:
        self.connected = False


def test_keep_up_waits_until_the_writer_has_caught_up(monkeypatch):
    def no_sleeping(seconds):
        raise AssertionError(f"keep_up() polled: time.sleep({seconds})")

    ws = HeldWebSocket()
    member = Member(ws, "Ada")
    try:
        for i in range(MAX_AHEAD + 10):
            assert member.send({"n": i})
        # The writer took event 0 and waits in send(): MAX_AHEAD + 9 wait behind it.
        monkeypatch.setattr(time, "sleep", no_sleeping)
        done, failed = threading.Event(), []

        def keep_up():
            try:
                member.keep_up()
            except AssertionError as error:
                failed.append(str(error))
            done.set()

        threading.Thread(target=keep_up, daemon=True).start()
        for _ in range(8):
            ws.let_through.release()  # 8 more sent: MAX_AHEAD + 1 still wait
        assert not done.wait(0.3) and not failed
        ws.let_through.release()  # one more: MAX_AHEAD wait, and the writer says so
        assert done.wait(5) and not failed, failed
        assert [json.loads(text)["n"] for text in ws.sent] == list(range(9))
    finally:
        monkeypatch.undo()
        for _ in range(MAX_AHEAD + 10):
            ws.let_through.release()
        member.stop()
        ws.sock.close()


def test_keep_up_ends_when_the_client_is_dropped():
    ws = HeldWebSocket()
    member = Member(ws, "Ada")
    try:
        for i in range(MAX_AHEAD + 10):
            member.send({"n": i})
        waiting = threading.Thread(target=member.keep_up, daemon=True)
        waiting.start()
        with member.lock:
            member.stop_writer("too slow")  # as send() does when the outbox is full
        waiting.join(5)
        assert not waiting.is_alive()
    finally:
        for _ in range(MAX_AHEAD + 10):
            ws.let_through.release()
        member.stop()
        ws.sock.close()
