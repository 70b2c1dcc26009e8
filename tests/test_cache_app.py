"""Chapter 08's notice board (notebooks/apps/08-cache.py): its server-side cache and its caching headers.

In-process with the test client, the cache on a clock of the test's own (an entry expires when
the test says, not after a wait) and no read delay, except where a test measures it. The board's
reads are counted, so that a hit is known to be one. The last test serves the app as the chapter
does, ``launch("app", app=...)``, and asks it over HTTP.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests

from sandbox import launch

APP_FILE = Path(__file__).resolve().parent.parent / "notebooks" / "apps" / "08-cache.py"
NOTICES = "/api/notices"
FIRST = ["Lab 3 moves to room B12", "No lecture on 14 February"]
NEWEST_FIRST = "Mon, 20 Jan 2025 16:30:00 GMT"  # when the newest of FIRST was pinned
MISS, STORED, HIT = "app-cache; fwd=miss", "app-cache; fwd=miss; stored", "app-cache; hit"
TEXT = {"Accept": "text/plain"}


@pytest.fixture(scope="module")
def module():
    spec = importlib.util.spec_from_file_location("cache_app_08", APP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Clock:
    """A clock that moves only when told to."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make(module, clock):
    """make(**config): a new app on the test's clock, with no read delay and its board's reads counted."""
    def make(**config):
        app = module.create_app({"READ_DELAY": 0, "CACHE_CLOCK": clock, **config})
        board = app.extensions["notices"]["board"]
        board.reads, read = 0, board.read

        def counted():
            board.reads += 1
            return read()

        board.read = counted
        return app
    return make


def reads(app) -> int:
    return app.extensions["notices"]["board"].reads


def texts(response) -> list[str]:
    return [notice["text"] for notice in response.get_json()]


def status(response) -> str:
    return response.headers["Cache-Status"]


# --- the cache ------------------------------------------------------------------------


def test_the_first_get_reads_the_board_the_next_ones_come_from_the_cache(make):
    app = make()
    client = app.test_client()
    answers = [client.get(NOTICES) for _ in range(3)]
    assert [status(r) for r in answers] == [STORED, HIT, HIT]
    assert reads(app) == 1
    assert all(r.status_code == 200 and r.data == answers[0].data for r in answers)
    assert texts(answers[0]) == FIRST


def test_a_miss_costs_the_read_delay(module):
    """With the chapter's settings (the real clock): a miss takes at least READ_DELAY."""
    app = module.create_app({"READ_DELAY": 0.05})
    assert module.DEFAULTS["READ_DELAY"] == 0.2 and module.DEFAULTS["CACHE_TTL"] == 2.0
    client = app.test_client()
    start = time.perf_counter()
    first = client.get(NOTICES)
    assert time.perf_counter() - start >= 0.05 and status(first) == STORED
    assert status(client.get(NOTICES)) == HIT


def test_an_entry_expires_after_the_ttl(make, clock):
    app = make(CACHE_TTL=2.0)
    client = app.test_client()
    assert status(client.get(NOTICES)) == STORED
    clock.advance(1.99)
    assert status(client.get(NOTICES)) == HIT and reads(app) == 1
    clock.advance(0.01)  # stored 2 s ago: expired
    assert status(client.get(NOTICES)) == STORED and reads(app) == 2
    assert status(client.get(NOTICES)) == HIT


def test_without_invalidation_a_write_is_unseen_until_the_entry_expires(make, clock, module):
    app = make(INVALIDATE_ON_WRITE=False)
    client = app.test_client()
    client.get(NOTICES)
    assert client.post(NOTICES, json={"text": "Exam moved to Monday"}).status_code == 204
    stale = client.get(NOTICES)
    assert status(stale) == HIT and texts(stale) == FIRST
    clock.advance(2.0)
    fresh = client.get(NOTICES)
    assert status(fresh) == STORED and texts(fresh) == FIRST + ["Exam moved to Monday"]
    assert module.forgetful.config["INVALIDATE_ON_WRITE"] is False and module.app.config["INVALIDATE_ON_WRITE"] is True


def test_a_write_clears_the_cache(make):
    app = make()
    client = app.test_client()
    client.get(NOTICES, headers=TEXT)
    client.get(NOTICES)
    assert client.post(NOTICES, json={"text": "  Exam moved to Monday "}).status_code == 204
    fresh = client.get(NOTICES)
    assert status(fresh) == STORED and texts(fresh) == FIRST + ["Exam moved to Monday"]
    assert status(client.get(NOTICES, headers=TEXT)) == STORED  # every representation dropped
    assert client.get(NOTICES, headers=TEXT).text.endswith("  Exam moved to Monday\n")
    assert reads(app) == 4


