"""What several chapters' tools share (10 and 13): servers by role, and files to show.
And what chapters 04 and 05 share: ``LogLines``, urllib3's log collected in a list.

- ``start(role, name, **options)`` launches a sandbox server for a role ("hello", "secure"...)
  and keeps it in ``servers``, the servers by role: starting a role again first stops the
  server its previous run started, so re-running any cell leaves nothing behind, and the
  chapter's last cell stops them all;
- ``show(path, first, last)`` shows some lines of a file, highlighted;
- ``DEPLOY`` is the repository's ``deploy/`` folder;
- ``with LogLines() as lines:`` collects the messages urllib3 (under ``requests``) logs,
  each connection it opens and each request it sends, in the list ``lines``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from IPython.display import Code

import sandbox
from sandbox import launch

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"  # notebooks/chapter_tools/ -> deploy/
if not DEPLOY.is_dir():  # a copy of the notebooks alone (the RISE test's): the sandbox's repository
    DEPLOY = Path(sandbox.__file__).resolve().parents[1] / "deploy"

servers = {}  # role -> the server start() launched for it


def start(role, name, **options):
    """Launch the sandbox server `name` for `role`, after stopping the one of the role's last start."""
    if role in servers:
        servers.pop(role).stop()
    servers[role] = launch(name, replace=False, **options)
    return servers[role]


def show(path, first=None, last=None):
    """The lines of a file from the first one containing `first` to the next one containing `last`
    (for `last="}"`, the next line that is only "}": the end of a top-level block)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    begin = next(i for i, line in enumerate(lines) if first in line) if first else 0

    def ends(line):
        return line.rstrip() == "}" if last == "}" else last in line

    end = next(i for i in range(begin + 1, len(lines)) if ends(lines[i])) + 1 if last else len(lines)
    language = {".conf": "nginx", ".service": "ini", ".py": "python", "": "docker"}.get(Path(path).suffix, "text")
    return Code("\n".join(lines[begin:end]), language=language)


class LogLines(logging.Handler):
    """`with LogLines() as lines:` collects urllib3's log messages in the list `lines`."""

    def __enter__(self):
        self.lines, self.logger = [], logging.getLogger("urllib3")
        self.level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.DEBUG)
        return self.lines

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)

    def emit(self, record):
        self.lines.append(record.getMessage())
