"""The contacts server, over real sockets: protocol, bad input, limits, threads, --data."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import SandboxError, launch
from sandbox.contacts import MAX_FIELD, MAX_LINE

COMMANDS = {"help", "list", "get", "add", "delete"}


class Client:
    """One connection: ask() sends one request line and returns the parsed response."""

    def __init__(self, srv, timeout: float = 10.0):
        self.sock = socket.create_connection(srv.address, timeout=timeout)
        self.lines = self.sock.makefile("rb")

    def send(self, request: dict | bytes) -> None:
        self.sock.sendall(request if isinstance(request, bytes) else json.dumps(request).encode() + b"\n")

    def read(self) -> dict:
        line = self.lines.readline()
        assert line.endswith(b"\n"), f"expected one response line, got {line[:200]!r}"
        response = json.loads(line)
        assert set(response) == {"status", "msg", "data"}, response
        if response["status"] is False:
            assert response["data"] is None and response["msg"], response
        return response

    def ask(self, request: dict | bytes) -> dict:
        self.send(request)
        return self.read()

    def closed_by_server(self) -> bool:
        return self.lines.readline() == b""

    def close(self) -> None:
        self.lines.close()
        self.sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ok(response: dict) -> object:
    assert response["status"] is True, response
    return response["data"]


def error(response: dict) -> str:
    assert response["status"] is False, response
    return response["msg"]


def add(name: str, **fields) -> dict:
    return {"cmd": "add", "args": {"name": name, **fields}}


def get(name: str) -> dict:
    return {"cmd": "get", "args": {"name": name}}


def wait_for_log(srv, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in srv.log:
        assert time.monotonic() < deadline, f"{text!r} not in the server log:\n{srv.log[-2000:]}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def srv():
    with launch("contacts", replace=False) as server:  # replace=False: xdist workers run side by side
        yield server


@pytest.fixture(scope="module")
def quick():
    """A server that closes idle connections after 1 s."""
    with launch("contacts", replace=False, idle_timeout=1) as server:
        yield server


@pytest.fixture
def name() -> str:
    """A contact name no other test uses (they share one server)."""
    return f"Ada {uuid.uuid4().hex[:8]}"


# --- the commands ------------------------------------------------------------


def test_help_describes_every_command(srv):
    with Client(srv) as c:
        commands = ok(c.ask({"cmd": "help"}))
    assert set(commands) == COMMANDS
    assert all(isinstance(text, str) and text for text in commands.values())
    assert "email" in commands["add"] and "name" in commands["get"]


def test_add_get_delete_on_one_connection(srv, name):
    contact = {"name": name, "email": "ada@example.org", "phone": "+44 20 1234"}
    with Client(srv) as c:
        assert ok(c.ask(add(name, email=contact["email"], phone=contact["phone"]))) == contact
        assert ok(c.ask(get(name))) == contact
        assert contact in ok(c.ask({"cmd": "list"}))
        assert ok(c.ask({"cmd": "delete", "args": {"name": name}})) == contact
        assert "no contact named" in error(c.ask(get(name)))
        assert contact not in ok(c.ask({"cmd": "list", "args": {}}))


def test_add_without_email_or_phone_stores_null(srv, name):
    with Client(srv) as c:
        assert ok(c.ask(add(name))) == {"name": name, "email": None, "phone": None}
        assert ok(c.ask(add(name + "2", email=None, phone="123")))["email"] is None


def test_add_existing_name_is_refused_and_keeps_the_first(srv, name):
    with Client(srv) as c:
        ok(c.ask(add(name, email="first@example.org")))
        assert "exists already" in error(c.ask(add(name, email="second@example.org")))
        assert ok(c.ask(get(name)))["email"] == "first@example.org"


def test_list_is_sorted_by_name(srv, name):
    with Client(srv) as c:
        for suffix in ["b", "c", "a"]:
            ok(c.ask(add(f"{name} {suffix}")))
        contacts = ok(c.ask({"cmd": "list"}))
    names = [contact["name"] for contact in contacts]
    assert names == sorted(names)
    assert [n for n in names if n.startswith(name)] == [f"{name} a", f"{name} b", f"{name} c"]


@pytest.mark.parametrize("cmd", ["get", "delete"])
def test_get_or_delete_unknown_name(srv, name, cmd):
    with Client(srv) as c:
        assert repr(name) in error(c.ask({"cmd": cmd, "args": {"name": name}}))


def test_field_of_the_maximum_length_is_accepted(srv, name):
    long = "x" * MAX_FIELD
    with Client(srv) as c:
        assert ok(c.ask(add(name, email=long, phone=long)))["email"] == long


def test_non_ascii_names_round_trip(srv, name):
    with Client(srv) as c:
        ok(c.ask(add(name + " Zoé 李")))
        assert ok(c.ask(get(name + " Zoé 李")))["name"] == name + " Zoé 李"


# --- bad input: an explicit error, and the connection keeps working -----------

BAD_REQUESTS = {
    "invalid UTF-8": (b'{"cmd": "get", "args": {"name": "\xff\xfe"}}\n', "not valid UTF-8"),
    "not JSON": (b"hello\n", "not valid JSON"),
    "truncated JSON": (b'{"cmd": "help"\n', "not valid JSON"),
    "empty line": (b"\n", "empty request"),
    "too deeply nested": (b"[" * 100_000 + b"\n", "not valid JSON"),
    "JSON array": (b'["help"]\n', "must be a JSON object"),
    "JSON string": (b'"help"\n', "must be a JSON object"),
    "unknown top-level key": (b'{"cmd": "help", "arg": {}}\n', "unknown key 'arg'"),
    "missing cmd": (b'{"args": {}}\n', 'missing "cmd"; commands: help, list, get, add, delete'),
    "cmd not a string": (b'{"cmd": ["help"]}\n', '"cmd" must be a string'),
    "unknown cmd": (b'{"cmd": "foo"}\n', "unknown command 'foo'; commands: help, list, get, add, delete"),
    "args not an object": (b'{"cmd": "get", "args": ["Ada"]}\n', '"args" must be a JSON object'),
    "unknown argument": (b'{"cmd": "add", "args": {"name": "x", "mail": "a@b"}}\n',
                         "unknown argument 'mail' for add; allowed: name, email, phone"),
    "argument to list": (b'{"cmd": "list", "args": {"name": "x"}}\n', "list takes no arguments"),
    "missing name": (b'{"cmd": "get", "args": {}}\n', 'get needs the argument "name"'),
    "missing args": (b'{"cmd": "delete"}\n', 'delete needs the argument "name"'),
    "name not a string": (b'{"cmd": "get", "args": {"name": 42}}\n', '"name" must be a string, not a number'),
    "name null": (b'{"cmd": "add", "args": {"name": null}}\n', '"name" must be a string, not null'),
    "empty name": (b'{"cmd": "add", "args": {"name": " "}}\n', '"name" must not be empty'),
    "email not a string": (b'{"cmd": "add", "args": {"name": "x", "email": 1}}\n', '"email" must be a string'),
    "name too long": (json.dumps(add("x" * (MAX_FIELD + 1))).encode() + b"\n",
                      f'"name" is too long: {MAX_FIELD + 1} characters, at most {MAX_FIELD}'),
    "phone too long": (json.dumps(add("x", phone="1" * 999)).encode() + b"\n", '"phone" is too long'),
}


@pytest.mark.parametrize("line, expected", BAD_REQUESTS.values(), ids=BAD_REQUESTS)
def test_bad_request_gets_an_error_and_the_connection_keeps_working(srv, line, expected):
    with Client(srv) as c:
        assert expected in error(c.ask(line))
        assert set(ok(c.ask({"cmd": "help"}))) == COMMANDS


def test_bad_requests_store_nothing(srv):
    with Client(srv) as c:
        before = ok(c.ask({"cmd": "list"}))
        for line, _ in BAD_REQUESTS.values():
            error(c.ask(line))
        assert ok(c.ask({"cmd": "list"})) == before


# --- framing: lines, not recv() calls ------------------------------------------


def test_two_requests_in_one_send_are_answered_in_order(srv, name):
    with Client(srv) as c:
        c.send(json.dumps(add(name)).encode() + b"\n" + json.dumps(get(name)).encode() + b"\n")
        assert ok(c.read())["name"] == name  # the add
        assert ok(c.read()) == {"name": name, "email": None, "phone": None}  # the get, after it


def test_request_split_over_several_sends(srv, name):
    line = json.dumps(add(name)).encode() + b"\n"
    with Client(srv) as c:
        for i in range(0, len(line), 7):
            c.send(line[i:i + 7])
            time.sleep(0.01)  # each piece arrives on its own
        assert ok(c.read())["name"] == name


def test_request_of_almost_the_limit_arrives_whole(srv, name):
    # JSON allows any amount of whitespace between tokens: a valid line of almost MAX_LINE bytes.
    line = b'{"cmd": "add", ' + b" " * (MAX_LINE - 1000) + json.dumps({"args": {"name": name}})[1:].encode() + b"\n"
    with Client(srv) as c:
        assert ok(c.ask(line))["name"] == name
        assert ok(c.ask(get(name)))["name"] == name


def test_field_of_almost_the_line_limit_is_read_whole_before_it_is_refused(srv):
    with Client(srv) as c:
        assert f"{MAX_LINE - 1000} characters" in error(c.ask(add("x" * (MAX_LINE - 1000))))


def test_line_of_exactly_the_limit_is_answered(srv, name):
    head = json.dumps(add(name))[:-1].encode()
    line = head + b" " * (MAX_LINE - len(head) - 1) + b"}"
    assert len(line) == MAX_LINE
    with Client(srv) as c:
        assert ok(c.ask(line + b"\n"))["name"] == name
        assert ok(c.ask({"cmd": "help"}))


def test_line_over_the_limit_gets_an_error_then_the_connection_closes(srv, name):
    with Client(srv) as c:
        # Twice the limit: the server answers while we are still sending. It must
        # read and drop the rest, or our sendall() fails with a broken pipe.
        c.send(b'{"cmd": "help", ' + b" " * (2 * MAX_LINE) + b"}\n" + json.dumps(add(name)).encode() + b"\n")
        msg = error(c.read())
        assert "longer than" in msg and "closing the connection" in msg
        assert c.closed_by_server()
    with Client(srv) as c:  # the server is fine, and ignored the request after the long line
        assert "no contact named" in error(c.ask(get(name)))


@pytest.mark.parametrize("how", ["close", "reset"])
def test_disconnect_in_the_middle_of_a_request_stores_nothing(srv, name, how):
    c = Client(srv)
    c.send(json.dumps(add(name)).encode())  # no "\n": the request is not complete
    if how == "reset":  # SO_LINGER 0: close() sends a reset, as a crashed client would
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    wait_for_log(srv, "closed in the middle of a request" if how == "close" else "connection lost")
    with Client(srv) as c:
        assert "no contact named" in error(c.ask(get(name)))


def test_request_without_newline_then_shutdown_gets_an_error(srv, name):
    with Client(srv) as c:
        c.send(json.dumps(add(name)).encode())
        c.sock.shutdown(socket.SHUT_WR)  # "I have nothing more to send"
        assert "newline" in error(c.read())
        assert c.closed_by_server()
    with Client(srv) as c:
        assert "no contact named" in error(c.ask(get(name)))


def test_silent_client_is_closed_after_the_idle_timeout_while_others_are_served(quick):
    with Client(quick) as silent:
        start = time.monotonic()
        with Client(quick) as busy:
            for _ in range(4):  # served while the silent client holds its connection
                assert set(ok(busy.ask({"cmd": "help"}))) == COMMANDS
                time.sleep(0.1)
        assert "no complete request within 1 s" in error(silent.read())
        assert 0.8 < time.monotonic() - start < 5
        assert silent.closed_by_server()
    wait_for_log(quick, "no complete request within 1 s")


def test_log_has_one_line_per_request(srv, name):
    with Client(srv) as c:
        ok(c.ask(add(name)))
        error(c.ask({"cmd": "frobnicate"}))
    wait_for_log(srv, "add -> ok")
    wait_for_log(srv, "-> error: unknown command 'frobnicate'")


# --- threads -------------------------------------------------------------------


def test_fifty_simultaneous_clients(srv, name):
    clients = 50
    everyone_connected = threading.Barrier(clients, timeout=20)

    def one_client(i: int) -> tuple[dict, dict]:
        with Client(srv, timeout=20) as c:
            everyone_connected.wait()  # then all send at once
            return c.ask(add(f"{name} {i}", phone=str(i))), c.ask(get(f"{name} {i}"))

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one_client, range(clients)))
    for i, (added, got) in enumerate(results):
        assert ok(added) == ok(got) == {"name": f"{name} {i}", "email": None, "phone": str(i)}
    with Client(srv) as c:
        assert sum(contact["name"].startswith(name) for contact in ok(c.ask({"cmd": "list"}))) == clients


def test_simultaneous_adds_of_one_name_only_one_wins(srv, name):
    start = threading.Barrier(20, timeout=20)

    def one_client(i: int) -> bool:
        with Client(srv, timeout=20) as c:
            start.wait()
            return c.ask(add(name, phone=str(i)))["status"]

    with ThreadPoolExecutor(20) as pool:
        assert sum(pool.map(one_client, range(20))) == 1


# --- --data FILE ---------------------------------------------------------------


def names(client: Client) -> list[str]:
    return [contact["name"] for contact in ok(client.ask({"cmd": "list"}))]


def changes_in(book) -> list[str]:
    """The lines of changes after the array: each starts with "{" (the array's contacts are indented)."""
    return [line for line in book.read_text(encoding="utf-8").splitlines() if line.startswith("{")]


def test_data_survives_a_restart(tmp_path):
    book = tmp_path / "book.json"
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        ok(c.ask(add("Ada", email="ada@example.org")))
        ok(c.ask(add("Bob")))
        ok(c.ask({"cmd": "delete", "args": {"name": "Bob"}}))
    ada = {"name": "Ada", "email": "ada@example.org", "phone": None}
    assert len(changes_in(book)) == 3  # each change added one line to the file
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        assert ok(c.ask({"cmd": "list"})) == [ada]
    assert json.loads(book.read_text(encoding="utf-8")) == [ada]  # rewritten at start: just the book
    assert os.listdir(tmp_path) == ["book.json"]  # no temporary file left behind


def test_every_confirmed_change_survives_kill_9(tmp_path):
    book = tmp_path / "book.json"
    server = launch("contacts", replace=False, data=book)
    confirmed = []

    def keep_adding() -> None:  # until the server dies
        with contextlib.suppress(OSError, AssertionError, ValueError), Client(server) as c:
            for i in range(10_000):
                ok(c.ask(add(f"Ada {i:05}")))
                confirmed.append(f"Ada {i:05}")

    adder = threading.Thread(target=keep_adding)
    adder.start()
    try:
        deadline = time.monotonic() + 10
        while len(confirmed) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.process.kill()  # kill -9 on Linux and macOS: no clean stop, in the middle of the adds
        adder.join(10)
    finally:
        server.stop()
    assert len(confirmed) >= 30
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        kept = names(c)
    assert kept[:len(confirmed)] == confirmed  # every "ok" is on the disk...
    assert len(kept) <= len(confirmed) + 1  # ...and at most the add being answered when the server died


def test_a_change_cut_short_at_the_end_of_the_file_is_ignored_and_logged(tmp_path):
    book = tmp_path / "book.json"
    book.write_text('[\n  {"name": "Ada", "email": null, "phone": null}\n]\n'
                    '{"add": {"name": "Bob", "email": null, "phone": null}}\n'
                    '{"add": {"name": "Cy', encoding="utf-8")  # the server died while writing this line
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        assert names(c) == ["Ada", "Bob"]
        assert server.wait_for("line 5 is a change cut short, never confirmed: ignored")
        ok(c.ask(add("Cy")))  # after a whole line: the start rewrote the file without the cut one
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        assert names(c) == ["Ada", "Bob", "Cy"]


def test_the_file_is_rewritten_when_it_grows_past_twice_the_book(tmp_path):
    book = tmp_path / "book.json"
    counts = []
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        for i in range(10):
            ok(c.ask(add(f"Keep {i}")))
        for i in range(150):  # 300 changes; the book keeps 10 or 11 contacts
            ok(c.ask(add(f"Temp {i}")))
            ok(c.ask({"cmd": "delete", "args": {"name": f"Temp {i}"}}))
            counts.append(len(changes_in(book)))
        assert names(c) == [f"Keep {i}" for i in range(10)]
    assert max(counts) >= 50  # changes are added to the file...
    assert max(counts) <= 100  # ...until it holds 100 entries (twice a book of 50 or more),
    assert sum(after < before for before, after in zip(counts, counts[1:])) >= 2  # then it is rewritten
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        assert names(c) == [f"Keep {i}" for i in range(10)]


@pytest.mark.parametrize("text", [
    json.dumps([{"name": "Ada", "email": "ada@example.org", "phone": None}, {"name": "Bob"}], indent=2) + "\n",
    '[{"name": "Ada", "email": "ada@example.org"}, {"name": "Bob", "phone": null}]',  # by hand: no "\n" at the end
], ids=["as-saved-before", "one-line"])
def test_a_file_of_the_earlier_format_loads(tmp_path, text):
    book = tmp_path / "book.json"
    book.write_text(text, encoding="utf-8")  # a JSON array of contacts, and nothing after it
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        assert ok(c.ask(get("Ada"))) == {"name": "Ada", "email": "ada@example.org", "phone": None}
        ok(c.ask(add("Cy")))
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        assert names(c) == ["Ada", "Bob", "Cy"]


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot replace a file that is open")
def test_the_file_is_replaced_atomically_when_rewritten(tmp_path):
    # The rewritten book goes to a new file that replaces the old one in one
    # step: a reader (or a restart after a crash) finds the old file or the
    # new one, never a file emptied or half written by an update in place.
    book = tmp_path / "book.json"
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        ok(c.ask(add("Ada")))
        ok(c.ask(add("Bob")))
        ok(c.ask({"cmd": "delete", "args": {"name": "Bob"}}))
    old = book.read_text(encoding="utf-8")
    with book.open(encoding="utf-8") as reader:  # opened before the rewrite at the next start
        with launch("contacts", replace=False, data=book):
            assert reader.read() == old  # the whole old file
            assert [contact["name"] for contact in json.loads(book.read_text(encoding="utf-8"))] == ["Ada"]
            assert os.listdir(tmp_path) == ["book.json"]  # no temporary file left behind


def test_failed_save_changes_nothing(tmp_path):
    book = tmp_path / "book.json"
    with launch("contacts", replace=False, data=book) as server, Client(server) as c:
        book.unlink()
        book.mkdir()  # the server can no longer write to it
        assert "could not save" in error(c.ask(add("Ada")))
        assert ok(c.ask({"cmd": "list"})) == []
        book.rmdir()  # writable again: the next change writes the whole book, which does not have Ada
        ok(c.ask(add("Bob")))
    assert json.loads(book.read_text(encoding="utf-8")) == [{"name": "Bob", "email": None, "phone": None}]
    assert os.listdir(tmp_path) == ["book.json"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m sandbox contacts ARGS``, for a run that ends by itself."""
    return subprocess.run([sys.executable, "-m", "sandbox", "contacts", *args],
                          capture_output=True, text=True, timeout=15)


CORRUPT_FILES = {
    "not JSON": ("{not json", "Expecting property name"),
    "not an array": ('{"name": "Ada"}', "expected a JSON array of contacts"),
    "bad contact": ('[{"name": 42}]', '"name" must be a string'),
    "duplicate name": ('[{"name": "Ada"}, {"name": "Ada"}]', "appears twice"),
    "text after the array": ("[] x", "unexpected 'x' after the array"),
    "change not JSON": ('[]\n{"add"\n{"delete": "Ada"}\n', "line 2: Expecting ':' delimiter"),
    "bad change": ('[]\n{"add": {"name": 42}}\n', 'line 2: "name" must be a string'),
    "unknown change": ('[]\n{"rename": "Ada"}\n', 'line 2: expected a change, {"add": contact} or {"delete": name}'),
    "deleting a missing name": ('[]\n{"delete": "Ada"}\n', "line 2: 'Ada' is deleted, but is not in the book"),
    "adding a name twice": ('[{"name": "Ada"}]\n{"add": {"name": "Ada"}}\n', "line 2: the name 'Ada' appears twice"),
}


@pytest.mark.parametrize("text, expected", CORRUPT_FILES.values(), ids=CORRUPT_FILES)
def test_corrupt_data_file_refuses_to_start_and_is_left_alone(tmp_path, text, expected):
    book = tmp_path / "book.json"
    book.write_text(text, encoding="utf-8")
    result = run_cli("--data", str(book))
    assert result.returncode == 2  # a usage error, as argparse reports them
    assert f"--data {book} is not a contacts file" in result.stderr and expected in result.stderr
    assert "listening" not in result.stdout
    assert book.read_text(encoding="utf-8") == text
    assert os.listdir(tmp_path) == ["book.json"]


def test_launch_with_a_corrupt_data_file_raises_with_the_message(tmp_path):
    book = tmp_path / "book.json"
    book.write_text("{not json", encoding="utf-8")
    with pytest.raises(SandboxError, match="exited with code") as raised:
        launch("contacts", replace=False, data=book)
    assert f"--data {book} is not a contacts file" in str(raised.value)
    assert book.read_text(encoding="utf-8") == "{not json"


def test_data_file_in_a_missing_folder_refuses_to_start(tmp_path):
    result = run_cli("--data", str(tmp_path / "nowhere" / "book.json"))
    assert result.returncode == 2 and "nowhere does not exist" in result.stderr


def test_help_documents_the_limits():
    result = run_cli("--help")
    assert result.returncode == 0
    for text in ["1 MiB", f"{MAX_FIELD} characters", "--idle-timeout", "--data FILE", "--max-connections"]:
        assert text in result.stdout
