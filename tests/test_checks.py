"""The checkers of checks/: each one passes a right answer, fails wrong ones, and sees a stub.

Every checker must be able to fail: for each, at least one wrong answer is fed
and its verdict asserted, along with the message a student would read. Also
tested here: the core (time limits, stubs, printing) and strict mode.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import pickle
import socket
import socketserver
import struct
import threading
import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from checks import core
from checks import ch02, ch03, ch04, ch05, ch06
from checker_helpers import stub, verdict
from checks.core import FAILED, NOT_DONE, PASSED, CheckError
from sandbox import launch


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checkers as a student runs them: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


@pytest.fixture(scope="module")
def echo():
    with launch("echo", replace=False) as server:
        yield server


@pytest.fixture(scope="module")
def contacts():
    with launch("contacts", replace=False) as server:
        yield server


@pytest.fixture(scope="module")
def httpbin():
    with launch("httpbin", replace=False) as server:
        yield server


@pytest.fixture(scope="module")
def rnd():
    with launch("random", replace=False) as server:
        yield server


# --- core ---------------------------------------------------------------------


@core.checker("demo")
def check_demo(fn):
    core.expect_equal(core.call(fn, 2, limit=1), 4, "demo(2)", "double it")
    return "demo(2) is 4"


def test_a_verdict_per_status(capsys):
    verdict(check_demo(lambda x: 2 * x), PASSED, "✅ demo: passed (demo(2) is 4)")
    verdict(check_demo(lambda x: x + 3), FAILED, "❌ demo: failed", "expected: demo(2): 4", "got:      5", "hint:     double it")
    verdict(check_demo(stub), NOT_DONE, "⏳ demo: not done yet", "TODO: write your code here")
    verdict(check_demo(lambda x: ...), NOT_DONE, "returns ... (Ellipsis)")
    verdict(check_demo(...), NOT_DONE, "not written yet")
    printed = capsys.readouterr().out
    assert printed.count("✅") == 1 and printed.count("❌") == 1 and printed.count("⏳") == 3


def test_a_failure_shows_the_students_line_and_a_missing_return():
    def broken(x):
        return {}["key"]

    verdict(check_demo(broken), FAILED, "it raised KeyError: 'key' (in broken, line", 'return {}["key"]')
    verdict(check_demo(lambda x: None), FAILED, "got:      None (NoneType)", "double it")
    with pytest.raises(core.Failure, match="None") as caught:
        core.expect_equal(None, 4, "f(2)")
    assert caught.value.hint == "did the function forget to `return` its result?"


def test_a_function_that_hangs_fails_after_the_time_limit():
    never = threading.Event()
    try:
        verdict(check_demo(lambda x: never.wait()), FAILED, "within 1 s", "still running after 1 s")
    finally:
        never.set()


def test_a_bug_in_a_checker_is_a_failure_not_an_exception():
    @core.checker("buggy")
    def check_buggy(fn):
        return 1 / 0

    verdict(check_buggy(None), FAILED, "the check to run to its end", "ZeroDivisionError", "bug in the check itself")


def test_the_verdict_is_printed_once_in_a_notebook(capsys):
    result = check_demo(lambda x: 2 * x)
    result._ipython_display_()  # IPython's display of the cell's value, right after the check printed it
    assert capsys.readouterr().out.count("✅") == 1
    result._ipython_display_()  # shown again later, in another cell
    assert capsys.readouterr().out.count("✅") == 1


def test_long_bytes_are_summarized_where_they_differ():
    with pytest.raises(core.Failure) as caught:
        core.expect_equal(b"x" * 1000 + b"y", b"x" * 2000, "2,000 bytes")
    assert caught.value.got == "1,001 bytes instead of 2,000, the first 1,000 right; then b'y' where b'xxxxxxxxxx' was expected"


# --- strict mode --------------------------------------------------------------


@pytest.mark.parametrize("folder, raising", [
    ("solutions", {FAILED, NOT_DONE}),
    ("solutions/capstone", {FAILED, NOT_DONE}),
    ("exercises", {PASSED, FAILED}),
    ("exercises/capstone-messaging", {PASSED, FAILED}),
    ("elsewhere", {FAILED, NOT_DONE}),
])
def test_strict_mode_raises_on_the_verdicts_a_test_run_forbids(tmp_path, monkeypatch, folder, raising):
    (tmp_path / folder).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / folder)
    monkeypatch.setenv(core.ENV, "strict")
    answers = {PASSED: lambda x: 2 * x, FAILED: lambda x: 5, NOT_DONE: stub}
    for status, answer in answers.items():
        if status in raising:
            with pytest.raises(CheckError, match=f"says '{status}'"):
                check_demo(answer)
        else:
            assert check_demo(answer).status == status


def test_without_strict_mode_nothing_raises(tmp_path, monkeypatch):
    (tmp_path / "solutions").mkdir()
    monkeypatch.chdir(tmp_path / "solutions")
    for value in ("", "0", "off"):
        monkeypatch.setenv(core.ENV, value)
        assert check_demo(stub).status == NOT_DONE


def test_an_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv(core.ENV, "sometimes")
    with pytest.raises(CheckError, match="not understood"):
        check_demo(lambda x: 2 * x)


# --- 02 -----------------------------------------------------------------------


def recv_until_closed(conn):
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def echo_any_length(address, data, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as conn:
        def send_all():
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all)
        sender.start()
        reply = recv_until_closed(conn)
        sender.join()
    return reply


def is_listening(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def test_recv_until_closed():
    def until_a_short_piece(conn):
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
            if len(chunk) < 65536:  # "nothing more is coming": wrong, more may be on its way
                break
        return b"".join(chunks)

    def via_a_file(conn):
        with conn.makefile("rb") as stream:
            return stream.read()

    verdict(ch02.check_recv_until_closed(recv_until_closed), PASSED)
    verdict(ch02.check_recv_until_closed(via_a_file), PASSED)
    # The check sends one byte and the rest only once it was read: a reader that stops early stops there, every time.
    for early in (lambda conn: conn.recv(65536), until_a_short_piece):
        verdict(ch02.check_recv_until_closed(early), FAILED, "the 5 bytes the other side sent, in order: b'hello'",
                "got:      b'h'", "in a loop until it returns b\"\"")
    verdict(ch02.check_recv_until_closed(lambda conn: recv_until_closed(conn).decode("latin-1")), FAILED, "a str", "return bytes")
    verdict(ch02.check_recv_until_closed(stub), NOT_DONE)


def test_echo_any_length(echo):
    def without_thread(address, data, timeout=1.0):
        with socket.create_connection(address, timeout=timeout) as conn:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            return recv_until_closed(conn)

    def without_timeout(address, data, timeout=5.0):
        with socket.create_connection(address) as conn:
            def send_all():
                conn.sendall(data)
                conn.shutdown(socket.SHUT_WR)

            sender = threading.Thread(target=send_all)
            sender.start()
            reply = recv_until_closed(conn)
            sender.join()
        return reply

    verdict(ch02.check_echo_any_length(echo_any_length, echo), PASSED, "64 MB", "given up after the timeout")
    verdict(ch02.check_echo_any_length(without_thread, echo), FAILED, "64,000,000 bytes", "TimeoutError", "second thread")
    verdict(ch02.check_echo_any_length(without_timeout, echo), FAILED, "to give up after 0.5 s on a server that never answers",
            "still running after 3 s", "create_connection(address, timeout=timeout)")
    verdict(ch02.check_echo_any_length(stub), NOT_DONE)  # launches its own echo server


def test_is_listening(echo):
    def raising(host, port):
        with socket.create_connection((host, port), timeout=1):
            return True

    def asks_for_an_answer(host, port):
        try:
            with socket.create_connection((host, port), timeout=0.5) as conn:
                conn.sendall(b"hello?")
                return conn.recv(10) != b""
        except OSError:
            return False

    verdict(ch02.check_is_listening(is_listening, echo), PASSED, "after a timeout", "the connection closed")
    verdict(ch02.check_is_listening(raising, echo), FAILED, "ConnectionRefusedError", "return False")
    verdict(ch02.check_is_listening(asks_for_an_answer, echo), FAILED, "never says anything", "only connect")
    verdict(ch02.check_is_listening(stub, echo), NOT_DONE)


def test_is_listening_closes_its_connection(echo):
    def connect_ex(host, port, timeout=1.0):  # no timeout, and the socket left for Python to close
        return socket.socket().connect_ex((host, port)) == 0

    def unclosed(host, port, timeout=1.0):
        try:
            conn = socket.create_connection((host, port), timeout=timeout)  # noqa: F841 - the mistake
            return True
        except OSError:
            return False

    kept = []

    def kept_open(host, port, timeout=1.0):
        try:
            kept.append(socket.create_connection((host, port), timeout=timeout))
            return True
        except OSError:
            return False

    try:
        for leaky in (connect_ex, unclosed):
            verdict(ch02.check_is_listening(leaky, echo), FAILED, "to close the socket it connected",
                    "ResourceWarning: unclosed", "with socket.create_connection((host, port), timeout=timeout):")
        verdict(ch02.check_is_listening(kept_open, echo), FAILED, "to close the connection before returning",
                "still open 2 s after", "closes it at the end of the block")
    finally:
        for conn in kept:
            conn.close()


def test_is_listening_gives_up_after_its_timeout(echo):
    def no_timeout(host, port, timeout=1.0):
        try:
            with socket.create_connection((host, port)):
                return True
        except OSError:
            return False

    def refused_only(host, port, timeout=1.0):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except ConnectionRefusedError:
            return False

    verdict(ch02.check_is_listening(no_timeout, echo), FAILED, "timeout=0.5) to return False within 0.5 s",
            "still running after 3 s", "give connect a timeout")
    verdict(ch02.check_is_listening(refused_only, echo), FAILED, "it raised TimeoutError", "TimeoutError is an OSError too")


def test_a_full_backlog_makes_connecting_time_out_every_time():
    from checks.helpers import full_backlog

    with full_backlog() as address:
        assert address is not None, "on Linux, a full listen queue drops the handshake"
        for _ in range(3):
            with pytest.raises(TimeoutError):
                socket.create_connection(address, timeout=0.2)
        with pytest.raises(requests.ConnectTimeout):
            requests.get(f"http://{address[0]}:{address[1]}/", timeout=0.2)


# --- 03 -----------------------------------------------------------------------


def send_json(conn, obj):
    conn.sendall(json.dumps(obj).encode("utf-8") + b"\n")


def recv_json(lines):
    line = lines.readline()
    if not line.endswith(b"\n"):
        raise ConnectionError("closed")
    return json.loads(line)


def recv_exactly(conn, n):
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return bytes(data)


def send_framed(conn, obj):
    body = json.dumps(obj).encode("utf-8")
    conn.sendall(struct.pack("!I", len(body)) + body)


def recv_framed(conn, max_size=1_000_000):
    (size,) = struct.unpack("!I", recv_exactly(conn, 4))
    if size > max_size:
        raise ValueError("too large")
    return json.loads(recv_exactly(conn, size))


def test_send_json():
    verdict(ch03.check_send_json(send_json), PASSED)
    verdict(ch03.check_send_json(lambda conn, obj: conn.sendall(json.dumps(obj).encode())), FAILED, 'end each message with b"\\n"')
    verdict(ch03.check_send_json(lambda conn, obj: conn.sendall(json.dumps(obj, indent=2).encode() + b"\n")), FAILED,
            "5 messages sent as 5 lines", "unless you pass indent=")
    verdict(ch03.check_send_json(lambda conn, obj: conn.sendall(json.dumps(obj) + "\n")), FAILED, "TypeError", "encode")
    verdict(ch03.check_send_json(stub), NOT_DONE)


def test_send_json_sends_everything():
    """The check's socket sends 3 bytes per send(), as any send() may: one send() loses the rest, every time."""

    def in_a_loop(conn, obj):
        data = memoryview(json.dumps(obj).encode("utf-8") + b"\n")
        while data:
            data = data[conn.send(data):]

    def through_a_file(conn, obj):
        with conn.makefile("wb") as stream:
            stream.write(json.dumps(obj).encode("utf-8") + b"\n")

    verdict(ch03.check_send_json(lambda conn, obj: conn.send(json.dumps(obj).encode("utf-8") + b"\n")), FAILED,
            "all 5 messages sent whole", "got:      15 bytes", "sendall() sends them all")
    verdict(ch03.check_send_json(in_a_loop), PASSED)
    verdict(ch03.check_send_json(through_a_file), PASSED)


