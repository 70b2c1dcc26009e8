"""What every sandbox server shares: command-line options, binding, the
"listening on" announcement, one-line logs, and a clean stop.

Read a server module first (``echo.py`` is the shortest); come here when it
calls one of these helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import ipaddress
import os
import signal
import socket
import sys
import textwrap
import threading
import time
import _thread

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def make_parser(name: str, description: str, limits: str = "", exposed: str = "") -> argparse.ArgumentParser:
    """An argument parser with the options every server understands. ``limits``
    and ``exposed`` (what the server shows to whoever reaches it, once --host
    makes it reachable from the network) end its --help."""
    if exposed:
        lines = textwrap.wrap(exposed, width=76, initial_indent="  ", subsequent_indent="  ")
        limits = f"{limits}\non a network (--host 0.0.0.0):\n" + "\n".join(lines) + "\n"
    parser = argparse.ArgumentParser(
        prog=f"python -m sandbox {name}",
        description=description,
        epilog=limits,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 makes the server reachable from the network)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=0,
        help="port to listen on (default: 0, the operating system picks a free one)",
    )
    parser.add_argument(
        "--watch-parent",
        action="store_true",
        help="stop when standard input closes; sandbox.launch() uses this so that "
        "a server never outlives the notebook that started it",
    )
    return parser


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 to 65535 (0: the operating system picks)."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def positive_integer(text: str) -> int:
    """argparse type: a whole number, 1 or more."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is less than 1")
    return number


def positive_seconds(text: str) -> float:
    """argparse type: a duration in seconds, more than 0 (0 would make sockets non-blocking)."""
    seconds = float(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return seconds


def add_idle_timeout(parser: argparse.ArgumentParser, default: float) -> None:
    """The --idle-timeout option: without a timeout, a client that connects and
    sends nothing would hold its thread (and socket) forever."""
    parser.add_argument(
        "--idle-timeout", type=positive_seconds, default=default, metavar="SECONDS",
        help=f"close a connection that sends nothing for this many seconds (default: {default:g})",
    )


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None):
    args = parser.parse_args(argv)
    if args.watch_parent:
        watch_parent()
    return args


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume it may be reachable from outside
        return False


def family_of(host: str) -> socket.AddressFamily:
    """IPv6 addresses contain a colon; everything else is served over IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# Connections a SandboxServer serves at once. 200 covers a class: 30 students
# with a few connections open each (a browser opens up to 6 per server), and a
# load test of 50 clients or so, while 200 threads stay cheap. A server that
# buffers each client's unfinished request holds at most this many buffers:
# its LIMITS say how much memory that comes to.
DEFAULT_MAX_CONNECTIONS = 200


class SandboxServer:
    """What every sandbox ``socketserver`` server shares. Put it first among the
    bases, so that its settings win over the defaults of the ones after it::

        class EchoServer(common.SandboxServer, socketserver.ThreadingTCPServer): ...

    The constructor binds and listens at once. Port 0 asks the operating system
    for a free port, so two servers (or two students on one machine) never
    collide; the real port is then in ``server.server_address[1]``.

    Each connection is served by a thread of its own, and at most
    ``max_connections`` at once: without a limit, a thousand idle clients
    would be a thousand threads (and their buffers). A client beyond it gets
    ``refusal()``, a short answer in the server's own protocol saying that the
    server is busy, and is closed; the others are served as before.
    """

    # Class attributes: the constructor reads the first and the last as it
    # binds and listens, so setting them on a server afterwards does nothing.

    # SO_REUSEADDR lets a restarted server bind its port again at once on
    # Linux and macOS (old connections may linger in TIME_WAIT). On Windows
    # the same flag lets a second program steal a port in use, so we leave
    # it off there, as socket.create_server() does.
    allow_reuse_address = os.name != "nt"
    # A thread per client that does not keep the process alive on Ctrl-C.
    daemon_threads = True
    # Connections the OS queues until accept() takes them (listen backlog).
    # socketserver's default of 5 makes a burst of clients (a whole class
    # at once) wait for the OS to retry their connection, a second or more.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self.address_family = family_of(address[0])  # IPv4 or IPv6: the socket is created below
        self.max_connections = max_connections
        # One slot per connection being served: taken when its thread starts,
        # given back when the thread ends. A semaphore is a counter that the
        # accepting thread and the client threads can share safely.
        self.free_slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address) -> None:
        """serve_forever() calls this for each connection it accepts: serve it
        in a new thread, or refuse it if ``max_connections`` are being served."""
        if not self.free_slots.acquire(blocking=False):  # no slot free: do not wait for one
            self.refuse(request, client_address)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except Exception:  # no thread could start (RuntimeError): this connection takes no slot
            self.free_slots.release()
            raise
        # Not on KeyboardInterrupt (the server is stopping): it may arrive while start() waits
        # for a thread that is already running, and that thread gives its slot back itself.

    def process_request_thread(self, request: socket.socket, client_address) -> None:
        """The body of each connection's thread: serve the client, close, give the slot back."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.free_slots.release()

    def refuse(self, request: socket.socket, client_address) -> None:
        """Tell a client beyond the limit why, then close its connection."""
        log(f"{peer(client_address)} refused: already serving {self.max_connections} connection(s), "
            "the limit (--max-connections)")
        message = (f"server busy: it already serves {self.max_connections} connection(s), its limit; "
                   "try again in a moment")
        # This runs in the thread that accepts every connection: it must never
        # wait for this client. A new connection's send buffer is empty, so
        # the short answer fits at once; non-blocking, a failure (the client
        # is gone already) raises at once instead of waiting.
        request.setblocking(False)
        with contextlib.suppress(OSError):
            request.sendall(self.refusal(message))
            # Closing a socket whose received data was not read makes the
            # system send a reset instead of a normal end, and the client may
            # then lose our answer: read (and drop) what it has sent so far.
            request.recv(65536)
        self.shutdown_request(request)  # ends our side (the client reads end of file), then closes

    def refusal(self, message: str) -> bytes:
        """What a client beyond ``max_connections`` receives: here one line of
        text; a server whose clients expect something else overrides this."""
        return message.encode() + b"\n"


