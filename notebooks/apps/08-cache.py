"""A notice board with a slow view, a small cache in front of it, and the headers that tell
the other caches on the way what they may keep (chapter 08, "Caching on the server").

    python -m sandbox app --app notebooks/apps/08-cache.py
    python -m sandbox app --app notebooks/apps/08-cache.py:forgetful   # the bug chapter 08 shows first

GET  /api/notices  every notice, the same for everyone. Slow on purpose (READ_DELAY stands for a
                   heavy query), so the answer is kept in this process for CACHE_TTL seconds;
                   JSON, or text when the client's Accept prefers text/plain. Every answer says in
                   Cache-Status (RFC 9211) whether it came from the cache.
POST /api/notices  pin a notice, {"text": "..."}: 204, and the cached answers are dropped
GET  /api/me       whose bearer token this is: an answer for one user only

tests/test_cache_app.py checks all of it, with a clock of its own for the cache.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

from flask import Flask, Response, abort, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from sandbox import web  # the sandbox's JSON errors and request parsing (chapter 08 reads them)

DEFAULTS = {
    "READ_DELAY": 0.2,             # seconds that reading the notices takes
    "CACHE_TTL": 2.0,              # seconds an answer stays in this server's cache
    "MAX_AGE": 10,                 # seconds other caches (browsers, proxies) may reuse it
    "INVALIDATE_ON_WRITE": True,   # False: the bug of `forgetful`, below
    "CACHE_CLOCK": time.monotonic,  # never goes back, unlike the time of day
}
TOKENS = {"ada-token": "Ada", "bob-token": "Bob"}  # two demo users; a real server stores hashes
TEXT_MAX = 200
FIRST_NOTICES = [
    ("Lab 3 moves to room B12", datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)),
    ("No lecture on 14 February", datetime(2025, 1, 20, 16, 30, tzinfo=timezone.utc)),
]


class TTLCache:
    """A dict whose entries expire `ttl` seconds after they were stored; safe in threads.

    Why no library: Flask-Caching is what you would use (the same get, set and clear, with
    Redis or memcached behind it, so that all the server's processes share one cache); it is
    not installed here, and the point is the mechanism. `functools.lru_cache` does not fit:
    it bounds the number of entries (least recently used out first) but never expires one,
    and it can only forget everything at once (`cache_clear()`).
    Its keys here are few (one per representation); keyed by what clients send, a cache
    needs a size limit too.
    """

    def __init__(self, ttl: float, clock=time.monotonic):
        self.ttl, self.clock = ttl, clock
        self.entries = {}               # key -> (expiry, value)
        self.generation = 0             # how many times clear() ran
        self.lock = threading.Lock()    # the server answers several requests at once

    def get(self, key):
        """The value stored for `key`, or None if there is none or it has expired."""
        with self.lock:
            expiry, value = self.entries.get(key, (0, None))
            if self.clock() < expiry:
                return value
            self.entries.pop(key, None)
            return None

    def set(self, key, value, generation: int) -> bool:
        """Store `value`, unless clear() ran since `generation` was read: a value computed
        while a write happened may lack it. True if stored."""
        with self.lock:
            if generation != self.generation:
                return False
            self.entries[key] = (self.clock() + self.ttl, value)
            return True

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.generation += 1


class Board:
    """The notices, in memory (a database, in a real application)."""

    def __init__(self, delay: float):
        self.delay = delay
        self.notices = list(FIRST_NOTICES)   # (text, when it was pinned)
        self.lock = threading.Lock()

    def read(self) -> list:
        with self.lock:
            notices = list(self.notices)
        time.sleep(self.delay)               # the heavy query: what the cache saves
        return notices

    def pin(self, text: str) -> None:
        with self.lock:
            self.notices.append((text, datetime.now(timezone.utc)))


def render(kind: str, notices: list) -> tuple[str, datetime]:
    """The body of /api/notices as `kind` (a media type), and when the newest notice was pinned."""
    if kind == "text/plain":
        body = "".join(f"{when:%Y-%m-%d %H:%M}  {text}\n" for text, when in notices)
    else:
        body = json.dumps([{"text": text, "posted": when.isoformat(timespec="seconds")}
                           for text, when in notices])
    return body, max(when for _, when in notices)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    web.init_app(app, log_requests=False)  # every error as {"status", "error", "message"}
    board = Board(app.config["READ_DELAY"])
    cache = TTLCache(app.config["CACHE_TTL"], app.config["CACHE_CLOCK"])
    app.extensions["notices"] = {"board": board, "cache": cache}  # for the tests

    @app.get("/api/notices")
    def notices():
        kind = request.accept_mimetypes.best_match(["application/json", "text/plain"], "application/json")
        entry, status = cache.get(kind), "hit"     # the key: what the answer depends on
        if entry is None:
            generation = cache.generation          # before reading: see TTLCache.set
            entry = render(kind, board.read())     # slow
            status = "fwd=miss; stored" if cache.set(kind, entry, generation) else "fwd=miss"
        body, last_modified = entry
        response = Response(body, mimetype=kind)
        response.headers["Cache-Control"] = f"public, max-age={app.config['MAX_AGE']}"
        response.headers["Vary"] = "Accept"        # one URL, two bodies: caches must tell them apart
        response.headers["Cache-Status"] = f"app-cache; {status}"
        response.last_modified = last_modified
        response.add_etag()                        # a hash of the body: If-None-Match works too
        return response.make_conditional(request)  # 304 if the client's copy is still this one

    @app.post("/api/notices")
    def pin():
        body = web.json_body()                     # a 400 if it is broken JSON
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= TEXT_MAX:
            abort(422, f'send {{"text": "..."}}, 1 to {TEXT_MAX} characters')
        board.pin(text.strip())
        if app.config["INVALIDATE_ON_WRITE"]:
            cache.clear()                          # after the write: the next GET reads it
        return "", 204

    @app.get("/api/me")
    def me():
        auth = web.authorization()
        name = TOKENS.get(auth.token) if auth and auth.type == "bearer" else None
        if name is None:
            raise Unauthorized("send 'Authorization: Bearer <token>'", www_authenticate=WWWAuthenticate("Bearer"))
        return {"name": name}, 200, {
            "Cache-Control": "private, max-age=60",  # this user's own browser may keep it, no one else
            "Vary": "Authorization"}                 # and only for this same token

    return app


app = create_app()                                           # what `--app 08-cache.py` serves
forgetful = create_app({"INVALIDATE_ON_WRITE": False})       # the same, with the bug
