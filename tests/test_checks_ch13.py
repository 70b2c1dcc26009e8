"""checks/ch13.py against right and wrong answers."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from checker_helpers import stub, verdict
from checks import core
from checks.ch13 import check_client_context, check_diagnose, check_echo_over_tls

NO_CHECK_TIME = 0x200000  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the ssl module has no name for it


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checker as a student runs it: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


# --------------------------------------------------------------------------- step 1


def right_context(ca_file):
    return ssl.create_default_context(cafile=ca_file)


def context_by_hand(ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname, no CA yet
    context.load_verify_locations(str(ca_file))
    return context


def context_from_text(ca_file):
    return ssl.create_default_context(cadata=Path(ca_file).read_text(encoding="ascii"))


def system_context(ca_file):
    return ssl.create_default_context()


def bare_context(ca_file):
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def system_and_course(ca_file):
    context = ssl.create_default_context()
    context.load_verify_locations(ca_file)
    return context


def no_hostname_check(ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    return context


def no_verification(ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def no_time_check(ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    context.verify_flags |= NO_CHECK_TIME
    return context


def server_purpose(ca_file):
    return ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca_file)


def the_path(ca_file):
    return ca_file


def no_return(ca_file):
    ssl.create_default_context(cafile=ca_file)


def test_client_context_right_answers_pass():
    for answer in (right_context, context_by_hand, context_from_text):
        verdict(check_client_context(answer), "passed", "refuses another name, an impostor and an expired")


def test_client_context_stubs_are_not_done_yet():
    verdict(check_client_context(stub), "not done")
    verdict(check_client_context(Ellipsis), "not done")
    verdict(check_client_context(lambda ca_file: ...), "not done")


def test_client_context_wrong_answers_fail_with_a_hint():
    verdict(check_client_context(system_context), "failed", "to trust the course CA", "the system's CAs", "cafile=ca_file")
    verdict(check_client_context(bare_context), "failed", "to trust the course CA", "trusts no CA at all")
    verdict(check_client_context(system_and_course), "failed", "the course CA only", "the system's CAs too")
    verdict(check_client_context(no_hostname_check), "failed", "'bank.example'", "it succeeded", "check_hostname = False")
    verdict(check_client_context(no_verification), "failed", "it succeeded", "verify_mode = ssl.CERT_NONE checks nothing")
    verdict(check_client_context(no_time_check), "failed", "expired yesterday", "leave the date check on")
    verdict(check_client_context(server_purpose), "failed", "the context of a server", "ssl.Purpose.SERVER_AUTH")
    verdict(check_client_context(the_path), "failed", "an ssl.SSLContext", "not the CA's file")
    verdict(check_client_context(no_return), "failed", "None", "forget to `return`")


# --------------------------------------------------------------------------- step 2


def send_and_read_back(conn, message, piece=4096):
    """sendall, then recv until len(message) bytes came back, or the end (the right answers' core)."""
    conn.sendall(message)
    reply = b""
    while len(reply) < len(message):
        chunk = conn.recv(piece)
        if not chunk:
            break
        reply += chunk
    return reply


def right_echo(address, message, context, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as conn:
            return send_and_read_back(conn, message)


def single_recv(address, message, context, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as conn:
            conn.sendall(message)
            return conn.recv(1 << 20)


def no_server_hostname(address, message, context, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw, context.wrap_socket(raw) as conn:
        conn.sendall(message)
        return conn.recv(1 << 20)


def always_localhost(address, message, context, server_hostname="localhost"):
    return right_echo(address, message, context, "localhost")


def as_text(address, message, context, server_hostname="localhost"):
    return right_echo(address, message, context, server_hostname).decode()


LEFT_OPEN = []  # the connections of never_closes: still referenced, so never closed by the garbage collector


def never_closes(address, message, context, server_hostname="localhost"):
    conn = context.wrap_socket(socket.create_connection(address, timeout=5), server_hostname=server_hostname)
    LEFT_OPEN.append(conn)
    return send_and_read_back(conn, message)


def in_clear(address, message, context, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as conn:  # no wrap_socket
        return send_and_read_back(conn, message)


def until_closed(address, message, context, server_hostname="localhost"):
    """Chapter 02's way: read until the server closes. The echo server waits for more."""
    with socket.create_connection(address, timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as conn:
            conn.sendall(message)
            return b"".join(iter(lambda: conn.recv(65536), b""))


def own_unverified_context(address, message, context, server_hostname="localhost"):
    return right_echo(address, message, ssl._create_unverified_context(), server_hostname)


def swallows_errors(address, message, context, server_hostname="localhost"):
    try:
        return right_echo(address, message, context, server_hostname)
    except ssl.SSLError:
        return b""


def test_echo_over_tls_right_answer_passes():
    verdict(check_echo_over_tls(right_echo), "passed", "200,000 (in pieces)", "another CA and another name refused")


def test_echo_over_tls_stub_is_not_done_yet():
    verdict(check_echo_over_tls(stub), "not done")
    verdict(check_echo_over_tls(Ellipsis), "not done")


def test_echo_over_tls_wrong_answers_fail_with_a_hint():
    verdict(check_echo_over_tls(single_recv), "failed", "16,384 bytes instead of 200,000", "at most one TLS record")
    verdict(check_echo_over_tls(no_server_hostname), "failed", "check_hostname requires server_hostname",
            "pass server_hostname=server_hostname")
    verdict(check_echo_over_tls(always_localhost), "failed", "to raise ssl.SSLCertVerificationError",
            "pass the server_hostname given on")
    verdict(check_echo_over_tls(as_text), "failed", "text (str)", "without decoding")
    verdict(check_echo_over_tls(in_clear), "failed", "the server saw no TLS handshake", "wrap_socket")
    verdict(check_echo_over_tls(own_unverified_context), "failed", "trusts another CA", "with the context given")
    verdict(check_echo_over_tls(swallows_errors), "failed", "it returned b''", "let its errors through")
    verdict(check_echo_over_tls(never_closes), "failed", "to be closed when it returns", "a `with` block")
    for conn in LEFT_OPEN:
        conn.close()


def test_echo_over_tls_reading_until_closed_is_stuck():
    verdict(check_echo_over_tls(until_closed), "failed", "still running", "stop reading once len(message) bytes")


# --------------------------------------------------------------------------- step 3

REASONS = {18: "unknown CA", 19: "unknown CA", 20: "unknown CA", 10: "expired", 62: "wrong host name"}


def right_diagnose(address, ca_file, server_hostname="localhost"):
    return right_diagnose_with(right_context(ca_file), address, server_hostname)


def by_message(address, ca_file, server_hostname="localhost"):
    """Another right answer: from verify_message, and OSError for everything else."""
    try:
        with socket.create_connection(address, timeout=5) as raw, \
                right_context(ca_file).wrap_socket(raw, server_hostname=server_hostname):
            return "ok"
    except ssl.SSLCertVerificationError as error:
        message = error.verify_message
        return "expired" if "expired" in message else "wrong host name" if "Hostname" in message else "unknown CA"
    except OSError:
        return "not TLS"


def always_ok(address, ca_file, server_hostname="localhost"):
    return "ok"


def mixed_up(address, ca_file, server_hostname="localhost"):
    swapped = {20: "expired", 10: "unknown CA", 62: "wrong host name"}
    with socket.create_connection(address, timeout=5) as raw:
        try:
            with right_context(ca_file).wrap_socket(raw, server_hostname=server_hostname):
                return "ok"
        except ssl.SSLCertVerificationError as error:
            return swapped[error.verify_code]
        except (ssl.SSLError, ConnectionError):
            return "not TLS"


def raises(address, ca_file, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw:
        with right_context(ca_file).wrap_socket(raw, server_hostname=server_hostname):
            return "ok"


def ssl_errors_only(address, ca_file, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw:
        try:
            with right_context(ca_file).wrap_socket(raw, server_hostname=server_hostname):
                return "ok"
        except ssl.SSLCertVerificationError as error:
            return REASONS[error.verify_code]
        except ssl.SSLError:
            return "not TLS"


def ssl_error_first(address, ca_file, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw:
        try:
            with right_context(ca_file).wrap_socket(raw, server_hostname=server_hostname):
                return "ok"
        except (ssl.SSLError, ConnectionError):
            return "not TLS"
        except ssl.SSLCertVerificationError as error:  # never reached: an SSLError already
            return REASONS[error.verify_code]


def every_error_a_certificate(address, ca_file, server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw:
        try:
            with right_context(ca_file).wrap_socket(raw, server_hostname=server_hostname):
                return "ok"
        except ssl.SSLError as error:
            return REASONS.get(getattr(error, "verify_code", 20), "unknown CA")
        except ConnectionError:
            return "not TLS"


def system_trust(address, ca_file, server_hostname="localhost"):
    return right_diagnose_with(ssl.create_default_context(), address, server_hostname)


def names_unchecked(address, ca_file, server_hostname="localhost"):
    context = right_context(ca_file)
    context.check_hostname = False
    return right_diagnose_with(context, address, server_hostname)


def right_diagnose_with(context, address, server_hostname):
    with socket.create_connection(address, timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=server_hostname):
                return "ok"
        except ssl.SSLCertVerificationError as error:
            return REASONS.get(error.verify_code, error.verify_message)
        except (ssl.SSLError, ConnectionError):
            return "not TLS"


def prints(address, ca_file, server_hostname="localhost"):
    print(right_diagnose(address, ca_file, server_hostname))


def test_diagnose_right_answers_pass():
    for answer in (right_diagnose, by_message):
        verdict(check_diagnose(answer), "passed", "7 servers")


def test_diagnose_stub_is_not_done_yet():
    verdict(check_diagnose(stub), "not done")
    verdict(check_diagnose(Ellipsis), "not done")

    def calls_a_stub(address, ca_file, server_hostname="localhost"):
        with socket.create_connection(address, timeout=5) as raw:
            stub(ca_file).wrap_socket(raw, server_hostname=server_hostname)

    verdict(check_diagnose(calls_a_stub), "not done", "in stub()")


def test_diagnose_wrong_answers_fail_with_a_hint():
    verdict(check_diagnose(always_ok), "failed", "an impostor's server", "'unknown CA'", "got:      'ok'",
            "a verifying client refuses this server (verify_code 20")
    verdict(check_diagnose(mixed_up), "failed", "'unknown CA'", "got:      'expired'", "verify_code 20", "20 (or 18, 19)")
    verdict(check_diagnose(raises), "failed", "it raised SSLCertVerificationError",
            "catch ssl.SSLCertVerificationError")
    verdict(check_diagnose(ssl_errors_only), "failed", "resets the connection", "it raised ConnectionResetError",
            "(ConnectionError): 'not TLS' too")
    verdict(check_diagnose(ssl_error_first), "failed", "got:      'not TLS'", "catch it first")
    verdict(check_diagnose(every_error_a_certificate), "failed", "a plain TCP echo server", "got:      'unknown CA'",
            "no verify_code")
    verdict(check_diagnose(system_trust), "failed", "the course's server", "got:      'unknown CA'",
            "connect with client_context(ca_file)")
    verdict(check_diagnose(names_unchecked), "failed", "'bank.example'", "'wrong host name'", "got:      'ok'",
            "check_hostname")
    verdict(check_diagnose(prints), "failed", "got:      None", "return a reason, not print it")