def add_max_connections(parser: argparse.ArgumentParser) -> None:
    """The --max-connections option of a SandboxServer."""
    parser.add_argument(
        "--max-connections", type=positive_integer, default=DEFAULT_MAX_CONNECTIONS, metavar="N",
        help="serve at most N connections at once, each in a thread of its own; a client beyond "
        f"them is told that the server is busy, and closed (default: {DEFAULT_MAX_CONNECTIONS})",
    )


class RequestReader(io.RawIOBase):
    """Reads a client's socket with one deadline for each whole request.

    A socket's timeout (``settimeout``) counts from each recv(): a client that
    sends a byte every few seconds never reaches it, and can hold its thread,
    and its unfinished request's bytes, for as long as it likes. Here each
    recv() may wait only for what is left of the request's time. Read it
    through a buffer, as the file of ``socket.makefile("rb")``::

        reader = common.RequestReader(sock, seconds=60)
        rfile = io.BufferedReader(reader)  # readline() calls recv() until "\\n"
        reader.start()  # before each request: the clock starts now
        line = rfile.readline(LIMIT)  # TimeoutError after 60 s in all

    Between two recv() the socket's timeout goes back to ``seconds``, for
    sending the answer.
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        super().__init__()
        self.sock = sock
        self.seconds = seconds
        self.start()

    def start(self) -> None:
        """The next request must arrive whole within ``seconds`` from now."""
        self.deadline = time.monotonic() + self.seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        """Called by the buffer when it needs more bytes: one recv() into it."""
        left = self.deadline - time.monotonic()
        if left > 0:  # (settimeout(0) would not wait at all: it makes the socket non-blocking)
            self.sock.settimeout(left)
            try:
                return self.sock.recv_into(buffer)
            except TimeoutError:
                pass  # the deadline passed during this recv()
            finally:
                self.sock.settimeout(self.seconds)
        raise TimeoutError(f"no complete request within {self.seconds:g} s")


def host_port(host: str, port: int) -> str:
    """``host:port`` as it is written in a URL or a bind address: ``[::1]:8000`` for IPv6."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}"


