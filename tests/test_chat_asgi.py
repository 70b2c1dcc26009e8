"""Chapter 12's chat in FastAPI (notebooks/apps/12-chat_fastapi.py), served by the sandbox's
uvicorn (``launch("random-async", app=...)``), answers chapter 09's clients as the sandbox chat does.

Most tests run twice, against ``launch("chat")`` and against the FastAPI app, with the same
client code as chapter 09 and tests/test_chat.py (websockets' sync client, whose helpers are
imported from there) and the same assertions: that is what "the clients work unchanged" means.
The FastAPI server's log must hold no warning and no error, with every warning shown.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from sandbox import launch
from sandbox.launcher import Server
from test_chat import closed_with, joined, next_event, open_ws, raw_websocket, wait_for_own_join

CHAT_APP = Path(__file__).resolve().parent.parent / "notebooks" / "apps" / "12-chat_fastapi.py"
TROUBLE = ("Traceback", "Warning", "Error", "ERROR", "Exception", "never retrieved")  # in a log line


def launch_fastapi_chat(monkeypatch) -> Server:
    monkeypatch.setenv("PYTHONWARNINGS", "default")  # every warning shown once, DeprecationWarning too
    return launch("random-async", app=os.path.relpath(CHAT_APP), replace=False)


def assert_clean_log(srv: Server) -> None:
    troubles = [line for line in srv.log.splitlines() if any(word in line for word in TROUBLE)]
    assert not troubles, srv.log


@pytest.fixture(params=["sandbox-chat", "fastapi-chat"])
def server(request, monkeypatch):
    """The sandbox chat (Flask, flask-sock), then the FastAPI app (uvicorn): a new one per test."""
    if request.param == "sandbox-chat":
        with launch("chat", replace=False) as srv:
            yield srv
        return
    with launch_fastapi_chat(monkeypatch) as srv:
        yield srv
    assert "random-async stopped" in srv.log
    assert_clean_log(srv)


def test_echo_round_trip(server):
    with open_ws(server, "/ws/echo") as ws:
        for message in ["hello", "héllo ✓", b"\x00\x01\xff", ""]:
            ws.send(message)
            assert ws.recv(timeout=5) == message  # text stays text, bytes stay bytes
    assert ws.close_code == 1000  # the with block's close frame, answered


def test_two_members_see_each_others_join_messages_and_leave(server):
    with joined(server, "Ada") as ada:
        with joined(server, "Bob") as bob:
            join = next_event(ada)
            assert list(join) == ["type", "name", "users", "time"]
            assert (join["type"], join["name"], join["users"]) == ("join", "Bob", ["Ada", "Bob"])

            bob.send("hi, Ada")
            heard = [next_event(ada), next_event(bob)]  # the sender hears its own message too
            message = heard[0]
            assert heard[1] == message and list(message) == ["type", "id", "from", "text", "time"]
            assert (message["type"], message["id"], message["from"], message["text"]) == ("message", 1, "Bob", "hi, Ada")
            ada.send("hé, Bob ✓")
            answer = next_event(bob)
            assert (answer["id"], answer["from"], answer["text"]) == (2, "Ada", "hé, Bob ✓")
            assert next_event(ada) == answer
        left = next_event(ada)  # Bob's with block closed his connection
    assert (left["type"], left["name"], left["users"]) == ("leave", "Bob", ["Ada"])
    assert list(left) == ["type", "name", "users", "time"]


def test_a_malformed_message_gets_an_error_and_the_room_keeps_working(server):
    with joined(server, "Ada") as ada, joined(server, "Bob") as bob:
        assert next_event(ada)["name"] == "Bob"
        for bad, why in [("é" * 2049, "a message is 1 to 4096 bytes of UTF-8 text: got 4098 bytes"),
                         ("", "a message is 1 to 4096 bytes of UTF-8 text: got 0 bytes"),
                         (b"\x00", "send text, not binary data: each text message is one chat message")]:
            ada.send(bad)
            assert next_event(ada) == {"type": "error", "message": why}  # to Ada only
        ada.send("x" * 4096)  # the limit itself is fine
        assert next_event(bob)["text"] == "x" * 4096  # Bob saw none of the refused ones
        bob.send("still here")
        assert next_event(ada)["text"] == "x" * 4096 and next_event(ada)["text"] == "still here"
        assert ada.close_code is None and bob.close_code is None  # both still open


@pytest.mark.parametrize("name", ["", " Ada", "x" * 33, "new\nline", "é" * 40])
def test_an_invalid_name_is_refused_with_a_reason(server, name):
    with open_ws(server, f"/ws/chat?name={quote(name)}") as ws:
        event = next_event(ws)
        assert list(event) == ["type", "message"] and event["type"] == "error"
        assert event["message"].startswith("a name is 1 to 32 printable characters, no spaces around: got ")
        code, reason = closed_with(ws)
    assert code == 1008 and reason.startswith("a name is 1 to 32")  # at most 123 bytes: cut


@pytest.mark.parametrize("path", ["/ws/echo", "/ws/chat?name=Huge"])
def test_a_message_over_64_kib_closes_that_connection_only(server, path):
    with joined(server, "Ada") as ada, open_ws(server, path) as huge:
        if "chat" in path:
            wait_for_own_join(huge, "Huge")
            assert next_event(ada)["name"] == "Huge"
        huge.send("y" * (64 * 1024))  # the limit itself is fine: echoed, or too long for a chat message
        if "echo" in path:
            assert huge.recv(timeout=5) == "y" * (64 * 1024)
        else:
            assert "got 65536 bytes" in next_event(huge)["message"]
        huge.send("y" * 100_000)
        assert closed_with(huge)[0] == 1009  # message too big
        if "chat" in path:
            left = next_event(ada)
            assert (left["type"], left["name"], left["users"]) == ("leave", "Huge", ["Ada"])
        ada.send("fine")
        assert next_event(ada)["text"] == "fine"


def test_a_vanished_client_is_removed(server):
    with (joined(server, "Ada") as ada,
          socket.create_connection(server.address, timeout=5) as tcp,
          open_ws(server, "/ws/chat?name=Ghost", sock=tcp) as ghost):  # over our own TCP connection
        wait_for_own_join(ghost, "Ghost")
        assert next_event(ada)["name"] == "Ghost"
        tcp.shutdown(socket.SHUT_RDWR)  # no closing handshake: the TCP connection simply ends
        event = next_event(ada)
        assert (event["type"], event["name"], event["users"]) == ("leave", "Ghost", ["Ada"])


@pytest.mark.timeout(120)
def test_a_member_that_never_reads_does_not_hold_up_the_others(server):
    """A member that reads nothing fills the buffers towards it (the kernel's send buffer grows
    to 4 MiB under uvicorn, which does not set SO_SNDBUF as the sandbox does), then its outbox;
    at 1024 events waiting, the server drops it. Meanwhile the others get every message, in order."""
    n, size = 3000, 4000  # 12 MB to each member: more than the outbox and all the buffers hold
    texts = [f"{i:04} " + "x" * (size - 5) for i in range(n)]
    with joined(server, "healthy") as healthy, joined(server, "talker") as talker:
        assert next_event(healthy)["name"] == "talker"
        with contextlib.closing(raw_websocket(server, "/ws/chat?name=slow", 4096)) as slow:
            for ws in (healthy, talker):  # announced: "slow" is in the room
                assert (event := next_event(ws))["name"] == "slow" and event["users"] == ["healthy", "slow", "talker"]
            heard: queue.Queue[dict] = queue.Queue()  # what healthy receives, as it comes

            def read(ws: ClientConnection, keep: queue.Queue | None) -> None:
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    while True:  # as fast as it can, to the end (the talker reads its own messages back)
                        data = ws.recv(timeout=30)
                        if keep is not None:
                            keep.put(json.loads(data))

            for ws, keep in [(healthy, heard), (talker, None)]:
                threading.Thread(target=read, args=(ws, keep), daemon=True).start()
            talking = threading.Thread(target=lambda: [talker.send(text) for text in texts], daemon=True)
            talking.start()

            got, left = [], None  # the texts healthy hears, and slow's leave, wherever it comes
            while len(got) < n or left is None:
                event = heard.get(timeout=30)  # queue.Empty if nothing comes
                if event["type"] == "message":
                    got.append(event["text"])
                    continue
                assert left is None and (event["type"], event["name"], event["users"]) == (
                    "leave", "slow", ["healthy", "talker"]), event
                left = event
                # slow reads at last, at once: what the buffers held, then the close frame that says why.
                reason = b"\x03\xf0" + b"too slow: 1024 messages waiting"  # 1008: policy violation
                closing, received = b"\x88" + bytes([len(reason)]) + reason, b""  # a close frame, unmasked
                while not received.endswith(closing):
                    chunk = slow.recv(1 << 20)  # TimeoutError (10 s) if the server sends nothing more
                    assert chunk, f"the connection ended without that close frame: {received[-60:]!r}"
                    received += chunk
            assert got == texts  # every one, in order
            assert server.wait_for("chat: slow disconnected (code 1008): too slow: 1024 messages waiting")
            talking.join(30)
            assert not talking.is_alive(), "the talker could not send its messages"

            start = time.monotonic()
            talker.send("and one more")
            assert heard.get(timeout=5)["text"] == "and one more"
            assert time.monotonic() - start < 2, "the talker's next message took 2 s or more"


# --- The FastAPI server only -----------------------------------------------------------


def test_uvicorn_uses_websockets_sans_io_and_warns_of_nothing(monkeypatch):
    """random-async leaves uvicorn's --ws at "auto": with websockets installed, uvicorn's Sans-I/O
    implementation. Its legacy one ("websockets") warns that it is deprecated; wsproto is unused.
    The server's own log of its imports says which one it loaded."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # one "import time: ... | module" line per import
    with launch_fastapi_chat(monkeypatch) as srv:
        with joined(srv, "Ada") as ada:
            ada.send("hello")
            assert next_event(ada)["text"] == "hello"
        assert srv.wait_for("chat: Ada left (0 online)")
    modules = {line.rpartition("|")[2].strip() for line in srv.log.splitlines() if line.startswith("import time:")}
    assert "uvicorn.protocols.websockets.websockets_sansio_impl" in modules
    assert not {"uvicorn.protocols.websockets.websockets_impl", "uvicorn.protocols.websockets.wsproto_impl",
                "websockets.legacy", "wsproto"} & modules
    assert [line for line in srv.log.splitlines() if not line.startswith("import time:")] == [
        f"random-async listening on http://127.0.0.1:{srv.port}",
        "chat: Ada joined (1 online)", "chat: Ada left (0 online)",
        "standard input closed: stopping", "random-async stopped"]


def test_the_app_is_short():
    """Students read it whole: well under the sandbox chat's 500 lines."""
    assert len(CHAT_APP.read_text(encoding="utf-8").splitlines()) < 200
