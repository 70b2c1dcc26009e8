"""The chat sandbox server: WebSocket echo, a chat room with broadcast, history,
long polling, bad input, and its page in a real browser (headless Chromium)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from browser_support import Requests, asset_urls, is_remote
from sandbox import launch

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def server():
    with launch("chat", replace=False) as server:
        yield server


def open_ws(server, path: str, **options) -> ClientConnection:
    """A WebSocket connection to ``path``: use it in a ``with`` block, which closes it.

    It keeps up to 100 messages unread (websockets' default is 16): a test often stops
    reading while the room still talks (the leave events of the others, say). Past that
    limit websockets stops reading the socket, so not even the server's close frame gets
    in, and ``close()`` gives up only after its ``close_timeout`` (10 s)."""
    url = "ws" + server.url.removeprefix("http") + path
    return connect(url, open_timeout=5, max_queue=100, **options)


def next_event(ws: ClientConnection, timeout: float = 5) -> dict:
    return json.loads(ws.recv(timeout=timeout))  # TimeoutError if nothing comes


def wait_for_own_join(ws: ClientConnection, name: str) -> None:
    """Read until the server announces that ``name`` joined: from then on, ``ws``
    receives every broadcast (the 101 answer comes before the server adds it)."""
    while (event := next_event(ws)) != {**event, "type": "join", "name": name}:
        pass  # someone else's join, when several join at once


@contextlib.contextmanager
def joined(server, name: str) -> Iterator[ClientConnection]:
    """In the chat room as ``name`` for the ``with`` block."""
    with open_ws(server, f"/ws/chat?name={quote(name)}") as ws:
        wait_for_own_join(ws, name)
        yield ws


def closed_with(ws: ClientConnection, timeout: float = 5) -> tuple[int, str]:
    """Read until the server closes ``ws``: the code and reason of its close frame."""
    deadline = time.monotonic() + timeout
    try:
        while True:  # messages before the close frame are skipped
            ws.recv(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        pytest.fail(f"the server did not close the connection within {timeout} s")
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection ended without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


def assert_json_error(response: requests.Response, status: int, reason: str, *words: str) -> None:
    """The shape of every HTTP error of the sandbox (web.py): {"status", "error", "message"}."""
    assert response.status_code == status and response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["status", "error", "message"] and body["status"] == status and body["error"] == reason
    for word in words:
        assert word in body["message"], body["message"]


def test_echo_round_trip(server):
    with open_ws(server, "/ws/echo") as ws:
        for message in ["hello", "héllo ✓", b"\x00\x01\xff"]:
            ws.send(message)
            assert ws.recv(timeout=5) == message  # text stays text, bytes stay bytes
    assert server.wait_for("echo: connected")


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
    with (joined(server, "Ada") as ada, joined(server, "Bob") as bob,
          open_ws(server, "/ws/chat?name=Cy") as cy):
        for ws, names in [(ada, ["Bob", "Cy"]), (bob, ["Cy"]), (cy, ["Cy"])]:
            events = [next_event(ws) for _ in names]
            assert [(e["type"], e["name"]) for e in events] == [("join", name) for name in names]
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


def test_fifty_clients_each_receive_every_broadcast(server):
    n = 50
    names = [f"user{i}" for i in range(n)]
    with contextlib.ExitStack() as connections:  # closes every client at the end
        with ThreadPoolExecutor(max_workers=10) as pool:  # they join ten at a time
            opened = pool.map(lambda name: open_ws(server, f"/ws/chat?name={name}"), names)
            clients = [connections.enter_context(ws) for ws in opened]
            list(pool.map(wait_for_own_join, clients, names))
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:  # everyone speaks at once
            list(pool.map(lambda i: clients[i].send(f"message {i}"), range(n)))

        def texts(ws: ClientConnection) -> set[str]:
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


def test_bad_messages_get_an_error_and_the_room_keeps_working(server):
    with joined(server, "Ada") as ada, joined(server, "Bob") as bob:
        assert next_event(ada)["name"] == "Bob"
        for bad, why in [("é" * 2049, "got 4098 bytes"), ("", "got 0 bytes"), (b"\x00", "send text, not binary")]:
            ada.send(bad)
            event = next_event(ada)
            assert event["type"] == "error" and why in event["message"], event
        ada.send("x" * 4096)  # the limit itself is fine
        assert next_event(bob)["text"] == "x" * 4096  # Bob saw none of the refused ones
        bob.send("still here")
        assert next_event(ada)["text"] == "x" * 4096 and next_event(ada)["text"] == "still here"


@pytest.mark.parametrize("name", ["", " Ada", "x" * 33, "new\nline"])
def test_an_invalid_name_is_refused_with_a_reason(server, name):
    with open_ws(server, f"/ws/chat?name={quote(name)}") as ws:
        event = next_event(ws)
        assert event["type"] == "error" and "a name is 1 to 32 printable characters" in event["message"]
        code, reason = closed_with(ws)
    assert code == 1008 and reason.startswith("a name is")


def test_a_huge_message_closes_that_connection_only(server):
    with joined(server, "Ada") as ada, open_ws(server, "/ws/echo") as huge:
        huge.send("y" * 100_000)
        assert closed_with(huge)[0] == 1009
        ada.send("fine")
        assert next_event(ada)["text"] == "fine"
    assert server.wait_for("echo: closed")  # the server notices within a second and frees the slot


def test_too_many_clients():
    with (launch("chat", replace=False, max_clients=2) as server,
          open_ws(server, "/ws/echo") as first, joined(server, "Ada") as second,
          open_ws(server, "/ws/echo") as third):
        assert "server is full" in next_event(third)["message"]
        assert closed_with(third)[0] == 1013
        first.close()
        second.send("after the refusal")
        assert next_event(second)["text"] == "after the refusal"



def raw_websocket(server, path: str, receive_buffer: int) -> socket.socket:
    """A WebSocket opened by hand, over a TCP socket that takes at most ``receive_buffer``
    bytes before the sender must wait: what the server sends after the 101 answer is left
    unread, for as long as the test likes."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connect(): TCP's window
    raw.settimeout(10)
    raw.connect(server.address)
    raw.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: not one byte of a frame
        head += raw.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return raw


@pytest.mark.timeout(60)
def test_a_client_that_never_reads_does_not_hold_up_the_room(server):
    """Issue 20: with a blocking send per member in the sender's thread, a client that never
    reads froze the room (684 of these 1,500 messages arrived, then none)."""
    n, size = 1500, 4000
    with contextlib.closing(raw_websocket(server, "/ws/chat?name=slow", 4096)) as slow:
        assert server.wait_for("chat: slow joined")
        with joined(server, "healthy") as healthy, joined(server, "talker") as talker:
            texts: list[str] = []  # the messages that reach the healthy client, as JSON

            def read(ws: ClientConnection, keep: list | None) -> None:
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    while True:  # as fast as it can (nothing slow here), to the end
                        data = ws.recv(timeout=30)
                        if keep is not None and data.startswith('{"type": "message"'):
                            keep.append(data)

            readers = [threading.Thread(target=read, args=(healthy, texts), daemon=True),
                       threading.Thread(target=read, args=(talker, None), daemon=True)]  # its own messages back
            for reader in readers:
                reader.start()
            talking = threading.Thread(target=lambda: [talker.send(f"{i:04} " + "x" * (size - 5)) for i in range(n)],
                                       daemon=True)
            talking.start()
            talking.join(30)
            assert not talking.is_alive(), "the talker could not send its messages within 30 s"
            deadline = time.monotonic() + 30
            while len(texts) < n and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [json.loads(text)["text"] for text in texts] == [f"{i:04} " + "x" * (size - 5) for i in range(n)]

            start = time.monotonic()
            talker.send("and one more")
            while len(texts) == n and time.monotonic() - start < 5:
                time.sleep(0.01)
            assert time.monotonic() - start < 2, "the talker's next message took 2 s or more"
            assert json.loads(texts[-1])["text"] == "and one more"
            assert server.wait_for("chat: slow disconnected (code 1008): too slow: 1024 messages waiting")
            assert server.wait_for("chat: slow left")

        # The slow client reads at last: what the TCP buffers held, then the close frame that says why.
        reason = b"\x03\xf0" + b"too slow: 1024 messages waiting"  # 1008: policy violation
        closing, received = b"\x88" + bytes([len(reason)]) + reason, b""  # a close frame, unmasked
        while not received.endswith(closing):
            chunk = slow.recv(65536)  # TimeoutError if the server sends nothing more
            assert chunk, f"the connection ended without that close frame: {received[-60:]!r}"
            received += chunk

def test_history_keeps_the_last_messages():
    with launch("chat", replace=False, history=3) as server:
        for i in range(5):
            r = requests.post(f"{server.url}/api/messages", json={"name": "Ada", "text": f"m{i}"}, timeout=5)
            assert r.status_code == 201 and r.json()["id"] == i + 1
        history = requests.get(f"{server.url}/api/history", timeout=5).json()
        assert [m["text"] for m in history] == ["m2", "m3", "m4"]
        assert [m["text"] for m in requests.get(f"{server.url}/api/history?limit=2", timeout=5).json()] == ["m3", "m4"]
        for bad, why in [("0", "between 1 and 3"), ("4", "between 1 and 3"), ("many", "an integer")]:
            r = requests.get(f"{server.url}/api/history", params={"limit": bad}, timeout=5)
            assert_json_error(r, 400, "Bad Request", "limit", why)


def test_posted_messages_reach_websocket_clients_and_bad_posts_are_refused(server):
    with joined(server, "Ada") as ada:
        r = requests.post(f"{server.url}/api/messages", json={"name": "Bob", "text": "over HTTP"}, timeout=5)
        assert r.status_code == 201 and next_event(ada) == r.json()
        for body in [{"name": "", "text": "x"}, {"name": "Bob", "text": "x" * 4097}, {"name": "Bob"}, ["Bob"], None]:
            r = requests.post(f"{server.url}/api/messages", json=body, timeout=5)
            assert_json_error(r, 400, "Bad Request")


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
            assert_json_error(r, 400, "Bad Request", next(iter(params)))
        assert requests.get(f"{server.url}/api/poll", params={"timeout": 1}, timeout=5).json() == []


def test_http_errors_are_json_and_logged(server):
    assert_json_error(requests.get(f"{server.url}/nope", timeout=5), 404, "Not Found")
    wrong = requests.delete(f"{server.url}/api/messages", timeout=5)
    assert_json_error(wrong, 405, "Method Not Allowed")
    assert set(wrong.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}  # in no particular order
    huge = requests.post(f"{server.url}/api/messages", json={"name": "Ada", "text": "x" * 70_000}, timeout=5)
    assert_json_error(huge, 413, "Request Entity Too Large")
    assert server.wait_for(" GET /nope 404") and server.wait_for(" DELETE /api/messages 405")


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
    for words in ["limits:", "4096 bytes", "64 KiB", "1009", "1008", "--max-clients", "--history", "--max-poll",
                  "event streams"]:
        assert words in result.stdout, words


# --- Server-Sent Events --------------------------------------------------------------


def sse_events(response: requests.Response) -> Iterator[dict[str, str]]:
    """The events of a text/event-stream answer, each as {field: value}; comments skipped."""
    event: dict[str, str] = {}
    for line in response.iter_lines(decode_unicode=True):
        if not line:  # a blank line ends an event
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


def open_stream(url: str, **headers) -> requests.Response:
    """GET /api/events, once the server has sent its first event (retry:): from then on it
    streams every new message. Use it in a ``with`` block, which closes the connection."""
    r = requests.get(f"{url}/api/events", headers=headers, stream=True, timeout=5)
    assert r.status_code == 200, r.text
    return r


def test_an_event_stream_pushes_each_message_with_its_id(server):
    with open_stream(server.url) as r:
        assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert r.headers["Cache-Control"] == "no-store"
        events = sse_events(r)
        assert next(events) == {"retry": "3000"}  # sent at once: the stream is open
        posted = [requests.post(f"{server.url}/api/messages", json={"name": "Ada", "text": text}, timeout=5).json()
                  for text in ["one", "two\nlines"]]
        got = [next(events), next(events)]
    assert [set(e) for e in got] == [{"id", "data"}] * 2 and [e["id"] for e in got] == [str(m["id"]) for m in posted]
    assert [json.loads(e["data"]) for e in got] == posted  # a newline in a text stays inside the JSON


def test_last_event_id_resumes_after_that_message(server):
    for text in ["m1", "m2", "m3"]:
        requests.post(f"{server.url}/api/messages", json={"name": "Ada", "text": text}, timeout=5)
    with open_stream(server.url, **{"Last-Event-ID": "1"}) as r:
        events = sse_events(r)
        assert next(events) == {"retry": "3000"}
        assert [json.loads(next(events)["data"])["text"] for _ in range(2)] == ["m2", "m3"]
    for bad in ["x", "-1", "1.5"]:
        r = requests.get(f"{server.url}/api/events", headers={"Last-Event-ID": bad}, timeout=5)
        assert_json_error(r, 400, "Bad Request", "Last-Event-ID")


@pytest.fixture
def quiet_app_server():
    """The chat in this process (werkzeug, threaded), with 0.2 s of silence before a comment
    line and room for one connection."""
    from werkzeug.serving import make_server

    from sandbox.chat import create_app

    server = make_server("127.0.0.1", 0, create_app({"SSE_QUIET": 0.2, "MAX_CLIENTS": 1}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def test_a_stream_holds_a_connection_until_its_client_is_gone(quiet_app_server):
    url = quiet_app_server
    with open_stream(url) as r:
        events = sse_events(r)
        assert next(events) == {"retry": "3000"}
        full = requests.get(f"{url}/api/events", timeout=5)
        assert_json_error(full, 503, "Service Unavailable", "full")
        lines = r.iter_lines(decode_unicode=True)
        assert next(lines) == ": nothing new"  # the comment after 0.2 s of silence
    deadline = time.monotonic() + 5  # closed: the next comment fails to be written, which frees the slot
    while (again := requests.get(f"{url}/api/events", stream=True, timeout=5)).status_code == 503:
        again.close()
        assert time.monotonic() < deadline, "the stream of a client that left still holds its slot"
        time.sleep(0.1)
    again.close()
    assert again.status_code == 200


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
