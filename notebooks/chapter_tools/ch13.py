"""Chapter 13 (TLS): the servers the notebook starts, files to show, why a client refuses a server.

- ``start(role, name, **options)``, ``servers``, ``show(path, first, last)`` and ``DEPLOY``:
  from ``common.py`` (servers by role; some lines of a file; the repository's ``deploy/``);
- ``verify_failure(context, address)`` is why a client with ``context`` refuses a server (the
  check cells use it after a cell that fails on purpose).
"""

from __future__ import annotations

import socket
import ssl

from .common import DEPLOY, servers, show, start

__all__ = ["DEPLOY", "servers", "show", "start", "verify_failure"]


def verify_failure(context, address, server_hostname="localhost"):
    """Why ``context`` refuses the server at ``address`` (OpenSSL's verify message), or None if it accepts it."""
    with socket.create_connection(address, timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=server_hostname):
                return None
        except ssl.SSLCertVerificationError as error:
            return error.verify_message