def test_an_answer_read_while_a_write_happened_is_not_stored(make):
    """A read that began before a write ends after it: its answer lacks the write, so it must
    not go into the cache (else the write stays unseen for a whole TTL, invalidation or not)."""
    app = make()
    board = app.extensions["notices"]["board"]
    read_done, write_done, answer = threading.Event(), threading.Event(), {}
    plain_read = board.read

    def read_then_wait_for_the_write():
        notices = plain_read()
        read_done.set()
        assert write_done.wait(10)
        return notices

    board.read = read_then_wait_for_the_write
    reader = threading.Thread(target=lambda: answer.update(old=app.test_client().get(NOTICES)))
    reader.start()
    assert read_done.wait(10)
    board.read = plain_read
    assert app.test_client().post(NOTICES, json={"text": "Written meanwhile"}).status_code == 204
    write_done.set()
    reader.join(10)
    assert texts(answer["old"]) == FIRST and status(answer["old"]) == MISS  # answered, not stored
    fresh = app.test_client().get(NOTICES)
    assert status(fresh) == STORED and texts(fresh)[-1] == "Written meanwhile"


def test_the_cache_is_cleared_after_the_write_not_before(make):
    """A read that comes while the write is under way (here: just before the notice is added)
    may store the old list; only a clear() after the write drops it."""
    app = make()
    board = app.extensions["notices"]["board"]
    plain_pin, during = board.pin, {}

    def read_then_pin(text):
        reader = threading.Thread(target=lambda: during.update(answer=app.test_client().get(NOTICES)))
        reader.start()
        reader.join(10)
        plain_pin(text)

    board.pin = read_then_pin
    assert app.test_client().post(NOTICES, json={"text": "Exam moved to Monday"}).status_code == 204
    assert texts(during["answer"]) == FIRST
    fresh = app.test_client().get(NOTICES)
    assert status(fresh) == STORED and texts(fresh)[-1] == "Exam moved to Monday"


def test_the_cache_alone(module, clock):
    cache = module.TTLCache(5, clock)
    assert cache.get("k") is None
    assert cache.set("k", "v", cache.generation) and cache.get("k") == "v"
    clock.advance(4.9)
    assert cache.get("k") == "v"
    clock.advance(0.1)
    assert cache.get("k") is None and "k" not in cache.entries  # an expired entry is dropped
    generation = cache.generation
    cache.clear()
    assert not cache.set("k", "old", generation) and cache.get("k") is None
    assert cache.set("k", "new", cache.generation) and cache.get("k") == "new"
    cache.clear()
    assert cache.get("k") is None


# --- the headers ----------------------------------------------------------------------


def test_each_representation_is_cached_apart_and_the_answer_varies_on_accept(make):
    app = make()
    client = app.test_client()
    as_json, as_text = client.get(NOTICES), client.get(NOTICES, headers=TEXT)
    assert status(as_json) == status(as_text) == STORED and reads(app) == 2
    assert as_json.mimetype == "application/json" and texts(as_json) == FIRST
    assert as_text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert as_text.text == "2025-01-06 09:00  Lab 3 moves to room B12\n2025-01-20 16:30  No lecture on 14 February\n"
    assert as_json.headers["Vary"] == as_text.headers["Vary"] == "Accept"
    assert as_json.headers["ETag"] != as_text.headers["ETag"]  # one ETag per representation
    again = client.get(NOTICES, headers=TEXT)
    assert status(again) == HIT and again.data == as_text.data
    preferred = client.get(NOTICES, headers={"Accept": "text/plain;q=0.5, application/json"})
    assert preferred.mimetype == "application/json" and status(preferred) == HIT
    assert client.get(NOTICES, headers={"Accept": "image/png"}).mimetype == "application/json"  # the default


def test_the_notices_are_public_for_max_age_and_carry_validators(make):
    answer = make().test_client().get(NOTICES)
    assert answer.headers["Cache-Control"] == "public, max-age=10"
    assert answer.headers["Last-Modified"] == NEWEST_FIRST
    assert answer.headers["ETag"].startswith('"') and answer.headers["ETag"].endswith('"')
    assert answer.get_json()[1] == {"text": "No lecture on 14 February", "posted": "2025-01-20T16:30:00+00:00"}


