"""The UDP echo server: boundaries kept, seeded drops, delays that hold up nobody, bad options refused."""

from __future__ import annotations

import random
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from sandbox import SandboxError, launch
from sandbox.udp_echo import UDPEchoServer, duration, fraction

PYTHON = sys.executable


def udp(timeout: float = 5.0, family: socket.AddressFamily = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    return sock


def expected_drops(seed: int, loss: float, count: int) -> set[int]:
    """The datagram numbers (from 1) the server drops: one draw of random.Random(seed) each."""
    draws = random.Random(seed)
    return {number for number in range(1, count + 1) if draws.random() < loss}


def dropped_numbers(log: str) -> set[int]:
    return {int(n) for n in re.findall(r"dropped datagram #(\d+) from", log)}


def send_paced(srv, sock: socket.socket, count: int, batch: int = 25) -> list[int]:
    """Send ``count`` numbered datagrams, a batch at a time, and return the numbers echoed.

    After each batch, wait until the server has seen it and read the echoes so far: in one
    burst, the server's or this socket's receive buffer would overflow, and the kernel drop some too.
    """
    echoed = []

    def read(timeout: float | None) -> None:
        sock.settimeout(timeout)  # 0: only what has arrived already
        try:
            while True:
                echoed.append(int(sock.recvfrom(1024)[0]))
        except (BlockingIOError, TimeoutError):
            pass

    for start in range(0, count, batch):
        for number in range(start, min(start + batch, count)):
            sock.sendto(f"{number + 1}".encode(), srv.address)
        last = min(start + batch, count)
        assert srv.wait_for(f"datagram #{last} ", timeout=10), srv.log[-500:]
        read(0)
    read(0.5)  # the last echoes, should any be on their way still
    return echoed


def test_each_datagram_comes_back_whole_and_separate():
    with launch("udp-echo", replace=False) as srv, udp() as sock:
        assert srv.url.startswith("udp://127.0.0.1:")
        for message in (b"first", b"second", b"third"):
            sock.sendto(message, srv.address)
        replies = [sock.recvfrom(1024) for _ in range(3)]
        assert [data for data, _ in replies] == [b"first", b"second", b"third"]
        assert all(origin == srv.address for _, origin in replies)
        sock.sendto(b"", srv.address)  # a datagram of 0 bytes is still a datagram
        assert sock.recvfrom(1024) == (b"", srv.address)
        biggest = bytes(range(256)) * 255 + bytes(227)  # 65,507 bytes: the most IPv4 carries
        sock.sendto(biggest, srv.address)
        assert sock.recvfrom(65535)[0] == biggest
        sock.sendto(b"still here", srv.address)
        assert sock.recvfrom(1024)[0] == b"still here"


def test_seeded_drops_are_the_expected_ones_and_about_the_fraction():
    count, loss, seed = 400, 0.3, 7
    with launch("udp-echo", replace=False, loss=loss, seed=seed) as srv, udp() as sock:
        echoed = send_paced(srv, sock, count)
    dropped = dropped_numbers(srv.log)
    assert dropped == expected_drops(seed, loss, count)
    assert 0.2 * count < len(dropped) < 0.4 * count  # loose: one fixed seed, so never flaky
    assert sorted(echoed) == [n for n in range(1, count + 1) if n not in dropped]
    assert f"{count} datagrams received, {count - len(dropped)} echoed, {len(dropped)} dropped" in srv.log
    assert "seed 7" in srv.log.splitlines()[1]


def test_same_seed_same_drops_another_seed_others():
    def drops(seed: int) -> set[int]:
        with launch("udp-echo", replace=False, loss=0.5, seed=seed) as srv, udp() as sock:
            send_paced(srv, sock, 60, batch=20)
        return dropped_numbers(srv.log)

    first, again, other = drops(11), drops(11), drops(12)
    assert first == again and first
    assert other != first


def test_the_drop_log_line_names_the_datagram_its_sender_and_its_size():
    with launch("udp-echo", replace=False, loss=1, seed=0) as srv, udp() as sock:
        sock.sendto(b"hello, world", srv.address)
        port = sock.getsockname()[1]
        assert srv.wait_for(f"dropped datagram #1 from 127.0.0.1:{port} (12 bytes)")
        with pytest.raises(TimeoutError):
            sock.settimeout(0.3)
            sock.recvfrom(1024)  # loss 1: nothing ever comes back


def test_delay_holds_each_echo_back():
    with launch("udp-echo", replace=False, delay="200ms") as srv, udp() as sock:
        started = time.perf_counter()  # the server's clock too
        sock.sendto(b"slow", srv.address)
        assert sock.recvfrom(1024)[0] == b"slow"
        assert time.perf_counter() - started >= 0.2  # a lower bound: never flaky
        assert srv.wait_for("(4 bytes, after 200 ms)")


class HeldBack(UDPEchoServer):
    """The real server, in this process, holding datagram #1 for 10 s and echoing the others at once."""

    def fate(self, number, data, client):
        return 10.0 if number == 1 else 0.0

    def note(self, message):
        pass


def test_a_delayed_reply_does_not_hold_up_another_client():
    server = HeldBack(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with udp() as first, udp() as second:
            first.sendto(b"first", server.server_address)
            deadline = time.monotonic() + 5
            while server.counts["received"] < 1 and time.monotonic() < deadline:  # until its reply waits 10 s
                time.sleep(0.01)
            second.sendto(b"second", server.server_address)
            assert second.recvfrom(1024)[0] == b"second"  # answered while the first reply waits
            assert server.pending == 1
            first.setblocking(False)
            with pytest.raises(BlockingIOError):
                first.recvfrom(1024)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    assert not thread.is_alive()
    assert server.summary() == "2 datagrams received, 1 echoed, 0 dropped, 1 still delayed (not sent)"


def test_a_client_gone_before_its_echo_does_not_stop_the_server():
    with launch("udp-echo", replace=False, delay="100ms") as srv:
        with udp() as gone:
            gone.sendto(b"bye", srv.address)  # closed before the echo: it reaches a closed port
        assert srv.wait_for("datagram #1 ")
        with udp() as sock:
            sock.sendto(b"anyone?", srv.address)
            assert sock.recvfrom(1024)[0] == b"anyone?"


def test_too_many_waiting_replies_are_dropped_and_logged():
    with launch("udp-echo", replace=False, delay="10s", max_pending=2) as srv, udp() as sock:
        for number in range(4):
            sock.sendto(b"x%d" % number, srv.address)
        assert srv.wait_for("dropped datagram #4 ")
        assert "dropped datagram #3 from" in srv.log and "2 replies already waiting (--max-pending)" in srv.log
    assert "4 datagrams received, 0 echoed, 0 dropped, 2 too many waiting, 2 still delayed (not sent)" in srv.log


def test_ipv6():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with launch("udp-echo", replace=False, host="::1") as srv, udp(family=socket.AF_INET6) as sock:
        assert srv.url.startswith("udp://[::1]:")
        sock.sendto(b"six", srv.address)
        assert sock.recvfrom(1024)[0] == b"six"


def test_stop_leaves_no_process_and_prints_the_summary():
    srv = launch("udp-echo", replace=False, loss=0.5, seed=3)
    with udp() as sock:
        send_paced(srv, sock, 10, batch=10)
    srv.stop()
    assert srv.process.poll() is not None
    dropped = len(expected_drops(3, 0.5, 10))
    assert f"10 datagrams received, {10 - dropped} echoed, {dropped} dropped" in srv.log
    assert srv.log.rstrip().endswith("udp-echo stopped")


@pytest.mark.parametrize("option, value, message", [
    ("--loss", "1.5", "1.5 is not a fraction from 0 (drop nothing) to 1 (drop everything)"),
    ("--loss", "20", "(20% is 0.2)"),
    ("--loss", "-0.1", "is not a fraction"),
    ("--loss", "nan", "is not a fraction"),
    ("--loss", "lots", "'lots' is not a number"),
    ("--delay", "fast", "'fast' is not a delay: write 50ms, 0.05s or 0.05"),
    ("--delay", "50", "50 is more than 10 s; for milliseconds write 50ms"),
    ("--delay", "-1", "is not a delay"),
    ("--delay", "1e999", "is more than 10 s"),
    ("--seed", "x", "invalid int value"),
    ("--max-pending", "0", "0 is less than 1"),
])
def test_bad_options_are_refused_clearly(option, value, message):
    result = subprocess.run([PYTHON, "-m", "sandbox", "udp-echo", option, value], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert f"argument {option}: " in result.stderr and message in result.stderr, result.stderr


def test_launch_reports_a_refused_option():
    with pytest.raises(SandboxError, match="is not a fraction"):
        launch("udp-echo", replace=False, loss=2)


def test_durations_and_fractions():
    assert duration("50ms") == pytest.approx(0.05)
    assert duration("0.05s") == duration("0.05") == pytest.approx(0.05)
    assert duration("0") == 0 and duration("10s") == 10
    assert fraction("0") == 0 and fraction("1") == 1 and fraction("0.25") == 0.25
