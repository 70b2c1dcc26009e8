"""Sandbox servers for the course, and ``launch`` to start them from Python.

    python -m sandbox --list        # what there is
    python -m sandbox echo --help   # options and limits of one server
"""

__all__ = ["launch", "Server", "SandboxError", "stop_all"]


def __getattr__(name: str):
    # `from sandbox import launch` loads the launcher on first use only: a
    # server process (python -m sandbox NAME) never needs it, and starts faster.
    if name in __all__:
        from . import launcher

        return getattr(launcher, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
