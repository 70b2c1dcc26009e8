"""checks/ch02.py step 4 (ask_lines, a client for a line protocol) and checks/ch03.py step 5 (FramedClient)
against a right answer and wrong ones: each wrong one must get ❌ and the hint that points at its mistake."""

from __future__ import annotations

import json
import socket
import struct
import threading

import pytest

from checker_helpers import stub, verdict
from checks import core
from checks.ch02 import LineServer, check_ask_lines, check_echo_any_length
from checks.ch03 import FramedServer, check_framed_client
from checks.core import FAILED, NOT_DONE, PASSED


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checkers as a student runs them: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


# --- ch02 step 4: ask_lines ------------------------------------------------------------------------------------------


def ask_lines(address, questions, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as conn:
        conn.sendall(b"".join(q.encode("utf-8") + b"\n" for q in questions))
        answers, unread = [], b""
        while len(answers) < len(questions):
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("closed early")
            unread += chunk
            *lines, unread = unread.split(b"\n")
            answers += [line.decode("utf-8") for line in lines]
    return answers


def in_turn_with_a_file(address, questions, timeout=5.0):
    """Right too: one question, then its answer, read with readline()."""
    with socket.create_connection(address, timeout=timeout) as conn, conn.makefile("rb") as lines:
        answers = []
        for question in questions:
            conn.sendall(question.encode("utf-8") + b"\n")
            line = lines.readline()
            if not line.endswith(b"\n"):
                raise ConnectionError("closed early")
            answers.append(line[:-1].decode("utf-8"))
    return answers


def one_recv_per_answer(address, questions, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as conn:
        answers = []
        for question in questions:
            conn.sendall(question.encode("utf-8") + b"\n")
            answers.append(conn.recv(65536).decode("utf-8").rstrip("\n"))
    return answers


def decodes_each_piece(address, questions, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as conn:
        conn.sendall(b"".join(q.encode("utf-8") + b"\n" for q in questions))
        text = ""
        while text.count("\n") < len(questions):
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("closed early")
            text += chunk.decode("utf-8")
    return text.split("\n")[:-1]


def fewer_answers_when_closed(address, questions, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as conn:
        conn.sendall(b"".join(q.encode("utf-8") + b"\n" for q in questions))
        unread = b""
        while unread.count(b"\n") < len(questions):
            chunk = conn.recv(65536)
            if not chunk:
                break  # returns what it has: the caller never learns the server stopped
            unread += chunk
    return [line.decode("utf-8") for line in unread.split(b"\n")[:-1]]


def keeps_a_cut_answer(address, questions, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as conn, conn.makefile("rb") as lines:
        conn.sendall(b"".join(q.encode("utf-8") + b"\n" for q in questions))
        answers = []
        for _ in questions:
            line = lines.readline()
            if not line:
                raise ConnectionError("closed early")
            answers.append(line.rstrip(b"\n").decode("utf-8"))  # b"TW" (no b"\n") taken as an answer
    return answers


def a_connection_per_question(address, questions, timeout=5.0):
    return [ask_lines(address, [question], timeout)[0] for question in questions]


def no_timeout(address, questions, timeout=5.0):
    with socket.create_connection(address) as conn, conn.makefile("rb") as lines:
        conn.sendall(b"".join(q.encode("utf-8") + b"\n" for q in questions))
        answers = []
        for _ in questions:
            line = lines.readline()
            if not line.endswith(b"\n"):
                raise ConnectionError("closed early")
            answers.append(line[:-1].decode("utf-8"))
    return answers


def no_newline(address, questions, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as conn:
        for question in questions:
            conn.sendall(question.encode("utf-8"))
        return [conn.recv(65536).decode("utf-8") for _ in questions]


def strips_spaces(address, questions, timeout=5.0):
    return [answer.strip() for answer in ask_lines(address, questions, timeout)]


def test_ask_lines_right_answers():
    verdict(check_ask_lines(ask_lines), PASSED, "one connection", "1-byte pieces", "TimeoutError")
    verdict(check_ask_lines(in_turn_with_a_file), PASSED)
    verdict(check_ask_lines(stub), NOT_DONE)


@pytest.mark.parametrize("wrong, fragments", [
    (one_recv_per_answer, ["100,000-character answer whole", "keep what you received in a buffer"]),
    (decodes_each_piece, ["one byte at a time", "UnicodeDecodeError", "decode a whole line, not each piece"]),
    (fewer_answers_when_closed, ["ConnectionError: the server closed after answering 2 of the 3", "it returned",
                                 "say so with ConnectionError"]),
    (keeps_a_cut_answer, ['"TW" without its', "it returned", "an answer cut off"]),
    (a_connection_per_question, ["one connection for all the questions", "4 connections", "connect once"]),
    (no_timeout, ["timeout=0.5) to give up", "still running after 3 s", "give the connection a timeout"]),
    (no_newline, ["no whole line", 'must end with b"\\n"']),
    (strips_spaces, ["without only its", "the spaces of an answer are part of it"]),
])
def test_ask_lines_wrong_answers(wrong, fragments):
    verdict(check_ask_lines(wrong), FAILED, *fragments)


def test_line_server_behaves_as_its_options_say():
    """The check's server itself: capitals, bytes one by one, a FIN after some answers, a cut answer."""
    with LineServer(pace=0.01, answers=1, tail=b"TW") as server:
        with socket.create_connection(server.address, timeout=5) as conn:
            conn.sendall("grüße\nsecond\n".encode("utf-8"))
            pieces = []
            while piece := conn.recv(65536):
                pieces.append(piece)
    assert b"".join(pieces) == "GRÜSSE\nTW".encode("utf-8")
    assert len(pieces) > 2  # sent one byte at a time: not one piece
    assert server.connections == 1 and server.received == ["grüße".encode("utf-8"), b"second"]


# --- ch03 step 5: FramedClient ---------------------------------------------------------------------------------------


def recv_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


def send_framed(conn, obj):
    body = json.dumps(obj).encode("utf-8")
    conn.sendall(struct.pack("!I", len(body)) + body)


def recv_framed(conn, max_size):
    (size,) = struct.unpack("!I", recv_exactly(conn, 4))
    if size > max_size:
        raise ValueError("too large")
    return json.loads(recv_exactly(conn, size))


class FramedClient:
    def __init__(self, address, timeout=5.0, max_size=1_000_000):
        self.conn = socket.create_connection(address, timeout=timeout)
        self.max_size = max_size

    def request(self, obj):
        send_framed(self.conn, obj)
        try:
            return recv_framed(self.conn, self.max_size)
        except ValueError:
            self.close()
            raise

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AConnectionPerRequest(FramedClient):
    def __init__(self, address, timeout=5.0, max_size=1_000_000):
        self.address, self.timeout, self.max_size = address, timeout, max_size
        self.conn = socket.create_connection(address, timeout=timeout)

    def request(self, obj):
        with socket.create_connection(self.address, timeout=self.timeout) as conn:
            send_framed(conn, obj)
            return recv_framed(conn, self.max_size)


class OneRecv(FramedClient):
    def request(self, obj):
        send_framed(self.conn, obj)
        data = self.conn.recv(65536)
        (size,) = struct.unpack("!I", data[:4])
        if size > self.max_size:
            self.close()
            raise ValueError("too large")
        return json.loads(data[4:4 + size])


class NoLimit(FramedClient):
    def request(self, obj):
        send_framed(self.conn, obj)
        (size,) = struct.unpack("!I", recv_exactly(self.conn, 4))
        return json.loads(recv_exactly(self.conn, size))


class StaysOpen(FramedClient):
    def request(self, obj):
        send_framed(self.conn, obj)
        return recv_framed(self.conn, self.max_size)  # ValueError, and the connection kept as if nothing happened


class NoneWhenCut(FramedClient):
    def request(self, obj):
        try:
            return super().request(obj)
        except ConnectionError:
            return None


class NoTimeout(FramedClient):
    def __init__(self, address, timeout=5.0, max_size=1_000_000):
        super().__init__(address, None, max_size)


class CountsCharacters(FramedClient):
    def request(self, obj):
        text = json.dumps(obj, ensure_ascii=False)
        self.conn.sendall(struct.pack("!I", len(text)) + text.encode("utf-8"))
        return recv_framed(self.conn, self.max_size)


class CloseForgotten(FramedClient):
    def close(self):
        pass


class FramedStub:
    def __init__(self, address, timeout=5.0, max_size=1_000_000):
        raise NotImplementedError("TODO: connect, once, with the timeout given")


def test_framed_client_right_answer():
    verdict(check_framed_client(FramedClient), PASSED, "one connection", "1-byte pieces", "TimeoutError")
    verdict(check_framed_client(FramedStub), NOT_DONE, "TODO: connect, once")


@pytest.mark.parametrize("wrong, fragments", [
    (AConnectionPerRequest, ["request 2 on the connection of the first ones", "a new connection", "connect once"]),
    (OneRecv, ["one byte at a time", "read the 4 bytes of the header, however they come"]),
    (NoLimit, ["ValueError at once for a reply announcing 100,000,000 bytes", "compare the size in the header"]),
    (StaysOpen, ["request() to close the connection after a reply announcing", "still open 2 s after",
                 "close the connection before raising"]),
    (NoneWhenCut, ["ConnectionError: the server closed 5 bytes into a 20-byte reply", "it returned None"]),
    (NoTimeout, ["TimeoutError (an OSError)", "still running after 3 s", "connect with the timeout given"]),
    (CountsCharacters, ["the server to read your request", "counts the bytes of the encoded body"]),
    (CloseForgotten, ["close() to close the connection", "still open 2 s later"]),
])
def test_framed_client_wrong_answers(wrong, fragments):
    verdict(check_framed_client(wrong), FAILED, *fragments)


def test_framed_server_behaves_as_its_options_say():
    """The check's server itself: replies whole or one byte at a time, a 100 MB header, a cut reply."""
    with FramedServer(pace=0.001) as server, socket.create_connection(server.address, timeout=5) as conn:
        send_framed(conn, "Grüße")
        assert recv_framed(conn, 1000) == {"echo": "Grüße", "n": 1}
        send_framed(conn, [1])
        assert recv_framed(conn, 1000) == {"echo": [1], "n": 2}
    with FramedServer(huge=True) as server, socket.create_connection(server.address, timeout=5) as conn:
        send_framed(conn, "x")
        assert recv_exactly(conn, 4) == struct.pack("!I", 100_000_000)
    with FramedServer(cut=True) as server, socket.create_connection(server.address, timeout=5) as conn:
        send_framed(conn, "x")
        with pytest.raises(ConnectionError):
            recv_framed(conn, 1000)
    with FramedServer() as server, socket.create_connection(server.address, timeout=5) as conn:
        conn.sendall(struct.pack("!I", 10) + b'"abc"')  # 5 bytes of the 10 announced, then the end
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(10) == b""
    assert server.errors == ["a header announcing 10 bytes, then not that many bytes"]


# --- ch02 step 2: a function that returns (instead of raising) once its timeout ends --------------------------------


def test_echo_any_length_may_return_on_a_silent_server():
    """Giving up with a result is allowed: the check once stopped with its own AttributeError there."""

    def echo_any_length(address, data, timeout=5.0):
        try:
            with socket.create_connection(address, timeout=timeout) as conn:
                def send():
                    conn.sendall(data)
                    conn.shutdown(socket.SHUT_WR)

                sender = threading.Thread(target=send)
                sender.start()
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                sender.join()
            return b"".join(chunks)
        except TimeoutError:
            return b""

    verdict(check_echo_any_length(echo_any_length), PASSED, "given up after the timeout")