def url_of(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{host_port(host, port)}"


def announce(name: str, scheme: str, host: str, port: int) -> None:
    """Print the first line, which sandbox.launch() waits for.

    It is printed only once the socket listens: from then on the operating
    system queues incoming connections, so a client can connect at once.
    """
    print(f"{name} listening on {url_of(scheme, host, port)}", flush=True)
    if not is_loopback(host):
        print(
            f"WARNING: {name} listens on {host}: it is now reachable from the network. "
            "Anyone who can reach this machine can use it; stop it with Ctrl-C when the class is over.",
            file=sys.stderr,
            flush=True,
        )


_log_lock = threading.Lock()


def log(message: str) -> None:
    """One short line per request, with the time, flushed at once.

    Clients are served by several threads at once; the lock keeps their
    lines whole (print() writes the text and the newline separately).
    A message may quote a client's text, which can hold characters the log
    cannot encode (a lone surrogate such as "\\ud800", sent in JSON): those
    are written as escapes rather than failing the request that logs them.
    """
    line = f"{time.strftime('%H:%M:%S')} {message}\n"
    with _log_lock:
        try:
            sys.stdout.write(line)
        except UnicodeEncodeError:
            encoding = sys.stdout.encoding or "utf-8"
            sys.stdout.write(line.encode(encoding, "backslashreplace").decode(encoding))
        sys.stdout.flush()


def peer(address) -> str:
    host, port = address[:2]
    return host_port(host, port)


def serve(name: str, server, scheme: str) -> None:
    """Announce a bound ``socketserver`` server and serve until Ctrl-C."""
    host, port = server.server_address[:2]
    try:
        announce(name, scheme, host, port)  # inside try: Ctrl-C may come at once
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(f"{name} stopped", flush=True)


# How waitress serves a class: the defaults of every waitress server here (a
# server may add to them, e.g. max_request_body_size). Waitress's own defaults
# suit one site behind a proxy; a class is 200 laptops whose browsers each
# keep a few idle keep-alive connections open.
WAITRESS_OPTIONS = {
    # Connections held at once; beyond it waitress stops accepting, and a new
    # client waits (its connection queues in the backlog) until one closes.
    # Waitress's default of 100 lets 100 idle browsers lock everyone else out.
    # 500 on Windows: there waitress waits with select(), which takes at most
    # 512 sockets (Windows has no poll()); elsewhere poll() has no such limit,
    # only the process's limit on open files (see allow_open_files()).
    "connection_limit": 500 if os.name == "nt" else 2000,
    # Close a connection idle for this many seconds (default 120): a browser
    # opens a new one when it needs it, and idle ones free their place sooner.
    "channel_timeout": 30,
    # Requests run at once, each in a thread (default 4): see messaging's
    # comment for what 16 changed under a burst.
    "threads": 16,
    # poll() instead of select(): select() cannot watch a socket whose number
    # is above 1023 (FD_SETSIZE) on Linux and macOS. Where poll() is missing
    # (Windows), waitress falls back to select().
    "asyncore_use_poll": True,
    # Connections the OS queues until waitress accepts them (its default).
    "backlog": 1024,
}


def allow_open_files(wanted: int = 4096) -> None:
    """Raise this process's limit on open files (each connection is one) to ``wanted``.

    Linux usually starts a process with a soft limit of 1024 (macOS: 256),
    fewer than WAITRESS_OPTIONS lets waitress hold: beyond it accept() fails.
    The soft limit may be raised up to the hard one without privileges.
    Windows has no such limit (and no ``resource`` module): nothing to do.
    """
    try:
        import resource  # POSIX only
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # refused (macOS caps it): keep the old limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def waitress_server(app, **options):
    """waitress's create_server(), with the class defaults and one fix.

    The fix: given "Expect: 100-continue" on a request without a body (GET),
    waitress 3 sends "100 Continue", then waits for a body that never comes,
    and never answers (until channel_timeout). Its parser had the request
    complete; send_continue() marks it incomplete again. Here a complete
    request is answered at once, without a 100 Continue (RFC 9110 15.2.1
    allows that). No middleware can do it: waitress never calls the app.
    """
    from waitress import create_server
    from waitress.channel import HTTPChannel

    class Channel(HTTPChannel):
        def send_continue(self):
            if self.request.completed:  # nothing left to wait for: answer
                self.request.expect_continue = False
                return
            super().send_continue()

    allow_open_files()
    server = create_server(app, **{**WAITRESS_OPTIONS, **options})
    server.channel_class = Channel  # what waitress creates for each connection
    return server


def serve_wsgi(name: str, app, host: str, port: int, dev: bool = False, **waitress_options) -> None:
    """Serve a WSGI application (Flask) until Ctrl-C.

    By default with waitress, a production server that also runs on Windows;
    ``dev=True`` uses Flask's development server instead (for comparisons).
    """
    if dev:
        from werkzeug.serving import make_server

        server = make_server(host, port, app, threaded=True)
        serve(name, server, "http")
        return

    quiet_waitress()
    host = one_address(host)
    server = waitress_server(app, host=host, port=port, **waitress_options)
    try:
        announce(name, "http", host, server.effective_port)
        server.run()  # returns on Ctrl-C (waitress catches KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        print(f"{name} stopped", flush=True)


def serve_wsgi_workers(name: str, app, make_app, host: str, port: int, workers: int, **waitress_options) -> None:
    """Serve with waitress in ``workers`` processes that share one listening socket.

    A Python process runs Python code on one processor at a time (the global
    interpreter lock, GIL). Waitress's threads let one process wait for many
    clients at once, but under a whole class they mostly wait for their turn
    to run Python. Processes do not share a GIL: each one accepts connections
    from the same socket (the operating system gives each new connection to
    one of them) and they answer in parallel. gunicorn's workers do the same,
    but gunicorn does not run on Windows and waitress has no workers of its
    own: hence this function.

    This process serves ``app``; each other one calls ``make_app()`` to build
    its own. A new process finds ``make_app`` by name, so it must be a function
    defined at the top of a module, or a functools.partial of one. Each
    process has its own memory: whatever an application counts in memory (a
    rate limit, say) is counted by each process on its own.
    """
    if workers == 1:
        serve_wsgi(name, app, host, port, **waitress_options)
        return

    import multiprocessing
    from multiprocessing.connection import wait

    quiet_waitress()
    allow_open_files()  # before the other processes start: they inherit it
    host = one_address(host)
    # socket.create_server() also sets SO_REUSEADDR where it is safe (see SandboxServer).
    listener = socket.create_server((host, port), family=family_of(host), backlog=1024)
    # "spawn" starts each process as a fresh Python, the same way on every
    # operating system (no fork). The listening socket is handed to each.
    spawn = multiprocessing.get_context("spawn")
    others = []
    try:
        starting = {}
        for _ in range(workers - 1):
            ready, tell_ready = spawn.Pipe(duplex=False)
            process = spawn.Process(target=_wsgi_worker, args=(make_app, listener, waitress_options, tell_ready), daemon=True)
            process.start()
            tell_ready.close()  # the new process has its own copy of this end
            others.append(process)
            starting[ready] = process
        while starting:  # announce only when every process can take connections
            for ready in wait(list(starting)):
                process = starting.pop(ready)
                try:
                    ready.recv()
                except EOFError:  # it ended without saying it was ready
                    process.join()
                    sys.exit(f"{name}: a worker process failed to start (exit code {process.exitcode}); "
                             "its error is above")
        server = waitress_server(app, sockets=[listener], **waitress_options)
        announce(name, "http", host, listener.getsockname()[1])
        server.run()  # returns on Ctrl-C (waitress catches KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        for process in others:
            process.terminate()
        for process in others:
            process.join()
        listener.close()
        print(f"{name} stopped", flush=True)


def _wsgi_worker(make_app, listener: socket.socket, waitress_options: dict, tell_ready) -> None:
    """The body of each process serve_wsgi_workers() starts."""
    import multiprocessing
    from multiprocessing.connection import wait

    def stop_with_first_process() -> None:
        # The first process stops the others when it ends normally; this is for
        # when it cannot (killed, or crashed): no worker outlives it.
        wait([multiprocessing.parent_process().sentinel])
        os._exit(0)

    threading.Thread(target=stop_with_first_process, name="watch-first-process", daemon=True).start()
    try:
        quiet_waitress()
        server = waitress_server(make_app(), sockets=[listener], **waitress_options)
        tell_ready.send(True)
        tell_ready.close()
        server.run()
    except KeyboardInterrupt:  # Ctrl-C in a terminal reaches every process
        pass


def gunicorn_problem() -> str | None:
    """Why gunicorn cannot serve here, or None if it can."""
    if os.name == "nt":
        return "gunicorn runs on Linux and macOS only (it forks worker processes, which Windows cannot do)"
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return "gunicorn is not installed: pip install gunicorn"
    return None


def serve_gunicorn(name: str, app, host: str, port: int, scheme: str = "http", **settings) -> None:
    """Serve a WSGI application with gunicorn until Ctrl-C: this process becomes
    gunicorn's master (the "arbiter"), which listens, then forks the worker
    processes that accept the connections and run ``app``. ``settings`` are
    gunicorn's own (workers, worker_class, threads, certfile and keyfile for
    HTTPS, with ``scheme="https"``...).

    gunicorn is normally started from a terminal (``gunicorn wsgi:app``); here it
    runs inside this process, so it serves the application already loaded.
    """
    from gunicorn.app.base import BaseApplication

    def when_ready(arbiter) -> None:
        # Called in the master once it listens, before the workers start: the
        # operating system queues connections until a worker accepts them.
        # Port 0 was replaced by a real port when the socket was bound.
        announce(name, scheme, host, arbiter.LISTENERS[0].sock.getsockname()[1])

    def post_worker_init(worker) -> None:
        # In a worker, after gunicorn set its signal handlers: Ctrl-C is the master's business.
        # A Ctrl-C sent to the whole process group (a terminal, a kernel interrupted) also
        # reaches the workers, and the master then sends each one SIGQUIT: a gthread worker
        # that got both ran its quit handler inside itself and hung on a lock for ever, an
        # orphan once the master had gone (seen here twice). The master's signal suffices.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    class Gunicorn(BaseApplication):
        def load_config(self):
            config = {"bind": [host_port(host, port)], "when_ready": when_ready, "proc_name": name,
                      "post_worker_init": post_worker_init,
                      "loglevel": "warning",  # errors only: the servers log each request themselves, or nothing
                      **settings}
            for key, value in config.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    master = os.getpid()
    try:
        Gunicorn().run()  # gunicorn handles Ctrl-C (SIGINT) itself: it stops its workers, then exits
    except KeyboardInterrupt:  # Ctrl-C before gunicorn had set up its own handling
        pass
    finally:
        # The workers are forked from inside run(): they leave through here too.
        if os.getpid() == master:
            print(f"{name} stopped", flush=True)


def quiet_waitress() -> None:
    """No waitress warning for each request that waits.

    While more requests wait than it has threads, waitress warns "Task queue
    depth is N" once per request: under a burst (a class at once) that is
    thousands of lines a second, and a server blocks when its log is not read
    fast enough. Its warnings about real faults stay on.
    """
    import logging

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def one_address(host: str) -> str:
    """The first address ``host`` resolves to.

    waitress listens on every address a name resolves to ("localhost" is
    both ::1 and 127.0.0.1 on macOS and Windows), each on its own port when
    port is 0. Resolving the name first gives one address, one port to announce.
    """
    return socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0][4][0]


