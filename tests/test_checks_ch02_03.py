"""checks/ch02.py step 4 (ask_lines, a client for a line protocol) and checks/ch03.py step 5 (FramedClient)
against a right answer and wrong ones: each wrong one must get ❌ and the hint that points at its mistake."""

from __future__ import annotations

import socket

import pytest

from checker_helpers import stub, verdict
from checks import core
from checks.ch02 import LineServer, check_ask_lines
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
    with LineServer(pace=0.001, answers=1, tail=b"TW") as server:
        with socket.create_connection(server.address, timeout=5) as conn:
            conn.sendall("grüße\nsecond\n".encode("utf-8"))
            pieces = []
            while piece := conn.recv(65536):
                pieces.append(piece)
    assert b"".join(pieces) == "GRÜSSE\nTW".encode("utf-8")
    assert len(pieces) > 2  # sent one byte at a time: not one piece
    assert server.connections == 1 and server.received == ["grüße".encode("utf-8"), b"second"]
