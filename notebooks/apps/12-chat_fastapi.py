"""Chapter 09's chat room in FastAPI, on one event loop (chapter 12).

    python -m sandbox random-async --app notebooks/apps/12-chat_fastapi.py
    launch("random-async", app="apps/12-chat_fastapi.py")          # from a notebook

    WS /ws/echo           sends back every message, text as text, binary as binary
    WS /ws/chat?name=Ada  the room: each text message reaches every member, as
        {"type": "message", "id": 7, "from": "Ada", "text": "hi", "time": "..."}
        {"type": "join" or "leave", "name": "Ada", "users": ["Ada", "Bob"], "time": "..."}
        {"type": "error", "message": "..."}    to one member only, who stays in the room

The same URLs, events and errors as the sandbox chat (sandbox/chat/), so chapter 09's
clients work unchanged; not its history, polling, event stream, page, token or limits
on connections. Where the sandbox needs threads and locks, here each connection is two
tasks on one loop, and code between two `await`s runs alone: no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timezone

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

MAX_FRAME = 64 * 1024  # bytes in one message, on either endpoint: more -> closed, code 1009
MAX_TEXT = 4096  # bytes (UTF-8) in one chat message: more -> an error event, and it stays
MAX_NAME = 32  # characters in a name
MAX_QUEUE = 1024  # events waiting for one member: one more -> that member is dropped (1008)
GIVE_UP = 5  # seconds a closing connection has to take its close frame

app = FastAPI(openapi_url=None)  # WebSockets only: no HTTP API to describe


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def error(message: str) -> dict:
    return {"type": "error", "message": message}


def size(message: dict) -> int:
    """Bytes in a received message: ASGI gives it as "text" (str) or "bytes"."""
    text = message.get("text")
    return len(message["bytes"]) if text is None else len(text.encode())


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with a close frame that says why (at most 123 bytes of UTF-8, not characters).
    It waits behind what the client has not read yet: GIVE_UP seconds at most. Then the
    endpoint returns, and uvicorn closes the TCP connection once its buffer is sent."""
    with contextlib.suppress(TimeoutError, WebSocketDisconnect):  # too slow, or gone
        async with asyncio.timeout(GIVE_UP):
            await websocket.close(code, reason.encode()[:123].decode(errors="ignore"))


# uvicorn (not this app) pings each client every 20 s and drops one that does not answer.
# It takes messages of up to 16 MiB: the 64 KiB limit is checked here, once received.
@app.websocket("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()  # the 101 answer: from here on, messages both ways
    while (message := await websocket.receive())["type"] == "websocket.receive":
        if size(message) > MAX_FRAME:
            return await close(websocket, 1009, f"message too big: at most {MAX_FRAME} bytes")
        # send waits while uvicorn's buffer towards this client is full, and meanwhile nothing
        # is read from it: a client that does not read its echoes slows itself down, no one else.
        if message.get("text") is None:
            await websocket.send_bytes(message["bytes"])
        else:
            await websocket.send_text(message["text"])


class Member:
    """One member of the room, with its outbox: the events still to send it, as JSON.

    A broadcast only puts each event in every outbox, and never waits. The member's own
    writer task sends them, and waits when the member reads slowly (a send waits while
    uvicorn's buffer towards it, 64 KiB, is full): then only this member waits. Awaiting
    each send in the broadcast would make the talker, then the room, wait for the slowest.
    A member MAX_QUEUE events behind is dropped. Until then it costs its outbox (strings
    that all members share), uvicorn's buffer and the kernel's send buffer (Linux grows
    it up to 4 MiB; an ASGI app cannot set it, the sandbox chat keeps it to 64 KiB).
    """

    def __init__(self, websocket: WebSocket, name: str):
        self.websocket, self.name = websocket, name
        self.outbox: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUE)
        self.writer = asyncio.create_task(self.write())  # runs from the endpoint's next await
        self.closing: tuple[int, str] | None = None  # (code, reason) if the server closes

    def send(self, event: str) -> bool:
        """Queue one event; never waits. False if the member is dropped: too slow."""
        try:
            self.outbox.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self.closing = 1008, f"too slow: {MAX_QUEUE} messages waiting"  # 1008: policy violation
            self.writer.cancel()  # chat() then announces that it left, and closes
            return False

    async def write(self) -> None:
        """Send the queued events in order, at the pace this member reads them."""
        with contextlib.suppress(WebSocketDisconnect):  # the client is gone: chat() notices
            while True:
                await self.websocket.send_text(await self.outbox.get())
                self.outbox.task_done()


class Room:
    def __init__(self):
        self.members: set[Member] = set()
        self.last_id = 0

    def broadcast(self, event: dict) -> None:
        """Put the event in each outbox. No await in here: nobody waits for a slow member, and
        no other task runs meanwhile, so every member gets the events in the same order."""
        text = json.dumps(event)  # encoded once: each outbox holds the same string
        for member in list(self.members):
            if not member.send(text):
                self.members.discard(member)

    def announce(self, kind: str, member: Member) -> None:
        """A "join" or "leave" event for everyone, with who is in the room now."""
        names = sorted(m.name for m in self.members)
        self.broadcast({"type": kind, "name": member.name, "users": names, "time": now()})
        print(f"chat: {member.name} {'joined' if kind == 'join' else 'left'} ({len(names)} online)", flush=True)


room = Room()


def problem(message: dict) -> str | None:
    """Why a received message cannot be a chat message, or None if it can."""
    if message.get("text") is None:
        return "send text, not binary data: each text message is one chat message"
    if not 1 <= (length := size(message)) <= MAX_TEXT:
        return f"a message is 1 to {MAX_TEXT} bytes of UTF-8 text: got {length} bytes"
    return None


async def read(member: Member) -> None:
    """What the member says, until it leaves, or sends a message too large."""
    while (message := await member.websocket.receive())["type"] == "websocket.receive":
        if size(message) > MAX_FRAME:
            member.closing = 1009, f"message too big: at most {MAX_FRAME} bytes"
            return
        if why := problem(message):
            member.send(json.dumps(error(why)))  # to this member only; it stays in the room
        else:
            room.last_id += 1
            room.broadcast({"type": "message", "id": room.last_id, "from": member.name,
                            "text": message["text"], "time": now()})
        # Back-pressure: read nothing more until this member's own outbox is empty, else a
        # fast talker fills every outbox as fast as the server reads, and the members who
        # read as fast as it talks are dropped too. Meanwhile uvicorn reads no further than
        # the next message, TCP's buffers fill up, and then the talker's own sends wait.
        await member.outbox.join()


@app.websocket("/ws/chat")
async def chat(websocket: WebSocket, name: str = ""):
    await websocket.accept()  # first: then the error event and the close frame can say why
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable() or name != name.strip():
        why = f"a name is 1 to {MAX_NAME} printable characters, no spaces around: got {name[:40]!r}"
        await websocket.send_text(json.dumps(error(why)))
        return await close(websocket, 1008, why)
    member = Member(websocket, name)
    room.members.add(member)
    room.announce("join", member)  # its own join: the first event in its outbox
    # Two tasks per connection: one reads what the member says, one (member.writer) sends
    # what the room says. The first to end ends both: the member left, or it was dropped.
    reader = asyncio.create_task(read(member))
    try:
        await asyncio.wait([reader, member.writer], return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the server stops
        reader.cancel()
        member.writer.cancel()
        if member.closing:
            print(f"chat: {name} disconnected (code {member.closing[0]}): {member.closing[1]}", flush=True)
        room.members.discard(member)  # already done if the room dropped it
        room.announce("leave", member)
    if member.closing:
        await close(websocket, *member.closing)
