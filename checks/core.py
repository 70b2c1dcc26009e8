"""Run one named check on a student's code, print a verdict a student understands, return it.

A *checker* is a function decorated with ``@checker("step name")``. Its body
calls the student's code through ``call()`` (or ``call_raising()``), compares
what came back with ``expect()`` / ``expect_equal()``, and returns one short
sentence saying what it checked. The decorator turns what happened into a
``Result``, prints it, and returns it:

    ✅ send_json: passed (5 messages, each one line of JSON)
    ❌ send_json: failed
       expected: 5 lines, each ending with b"\\n"
       got:      1 line: b'{"cmd": "list"}{"cmd": "help"}'
       hint:     end each message with b"\\n" ...
    ⏳ send_json: not done yet (send_json(...) still raises NotImplementedError: TODO: ...)

"Not done yet" means the student's code still raises ``NotImplementedError``
or returns ``...`` (Ellipsis): the two stubs that ``tools/make_exercises.py``
leaves in an exercise.

A check never raises in a student's notebook, so "Run all" goes on to the next
step. The test suite wants the opposite: with the environment variable
``NETCOURSE_CHECKS=strict`` (set by ``make test``), a verdict that is not the
expected one raises ``CheckError`` after it is printed, which fails the cell
under nbval. The expected verdict depends on where the notebook is: under a
folder named ``exercises`` every check must say "not done yet" (the stubs are
untouched and nothing else breaks); anywhere else (``solutions/``, a unit
test) every check must pass. The kernel that runs a notebook, in JupyterLab
as under nbval, works in the notebook's own folder: ``Path.cwd()`` tells.
"""

from __future__ import annotations

import functools
import io
import os
import socket
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

PASSED, FAILED, NOT_DONE = "passed", "failed", "not done"
ICONS = {PASSED: "✅", FAILED: "❌", NOT_DONE: "⏳"}
ENV = "NETCOURSE_CHECKS"  # "strict" under `make test`; unset for students
DEFAULT_LIMIT = 10.0  # seconds a student's function may run before we call it stuck
CHECKS_DIR = str(Path(__file__).resolve().parent)


class NotDone(Exception):
    """Raised inside a checker: the student's code is still a stub."""


class Failure(Exception):
    """Raised inside a checker: what was expected, what came back, and a hint."""

    def __init__(self, expected: str, got: str, hint: str = ""):
        super().__init__(f"expected {expected}, got {got}")
        self.expected, self.got, self.hint = expected, got, hint


class CheckError(AssertionError):
    """Strict mode only: a verdict is not the one the test run expects."""


@dataclass
class Result:
    """The verdict of one check. ``str(result)`` is what was printed."""

    step: str
    status: str  # PASSED, FAILED or NOT_DONE
    summary: str = ""  # passed: what was checked; not done: what is missing
    expected: str = ""
    got: str = ""
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        icon = ICONS[self.status]
        if self.status == PASSED:
            return f"{icon} {self.step}: passed ({self.summary})"
        if self.status == NOT_DONE:
            return f"{icon} {self.step}: not done yet ({self.summary})"
        lines = [f"{icon} {self.step}: failed", f"   expected: {self.expected}", f"   got:      {self.got}"]
        if self.hint:
            lines.append(f"   hint:     {self.hint}")
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        # The checker has just printed the verdict: a check cell shows it once,
        # without an Out[] line. Displayed again later (`result` in a cell), it prints.
        if getattr(self, "_just_printed", False):
            self._just_printed = False
        else:
            print(self)


