"""Live updates: each client's events, pushed as Server-Sent Events (SSE).

    GET /api/v1/events      Authorization: Bearer <token>      [Last-Event-ID: <id>]   [?types=message,read]

The answer never ends by itself for a while: it is a stream of text events,

    id: 42
    event: message
    data: {"id": 7, "sender_id": 2, "sender_name": "Bob", ..., "text": "hi", "read": false}

one per new message to or from me, message marked read or unread (``read``),
user whose status changed (``status``, everyone's), or ``reset`` (the server
forgot what came before: reload everything), each followed by an empty line.

The choices, and why:

* SSE rather than a WebSocket: the server only pushes, and SSE is plain HTTP
  (a GET whose answer keeps coming), served by waitress like any other
  request, through proxies, with reconnection built into the protocol: the
  client sends back the last ``id`` it saw (``Last-Event-ID``) and gets what
  it missed.
* The token travels in the Authorization header, as for every request. The
  browser's EventSource cannot send headers, which is why pages using it often
  put the token in the URL, where logs, the browser's history and proxies keep
  it. The web client reads the stream with fetch() instead, which sends headers.
* Each stream is bounded: it ends after STREAM_SECONDS, or after STREAM_BYTES,
  or when its client falls QUEUE_SIZE events behind. The client then
  reconnects (``retry:`` tells a browser when) and gets what it missed from
  the database. Memory per subscriber is therefore bounded, and a client that
  never reads only fills its own queue: nobody waits for it.
* A stream holds one of waitress's threads while it is open (WSGI has no way
  to wait for a client without a thread). The messaging server therefore runs
  LIVE_STREAMS more threads than a server without streams (see __init__.py):
  with waitress's 16 alone, 16 open streams would leave no thread for any
  other request. A thread that waits costs memory (about 16 KiB each, measured
  on Linux) and no processor. An asyncio server (chapter 12) would hold each
  stream in a coroutine instead; at a class's size, threads do:
  ``benchmarks/bench_messaging.py --live`` (200 students, each with a stream
  open and sending a message every 3 s for a minute) delivered all of some
  4,000 messages, p99 under 0.4 s, in one process and with --workers 4, on a
  busy 2-processor machine. Beyond LIVE_STREAMS at once, a process answers
  503 with Retry-After.
* With --workers N, a message sent through one process must reach a
  subscriber connected to another. Processes share nothing but the SQLite
  file, so the events are rows there (written by triggers, see db.py), and one
  thread per process reads the new ones every POLL_SECONDS, whatever the number
  of subscribers, and hands each to the queues of the subscribers it concerns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time

from . import db

LIVE_STREAMS = 256  # streams open at once in one process, at most: 503 beyond
STREAM_SECONDS = 60  # a stream ends after this, and the client reconnects
STREAM_BYTES = 256 * 1024  # ... or after sending this much
RETRY_MS = 1000  # how long a browser waits before reconnecting (SSE's retry:)
HEARTBEAT_SECONDS = 15  # a comment line when idle: proxies keep the connection open
CHECK_SECONDS = 1  # how often a stream looks whether its client has gone (its thread is then free)
POLL_SECONDS = 0.1  # how often each process looks for new events in the database
QUEUE_SIZE = 100  # events waiting for one subscriber, at most
REPLAY_MAX = 200  # events replayed after a reconnection, at most: beyond, a reset
KEEP_SECONDS = 600  # events are kept this long, for clients that reconnect
TYPES = ("message", "read", "status", "reset")

OVERFLOW = object()  # in a queue: this subscriber fell too far behind


class TooManyStreams(Exception):
    pass


class Subscriber:
    def __init__(self, user_id: int, types: set[str], size: int = QUEUE_SIZE):
        self.user_id = user_id
        self.types = types
        self.size = size
        self.queue: queue.Queue = queue.Queue(size + 1)  # + 1: room for OVERFLOW
        self.overflowed = False

    def offer(self, event: dict) -> None:
        """Called by the polling thread: never waits, whatever the subscriber does."""
        if self.overflowed or event["type"] not in self.types:
            return
        if self.queue.qsize() >= self.size:
            self.overflowed = True
            event = OVERFLOW
        self.queue.put_nowait(event)


class Hub:
    """This process's subscribers, and the thread that reads the new events for them."""

    def __init__(self, database, max_streams: int):
        self.database = database
        self.max_streams = max_streams
        self.lock = threading.Lock()
        self.subscribers: set[Subscriber] = set()
        self.seen = 0  # the last event handed to the subscribers
        self.thread: threading.Thread | None = None  # runs while there are subscribers
        self.pruned = 0.0  # when this process last deleted the old events

    def subscribe(self, conn, user_id: int, types: set[str]) -> tuple[Subscriber, int]:
        """A new subscriber, and the id of the last event before those it will be given."""
        with self.lock:
            if len(self.subscribers) >= self.max_streams:
                raise TooManyStreams
            if self.thread is None:  # the first subscriber: start from the latest event
                self.seen = db.last_event_id(conn)
                self.thread = threading.Thread(target=self.poll, name="messaging-live", daemon=True)
                self.thread.start()
            subscriber = Subscriber(user_id, types)
            self.subscribers.add(subscriber)
            return subscriber, self.seen

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self.lock:
            self.subscribers.discard(subscriber)

    def count(self) -> int:
        with self.lock:
            return len(self.subscribers)

    def prune(self, conn) -> None:
        """Delete the events older than KEEP_SECONDS, once a minute at most (from any thread)."""
        with self.lock:
            if time.monotonic() - self.pruned < 60:
                return
            self.pruned = time.monotonic()
        with contextlib.suppress(sqlite3.OperationalError):  # busy: next time
            db.prune_events(conn, KEEP_SECONDS)

    def poll(self) -> None:
        """Hand the new events to the subscribers, until there are none; then stop."""
        conn = db.connect(self.database)
        try:
            while True:
                time.sleep(POLL_SECONDS)
                try:
                    events = db.events_after(conn, self.seen)
                except sqlite3.OperationalError as error:  # "database is locked" for 10 s: try again
                    logging.getLogger(__name__).warning("live events: %s", error)
                    events = []
                with self.lock:
                    if not self.subscribers:
                        self.thread = None  # the next subscriber starts another thread
                        return
                    for event in events:
                        for subscriber in self.subscribers:
                            if event["user_id"] in (None, subscriber.user_id):
                                subscriber.offer(event)
                        self.seen = event["id"]
                self.prune(conn)
        finally:
            conn.close()


