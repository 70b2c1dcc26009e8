"""TLS in the sandbox (sandbox/tls.py): the course CA, echo and httpbin over TLS, launch(..., tls=True).

Every bad handshake (plain TCP, plain HTTP, garbage, a silent client, a client
that refuses the certificate) is closed with a log line, and the server goes on
serving the next client.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import ssl
import subprocess
import sys
import threading

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sandbox import launch
from sandbox.tls import SERVER_NAMES, CertificateAuthority, course_ca


@pytest.fixture(scope="module")
def echo():
    # A generous deadline: in TLS 1.3 the client's handshake ends before the server's,
    # so a server that gave up on a slow (loaded) machine would read as an empty echo.
    with launch("echo", tls=True, replace=False, idle_timeout=30) as srv:
        yield srv


@pytest.fixture
def impatient():
    """An echo server that closes a silent client after 2 s, before TLS or after."""
    with launch("echo", tls=True, replace=False, idle_timeout=2) as srv:
        yield srv


def client_context(ca_file) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


PIECE = 64 * 1024  # bytes in flight at most: far below what the socket buffers hold


def tls_echo(srv, payload: bytes, server_hostname: str = "localhost", context: ssl.SSLContext | None = None) -> bytes:
    """Send ``payload`` over TLS and read exactly as many bytes back (TLS has no half-close in ``ssl``).

    One thread, a piece at a time: each piece is read back before the next is
    sent, so neither direction's buffers fill up. Not a reader thread beside a
    writer: OpenSSL forbids reading and writing one connection from two threads
    at once (it lost data or ended the stream early here, one run in three).
    """
    context = context or client_context(srv.ca_file)
    with socket.create_connection(srv.address, timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_hostname) as conn:
        received = bytearray()
        for start in range(0, len(payload), PIECE):
            sent = payload[start:start + PIECE]
            conn.sendall(sent)
            while len(received) < start + len(sent):
                chunk = conn.recv(65536)
                if not chunk:
                    return bytes(received)
                received.extend(chunk)
        return bytes(received)


def certificate(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# --------------------------------------------------------------------------- the CA


def test_the_ca_issues_what_it_says(tmp_path):
    ca = CertificateAuthority(tmp_path / "ca")
    cert_file, key_file = ca.issue("localhost", "127.0.0.1")
    cert = certificate(cert_file)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.issuer == certificate(ca.cert_file).subject != cert.subject
    assert cert.not_valid_before_utc < datetime.datetime.now(datetime.timezone.utc) < cert.not_valid_after_utc
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate(ca.cert_file).extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" in key_file.read_bytes() and b"PRIVATE KEY" not in ca.cert_file.read_bytes()
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == ["ca.pem", "server-1.key", "server-1.pem"]
    if os.name != "nt":
        assert key_file.stat().st_mode & 0o077 == 0  # the owner's only
    # the signature checks out against the CA's public key
    cert.verify_directly_issued_by(certificate(ca.cert_file))


def test_expired_and_client_certificates(tmp_path):
    ca = CertificateAuthority(tmp_path)
    old = certificate(ca.issue("localhost", expired=True)[0])
    assert old.not_valid_after_utc < datetime.datetime.now(datetime.timezone.utc)
    client = certificate(ca.issue("student-1", client=True)[0])
    usages = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(ValueError):
        ca.issue()


def test_course_ca_is_one_per_process():
    assert course_ca() is course_ca() and course_ca().cert_file.is_file()


# --------------------------------------------------------------------------- echo over TLS


def test_launch_gives_the_ca_file(echo):
    assert echo.url.startswith("tls://127.0.0.1:") and echo.ca_file == course_ca().cert_file
    with launch("echo", replace=False) as plain:
        assert plain.ca_file is None and plain.url.startswith("tcp://")


def test_echo_over_tls(echo):
    assert tls_echo(echo, b"hello") == b"hello"
    assert tls_echo(echo, "héllo ✓".encode(), server_hostname="127.0.0.1") == "héllo ✓".encode()
    big = os.urandom(2 * 1024 * 1024)
    assert tls_echo(echo, big) == big
    context = client_context(echo.ca_file)
    with socket.create_connection(echo.address, timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as conn:
        assert conn.version() in ("TLSv1.2", "TLSv1.3")
        peer = conn.getpeercert()
        assert ("DNS", "localhost") in peer["subjectAltName"] and ("IP Address", "127.0.0.1") in peer["subjectAltName"]
    assert echo.wait_for("TLS handshake done: TLSv1.")


def test_the_server_says_goodbye_in_tls(echo):
    """After the client's close_notify (unwrap), the server answers with its own: a clean end."""
    context = client_context(echo.ca_file)
    with socket.create_connection(echo.address, timeout=5) as raw:
        conn = context.wrap_socket(raw, server_hostname="localhost")
        conn.sendall(b"bye")
        assert conn.recv(10) == b"bye"
        conn.unwrap()  # raises if the server closed without its close_notify


@pytest.mark.parametrize("junk, reason", [
    (b"hello\n", "wrong version number"),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "http request"),
    (b"\x16\x03\x01\x00\x05garbage-garbage", "TLS handshake failed"),
    (b"\x00" * 10_000, "TLS handshake failed"),
])
def test_plain_bytes_on_the_tls_port_are_refused_cleanly(echo, junk, reason):
    with socket.create_connection(echo.address, timeout=5) as raw:
        raw.sendall(junk)
        answer = b"".join(iter(lambda: raw.recv(100), b""))  # a normal end, not a reset
    assert not answer.startswith(junk[:5])  # nothing echoed in clear
    assert echo.wait_for(reason)
    assert tls_echo(echo, b"still serving") == b"still serving"


