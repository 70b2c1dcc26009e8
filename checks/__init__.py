"""Automatic checks for the exercise notebooks (``exercises/``, ``solutions/``).

In a notebook, each exercise step ends with a check cell:

    from checks.ch02 import check_recv_until_closed
    check_recv_until_closed(recv_until_closed)

The checker calls the student's function with test inputs (often against a
sandbox server: the notebook's own, passed as an argument, or one it launches
for itself and stops), and prints one verdict:

    ✅ recv_until_closed: passed (4 messages of 0 bytes to 300 kB, sent in pieces, came back whole)
    ❌ recv_until_closed: failed
       expected: the 307,200 bytes the other side sent, in order: ...
       got:      b'...' (65,536 bytes), 65,536 bytes instead of 307,200, the first 65,536 right
       hint:     recv() returns what has arrived so far: call it in a loop until it returns b""...
    ⏳ recv_until_closed: not done yet (recv_until_closed(<socket>) still raises NotImplementedError: TODO: ...)

It also returns the verdict as a ``Result`` (``result.status``, ``result.passed``...).
A check never raises in a student's notebook; under ``make test``
(``NETCOURSE_CHECKS=strict``) a wrong verdict raises ``CheckError``: see core.py.

One module per chapter: ``checks/chNN.py``; the capstone's are ``capstone_messaging.py``
and ``capstone_web.py`` (``python -m checks.capstone_web``: its web client, in headless
Chromium). To write a checker, see core.py
(``checker``, ``call``, ``call_raising``, ``expect``, ``expect_equal``) and
helpers.py (sandbox servers, socket pairs) and servers.py (a silent server,
a flaky HTTP proxy, static files).
"""

from .core import (
    ENV,
    FAILED,
    NOT_DONE,
    PASSED,
    CheckError,
    Failure,
    NotDone,
    Result,
    call,
    call_raising,
    checker,
    expect,
    expect_equal,
    require,
)

__all__ = [
    "ENV", "FAILED", "NOT_DONE", "PASSED", "CheckError", "Failure", "NotDone", "Result",
    "call", "call_raising", "checker", "expect", "expect_equal", "require",
]