def test_recv_json(contacts):
    verdict(ch03.check_recv_json(recv_json, send_json, contacts), PASSED, "contacts server")
    verdict(ch03.check_recv_json(lambda lines: json.loads(lines.readline()), send_json, contacts), FAILED,
            "ConnectionError when the connection closes", "JSONDecodeError", "raise ConnectionError then")
    verdict(ch03.check_recv_json(lambda lines: json.loads(lines.read()), send_json, contacts), FAILED)
    verdict(ch03.check_recv_json(recv_json, stub, contacts), NOT_DONE)
    verdict(ch03.check_recv_json(stub, send_json, contacts), NOT_DONE)


def test_length_prefix(echo):
    def little_endian(conn, obj):
        body = json.dumps(obj).encode("utf-8")
        conn.sendall(struct.pack("<I", len(body)) + body)

    def no_limit(conn, max_size=1_000_000):
        (size,) = struct.unpack("!I", recv_exactly(conn, 4))
        return json.loads(recv_exactly(conn, size))

    verdict(ch03.check_length_prefix(send_framed, recv_framed, echo), PASSED)
    verdict(ch03.check_length_prefix(little_endian, recv_framed, echo), FAILED, "big-endian", "network byte order")
    verdict(ch03.check_length_prefix(send_framed, no_limit, echo), FAILED, "ValueError for a header announcing 100 MB",
            "TimeoutError", "before reading the body")
    verdict(ch03.check_length_prefix(send_framed, stub, echo), NOT_DONE)

    def with_send(conn, obj):
        body = json.dumps(obj).encode("utf-8")
        conn.send(struct.pack("!I", len(body)) + body)

    verdict(ch03.check_length_prefix(with_send, recv_framed, echo), FAILED, "the header and the whole message sent",
            "got:      3 bytes", "sendall() sends them all")


