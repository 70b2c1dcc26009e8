"""Checks for exercises/09-realtime.md: a WebSocket client of the chat room, then a chat bot.

    check_join(joined, chat)      step 1: with joined(url, name) as (ws, users); ValueError for a refused name
    check_say(say, chat)          step 2: say(ws, text) -> its message event, back from the server; ValueError if refused
    check_bot(run_bot, chat)      step 3: run_bot(url, stop) answers !echo and !users until stop is set

``chat`` is the notebook's chat server (``launch("chat")``); without it, a
check launches one of its own. The check talks to the room with its own
clients (websockets' sync client, as the chapter does), and watches what the
student's code sends and receives there.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from urllib.parse import quote

from .core import Failure, NotDone, call, call_raising, checker, describe_exception, expect, expect_equal, short, stub_message
from .helpers import sandbox_server


def _ws_url(url: str, path: str) -> str:
    return "ws" + url.removeprefix("http") + path


def _open(stack: contextlib.ExitStack, url: str, name: str):
    """The check's own member of the room, once the server has announced it; ``stack`` closes it."""
    from websockets.sync.client import connect

    ws = stack.enter_context(connect(_ws_url(url, f"/ws/chat?name={quote(name)}"), open_timeout=5, max_queue=100,
                                     proxy=None))
    if _next(ws, 5, "join", name=name) is None:
        raise Failure(f"the chat server to let the check join as {name}", "no join event within 5 s",
                      "is the chat server running? Run the cell near the top that launches it")
    return ws


def _next(ws, timeout: float, kind: str | None = None, **fields):
    """The next event of type ``kind`` with these fields (others skipped); None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        except (TimeoutError, ValueError):
            return None
        except Exception:  # noqa: BLE001 - ConnectionClosed: nothing more will come
            return None
        if kind in (None, event.get("type")) and all(event.get(k) == v for k, v in fields.items()):
            return event


def _is_connection(value) -> bool:
    return all(hasattr(value, attribute) for attribute in ("send", "recv", "close"))


def _entering(joined):
    """A function of ``(url, name)`` that does ``joined(url, name).__enter__()`` and returns
    (the context manager, what ``as`` gets); named ``joined``, so that a verdict shows the call
    as the student wrote it: ``joined('http://...', 'Zoë')``."""
    def enter(url, name):
        manager = joined(url, name)
        return manager, manager.__enter__()

    enter.__qualname__ = "joined"
    return enter


@checker("joined")
def check_join(joined, chat=None):
    """``with joined(url, name, timeout=5) as (ws, users):`` connects to ``/ws/chat?name=...`` (the
    name quoted for a URL), waits for its own ``join`` event, and gives the connection and the users
    of that event; the end of the block hangs up. A refused name raises ``ValueError``.
    """
    name = "Zoë & Co #1"
    with sandbox_server("chat", chat) as srv, contextlib.ExitStack() as stack:
        watcher = _open(stack, srv.url, "Checker")
        quote_hint = 'a name may hold "&", "#" or spaces: put quote(name) in the URL (from urllib.parse)'
        enter = _entering(joined)
        manager, value = call(enter, srv.url, name, hint=quote_hint)
        try:
            expect(isinstance(value, tuple) and len(value) == 2 and _is_connection(value[0]),
                   f"with joined(url, {name!r}) as (ws, users): a connection and a list", short(value),
                   'yield ws, event["users"]')
            ws, users = value
            announced = _next(watcher, 5, "join")
            expect(announced is not None and announced.get("name") == name,
                   f"the room to see {name!r} join", f"{short(announced)}", quote_hint)
            expect_equal(users, ["Checker", name], "the users of your own join event",
                         'wait for the event {"type": "join", "name": <your name>}, and yield its "users"')
            ws.send("hello from the join check")
            heard = _next(watcher, 5, "message", text="hello from the join check")
            expect(heard is not None and heard.get("from") == name, "the connection given to be in the room",
                   short(heard), "yield the connection itself, open, from inside the with connect(...) block")
        finally:
            with contextlib.suppress(Exception):
                manager.__exit__(None, None, None)
        expect(_next(watcher, 5, "leave", name=name) is not None, "the end of the with block to hang up",
               "no leave event within 5 s", "yield inside the with connect(...) block: it closes the connection")
        for bad in (" Zoë", "x" * 40):
            error = call_raising(ValueError, enter, srv.url, bad,
                                 hint="the server sends {\"type\": \"error\", \"message\": ...} and closes: "
                                      "raise ValueError(event[\"message\"])")
            expect("a name is 1 to 32" in str(error), f"joined(url, {bad!r}): ValueError with the server's message",
                   f"ValueError: {short(str(error))}", 'raise ValueError(event["message"])')
    return f"joined as {name!r} (quoted), with the users of the join event, hung up at the end; refused names raise ValueError"


@checker("say")
def check_say(say, chat=None):
    """``say(ws, text, timeout=5)`` sends ``text`` and returns its ``message`` event, as the server
    broadcasts it back, skipping the other events on the way; an ``error`` event raises ValueError.
    """
    with sandbox_server("chat", chat) as srv, contextlib.ExitStack() as stack:
        student, noisy = _open(stack, srv.url, "Student"), _open(stack, srv.url, "Noisy")
        noisy.send("first noise")
        noisy.send("second noise")
        late = _open(stack, srv.url, "Late")  # a join event, too, waiting for Student to read it
        text = "hello, room ✓"
        event = call(say, student, text, hint="ws.send(text), then read events until the message with your text")
        expect(isinstance(event, dict) and event.get("type") == "message" and event.get("text") == text
               and event.get("from") == "Student",
               f'say(ws, {text!r}): {{"type": "message", "from": "Student", "text": {text!r}, ...}}', short(event, 100),
               "skip the events that are not your message: other people's messages, joins, leaves")
        heard = _next(late, 5, "message", text=text)
        expect(heard is not None and heard.get("id") == event.get("id"), "the others to hear it, the same message",
               short(heard, 100), "send it once: ws.send(text)")
        error = call_raising(ValueError, say, student, "x" * 5000,
                             hint='an {"type": "error"} event answers a refused message: raise ValueError(event["message"])')
        expect("4096" in str(error), "ValueError with the server's message (at most 4096 bytes)", short(str(error)),
               'raise ValueError(event["message"])')
        again = call(say, student, "still here")
        expect(isinstance(again, dict) and again.get("text") == "still here", 'say(ws, "still here") after the error',
               short(again, 100), "the connection stays open after an error event")
    return "its own message event, past others' messages and a join; a message too long raises ValueError"


class _BotRun:
    """The student's bot in a thread, and how it ended."""

    def __init__(self, run_bot, url):
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(run_bot, url), name="check:run_bot", daemon=True)
        self.thread.start()

    def _run(self, run_bot, url):
        try:
            run_bot(url, self.stop, "Bot")
        except BaseException as error:  # noqa: BLE001 - reported by the check
            self.error = error

    def explain(self, failure: Failure) -> Exception:
        """The bot's own error, when it has one: NotDone for a stub, else the failure with its exception."""
        self.stop.set()
        self.thread.join(2)
        if isinstance(self.error, NotImplementedError):
            return NotDone(stub_message("run_bot", self.error))
        if self.error is not None:
            failure.got += f"; run_bot raised {describe_exception(self.error)}"
        return failure