def checker(step: str):
    """Decorator: make ``fn`` a checker for the step named ``step``.

    ``fn`` returns a short description of what it checked; it raises
    ``Failure`` or ``NotDone`` (usually through ``call`` and ``expect``).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs) -> Result:
            try:
                summary = fn(*args, **kwargs)
                result = Result(step, PASSED, summary or "all checks")
            except NotDone as error:
                result = Result(step, NOT_DONE, str(error))
            except Failure as error:
                result = Result(step, FAILED, expected=error.expected, got=error.got, hint=error.hint)
            except Exception as error:  # noqa: BLE001 - a check must never stop the notebook
                result = Result(
                    step, FAILED, expected="the check to run to its end",
                    got=f"it stopped with {describe_exception(error)}",
                    hint="this may be a bug in the check itself: tell your teacher, with this message",
                )
                if strict_expectation() is not None:
                    traceback.print_exc()
            print(result, flush=True)
            result._just_printed = True
            enforce(result)
            return result

        run.step = step
        return run

    return decorate


# --- strict mode ---------------------------------------------------------------


def strict_expectation() -> str | None:
    """The verdict every check must give in this run: None (student), PASSED or NOT_DONE."""
    mode = os.environ.get(ENV, "").strip().lower()
    if mode in ("", "0", "off", "no", "false"):
        return None
    if mode != "strict":
        raise CheckError(f"{ENV}={mode!r} is not understood: use {ENV}=strict, or leave it unset")
    for folder in (Path.cwd(), *Path.cwd().parents):
        if folder.name == "exercises":
            return NOT_DONE
        if folder.name == "solutions":
            return PASSED
    return PASSED


def enforce(result: Result) -> None:
    expected = strict_expectation()
    if expected is not None and result.status != expected:
        where = "an exercise (stubs untouched)" if expected == NOT_DONE else "a solution"
        raise CheckError(
            f"{ENV}=strict: in {where} every check must say {expected!r}, "
            f"but this one says {result.status!r}:\n{result}"
        )


# --- calling the student's code ---------------------------------------------


def name_of(fn) -> str:
    """``ints`` for a function, ``RandomClient.ints`` for a method, ``RandomClient`` for a class."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return name.rpartition("<locals>.")[2]


def describe_call(fn, args=(), kwargs=None) -> str:
    def brief(value):
        return short(value, SHORT if isinstance(value, str) else 30)

    shown = [brief(a) for a in args] + [f"{k}={brief(v)}" for k, v in (kwargs or {}).items()]
    return f"{name_of(fn)}({', '.join(shown)})"


def require(value, name: str):
    """``value`` itself, or NotDone if it is still ``...`` (a stub left at top level)."""
    if value is Ellipsis:
        raise NotDone(f"{name} is still ... (Ellipsis)")
    return value


def run_with_limit(fn, args=(), kwargs=None, limit: float = DEFAULT_LIMIT):
    """Run ``fn(*args, **kwargs)`` in a thread for at most ``limit`` seconds.

    Returns ``(finished, value, exception)``. A function still running after
    ``limit`` seconds is left running in its (daemon) thread: closing the
    sockets or servers it waits on is what ends it.
    """
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn(*args, **(kwargs or {}))
        except BaseException as error:  # noqa: BLE001 - reported to the student
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"check:{name_of(fn)}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        return False, None, None
    return True, outcome.get("value"), outcome.get("error")


def call(fn, *args, limit: float = DEFAULT_LIMIT, hint: str = "", expected: str = "", **kwargs):
    """Call the student's ``fn(*args, **kwargs)`` and return its value.

    Raises NotDone for a stub (``NotImplementedError``, or ``...`` returned),
    Failure for any other exception or for a function still running after
    ``limit`` seconds. ``expected`` and ``hint`` go into that Failure.
    """
    shown = describe_call(fn, args, kwargs)
    if fn is Ellipsis or fn is None:
        raise NotDone("the function is not written yet (it is still ...)")
    finished, value, error = run_with_limit(fn, args, kwargs, limit)
    if not finished:
        raise Failure(
            expected or f"{shown} to return within {limit:g} s",
            f"it was still running after {limit:g} s",
            hint or "is it waiting for data that never comes? A timeout on the socket turns the wait into an error",
        )
    if isinstance(error, NotImplementedError):
        raise NotDone(stub_message(fn, error))
    if error is not None:
        raise Failure(expected or f"{shown} to return a result", f"it raised {describe_exception(error)}", hint)
    if value is Ellipsis:
        raise NotDone(f"{name_of(fn)}() returns ... (Ellipsis)")
    return value


