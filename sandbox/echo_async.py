"""TCP echo server on one asyncio event loop: sends back every byte it receives (chapter 12).

    python -m sandbox echo-async [--host H] [--port P] [--idle-timeout S] [--max-connections N]

The same service as echo.py, which gives each client a thread of its own. Here one
thread serves every client: asyncio.start_server() calls handle() once per
connection, as a coroutine, and each `await` lets the event loop run the others
while this one waits for its client. A thousand idle clients cost a thousand
small coroutines, not a thousand threads.
"""

from __future__ import annotations

import asyncio
import socket

from . import common

NAME = "echo-async"
DESCRIPTION = "TCP echo server on one asyncio event loop: sends back every byte it receives."
LIMITS = f"""limits:
  bytes per read     64 KiB (longer messages simply arrive in several pieces)
  idle timeout       --idle-timeout seconds without data, then the connection is closed
  connections        --max-connections at once (default {common.DEFAULT_MAX_CONNECTIONS}); one more is
                     told "server busy" and closed
  one event loop     every client shares one thread, which never blocks: each wait is an await
"""
EXPOSED = ('anyone who reaches the port can connect. It keeps nothing and sends each client only what '
           'that client sent.')


class EchoServer:
    def __init__(self, idle_timeout: float, max_connections: int):
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections = 0  # one thread changes it: no lock needed

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serves one client; runs as a task of its own, beside every other client's."""
        client = common.peer(writer.get_extra_info("peername"))
        if self.connections >= self.max_connections:
            writer.write(f"server busy: it already serves {self.max_connections} connection(s), "
                         "its limit; try again in a moment\n".encode())
            common.log(f"{client} refused: already serving {self.max_connections} connection(s)")
            await self.close(writer)
            return
        self.connections += 1
        echoed, ending = 0, "closed"
        try:
            while True:
                # read() returns what has arrived, at most 64 KiB, like recv(); b"" at end of file.
                # wait_for() bounds the wait: without it, a silent client would stay forever.
                chunk = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                if not chunk:
                    break
                writer.write(chunk)   # into the transport's buffer: never blocks...
                await writer.drain()  # ...so wait here while the buffer is full (a slow reader)
                echoed += len(chunk)
        except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
            ending = f"idle for {self.idle_timeout:g} s, closed by server"
        except ConnectionError:
            ending = "connection lost"
        finally:
            self.connections -= 1
        common.log(f"{client} echoed {echoed} bytes, {ending}")
        await self.close(writer)

    @staticmethod
    async def close(writer: asyncio.StreamWriter) -> None:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass

    async def serve(self, listener: socket.socket) -> None:
        server = await asyncio.start_server(self.handle, sock=listener)
        async with server:
            await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    common.add_idle_timeout(parser, default=300)
    parser.add_argument("--max-connections", type=common.positive_integer, default=common.DEFAULT_MAX_CONNECTIONS,
                        metavar="N", help="serve at most N connections at once, all on one event loop; a client "
                        f"beyond them is told that the server is busy, and closed (default: {common.DEFAULT_MAX_CONNECTIONS})")
    args = common.parse_args(parser, argv)
    common.allow_open_files()  # each connection is an open file: a thousand need more than Linux's 1024
    # Bound and listening before the announcement, like every sandbox server.
    listener = socket.create_server((args.host, args.port), family=common.family_of(args.host), backlog=128)
    host, port = listener.getsockname()[:2]
    try:
        common.announce(NAME, "tcp", host, port)
        asyncio.run(EchoServer(args.idle_timeout, args.max_connections).serve(listener))
    except KeyboardInterrupt:  # Ctrl-C, or standard input closed (--watch-parent)
        pass
    finally:
        listener.close()
        print(f"{NAME} stopped", flush=True)


if __name__ == "__main__":
    main()
