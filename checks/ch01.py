"""Checks for exercises/01-network-basics.md: addresses, networks, ports, names, one UDP exchange.

    check_describe_subnet(describe_subnet)    step 1
    check_on_network(on_network)              step 2
    check_port_kind(port_kind)                step 3
    check_resolve(resolve)                    step 4
    check_udp_ask(udp_ask)                    step 5
    check_pinger(pinger)                      step 6

Everything stays on this machine: the names resolved are ``localhost`` and numeric
addresses, and the UDP servers are the check's own (for the pinger, sandbox/udp_echo.py
in this process), on 127.0.0.1, on ports the system picks.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import socket
import threading
import time
import warnings

from .core import Failure, call, call_raising, checker, describe_exception, expect, expect_equal, run_with_limit, short
from .helpers import LOCALHOST

# --- step 1: describe a subnet ----------------------------------------------------

SUBNETS = ["192.168.1.37/28", "192.168.1.0/24", "172.16.200.9/16", "10.0.0.6/30", "10.0.0.9/29"]
KEYS = ("network", "broadcast", "hosts")
STRICT_HINT = ("192.168.1.37/28 is a host's address with its prefix, not a network: its host bits are not all 0. "
               "ipaddress.ip_interface() takes it as it is (and knows its network); ip_network() refuses it unless strict=False")
OBJECT_HINT = "return the ipaddress objects themselves (IPv4Network, IPv4Address), not their text: they compare, sort and compute"
HOSTS_HINT = ("the first address of a network (all host bits 0) names the network, the last one (all host bits 1) is its "
              "broadcast address: neither can be given to a host")


def _facts(interface: str) -> dict:
    network = ipaddress.ip_interface(interface).network
    return {"network": network, "broadcast": network.broadcast_address, "hosts": network.num_addresses - 2}


@checker("describe_subnet")
def check_describe_subnet(describe_subnet):
    """``describe_subnet("192.168.1.37/28")`` is ``{"network": IPv4Network('192.168.1.32/28'),
    "broadcast": IPv4Address('192.168.1.47'), "hosts": 14}``; so for prefixes from /16 to /30,
    and for a network written as itself (192.168.1.0/24)."""
    for text in SUBNETS:
        wanted = _facts(text)
        got = call(describe_subnet, text, hint=STRICT_HINT, expected=f"describe_subnet({text!r}) to return a dict")
        expect(isinstance(got, dict), f"describe_subnet({text!r}): a dict with the keys {', '.join(KEYS)}",
               f"{short(got)} ({type(got).__name__})", 'return {"network": ..., "broadcast": ..., "hosts": ...}')
        expect(set(got) == set(KEYS), f"describe_subnet({text!r}): the keys {', '.join(map(repr, KEYS))}",
               f"the keys {', '.join(map(repr, got))}", "exactly these three keys, spelled this way")
        for key in KEYS:
            value, right = got[key], wanted[key]
            what = f"describe_subnet({text!r})[{key!r}]"
            if isinstance(value, str):
                raise Failure(f"{what}: {right!r}", f"{value!r} (a str)", OBJECT_HINT if key != "hosts" else HOSTS_HINT)
            if key == "hosts":
                hint = (HOSTS_HINT if not isinstance(value, (list, tuple, set))
                        else "the number of host addresses (an int), not the addresses themselves")
            elif key == "network":
                hint = ("an interface (an address with its prefix) is not its network: an interface has a .network"
                        if isinstance(value, ipaddress.IPv4Interface)
                        else "the network is the address with every host bit set to 0, and the same prefix")
            else:
                hint = ("the broadcast address is one address (an IPv4Address): the network's last one"
                        if not isinstance(value, ipaddress.IPv4Address)
                        else "the broadcast address is the network's last one: every host bit set to 1")
            expect_equal(value, right, what, hint)
    return "5 addresses from /16 to /30: network, broadcast address and number of hosts"


# --- step 2: is an address on this network? ---------------------------------------

ON_NETWORK = [
    ("192.168.1.37/28", "192.168.1.40", True),
    ("192.168.1.37/28", "192.168.1.33", True),
    ("192.168.1.37/28", "192.168.1.50", False),  # same first three numbers, another /28
    ("192.168.1.37/28", "192.168.10.40", False),  # starts with the same characters
    ("192.168.1.37/28", "192.168.2.37", False),
    ("10.1.2.3/8", "10.200.0.1", True),
    ("10.1.2.3/8", "11.1.2.3", False),
    ("2001:db8::1/64", "2001:db8::ffff:1", True),
    ("2001:db8::1/64", "2001:db8:0:1::1", False),
    ("192.168.1.37/28", "::1", False),  # another version: on no IPv4 network
]
TEXT_HINT = ("the prefix decides, and it counts bits: /28 fixes the first 28, so 192.168.1.37/28 ends at 192.168.1.47. "
             "The same first numbers (or characters) are not enough: compare the addresses as numbers")


@checker("on_network")
def check_on_network(on_network):
    """``on_network(interface, address)``: True if ``address`` is on the network of ``interface``.

    Addresses with the same first characters (192.168.1.50 and 192.168.10.40 against
    192.168.1.37/28) are not; a /8 and an IPv6 /64 work the same way; an IPv6 address is on
    no IPv4 network (False, not an error).
    """
    for interface, address, wanted in ON_NETWORK:
        shown = f"on_network({interface!r}, {address!r})"
        hint = ("an IPv6 address is on no IPv4 network: the answer is False, not an error" if address == "::1"
                else STRICT_HINT)
        got = call(on_network, interface, address, hint=hint, expected=f"{shown} to return {wanted}")
        if not isinstance(got, bool):
            raise Failure(f"{shown}: {wanted} (a bool)", f"{short(got)} ({type(got).__name__})",
                          "return True or False: `address in network` is a bool")
        if address == "::1":
            hint = "::1 is an IPv6 address: on no IPv4 network"
        elif wanted is False and address.startswith(interface.split("/")[0].rsplit(".", 1)[0]):
            hint = TEXT_HINT
        else:
            hint = "the network of an interface is ipaddress.ip_interface(...).network; `address in network` tells"
        expect_equal(got, wanted, shown, hint)
    return "10 addresses against a /28, a /8 and an IPv6 /64: same first characters are not enough"


# --- step 3: what kind of port? ----------------------------------------------------

PORTS = [(0, "any"), (1, "well-known"), (22, "well-known"), (443, "well-known"), (1023, "well-known"),
         (1024, "registered"), (8888, "registered"), (49151, "registered"),
         (49152, "ephemeral"), (60000, "ephemeral"), (65535, "ephemeral")]
NOT_PORTS = [-1, 65536, 100_000]
RANGES_HINT = "0: any; 1 to 1023: well-known; 1024 to 49151: registered; 49152 to 65535: ephemeral (both ends included)"


@checker("port_kind")
def check_port_kind(port_kind):
    """``port_kind(port)``: "any" for 0, "well-known" (1-1023), "registered" (1024-49151),
    "ephemeral" (49152-65535), every bound included; ValueError for a number that is no port."""
    for port, wanted in PORTS:
        if port == 0:
            hint = "0 is a port number too, a special one: binding to port 0 asks the system for any free port"
        elif port in (1023, 1024, 49151, 49152, 65535):
            hint = f"{port} is a bound of a range: {RANGES_HINT}"
        else:
            hint = RANGES_HINT
        got = call(port_kind, port, expected=f"port_kind({port}) to return {wanted!r}", hint=hint)
        expect_equal(got, wanted, f"port_kind({port})", hint)
    for port in NOT_PORTS:
        call_raising(ValueError, port_kind, port, expected=f"port_kind({port}) to raise ValueError: {port} is no port",
                     hint="a port is a 16-bit number: 0 to 65535; anything else raises ValueError "
                          "(bind() itself refuses it with OverflowError)")
    return "11 ports from 0 to 65535, each range's bounds included; -1, 65536 and 100000 refused with ValueError"


# --- step 4: a name becomes addresses --------------------------------------------

NAMES = [("localhost", socket.AF_UNSPEC), ("localhost", socket.AF_INET), ("localhost", socket.AF_INET6),
         ("127.0.0.1", socket.AF_UNSPEC), ("127.0.0.1", socket.AF_INET6), ("::1", socket.AF_INET6), ("::1", socket.AF_INET)]
GAIERROR_HINT = ("getaddrinfo raises socket.gaierror when the name has no address of that family "
                 "(::1 has no IPv4 address): catch it, and return an empty list")


def _resolve(host: str, port: int, family: int) -> list[str]:
    try:
        entries = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys(entry[4][0] for entry in entries))


def _family(family: int) -> str:
    return socket.AddressFamily(family).name


@checker("resolve")
def check_resolve(resolve):
    """``resolve(host, port, family)``: the distinct IP addresses (str) of ``host``, of that family
    (AF_INET, AF_INET6, or AF_UNSPEC for both), in getaddrinfo's order; [] when it has none.

    ``localhost`` (whatever this machine's hosts file says), ``127.0.0.1`` and ``::1``, each
    asked for in one family or both; the answers are getaddrinfo's for a TCP socket.
    """
    port = 8888
    for host, family in NAMES:
        wanted = _resolve(host, port, family)
        shown = f"resolve({host!r}, {port}, socket.{_family(family)})"
        got = call(resolve, host, port, family, hint=GAIERROR_HINT, expected=f"{shown} to return {wanted!r}")
        if isinstance(got, tuple):
            got = list(got)
        expect(isinstance(got, list), f"{shown}: a list of addresses, {wanted!r}", f"{short(got)} ({type(got).__name__})",
               "return a list (an empty one if there is no address)")
        if any(isinstance(a, (ipaddress.IPv4Address, ipaddress.IPv6Address)) for a in got):
            hint = "return the addresses as text (str), as the address tuples hold them"
        elif any(isinstance(a, tuple) for a in got):
            hint = "only the IP address: the first item of each address tuple (an IPv6 one has 4 items, not 2)"
        elif len(got) > len(set(got)):
            hint = ("getaddrinfo gives one entry per socket type (stream, datagram, on Linux raw too) for each address: "
                    "ask for one type, or keep each address once")
        elif set(got) - set(wanted):
            hint = "pass the family to getaddrinfo: AF_INET gives only IPv4 addresses, AF_INET6 only IPv6 ones"
        elif set(got) == set(wanted):
            hint = "keep getaddrinfo's order: a client tries the addresses in that order"
        else:
            hint = "each entry of getaddrinfo is (family, type, proto, canonname, address); the IP address is address[0]"
        expect_equal(got, wanted, shown, hint)
    return "localhost, 127.0.0.1 and ::1 in AF_INET, AF_INET6 and AF_UNSPEC, each address once, [] where none"


# --- step 5: one UDP question, one answer -------------------------------------------

MESSAGES = [b"ping", b"", "Grüße 👋".encode("utf-8"), bytes(range(256)) * 20, bytes(range(256)) * 234]
STRAY = b"not the server: a datagram from someone else"


@contextlib.contextmanager
def udp_answerer(stray: bool = True):
    """``(host, port)`` of a UDP server on 127.0.0.1 answering each datagram with ``b"re: "`` + it.

    Before each answer, another socket sends the client a stray datagram: a client must
    take its answer from the server's address only. Stopped when the block ends.
    """
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((LOCALHOST, 0))
    other.bind((LOCALHOST, 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, client = server.recvfrom(65535)
                if stray:
                    other.sendto(STRAY, client)
                server.sendto(b"re: " + data, client)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=serve, name="check:udp-answerer", daemon=True)
    thread.start()
    try:
        yield server.getsockname()
    finally:
        stop.set()
        thread.join(2)
        server.close()
        other.close()


def _unclosed_udp(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
            and "unclosed" in str(w.message)
            and ("SOCK_DGRAM" in str(w.message) or f"type={int(socket.SOCK_DGRAM)}," in str(w.message))]


TIMEOUT_HINT = ("give the socket a timeout (settimeout) before waiting: recvfrom() then raises TimeoutError "
                "when nothing comes, instead of waiting forever")


@checker("udp_ask")
def check_udp_ask(udp_ask):
    """``udp_ask(address, message, timeout=1.0)``: send ``message`` in one datagram to ``address``,
    return the answer datagram, the one that comes from ``address``.

    The check's server answers ``b"re: "`` + the message, for messages of 0 to 59,904 bytes,
    after another socket sent the client a stray datagram. A server that never answers:
    TimeoutError after ``timeout`` seconds. The socket is closed afterwards.
    """
    with udp_answerer() as address, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for message in MESSAGES:
            shown = f"udp_ask({address}, {short(message, 20)})"
            got = call(udp_ask, address, message, limit=5, expected=f"{shown} to return the server's answer",
                       hint="send with sendto(message, address), then wait for one datagram with recvfrom(); "
                            "the server answers each datagram once")
            if isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], bytes):
                raise Failure(f"{shown}: the answer's bytes", f"a tuple: {short(got)}",
                              "recvfrom() returns (data, address): return the data only")
            wanted = b"re: " + message
            if got == STRAY:
                hint = ("this datagram came from another address than the server's: anyone can send to your port. "
                        "recvfrom() says who sent each datagram (or connect() the socket: the system then keeps "
                        "only the datagrams from that address)")
            elif isinstance(got, bytes) and len(got) < len(wanted) and wanted.startswith(got):
                hint = ("recvfrom(n) returns at most n bytes of one datagram, and the rest of it is lost: "
                        "ask for 65535, more than any UDP datagram holds")
            elif got == message:
                hint = "return what the server sent back, not the message you sent"
            else:
                hint = ""
            expect_equal(got, wanted, f"{shown}: the server's answer b're: ' + the message", hint)
        leaked = _unclosed_udp(caught)
    expect(not leaked, "the UDP socket closed before udp_ask returns", f"Python warned: {short(leaked[0], 120)}" if leaked else "",
           "use `with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:`: it closes the socket, even on an error")

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((LOCALHOST, 0))
        address = silent.getsockname()
        finished, value, error = run_with_limit(udp_ask, (address, b"anyone?"), {"timeout": 0.5}, limit=3)
        if not finished:  # it waits forever: answer it, so that it ends
            silent.settimeout(1)
            with contextlib.suppress(OSError):
                _, client = silent.recvfrom(65535)
                silent.sendto(b"too late", client)
        expect(finished, f"udp_ask({address}, b'anyone?', timeout=0.5) to give up after 0.5 s: that server never answers",
               "it was still running after 3 s", TIMEOUT_HINT)
    expect(isinstance(error, TimeoutError), f"udp_ask({address}, b'anyone?', timeout=0.5) to raise TimeoutError",
           f"it raised {describe_exception(error)}" if error is not None else f"it returned {short(value)}",
           "let the TimeoutError of recvfrom() go up to the caller: no answer is not an answer" if error is None
           else TIMEOUT_HINT)
    return ("5 messages of 0 to 59,904 bytes answered, a stray datagram from someone else ignored; "
            "a server that never answers, given up after the timeout; the socket closed")


# --- step 6: a pinger ----------------------------------------------------------------

PING_KEYS = ("rtts_ms", "sent", "lost", "loss_percent", "min_ms", "avg_ms", "max_ms")
PING_TIMEOUT = 0.5  # seconds the check gives each ping: its server never holds a wanted echo half as long
LATE = 0.6  # seconds: the echo of ping 5 leaves after ping 5's timeout, while ping 6 waits for its own
# What the check's server does with each ping of the first run: None drops it, a number holds its echo
# that many seconds. Ping 5's echo comes late (so ping 5 is lost), and before ping 6's.
PING_PLAN = {1: None, 2: 0.02, 3: 0.03, 4: None, 5: LATE, 6: 0.25, 7: 0.01, 8: 0.04, 9: None, 10: 0.02}
# A student's clock may step: time.time() moved by 15.6 ms steps on Windows before Python 3.13.
CLOCK_SLACK_MS = 20
STUCK_SECONDS = 3.0  # ping 1 is dropped: a pinger still waiting for it this long after its timeout has none
PING_TIMEOUT_HINT = ("give the socket a timeout (settimeout) before each recvfrom(): a dropped ping's echo never "
                     "comes, and only TimeoutError tells the pinger to count it lost and go on to the next ping")
NOTHING_BACK_HINT = ("when no ping comes back there is no RTT at all: min() and max() of an empty list raise ValueError, "
                     "and the average divides by 0; return None for all three")
LATE_HINT = ("an echo that comes sooner than the server sent it belongs to another ping: an earlier one, whose echo came "
             "after its timeout. Put the ping's number in each message, and skip the echoes that are not this ping's")


def _plan_server(plan: dict):
    """The udp-echo server itself (sandbox/udp_echo.py), in this process: it follows ``plan``
    (ping number -> None to drop it, or the seconds to hold its echo) instead of a random draw."""
    from sandbox.udp_echo import UDPEchoServer

    class PlannedEcho(UDPEchoServer):
        rescue = False  # set when the pinger is stuck: from then on every ping is echoed at once

        def fate(self, number, data, client):
            self.arrived.append((data, client))
            return 0.0 if self.rescue else plan.get(number, 0.0)

        def note(self, message):  # quiet: the log is the student's notebook
            pass

    server = PlannedEcho((LOCALHOST, 0))
    server.arrived = []
    return server


@contextlib.contextmanager
def _running(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="check:udp-echo",
                              daemon=True)
    thread.start()
    try:
        yield server.server_address
    finally:
        server.shutdown()
        thread.join(2)
        server.server_close()


def _watch_for_a_stuck_pinger(server, finished: threading.Event, stuck: threading.Event) -> None:
    """Ping 1 is dropped: if ping 2 has not come STUCK_SECONDS after ping 1's timeout, the pinger waits for
    ever. Then echo ping 1 after all, and every ping after it, so that its thread ends."""
    deadline = None
    while not finished.wait(0.02):
        if server.arrived and deadline is None:
            deadline = time.monotonic() + PING_TIMEOUT + STUCK_SECONDS
        if len(server.arrived) >= 2:
            return
        if deadline is not None and time.monotonic() > deadline:
            stuck.set()
            server.rescue = True
            with contextlib.suppress(OSError):
                server.socket.sendto(*server.arrived[0])
            return


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a, b) -> bool:
    return _number(a) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _ping_run(pinger, plan: dict, count: int, timeout: float) -> tuple[dict, list]:
    """Run ``pinger`` against a server following ``plan``; its dict (checked for form) and what the server received."""
    shown = f"pinger(address, count={count}, timeout={timeout:g})"
    server = _plan_server(plan)
    finished, stuck = threading.Event(), threading.Event()
    with _running(server) as address, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        watcher = threading.Thread(target=_watch_for_a_stuck_pinger, args=(server, finished, stuck), daemon=True)
        watcher.start()
        try:
            got = call(pinger, address, count=count, timeout=timeout, limit=count * timeout + 8,
                       expected=f"{shown} to return its statistics", hint=PING_TIMEOUT_HINT)
        except Failure as failure:
            if failure.got.startswith("it raised"):  # an error of its own, not a wait that never ends
                all_lost = plan and all(held is None for held in plan.values())
                nothing_back = failure.got.startswith(("it raised ValueError", "it raised ZeroDivisionError"))
                failure.hint = NOTHING_BACK_HINT if all_lost and nothing_back else ""
            raise
        finally:
            finished.set()
            watcher.join(2)
        leaked = _unclosed_udp(caught)
    expect(not stuck.is_set(), f"{shown} to count ping 1 lost after {timeout:g} s, and send ping 2: the server dropped ping 1",
           f"ping 2 had not come {STUCK_SECONDS + timeout:g} s after ping 1", PING_TIMEOUT_HINT)
    expect(not leaked, "the UDP socket(s) closed before pinger returns",
           f"Python warned: {short(leaked[0], 120)}" if leaked else "",
           "use `with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:`: it closes the socket, even on an error")
    expect(isinstance(got, dict), f"{shown}: a dict with the keys {', '.join(PING_KEYS)}",
           f"{short(got)} ({type(got).__name__})", 'return {"rtts_ms": [...], "sent": ..., "lost": ..., ...}')
    missing = [key for key in PING_KEYS if key not in got]
    expect(not missing, f"{shown}: the keys {', '.join(map(repr, PING_KEYS))}",
           f"the keys {', '.join(map(repr, got))}", f"missing: {', '.join(map(repr, missing))}, spelled this way")
    expect(len(server.arrived) == count, f"{shown}: {count} pings, one datagram each",
           f"the server received {len(server.arrived)} datagrams", "send one datagram per ping, count of them in all")
    expect(got["sent"] == count and _number(got["sent"]), f'{shown}["sent"]: {count}', short(got["sent"]),
           "the number of pings sent")
    rtts = got["rtts_ms"]
    expect(isinstance(rtts, list) and len(rtts) == count, f'{shown}["rtts_ms"]: a list of {count} items, one per ping',
           f"{short(rtts)} ({type(rtts).__name__})", "one item per ping, in order: its RTT in milliseconds, or None if lost")
    return got, rtts


def _check_rtts(got: dict, rtts: list, plan: dict, timeout: float, shown: str) -> None:
    """Each ping's RTT against what the server did with it."""
    numbers = [rtt for rtt in rtts if _number(rtt)]
    longest = max((held for held in plan.values() if held), default=0)  # the server held some echo this long
    seconds = bool(numbers) and longest >= 0.1 and max(numbers) < 1  # all under 1 "ms": they are seconds
    for number, rtt in enumerate(rtts, 1):
        held = plan.get(number, 0.0)
        what = f'{shown}["rtts_ms"][{number - 1}] (ping {number})'
        if held is None:
            expect(rtt is None, f"{what}: None: the server dropped it", short(rtt),
                   "a lost ping has no round-trip time: None, not 0 and not the timeout")
        elif held > timeout:
            expect(rtt is None or (_number(rtt) and rtt >= held * 1000 - CLOCK_SLACK_MS),
                   f"{what}: None: its echo came after the timeout",
                   short(rtt), "a ping whose echo has not come within the timeout is lost")
        else:
            expect(_number(rtt), f"{what}: its RTT, at least {held * 1000:g} ms (the server held the echo so long)",
                   short(rtt), f"the server echoed it after {held * 1000:g} ms, well within the timeout: did the "
                   "pinger wait for it? Its echo holds the very bytes of the ping")
            if seconds or rtt < held * 1000 - CLOCK_SLACK_MS:
                raise Failure(f"{what}: {held * 1000:g} ms or more: the server held its echo {held * 1000:g} ms",
                              f"{rtt!r}", "the RTT in milliseconds: seconds x 1000" if seconds else LATE_HINT)


def _check_statistics(got: dict, rtts: list, shown: str) -> None:
    """The counts and min/avg/max, from the pinger's own list of RTTs."""
    received = [rtt for rtt in rtts if rtt is not None]
    sent, lost = len(rtts), len(rtts) - len(received)
    expect(got["lost"] == lost and _number(got["lost"]), f'{shown}["lost"]: {lost} (the None in rtts_ms)', short(got["lost"]),
           "the pings without an echo in time")
    percent = got["loss_percent"]
    if not _same(percent, 100 * lost / sent):
        if _same(percent, lost / sent) and lost:
            hint = "a percentage: 3 lost of 10 sent is 30.0, not 0.3"
        elif received and _same(percent, 100 * lost / len(received)):
            hint = "the share of the pings sent, not of those received"
        else:
            hint = "lost / sent x 100"
        raise Failure(f'{shown}["loss_percent"]: {100 * lost / sent:g}', short(percent), hint)
    if not received:
        for key in ("min_ms", "avg_ms", "max_ms"):
            expect(got[key] is None, f'{shown}[{key!r}]: None: no ping came back', short(got[key]),
                   "with no RTT at all there is no minimum, average or maximum: None")
        return
    low, mean, high = min(received), sum(received) / len(received), max(received)
    if _same(got["min_ms"], high) and _same(got["max_ms"], low) and low != high:
        raise Failure(f'{shown}: min_ms {low:.3f}, max_ms {high:.3f}', f'min_ms {got["min_ms"]!r}, max_ms {got["max_ms"]!r}',
                      "min and max swapped")
    expect(_same(got["min_ms"], low), f'{shown}["min_ms"]: {low!r}, the least of rtts_ms', short(got["min_ms"]),
           "the minimum over the pings that came back")
    expect(_same(got["max_ms"], high), f'{shown}["max_ms"]: {high!r}, the largest of rtts_ms', short(got["max_ms"]),
           "the maximum over the pings that came back")
    if not _same(got["avg_ms"], mean):
        hint = ("the average of the pings that came back: a lost ping has no RTT, so it is neither 0 nor counted"
                if lost and _same(got["avg_ms"], sum(received) / sent) else "the sum of the RTTs received / their number")
        raise Failure(f'{shown}["avg_ms"]: {mean!r}, the mean of the RTTs received', short(got["avg_ms"]), hint)


@checker("pinger")
def check_pinger(pinger):
    """``pinger(address, count=10, timeout=1.0)``: count pings over UDP, each echo awaited ``timeout``
    seconds at most; returns ``rtts_ms`` (one RTT in ms per ping, None if lost), ``sent``, ``lost``,
    ``loss_percent``, ``min_ms``, ``avg_ms``, ``max_ms`` (None if nothing came back).

    The check's server is udp-echo's own code, following a plan: of ten pings it drops 1, 4 and 9,
    holds each other echo 10 to 250 ms, and that of ping 5 for 600 ms, past its timeout of 0.5 s:
    it arrives while ping 6 waits, and is not ping 6's. Then three pings all echoed, and two all lost.
    """
    runs = [(PING_PLAN, 10, PING_TIMEOUT), ({}, 3, PING_TIMEOUT), ({1: None, 2: None}, 2, 0.2)]
    for plan, count, timeout in runs:
        shown = f"pinger(address, count={count}, timeout={timeout:g})"
        got, rtts = _ping_run(pinger, plan, count, timeout)
        _check_rtts(got, rtts, plan, timeout, shown)
        _check_statistics(got, rtts, shown)
    return ("10 pings: 1, 4 and 9 dropped, 5 echoed too late (its echo not taken for ping 6's), RTTs and statistics "
            "right; 3 pings all echoed; 2 all lost (no min/avg/max)")
