"""UDP echo server that loses datagrams on purpose: sends each datagram back to its sender,
unless it drops it; the ones it keeps, it may hold back for a while first.

    python -m sandbox udp-echo [--loss FRACTION] [--delay 50ms] [--seed N] [--max-pending N]
                               [--host H] [--port P]

UDP has no connection: one socket receives every client's datagrams, and
``recvfrom`` says who sent each one; ``sendto`` answers there. Loopback never
loses a datagram, so this server does it for you: ``--loss 0.2`` drops about
one datagram in five, decided by a random number generator started from
``--seed``. The same seed and the same datagrams (in the same order) give the
same drops, so a notebook or a test can repeat a run exactly. The server logs
each datagram it drops or echoes and, when it stops, how many of each.

A datagram of 0 bytes is a datagram too (UDP has no "end of file"): it is
echoed as one.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sched
import socket
import threading
import time

from . import common

NAME = "udp-echo"
DESCRIPTION = "UDP echo server: sends each datagram back, but drops some (--loss) and delays the others (--delay)."
MAX_DATAGRAM = 65535  # bytes per recvfrom(): more than any UDP datagram holds, so each arrives whole
MAX_DELAY = 10.0  # seconds: any client has given up on a longer wait, which is then a loss
DEFAULT_MAX_PENDING = 1000
POLL_SECONDS = 0.5  # the longest recvfrom() waits, so that a stop request is seen on every system
LIMITS = f"""limits:
  datagram size      any: recvfrom() reads up to {MAX_DATAGRAM} bytes, more than a UDP datagram holds
  delay              --delay at most {MAX_DELAY:g} s; the delay never holds up other datagrams
  waiting replies    --max-pending at once (default {DEFAULT_MAX_PENDING}, up to {DEFAULT_MAX_PENDING * 64 // 1024} MiB); a datagram that
                     arrives while that many wait is dropped, and logged
"""
EXPOSED = ("anyone who reaches the port can send it datagrams. It keeps nothing and sends each datagram back "
           "to the address it came from; a UDP sender's address can be forged, so a forged one makes it send "
           "a copy to someone else: keep it on a class's network, never on the internet.")


class UDPEchoServer:
    """Echoes the datagrams sent to ``address``, dropping or delaying them as ``fate()`` decides.

    One socket, one thread. The delay must not make a second datagram wait for
    the first one's reply: ``time.sleep(delay)`` before each echo would do
    exactly that, and a thread per datagram (``threading.Timer``) would cost a
    thread each. Instead each reply is *scheduled*: ``sched`` (standard library)
    keeps the replies in a heap ordered by the time they are due, and the loop
    never waits in ``recvfrom`` past the next due reply. Thousands of delayed
    replies cost no thread, and replies leave in the order they fall due.
    """

    def __init__(self, address: tuple[str, int], loss: float = 0.0, delay: float = 0.0, seed: int | None = None,
                 max_pending: int = DEFAULT_MAX_PENDING):
        self.socket = socket.socket(common.family_of(address[0]), socket.SOCK_DGRAM)
        try:
            self.socket.bind(address)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self.loss, self.delay, self.max_pending = loss, delay, max_pending
        self.random = random.Random(seed)
        # perf_counter: a clock that only moves forward, finer than monotonic() on Windows before
        # Python 3.13 (15.6 ms steps there). run(blocking=False) only: the scheduler never waits.
        self.replies = sched.scheduler(time.perf_counter)
        self.counts = {"received": 0, "echoed": 0, "dropped": 0, "too many waiting": 0, "not sendable": 0}
        self.pending = 0
        self._stopping = threading.Event()

    def fate(self, number: int, data: bytes, client) -> float | None:
        """Seconds to hold datagram ``number`` (1, 2, ...) before echoing it; None drops it.

        One draw per datagram, in the order they arrive, whatever --loss is: the
        same seed drops the same datagrams, and a datagram dropped at 0.2 is
        also dropped at 0.3.
        """
        return None if self.random.random() < self.loss else self.delay

    def serve_forever(self, poll_interval: float = POLL_SECONDS) -> None:
        """Receive, drop or schedule, and send the replies that are due, until ``shutdown()``."""
        while not self._stopping.is_set():
            due_in = self.replies.run(blocking=False)  # sends every reply due; seconds to the next, or None
            self.socket.settimeout(poll_interval if due_in is None else min(due_in, poll_interval))
            try:
                data, client = self.socket.recvfrom(MAX_DATAGRAM)
            except TimeoutError:  # nothing came: time to send a reply, or to check for a stop
                continue
            except ConnectionResetError:
                # Windows only: an echo we sent reached a port nobody listens on, and the
                # ICMP "port unreachable" that came back surfaces here, in the next recvfrom().
                # It says nothing about the datagrams waiting: keep serving.
                self.note("an earlier echo found no one listening (ICMP port unreachable)")
                continue
            self.received(data, client)

    def received(self, data: bytes, client) -> None:
        self.counts["received"] += 1
        number = self.counts["received"]
        what = f"datagram #{number} from {common.peer(client)} ({len(data)} bytes)"
        if self.pending >= self.max_pending:
            self.counts["too many waiting"] += 1
            self.note(f"dropped {what}: {self.pending} replies already waiting (--max-pending)")
            return
        delay = self.fate(number, data, client)
        if delay is None:
            self.counts["dropped"] += 1
            self.note(f"dropped {what}")
            return
        self.pending += 1
        self.replies.enter(delay, 0, self.echo, (number, data, client, delay))

    def echo(self, number: int, data: bytes, client, delay: float) -> None:
        self.pending -= 1
        what = f"datagram #{number} to {common.peer(client)} ({len(data)} bytes"
        try:
            self.socket.sendto(data, client)
        except OSError as error:  # the client's address is unreachable from here, say: others go on
            self.counts["not sendable"] += 1
            self.note(f"could not echo {what}): {error}")
            return
        self.counts["echoed"] += 1
        self.note(f"echoed {what}" + (f", after {delay * 1000:g} ms)" if delay else ")"))

    def note(self, message: str) -> None:
        """One line of log (a subclass may keep it instead)."""
        common.log(message)

    def summary(self) -> str:
        counts = self.counts
        text = f"{counts['received']} datagrams received, {counts['echoed']} echoed, {counts['dropped']} dropped"
        for reason in ("too many waiting", "not sendable"):
            if counts[reason]:
                text += f", {counts[reason]} {reason}"
        if self.pending:
            text += f", {self.pending} still delayed (not sent)"
        return text

    def shutdown(self) -> None:
        """Ask serve_forever(), running in another thread, to return (within ``poll_interval``)."""
        self._stopping.set()

    def server_close(self) -> None:
        self.socket.close()


def fraction(text: str) -> float:
    """argparse type: a fraction from 0 to 1 (0.2 drops about one datagram in five)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: give a fraction from 0 to 1, such as 0.2") from None
    if not 0 <= value <= 1:  # NaN fails too
        also = f" ({value:g}% is {value / 100:g})" if 1 < value <= 100 else ""
        raise argparse.ArgumentTypeError(f"{text} is not a fraction from 0 (drop nothing) to 1 (drop everything){also}")
    return value


DURATION = re.compile(r"^\s*(?P<number>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>ms|s)?\s*$")


def duration(text: str) -> float:
    """argparse type: a delay in seconds, written ``0.05``, ``0.05s`` or ``50ms``; 0 to MAX_DELAY."""
    match = DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a delay: write 50ms, 0.05s or 0.05 (seconds)")
    seconds = float(match["number"]) / (1000 if match["unit"] == "ms" else 1)
    if not math.isfinite(seconds) or seconds > MAX_DELAY:
        hint = f"; for milliseconds write {match['number']}ms" if not match["unit"] else ""
        raise argparse.ArgumentTypeError(f"{text} is more than {MAX_DELAY:g} s{hint}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument("--loss", type=fraction, default=0.0, metavar="FRACTION",
                        help="drop this fraction of the datagrams, at random: 0.2 drops about one in five "
                        "(default: 0, drop none)")
    parser.add_argument("--delay", type=duration, default=0.0, metavar="TIME",
                        help="hold each echo back this long: 50ms, 0.05s or 0.05 (default: 0)")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="start the random drops from N: the same N and the same datagrams give the same "
                        "drops (default: a new seed each run, printed at start)")
    parser.add_argument("--max-pending", type=common.positive_integer, default=DEFAULT_MAX_PENDING, metavar="N",
                        help=f"at most N delayed replies wait at once; beyond, datagrams are dropped "
                        f"(default: {DEFAULT_MAX_PENDING})")
    args = common.parse_args(parser, argv)
    seed = random.randrange(1_000_000) if args.seed is None else args.seed
    server = UDPEchoServer((args.host, args.port), loss=args.loss, delay=args.delay, seed=seed,
                           max_pending=args.max_pending)
    host, port = server.server_address[:2]
    try:
        common.announce(NAME, "udp", host, port)  # inside try: Ctrl-C may come at once
        print(f"loss {args.loss:g} (seed {seed}: --seed {seed} repeats these drops), delay {args.delay * 1000:g} ms",
              flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(server.summary(), flush=True)
        print(f"{NAME} stopped", flush=True)


if __name__ == "__main__":
    main()