def sse(event: dict) -> str:
    """One event in the text/event-stream format (its data is one line of JSON)."""
    return f"id: {event['id']}\nevent: {event['type']}\ndata: {event['data']}\n\n"


def replay(conn, user_id: int, after: int, until: int, types: set[str]) -> list[dict]:
    """The events of ``user_id`` after ``after`` up to ``until``: what a reconnecting client missed.

    A reset event instead if some of them were forgotten (pruned, or too many to replay).
    """
    if after > db.last_event_id(conn):  # an id this server never gave: its database is another one
        return [{"id": until, "type": "reset", "user_id": user_id, "data": "{}"}]
    if after >= until:
        return []  # (this process may not have read them yet: stream() skips those it sent already)
    first = db.first_event_id(conn)
    missed = db.events_after(conn, after, user_id, limit=REPLAY_MAX + 1)
    missed = [event for event in missed if event["id"] <= until]
    if first is None or first > after + 1 or len(missed) > REPLAY_MAX:
        return [{"id": until, "type": "reset", "user_id": user_id, "data": "{}"}]
    return [event for event in missed if event["type"] in types]


def stream(hub: Hub, subscriber: Subscriber, missed: list[dict], start: int, disconnected):
    """The body of a live answer: a generator of SSE text, which waitress sends as it comes.

    ``missed``: the events to send first (replay()); ``start``: the last one
    the client has, from then on.
    """
    try:
        # First the reconnection delay, and an event saying the stream is ready
        # (with the id to resume from): a client that loads the inbox after it
        # misses nothing in between.
        yield f"retry: {RETRY_MS}\n\n"
        for event in missed:
            yield sse(event)
        start = max([start, *(event["id"] for event in missed)])
        yield sse({"id": start, "type": "ready", "data": json.dumps({"user_id": subscriber.user_id})})
        now = time.monotonic()
        deadline, quiet_since, sent = now + STREAM_SECONDS, now, 0
        while (left := deadline - time.monotonic()) > 0 and sent < STREAM_BYTES and not disconnected():
            try:
                event = subscriber.queue.get(timeout=min(CHECK_SECONDS, left))
            except queue.Empty:
                if time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                    yield ": still here\n\n"  # a comment: clients ignore it
                    quiet_since = time.monotonic()
                continue
            if event is OVERFLOW:
                break  # it reconnects, and gets what it missed from the database
            if event["id"] <= start:
                continue  # sent already
            text = sse(event)
            sent += len(text)
            yield text
            quiet_since = time.monotonic()
    finally:  # also when the client went away: waitress then closes this generator
        hub.unsubscribe(subscriber)
