"""The chat sandbox server: WebSocket echo, a chat room with broadcast, history,
long polling, bad input, and its page in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import simple_websocket
from simple_websocket import ConnectionClosed

from browser_support import Requests, asset_urls, browser, is_remote  # noqa: F401 (fixture)
from sandbox import launch

XSS = "<img src=x onerror=alert(1)>"


class Client(simple_websocket.Client):
    """simple_websocket.Client that also delivers the frames which arrived in the same
    recv() as the handshake's 101 answer: simple-websocket 1.1 leaves them in its
    buffer until more bytes come (notebooks/09-realtime.md explains it too)."""

    def _thread(self):
        self.connected = self._handle_events()
        super()._thread()


@pytest.fixture
def server():
    with launch("chat", replace=False) as server:
        yield server


def connect(server, path: str) -> Client:
    return Client.connect("ws" + server.url.removeprefix("http") + path)


def next_event(ws: Client, timeout: float = 5) -> dict:
    data = ws.receive(timeout=timeout)
    assert data is not None, f"nothing received within {timeout} s"
    return json.loads(data)


def join(server, name: str) -> Client:
    """Join the chat room, and wait until the server announces it: from then on, this
    client receives every broadcast (the 101 answer comes before the server adds it)."""
    ws = connect(server, f"/ws/chat?name={name}")
    while (event := next_event(ws)) != {**event, "type": "join", "name": name}:
        pass  # someone else's join, when several join at once
    return ws


def closed_with(ws: Client, timeout: float = 5) -> tuple[int, str]:
    """Read until the server closes ``ws``: (close code, reason)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ws.receive(timeout=0.5)
        except ConnectionClosed as closed:
            return closed.reason, closed.message
    pytest.fail(f"the server did not close the connection within {timeout} s")


def hang_up(*clients: Client) -> None:
    for ws in clients:
        try:
            ws.close()
        except ConnectionClosed:
            pass


def test_echo_round_trip(server):
    ws = connect(server, "/ws/echo")
    try:
        for message in ["hello", "héllo ✓", b"\x00\x01\xff"]:
            ws.send(message)
            assert ws.receive(timeout=5) == message  # text stays text, bytes stay bytes
    finally:
        hang_up(ws)
    assert "echo: connected" in server.log


def test_after_the_closing_handshake_the_server_sends_nothing_and_closes(server):
    """No HTTP response after the WebSocket (werkzeug would write one: browsers then see 1006)."""
    with socket.create_connection(server.address, timeout=5) as raw:
        raw.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:  # a client sends no frame before the 101 answer
            received += raw.recv(4096)
        mask = b"\x01\x02\x03\x04"
        raw.sendall(b"\x88\x82" + mask + bytes(b ^ m for b, m in zip(b"\x03\xe8", mask)))  # close, 1000
        while chunk := raw.recv(4096):  # until the server closes the TCP connection
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert rest == b"\x88\x02\x03\xe8"  # its close frame, code 1000, and nothing after it


def test_broadcast_among_three_clients(server):
    ada = join(server, "Ada")
    bob = join(server, "Bob")
    cy = connect(server, "/ws/chat?name=Cy")
    try:
        for ws, joined in [(ada, ["Bob", "Cy"]), (bob, ["Cy"]), (cy, ["Cy"])]:
            events = [next_event(ws) for _ in joined]
            assert [(e["type"], e["name"]) for e in events] == [("join", name) for name in joined]
            assert events[-1]["users"] == ["Ada", "Bob", "Cy"]

        bob.send("hello, room")
        received = [next_event(ws) for ws in (ada, bob, cy)]
        assert received[0] == received[1] == received[2]  # the same event, sender included
        message = received[0]
        assert (message["type"], message["from"], message["text"], message["id"]) == ("message", "Bob", "hello, room", 1)
        assert message["time"].endswith("+00:00")

        cy.close()
        for ws in (ada, bob):
            event = next_event(ws)
            assert (event["type"], event["name"], event["users"]) == ("leave", "Cy", ["Ada", "Bob"])
    finally:
        hang_up(ada, bob, cy)


def test_fifty_clients_each_receive_every_broadcast(server):
    n = 50
    with ThreadPoolExecutor(max_workers=10) as pool:
        clients = list(pool.map(lambda i: join(server, f"user{i}"), range(n)))
    try:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:  # everyone speaks at once
            list(pool.map(lambda i: clients[i].send(f"message {i}"), range(n)))

        def texts(ws: Client) -> set[str]:
            seen = set()
            while len(seen) < n and time.monotonic() - start < 30:
                event = next_event(ws, timeout=10)
                if event["type"] == "message":
                    seen.add(event["text"])
            return seen

        with ThreadPoolExecutor(max_workers=10) as pool:
            for seen in pool.map(texts, clients):
                assert seen == {f"message {i}" for i in range(n)}
        assert time.monotonic() - start < 30
        history = requests.get(f"{server.url}/api/history", timeout=5).json()
        assert sorted(m["id"] for m in history) == list(range(1, n + 1))
    finally:
        hang_up(*clients)


