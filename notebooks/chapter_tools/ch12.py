"""Chapter 12 (asynchronous networking): the servers the notebook starts, and its measurements.

- ``start(role, name, **options)``, ``servers`` and ``show(path, first, last)``: from
  ``common.py`` (servers by role; some lines of a file); ``APPS`` is ``notebooks/apps/``, ``SANDBOX`` the servers' folder;
- ``open_many(address, n)`` opens ``n`` connections to an echo server, a few dozen at a time;
- ``usage(srv)`` is a server's memory (resident, in MB) and its number of threads;
- ``echo_rate(connections, rounds)`` sends lines on every connection at once, and
  ``http_rate(url, clients, total)`` sends HTTP GET requests on that many connections at once: both return
  what was answered per second, and check every answer.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

import sandbox

from .common import servers, show, start

APPS = Path(__file__).resolve().parents[1] / "apps"  # notebooks/chapter_tools/ -> notebooks/apps/
SANDBOX = Path(sandbox.__file__).resolve().parent  # the servers' code

__all__ = ["APPS", "SANDBOX", "echo_rate", "http_rate", "open_many", "servers", "show", "start", "usage"]


async def open_many(address, n, at_once=50):
    """``n`` connections to an echo server, as (reader, writer) pairs, ``at_once`` at a time.

    Each one sends a line and reads it back before the next one starts: the connection is
    then served (accepted, and given a thread by a threaded server). The system completes
    a connection before the server accepts it, so a client that only connects outruns a
    server that starts a thread for each: its listen queue (128 here) fills up, the next
    SYN is dropped, and it is sent again only after a second (measured: 4 s for 1,000).
    """
    gate = asyncio.Semaphore(at_once)

    async def one():
        async with gate:
            reader, writer = await asyncio.open_connection(*address)
            writer.write(b"hello\n")
            await writer.drain()
            await reader.readline()
            return reader, writer

    return await asyncio.gather(*(one() for _ in range(n)))


def usage(srv):
    """(resident memory in MB, number of threads) of the server's process."""
    process = psutil.Process(srv.pid)
    return process.memory_info().rss / 1e6, process.num_threads()


async def echo_rate(connections, rounds):
    """Every connection sends a line and reads it back, ``rounds`` times, all connections at
    once. Returns the lines echoed per second; raises if an answer is not the line sent."""
    async def talk(number, reader, writer):
        for turn in range(rounds):
            line = f"{number} {turn}\n".encode()
            writer.write(line)
            await writer.drain()
            reply = await reader.readline()
            if reply != line:
                raise RuntimeError(f"sent {line!r}, got {reply!r}")

    begin = time.perf_counter()
    await asyncio.gather(*(talk(n, reader, writer) for n, (reader, writer) in enumerate(connections)))
    return len(connections) * rounds / (time.perf_counter() - begin)


async def http_rate(url, clients, total):
    """``total`` GET requests to ``url`` from ``clients`` connections at once, each kept alive
    and sending its requests one after the other. Returns the answers per second; raises if
    one is not a 200.

    HTTP/1.1 by hand on asyncio streams, not httpx: here the client must cost far less than
    the servers it measures. With one httpx.AsyncClient shared by 50 tasks, its pool of
    connections was the bottleneck (measured: 169 requests per second against uvicorn,
    where these 20 lines get 4,400).
    """
    parts = urlsplit(url)
    request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()

    async def one_client(count):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            for _ in range(count):
                writer.write(request)
                await writer.drain()
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                if head[0].split()[1] != "200":
                    raise RuntimeError(f"{url}: {head[0]}")
                fields = dict(line.lower().split(":", 1) for line in head[1:] if line)
                await reader.readexactly(int(fields["content-length"]))  # the body
        finally:
            writer.close()

    connections = total // clients
    begin = time.perf_counter()
    await asyncio.gather(*(one_client(connections) for _ in range(clients)))
    return connections * clients / (time.perf_counter() - begin)
