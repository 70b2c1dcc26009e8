"""Checker for chapter 12 (asynchronous networking): an asyncio client of several servers at once.

``check_ask_all(ask_all)``: ``async def ask_all(addresses, line)`` sends ``line`` (bytes ending
with b"\\n") to every ``(host, port)`` of ``addresses`` and returns their one-line answers, in the
order of ``addresses``. The check's servers each take 0.3 s to answer: asked one after the other,
five take 1.5 s; asked at once, about 0.3 s. The check allows 0.9 s.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time

from .core import Failure, NotDone, call, checker, expect, expect_equal, name_of

DELAY = 0.3  # seconds each server takes to answer
SERVERS = 5
BUDGET = 0.9  # seconds: well above DELAY, well below SERVERS * DELAY


class _SlowServers:
    """SERVERS asyncio servers in a thread of their own, each answering b"<its number> " + the line."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.sockets = [socket.create_server(("127.0.0.1", 0), backlog=128) for _ in range(SERVERS)]
        self.addresses = [sock.getsockname()[:2] for sock in self.sockets]
        self.thread = threading.Thread(target=self.loop.run_forever, name="check:ch12-servers", daemon=True)

    async def _start(self):
        for number, sock in enumerate(self.sockets):
            async def answer(reader, writer, number=number):
                line = await reader.readline()
                await asyncio.sleep(DELAY)
                writer.write(f"{number} ".encode() + line)
                await writer.drain()
                writer.close()
            await asyncio.start_server(answer, sock=sock)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()


@checker("ask_all")
def check_ask_all(ask_all):
    if ask_all is Ellipsis or ask_all is None:
        raise NotDone("ask_all is not written yet (it is still ...)")
    if not inspect.iscoroutinefunction(ask_all):
        raise Failure("ask_all to be a coroutine function (async def)", f"{name_of(ask_all)} is a plain function",
                      "write it as `async def ask_all(addresses, line):`, with `await` on each wait")
    with _SlowServers() as servers:
        begin = time.perf_counter()
        replies = call(lambda: asyncio.run(ask_all(servers.addresses, b"hello\n")), limit=5,
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