def _bot_joined(ada, bot: _BotRun, timeout: float = 5.0) -> bool:
    """Has the bot joined (Ada saw its join event) within ``timeout`` s? No need to wait once it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _next(ada, 0.2, "join", name="Bot") is not None:
            return True
        if not bot.thread.is_alive():
            return _next(ada, 0.2, "join", name="Bot") is not None
    return False


@checker("run_bot")
def check_bot(run_bot, chat=None):
    """``run_bot(url, stop, name="Bot")`` joins as ``name``; until ``stop`` is set, it answers
    ``!echo TEXT`` with ``TEXT`` and ``!users`` with who is in the room (``"Ada, Bot, Cy"``, kept
    from the join and leave events), never answers itself, then hangs up and returns.
    """
    with sandbox_server("chat", chat) as srv, contextlib.ExitStack() as stack:
        ada = _open(stack, srv.url, "Ada")
        bot = _BotRun(run_bot, srv.url)
        try:
            if not _bot_joined(ada, bot):
                raise bot.explain(Failure("the bot to join the room as Bot within 5 s", "no join event",
                                          "run_bot starts with: with joined(url, name) as (ws, users):"))

            def answer(command: str, wanted: str, hint: str) -> None:
                ada.send(command)
                reply = _next(ada, 3, "message", **{"from": "Bot"})
                if reply is None or reply.get("text") != wanted:
                    raise bot.explain(Failure(f"the bot to answer {command!r} with {wanted!r}",
                                              "nothing within 3 s" if reply is None else repr(reply.get("text")), hint))

            answer("!echo hello bot", "hello bot", 'for a message event whose text starts with "!echo ": ws.send(the rest)')
            cy = _open(stack, srv.url, "Cy")
            here = _next(ada, 5, "join", name="Cy") or {"users": []}  # Ada, Bot, Cy, and whoever else is in the room
            answer("!users", ", ".join(here["users"]),
                   'keep the "users" of each join and leave event; !users: ws.send(", ".join(users))')
            cy.close()
            left = _next(ada, 5, "leave", name="Cy")
            if left is None:
                raise Failure("Cy's leave event", "none within 5 s")
            answer("!users", ", ".join(left["users"]), "a leave event has the users left: keep them")
            burst = ["one", "two", "three", "four", "five"]
            for word in burst:  # at once: a bot busy with the first must not lose the others. Five, not
                ada.send(f"!echo {word}")  # two: the server may pass the bot's own answer on between them
            texts = []
            while len(texts) < len(burst) and (reply := _next(ada, 3, "message", **{"from": "Bot"})):
                texts.append(reply.get("text"))
            if texts != burst:
                raise bot.explain(Failure(f"the bot to answer {len(burst)} '!echo ...' sent at once: {burst}",
                                          f"{texts}", "answer with ws.send(...): say() would skip, and lose, the events "
                                          "that come before its own message"))
            answer("!echo !echo hi", "!echo hi", 'answer commands with ws.send(...)')
            ada.send("just chatting")
            extra = _next(ada, 1.0, "message", **{"from": "Bot"})
            expect(extra is None, "no answer to the bot's own message, nor to a message without a command",
                   f"the bot said {short(extra.get('text') if extra else None)}",
                   'skip the messages whose "from" is the bot\'s own name: it hears itself too')
            bot.stop.set()
            bot.thread.join(2)
            expect(not bot.thread.is_alive(), "run_bot to return within 2 s of stop.set()", "it was still running",
                   "wait for events with a short timeout (ws.recv(timeout=0.2)), and look at stop.is_set() between them")
            expect(bot.error is None, "run_bot to return without an error", describe_exception(bot.error) if bot.error else "")
            expect(_next(ada, 3, "leave", name="Bot") is not None, "the bot to leave the room when it stops", "no leave event",
                   "loop inside with joined(url, name) as (ws, users): its end hangs up")
        finally:
            bot.stop.set()
            bot.thread.join(1)  # out of the room before the next check comes in
    return "!echo and !users (Cy joining and leaving), silent to itself and to chat, then it leaves when stopped"
