"""Address book over TCP: newline-delimited JSON, one request per line.

    python -m sandbox contacts [--host H] [--port P] [--data FILE] [--idle-timeout S] [--max-connections N]
                               [faults: --latency T --reset F --cut F --slow B --seed N]

Each request is one JSON object, UTF-8, on one line ending with "\\n":
``{"cmd": str, "args": {...}}`` ("args" may be left out). Each response is one
JSON object on one line: ``{"status": true|false, "msg": str, "data": ...}``; on
an error "status" is false, "msg" says what was wrong and "data" is null.
A connection carries any number of requests, answered in order.

    -> {"cmd": "add", "args": {"name": "Ada", "email": "ada@example.org"}}
    <- {"status": true, "msg": "added 'Ada'", "data": {"name": "Ada", "email": "ada@example.org", "phone": null}}
    -> {"cmd": "get", "args": {"name": "Bob"}}
    <- {"status": false, "msg": "no contact named 'Bob'", "data": null}

Send {"cmd": "help"} for the commands. With --data FILE the book is kept in
that file (JSON) and survives a restart, even a crash: see Book. The fault
options (sandbox/faults.py) delay, reset, cut or slow down answers on purpose:
a change whose answer is lost was made all the same.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import socketserver
import threading
import time
from pathlib import Path

from . import common, faults

NAME = "contacts"
DESCRIPTION = "Address book over TCP: one JSON request per line, one JSON response per line."
MAX_LINE = 1024 * 1024  # bytes per request line, not counting the "\n"
MAX_FIELD = 200  # characters in a name, email or phone
LIMITS = f"""limits:
  request line       {MAX_LINE // 2**20} MiB; a longer line gets an error, then the connection is closed
  request time       each request must arrive whole within --idle-timeout seconds of the answer
                     before it (or of connecting), however slowly it comes; then the connection is closed
  name, email, phone {MAX_FIELD} characters each
  connections        --max-connections at once (default {common.DEFAULT_MAX_CONNECTIONS}); one more gets an error
                     line and is closed. Unfinished request lines hold at most that many x {MAX_LINE // 2**20} MiB
"""
EXPOSED = ('anyone who reaches the port can list, add and delete contacts: there are no accounts and '
           "one book for all. Put no real person's details in it.")

# command -> (the arguments it accepts, one line of help). "name" is always required.
COMMANDS = {
    "help": ((), "this list of commands"),
    "list": ((), "all contacts, sorted by name"),
    "get": (("name",), 'args {"name": str}: the contact with this name'),
    "add": (("name", "email", "phone"), 'args {"name": str, "email": str (optional), '
            '"phone": str (optional)}: store a new contact; the name must not exist yet'),
    "delete": (("name",), 'args {"name": str}: remove the contact with this name and return it'),
}
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
              int: "a number", float: "a number", type(None): "null"}


class RequestError(ValueError):
    """A request we cannot carry out; its message goes back to the client."""


def short(text: str) -> str:
    """Quote some of the client's text in a message, without echoing a megabyte."""
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def parse(line: bytes) -> tuple[str, dict]:
    """The command and arguments of one request line, or RequestError."""
    try:
        text = line.decode("utf-8").rstrip("\r\n")  # "\r": some terminals end lines with "\r\n"
    except UnicodeDecodeError as e:
        raise RequestError(f"request is not valid UTF-8 (byte {line[e.start]:#04x} at position {e.start}); "
                           "send JSON text encoded as UTF-8") from None
    if not text.strip():
        raise RequestError('empty request; send one JSON object per line, e.g. {"cmd": "help"}')
    try:
        request = json.loads(text)
    except (ValueError, RecursionError) as e:  # also too deep nesting, too long numbers
        raise RequestError(f"request is not valid JSON ({e}); send one JSON object per line, "
                           'e.g. {"cmd": "help"}') from None
    if not isinstance(request, dict):
        raise RequestError(f'request must be a JSON object like {{"cmd": "help"}}, not {JSON_TYPES[type(request)]}')
    for key in request:
        if key not in ("cmd", "args"):
            raise RequestError(f'unknown key {short(key)} in the request; allowed: "cmd" and "args"')
    cmd, args = request.get("cmd"), request.get("args", {})
    if cmd is None:
        raise RequestError(f'missing "cmd"; commands: {", ".join(COMMANDS)}')
    if not isinstance(cmd, str):  # checked first: a list cannot even be looked up in COMMANDS
        raise RequestError(f'"cmd" must be a string, not {JSON_TYPES[type(cmd)]}; commands: {", ".join(COMMANDS)}')
    if cmd not in COMMANDS:
        raise RequestError(f"unknown command {short(cmd)}; commands: {', '.join(COMMANDS)}")
    if not isinstance(args, dict):
        raise RequestError(f'"args" must be a JSON object like {{"name": "Ada"}}, not {JSON_TYPES[type(args)]}')
    return cmd, args


def check_args(cmd: str, args: dict) -> dict:
    allowed = COMMANDS[cmd][0]
    for key in args:
        if key not in allowed:
            expected = f"allowed: {', '.join(allowed)}" if allowed else f"{cmd} takes no arguments"
            raise RequestError(f"unknown argument {short(key)} for {cmd}; {expected}")
    if "name" in allowed and "name" not in args:
        raise RequestError(f'{cmd} needs the argument "name" (a non-empty string)')
    for key, value in args.items():
        if value is None and key != "name":
            continue  # email and phone may be null: unknown
        if not isinstance(value, str):
            raise RequestError(f'"{key}" must be a string, not {JSON_TYPES[type(value)]}')
        if key == "name" and not value.strip():
            raise RequestError('"name" must not be empty')
        if len(value) > MAX_FIELD:
            raise RequestError(f'"{key}" is too long: {len(value)} characters, at most {MAX_FIELD}')
    return args


def new_contact(args: dict) -> dict:
    return {"name": args["name"], "email": args.get("email"), "phone": args.get("phone")}


class Book:
    """The contacts by name, shared by all client threads, optionally kept in a file.

    With a file, each change is added at its end as one line of JSON, and is
    on the disk before the client hears "ok": stopping the server, even with
    kill -9, loses no change it confirmed. Adding a line costs the same
    however big the book is, where rewriting the whole file at each change
    would cost more and more. Now and then (and at each start) the file is
    rewritten as just the book, a JSON array; between two rewrites it reads:

        [
          {"name": "Ada", "email": "ada@example.org", "phone": null}
        ]
        {"add": {"name": "Bob", "email": null, "phone": null}}
        {"delete": "Ada"}
    """

    def __init__(self, path: Path | None):
        self.path = path
        # One lock around every use of the book: without it, two clients adding
        # the same name at once could both find it free, and two changes saved
        # at once could reach the file in the other order.
        self.lock = threading.Lock()
        self.contacts: dict[str, dict] = {}
        # How many contacts and changes the file holds; None: unknown (a write
        # failed), so the next change rewrites the file rather than adding to it.
        self.entries: int | None = None
        if path:
            self.contacts = load(path)
            try:
                self.rewrite()  # at each start: also drops a change that a crash cut short
            except OSError as e:
                raise ValueError(f"--data {path}: could not write it ({e})") from None

    def run(self, cmd: str, args: dict) -> tuple[str, object]:
        """Carry out a checked request: (message, data), or RequestError."""
        if cmd == "help":
            return "commands", {name: text for name, (_, text) in COMMANDS.items()}
        with self.lock:
            if cmd == "list":
                return f"{len(self.contacts)} contact(s)", sorted_contacts(self.contacts)
            name = args["name"]
            if cmd == "add":
                if name in self.contacts:
                    raise RequestError(f"a contact named {short(name)} exists already; delete it first")
                contact = new_contact(args)
                self.commit({"add": contact})
                return f"added {short(name)}", contact
            if name not in self.contacts:
                raise RequestError(f"no contact named {short(name)}")
            contact = self.contacts[name]
            if cmd == "delete":
                self.commit({"delete": name})
                return f"deleted {short(name)}", contact
            return f"contact {short(name)}", contact  # get

    def commit(self, change: dict) -> None:
        """Carry out ``change``, saving it first (with --data): if saving fails,
        the book stays as it was. Called with the lock held, so the file gets
        the changes in order."""
        if not self.path:
            apply(self.contacts, change)
            return
        try:
            # Rewrite the file once it holds twice as many entries as the book
            # has contacts (and at least 100): a rewrite then comes after about
            # as many changes as it writes contacts, so that a change costs the
            # same on average, however big the book.
            if self.entries is None or self.entries >= max(2 * len(self.contacts), 100):
                self.rewrite(change)
            else:
                append(self.path, change)
                apply(self.contacts, change)
                self.entries += 1
        except OSError as e:
            self.entries = None  # part of the line may have reached the file
            raise RequestError(f"could not save the contacts ({e}); nothing was changed") from None

    def rewrite(self, change: dict | None = None) -> None:
        """Replace the file with the book (and ``change``): a JSON array, no line after it."""
        changed = dict(self.contacts)
        if change is not None:
            apply(changed, change)
        save(self.path, changed)
        self.contacts, self.entries = changed, len(changed)


def apply(contacts: dict[str, dict], change: object) -> None:
    """Carry out one change, written as in the file: {"add": contact} or {"delete": name}."""
    if isinstance(change, dict) and list(change) == ["add"] and isinstance(change["add"], dict):
        contact = new_contact(check_args("add", change["add"]))
        if contact["name"] in contacts:
            raise RequestError(f"the name {short(contact['name'])} appears twice")
        contacts[contact["name"]] = contact
    elif isinstance(change, dict) and list(change) == ["delete"] and isinstance(change["delete"], str):
        if contacts.pop(change["delete"], None) is None:
            raise RequestError(f"{short(change['delete'])} is deleted, but is not in the book")
    else:
        raise RequestError('expected a change, {"add": contact} or {"delete": name}, '
                           f"not {short(json.dumps(change))}")


def sorted_contacts(contacts: dict[str, dict]) -> list[dict]:
    return [contacts[name] for name in sorted(contacts)]


def load(path: Path) -> dict[str, dict]:
    """The book kept in ``path`` (empty if there is no such file), or ValueError."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        # The array first. json.loads() would refuse the lines after it;
        # raw_decode() reads one JSON value and says where it ends.
        start = len(text) - len(text.lstrip())
        items, end = json.JSONDecoder().raw_decode(text, start)
        if not isinstance(items, list):
            raise RequestError(f"expected a JSON array of contacts, found {JSON_TYPES[type(items)]}")
        contacts = {}
        for item in items:
            if not isinstance(item, dict):
                raise RequestError(f"expected contacts (objects), found {JSON_TYPES[type(item)]}")
            apply(contacts, {"add": item})
        # Then the changes, one per line, each ending with "\n".
        rest, *lines = text[end:].split("\n")
        if rest.strip():
            raise RequestError(f"unexpected {short(rest.strip())} after the array of contacts")
        # After the last "\n": nothing, unless the server stopped (killed, a
        # power cut) while it was writing a change. That change was never
        # confirmed to its client (see append()): drop it, and say so.
        cut_short = lines.pop() if lines else ""
        first = text.count("\n", 0, end) + 2  # the line number of the first change
        for number, line in enumerate(lines, start=first):
            try:
                apply(contacts, json.loads(line))
            except ValueError as e:  # also RequestError
                raise RequestError(f"line {number}: {e}") from None
        if cut_short.strip():
            common.log(f"--data {path}: line {first + len(lines)} is a change cut short, "
                       f"never confirmed: ignored ({short(cut_short)})")
        return contacts
    except (OSError, ValueError, RecursionError) as e:  # RequestError is a ValueError
        raise ValueError(f"--data {path} is not a contacts file: {e}") from None


def append(path: Path, change: dict) -> None:
    # json.dumps() writes every "\n" inside a string as the two characters
    # "\\n": the change is one line. Mode "a": each write goes to the end.
    with path.open("ab") as file:
        file.write(json.dumps(change).encode() + b"\n")
        file.flush()  # from Python's buffer to the operating system...
        os.fsync(file.fileno())  # ...and from its cache to the disk, before the client hears "ok"


def save(path: Path, contacts: dict[str, dict]) -> None:
    # Write a temporary file, then rename it over the old one: os.replace() is
    # atomic, so whoever reads the file (or a restart after a crash) sees the
    # old book or the new one, never half of one. The temporary file is in the
    # same folder because a rename cannot move a file to another disk.
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("w", encoding="utf-8") as file:
            json.dump(sorted_contacts(contacts), file, indent=2)
            file.write("\n")
            file.flush()  # from Python's buffer to the operating system...
            os.fsync(file.fileno())  # ...and from its cache to the disk, before the rename
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # still there only if something failed


def response(status: bool, msg: str, data: object = None) -> bytes:
    # json.dumps escapes non-ASCII characters (\u00e9): the line is plain ASCII
    # (so valid UTF-8) and contains no raw "\n" that would end it early.
    return json.dumps({"status": status, "msg": msg, "data": data}).encode() + b"\n"


class ContactsHandler(socketserver.BaseRequestHandler):
    """Serves one client connection (``self.request`` is its socket)."""

    def setup(self) -> None:
        # Without a deadline, a client that connects and sends nothing, or a
        # byte now and then, would hold its thread forever. The reader gives
        # each request the idle timeout, in all; self.rfile reads through it
        # with a buffer, as the file of socket.makefile("rb") would.
        self.reader = common.RequestReader(self.request, self.server.idle_timeout)
        self.rfile = io.BufferedReader(self.reader)

    def handle(self) -> None:
        client = common.peer(self.client_address)
        try:
            self.serve_requests(client)
        except TimeoutError:  # no whole request in time (or the answer could not be sent)
            msg = (f"no complete request within {self.server.idle_timeout:g} s: closing the connection "
                   '(each request must end with a newline "\\n")')
            common.log(f"{client} {msg}")
            with contextlib.suppress(OSError):
                self.request.sendall(response(False, msg))
        except ConnectionError:  # reset or broken pipe: the client vanished
            common.log(f"{client} connection lost")

    def serve_requests(self, client: str) -> None:
        while True:
            self.reader.start()  # the clock of the next request starts
            # recv() returns whatever has arrived: part of a line, or two lines.
            # readline() on the buffered rfile calls recv() until the "\n",
            # keeping any extra bytes for the next call, and reads at most
            # MAX_LINE + 1 bytes, so a client cannot fill our memory.
            line = self.rfile.readline(MAX_LINE + 1)
            if not line:  # b"": the client closed the connection between requests
                return
            if line.endswith(b"\n"):
                self.answer(client, line)
            elif len(line) > MAX_LINE:
                # The rest of the line is still coming and we cannot tell where
                # the next request starts (framing is lost): answer, then close.
                self.reply(client, "?", False, f"request line longer than {MAX_LINE // 2**20} MiB: closing the "
                           "connection, as the rest of the line cannot be told apart from the next request")
                self.discard_input()
                return
            else:  # end of file before the "\n": the client left mid-request
                common.log(f"{client} closed in the middle of a request ({len(line)} bytes, no newline): ignored")
                self.request.sendall(response(False, 'request not ended by a newline "\\n": ignored'))
                return

    def answer(self, client: str, line: bytes) -> None:
        cmd = "?"
        try:
            cmd, args = parse(line)
            self.reply(client, cmd, True, *self.server.book.run(cmd, check_args(cmd, args)))
        except RequestError as e:
            self.reply(client, cmd, False, str(e))

    def reply(self, client: str, cmd: str, status: bool, msg: str, data: object = None) -> None:
        common.log(f"{client} {cmd} -> {'ok' if status else 'error: ' + msg}")
        # send() may send only part; sendall() loops. The server's faults, if any, apply here.
        self.server.faults.sendall(self.request, response(status, msg, data), f"{cmd} from {client}")

    def discard_input(self) -> None:
        # Closing a socket while the client is still sending makes the system
        # send a reset (RST) instead of a normal end; the client may then lose
        # our error response before reading it. So: end our side, and read and
        # drop what still comes for a few seconds, before closing.
        deadline = time.monotonic() + 5
        try:
            self.request.shutdown(socket.SHUT_WR)  # the client reads our reply, then end of file
            self.request.settimeout(1)
            while time.monotonic() < deadline and self.request.recv(65536):
                pass
        except OSError:  # timeout or reset: done either way
            pass


class ContactsServer(common.SandboxServer, socketserver.ThreadingTCPServer):
    """Listens on ``address`` and serves each client with a ContactsHandler, in a thread of its own."""

    def __init__(self, address: tuple[str, int], book: Book, idle_timeout: float,
                 max_connections: int = common.DEFAULT_MAX_CONNECTIONS, fault_plan: faults.FaultPlan = faults.NO_FAULTS):
        super().__init__(address, ContactsHandler, max_connections)
        self.book = book  # one book, shared by every client's thread
        self.idle_timeout = idle_timeout  # seconds; read by each ContactsHandler
        self.faults = fault_plan

    def refusal(self, message: str) -> bytes:
        """A client beyond --max-connections gets an error line of the protocol."""
        return response(False, message)


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument(
        "--data", type=Path, metavar="FILE",
        help="keep the contacts in this file (JSON), loaded at start; each change is written to it "
        "before it is confirmed (default: in memory only, lost when the server stops)",
    )
    common.add_idle_timeout(parser, default=300)
    common.add_max_connections(parser)
    faults.add_faults(parser, faults.TCP)
    args = common.parse_args(parser, argv)
    fault_plan = faults.from_args(parser, args)
    if args.data and not args.data.parent.is_dir():
        parser.error(f"--data {args.data}: the folder {args.data.parent} does not exist")
    try:
        book = Book(args.data)
    except ValueError as e:  # never start (and later overwrite the file) with a book we could not read
        parser.error(f"{e}\nFix or move that file; it was left unchanged.")
    server = ContactsServer((args.host, args.port), book, idle_timeout=args.idle_timeout,
                            max_connections=args.max_connections, fault_plan=fault_plan)
    common.serve(NAME, server, "tcp")


if __name__ == "__main__":
    main()
