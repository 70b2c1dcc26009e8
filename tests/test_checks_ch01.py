"""The checkers of checks/ch01.py: each passes the solution, fails plausible wrong answers with
the hint a student needs, and sees the untouched stub as "not done yet"."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from checker_helpers import stub, verdict
from checks import ch01, core
from checks.core import FAILED, NOT_DONE, PASSED


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    """The checkers as a student runs them: never raising (make test sets strict mode)."""
    monkeypatch.delenv(core.ENV, raising=False)


# --- the solutions, as in solutions/01-network-basics.md -----------------------------


def describe_subnet(text):
    network = ipaddress.ip_interface(text).network
    return {"network": network, "broadcast": network.broadcast_address, "hosts": network.num_addresses - 2}


def on_network(interface, address):
    return ipaddress.ip_address(address) in ipaddress.ip_interface(interface).network


def port_kind(port):
    if not 0 <= port <= 65535:
        raise ValueError(port)
    if port == 0:
        return "any"
    if port <= 1023:
        return "well-known"
    return "registered" if port <= 49151 else "ephemeral"


def resolve(host, port, family=socket.AF_UNSPEC):
    try:
        entries = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys(entry[4][0] for entry in entries))


def udp_ask(address, message, timeout=1.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(message, address)
        while True:
            answer, origin = sock.recvfrom(65535)
            if origin == address:
                return answer


# --- step 1 -------------------------------------------------------------------------


def test_describe_subnet():
    def strict(text):  # ip_network refuses an address with host bits set
        network = ipaddress.ip_network(text)
        return {"network": network, "broadcast": network.broadcast_address, "hosts": network.num_addresses - 2}

    def every_address(text):
        return {**describe_subnet(text), "hosts": ipaddress.ip_interface(text).network.num_addresses}

    def minus_one(text):
        return {**describe_subnet(text), "hosts": ipaddress.ip_interface(text).network.num_addresses - 1}

    def as_text(text):
        return {key: value if key == "hosts" else str(value) for key, value in describe_subnet(text).items()}

    def the_interface(text):
        return {**describe_subnet(text), "network": ipaddress.ip_interface(text)}

    def with_hosts(text):
        network = ipaddress.ip_interface(text).network
        return {"network": network, "broadcast": network[-1], "hosts": len(list(network.hosts()))}

    verdict(ch01.check_describe_subnet(describe_subnet), PASSED, "network, broadcast address and number of hosts")
    verdict(ch01.check_describe_subnet(with_hosts), PASSED)
    verdict(ch01.check_describe_subnet(strict), FAILED, "has host bits set", "ip_interface()", "strict=False")
    verdict(ch01.check_describe_subnet(every_address), FAILED, "['hosts']: 14", "got:      16", "names the network")
    verdict(ch01.check_describe_subnet(minus_one), FAILED, "got:      15", "broadcast address")
    verdict(ch01.check_describe_subnet(as_text), FAILED, "IPv4Network('192.168.1.32/28')", "'192.168.1.32/28' (a str)",
            "the ipaddress objects themselves")
    verdict(ch01.check_describe_subnet(the_interface), FAILED, "IPv4Interface", "has a .network")
    verdict(ch01.check_describe_subnet(lambda text: describe_subnet(text).values()), FAILED, "a dict with the keys")
    verdict(ch01.check_describe_subnet(stub), NOT_DONE, "TODO: write your code here")


# --- step 2 -------------------------------------------------------------------------


def test_on_network():
    def by_text(interface, address):  # the first three numbers
        return address.startswith(interface.split("/")[0].rsplit(".", 1)[0])

    def strict(interface, address):
        return ipaddress.ip_address(address) in ipaddress.ip_network(interface)

    def a_slash_24(interface, address):  # every network is a /24
        host = interface.split("/")[0]
        return ipaddress.ip_address(address) in ipaddress.ip_network(host + "/24", strict=False)

    def as_text(interface, address):
        return str(on_network(interface, address))

    verdict(ch01.check_on_network(on_network), PASSED, "same first characters are not enough")
    verdict(ch01.check_on_network(by_text), FAILED, "on_network('192.168.1.37/28', '192.168.1.50'): False", "got:      True",
            "counts bits", "The same first numbers (or characters) are not enough")
    verdict(ch01.check_on_network(strict), FAILED, "has host bits set", "ip_interface()")
    verdict(ch01.check_on_network(a_slash_24), FAILED, "'192.168.1.50'): False", "ends at 192.168.1.47")
    verdict(ch01.check_on_network(as_text), FAILED, "True (a bool)", "'True' (str)")
    verdict(ch01.check_on_network(stub), NOT_DONE)


# --- step 3 -------------------------------------------------------------------------


def test_port_kind():
    def no_zero(port):
        if port == 0:
            raise ValueError("0 is no port")
        return port_kind(port)

    def zero_is_well_known(port):
        return "well-known" if port == 0 else port_kind(port)

    def one_short(port):  # port < 65535
        if not 0 <= port < 65535:
            raise ValueError(port)
        return port_kind(port)

    def no_upper_bound(port):
        return "ephemeral" if port > 65535 else port_kind(port)

    def off_by_one(port):  # 1023 is registered
        return "registered" if port == 1023 else port_kind(port)

    verdict(ch01.check_port_kind(port_kind), PASSED, "each range's bounds included")
    verdict(ch01.check_port_kind(no_zero), FAILED, "port_kind(0) to return 'any'", "it raised ValueError", "any free port")
    verdict(ch01.check_port_kind(zero_is_well_known), FAILED, "port_kind(0): 'any'", "got:      'well-known'", "any free port")
    verdict(ch01.check_port_kind(one_short), FAILED, "port_kind(65535) to return 'ephemeral'", "a bound of a range")
    verdict(ch01.check_port_kind(no_upper_bound), FAILED, "port_kind(65536) to raise ValueError", "returned 'ephemeral'",
            "16-bit number")
    verdict(ch01.check_port_kind(off_by_one), FAILED, "port_kind(1023): 'well-known'", "1023 is a bound")
    verdict(ch01.check_port_kind(stub), NOT_DONE)


# --- step 4 -------------------------------------------------------------------------


def test_resolve():
    def any_type(host, port, family=socket.AF_UNSPEC):  # one entry per socket type
        try:
            return [entry[4][0] for entry in socket.getaddrinfo(host, port, family)]
        except socket.gaierror:
            return []

    def any_family(host, port, family=socket.AF_UNSPEC):
        return resolve(host, port)

    def no_gaierror(host, port, family=socket.AF_UNSPEC):
        return list(dict.fromkeys(e[4][0] for e in socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)))

    def tuples(host, port, family=socket.AF_UNSPEC):
        try:
            return list(dict.fromkeys(e[4] for e in socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)))
        except socket.gaierror:
            return []

    def objects(host, port, family=socket.AF_UNSPEC):
        return [ipaddress.ip_address(a) for a in resolve(host, port, family)]

    verdict(ch01.check_resolve(resolve), PASSED, "each address once")
    verdict(ch01.check_resolve(any_type), FAILED, "resolve('localhost', 8888, socket.AF_UNSPEC)", "one entry per socket type")
    # Where localhost has one family only (here: IPv4), asking for the other gives it; else ::1 in IPv4 does.
    verdict(ch01.check_resolve(any_family), FAILED, "AF_INET", ": []", "pass the family to getaddrinfo")
    verdict(ch01.check_resolve(no_gaierror), FAILED, "it raised gaierror", "catch it, and return an empty list")
    verdict(ch01.check_resolve(tuples), FAILED, "('127.0.0.1', 8888)", "the first item of each address tuple")
    verdict(ch01.check_resolve(objects), FAILED, "IPv4Address", "as text (str)")
    verdict(ch01.check_resolve(stub), NOT_DONE)


# --- step 5 -------------------------------------------------------------------------


def test_udp_ask():
    def no_timeout(address, message, timeout=1.0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, address)
            while True:
                answer, origin = sock.recvfrom(65535)
                if origin == address:
                    return answer

    def anyones(address, message, timeout=1.0):  # takes the first datagram, whoever sent it
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(message, address)
            return sock.recv(65535)

    def connected(address, message, timeout=1.0):  # the system filters: right too
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.send(message)
            return sock.recv(65535)

    def small_buffer(address, message, timeout=1.0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.send(message)
            return sock.recv(1024)

    def returns_none(address, message, timeout=1.0):
        try:
            return udp_ask(address, message, timeout)
        except TimeoutError:
            return None

    def with_origin(address, message, timeout=1.0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.send(message)
            return sock.recvfrom(65535)

    def leaky(address, message, timeout=1.0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(timeout)
        sock.connect(address)
        sock.send(message)
        return sock.recv(65535)

    verdict(ch01.check_udp_ask(udp_ask), PASSED, "a stray datagram from someone else ignored", "the socket closed")
    verdict(ch01.check_udp_ask(connected), PASSED)
    started = time.monotonic()
    verdict(ch01.check_udp_ask(no_timeout), FAILED, "to give up after 0.5 s", "still running after 3 s", "settimeout")
    assert time.monotonic() - started < 10, "the check waited for a function that never returns"
    verdict(ch01.check_udp_ask(anyones), FAILED, "another address than the server's", "recvfrom() says who sent")
    verdict(ch01.check_udp_ask(small_buffer), FAILED, "1,024 bytes instead of 5,124", "ask for 65535")
    verdict(ch01.check_udp_ask(returns_none), FAILED, "to raise TimeoutError", "it returned None", "go up to the caller")
    verdict(ch01.check_udp_ask(with_origin), FAILED, "a tuple", "return the data only")
    verdict(ch01.check_udp_ask(leaky), FAILED, "the UDP socket closed", "unclosed", "with socket.socket")
    verdict(ch01.check_udp_ask(lambda address, message, timeout=1.0: message), FAILED, "not the message you sent")
    verdict(ch01.check_udp_ask(stub), NOT_DONE)


def pinger(address, count=10, timeout=1.0):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for number in range(1, count + 1):
            message = f"Ping {number} {time.time()}".encode()
            sent = time.perf_counter()
            sock.sendto(message, address)
            try:
                while sock.recvfrom(1024)[0] != message:
                    pass
            except TimeoutError:
                rtts.append(None)
                continue
            rtts.append((time.perf_counter() - sent) * 1000)
    return statistics(rtts)


def statistics(rtts, lost_as=None, percent=lambda lost, sent, received: 100 * lost / sent,
               average=lambda received, sent: sum(received) / len(received), swap=False):
    received = [rtt for rtt in rtts if rtt is not None]
    lost = len(rtts) - len(received)
    low, high = (min(received), max(received)) if received else (None, None)
    if swap:
        low, high = high, low
    return {"rtts_ms": [lost_as if rtt is None else rtt for rtt in rtts], "sent": len(rtts), "lost": lost,
            "loss_percent": percent(lost, len(rtts), len(received)),
            "min_ms": low, "avg_ms": average(received, len(rtts)) if received else None, "max_ms": high}


def one_ping(sock, address, number, timeout, match=True, scale=1000):
    """One ping on ``sock``: its RTT (in ms, unless ``scale`` says otherwise), or None."""
    message = f"Ping {number}".encode()
    sent = time.perf_counter()
    sock.sendto(message, address)
    try:
        while sock.recvfrom(1024)[0] != message and match:
            pass
    except TimeoutError:
        return None
    return (time.perf_counter() - sent) * scale


def pinger_with(*, reuse=True, match=True, timeout_on=True, scale=1000, twice=False, leak=False, **stats):
    """A pinger with one thing changed: a new socket per ping, no check of the echo, no timeout..."""

    def run(address, count=10, timeout=1.0):
        rtts = []
        sock = None
        for number in range(1, count + 1):
            if sock is None or not reuse:
                if sock is not None:
                    sock.close()
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                if timeout_on:
                    sock.settimeout(timeout)
            if twice:
                sock.sendto(b"warm-up", address)
            rtts.append(one_ping(sock, address, number, timeout, match=match, scale=scale))
        if not leak:
            sock.close()
        return statistics(rtts, **stats)

    return run


def test_pinger():
    started = time.monotonic()
    verdict(ch01.check_pinger(pinger), PASSED, "5 echoed too late", "2 all lost")
    print(f"the check of a right pinger took {time.monotonic() - started:.1f} s")
    verdict(ch01.check_pinger(pinger_with(reuse=False)), PASSED)  # a new socket per ping: the late echo never reaches it
    verdict(ch01.check_pinger(pinger_with(reuse=False, match=False)), PASSED)
    verdict(ch01.check_pinger(pinger_with(match=False)), FAILED, "(ping 6): 250 ms or more", "belongs to another ping")
    started = time.monotonic()
    verdict(ch01.check_pinger(pinger_with(timeout_on=False)), FAILED, "to count ping 1 lost", "settimeout")
    assert time.monotonic() - started < 15, "the check waited for a pinger that never gives up"
    verdict(ch01.check_pinger(pinger_with(scale=1)), FAILED, "(ping 2): 20 ms or more", "seconds x 1000")
    verdict(ch01.check_pinger(pinger_with(lost_as=0)), FAILED, "(ping 1): None: the server dropped it", "None, not 0")
    verdict(ch01.check_pinger(pinger_with(percent=lambda lost, sent, received: lost / sent)), FAILED,
            '["loss_percent"]: 40', "30.0, not 0.3")
    verdict(ch01.check_pinger(pinger_with(percent=lambda lost, sent, received: 100 * lost / received)), FAILED,
            "not of those received")
    verdict(ch01.check_pinger(pinger_with(average=lambda received, sent: sum(received) / sent)), FAILED,
            '["avg_ms"]', "neither 0 nor counted")
    verdict(ch01.check_pinger(pinger_with(swap=True)), FAILED, "min and max swapped")
    verdict(ch01.check_pinger(pinger_with(twice=True)), FAILED, "10 pings, one datagram each", "received 20 datagrams")
    verdict(ch01.check_pinger(pinger_with(leak=True)), FAILED, "socket(s) closed", "with socket.socket")

    def no_reply_at_all(address, count=10, timeout=1.0):  # min() of nothing: ValueError
        result = pinger(address, count, timeout)
        if result["min_ms"] is None:
            return {**result, "min_ms": min([]), }
        return result

    verdict(ch01.check_pinger(no_reply_at_all), FAILED, "count=2, timeout=0.2", "ValueError")
    verdict(ch01.check_pinger(stub), NOT_DONE)
