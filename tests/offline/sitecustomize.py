"""Keep the course offline while the tests run.

The test suite puts this folder first on PYTHONPATH, so every Python process it
starts (notebook kernels, sandbox servers) imports this file at start-up. An
audit hook then refuses any connection, datagram or name lookup that would
leave this machine, so a notebook that needs the internet fails its test
instead of passing on a connected laptop and breaking in a classroom.
"""

import ipaddress
import socket
import sys

_LOCAL_NAMES = {None, "", "localhost", "ip6-localhost", socket.gethostname()}


def _is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False  # a name that only DNS could resolve
    return address.is_loopback or address.is_unspecified


def _guard(event, args):
    if event in ("socket.connect", "socket.sendto"):
        address = args[1]
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise PermissionError(f"offline course: {event} to {address[0]!r} refused by the test guard")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        if not _is_local(args[0]):
            raise PermissionError(f"offline course: name lookup of {args[0]!r} refused by the test guard")


sys.addaudithook(_guard)