def test_safe_loads():
    def refuse(name):
        raise ValueError(name)

    def safe_loads(data):
        return json.loads(data.decode("utf-8"), parse_constant=refuse)

    def with_pickle_fallback(data):
        try:
            return safe_loads(data)
        except ValueError:
            return pickle.loads(data)

    verdict(ch03.check_safe_loads(safe_loads), PASSED)
    verdict(ch03.check_safe_loads(with_pickle_fallback), FAILED, "it ran the code inside the pickle!", "never call pickle.loads")
    verdict(ch03.check_safe_loads(json.loads), FAILED, "ValueError for NaN", "parse_constant")
    verdict(ch03.check_safe_loads(lambda data: json.loads(data.decode("latin-1"), parse_constant=refuse)), FAILED,
            "'Grüße'", 'data.decode("utf-8")')

    def none_for_garbage(data):
        try:
            return safe_loads(data)
        except json.JSONDecodeError:
            return None

    verdict(ch03.check_safe_loads(none_for_garbage), FAILED, "ValueError for empty bytes", "let it go up to the caller")
    verdict(ch03.check_safe_loads(stub), NOT_DONE)


# --- 04 -----------------------------------------------------------------------


GET = "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"


def http_get(host, port, path, timeout=5.0, lower=True, whole=True, split=False, request=GET, use_timeout=True):
    request = request.format(path=path, host=host, port=port)
    with socket.create_connection((host, port), timeout=timeout if use_timeout else None) as sock:
        sock.sendall(request.encode("ascii"))
        raw = recv_until_closed(sock) if whole else sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    if split == "body":
        body = raw.split(b"\r\n\r\n")[1]  # wrong: cut at a b"\r\n\r\n" inside the body
    status_line, *lines = head.decode("iso-8859-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        if split == "headers":
            value = line.split(":")[1]  # wrong: "Date: Wed, 02 Dec 2026 19:51:08 GMT" loses its time
        headers[name.strip().lower() if lower else name.strip()] = value.strip()
    return int(status_line.split()[1]), headers, body


def post_json(url, payload, timeout=5.0):
    response = requests.post(url, json=payload, timeout=timeout)
    response.raise_for_status()
    return response.json()


def classify(url, timeout=2.0, follow=False, never_raise=True):
    try:
        response = requests.get(url, allow_redirects=follow, timeout=timeout)
        if not never_raise:
            response.raise_for_status()
    except requests.Timeout:
        return "timeout"
    except requests.ConnectionError:
        return "unreachable"
    return {2: "ok", 3: "redirect", 4: "client error", 5: "server error"}[response.status_code // 100]


def test_http_get(httpbin):
    verdict(ch04.check_http_get(http_get, httpbin), PASSED)
    verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, whole=False), httpbin), FAILED)  # where depends on timing
    verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, lower=False), httpbin), FAILED, "lower case", "Content-Type")
    verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, split="headers"), httpbin), FAILED, "headers['date']",
            "a value may hold \":\" too", "line.partition")
    verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, split="body"), httpbin), FAILED,
            "the whole body of /bytes/102400", "the first 57,750 bytes", "raw.partition")
    verdict(ch04.check_http_get(stub, httpbin), NOT_DONE)


def test_http_get_sends_host_and_connection_close_and_has_a_timeout(httpbin):
    """Waitress answers a request without Host, and an HTTP/1.0 request closes without being asked:
    the check reads the headers httpbin received. A silent server shows a missing timeout."""
    no_host = "GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n"
    http_1_0 = "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n"  # closes anyway, but was not asked to
    verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, request=no_host), httpbin), FAILED,
            "the Host header httpbin received", "got:      None", 'send "Host: <host>:<port>"', "HTTP/1.1 requires it")
    verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, request=http_1_0), httpbin), FAILED,
            "the Connection header httpbin received: 'close'", "got:      ''", 'send "Connection: close"')
    verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, use_timeout=False), httpbin), FAILED,
            "timeout=0.5) to give up after 0.5 s on a server that never answers", "still running after 3 s",
            "create_connection((host, port), timeout=timeout)")