def test_bad_messages_get_an_error_and_the_room_keeps_working(server):
    ada, bob = join(server, "Ada"), join(server, "Bob")
    try:
        assert next_event(ada)["name"] == "Bob"
        for bad, why in [("é" * 2049, "got 4098 bytes"), ("", "got 0 bytes"), (b"\x00", "send text, not binary")]:
            ada.send(bad)
            event = next_event(ada)
            assert event["type"] == "error" and why in event["message"], event
        ada.send("x" * 4096)  # the limit itself is fine
        assert next_event(bob)["text"] == "x" * 4096  # Bob saw none of the refused ones
        bob.send("still here")
        assert next_event(ada)["text"] == "x" * 4096 and next_event(ada)["text"] == "still here"
    finally:
        hang_up(ada, bob)


@pytest.mark.parametrize("name", ["", " Ada", "x" * 33, "new\nline"])
def test_an_invalid_name_is_refused_with_a_reason(server, name):
    from urllib.parse import quote

    ws = connect(server, f"/ws/chat?name={quote(name)}")
    event = next_event(ws)
    assert event["type"] == "error" and "a name is 1 to 32 printable characters" in event["message"]
    code, reason = closed_with(ws)
    assert code == 1008 and reason.startswith("a name is")


def test_a_huge_message_closes_that_connection_only(server):
    ada = join(server, "Ada")
    huge = connect(server, "/ws/echo")
    try:
        huge.send("y" * 100_000)
        assert closed_with(huge)[0] == 1009
        ada.send("fine")
        assert next_event(ada)["text"] == "fine"
    finally:
        hang_up(ada)
    deadline = time.monotonic() + 5  # the server notices within a second and frees the slot
    while "echo: closed" not in server.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "echo: closed" in server.log


def test_too_many_clients():
    with launch("chat", replace=False, max_clients=2) as server:
        first, second = connect(server, "/ws/echo"), join(server, "Ada")
        third = connect(server, "/ws/echo")
        assert "server is full" in next_event(third)["message"]
        assert closed_with(third)[0] == 1013
        hang_up(first)
        second.send("after the refusal")
        assert next_event(second)["text"] == "after the refusal"
        hang_up(second)


def test_a_vanished_client_is_removed(server):
    ada, ghost = join(server, "Ada"), join(server, "Ghost")
    try:
        assert next_event(ada)["name"] == "Ghost"
        ghost.sock.shutdown(socket.SHUT_RDWR)  # no closing handshake: the TCP connection simply ends
        event = next_event(ada)
        assert (event["type"], event["name"], event["users"]) == ("leave", "Ghost", ["Ada"])
    finally:
        hang_up(ada)


def test_history_keeps_the_last_messages():
    with launch("chat", replace=False, history=3) as server:
        for i in range(5):
            r = requests.post(f"{server.url}/api/messages", json={"name": "Ada", "text": f"m{i}"}, timeout=5)
            assert r.status_code == 201 and r.json()["id"] == i + 1
        history = requests.get(f"{server.url}/api/history", timeout=5).json()
        assert [m["text"] for m in history] == ["m2", "m3", "m4"]
        assert [m["text"] for m in requests.get(f"{server.url}/api/history?limit=2", timeout=5).json()] == ["m3", "m4"]
        for bad in ["0", "4", "many"]:
            r = requests.get(f"{server.url}/api/history", params={"limit": bad}, timeout=5)
            assert r.status_code == 400 and r.json()["type"] == "error"


def test_posted_messages_reach_websocket_clients_and_bad_posts_are_refused(server):
    ada = join(server, "Ada")
    try:
        r = requests.post(f"{server.url}/api/messages", json={"name": "Bob", "text": "over HTTP"}, timeout=5)
        assert r.status_code == 201 and next_event(ada) == r.json()
        for body in [{"name": "", "text": "x"}, {"name": "Bob", "text": "x" * 4097}, {"name": "Bob"}, ["Bob"], None]:
            r = requests.post(f"{server.url}/api/messages", json=body, timeout=5)
            assert r.status_code == 400 and r.json()["message"], body
    finally:
        hang_up(ada)


