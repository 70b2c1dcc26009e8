"""checks/ch12.py against right and wrong answers: ask_all (step 1), price_app (step 2), ask_within (step 3)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse
from flask import Flask

from checker_helpers import verdict
from checks import core
from checks.ch12 import ITEMS, LOOKUP_DELAY, check_ask_all, check_ask_within, check_price_app, slow_lookup


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


# --- step 2: check_price_app ---------------------------------------------------------


def price_app(endpoint, path="/price/{item}"):
    """A FastAPI app with ``endpoint`` (a function of item) as GET ``path``."""
    app = FastAPI()
    app.get(path)(endpoint)
    return app


async def price_in_a_thread(item: str):
    try:
        value = await asyncio.to_thread(slow_lookup, item)
    except KeyError:
        raise HTTPException(status_code=404, detail=f"no item {item!r}") from None
    return {"item": item, "price": value}


def price_plain_def(item: str):  # FastAPI runs a plain def in its pool of threads
    try:
        return {"item": item, "price": slow_lookup(item)}
    except KeyError:
        raise HTTPException(status_code=404, detail="no such item") from None


async def price_blocking(item: str):  # the wrong answer: the loop waits for each lookup
    try:
        return {"item": item, "price": slow_lookup(item)}
    except KeyError:
        raise HTTPException(status_code=404, detail="no such item") from None


def price_no_404(item: str):
    return {"item": item, "price": slow_lookup(item)}


def price_text_404(item: str):
    try:
        return {"item": item, "price": slow_lookup(item)}
    except KeyError:
        return PlainTextResponse("no such item", status_code=404)


def price_null_for_unknown(item: str):
    try:
        return {"item": item, "price": slow_lookup(item)}
    except KeyError:
        return {"item": item, "price": None}


def price_wrong_key(item: str):
    return {"name": item, "price": slow_lookup(item)}


def price_as_str(item: str):
    return {"item": item, "price": str(slow_lookup(item))}


def price_as_json_string(item: str):
    return f"{item}: {slow_lookup(item)}"


def price_as_text(item: str):
    return PlainTextResponse(f"{item}: {slow_lookup(item)}")


def price_wrong_parameter(name: str):
    return {"item": name, "price": slow_lookup(name)}


async def price_to_thread_of_a_call(item: str):
    return {"item": item, "price": await asyncio.to_thread(slow_lookup(item))}


def price_without_lookup(item: str):
    if item not in ITEMS:
        raise HTTPException(status_code=404)
    return {"item": item, "price": {"tea": 3.5, "coffee": 7.25, "bread": 2.2, "milk": 1.15, "rice": 2.9}[item]}


async def price_stub(item: str):
    raise NotImplementedError("TODO: the price from slow_lookup(item)")


def test_slow_lookup_blocks_then_answers_or_raises_key_error():
    begin = time.perf_counter()
    assert slow_lookup("tea") == 3.5
    assert time.perf_counter() - begin >= LOOKUP_DELAY
    with pytest.raises(KeyError):
        slow_lookup("unicorn")


def test_right_apps_pass():
    verdict(check_price_app(price_app(price_in_a_thread)), "passed", "5 prices at once", "404")
    verdict(check_price_app(price_app(price_plain_def)), "passed", "5 prices at once", "404")


def test_an_app_not_written_yet_is_not_done():
    verdict(check_price_app(Ellipsis), "not done", "still ...")
    verdict(check_price_app(None), "not done")
    verdict(check_price_app(FastAPI()), "not done", "no endpoint yet")  # the exercise's stub
    verdict(check_price_app(price_app(price_stub)), "not done", "price_stub() still raises NotImplementedError")


def test_an_async_endpoint_that_blocks_fails_with_both_fixes():
    result = check_price_app(price_app(price_blocking))
    verdict(result, "failed", "within 0.6 s", "1 lookup(s) running at once", "blocks the event loop",
            "await asyncio.to_thread(slow_lookup, item)", "plain `def`")


def test_an_unknown_item_must_be_a_json_404():
    # the KeyError raised through the app: a verdict, not a traceback
    verdict(check_price_app(price_app(price_no_404)), "failed", "404 with a JSON body",
            "the endpoint raised KeyError: 'unicorn' (in price_no_404", "HTTPException(status_code=404")
    verdict(check_price_app(price_app(price_text_404)), "failed", "404, text/plain", "HTTPException")
    verdict(check_price_app(price_app(price_null_for_unknown)), "failed", "200, application/json", "HTTPException")


def test_wrong_answers_fail_with_a_hint():
    verdict(check_price_app(price_app(price_wrong_key)), "failed", "{'name': 'tea'", 'exactly the keys "item"')
    verdict(check_price_app(price_app(price_as_str)), "failed", "'price': '3.5'", "the number slow_lookup returns")
    verdict(check_price_app(price_app(price_as_json_string)), "failed", "(str in JSON)", "return a dict, not a str")
    verdict(check_price_app(price_app(price_as_text)), "failed", "200, text/plain", "return a dict")
    verdict(check_price_app(price_app(price_plain_def, "/prices/{item}")), "failed", "no such route",
            '@app.get("/price/{item}")')
    verdict(check_price_app(price_app(price_wrong_parameter)), "failed", "422", "`item: str`")
    verdict(check_price_app(price_app(price_to_thread_of_a_call)), "failed", "not callable",
            "to_thread(slow_lookup, item) takes the function")
    verdict(check_price_app(price_app(price_without_lookup)), "failed", "it was asked for nothing", "slow_lookup(item)")


def test_what_is_not_an_asgi_app_fails():
    verdict(check_price_app(Flask("not_asgi")), "failed", "a WSGI application", "FastAPI")
    verdict(check_price_app(price_plain_def), "failed", "the function price_plain_def", "not the endpoint's function")
    verdict(check_price_app(42), "failed", "42 (int)")


# --- step 3: check_ask_within --------------------------------------------------------


async def within(address, line, seconds):
    try:
        async with asyncio.timeout(seconds):
            return await ask_one(address, line)
    except asyncio.TimeoutError:
        return None


async def within_wait_for(address, line, seconds):
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(line)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), seconds)
    except asyncio.TimeoutError:
        return None
    finally:
        writer.close()


async def without_timeout(address, line, seconds):
    return await ask_one(address, line)


async def timeout_not_caught(address, line, seconds):
    async with asyncio.timeout(seconds):
        return await ask_one(address, line)


async def fixed_short_timeout(address, line, seconds):
    return await within(address, line, 0.1)


async def fixed_long_timeout(address, line, seconds):
    return await within(address, line, 2.0)


async def empty_bytes_on_timeout(address, line, seconds):
    return await within(address, line, seconds) or b""


async def decoded(address, line, seconds):
    reply = await within(address, line, seconds)
    return reply.decode() if reply is not None else None


async def blocking_socket_with_timeout(address, line, seconds):
    with socket.create_connection(address, timeout=seconds) as sock:
        sock.sendall(line)
        try:
            return sock.makefile("rb").readline()
        except asyncio.TimeoutError:
            return None


def within_plain_function(address, line, seconds):
    return asyncio.run(within(address, line, seconds))


async def within_stub(address, line, seconds):
    raise NotImplementedError("TODO: the answer, or None after seconds")


def test_right_timeouts_pass():
    verdict(check_ask_within(within), "passed", "None from a silent server")
    verdict(check_ask_within(within_wait_for), "passed", "None from a silent server")


def test_a_timeout_not_written_yet_is_not_done():
    verdict(check_ask_within(within_stub), "not done", "within_stub() still raises NotImplementedError")
    verdict(check_ask_within(Ellipsis), "not done")


def test_no_timeout_fails_within_the_checks_own_limit():
    begin = time.perf_counter()
    verdict(check_ask_within(without_timeout), "failed", "still running after 3 s", "asyncio.timeout(seconds)")
    assert time.perf_counter() - begin < 5


def test_wrong_timeouts_fail_with_a_hint():
    verdict(check_ask_within(timeout_not_caught), "failed", "raised TimeoutError", "return None on TimeoutError")
    verdict(check_ask_within(fixed_short_timeout), "failed", "None (NoneType)", "wait as long as `seconds` says")
    verdict(check_ask_within(fixed_long_timeout), "failed", "None after ", "the `seconds` the caller gives")
    verdict(check_ask_within(empty_bytes_on_timeout), "failed", "b'' (bytes)", "return None: not b''")
    verdict(check_ask_within(decoded), "failed", "text (str)", "without decoding")
    verdict(check_ask_within(blocking_socket_with_timeout), "failed", "blocked for", "asyncio.open_connection()")
    verdict(check_ask_within(within_plain_function), "failed", "async def")