@pytest.mark.slow
def test_http_get_that_waits_for_a_close_never_asked_for_fails(httpbin):
    keep_alive = "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
    bare_newlines = "GET {path} HTTP/1.1\nHost: {host}:{port}\nConnection: close\n\n"  # waitress waits for \r\n\r\n
    for request in (keep_alive, bare_newlines):
        verdict(ch04.check_http_get(lambda *a, **k: http_get(*a, **k, request=request), httpbin), FAILED,
                "to return a result", "TimeoutError", 'send "Connection: close"', 'each line ending with "\\r\\n"')


def test_post_json(httpbin):
    def as_form(url, payload, timeout=5.0):
        return requests.post(url, data=payload, timeout=timeout).json()

    def no_status_check(url, payload, timeout=5.0):
        response = requests.post(url, json=payload, timeout=timeout)
        return response.json() if response.content else {}

    def json_before_status(url, payload, timeout=5.0):
        response = requests.post(url, json=payload, timeout=timeout)
        answer = response.json()  # an error page is no JSON: JSONDecodeError before raise_for_status
        response.raise_for_status()
        return answer

    def dumped_by_hand(url, payload, timeout=5.0):
        response = requests.post(url, data=json.dumps(payload), timeout=timeout)  # no Content-Type: application/json
        response.raise_for_status()
        return response.json()

    def swallowed(url, payload, timeout=5.0):
        try:
            return post_json(url, payload, timeout)
        except requests.RequestException:
            return None

    def by_get(url, payload, timeout=5.0):
        response = requests.get(url, json=payload, timeout=timeout)
        response.raise_for_status()
        return response.json()

    verdict(ch04.check_post_json(post_json, httpbin), PASSED)
    verdict(ch04.check_post_json(as_form, httpbin), FAILED, "as JSON", "json=payload")
    verdict(ch04.check_post_json(no_status_check, httpbin), FAILED, "to raise HTTPError", "it returned {}", "raise_for_status")
    verdict(ch04.check_post_json(json_before_status, httpbin), FAILED, "/status/500", "to raise HTTPError",
            "it raised JSONDecodeError", "raise_for_status() before response.json()")
    verdict(ch04.check_post_json(dumped_by_hand, httpbin), FAILED, "to receive the payload as JSON", "got:      None",
            "json=payload encodes it as JSON")
    verdict(ch04.check_post_json(swallowed, httpbin), FAILED, "to raise HTTPError", "it returned None", "raise_for_status")
    verdict(ch04.check_post_json(by_get, httpbin), FAILED, "it raised HTTPError: 405", "requests.post(url, json=payload")
    verdict(ch04.check_post_json(stub, httpbin), NOT_DONE)


def test_post_json_without_the_callers_timeout_fails(httpbin):
    def no_timeout(url, payload, timeout=5.0):
        response = requests.post(url, json=payload)
        response.raise_for_status()
        return response.json()

    def its_own_timeout(url, payload, timeout=5.0):
        response = requests.post(url, json=payload, timeout=5.0)  # the default, not the caller's timeout
        response.raise_for_status()
        return response.json()

    for wrong in (no_timeout, its_own_timeout):
        verdict(ch04.check_post_json(wrong, httpbin), FAILED, "requests.Timeout after 0.5 s", "still running after 1.5 s",
                "pass timeout=timeout to requests.post (the caller's, not a number of your own)")


def test_classify(httpbin):
    verdict(ch04.check_classify(classify, httpbin), PASSED)
    verdict(ch04.check_classify(lambda url, timeout=2.0: classify(url, timeout, follow=True), httpbin), FAILED,
            "/status/302", "allow_redirects=False")
    verdict(ch04.check_classify(lambda url, timeout=2.0: classify(url, timeout, never_raise=False), httpbin), FAILED,
            "HTTPError", "never raise")
    verdict(ch04.check_classify(stub, httpbin), NOT_DONE)


