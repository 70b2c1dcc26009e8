"""TCP tap: a proxy that passes every byte on, both ways, and records what it saw.

    python -m sandbox tap --target HOST:PORT [--record FILE] [--host H] [--port P]

Put it between a client and a server: the client connects to the tap instead
of the server, the tap connects to the server (the target), and from then on
forwards what each side sends to the other, unchanged, as soon as it arrives.
It sends no byte of its own, and it mirrors how each side ends: a half-close
(shutdown of writing, a FIN) stays a half-close, a reset stays a reset.

Before it forwards anything, the tap writes one line of JSON to FILE for it:
a connection opening, a chunk of data (its size and its first bytes), a FIN, a
reset, an error of the tap's own (the target refused, say), the connection's
close with its exact totals. Whatever a client has received has therefore been
recorded already. A chunk is what one recv() returned: TCP carries a stream,
so a chunk can hold several of the sender's send() calls, or part of one.

From a notebook, ``launch("tap", target=srv)`` gives the tap a temporary
record file, and its handle reads it (``tap.exchanges()``, ``tap.show()``:
see ``sandbox/wire.py``).
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import socketserver
import struct
import threading
import time

from . import common

NAME = "tap"
DESCRIPTION = "TCP tap: forwards bytes both ways unchanged, and records each chunk, FIN and reset."
CHUNK = 65536  # bytes per recv(): also the most one direction holds while the other side is slow to read
CONNECT_SECONDS = 5.0  # how long to wait for the target to accept a connection
# select() on Linux and macOS handles file descriptors below 1024 only: two per connection.
MOST_CONNECTIONS = 400
LIMITS = f"""limits:
  bytes per recv()   {CHUNK // 1024} KiB; at most one such chunk per direction waits in the tap: it reads
                     from a side only once the other side has taken the last chunk (back-pressure)
  record             per chunk its size (exact) and its first --preview bytes (default 64); at most
                     --keep-chunks chunks per connection (default 200) and --keep-in-all in all
                     (default 10000); the counts of chunks and bytes at each close stay exact
  connect            {CONNECT_SECONDS:g} s for the target to accept; if it refuses, the client is reset
  idle timeout       --idle-timeout seconds with no byte either way (default 3600), then both
                     sides are reset
  connections        --max-connections at once (default {common.DEFAULT_MAX_CONNECTIONS}, at most {MOST_CONNECTIONS}); one more
                     is closed at once (the tap sends no byte of its own)
"""
EXPOSED = ("anyone who reaches the port reaches the target through it, even a target that listens on this "
           "machine only; the record holds the first bytes of whatever passes, passwords included.")

CLIENT_TO_SERVER, SERVER_TO_CLIENT = "c>s", "s>c"


def target_address(text: str) -> tuple[str, str, int]:
    """argparse type: ``[SCHEME://]HOST:PORT`` (``[::1]:8000`` for IPv6) -> (scheme, host, port)."""
    scheme, _, rest = text.rpartition("://")
    host, _, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (for instance 127.0.0.1:8000)")
    return scheme or "tcp", host, int(port)


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (RST) instead of a normal end (FIN), as a program that closes with data unread does."""
    try:
        # SO_LINGER on, for 0 seconds: close() drops what is unsent and sends a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # the socket is already gone
    sock.close()


class Connection:
    """What the tap counts for one connection: exact, even for chunks it does not record."""

    def __init__(self, number: int, client: str):
        self.number = number
        self.client = client
        self.bytes = {CLIENT_TO_SERVER: 0, SERVER_TO_CLIENT: 0}
        self.chunks = {CLIENT_TO_SERVER: 0, SERVER_TO_CLIENT: 0}
        self.kept = 0  # chunks written to the record


class Recorder:
    """Writes each event to the record file as one line of JSON, flushed at once.

    The notebook reads the file while the tap writes it, and reads complete
    lines only. Times are milliseconds since the tap's first connection.
    """

    def __init__(self, path: str | None, preview: int, keep_chunks: int, keep_in_all: int):
        self.file = open(path, "w", encoding="utf-8", newline="\n") if path else None  # a new record each run
        self.preview = preview
        self.keep_chunks = keep_chunks
        self.kept_in_all, self.keep_in_all = 0, keep_in_all
        self.connections = 0
        self.started: float | None = None
        self.lock = threading.Lock()  # connection threads write at once: one line at a time

    def write(self, conn: Connection, kind: str, **fields) -> None:
        with self.lock:
            now = time.monotonic()
            if self.started is None:
                self.started = now
            if not self.file:
                return
            event = {"conn": conn.number, "t_ms": round((now - self.started) * 1000, 3), "kind": kind, **fields}
            try:
                self.file.write(json.dumps(event) + "\n")
                self.file.flush()  # in the file before the bytes go on: see the module's docstring
            except OSError as error:  # a full disk, say: go on forwarding, without a record
                common.log(f"cannot write the record ({error}): recording stops, forwarding goes on")
                self.file = None

    def open(self, client_address) -> Connection:
        with self.lock:
            self.connections += 1
            conn = Connection(self.connections, common.peer(client_address))
        self.write(conn, "open", peer=conn.client)
        return conn

    def chunk(self, conn: Connection, direction: str, data: bytes) -> None:
        conn.bytes[direction] += len(data)
        conn.chunks[direction] += 1
        with self.lock:  # the cap in all is shared by every connection's thread
            keep = conn.kept < self.keep_chunks and self.kept_in_all < self.keep_in_all
            if keep:
                conn.kept += 1
                self.kept_in_all += 1
        if keep:
            # latin-1 turns each byte into one character, so that any bytes fit in
            # JSON, and the file shows text as text; wire.py turns it back to bytes.
            self.write(conn, "data", direction=direction, size=len(data),
                       preview=data[:self.preview].decode("latin-1"))

    def close(self, conn: Connection) -> None:
        self.write(conn, "close", bytes=conn.bytes, chunks=conn.chunks)


class TapHandler(socketserver.BaseRequestHandler):
    """Relays one client connection (``self.request``) to the target, and records it."""

    def handle(self) -> None:
        recorder = self.server.recorder
        _, host, port = self.server.target
        conn = recorder.open(self.client_address)
        try:
            ending = self.connect_and_relay(conn, self.request, (host, port))
        except Exception as error:  # a bug of ours: record it too, so that the record stays complete
            recorder.write(conn, "error", reason=f"tap failed: {error!r}")
            reset(self.request)
            ending = f"tap failed: {error!r}"
        finally:
            recorder.close(conn)  # always, and before the log line: launch()'s handle waits for both
        up, down = conn.bytes[CLIENT_TO_SERVER], conn.bytes[SERVER_TO_CLIENT]
        common.log(f"{conn.client} #{conn.number}: {up} bytes to {common.host_port(host, port)}, {down} back, {ending}")

    def connect_and_relay(self, conn: Connection, client: socket.socket, target: tuple[str, int]) -> str:
        try:
            server = socket.create_connection(target, timeout=CONNECT_SECONDS)
        except OSError as error:
            # The client's connection is already open (the operating system accepted
            # it for the tap). The nearest thing to "refused" it can get now is a reset.
            reason = f"the target {common.host_port(*target)} did not accept the connection ({error}): client reset"
            self.server.recorder.write(conn, "error", reason=reason)
            reset(client)
            return reason
        with server:
            return self.relay(conn, client, server)

    def relay(self, conn: Connection, client: socket.socket, server: socket.socket) -> str:
        """Forward bytes both ways until both sides have ended; say how it ended.

        One thread, and select() to wait for whichever side is ready: the thread
        then owns both sockets, and can reset one at once when the other resets.
        """
        recorder = self.server.recorder
        other = {client: server, server: client}
        direction = {client: CLIENT_TO_SERVER, server: SERVER_TO_CLIENT}  # of the bytes each one sends
        unsent = {client: b"", server: b""}  # read from a socket, not yet all passed on
        sending = {client, server}  # the sides that have not ended (no FIN from them yet)
        for sock in (client, server):
            sock.setblocking(False)  # select() says when to call; send() then takes what fits
            # No waiting to gather small writes (Nagle's algorithm): a chunk goes on as it came.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def ended_by(sock: socket.socket, how: str) -> str:
            """``sock``'s side reset (or vanished): record it, and reset the other side too."""
            recorder.write(conn, "reset", direction=direction[sock])
            reset(other[sock])
            return f"reset by the {'client' if sock is client else 'server'} ({how}), other side reset"

        while sending or unsent[client] or unsent[server]:
            # Back-pressure: read from a side only once its last chunk is passed on,
            # so a slow reader slows its sender down, as it would without the tap.
            readers = [sock for sock in sending if not unsent[sock]]
            writers = [other[sock] for sock in (client, server) if unsent[sock]]
            readable, writable, _ = select.select(readers, writers, [], self.server.idle_timeout)
            if not readable and not writable:
                reason = f"idle for {self.server.idle_timeout:g} s: the tap reset both sides"
                recorder.write(conn, "error", reason=reason)
                reset(client)
                reset(server)
                return reason
            for sock in writable:
                source = other[sock]
                try:
                    sent = sock.send(unsent[source])  # as much as fits now; the rest on the next turn
                except ConnectionError as error:
                    return ended_by(sock, type(error).__name__)
                unsent[source] = unsent[source][sent:]
            for sock in readable:
                try:
                    data = sock.recv(CHUNK)
                except ConnectionError as error:
                    return ended_by(sock, type(error).__name__)
                if data:
                    recorder.chunk(conn, direction[sock], data)  # recorded first, then passed on
                    unsent[sock] = data
                    continue
                # b"": this side shut down writing (a FIN). Pass the half-close on as
                # a half-close: the other side may still send, and we still forward it.
                recorder.write(conn, "fin", direction=direction[sock])
                sending.discard(sock)
                try:
                    other[sock].shutdown(socket.SHUT_WR)
                except OSError as error:  # the other side is gone already
                    return ended_by(other[sock], type(error).__name__)
        return "closed"


class TapServer(common.SandboxServer, socketserver.ThreadingTCPServer):
    """Listens on ``address``; each client is relayed to ``target`` by a TapHandler, in a thread of its own."""

    def __init__(self, address, target, recorder: Recorder, idle_timeout: float,
                 max_connections: int = common.DEFAULT_MAX_CONNECTIONS):
        super().__init__(address, TapHandler, max_connections)
        self.target = target  # (scheme, host, port)
        self.recorder = recorder
        self.idle_timeout = idle_timeout

    def refuse(self, request, client_address) -> None:
        """A client beyond --max-connections: recorded, then closed (common.SandboxServer.refuse)."""
        conn = self.recorder.open(client_address)
        self.recorder.write(conn, "error", reason=f"the tap already relays {self.max_connections} "
                            "connection(s), its limit (--max-connections): client closed")
        self.recorder.close(conn)
        super().refuse(request, client_address)

    def refusal(self, message: str) -> bytes:
        return b""  # the tap adds no byte of its own to a conversation


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument("--target", required=True, type=target_address, metavar="HOST:PORT",
                        help="the server to forward to; a URL's scheme (http://HOST:PORT) is kept in the "
                        "tap's own URL")
    parser.add_argument("--record", metavar="FILE",
                        help="write each event to FILE (emptied first), one line of JSON each (launch() gives a tap "
                        "a temporary file); without it, the tap only logs one line per connection")
    parser.add_argument("--preview", type=common.positive_integer, default=64, metavar="BYTES",
                        help="record the first BYTES of each chunk (default: 64)")
    parser.add_argument("--keep-chunks", type=common.positive_integer, default=200, metavar="N",
                        help="record at most N chunks per connection (default: 200)")
    parser.add_argument("--keep-in-all", type=common.positive_integer, default=10000, metavar="N",
                        help="record at most N chunks in all (default: 10000)")
    common.add_idle_timeout(parser, default=3600)
    common.add_max_connections(parser)
    args = common.parse_args(parser, argv)
    if args.max_connections > MOST_CONNECTIONS:
        parser.error(f"--max-connections: at most {MOST_CONNECTIONS} (select() handles 1024 sockets)")
    recorder = Recorder(args.record, args.preview, args.keep_chunks, args.keep_in_all)
    server = TapServer((args.host, args.port), args.target, recorder, args.idle_timeout, args.max_connections)
    common.serve(NAME, server, args.target[0])


if __name__ == "__main__":
    main()
