"""TLS for the sandbox: a certificate authority made for the occasion, and servers that speak TLS.

    from sandbox.tls import course_ca

    ca = course_ca()                        # this Python process's CA, in a temporary folder
    cert, key = ca.issue("localhost", "127.0.0.1")
    context = ssl.create_default_context(cafile=ca.cert_file)   # a client that trusts it

``launch("echo", tls=True)`` does this for a server: its certificate comes from
``course_ca()``, and ``srv.ca_file`` is the CA's certificate, for the client.

A certificate binds a public key to names (here ``localhost``, ``127.0.0.1``),
for a period of time; the certificate authority (CA) signs it with its own
private key. A client that trusts the CA (has its certificate) can check that
signature, and so that the server holds the private key for those names: the
handshake proves it. Nothing here is secret for long: the CA's private key
lives in this process's memory only, and its files are deleted when Python exits.

Servers: ``--certfile`` and ``--keyfile`` (``add_options``) make echo speak TLS
(``TLSMixin``: the handshake runs in each client's own thread, with a deadline,
so that a client that never finishes it blocks nobody else).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import ipaddress
import shutil
import socket
import ssl
import tempfile
from pathlib import Path

from . import common

HANDSHAKE_SECONDS = 10  # a client must finish its TLS handshake within this, or is closed
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")  # what launch(..., tls=True) certifies


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class CertificateAuthority:
    """A CA of our own: a key pair and a self-signed certificate; it issues certificates.

    Only its certificate (``cert_file``) is written to ``folder``: that is what
    clients need. Its private key stays in memory.
    """

    def __init__(self, folder: Path | str, name: str = "netcourse sandbox CA"):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        # An elliptic-curve key (P-256): as strong as RSA-3072, and made in a millisecond.
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        public_key = self._key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)  # self-signed: it vouches for itself; clients must trust it explicitly
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))  # a little slack for clocks
            .not_valid_after(now + datetime.timedelta(days=30))
            # A CA certificate: it may sign certificates, but no further CA (path length 0).
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_file = self.folder / "ca.pem"
        self.cert_file.write_bytes(self.certificate.public_bytes(_pem()))
        self._issued = 0

    def issue(self, *names: str, days: float = 1, expired: bool = False, client: bool = False,
              stem: str = "") -> tuple[Path, Path]:
        """A new key pair and a certificate for ``names`` (host names or IP addresses),
        signed by this CA; written as PEM files ``(certificate, private key)``.

        ``expired=True``: valid from 30 days ago to yesterday. ``client=True``: a
        certificate a client shows to a server (mutual TLS), for the name ``names[0]``.
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        if not names:
            raise ValueError("a certificate needs at least one name")
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
        if expired:
            start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
        alternative_names = []  # the Subject Alternative Name: what clients compare with the host they asked for
        for name in names:
            try:
                alternative_names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternative_names.append(x509.DNSName(name))
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())  # the CA's signature: what a client checks
        )
        self._issued += 1
        stem = f"{stem or ('client' if client else 'server')}-{self._issued}"  # never an earlier file's name
        cert_file, key_file = self.folder / f"{stem}.pem", self.folder / f"{stem}.key"
        cert_file.write_bytes(certificate.public_bytes(_pem()))
        key_file.touch(mode=0o600)  # a private key: readable by its owner only (where the system has modes)
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file


def _pem():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


_course_ca: CertificateAuthority | None = None


def course_ca() -> CertificateAuthority:
    """This Python process's CA (created on first use, in a temporary folder deleted at exit)."""
    global _course_ca
    if _course_ca is None:
        folder = tempfile.mkdtemp(prefix="netcourse-ca-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _course_ca = CertificateAuthority(folder)
    return _course_ca


# --------------------------------------------------------------------------- servers


def add_options(parser: argparse.ArgumentParser, served_by: str = "") -> None:
    """--certfile and --keyfile: serve TLS with this certificate and its private key."""
    parser.add_argument("--certfile", type=Path, metavar="PEM",
                        help=f"speak TLS with this certificate (and --keyfile){served_by}; "
                        "sandbox.launch(..., tls=True) makes one from the course's own CA")
    parser.add_argument("--keyfile", type=Path, metavar="PEM", help="the private key of --certfile")


def server_context(parser: argparse.ArgumentParser, args) -> ssl.SSLContext | None:
    """The server's TLS context from --certfile and --keyfile, or None without them.
    A missing file, or a certificate that is not the key's, stops the start with a clear message."""
    if not (args.certfile or args.keyfile):
        return None
    if not (args.certfile and args.keyfile):
        parser.error("TLS needs both --certfile and --keyfile")
    for option, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
        if not path.is_file():
            parser.error(f"{option} {path}: no such file")
    # Purpose.CLIENT_AUTH: the context of a server, which authenticates itself to clients.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # older versions are broken: refuse them
    # A client that closes its connection without TLS's own goodbye (close_notify)
    # reads as a normal end (b""), not as an error: many clients do.
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    try:
        context.load_cert_chain(args.certfile, args.keyfile)
    except (ssl.SSLError, OSError) as error:
        parser.error(f"--certfile {args.certfile} --keyfile {args.keyfile}: not a certificate and its key ({error})")
    return context


def handshake_failure(error: Exception, seconds: float) -> str:
    """Why a handshake failed, in a few words: OpenSSL's reason when it gives one."""
    if isinstance(error, TimeoutError):
        return f"no handshake within {seconds:g} s"
    reason = getattr(error, "reason", None)
    if reason:
        return reason.lower().replace("_", " ")  # e.g. "http request", "wrong version number"
    return str(error) or type(error).__name__


class TLSMixin:
    """A ``socketserver`` server that speaks TLS when ``tls_context`` is set. Put it first::

        class EchoServer(tls.TLSMixin, common.SandboxServer, socketserver.ThreadingTCPServer): ...

    The handshake runs in the client's own thread (``finish_request``), never
    in the thread that accepts connections: a client that connects and says
    nothing, or sends plain text or garbage, delays only itself, and is closed
    with one log line. The handler then reads and writes the TLS socket as it
    would a plain one: ``recv`` returns the decrypted bytes.
    """

    tls_context: ssl.SSLContext | None = None
    handshake_seconds: float = HANDSHAKE_SECONDS

    def finish_request(self, request: socket.socket, client_address) -> None:
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(self.handshake_seconds)
        secure = self.tls_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            secure.do_handshake()
        except (ssl.SSLError, OSError) as error:  # OSError: the client reset, or the deadline passed
            common.log(f"{common.peer(client_address)} TLS handshake failed ({handshake_failure(error, self.handshake_seconds)}): closed")
            # The socket without its TLS layer. Closing it with received bytes unread makes the
            # system send a reset: read (and drop) what has arrived, so the client reads a normal end.
            with socket.socket(fileno=secure.detach()) as plain, contextlib.suppress(OSError):
                plain.setblocking(False)
                plain.recv(65536)
            return
        with secure:
            common.log(f"{common.peer(client_address)} TLS handshake done: {secure.version()}, {secure.cipher()[0]}")
            super().finish_request(secure, client_address)
            # TLS's own goodbye (close_notify), so that the client reads a clean end, not
            # a truncation; a client that has gone already makes this fail, harmlessly.
            with contextlib.suppress(OSError, ValueError):
                secure.settimeout(1)
                secure.unwrap()
