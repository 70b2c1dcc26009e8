"""Chapter 10 (deployment): the servers the notebook starts, its environment, files to show.

- ``start(role, name, **options)`` launches a sandbox server for a role ("hello", "dev",
  "database"...) and keeps it in ``servers``, the servers by role: starting a role again first
  stops the server its previous run started, so re-running any cell leaves nothing behind, and
  the chapter's last cell stops them all;
- ``environment(**variables)`` sets environment variables inside a ``with`` block: the servers
  launched there inherit them;
- ``show(path, start, stop)`` shows some lines of a file, highlighted;
- ``DEPLOY`` is the repository's ``deploy/`` folder, and ``contacts_service`` the service in it
  (``deploy/contacts_service.py``), imported from there.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from IPython.display import Code

import sandbox
from sandbox import launch

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"  # notebooks/chapter_tools/ -> deploy/
if not DEPLOY.is_dir():  # a copy of the notebooks alone (the RISE test's): the sandbox's repository
    DEPLOY = Path(sandbox.__file__).resolve().parents[1] / "deploy"
if str(DEPLOY) not in sys.path:
    sys.path.insert(0, str(DEPLOY))
import contacts_service  # noqa: E402  (deploy/contacts_service.py)

servers = {}  # role -> the server start() launched for it


def start(role, name, **options):
    """Launch the sandbox server `name` for `role`, after stopping the one of the role's last start."""
    if role in servers:
        servers.pop(role).stop()
    servers[role] = launch(name, replace=False, **options)
    return servers[role]


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


def show(path, start=None, stop=None):
    """The lines of a file from the first one containing `start` to the next one containing `stop`."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if start in line) if start else 0
    last = next(i for i in range(first + 1, len(lines)) if stop in lines[i]) + 1 if stop else len(lines)
    language = {".conf": "nginx", ".service": "ini", ".py": "python", "": "docker"}.get(Path(path).suffix, "text")
    return Code("\n".join(lines[first:last]), language=language)