def test_if_modified_since_gives_304_until_a_write(make):
    client = make().test_client()
    first = client.get(NOTICES)
    same = client.get(NOTICES, headers={"If-Modified-Since": NEWEST_FIRST})
    assert same.status_code == 304 and same.data == b""
    for name in ("ETag", "Cache-Control", "Vary"):  # what a 304 must repeat (RFC 9110, 15.4.5)
        assert same.headers[name] == first.headers[name]
    later = client.get(NOTICES, headers={"If-Modified-Since": "Tue, 21 Jan 2025 00:00:00 GMT"})
    assert later.status_code == 304
    earlier = client.get(NOTICES, headers={"If-Modified-Since": "Mon, 20 Jan 2025 16:29:59 GMT"})
    assert earlier.status_code == 200 and earlier.data == first.data
    assert client.get(NOTICES, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304

    before = datetime.now(timezone.utc).replace(microsecond=0)
    client.post(NOTICES, json={"text": "Exam moved to Monday"})
    newer = client.get(NOTICES, headers={"If-Modified-Since": NEWEST_FIRST})
    assert newer.status_code == 200 and texts(newer)[-1] == "Exam moved to Monday"
    changed = parsedate_to_datetime(newer.headers["Last-Modified"])
    assert before <= changed <= datetime.now(timezone.utc)
    assert client.get(NOTICES, headers={"If-None-Match": first.headers["ETag"]}).status_code == 200
    assert client.get(NOTICES, headers={"If-None-Match": newer.headers["ETag"]}).status_code == 304


def test_me_is_private_and_varies_on_authorization(make):
    client = make().test_client()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRhOmFkYS10b2tlbg=="},
                    {"Authorization": "ada-token"}):
        refused = client.get("/api/me", headers=headers)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer", headers
        assert refused.get_json()["status"] == 401 and "Cache-Control" not in refused.headers
    ada = client.get("/api/me", headers={"Authorization": "Bearer ada-token"})
    bob = client.get("/api/me", headers={"Authorization": "Bearer bob-token"})
    assert (ada.get_json(), bob.get_json()) == ({"name": "Ada"}, {"name": "Bob"})
    for answer in (ada, bob):
        assert answer.headers["Cache-Control"] == "private, max-age=60" and answer.headers["Vary"] == "Authorization"


def test_a_notice_is_1_to_200_characters_of_text(make):
    app = make()
    client = app.test_client()
    for body in ({"json": {}}, {"json": {"text": ""}}, {"json": {"text": "   "}}, {"json": {"text": 7}},
                 {"json": {"text": "x" * 201}}, {"json": ["text"]}, {"data": {"text": "a form"}}):
        refused = client.post(NOTICES, **body)
        assert refused.status_code == 422 and refused.get_json()["error"] == "Unprocessable Entity", body
    broken = client.post(NOTICES, data='{"text": ', content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["status"] == 400
    assert client.post(NOTICES, json={"text": "x" * 200}).status_code == 204
    assert texts(client.get(NOTICES)) == FIRST + ["x" * 200]


# --- served, as the chapter serves it --------------------------------------------------------


def test_served_with_launch_over_http():
    """`launch("app", app=...)`, then `:forgetful`: the headers and the 304 survive the WSGI server."""
    app_file = os.path.relpath(APP_FILE)  # `--app C:\\...` would read as FILE:NAME on Windows
    with launch("app", app=app_file, replace=False) as srv, \
            launch("app", app=f"{app_file}:forgetful", replace=False) as forgetful:
        url = f"{srv.url}{NOTICES}"
        first = requests.get(url, timeout=10)
        assert first.status_code == 200 and [n["text"] for n in first.json()] == FIRST
        assert first.headers["Cache-Control"] == "public, max-age=10" and first.headers["Vary"] == "Accept"
        assert first.headers["Last-Modified"] == NEWEST_FIRST and first.headers["Cache-Status"] == STORED
        same = requests.get(url, headers={"If-Modified-Since": NEWEST_FIRST}, timeout=10)
        assert same.status_code == 304 and same.content == b"" and same.headers["Cache-Status"] == HIT
        assert requests.post(url, json={"text": "Exam moved to Monday"}, timeout=10).status_code == 204
        assert requests.get(url, timeout=10).json()[-1]["text"] == "Exam moved to Monday"
        me = requests.get(f"{srv.url}/api/me", headers={"Authorization": "Bearer ada-token"}, timeout=10)
        assert me.json() == {"name": "Ada"} and me.headers["Cache-Control"] == "private, max-age=60"

        stale_url = f"{forgetful.url}{NOTICES}"
        requests.get(stale_url, timeout=10)
        requests.post(stale_url, json={"text": "Exam moved to Monday"}, timeout=10)
        stale = requests.get(stale_url, timeout=10)
        assert stale.headers["Cache-Status"] == HIT and [n["text"] for n in stale.json()] == FIRST
