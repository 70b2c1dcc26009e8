"""Start a sandbox server from Python (a notebook cell, a test) and stop it.

    from sandbox import launch

    with launch("echo") as srv:          # stopped at the end of the block
        ...socket.create_connection((srv.host, srv.port))...

    srv = launch("random")               # stopped by srv.stop(), by re-running
    requests.get(srv.url + "/api/...")   # the cell, or when Python exits

The server runs in a separate process (``python -m sandbox NAME``), exactly as
you would start it in a terminal: a notebook cell can then talk to it over the
network like any client, and a crash on either side cannot take the other down.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from .servers import SERVERS

ANNOUNCEMENT = re.compile(r"^(?P<name>\S+) listening on (?P<scheme>\w+)://(?P<host>\[[^\]]+\]|[^:/]+):(?P<port>\d+)\s*$")
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SandboxError(RuntimeError):
    """A sandbox server did not start; the message includes its own output."""


class Server:
    """A running sandbox server: where it listens, its log, and how to stop it."""

    def __init__(self, name: str, process: subprocess.Popen, output: list[str]):
        self.name = name
        self.process = process
        self._output = output  # filled by a reader thread, line by line
        self._new_output = threading.Condition()  # notified at each new line
        self._reader: threading.Thread | None = None
        self.scheme = ""
        self.host = ""
        self.port = 0
        self.ca_file: Path | None = None  # with launch(..., tls=True): the certificate of the CA that signed the server

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        """``http://host:port`` for an HTTP server (``tcp://...`` for the others)."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{shown}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, ready for ``socket.create_connection``."""
        return (self.host, self.port)

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return "".join(self._output)

    def wait_for(self, text: str, timeout: float = 5.0) -> bool:
        """Wait until ``text`` appears in the log; False if it did not within ``timeout``.

        The log is read from the server's output as it comes, a moment after
        the server wrote it: check for a line with this, not with ``in srv.log``.
        """
        with self._new_output:
            return self._new_output.wait_for(lambda: text in self.log or not self._reader_alive(), timeout) and text in self.log

    def _reader_alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server and wait for it; safe to call twice."""
        if _running.get(self.name) is self:
            del _running[self.name]
        _started.discard(self)
        if self.process.poll() is None:
            # Closing its standard input is the polite way: the server sees end
            # of file and stops as if Ctrl-C was pressed (see common.watch_parent).
            _close(self.process.stdin)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _close(self.process.stdin)
        if self._reader is not None:
            self._reader.join(timeout)  # the log is complete once the output ends
        if not (self._reader and self._reader.is_alive()):
            _close(self.process.stdout)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped (exit code {self.process.returncode})"
        return f"<{self.name} server at {self.url}, pid {self.pid}, {state}>"


# The servers this Python process started: by name, so that re-running a
# notebook cell stops the earlier one first; and all of them, to stop at exit.
_running: dict[str, Server] = {}
_started: set[Server] = set()


def launch(
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 15.0,
    replace: bool = True,
    faults: dict | None = None,
    **options,
) -> Server:
    """Start sandbox server ``name`` and return once it accepts connections.

    ``port=0`` (the default) lets the operating system pick a free port, so
    two notebooks or two students on one machine never collide. Extra keyword
    arguments become command-line options: ``launch("contacts", data="book.json")``
    runs ``python -m sandbox contacts --data book.json``; ``True`` adds a bare flag.
    ``replace=False`` keeps an earlier server of the same name running.
    Another server's handle as a value stands for its URL:
    ``launch("tap", target=srv)`` (a tap also gets a temporary record file,
    and returns a handle that reads it: see ``sandbox/wire.py``).
    ``tls=True`` gives the server a certificate for localhost and 127.0.0.1 from
    the course's own CA (``sandbox/tls.py``); ``srv.ca_file`` is then the CA's
    certificate, for the client to verify the server with.
    ``faults={"latency": 0.05, "http_errors": 0.2, "seed": 1}`` makes the server
    fail on purpose (``sandbox/faults.py``): each name becomes its option
    (``--latency 0.05 --http-errors 0.2 --seed 1``); ``http_errors`` may also be
    ``{503: 0.2, 429: 0.1}``. A name the server does not support is refused by it,
    and SandboxError shows its message (``python -m sandbox NAME --help`` lists them).
    """
    if name not in SERVERS:
        raise ValueError(f"unknown sandbox server {name!r}; choose one of: {', '.join(SERVERS)}")
    if replace and name in _running:
        _running[name].stop()
    options = {key: value.url if isinstance(value, Server) else value for key, value in options.items()}
    for fault, value in (faults or {}).items():
        if isinstance(value, dict):  # {503: 0.2, 429: 0.1} -> "503:0.2,429:0.1"
            value = ",".join(f"{status}:{share}" for status, share in value.items())
        options[fault] = value
    ca_file = None
    if options.pop("tls", False):
        from .tls import SERVER_NAMES, course_ca

        ca = course_ca()
        options["certfile"], options["keyfile"] = ca.issue(*SERVER_NAMES, stem=name)
        ca_file = ca.cert_file
    temporary_record = name == "tap" and options.get("record") is None
    if temporary_record:
        from .wire import new_record_file

        options["record"] = new_record_file()

    command = [sys.executable, "-u", "-m", "sandbox", name, "--host", host, "--port", str(port), "--watch-parent"]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            command.append(flag)
        elif value is not False and value is not None:
            command += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]

    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")
    # Make `python -m sandbox` importable even when the course is not installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,  # never written: its closing tells the server to stop
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one log, in the order things happened
        env=env,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    output: list[str] = []
    if name == "tap":
        from .wire import Tap

        server = Tap(name, process, output, options["record"], temporary_record, str(options.get("target", "")))
    else:
        server = Server(name, process, output)
    server.ca_file = ca_file
    announced = threading.Event()
    output_ended = threading.Event()

    def read_output() -> None:
        for line in process.stdout:
            with server._new_output:
                output.append(line)
                server._new_output.notify_all()
            if not announced.is_set():
                match = ANNOUNCEMENT.match(line)
                if match and match["name"] == name:
                    bound = match["host"].strip("[]")
                    server.scheme = match["scheme"]
                    server.host = WILDCARDS.get(bound, bound)  # connect to 0.0.0.0 via loopback
                    server.port = int(match["port"])
                    announced.set()
        output_ended.set()
        announced.set()  # stop waiting: no announcement will come
        with server._new_output:
            server._new_output.notify_all()  # wait_for() need not wait any longer

    server._reader = threading.Thread(target=read_output, name=f"{name}-output", daemon=True)
    server._reader.start()
    _started.add(server)

    if not announced.wait(timeout) or not server.port:
        if output_ended.is_set():  # the server closed its output: it is exiting
            reason = f"exited with code {process.wait(timeout)}"
        else:
            reason = f"was not listening after {timeout:g} s"
        server.stop(timeout=1)
        log = server.log.strip() or "(no output)"
        raise SandboxError(f"sandbox server {name!r} {reason}. Its output:\n{log}")

    if replace:  # a replace=False server is never the "earlier instance" of a later launch
        _running[name] = server
    return server


def stop_all() -> None:
    """Stop every server this process started."""
    for server in list(_started):
        server.stop()


def _close(stream) -> None:
    try:
        if stream:
            stream.close()
    except OSError:
        pass


atexit.register(stop_all)