def test_a_silent_client_blocks_nobody(impatient):
    with socket.create_connection(impatient.address, timeout=10) as silent:
        assert tls_echo(impatient, b"meanwhile") == b"meanwhile"
        assert silent.recv(1) == b""  # closed after the 2 s idle timeout, no handshake done
    assert impatient.wait_for("no handshake within 2 s")


@pytest.mark.parametrize("context, server_hostname, error, logged", [
    (ssl.create_default_context(), "localhost", "unable to get local issuer certificate", "unknown ca"),
    (None, "evil.example", "Hostname mismatch", "bad certificate"),
])
def test_a_client_that_refuses_the_certificate(echo, context, server_hostname, error, logged):
    context = context or client_context(echo.ca_file)
    with socket.create_connection(echo.address, timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match=error):
            context.wrap_socket(raw, server_hostname=server_hostname)
    assert echo.wait_for(logged)
    assert tls_echo(echo, b"next") == b"next"


def test_an_expired_certificate_is_refused_by_the_client(tmp_path):
    cert, key = course_ca().issue(*SERVER_NAMES, expired=True)
    with launch("echo", certfile=cert, keyfile=key, replace=False) as srv:
        with socket.create_connection(srv.address, timeout=5) as raw:
            with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
                client_context(course_ca().cert_file).wrap_socket(raw, server_hostname="localhost")


def test_tls_options_are_checked_before_the_server_starts(tmp_path):
    cert, key = course_ca().issue("localhost")
    other_cert, _ = course_ca().issue("localhost")
    (tmp_path / "junk.pem").write_text("not a certificate")
    cases = [(["--certfile", str(cert)], "both --certfile and --keyfile"),
             (["--keyfile", str(key)], "both --certfile and --keyfile"),
             (["--certfile", str(cert), "--keyfile", str(tmp_path / "missing.key")], "no such file"),
             (["--certfile", str(tmp_path / "junk.pem"), "--keyfile", str(key)], "not a certificate and its key"),
             (["--certfile", str(other_cert), "--keyfile", str(key)], "not a certificate and its key")]
    for server in ("echo", "httpbin"):
        for options, message in cases:
            result = subprocess.run([sys.executable, "-m", "sandbox", server, *options],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 2 and message in result.stderr, (server, options, result.stderr)


def test_mutual_tls_by_hand():
    """The context of a server that asks for a client certificate from the course CA."""
    ca = course_ca()
    server_cert, server_key = ca.issue("localhost")
    client_cert, client_key = ca.issue("student-1", client=True)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.cert_file))
    server.load_cert_chain(server_cert, server_key)
    server.verify_mode = ssl.CERT_REQUIRED
    with socket.create_server(("127.0.0.1", 0)) as listener:
        results = []

        def serve(n):
            for _ in range(n):
                conn, _ = listener.accept()
                with conn:
                    try:
                        with server.wrap_socket(conn, server_side=True) as secure:
                            results.append(secure.getpeercert()["subject"])
                    except ssl.SSLError as error:
                        results.append(error.reason)

        thread = threading.Thread(target=serve, args=(2,), daemon=True)
        thread.start()
        with_cert = client_context(ca.cert_file)
        with_cert.load_cert_chain(client_cert, client_key)
        for context in (with_cert, client_context(ca.cert_file)):
            with socket.create_connection(listener.getsockname(), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="localhost") as conn:
                try:
                    conn.recv(1)  # TLS 1.3: the server's verdict on the client arrives after the handshake
                except ssl.SSLError:
                    pass
        thread.join(10)
    assert results[0] == ((("commonName", "student-1"),),)
    assert results[1] == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


# --------------------------------------------------------------------------- httpbin over HTTPS


@pytest.mark.skipif(os.name == "nt", reason="HTTPS httpbin is served by gunicorn (Linux and macOS)")
def test_httpbin_over_https():
    with launch("httpbin", tls=True, replace=False) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        answer = requests.get(f"{srv.url}/get", params={"a": "1"}, verify=srv.ca_file, timeout=10)
        assert answer.json()["args"] == {"a": "1"} and answer.json()["url"].startswith("https://")
        with pytest.raises(requests.exceptions.SSLError):  # the system's CAs do not know ours
            requests.get(f"{srv.url}/get", timeout=10)
        with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP on that port
            requests.get(f"http://127.0.0.1:{srv.port}/get", timeout=10)
        for junk in (b"\x16\x03\x01garbage" * 10, b"\x00" * 1000):
            with socket.create_connection(srv.address, timeout=5) as raw:
                raw.sendall(junk)
                with contextlib.suppress(OSError):  # an alert, an end or a reset: all fine, if quick
                    raw.recv(100)
        with socket.create_connection(srv.address, timeout=5):  # silent: blocks nobody
            again = requests.post(f"{srv.url}/post", json={"x": 1}, verify=srv.ca_file, timeout=10)
        assert again.json()["json"] == {"x": 1}
        assert srv.wait_for("POST /post 200")

