"""checks/ch12.py against right and wrong answers."""

from __future__ import annotations

import asyncio
import socket

import pytest

from checker_helpers import verdict
from checks import core
from checks.ch12 import check_ask_all


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checker as a student runs it: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


async def ask_one(address, line):
    reader, writer = await asyncio.open_connection(*address)
    writer.write(line)
    await writer.drain()
    reply = await reader.readline()
    writer.close()
    return reply


async def right(addresses, line):
    return await asyncio.gather(*(ask_one(address, line) for address in addresses))


async def one_after_the_other(addresses, line):
    return [await ask_one(address, line) for address in addresses]


async def blocking_sockets(addresses, line):
    replies = []
    for address in addresses:
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(line)
            replies.append(sock.makefile("rb").readline())
    return replies


async def as_completed_order(addresses, line):
    return [await task for task in asyncio.as_completed([ask_one(a, line) for a in reversed(addresses)])]


async def as_text(addresses, line):
    return [reply.decode() for reply in await right(addresses, line)]


async def no_return(addresses, line):
    await right(addresses, line)


def plain_function(addresses, line):
    return asyncio.run(right(addresses, line))


async def async_stub(addresses, line):
    raise NotImplementedError("TODO: ask every server at once")


def test_right_answers_pass():
    verdict(check_ask_all(right), "passed", "5 servers asked at once")


def test_a_stub_is_not_done_yet():
    verdict(check_ask_all(async_stub), "not done")
    verdict(check_ask_all(Ellipsis), "not done")


def test_wrong_answers_fail_with_a_hint():
    verdict(check_ask_all(one_after_the_other), "failed", "asyncio.gather()")
    verdict(check_ask_all(blocking_sockets), "failed", "blocking socket")
    verdict(check_ask_all(as_completed_order), "failed", "in the order of the addresses")
    verdict(check_ask_all(as_text), "failed", "bytes", "without decoding")
    verdict(check_ask_all(no_return), "failed", "return")
    verdict(check_ask_all(plain_function), "failed", "async def")
