"""TCP echo server: sends back every byte it receives, until the client closes.

    python -m sandbox echo [--host H] [--port P] [--idle-timeout S] [--max-connections N]
                           [--certfile PEM --keyfile PEM] [faults: --latency T --reset F --cut F --slow B --seed N]

Each client is served by its own thread (socketserver.ThreadingTCPServer), so a
slow or silent client never blocks the others; at most N at once (the next
one is told that the server is busy, in one line of text, and closed).
With --certfile and --keyfile it speaks TLS instead (sandbox/tls.py): the same
bytes come back, encrypted on the wire. The fault options (sandbox/faults.py)
make it fail on purpose: each piece it sends back is an answer to delay,
reset, cut or slow down.
"""

from __future__ import annotations

import socketserver
import ssl

from . import common, faults, tls

NAME = "echo"
DESCRIPTION = "TCP echo server: sends back every byte it receives, until the client closes."
LIMITS = f"""limits:
  bytes per recv()   64 KiB (longer messages simply arrive in several pieces)
  idle timeout       --idle-timeout seconds without data, then the connection is closed;
                     counted from the last data: echo has no requests with a deadline
  connections        --max-connections at once (default {common.DEFAULT_MAX_CONNECTIONS}); one more is
                     told "server busy" and closed
  TLS handshake      with --certfile: within {tls.HANDSHAKE_SECONDS} s of connecting (or --idle-timeout, if
                     shorter), in the client's own thread; a client that fails it (plain TCP,
                     garbage, a CA it does not trust) is closed with one log line, and the
                     others are served as before
"""
EXPOSED = ('anyone who reaches the port can connect. It keeps nothing and sends each client only what '
           'that client sent.')


class EchoHandler(socketserver.BaseRequestHandler):
    """Serves one client connection (``self.request`` is its socket)."""

    def handle(self) -> None:
        client = common.peer(self.client_address)
        # Without a timeout, a client that connects and sends nothing would
        # hold its thread forever. Echo has no requests to finish by a
        # deadline: a client that sends a byte now and then is using it as
        # meant, and may keep its connection; --max-connections bounds how
        # many such clients hold a thread.
        self.request.settimeout(self.server.idle_timeout)
        echoed = 0
        ending = "closed"
        try:
            while True:
                # recv() returns what has arrived so far, at most 64 KiB: one
                # send() by the client may arrive in several pieces, or two in one.
                chunk = self.request.recv(65536)
                if not chunk:  # b"": the client closed its side (or shut down writing)
                    break
                # send() may send only part of the buffer; sendall() loops until all is sent.
                # (The server's faults, if any, apply here: see sandbox/faults.py.)
                self.server.faults.sendall(self.request, chunk, f"{len(chunk)} bytes from {client}")
                echoed += len(chunk)
        except TimeoutError:
            ending = f"idle for {self.server.idle_timeout:g} s, closed by server"
        except (ConnectionError, ssl.SSLError):  # reset, broken pipe, broken TLS: the client vanished
            ending = "connection lost"
        common.log(f"{client} echoed {echoed} bytes, {ending}")


class EchoServer(tls.TLSMixin, common.SandboxServer, socketserver.ThreadingTCPServer):
    """Listens on ``address`` and serves each client with an EchoHandler, in a thread of its own
    (over TLS, after a handshake in that thread, when ``tls_context`` is given)."""

    def __init__(self, address: tuple[str, int], idle_timeout: float,
                 max_connections: int = common.DEFAULT_MAX_CONNECTIONS, tls_context: ssl.SSLContext | None = None,
                 fault_plan: faults.FaultPlan = faults.NO_FAULTS):
        super().__init__(address, EchoHandler, max_connections)
        self.idle_timeout = idle_timeout  # seconds; read by each EchoHandler
        self.faults = fault_plan
        self.tls_context = tls_context
        self.handshake_seconds = min(tls.HANDSHAKE_SECONDS, idle_timeout)  # a silent client, before TLS too


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    common.add_idle_timeout(parser, default=300)
    common.add_max_connections(parser)
    tls.add_options(parser)
    faults.add_faults(parser, faults.TCP)
    args = common.parse_args(parser, argv)
    context = tls.server_context(parser, args)
    server = EchoServer((args.host, args.port), idle_timeout=args.idle_timeout, max_connections=args.max_connections,
                        tls_context=context, fault_plan=faults.from_args(parser, args))
    common.serve(NAME, server, "tls" if context else "tcp")


if __name__ == "__main__":
    main()