def watch_parent() -> None:
    """Stop this server when its standard input reaches end of file.

    sandbox.launch() gives the server a pipe as standard input and never
    writes to it. When the notebook stops the server, or when the kernel
    exits or is killed, the operating system closes the pipe's other end and
    the read below returns. This works the same on Linux, macOS and Windows,
    unlike signals.
    """

    def wait_for_eof() -> None:
        # os.read on the raw file descriptor, not sys.stdin: a thread blocked
        # inside a buffered reader makes Python abort if the main thread exits
        # first (a server that fails to start, for instance).
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        try:
            print("standard input closed: stopping", flush=True)
        except OSError:
            # The parent died and took the other end of our stdout with it:
            # printing raises BrokenPipeError. Nobody reads our logs any more.
            sys.stdout = sys.stderr = open(os.devnull, "w")
        # The same clean path as Ctrl-C: KeyboardInterrupt in the main thread.
        if hasattr(signal, "pthread_kill"):  # Linux, macOS: a real SIGINT, which
            signal.pthread_kill(main_thread, signal.SIGINT)  # also wakes a blocked select()
        else:  # Windows: raised when the main thread next runs Python code
            _thread.interrupt_main()
        # Enough for a clean stop on a busy machine (gunicorn first stops its workers), and
        # less than the 5 s after which launch()'s stop() kills the process.
        time.sleep(4)
        os._exit(0)  # the main thread did not stop in time: leave anyway

    # A process started from a program that ignores Ctrl-C inherits that;
    # restore Python's own handler so interrupt_main() below has an effect.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main_thread = threading.main_thread().ident
    threading.Thread(target=wait_for_eof, name="watch-parent", daemon=True).start()
