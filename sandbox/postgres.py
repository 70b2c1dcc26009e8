"""A throwaway PostgreSQL server, for trying a service on a real database.

    python -m sandbox postgres [--host H] [--port P]

It needs PostgreSQL's server programs, ``initdb`` and ``postgres`` (Debian and
Ubuntu: ``sudo apt install postgresql``; macOS: ``brew install postgresql``;
Windows: the installer from postgresql.org). It does not use or change a
PostgreSQL you may already run:

1. ``initdb`` creates a new, empty database cluster in a temporary folder;
2. ``postgres`` serves it on this machine, on a free port;
3. at Ctrl-C, the server stops and the folder, with all its data, is deleted.

Connect as user ``postgres``, without a password, to database ``postgres``:
``postgresql://postgres@127.0.0.1:PORT/postgres``. No password: anyone on this
machine may connect ("trust" authentication). Fine for a throwaway server on
127.0.0.1, never for a real one.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from . import common

NAME = "postgres"
DESCRIPTION = "A throwaway PostgreSQL server: a new database in a temporary folder, deleted at the end."
LIMITS = """limits:
  no password (trust authentication): for a server on 127.0.0.1, for teaching only
  the data lives in a temporary folder and is deleted when the server stops
  fsync is off: fast, and a crash of the machine loses the data (it is thrown away anyway)
"""
READY = "database system is ready to accept connections"
START_TIMEOUT = 60  # seconds for initdb and for the server to be ready


def find_programs() -> tuple[str, str] | None:
    """The paths of ``initdb`` and ``postgres``, or None when PostgreSQL is not installed.

    Debian and Ubuntu keep them out of PATH, in /usr/lib/postgresql/VERSION/bin.
    """
    folders = [os.path.dirname(p) for p in [shutil.which("initdb")] if p]
    versions = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob(r"C:\Program Files\PostgreSQL\*\bin")
    folders += sorted(versions, key=lambda p: [int(x) for x in p.split(os.sep)[-2].split(".") if x.isdigit()],
                      reverse=True)  # the newest version first
    for folder in folders:
        initdb, postgres = (shutil.which(name, path=folder) for name in ("initdb", "postgres"))
        if initdb and postgres:
            return initdb, postgres
    return None


def run_as() -> dict:
    """PostgreSQL refuses to run as root: as root, run it as the system user "postgres"."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return {}
    import pwd

    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise SystemExit("running as root, and PostgreSQL refuses to: run as another user, "
                         'or create a system user "postgres" (the postgresql package does)') from None
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def free_port(host: str) -> int:
    """A port nobody listens on now. (postgres cannot be told "port 0, tell me which".)"""
    with socket.socket(common.family_of(host)) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def forward(stream, ready: threading.Event) -> None:
    """Copy the server's log lines to ours until it exits; set ``ready`` at the line READY."""
    for line in stream:
        print(line, end="", flush=True)
        if READY in line:
            ready.set()


def wait_until_ready(server: subprocess.Popen, reader: threading.Thread, ready: threading.Event) -> None:
    """Return once the server is ready; SystemExit if it exits first, or is not ready after START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.wait(timeout=0.1):
        if not reader.is_alive():  # the log has ended, printed to the last line: the server has exited
            raise SystemExit(f"postgres exited with code {server.wait()} before it was ready; its log is above")
        if time.monotonic() > deadline:
            raise SystemExit(f"postgres was not ready after {START_TIMEOUT} s (START_TIMEOUT); its log is above")


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS)
    args = common.parse_args(parser, argv)
    if not common.is_loopback(args.host):
        parser.error(f"--host {args.host}: this throwaway server has no password (anyone who reaches it could "
                     "do anything to it), so it listens on this machine only")
    programs = find_programs()
    if programs is None:
        raise SystemExit("PostgreSQL's server programs (initdb, postgres) were not found. Install PostgreSQL: "
                         "Debian/Ubuntu: sudo apt install postgresql; macOS: brew install postgresql; "
                         "Windows: the installer from postgresql.org.")
    initdb, postgres = programs
    user = run_as()
    folder = tempfile.mkdtemp(prefix="sandbox-postgres-")
    server = None
    try:
        if user:
            os.chown(folder, user["user"], user["group"])
        data = os.path.join(folder, "data")
        # -N: no fsync, --locale=C: sorting by code point, the same everywhere.
        subprocess.run([initdb, "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C",
                        "-N"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=START_TIMEOUT, **user)
        port = args.port or free_port(args.host)
        server = subprocess.Popen(
            [postgres, "-D", data, "-p", str(port), "-c", f"listen_addresses={args.host}",
             "-c", f"unix_socket_directories={folder if os.name != 'nt' else ''}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "lc_messages=C"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", **user)
        # The server logs "ready to accept connections" once it listens. A
        # thread reads its log, so that we can stop waiting after START_TIMEOUT
        # (a read from a pipe cannot be given a timeout on every system).
        ready = threading.Event()
        reader = threading.Thread(target=forward, args=(server.stdout, ready), daemon=True)
        reader.start()
        wait_until_ready(server, reader, ready)
        common.announce(NAME, "postgresql", args.host, port)
        print(f"connect to postgresql://postgres@{common.host_port(args.host, port)}/postgres", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"initdb failed:\n{error.stderr}") from None
    finally:
        if server is not None and server.poll() is None:
            # SIGINT is PostgreSQL's "fast shutdown": end the sessions, stop cleanly.
            server.terminate() if os.name == "nt" else server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=3)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(folder, ignore_errors=True)
        print(f"{NAME} stopped", flush=True)


if __name__ == "__main__":
    main()