def call_raising(exceptions, fn, *args, limit: float = DEFAULT_LIMIT, hint: str = "", expected: str = "", **kwargs):
    """Call the student's ``fn``, which must raise one of ``exceptions``; return that exception."""
    exceptions = exceptions if isinstance(exceptions, tuple) else (exceptions,)
    wanted = " or ".join(e.__name__ for e in exceptions)
    shown = describe_call(fn, args, kwargs)
    if fn is Ellipsis or fn is None:
        raise NotDone("the function is not written yet (it is still ...)")
    expected = expected or f"{shown} to raise {wanted}"
    finished, value, error = run_with_limit(fn, args, kwargs, limit)
    if not finished:
        raise Failure(expected, f"it was still running after {limit:g} s", hint)
    if isinstance(error, NotImplementedError) and NotImplementedError not in exceptions:
        raise NotDone(stub_message(fn, error))
    if error is None:
        if value is Ellipsis:
            raise NotDone(f"{name_of(fn)}() returns ... (Ellipsis)")
        raise Failure(expected, f"it returned {short(value)}", hint)
    if not isinstance(error, exceptions):
        raise Failure(expected, f"it raised {describe_exception(error)}", hint)
    return error


def stub_message(fn, error: NotImplementedError) -> str:
    """``f() still raises NotImplementedError [in g()]: TODO: ...``, naming the stub reached.

    ``fn``: the function called, or its name.
    """
    frames = student_frames(error)
    inner = frames[-1].name if frames else ""
    called = fn if isinstance(fn, str) else name_of(fn)
    place = f" in {inner}()" if inner and inner not in (called, called.split(".")[-1], "__init__") else ""
    return f"{called}() still raises NotImplementedError{place}: {error}"


def describe_exception(error: BaseException) -> str:
    """``KeyError: 'x' (in http_get, line 12: headers['x'])``: where in the student's code."""
    message = str(error) if len(str(error)) <= 160 else str(error)[:150] + " [...]"
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text + where(error)


def student_frames(error: BaseException) -> list:
    """The frames of the traceback in the student's code (not the libraries', not the checks')."""
    libraries = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix}) + (CHECKS_DIR,)
    return [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(libraries)]


def where(error: BaseException) -> str:
    frames = student_frames(error)
    if not frames:
        return ""
    frame = frames[-1]
    code = f": {frame.line.strip()}" if frame.line and frame.line.strip() else ""
    return f" (in {frame.name}, line {frame.lineno}{code})"


# --- comparing ----------------------------------------------------------------


def expect(condition, expected: str, got: str, hint: str = "") -> None:
    """Fail with this expected / got / hint unless ``condition`` holds."""
    if not condition:
        raise Failure(expected, got, hint)


def expect_equal(got, wanted, what: str, hint: str = "") -> None:
    """Fail unless ``got == wanted`` (and of the same type), saying how they differ.

    ``what`` names the expected value ("the 300 kB the other side sent"); a long
    bytes or str value is not shown in full, only where it first differs.
    """
    if type(got) is type(wanted) and got == wanted:
        return
    if got is None and wanted is not None:
        hint = hint or "did the function forget to `return` its result?"
    same_number = isinstance(got, (int, float)) and isinstance(wanted, (int, float)) and got == wanted
    if type(got) is not type(wanted) and not same_number:
        raise Failure(f"{what}: {short(wanted)} ({type(wanted).__name__})", f"{short(got)} ({type(got).__name__})", hint)
    if isinstance(wanted, (bytes, str)) and max(len(got), len(wanted)) > SHORT:
        raise Failure(what, difference(got, wanted), hint)
    raise Failure(f"{what}: {short(wanted)}", short(got), hint)


def difference(got, wanted) -> str:
    """Where two long bytes or str values part: "1,013 bytes instead of 307,200, the first 1,013 right"."""
    unit = "bytes" if isinstance(got, bytes) else "characters"
    same = next((i for i, (a, b) in enumerate(zip(got, wanted)) if a != b), min(len(got), len(wanted)))
    text = f"{len(got):,} {unit}" + (f" instead of {len(wanted):,}" if len(got) != len(wanted) else "")
    text += f", the first {same:,} right"
    if same < min(len(got), len(wanted)):
        text += f"; then {got[same:same + 10]!r} where {wanted[same:same + 10]!r} was expected"
    return text


SHORT = 60  # characters of a repr in a verdict


def short(value, limit: int = SHORT) -> str:
    """A repr short enough for one line of a verdict."""
    if isinstance(value, socket.socket):
        return "<socket>"
    if isinstance(value, io.IOBase):
        return "<file>"
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, (bytes, bytearray, str)) and len(value) > limit:
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{bytes(value[: limit // 4]) if isinstance(value, bytearray) else value[: limit // 4]!r}... ({len(value):,} {unit})"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..." + text[-1]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
