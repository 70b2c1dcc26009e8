"""Checks for exercises/12-async.md: asyncio clients, and a FastAPI endpoint that calls a blocking library.

    check_ask_all(ask_all)         step 1: async def ask_all(addresses, line) -> the one-line answers of
                                   every (host, port), asked at once, in the order of addresses
    check_price_app(app)           step 2: a FastAPI app, GET /price/{item} -> {"item": ..., "price": ...}
                                   from the blocking slow_lookup(item), without blocking the event loop;
                                   a 404 with a JSON body for an unknown item
    check_ask_within(ask_within)   step 3: async def ask_within(address, line, seconds) -> the answer, or
                                   None if the server is silent longer than seconds

Step 1: the check's servers each take 0.3 s to answer: asked one after the other, five take 1.5 s;
asked at once, about 0.3 s. The check allows 0.9 s.

Step 2: ``slow_lookup(item)`` stands for a blocking library (a database driver, ``requests``): it
sleeps 0.2 s, then returns the item's price or raises ``KeyError``. The check sends five requests at
once to the app, in this process (``httpx.ASGITransport``: no server, no port), and allows 0.6 s: an
``async def`` endpoint that calls ``slow_lookup`` itself blocks the event loop, and takes 1 s.

Step 3: the check's servers answer after 0.3 s, or never.

Every check runs the student's coroutines with ``asyncio.run`` in a thread of its own (``call``,
``run_with_limit``): a notebook's cells already run inside Jupyter's event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time

from .core import (
    Failure, NotDone, call, checker, describe_exception, expect, expect_equal, name_of, run_with_limit, short,
    stub_message, student_frames,
)

DELAY = 0.3  # seconds each server takes to answer
SERVERS = 5
BUDGET = 0.9  # seconds: well above DELAY, well below SERVERS * DELAY


class _LineServers:
    """asyncio servers in a thread of their own, on 127.0.0.1: server number i reads a line, waits
    ``delays[i]`` seconds, answers b"<i> " + the line and closes; with a delay of None, it never answers
    (until the ``with`` block ends, which closes every connection)."""

    def __init__(self, delays):
        self.delays = list(delays)
        self.loop = asyncio.new_event_loop()
        self.sockets = [socket.create_server(("127.0.0.1", 0), backlog=128) for _ in self.delays]
        self.addresses = [sock.getsockname()[:2] for sock in self.sockets]
        self.servers: list[asyncio.Server] = []
        self.tasks: set[asyncio.Task] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, name="check:ch12-servers", daemon=True)

    async def _start(self):
        self.stopping = asyncio.Event()
        for number, (sock, delay) in enumerate(zip(self.sockets, self.delays)):
            async def answer(reader, writer, number=number, delay=delay):
                self.tasks.add(asyncio.current_task())
                try:
                    line = await reader.readline()
                    try:  # wait delay seconds (None: until the check ends), unless the check ends first
                        await asyncio.wait_for(self.stopping.wait(), delay)
                    except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                        writer.write(f"{number} ".encode() + line)
                        await writer.drain()
                except OSError:
                    pass
                finally:
                    writer.close()  # a client still waiting gets the end of the stream
            self.servers.append(await asyncio.start_server(answer, sock=sock))

    async def _stop(self):
        for server in self.servers:
            server.close()
        self.stopping.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)
        return self

    def __exit__(self, *exc):
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            if not self.thread.is_alive():
                self.loop.close()
            for sock in self.sockets:
                sock.close()


def _running(coroutine_function, *args):
    """A function that runs ``coroutine_function(*args)`` with asyncio.run, named as it is (for ``call``'s
    messages): the check calls it in a thread of its own, with an event loop of its own."""
    def run():
        return asyncio.run(coroutine_function(*args))

    run.__name__ = run.__qualname__ = name_of(coroutine_function)
    return run


async def _watching_the_loop(coroutine):
    """``(what coroutine returns, the longest time in seconds the event loop could run nothing else)``.

    A ticker task wakes every 10 ms: a blocking call inside the coroutine keeps it from waking.
    """
    longest, done = 0.0, False

    async def tick():
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)  # the ticker starts before the coroutine
    try:
        result = await coroutine
    finally:
        done = True
        await ticker  # its last tick measures the last gap
    return result, longest


def _require_coroutine_function(fn, signature: str):
    if fn is Ellipsis or fn is None:
        raise NotDone(f"{signature.partition('(')[0]} is not written yet (it is still ...)")
    if not inspect.iscoroutinefunction(fn):
        raise Failure(f"{signature.partition('(')[0]} to be a coroutine function (async def)",
                      f"{name_of(fn)} is a plain function",
                      f"write it as `async def {signature}:`, with `await` on each wait")


# --- step 1: every server at once --------------------------------------------------


@checker("ask_all")
def check_ask_all(ask_all):
    _require_coroutine_function(ask_all, "ask_all(addresses, line)")
    with _LineServers([DELAY] * SERVERS) as servers:
        begin = time.perf_counter()
        replies = call(_running(ask_all, servers.addresses, b"hello\n"), limit=5,
                       expected=f"ask_all() to return within {BUDGET:g} s")
        elapsed = time.perf_counter() - begin
    wanted = [f"{number} hello\n".encode() for number in range(SERVERS)]
    if isinstance(replies, tuple):
        replies = list(replies)  # asyncio.gather's list, or a tuple of it: both are fine
    if replies is None:
        raise Failure(f"a list of the {SERVERS} answers", "None", "did ask_all forget to `return` them?")
    if isinstance(replies, list) and replies and all(isinstance(reply, str) for reply in replies):
        raise Failure("the answers as the servers sent them: bytes, such as b'0 hello\\n'",
                      f"text (str): {replies[0]!r}, ...", "return what readline() gave, without decoding it")
    expect_equal(replies, wanted, f"the {SERVERS} answers, in the order of the addresses",
                 "each server answers one line: `await reader.readline()`; asyncio.gather() keeps the order "
                 "of its arguments (as_completed() does not)")
    expect(elapsed < BUDGET, f"all {SERVERS} answers within {BUDGET:g} s (each server takes {DELAY:g} s)",
           f"{elapsed:.2f} s", "the servers were asked one after the other: start every conversation, then "
           "wait for all of them at once with asyncio.gather(); a blocking socket inside async def "
           "also stops the loop")
    return f"{SERVERS} servers asked at once, in {elapsed:.2f} s (one after the other: {SERVERS * DELAY:g} s)"


# --- step 2: a blocking library behind an ASGI app ------------------------------------

LOOKUP_DELAY = 0.2  # seconds slow_lookup blocks, as a slow database would
_PRICES = {"tea": 3.5, "coffee": 7.25, "bread": 2.2, "milk": 1.15, "rice": 2.9, "apples": 3.4}
ITEMS = tuple(_PRICES)  # the catalogue: any other item is unknown
ASKED = ("tea", "coffee", "bread", "milk", "rice")  # asked at once by the check
UNKNOWN = "unicorn"
PRICE_BUDGET = 0.6  # seconds for the len(ASKED) requests: well above LOOKUP_DELAY, well below len(ASKED) times it
BLOCKING_HINT = (
    "the requests were served one after the other: slow_lookup() blocks, and called inside an async def "
    "endpoint it blocks the event loop, which serves every request, so each one waits for the others. "
    "Either `await asyncio.to_thread(slow_lookup, item)` in the async def (the lookup runs in a thread, "
    "the loop goes on), or make the endpoint a plain `def`: FastAPI runs those in a pool of threads"
)
NOT_FOUND_HINT = (
    "slow_lookup raises KeyError for an item it does not know: catch it and "
    "`raise HTTPException(status_code=404, detail=...)`, which FastAPI turns into a 404 with a JSON body; "
    "an exception left uncaught is a 500 for the client"
)


class _Lookups:
    """What slow_lookup was asked, and how many lookups ran at the same time at most."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.items: list = []
            self.running = 0
            self.most = 0

    def __enter__(self):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)

    def __exit__(self, *exc):
        with self.lock:
            self.running -= 1