def test_classify_uses_the_callers_timeout(httpbin):
    """/delay/3 with timeout=0.3 must end by 1.5 s: a timeout of 2 s (the default) waits longer every time."""

    def no_timeout(url, timeout=2.0):
        try:
            response = requests.get(url, allow_redirects=False)
        except requests.Timeout:
            return "timeout"
        except requests.ConnectionError:
            return "unreachable"
        return {2: "ok", 3: "redirect", 4: "client error", 5: "server error"}[response.status_code // 100]

    def the_default_timeout(url, timeout=2.0):
        return classify(url, 2.0)

    def one_except_for_all(url, timeout=2.0):
        try:
            response = requests.get(url, allow_redirects=False, timeout=timeout)
        except Exception:  # noqa: BLE001 - the mistake: a timeout is not "unreachable"
            return "unreachable"
        return {2: "ok", 3: "redirect", 4: "client error", 5: "server error"}[response.status_code // 100]

    def refused_only(url, timeout=2.0):
        try:
            response = requests.get(url, allow_redirects=False, timeout=timeout)
        except requests.Timeout:
            return "timeout"
        except ConnectionRefusedError:  # requests wraps it: a requests.ConnectionError reaches the caller
            return "unreachable"
        return {2: "ok", 3: "redirect", 4: "client error", 5: "server error"}[response.status_code // 100]

    def by_ranges(url, timeout=2.0):
        try:
            code = requests.get(url, allow_redirects=False, timeout=timeout).status_code
        except requests.Timeout:
            return "timeout"
        except requests.ConnectionError:
            return "unreachable"
        return "ok" if code <= 300 else "redirect" if code <= 400 else "client error" if code <= 500 else "server error"

    for wrong in (no_timeout, the_default_timeout):
        verdict(ch04.check_classify(wrong, httpbin), FAILED, "classify(.../delay/3, timeout=0.3) to return 'timeout'",
                "still running after 1.5 s", "the caller's, not a number of your own")
    verdict(ch04.check_classify(one_except_for_all, httpbin), FAILED, "classify(.../delay/3, timeout=0.3): 'timeout'",
            "got:      'unreachable'", "catch requests.Timeout")
    verdict(ch04.check_classify(refused_only, httpbin), FAILED, "it raised ConnectionError", "catch requests.ConnectionError")
    verdict(ch04.check_classify(by_ranges, httpbin), FAILED, "classify(.../status/500): 'server error'",
            "got:      'client error'", "5xx server error")


def test_classify_catches_timeout_before_connection_error(httpbin):
    def connection_error_first(url, timeout=2.0):
        try:
            response = requests.get(url, allow_redirects=False, timeout=timeout)
        except requests.ConnectionError:  # a ConnectTimeout is one too: it never reaches the next clause
            return "unreachable"
        except requests.Timeout:
            return "timeout"
        return {2: "ok", 3: "redirect", 4: "client error", 5: "server error"}[response.status_code // 100]

    def read_timeout_only(url, timeout=2.0):
        try:
            response = requests.get(url, allow_redirects=False, timeout=timeout)
        except requests.ReadTimeout:
            return "timeout"
        except requests.ConnectionError:
            return "unreachable"
        return {2: "ok", 3: "redirect", 4: "client error", 5: "server error"}[response.status_code // 100]

    verdict(ch04.check_classify(classify, httpbin), PASSED, "one while connecting")
    for wrong in (connection_error_first, read_timeout_only):
        verdict(ch04.check_classify(wrong, httpbin), FAILED, "where connecting times out", "got:      'unreachable'",
                "ConnectTimeout, which is both", "catch requests.Timeout before requests.ConnectionError")


def get_many(host, port, paths, timeout=5.0, mistake=None):
    """Step 4's right answer, or with one of the mistakes students make (``mistake``)."""
    answers, unread = [], b""
    sock = socket.create_connection((host, port), timeout=timeout)
    deadline = time.monotonic() + 3.5  # "spin" gives up on its own, after the check did (3 s)
    try:
        for path in paths:
            if mistake == "new connection" and answers:
                sock.close()
                sock, unread = socket.create_connection((host, port), timeout=timeout), b""
            version = "1.0" if mistake == "HTTP/1.0" else "1.1"
            close = "Connection: close\r\n" if mistake == "close" else ""
            sock.sendall(f"GET {path} HTTP/{version}\r\nHost: {host}:{port}\r\n{close}\r\n".encode("ascii"))
            if mistake == "one recv for the head":
                unread += sock.recv(65536)
            while b"\r\n\r\n" not in unread and mistake != "one recv for the head":
                chunk = sock.recv(65536)
                if not chunk:  # closed (once the check has given up on it): no head will come
                    raise ConnectionError(f"closed before the end of the head to {path}")
                unread += chunk
            head, _, unread = unread.partition(b"\r\n\r\n")
            if mistake == "drop what came with the head":
                unread = b""
            status_line, *fields = head.decode("iso-8859-1").split("\r\n")
            headers = {}
            for name, _, value in (field.partition(":") for field in fields):
                headers[name.strip() if mistake == "names as sent" else name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", headers.get("Content-Length", 0)))
            if mistake == "until closed":
                while chunk := sock.recv(65536):
                    unread += chunk
            elif mistake == "one recv for the body":
                if len(unread) < length:
                    unread += sock.recv(65536)
            elif mistake == "wait after an empty body" and length == 0:
                sock.settimeout(1.5)  # "in case something comes after all"
                with contextlib.suppress(TimeoutError):
                    unread += sock.recv(65536)
                sock.settimeout(timeout)
            else:
                if mistake == "recv first":
                    unread += sock.recv(65536)
                while len(unread) < length:
                    chunk = sock.recv(65536)
                    if not chunk and mistake != "spin":
                        raise ConnectionError(f"closed after {len(unread)} of {length} bytes")
                    if time.monotonic() > deadline:
                        raise RuntimeError("spun for 3.5 s")
                    unread += chunk
            answers.append((int(status_line.split()[1]), headers, unread[:length]))
            unread = unread[length:]
    finally:
        sock.close()
    return answers


def test_get_many(httpbin):
    verdict(ch04.check_get_many(get_many, httpbin), PASSED, "4 answers on one connection", "ConnectionError")
    verdict(ch04.check_get_many(stub, httpbin), NOT_DONE)

    def wrong(mistake):
        return ch04.check_get_many(lambda host, port, paths, timeout=5.0: get_many(host, port, paths, timeout, mistake), httpbin)

    verdict(wrong("close"), FAILED, 'no "Connection: close"', "leave it out to keep the connection")
    verdict(wrong("HTTP/1.0"), FAILED, "requests in HTTP/1.1", "'GET /hello HTTP/1.0'")
    verdict(wrong("new connection"), FAILED, "the 4 requests sent on one connection", "got:      4 connections",
            "connect once")
    verdict(wrong("names as sent"), FAILED, "headers['content-length'] == '13'", "a server may write Content-Length or content-length")
    verdict(wrong("one recv for the head"), FAILED, "to return a result", "a head may come in several pieces")
    verdict(wrong("one recv for the body"), FAILED, "to return a result", "then exactly Content-Length bytes of body")


@pytest.mark.slow
def test_get_many_that_waits_for_more_fails(httpbin):
    """Each waits for bytes that never come (4 s each): reading until the server closes, dropping the start
    of the body that came with the head, calling recv() before looking at an empty body's length."""
    def wrong(mistake):
        return ch04.check_get_many(lambda host, port, paths, timeout=5.0: get_many(host, port, paths, timeout, mistake), httpbin)

    for mistake in ("until closed", "drop what came with the head"):
        verdict(wrong(mistake), FAILED, "the last request sent being 'GET /hello HTTP/1.1'", "still running after 4 s",
                "it never closes to say \"the end\"", "bytes received after the head are the start of the body")
    verdict(wrong("recv first"), FAILED, "the last request sent being 'GET /missing HTTP/1.1'", "still running after 4 s",
            "Content-Length: 0 means no body at all")
    verdict(wrong("spin"), FAILED, "ConnectionError from get_many", "after 5 of the 13 bytes", "still running after 3 s",
            'recv() returns b"" once the server has closed')
    verdict(wrong("wait after an empty body"), FAILED, "each next request (or the end) at once after an answer was complete",
            "of waiting after the answer to /missing", "do not wait for more")


# --- 05 -----------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(f"{status} {message}")
        self.status, self.message = status, message


def limits_from_openapi(spec, path="/api/random/int"):
    limits = {}
    for parameter in spec["paths"][path]["get"]["parameters"]:
        schema = parameter["schema"]
        if "minimum" in schema and "maximum" in schema:
            limits[parameter["name"]] = (schema["minimum"], schema["maximum"])
    return limits


class RandomClient:
    def __init__(self, base_url, timeout=5.0):
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.session = requests.Session()
        self.limits = limits_from_openapi(self.session.get(f"{self.base_url}/api/openapi.json", timeout=timeout).json())

    def validate(self, n, min, max):
        for name, value in (("n", n), ("min", min), ("max", max)):
            low, high = self.limits[name]
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(name)
        if min > max:
            raise ValueError("min > max")

    def ints(self, n=1, min=0, max=100, seed=None):
        self.validate(n, min, max)
        response = self.session.get(f"{self.base_url}/api/random/int", timeout=self.timeout,
                                    params={"n": n, "min": min, "max": max, "seed": seed})
        if not response.ok:
            raise ApiError(response.status_code, response.json()["message"])
        return response.json()["values"]

    def close(self):
        self.session.close()


def patient(forcelist=(429, 502, 503, 504), raise_on_status=False):
    class PatientRandomClient(RandomClient):
        def __init__(self, base_url, timeout=5.0, retries=3):
            super().__init__(base_url, timeout)
            retry = Retry(total=retries, backoff_factor=0.01, status_forcelist=list(forcelist),
                          raise_on_status=raise_on_status)
            self.session.mount("http://", HTTPAdapter(max_retries=retry))

    return PatientRandomClient


def test_limits(rnd):
    copied = {"n": (1, 1000), "min": (-10**15, 10**15), "max": (-10**15, 10**15), "seed": (0, 10**15)}
    verdict(ch05.check_limits(limits_from_openapi, rnd), PASSED)
    verdict(ch05.check_limits(lambda spec, path="/api/random/int": copied, rnd), FAILED, "maximum is 7", "read the numbers")
    verdict(ch05.check_limits(lambda spec, path="": {}, rnd), FAILED, "the limits of GET /api/random/int")
    verdict(ch05.check_limits(stub, rnd), NOT_DONE)


def test_random_client(rnd):
    class Trusting(RandomClient):
        def validate(self, n, min, max):
            pass

    class WholeAnswer(RandomClient):
        def ints(self, n=1, min=0, max=100, seed=None):
            return self.session.get(f"{self.base_url}/api/random/int", params={"n": n}, timeout=5).json()

    verdict(ch05.check_random_client(RandomClient, ApiError, rnd), PASSED)
    verdict(ch05.check_random_client(Trusting, ApiError, rnd), FAILED, "ValueError for n=0", "it raised ApiError: 400")
    verdict(ch05.check_random_client(WholeAnswer, ApiError, rnd), FAILED, "a list of 5 ints", '"values"')

    class Exclusive(RandomClient):  # wrong: the limits are inclusive
        def validate(self, n, min, max):
            for name, value in (("n", n), ("min", min), ("max", max)):
                low, high = self.limits[name]
                if not isinstance(value, int) or not low < value < high:
                    raise ValueError(name)
            if min > max:
                raise ValueError("min > max")

    class NoEqual(RandomClient):  # wrong: min == max is allowed
        def validate(self, n, min, max):
            super().validate(n, min, max)
            if min >= max:
                raise ValueError("min >= max")

    class WholeBody(RandomClient):  # wrong: the whole JSON error as the message
        def ints(self, n=1, min=0, max=100, seed=None):
            self.validate(n, min, max)
            response = self.session.get(f"{self.base_url}/api/random/int", timeout=self.timeout,
                                        params={"n": n, "min": min, "max": max, "seed": seed})
            if not response.ok:
                raise ApiError(response.status_code, response.text)
            return response.json()["values"]

    for wrong in (Exclusive, NoEqual):
        verdict(ch05.check_random_client(wrong, ApiError, rnd), FAILED, "ints(1, 6, 6): n at its minimum, min == max",
                "it raised ValueError", "the limits are inclusive")
    verdict(ch05.check_random_client(WholeBody, ApiError, rnd), FAILED, "ApiError.message: the server's message",
            '\'{"status": 400,', "error_message(response)")
    verdict(ch05.check_random_client(RandomClient, ..., rnd), NOT_DONE, "ApiError is still ...")

    class Unfinished(RandomClient):
        ints = stub

    verdict(ch05.check_random_client(Unfinished, ApiError, rnd), NOT_DONE)


def test_retries(rnd):
    verdict(ch05.check_retries(patient(), ApiError, rnd), PASSED)
    class Impatient(RandomClient):
        def __init__(self, base_url, timeout=5.0, retries=3):
            super().__init__(base_url, timeout)

    verdict(ch05.check_retries(Impatient, ApiError, rnd), FAILED, "3 requests to the server with retries=3, the server answering 503 then 503",
            "got:      1", "too few tries: mount an HTTPAdapter")
    verdict(ch05.check_retries(patient(forcelist=(400, 429, 502, 503, 504)), ApiError, rnd), FAILED,
            "1 request to the server", "got:      2", "400 means the request is wrong")
    verdict(ch05.check_retries(patient(raise_on_status=True), ApiError, rnd), FAILED, "RetryError", "raise_on_status=False")

    class Unfinished(RandomClient):
        def __init__(self, base_url, timeout=5.0, retries=3):
            super().__init__(base_url, timeout)
            raise NotImplementedError("TODO: mount an HTTPAdapter")

    verdict(ch05.check_retries(Unfinished, ApiError, rnd), NOT_DONE, "TODO: mount an HTTPAdapter")


# --- 06 -----------------------------------------------------------------------


def respond(line, count):
    command, _, text = line.partition(" ")
    return {"UPPER": text.upper(), "COUNT": str(count), "QUIT": "BYE"}.get(command, "ERROR unknown command")


def line_server(base=socketserver.ThreadingTCPServer, locked=True, daemon=True, next_count=None):
    class LineServer(base):
        daemon_threads = daemon
        request_queue_size = 128
        allow_reuse_address = True

        def __init__(self, address, handler):
            super().__init__(address, handler)
            self.count = 0
            self.lock = threading.Lock() if locked else None

        def next_count(self):
            with self.lock:
                self.count += 1
                return self.count

    if next_count is not None:
        LineServer.next_count = next_count
    return LineServer


class LineHandler(socketserver.StreamRequestHandler):
    timeout = 10

    def handle(self):
        for raw in self.rfile:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.wfile.write(respond(line, self.server.next_count()).encode("utf-8") + b"\n")
            if line.partition(" ")[0] == "QUIT":
                return


def test_respond():
    def by_prefix(line, count):
        return respond("UPPER " + line[5:].lstrip(), count) if line.startswith("UPPER") else respond(line, count)

    verdict(ch06.check_respond(respond), PASSED)
    verdict(ch06.check_respond(by_prefix), FAILED, "'UPPERCASE is not UPPER'", "the command is the first word")
    verdict(ch06.check_respond(lambda line, count: respond(line, count) + "\n"), FAILED, "the handler adds the newline")

    def by_words(line, count):
        words = line.split()
        return " ".join(words[1:]).upper() if words[:1] == ["UPPER"] else respond(line, count)

    verdict(ch06.check_respond(by_words), FAILED, "respond('UPPER two  spaces, kept', 5): 'TWO  SPACES, KEPT'",
            "got:      'TWO SPACES, KEPT'", "line.split() would lose them")
    verdict(ch06.check_respond(lambda line, count: line.upper() if line.startswith("UPPER ") else respond(line, count)), FAILED,
            "got:      'UPPER HELLO'", 'the text after "UPPER ", in capitals')
    def first_word(line, count):
        command = line.split()[0]  # wrong: an empty line has no first word
        return respond(line, count) if command else "?"

    verdict(ch06.check_respond(first_word), FAILED, "first_word('', 1)", "IndexError", "even an empty one")

    def whole_line(line, count):
        command, _, text = line.partition(" ")
        if command == "UPPER":
            return text.upper()
        if line == "COUNT":  # wrong: the command is the first word, "COUNT please" is a COUNT
            return str(count)
        if line == "QUIT":
            return "BYE"
        return "ERROR unknown command"

    def stripped(line, count):
        command, _, text = line.partition(" ")
        return text.strip().upper() if command == "UPPER" else respond(line, count)  # wrong: the spaces are the text's

    verdict(ch06.check_respond(whole_line), FAILED, "respond('COUNT please', 9): '9'", "got:      'ERROR unknown command'",
            "the command is the first word, whatever follows it")
    verdict(ch06.check_respond(stripped), FAILED, "respond('UPPER  padded ', 6): ' PADDED '", "got:      'PADDED'",
            "spaces included", "and so would .strip()")
    verdict(ch06.check_respond(stub), NOT_DONE)


def test_counter():
    verdict(ch06.check_counter(line_server()), PASSED)
    verdict(ch06.check_counter(line_server(base=socketserver.TCPServer)), FAILED, "a thread per client", "ThreadingTCPServer")
    verdict(ch06.check_counter(line_server(daemon=False)), FAILED, "daemon_threads = True")
    verdict(ch06.check_counter(line_server(locked=False)), FAILED, "a lock on the server", "self.lock = threading.Lock()")

    class NoListening(line_server()):
        def __init__(self, address, handler):  # wrong: socketserver's constructor, which binds and listens, is skipped
            self.count = 0
            self.lock = threading.Lock()

    def zero_first(self):
        with self.lock:
            self.count += 1
            return self.count - 1

    def as_text(self):
        with self.lock:
            self.count += 1
            return str(self.count)

    for check in (ch06.check_counter, lambda cls: ch06.check_line_server(cls, LineHandler)):
        verdict(check(NoListening), FAILED, "LineServer(address, handler) to listen on address", "self.socket is missing",
                "call super().__init__(address, handler) first")
    class NoNextCount(socketserver.ThreadingTCPServer):
        daemon_threads = True

        def __init__(self, address, handler):
            super().__init__(address, handler)
            self.count = 0
            self.lock = threading.Lock()

    for check in (ch06.check_counter, lambda cls: ch06.check_line_server(cls, LineHandler)):
        verdict(check(NoNextCount), FAILED, "a method next_count() on LineServer", "got:      None", "def next_count(self)")
    verdict(ch06.check_counter(line_server(next_count=zero_first)), FAILED, "the first next_count(): 1", "got:      0",
            "1 the first time")
    verdict(ch06.check_counter(line_server(next_count=as_text)), FAILED, "the first next_count(): 1 (int)", "'1' (str)")
    verdict(ch06.check_counter(stub), NOT_DONE)


def test_counter_without_the_lock_fails_every_time():
    """Without a lock, 10,000 counts from 20 threads usually come out right anyway: the check
    watches self.count itself, and fails a read or write made without holding the lock."""

    def unlocked(self):
        self.count += 1
        return self.count

    def returned_outside(self):
        with self.lock:
            self.count += 1
        return self.count

    def written_inside_only(self):
        count = self.count + 1
        with self.lock:
            self.count = count
        return count

    def a_new_lock_each_time(self):
        with threading.Lock():
            self.count += 1
            return self.count

    def by_hand(self):
        self.lock.acquire()
        try:
            self.count += 1
            return self.count
        finally:
            self.lock.release()

    class Reentrant(line_server()):
        def __init__(self, address, handler):
            super().__init__(address, handler)
            self.lock = threading.RLock()

    for wrong in (unlocked, returned_outside, written_inside_only, a_new_lock_each_time):
        verdict(ch06.check_counter(line_server(next_count=wrong)), FAILED,
                "to read and write self.count only while holding self.lock", "got:      it read self.count while holding no lock",
                "two threads can read the same count", "inside `with self.lock:`")
    verdict(ch06.check_counter(line_server(next_count=by_hand)), PASSED)
    verdict(ch06.check_counter(Reentrant), PASSED)


def test_line_server():
    class PerConnection(LineHandler):
        def handle(self):
            count = 0
            for raw in self.rfile:
                count += 1
                line = raw.decode().rstrip("\r\n")
                self.wfile.write(respond(line, count).encode() + b"\n")
                if line == "QUIT":
                    return

    class NeverQuits(LineHandler):
        def handle(self):
            for raw in self.rfile:
                line = raw.decode().rstrip("\r\n")
                self.wfile.write(respond(line, self.server.next_count()).encode() + b"\n")

    class Unfinished(LineHandler):
        handle = stub

    class QuitsOnTheReply(LineHandler):
        def handle(self):
            for raw in self.rfile:
                line = raw.decode().rstrip("\r\n")
                reply = respond(line, self.server.next_count())
                self.wfile.write(reply.encode() + b"\n")
                if reply == "BYE":  # wrong: "UPPER bye" answers BYE too
                    return

    verdict(ch06.check_line_server(line_server(), LineHandler), PASSED, "lines in one piece and in two", "COUNT of 211")
    verdict(ch06.check_line_server(line_server(), PerConnection), FAILED, "6 calls of self.server.next_count() for the 6 lines",
            "got:      0", "not a counter of the handler's own")
    verdict(ch06.check_line_server(line_server(), NeverQuits), FAILED, "close the connection after BYE")
    verdict(ch06.check_line_server(line_server(), QuitsOnTheReply), FAILED, "the reply to b'NOPE\\n'",
            "compare the command, not the reply")
    verdict(ch06.check_line_server(line_server(), Unfinished), NOT_DONE, "LineHandler.handle() still raises")

    class Latin1(LineHandler):
        def handle(self):
            for raw in self.rfile:
                line = raw.decode("latin-1").rstrip("\r\n")  # wrong: "ü" arrives as two bytes of UTF-8
                self.wfile.write(respond(line, self.server.next_count()).encode("utf-8") + b"\n")
                if line.partition(" ")[0] == "QUIT":
                    return

    verdict(ch06.check_line_server(line_server(), Latin1), FAILED, "the reply to b'UPPER gr\\xc3\\xbc\\xc3\\x9fe\\r\\n'",
            'decode each line as UTF-8 (raw.decode("utf-8"))')
    verdict(ch06.check_line_server(stub, LineHandler), NOT_DONE)


def test_line_server_counts_with_the_servers_counter():
    """One client after another, a counter of the handler's own, or self.server.count read without
    the lock, give the right numbers: the check counts the calls of next_count() and watches count."""
    module_counter = itertools.count(1)

    class OwnCounter(LineHandler):
        def handle(self):
            for raw in self.rfile:
                line = raw.decode("utf-8").rstrip("\r\n")
                self.wfile.write(respond(line, next(module_counter)).encode("utf-8") + b"\n")
                if line.partition(" ")[0] == "QUIT":
                    return

    class ReadsTheCount(LineHandler):
        def handle(self):
            for raw in self.rfile:
                line = raw.decode("utf-8").rstrip("\r\n")
                self.server.next_count()
                self.wfile.write(respond(line, self.server.count).encode("utf-8") + b"\n")  # wrong: another thread may have counted since
                if line.partition(" ")[0] == "QUIT":
                    return

    def unlocked(self):
        self.count += 1
        return self.count

    verdict(ch06.check_line_server(line_server(), OwnCounter), FAILED, "6 calls of self.server.next_count()", "got:      0",
            "call self.server.next_count() once per line")
    verdict(ch06.check_line_server(line_server(), ReadsTheCount), FAILED,
            "the handler to use the count only through self.server.next_count()",
            "it read self.server.count while holding no lock", "answer COUNT with the number next_count() returned")
    verdict(ch06.check_line_server(line_server(next_count=unlocked), LineHandler), FAILED,
            "next_count() to read and write self.count only while holding the lock", "it read self.count while holding no lock",
            "as in step 2")


def test_line_server_reads_whole_lines():
    """A reply per recv() works while the client sends one line and waits: the check sends two lines at
    once, then one in two pieces (and waits 0.5 s for a reply to the first piece: one comes at once)."""

    class PerRecvLines(LineHandler):
        def handle(self):
            while data := self.request.recv(1024):
                for raw in data.splitlines():  # wrong: the last piece may be half a line
                    line = raw.decode("utf-8")
                    self.wfile.write(respond(line, self.server.next_count()).encode("utf-8") + b"\n")
                    if line.partition(" ")[0] == "QUIT":
                        return

    class OneRecvOneLine(LineHandler):
        def handle(self):
            while data := self.request.recv(1024):
                line = data.decode("utf-8").rstrip("\r\n")  # wrong: one recv() may hold two lines
                self.wfile.write(respond(line, self.server.next_count()).encode("utf-8") + b"\n")
                if line.partition(" ")[0] == "QUIT":
                    return

    verdict(ch06.check_line_server(line_server(), PerRecvLines), FAILED,
            "no reply to b'UPPER ha' before the rest of its line", "got:      b'HA\\n' at once", "iterate over self.rfile")
    verdict(ch06.check_line_server(line_server(), OneRecvOneLine), FAILED,
            "two replies, b'ONE\\n' then b'TWO\\n'", "b'ONE\\n', b'UPPER TWO\\n'", "TCP carries a stream of bytes")


@pytest.mark.slow
def test_line_server_one_client_at_a_time_fails():
    verdict(ch06.check_line_server(line_server(base=socketserver.TCPServer), LineHandler), FAILED,
            "50 clients served at once", "TimeoutError", "ThreadingTCPServer")


def test_a_remote_server_can_stand_in_for_a_sandbox_server(echo):
    from checks.helpers import Remote

    remote = Remote(f"tcp://{echo.host}:{echo.port}")
    assert (remote.address, remote.running, remote.url) == (echo.address, True, echo.url)
    verdict(ch02.check_is_listening(is_listening, remote), PASSED)
    with pytest.raises(ValueError, match="give the scheme, host and port"):
        Remote("192.168.1.10")



def test_the_checks_http_servers_stay_quiet_when_a_browser_hangs_up_and_report_other_errors(capsys):
    from http.server import BaseHTTPRequestHandler

    from checks.servers import ThreadedHTTPServer

    with ThreadedHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        printed = []
        for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset"), ValueError("a bug")):
            try:
                raise error
            except Exception:  # socketserver calls handle_error inside its except clause
                server.handle_error(None, ("127.0.0.1", 1))
            printed.append(capsys.readouterr().err)
    assert printed[:2] == ["", ""], "a client that hangs up is no error"
    assert "ValueError: a bug" in printed[2], "a real error keeps its traceback"
