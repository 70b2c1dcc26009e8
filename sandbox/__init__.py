"""Sandbox servers for the course, and ``launch`` to start them from Python.

    python -m sandbox --list        # what there is
    python -m sandbox echo --help   # options and limits of one server
"""

from .launcher import SandboxError, Server, launch, stop_all

__all__ = ["launch", "Server", "SandboxError", "stop_all"]
