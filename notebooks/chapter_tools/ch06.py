"""Chapter 06 (servers): an asyncio server that a thread can run like a ``socketserver``.

The chapter starts its three servers the same way, with its own ``serve_in_thread()``,
which calls ``serve_forever()`` in a background thread, and later ``shutdown()`` then
``server_close()`` from the notebook's thread. ``AsyncioServer`` gives an
``asyncio.start_server()`` those methods, so the event loop version starts like the other two::

    serve_in_thread("asyncio", AsyncioServer(("127.0.0.1", 0), shout))

The plumbing: the notebook's own thread already runs an event loop (the kernel's), so this
server runs a second one, in the thread that calls ``serve_forever()``.
"""

from __future__ import annotations

import asyncio
import socket
import threading


class AsyncioServer:
    """``asyncio.start_server(handler)`` on ``address``, with socketserver's methods.

    As with ``socketserver``, creating it binds and listens at once: clients may connect
    (the backlog queues them) before ``serve_forever()`` runs.
    """

    def __init__(self, address, handler, backlog=128):
        self.socket = socket.create_server(address, backlog=backlog)  # bind + listen, now
        self.server_address = self.socket.getsockname()
        self.handler = handler  # a coroutine function: handler(reader, writer)
        self.backlog = backlog
        self.loop = asyncio.new_event_loop()  # this server's own loop
        self._stopping = asyncio.Event()  # set in the loop by shutdown()
        self._stopped = threading.Event()  # set once serve_forever() has returned

    async def _serve(self):
        server = await asyncio.start_server(self.handler, sock=self.socket, backlog=self.backlog)
        await self._stopping.wait()
        server.close()  # closes the listening socket; clients already served keep theirs

    def serve_forever(self):
        """Run the event loop in this thread, serving clients until shutdown()."""
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self._stopped.set()

    def shutdown(self):
        """From another thread: ask serve_forever() to return, and wait until it has."""
        self.loop.call_soon_threadsafe(self._stopping.set)  # the loop's thread sets it
        self._stopped.wait(timeout=5)

    def server_close(self):
        """After shutdown(): release the listening socket and the event loop."""
        self.socket.close()  # already closed by the server, unless it never ran
        self.loop.close()