def test_long_poll_returns_as_soon_as_a_message_arrives(server):
    result = {}

    def poll():
        start = time.monotonic()
        r = requests.get(f"{server.url}/api/poll", params={"since": 0, "timeout": 10}, timeout=15)
        result.update(messages=r.json(), seconds=time.monotonic() - start)

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(0.3)  # let the poll reach the server and wait there
    requests.post(f"{server.url}/api/messages", json={"name": "Ada", "text": "now"}, timeout=5)
    waiting.join(15)
    assert [m["text"] for m in result["messages"]] == ["now"]
    assert result["seconds"] < 5  # not the 10 s timeout

    # A message already there: at once. Nothing new: [] after the timeout.
    assert [m["id"] for m in requests.get(f"{server.url}/api/poll?since=0&timeout=10", timeout=5).json()] == [1]
    start = time.monotonic()
    assert requests.get(f"{server.url}/api/poll?since=1&timeout=0.3", timeout=5).json() == []
    assert 0.3 <= time.monotonic() - start < 5


def test_poll_timeout_is_bounded():
    with launch("chat", replace=False, max_poll=1) as server:
        for params in [{"timeout": 2}, {"timeout": -1}, {"timeout": "nan"}, {"since": "x"}]:
            r = requests.get(f"{server.url}/api/poll", params=params, timeout=5)
            assert r.status_code == 400, params
        assert requests.get(f"{server.url}/api/poll", params={"timeout": 1}, timeout=5).json() == []


def test_page_is_self_contained(server):
    page = requests.get(server.url + "/", timeout=5)
    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    urls = asset_urls(page.text)
    assert urls and not [url for url in urls if is_remote(url)]
    for url in urls:
        assert requests.get(server.url + url, timeout=5).status_code == 200, url
    script = requests.get(server.url + "/static/chat.js", timeout=5).text
    assert "innerHTML" not in script.replace("never innerHTML", "")


def test_help_lists_the_limits():
    result = subprocess.run([sys.executable, "-m", "sandbox", "chat", "--help"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0
    for words in ["limits:", "4096 bytes", "64 KiB", "1009", "1008", "--max-clients", "--history", "--max-poll"]:
        assert words in result.stdout, words


# --- In the browser ---------------------------------------------------------------


@pytest.fixture
def open_page(browser):
    """open_page(url) -> a page in its own browser context (own cookies, own connections)."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.requests = Requests(context)  # anything off this machine is blocked and listed
        page.sockets = []
        page.on("websocket", lambda ws: page.sockets.append(ws.url))
        page.dialogs = []  # alert() and friends: none may appear
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()


def join_in_page(page, name: str) -> None:
    from playwright.sync_api import expect

    page.fill("#name", name)
    page.click("#join button")
    expect(page.locator("#status")).to_have_text(f"Connected as {name}.")
    expect(page.locator("#join")).to_be_hidden()
    expect(page.locator("#say")).to_be_visible()


@pytest.mark.browser
def test_two_pages_chat_and_html_stays_text(server, open_page):
    from playwright.sync_api import expect

    ada, bob = open_page(server.url + "/"), open_page(server.url + "/")
    join_in_page(ada, "Ada")
    join_in_page(bob, "Bob")
    expect(ada.locator("#users")).to_have_text("Online: Ada, Bob")

    ada.fill("#text", XSS)
    ada.press("#text", "Enter")
    text = bob.locator("#messages li.message .text")
    expect(text).to_have_text(XSS)
    expect(bob.locator("#messages li.message .from")).to_have_text("Ada")
    assert "&lt;img" in text.inner_html()  # escaped: text, not an element
    assert bob.locator("#messages img").count() == 0 and ada.locator("#messages img").count() == 0

    ada.fill("#text", "é" * 3000)  # 6000 bytes: the server refuses it, to Ada only
    ada.press("#text", "Enter")
    expect(ada.locator("#error")).to_contain_text("a message is 1 to 4096 bytes")

    bob.click("#leave")
    expect(bob.locator("#status")).to_have_text("Disconnected (code 1000): left the room.")
    expect(bob.locator("#say")).to_be_hidden()
    expect(bob.locator("#join")).to_be_visible()
    expect(ada.locator("#messages li.event").last).to_have_text("Bob left")

    late = open_page(server.url + "/")  # a newcomer sees the history
    expect(late.locator("#messages li.message .text")).to_have_text(XSS)

    for page in (ada, bob, late):
        assert page.dialogs == [] and page.errors == []
        assert page.requests.outside == []
        assert all(url.startswith("ws://127.0.0.1:") for url in page.sockets)
    assert ada.sockets and bob.sockets


@pytest.mark.browser
def test_the_page_shows_why_a_name_is_refused(server, open_page):
    from playwright.sync_api import expect

    page = open_page(server.url + "/")
    page.evaluate("document.getElementById('name').removeAttribute('maxlength')")  # as a script could
    page.fill("#name", "x" * 40)
    page.click("#join button")
    expect(page.locator("#status")).to_contain_text("Disconnected (code 1008): a name is 1 to 32")
    expect(page.locator("#join")).to_be_visible()
    expect(page.locator("#say")).to_be_hidden()
    assert page.requests.outside == [] and page.errors == []
