"""Chapter 10 (deployment): the servers the notebook starts, its environment, files to show.

- ``start(role, name, **options)``, ``servers``, ``show(path, first, last)`` and ``DEPLOY``:
  from ``common.py`` (servers by role; some lines of a file; the repository's ``deploy/``);
- ``environment(**variables)`` sets environment variables inside a ``with`` block: the servers
  launched there inherit them;
- ``contacts_service`` is the service in ``deploy/`` (``deploy/contacts_service.py``), imported from there.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from .common import DEPLOY, servers, show, start

if str(DEPLOY) not in sys.path:
    sys.path.insert(0, str(DEPLOY))
import contacts_service  # noqa: E402  (deploy/contacts_service.py)

__all__ = ["DEPLOY", "contacts_service", "environment", "servers", "show", "start"]


@contextmanager
def environment(**variables):
    """Set environment variables inside the block: the servers launched there inherit them."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