_lookups = _Lookups()


def slow_lookup(item: str) -> float:
    """The price of ``item`` in a slow catalogue: blocks 0.2 s (as a database driver or ``requests``
    would), then returns the price, or raises ``KeyError`` for an item the catalogue does not have."""
    with _lookups.lock:
        _lookups.items.append(item)
    with _lookups:
        time.sleep(LOOKUP_DELAY)
    return _PRICES[item]


async def _ask_prices(app):
    """The answers (or exceptions) of GET /price/<item> for each of ASKED, sent at once, and for UNKNOWN."""
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as client:
        async def get(item):
            try:
                return await client.get(f"/price/{item}")
            except Exception as error:  # noqa: BLE001 - the app's own exception: reported to the student
                return error

        begin = time.perf_counter()
        answers = await asyncio.gather(*(get(item) for item in ASKED))
        elapsed = time.perf_counter() - begin
        return answers, elapsed, await get(UNKNOWN)


def _require_asgi_app(app):
    if app is Ellipsis or app is None:
        raise NotDone("app is not written yet (it is still ...)")
    if hasattr(app, "wsgi_app"):
        raise Failure("an ASGI application: app = FastAPI()", f"{type(app).__name__}, a WSGI application",
                      "Flask serves one request per thread (WSGI); this step wants FastAPI, on an event loop (ASGI)")
    if not callable(app):
        raise Failure("an ASGI application: app = FastAPI()", f"{short(app)} ({type(app).__name__})",
                      "give the check the application object, the one you declare the endpoint on")
    if inspect.isfunction(app) and len(inspect.signature(app).parameters) != 3:
        raise Failure("an ASGI application: app = FastAPI()", f"the function {name_of(app)}",
                      "give the check `app`, the application, not the endpoint's function")
    routes = getattr(app, "routes", None)
    if routes is not None:  # FastAPI, Starlette: the routes tell whether the endpoint is declared yet
        own = {getattr(app, name, None)
               for name in ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url")}
        if all(getattr(route, "path", None) in own for route in routes):  # FastAPI's own pages only
            raise NotDone("app has no endpoint yet: declare GET /price/{item} with @app.get(...)")


def _body(answer) -> str:
    kind = answer.headers.get("content-type", "no content-type")
    return f"{answer.status_code}, {kind}: {short(answer.text)}"


def _json_of(answer):
    try:
        return answer.json()
    except ValueError:
        return Ellipsis  # not JSON


def _stub(error: NotImplementedError) -> NotDone:
    frames = student_frames(error)
    return NotDone(stub_message(frames[-1].name if frames else "the endpoint", error))


def _raised(what: str, error: BaseException, hint: str = "") -> Exception:
    """The Failure (or NotDone, for a stub) to raise for an exception the endpoint raised."""
    if isinstance(error, NotImplementedError):
        return _stub(error)
    text = str(error)
    if not hint and isinstance(error, TypeError) and "not callable" in text:
        hint = ("asyncio.to_thread(slow_lookup, item) takes the function and its arguments: "
                "to_thread(slow_lookup(item)) calls it at once, blocking, and hands its result to to_thread")
    if not hint and "coroutine" in text:
        hint = "a coroutine's result comes with `await`: `price = await asyncio.to_thread(...)`"
    return Failure(what, f"the endpoint raised {describe_exception(error)}",
                   hint or "run the endpoint's body by hand on this item to see where it goes wrong")


@checker("price_app")
def check_price_app(app):
    """GET /price/<item> -> 200, {"item": item, "price": slow_lookup(item)}, for five items at once,
    within PRICE_BUDGET seconds; GET /price/unicorn -> 404 with a JSON body."""
    _require_asgi_app(app)
    _lookups.reset()
    finished, outcome, error = run_with_limit(lambda: asyncio.run(_ask_prices(app)), limit=5)
    if not finished:
        raise Failure(f"the app to answer {len(ASKED)} requests within {PRICE_BUDGET:g} s",
                      "no answer after 5 s", "does the endpoint wait for something that never comes?")
    if isinstance(error, NotImplementedError):
        raise _stub(error)
    if error is not None:
        raise Failure("the app to answer GET /price/tea", f"the request failed: {describe_exception(error)}",
                      "is `app` an ASGI application, such as FastAPI()?")
    answers, elapsed, unknown = outcome
    for item, answer in zip(ASKED, answers):
        what = f"GET /price/{item} to answer 200 with JSON"
        if isinstance(answer, BaseException):
            raise _raised(what, answer)
        if answer.status_code == 404 and _json_of(answer) == {"detail": "Not Found"}:
            raise Failure(what, f"{_body(answer)}: FastAPI has no such route",
                          "declare the endpoint as @app.get(\"/price/{item}\"), with a parameter named item")
        if answer.status_code == 422:
            raise Failure(what, _body(answer), "FastAPI refused the request: the function's parameter must be "
                          "`item: str`, named as in the path /price/{item}")
        expect(answer.status_code == 200, what, _body(answer),
               "for an item of the catalogue, return its answer: FastAPI sends 200")
        data = _json_of(answer)
        expect(data is not Ellipsis, f"GET /price/{item}: JSON", _body(answer),
               "return a dict: FastAPI sends it as JSON (a Response of your own sends what you put in it)")
        expect(isinstance(data, dict), f'GET /price/{item}: a JSON object {{"item": ..., "price": ...}}',
               f"{short(data)} ({type(data).__name__} in JSON)",
               "return a dict, not a str: FastAPI sends a str as a JSON string")
        expect_equal(data, {"item": item, "price": _PRICES[item]}, f"GET /price/{item}",
                     'exactly the keys "item" (the item asked) and "price" (the number slow_lookup returns)')
    looked_up = set(_lookups.items)
    expect(set(ASKED) <= looked_up, f"slow_lookup() to be asked the price of each of {', '.join(ASKED)}",
           f"it was asked for {', '.join(sorted(looked_up)) or 'nothing'}",
           "the prices come from slow_lookup(item): this step is about calling a blocking library well")
    if elapsed >= PRICE_BUDGET:
        hint = BLOCKING_HINT if _lookups.most <= 1 else (
            "the lookups overlapped, yet the answers came late: is something else slow in the endpoint?")
        raise Failure(f"{len(ASKED)} requests at once answered within {PRICE_BUDGET:g} s "
                      f"(slow_lookup takes {LOOKUP_DELAY:g} s)",
                      f"{elapsed:.2f} s, with {_lookups.most} lookup(s) running at once at most", hint)
    what = f"GET /price/{UNKNOWN} (not in the catalogue): 404 with a JSON body"
    if isinstance(unknown, BaseException):
        raise _raised(what, unknown, NOT_FOUND_HINT)
    expect(unknown.status_code == 404, what, _body(unknown), NOT_FOUND_HINT)
    expect(_json_of(unknown) is not Ellipsis, what, _body(unknown),
           "raise HTTPException(status_code=404, detail=...): FastAPI answers with JSON, {\"detail\": ...}")
    return (f"{len(ASKED)} prices at once in {elapsed:.2f} s (one after the other: {len(ASKED) * LOOKUP_DELAY:g} s), "
            f"and a 404 for {UNKNOWN}")


# --- step 3: a timeout ---------------------------------------------------------------

WITHIN_LIMIT = 3.0  # seconds the check waits for ask_within at most: a right one takes well under 1 s
WITHIN_DELAY = 0.6  # seconds the answering server takes, in step 3
SILENT_SECONDS = 0.6  # the timeout the check gives with the silent server
ANSWER_SECONDS = 1.5  # the timeout the check gives with the server that answers after WITHIN_DELAY
LATE = 0.6  # seconds past the timeout ask_within may take to give up: connecting, closing
# Seconds the loop may be kept from running other tasks: a blocking wait here is >= 0.6 s, and a
# busy machine may hold a process back for a moment (a margin for CI's three test workers).
STALL = 0.45
NO_TIMEOUT_HINT = (
    "the server never answers, and ask_within waits for ever: put the wait in "
    "`async with asyncio.timeout(seconds):` (or asyncio.wait_for(..., seconds)), and return None on TimeoutError"
)


@checker("ask_within")
def check_ask_within(ask_within):
    """``ask_within(address, b"hello\\n", 1.5)`` returns b"0 hello\\n" from a server that answers after
    0.6 s; ``ask_within(address, b"hello\\n", 0.6)`` returns None from a server that never answers,
    after about 0.6 s; and neither call blocks the event loop."""
    _require_coroutine_function(ask_within, "ask_within(address, line, seconds)")

    async def watched(address, line, seconds):
        return await _watching_the_loop(ask_within(address, line, seconds))

    watched.__name__ = watched.__qualname__ = name_of(ask_within)
    with _LineServers([WITHIN_DELAY, None]) as servers:
        answering, silent = servers.addresses
        reply, stalled = call(
            _running(watched, answering, b"hello\n", ANSWER_SECONDS), limit=WITHIN_LIMIT,
            expected=f"ask_within(address, b'hello\\n', {ANSWER_SECONDS:g}) to return the answer",
            hint=f"this server answers after {WITHIN_DELAY:g} s: read its one line with `await reader.readline()`")
        if isinstance(reply, str):
            raise Failure("the answer as the server sent it: bytes, b'0 hello\\n'", f"text (str): {reply!r}",
                          "return what readline() gave, without decoding it")
        expect_equal(reply, b"0 hello\n",
                     f"the answer of a server that takes {WITHIN_DELAY:g} s, with seconds={ANSWER_SECONDS:g}",
                     f"wait as long as `seconds` says: {ANSWER_SECONDS:g} s is time enough for a {WITHIN_DELAY:g} s answer"
                     if reply is None else "read the server's one line: `await reader.readline()`")
        begin = time.perf_counter()
        silence, silent_stall = call(
            _running(watched, silent, b"hello\n", SILENT_SECONDS), limit=WITHIN_LIMIT,
            expected=f"ask_within(address of a silent server, b'hello\\n', {SILENT_SECONDS:g}) to return None",
            hint=NO_TIMEOUT_HINT)
        elapsed = time.perf_counter() - begin
    expect(silence is None, f"None from a server that never answers, after {SILENT_SECONDS:g} s",
           f"{short(silence)} ({type(silence).__name__})",
           "when the time is up, return None: not b'', which is what a server that closes sends")
    expect(elapsed < SILENT_SECONDS + LATE, f"None after about {SILENT_SECONDS:g} s (seconds={SILENT_SECONDS:g})",
           f"None after {elapsed:.2f} s", "use the `seconds` the caller gives as the timeout, not a number of your own")
    stalled = max(stalled, silent_stall)
    expect(stalled < STALL, f"the event loop free to run other tasks while ask_within waits",
           f"it was blocked for {stalled:.2f} s at a time",
           "a blocking socket (socket.create_connection, recv, makefile) inside async def stops the loop: "
           "every other task waits with it. Use asyncio.open_connection(), and await the reads")
    return (f"the answer after {WITHIN_DELAY:g} s, and None from a silent server after {elapsed:.2f} s "
            f"(seconds={SILENT_SECONDS:g}), the loop never blocked")
