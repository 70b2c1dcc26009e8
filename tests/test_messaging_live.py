"""Live events (GET /api/v1/events, Server-Sent Events): who gets what, resuming, and abuse.

Through Flask's test client, reading the stream as it comes (buffered=False),
with live.py's durations shortened so that each test takes a fraction of a second.
The cross-process test starts a real server with --workers 2.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from messaging_helpers import assert_error, bearer, new_app, register, send
from sandbox import launch
from sandbox.messaging import live

API = "/api/v1"


@pytest.fixture(autouse=True)
def short_streams(monkeypatch):
    monkeypatch.setattr(live, "STREAM_SECONDS", 3)
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(live, "CHECK_SECONDS", 0.1)
    monkeypatch.setattr(live, "POLL_SECONDS", 0.02)


class Stream:
    """An open live answer, read event by event (in a thread, so that a test never blocks on it)."""

    def __init__(self, response):
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/event-stream"
        self.response = response
        self.events: list[dict] = []
        self.comments = 0
        self.retry = None
        self.ended = threading.Event()
        self.closing = False
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        buffer = ""
        try:
            for chunk in self.response.response:
                buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    self.parse(block)
                if self.closing:
                    break
        finally:
            self.response.close()  # in this thread: a generator cannot be closed while it runs
            self.ended.set()

    def parse(self, block: str):
        event = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name == "":
                self.comments += 1
            elif name == "retry":
                self.retry = int(value)
            else:
                event[name] = value
        if event:
            event["data"] = json.loads(event["data"])
            self.events.append(event)

    def wait_for(self, kind: str, count: int = 1, seconds: float = 2) -> list[dict]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [event for event in self.events if event["event"] == kind]
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"no {count} {kind!r} events within {seconds} s; got {self.events}")

    def close(self):
        """As a client hanging up: the stream stops at its next event or heartbeat."""
        self.closing = True
        assert self.ended.wait(2)


def subscribe(client, token: str, query: str = "", **headers) -> Stream:
    return Stream(client.get(f"{API}/events{query}", headers={**bearer(token), **headers}, buffered=False))


@pytest.fixture
def pair(client):
    ada, ada_token = register(client, "Ada")
    bob, bob_token = register(client, "Bob")
    return ada, ada_token, bob, bob_token


def test_a_message_reaches_its_recipient_as_it_is_sent(client, pair):
    ada, ada_token, bob, bob_token = pair
    stream = subscribe(client, ada_token)
    assert stream.retry == 1000 or stream.wait_for("ready")
    ready = stream.wait_for("ready")[0]
    sent = send(client, bob_token, ada["id"], "<b>hi</b> & bye")
    event = stream.wait_for("message")[0]
    assert event["data"] == sent  # the same JSON as the API's
    assert int(event["id"]) > int(ready["id"])
    assert stream.retry == live.RETRY_MS
    client.patch(f"{API}/users/{ada['id']}/messages/{sent['id']}", json={"read": True}, headers=bearer(ada_token))
    read = stream.wait_for("read")[0]["data"]
    assert read == {"id": sent["id"], "sender_id": bob["id"], "recipient_id": ada["id"], "read": True}
    stream.close()


def test_each_subscriber_gets_only_its_own_events(client, pair):
    ada, ada_token, bob, bob_token = pair
    eve, eve_token = register(client, "Eve")
    ada_stream, eve_stream, bob_stream = (subscribe(client, token) for token in (ada_token, eve_token, bob_token))
    for stream in (ada_stream, eve_stream, bob_stream):
        stream.wait_for("ready")
    send(client, bob_token, ada["id"], "for Ada only")
    client.patch(f"{API}/users/{eve['id']}", json={"status": "here"}, headers=bearer(eve_token))
    ada_stream.wait_for("status")
    bob_stream.wait_for("status")
    assert eve_stream.wait_for("status")[0]["data"]["status"] == "here"  # statuses: everyone's
    assert [e["data"]["text"] for e in ada_stream.events if e["event"] == "message"] == ["for Ada only"]
    assert [e["data"]["text"] for e in bob_stream.events if e["event"] == "message"] == ["for Ada only"]  # its sender
    assert not [e for e in eve_stream.events if e["event"] == "message"]
    for stream in (ada_stream, eve_stream, bob_stream):
        stream.close()


def test_types_filters_the_events(client, pair):
    ada, ada_token, bob, bob_token = pair
    stream = subscribe(client, ada_token, "?types=status")
    stream.wait_for("ready")
    send(client, bob_token, ada["id"], "not shown")
    client.patch(f"{API}/users/{bob['id']}", json={"status": "busy"}, headers=bearer(bob_token))
    stream.wait_for("status")
    assert not [e for e in stream.events if e["event"] == "message"]
    stream.close()


def test_a_reconnection_gets_what_it_missed(client, pair):
    ada, ada_token, bob, bob_token = pair
    stream = subscribe(client, ada_token)
    last = stream.wait_for("ready")[0]["id"]
    stream.close()
    texts = [send(client, bob_token, ada["id"], f"missed {n}")["text"] for n in range(3)]
    again = subscribe(client, ada_token, **{"Last-Event-ID": last})
    missed = again.wait_for("message", 3)
    assert [event["data"]["text"] for event in missed] == texts
    # Replayed from the database before "ready", or handed over by the polling thread after it
    # (if it had not read them yet): either way each once, in order.
    assert [event["id"] for event in again.events if event["event"] == "message"] == [e["id"] for e in missed]
    again.close()


def test_an_id_from_another_database_is_a_reset(client, pair):
    ada, ada_token, bob, bob_token = pair
    stream = subscribe(client, ada_token, **{"Last-Event-ID": "99999"})
    assert stream.wait_for("reset")
    stream.close()


def test_a_stream_ends_after_its_time_and_says_when_to_come_back(client, pair, monkeypatch):
    monkeypatch.setattr(live, "STREAM_SECONDS", 0.5)
    ada, ada_token, _, _ = pair
    stream = subscribe(client, ada_token)
    assert stream.ended.wait(3), "the stream did not end"
    assert stream.retry == live.RETRY_MS and stream.comments >= 1  # heartbeats while idle
    assert client.application.extensions["messaging.hub"].count() == 0


def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for(client, pair, monkeypatch):
    """Its queue is bounded: beyond QUEUE_SIZE events, its stream ends (it reconnects, and replays)."""
    ada, ada_token, bob, bob_token = pair
    hub = client.application.extensions["messaging.hub"]
    slow = live.Subscriber(ada["id"], set(live.TYPES), size=5)  # subscribed, never read
    with hub.lock:
        hub.subscribers.add(slow)
    reader = subscribe(client, bob_token)
    reader.wait_for("ready")
    started = time.monotonic()
    for n in range(20):
        send(client, bob_token, ada["id"], f"flood {n}")
    reader.wait_for("message", 20)  # the sender's own stream got them all, at once
    assert time.monotonic() - started < 2
    assert slow.overflowed and slow.queue.qsize() == 5 + 1  # bounded: 5 events and the mark
    assert slow.queue.queue[-1] is live.OVERFLOW
    hub.unsubscribe(slow)
    reader.close()


@pytest.mark.parametrize("headers, words", [
    ({}, ["token"]),
    ({"Authorization": "Bearer nope"}, ["no user"]),
    ({"Authorization": "Basic YTpi"}, ["Bearer"]),
])
def test_no_valid_token_no_stream(client, pair, headers, words):
    assert_error(client.get(f"{API}/events", headers=headers), 401, *words)


def test_the_token_in_the_query_string_is_not_accepted(client, pair):
    ada, ada_token, _, _ = pair
    assert_error(client.get(f"{API}/events?token={ada_token}"), 401, "Authorization")


@pytest.mark.parametrize("query, headers, field", [
    ("?types=", {}, "types"),
    ("?types=message,oops", {}, "types"),
    ("?types=message,,read", {}, "types"),
    ("", {"Last-Event-ID": "-1"}, "Last-Event-ID"),
    ("", {"Last-Event-ID": "12abc"}, "Last-Event-ID"),
    ("", {"Last-Event-ID": "99999999999999999999"}, "Last-Event-ID"),
])
def test_malformed_subscriptions_are_422(client, pair, query, headers, field):
    _, ada_token, _, _ = pair
    body = assert_error(client.get(f"{API}/events{query}", headers={**bearer(ada_token), **headers}), 422, field)
    assert list(body["details"]) == [field]
    assert client.application.extensions["messaging.hub"].count() == 0


def test_beyond_its_streams_a_process_answers_503(tmp_path):
    app = new_app(tmp_path, LIVE_STREAMS=1)
    client = app.test_client()
    _, token = register(client, "Ada")
    first = subscribe(client, token)
    first.wait_for("ready")
    response = client.get(f"{API}/events", headers=bearer(token))
    assert_error(response, 503, "live streams")
    assert response.headers["Retry-After"] == "5"
    first.close()


def test_two_applications_on_one_file_share_their_events(tmp_path):
    """What --workers does, in one process: two applications that share nothing but the SQLite file."""
    first, second = new_app(tmp_path).test_client(), new_app(tmp_path).test_client()
    ada, ada_token = register(first, "Ada")
    _, bob_token = register(second, "Bob")
    stream = subscribe(first, ada_token)
    stream.wait_for("ready")
    send(second, bob_token, ada["id"], "from the other one")
    assert stream.wait_for("message")[0]["data"]["text"] == "from the other one"
    stream.close()


def read_until(chunks, text: str) -> str:
    """What a requests streaming response sends (``chunks``, its iter_content()), up to ``text``."""
    seen = ""
    for chunk in chunks:
        seen += chunk
        if text in seen:
            break
    return seen


def test_an_event_sent_through_one_process_reaches_a_subscriber_of_another(tmp_path):
    """--workers 2: the processes share only the SQLite file; each polls its events table."""
    with launch("messaging", workers=2, db=tmp_path / "class.sqlite3", rate_limit="off") as server:
        base = server.url
        users = [requests.post(f"{base}{API}/users", json={"name": name}, timeout=5).json() for name in ("Ada", "Bob")]
        (ada, ada_token), (bob, bob_token) = ((u["user"], u["token"]) for u in users)
        # One connection per subscriber, each given by the OS to one of the two processes:
        # with 6 of them both processes have some (the chance that all land on one is 1 in 32).
        streams = [requests.get(f"{base}{API}/events", headers=bearer(ada_token), stream=True, timeout=10)
                   for _ in range(6)]
        readers = [stream.iter_content(chunk_size=None, decode_unicode=True) for stream in streams]
        for reader in readers:
            assert "event: ready" in read_until(reader, "event: ready")
        message = requests.post(f"{base}{API}/users/{ada['id']}/messages", json={"text": "across"},
                                headers=bearer(bob_token), timeout=5).json()
        for reader in readers:  # (a missed message: a ReadTimeout after 10 s without a byte)
            assert '"text":"across"' in read_until(reader, '"text":"across"'), "a subscriber missed the message"
        for stream in streams:
            stream.close()
        assert message["text"] == "across"


def test_a_client_that_went_away_frees_its_stream_within_a_second(client, pair):
    """waitress tells the application when a client has closed its connection; the stream then ends."""
    _, ada_token, _, _ = pair
    gone = threading.Event()
    response = client.get(f"{API}/events", headers=bearer(ada_token), buffered=False,
                          environ_base={"waitress.client_disconnected": gone.is_set})
    chunks = iter(response.response)
    next(chunks)  # retry:
    hub = client.application.extensions["messaging.hub"]
    assert hub.count() == 1
    gone.set()
    started = time.monotonic()
    for _ in chunks:  # the generator returns on its own, at its next check
        pass
    assert time.monotonic() - started < 1 and hub.count() == 0


def test_an_unknown_parameter_is_refused_not_ignored(client, pair):
    """?type=message (a typo for types) would otherwise subscribe to everything."""
    _, ada_token, _, _ = pair
    body = assert_error(client.get(f"{API}/events?type=message", headers=bearer(ada_token)), 422, "type")
    assert body["details"] == {"type": "unexpected parameter; allowed: types"}


def test_a_subscriber_that_never_reads_slows_no_one(tmp_path):
    """Over a real server: one stream is never read while Eve sends its user 300 long messages
    (600 kB, beyond a stream's 256 KiB); another user's stream still gets its message, and every
    send is answered."""
    with launch("messaging", db=tmp_path / "slow.sqlite3", rate_limit="off", quiet=True) as server:
        base = server.url
        (ada, ada_token), (bob, bob_token), (_, eve_token) = (
            (r.json()["user"], r.json()["token"]) for r in
            (requests.post(f"{base}{API}/users", json={"name": name}, timeout=5) for name in ("Ada", "Bob", "Eve")))
        stuck = socket.create_connection(server.address)  # subscribes, then never reads a byte
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(f"GET {API}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ada_token}\r\n\r\n".encode())
        reader = requests.get(f"{base}{API}/events", headers=bearer(bob_token), stream=True, timeout=10)
        chunks = reader.iter_content(chunk_size=None, decode_unicode=True)
        assert "event: ready" in read_until(chunks, "event: ready")
        with requests.Session() as session:
            started = time.monotonic()
            for n in range(300):
                response = session.post(f"{base}{API}/users/{ada['id']}/messages", json={"text": f"{n} " + "x" * 1990},
                                        headers=bearer(eve_token), timeout=10)
                assert response.status_code == 201
            flood = time.monotonic() - started
            session.post(f"{base}{API}/users/{bob['id']}/messages", json={"text": "for Bob"},
                         headers=bearer(ada_token), timeout=10)
        assert '"text":"for Bob"' in read_until(chunks, '"text":"for Bob"')
        print(f"300 sends of 2 kB while a stream stood unread: {flood:.2f} s")
        reader.close()
        stuck.close()


def test_old_events_are_deleted_even_without_subscribers(client, pair, monkeypatch):
    from sandbox.messaging import dashboard, db

    monkeypatch.setattr(dashboard, "FLUSH_SECONDS", 0)
    monkeypatch.setattr(live, "KEEP_SECONDS", 0)
    ada, ada_token, _, bob_token = pair
    send(client, bob_token, ada["id"], "old news")
    conn = db.connect(client.application.config["DATABASE"])
    assert db.first_event_id(conn) is not None
    time.sleep(1.1)  # older than 0 s, at the resolution of created_at (seconds)
    client.application.extensions["messaging.hub"].pruned = 0.0  # the last pruning: "a minute ago"
    client.get(f"{API}/me", headers=bearer(ada_token))  # any request may prune, once a minute at most
    assert db.first_event_id(conn) is None and db.last_event_id(conn) >= 2
    conn.close()
