"""Checks for exercises/13-tls.md: TLS clients with the ``ssl`` module.

    check_client_context(client_context)   step 1: client_context(ca_file) -> an ssl.SSLContext that
                                           trusts that CA only, and checks names and dates
    check_echo_over_tls(echo_over_tls)     step 2: echo_over_tls(address, message, context,
                                           server_hostname="localhost") -> the bytes echoed over TLS
    check_diagnose(diagnose)               step 3: diagnose(address, ca_file, server_hostname="localhost")
                                           -> "ok", "unknown CA", "wrong host name", "expired" or "not TLS"

Each checker starts the servers it needs, in threads of its own (much faster
than a process each), and stops them: TLS echo servers as the sandbox's, with a
certificate from the course CA (``sandbox.tls.course_ca()``), an expired one,
one from an impostor's CA; a plain TCP echo, and one that resets the connection. The checks make their own
client contexts: each step is checked on its own, whatever the others do.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import tempfile
import threading

from .core import (
    Failure, NotDone, checker, describe_exception, expect, expect_equal, name_of, run_with_limit, short,
    stub_message,
)
from .helpers import LOCALHOST

NAMES = ("localhost", "127.0.0.1")  # what the checks' certificates are for
WRONG_NAME = "bank.example"  # a name no certificate of the checks holds
LIMIT = 5.0  # seconds a student's function may take: a right one takes milliseconds
REASONS = ("ok", "unknown CA", "wrong host name", "expired", "not TLS")
CODES = "20 (or 18, 19) is 'unknown CA', 10 'expired', 62 'wrong host name'"


# --------------------------------------------------------------------------- servers


class _EchoServer:
    """An echo server in threads of this process, on 127.0.0.1: TLS with ``certfile`` and
    ``keyfile``, plain TCP without. As the sandbox's echo (``sandbox/echo.py``, ``sandbox/tls.py``):
    each client in a thread of its own, the TLS handshake there too; it notes what happened to each
    connection ("TLS handshake failed (...)", "echoed N bytes"), for the hints.
    """

    def __init__(self, certfile=None, keyfile=None):
        self.context = None
        if certfile:
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # a server's context
            self.context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # an end without close_notify: b""
            self.context.load_cert_chain(certfile, keyfile)
        self.listener = socket.create_server((LOCALHOST, 0), backlog=32)
        self.listener.settimeout(0.1)
        self.address = self.listener.getsockname()[:2]
        self.events: list[str] = []
        self.changed = threading.Condition()
        self.connections: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="check:ch13-echo", daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="check:ch13-client", daemon=True).start()

    def _note(self, event: str):
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        """Whether an event containing ``text`` happened, or happens within ``timeout`` seconds."""
        with self.changed:
            return self.changed.wait_for(lambda: any(text in event for event in self.events), timeout)

    def _serve(self, conn: socket.socket):
        conn.settimeout(2 * LIMIT)
        if self.context is not None:
            conn = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        self.connections.append(conn)
        with conn:
            if self.context is not None:
                try:
                    conn.do_handshake()
                except (ssl.SSLError, OSError) as error:
                    self._note(f"TLS handshake failed ({getattr(error, 'reason', None) or error})")
                    with socket.socket(fileno=conn.detach()) as plain, contextlib.suppress(OSError):
                        plain.setblocking(False)
                        plain.recv(65536)  # what the client sent, read: the close is an end, not a reset
                    return
            echoed = 0
            with contextlib.suppress(OSError, ValueError):  # the client vanished, or the check stopped us
                while chunk := conn.recv(65536):
                    conn.sendall(chunk)
                    echoed += len(chunk)
            self._note(f"echoed {echoed} bytes")
            if self.context is not None:
                with contextlib.suppress(OSError, ValueError):
                    conn.settimeout(1)
                    conn.unwrap()  # TLS's goodbye, as the sandbox's servers say it

    def stop(self):
        self.stopping.set()
        self.thread.join(2)
        self.listener.close()
        for conn in self.connections:  # wake the client threads still reading, and the student's code with them
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)  # the TCP socket under TLS, not the TLS layer


class _Servers:
    """The echo servers a check needs, stopped by the ``with`` block.

    ``kinds``: any of "course" (a certificate from the course CA, as ``launch("echo", tls=True)``
    makes), "expired" (from the course CA, expired yesterday), "impostor" (from a CA of the
    check's own, for the same names), "plain" (no TLS). ``self.course_ca_file`` is the course CA's
    certificate.
    """

    def __init__(self, *kinds: str):
        self.kinds = kinds
        self.started: dict = {}
        self.folder = None

    def __getitem__(self, kind: str) -> _EchoServer:
        return self.started[kind]

    def __enter__(self):
        from sandbox.tls import SERVER_NAMES, CertificateAuthority, course_ca

        ca = course_ca()
        self.course_ca_file = ca.cert_file
        self.folder = tempfile.TemporaryDirectory(prefix="netcourse-check-ch13-")
        try:
            for kind in self.kinds:
                if kind == "course":
                    files = ca.issue(*SERVER_NAMES, stem="check-echo")
                elif kind == "expired":
                    files = ca.issue(*SERVER_NAMES, expired=True, stem="check-expired")
                elif kind == "impostor":  # anyone can make a CA, and have it sign "localhost"
                    files = CertificateAuthority(self.folder.name, name="Impostor CA").issue(*SERVER_NAMES)
                else:
                    files = (None, None)
                self.started[kind] = _EchoServer(*files)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for server in self.started.values():
            server.stop()
        if self.folder is not None:
            self.folder.cleanup()


@contextlib.contextmanager
def _hang_up_server():
    """``(host, port)`` of a server that reads what a client sends first, then resets the connection."""
    listener = socket.create_server((LOCALHOST, 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                conn.recv(65536)  # the client's hello: read, so that the reset comes after it
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset

    thread = threading.Thread(target=serve, name="check:ch13-hang-up", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def _refusal(context: ssl.SSLContext, address, server_hostname: str = "localhost"):
    """None if ``context`` accepts the server at ``address`` under that name, else the error of the handshake."""
    with socket.create_connection(address, timeout=LIMIT) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=server_hostname):
                return None
        except (ssl.SSLError, ConnectionError) as error:
            return error


def _verifying(ca_file) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=os.fspath(ca_file))


def _attempt(fn, *args, **kwargs):
    """Call the student's ``fn``: ``(finished, value, error)``; NotDone for a stub."""
    if fn is Ellipsis or fn is None:
        raise NotDone("the function is not written yet (it is still ...)")
    finished, value, error = run_with_limit(fn, args, kwargs, LIMIT)
    if isinstance(error, NotImplementedError):
        raise NotDone(stub_message(fn, error))
    if finished and error is None and value is Ellipsis:
        raise NotDone(f"{name_of(fn)}() returns ... (Ellipsis)")
    return finished, value, error


# --------------------------------------------------------------------------- step 1


def _trusted(context: ssl.SSLContext) -> list:
    """The CA certificates the context has loaded (from a file: a folder's are loaded only when used)."""
    try:
        return context.get_ca_certs()
    except ssl.SSLError:
        return []


def _check_refuses(context, address, server_hostname, what, accepted_hint):
    error = _refusal(context, address, server_hostname)
    if error is None:
        if context.verify_mode == ssl.CERT_NONE:
            accepted_hint = ("verify_mode = ssl.CERT_NONE checks nothing: whoever answers is trusted, impostors "
                             "included. Leave verify_mode and check_hostname as create_default_context() sets them")
        raise Failure(f"a handshake with {what} to fail (ssl.SSLCertVerificationError)", "it succeeded", accepted_hint)
    expect(isinstance(error, ssl.SSLCertVerificationError), f"{what} to be refused on its certificate",
           f"{type(error).__name__}: {error}")


@checker("client_context")
def check_client_context(client_context):
    """``client_context(ca_file)`` returns an ``ssl.SSLContext`` for a client that trusts the CA
    of ``ca_file``, and only it, and checks names and dates: it accepts a server of the course CA
    as ``localhost``, and refuses it as another name, an expired certificate, and an impostor's.
    """
    with _Servers("course", "impostor", "expired") as servers:
        ca_file = servers.course_ca_file
        shown = "client_context(ca_file)"
        finished, context, error = _attempt(client_context, ca_file)
        if not finished:
            raise Failure(f"{shown} to return within {LIMIT:g} s", "it was still running",
                          "making a context takes a few milliseconds: nothing to connect to")
        if error is not None:
            raise Failure(f"{shown} to return a context", f"it raised {describe_exception(error)}",
                          "ssl.create_default_context(cafile=...) with the CA's file: ca_file, as given")
        if isinstance(context, (str, bytes, os.PathLike)):
            raise Failure(f"{shown}: an ssl.SSLContext", f"{short(context)} ({type(context).__name__})",
                          "return a context, not the CA's file: a context that trusts that file's CA")
        expect(isinstance(context, ssl.SSLContext), f"{shown}: an ssl.SSLContext",
               f"{short(context)} ({type(context).__name__})", "did the function forget to `return` the context?"
               if context is None else "ssl.create_default_context(...) returns one")
        expect(context.protocol != ssl.PROTOCOL_TLS_SERVER, f"{shown}: the context of a client",
               "the context of a server (ssl.Purpose.CLIENT_AUTH: it authenticates clients)",
               "a client authenticates the server: ssl.Purpose.SERVER_AUTH, the default purpose")
        trusted = _trusted(context)
        course = _trusted(_verifying(ca_file))[0]
        if course not in trusted:
            system = ssl.create_default_context().cert_store_stats()
            if system["x509_ca"] and context.cert_store_stats() == system:
                hint = ("it trusts the system's CAs, which do not know the course CA: give "
                        "create_default_context() the course CA's file, cafile=ca_file")
            elif not trusted:
                hint = ("it trusts no CA at all (ssl.SSLContext(...) alone loads none): load the course CA's file, "
                        "or better, ssl.create_default_context(cafile=ca_file)")
            else:
                hint = "load the CA of ca_file: create_default_context(cafile=ca_file)"
            raise Failure(f"{shown} to trust the course CA (the certificate in ca_file)",
                          f"a context that trusts {len(trusted)} CA certificate(s), not that one", hint)
        expect(len(trusted) == 1, f"{shown} to trust the course CA only",
               f"a context that trusts {len(trusted)} CA certificates: the course CA's and others",
               "the system's CAs too (load_default_certs(), or create_default_context() then another file): "
               "create_default_context(cafile=ca_file) trusts that file's CAs instead of the system's")
        error = _refusal(context, servers["course"].address, "localhost")
        expect(error is None, "a handshake with the course's server, as localhost, to succeed",
               f"{type(error).__name__}: {error}", "leave the other settings as create_default_context() makes them")
        _check_refuses(context, servers["course"].address, WRONG_NAME,
                       f"the course's server as {WRONG_NAME!r} (its certificate names {' and '.join(NAMES)})",
                       "check_hostname = False accepts any certificate of a trusted CA, for any name: "
                       "leave it True")
        _check_refuses(context, servers["impostor"].address, "localhost",
                       "an impostor's server (a certificate for localhost, from a CA of its own)",
                       "trust the course CA only: create_default_context(cafile=ca_file)")
        _check_refuses(context, servers["expired"].address, "localhost",
                       "a server whose certificate expired yesterday",
                       "leave the date check on: no verify_flags that skip it")
    return "trusts the course CA only; accepts its server, refuses another name, an impostor and an expired certificate"


# --------------------------------------------------------------------------- step 2


def _echo_hint(error, server) -> str:
    """What most likely went wrong in an echo over TLS that failed, from the error and the server's log."""
    if isinstance(error, ValueError) and "server_hostname" in str(error):
        return ("pass server_hostname=server_hostname to wrap_socket: the name the certificate must hold "
                "(and the SNI)")
    if server.wait_for("TLS handshake failed", timeout=0.3):
        return ("the server saw no TLS handshake: the bytes went in clear. Wrap the TCP socket with "
                "context.wrap_socket(sock, server_hostname=...), then send and receive on the wrapped socket")
    if isinstance(error, ssl.SSLCertVerificationError):
        return "use the context given: it trusts the check's server"
    return ""


@checker("echo_over_tls")
def check_echo_over_tls(echo_over_tls):
    """``echo_over_tls(address, message, context, server_hostname="localhost")`` connects by TCP,
    wraps the connection in TLS with ``context`` and ``server_hostname``, sends ``message``, reads
    back exactly ``len(message)`` bytes (in pieces: at most one TLS record per recv) and closes.
    """
    with _Servers("course") as servers:
        server = servers["course"]
        context = _verifying(servers.course_ca_file)
        cases = [(b"hello over TLS", "localhost"), (os.urandom(200_000), "localhost"),
                 ("héllo ✓ by IP address".encode(), "127.0.0.1")]
        for n, (message, name) in enumerate(cases):
            shown = f"echo_over_tls(address, {short(message, 24)}, context, server_hostname={name!r})"
            finished, reply, error = _attempt(echo_over_tls, server.address, message, context, server_hostname=name)
            if not finished:
                hint = _echo_hint(None, server) or (
                    f"stop reading once len(message) bytes came back: the server echoes and waits for more, "
                    "it does not close (TLS in ssl has no half-close)")
                raise Failure(f"{shown} to return within {LIMIT:g} s", f"it was still running after {LIMIT:g} s", hint)
            if error is not None:
                raise Failure(f"{shown} to return the echo", f"it raised {describe_exception(error)}",
                              _echo_hint(error, server))
            if isinstance(reply, str):
                raise Failure(f"{shown}: the bytes echoed", f"text (str): {short(reply)}",
                              "return the bytes as received, without decoding them")
            if reply != message:
                hint = _echo_hint(None, server) or (
                    "recv() returns what has arrived, at most one TLS record (16 KiB): call it in a loop until "
                    "len(message) bytes came back" if isinstance(reply, bytes) and 0 < len(reply) < len(message) else "")
                expect_equal(reply, message, f"{shown}: the {len(message):,} bytes sent, echoed", hint)
            expect_equal(reply, message, f"{shown}: the {len(message):,} bytes sent, echoed")  # bytes, not bytearray
            if n == 0:
                expect(server.wait_for(f"echoed {len(message)} bytes", timeout=2),
                       f"the connection of {shown} to be closed when it returns",
                       "the server saw it still open", "close the TLS socket (and the TCP one): a `with` block each")
        with tempfile.TemporaryDirectory(prefix="netcourse-check-ch13-") as folder:
            from sandbox.tls import CertificateAuthority

            stranger = _verifying(CertificateAuthority(folder, name="Another CA").cert_file)
        shown = "echo_over_tls(address, b'hello', a context that trusts another CA)"
        finished, reply, error = _attempt(echo_over_tls, server.address, b"hello", stranger)
        expect(finished and isinstance(error, ssl.SSLCertVerificationError),
               f"{shown} to raise ssl.SSLCertVerificationError",
               f"it returned {short(reply)}" if finished and error is None else
               f"it raised {describe_exception(error)}" if finished else "it was still running",
               "wrap the socket with the context given, and let its errors through: the caller decides what to trust")
        shown = f"echo_over_tls(address, b'hello', context, server_hostname={WRONG_NAME!r})"
        finished, reply, error = _attempt(echo_over_tls, server.address, b"hello", context, server_hostname=WRONG_NAME)
        expect(finished and isinstance(error, ssl.SSLCertVerificationError),
               f"{shown} to raise ssl.SSLCertVerificationError (the certificate is for {' and '.join(NAMES)})",
               f"it returned {short(reply)}" if finished and error is None else
               f"it raised {describe_exception(error)}" if finished else "it was still running",
               "pass the server_hostname given on to wrap_socket, whatever it is: the name the certificate must hold")
    return ("14 bytes and 200,000 (in pieces), by name and by IP address, closed after; "
            "another CA and another name refused")


# --------------------------------------------------------------------------- step 3


def _diagnose_hint(wanted: str, got, refusal) -> str:
    code = getattr(refusal, "verify_code", None)
    why = f"verify_code {code}, {refusal.verify_message!r}" if code is not None else ""
    if not isinstance(got, str) or got not in REASONS:
        return "return a reason, not print it" if got is None else f"return one of {', '.join(map(repr, REASONS))}"
    if wanted == "ok":
        if got == "unknown CA":
            return "a client that trusts ca_file accepts this server: connect with client_context(ca_file)"
        return "a verifying client accepts this server under this name: pass server_hostname on to wrap_socket"
    if got == "ok":
        if wanted == "wrong host name":
            return "pass server_hostname on to wrap_socket, with a context that checks names (check_hostname)"
        if wanted == "not TLS":
            return "'ok' only once the handshake has succeeded"
        return f"a verifying client refuses this server ({why}): 'ok' only when client_context(ca_file) accepts it"
    if wanted == "not TLS":
        return ("this port speaks plain TCP: the handshake fails with an ssl.SSLError that is not an "
                "ssl.SSLCertVerificationError (it has no verify_code), or the connection ends (ConnectionError)")
    if got == "not TLS":
        return ("the handshake failed on the certificate: ssl.SSLCertVerificationError is a subclass of "
                "ssl.SSLError, so catch it first")
    return f"the handshake failed with {why}; the codes: {CODES}"


def _raised_hint(error) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return "catch ssl.SSLCertVerificationError, and return the reason its verify_code gives"
    if isinstance(error, ssl.SSLError):
        return "another ssl.SSLError (after ssl.SSLCertVerificationError) means the port speaks no TLS: 'not TLS'"
    if isinstance(error, ConnectionError):
        return "the connection ended during the handshake (ConnectionError): 'not TLS' too"
    return "diagnose returns a reason, it does not raise"


@checker("diagnose")
def check_diagnose(diagnose):
    """``diagnose(address, ca_file, server_hostname="localhost")`` returns "ok" if a client that
    trusts ``ca_file`` and checks names and dates accepts the server, else why not: "unknown CA",
    "wrong host name", "expired", or "not TLS" (a plain TCP port). It never raises for these.
    """
    with _Servers("course", "impostor", "expired", "plain") as servers, _hang_up_server() as hang_up:
        ca_file = servers.course_ca_file
        course = servers["course"].address
        cases = [
            ("the course's server", course, "localhost", "ok"),
            ("an impostor's server (a CA of its own)", servers["impostor"].address, "localhost", "unknown CA"),
            ("a server whose certificate expired yesterday", servers["expired"].address, "localhost", "expired"),
            ("the course's server", course, WRONG_NAME, "wrong host name"),
            ("a plain TCP echo server", servers["plain"].address, "localhost", "not TLS"),
            ("a server that resets the connection", hang_up, "localhost", "not TLS"),
            ("the course's server", course, "127.0.0.1", "ok"),
        ]
        reference = _verifying(ca_file)
        for what, address, name, wanted in cases:
            shown = f"diagnose(address, ca_file, server_hostname={name!r}), for {what}"
            finished, got, error = _attempt(diagnose, address, ca_file, server_hostname=name)
            if not finished:
                raise Failure(f"{shown} to return within {LIMIT:g} s", "it was still running",
                              "connect with a timeout (create_connection(address, timeout=...)), and "
                              "return once the handshake succeeded or failed")
            if error is not None:
                raise Failure(f"{shown}: {wanted!r}", f"it raised {describe_exception(error)}", _raised_hint(error))
            if got != wanted:
                refusal = _refusal(reference, address, name) if wanted not in ("ok", "not TLS") else None
                raise Failure(f"{shown}: {wanted!r}", short(got), _diagnose_hint(wanted, got, refusal))
    return f"{len(cases)} servers: 2 fine, an unknown CA, an expired certificate, a wrong name, 2 ports without TLS"
