"""The API's limits, and checking what a client sends against them.

A request that breaks a rule gets an answer saying which rule, instead of a
crash deeper down (SQLite cannot store some strings, Python cannot turn a
60,000-deep JSON array into lists...). The OpenAPI document (openapi.py) is
written from the same constants, so the two never disagree.
"""

from __future__ import annotations

import json
import re
from typing import Callable

from flask import request
from werkzeug.exceptions import BadRequest, UnprocessableEntity, UnsupportedMediaType

NAME_MAX = 50  # characters in a user name
STATUS_MAX = 200  # characters in a status ("" clears it)
TEXT_MAX = 2000  # characters in a message
BODY_MAX = 64 * 1024  # bytes in a request body (Flask answers 413 beyond)
PAGE_DEFAULT = 20  # items per page when the client does not say
PAGE_MAX = 100  # items per page at most
ID_MAX = 2**63 - 1  # SQLite's largest integer: an id above it cannot exist
# At least one character that is not blank: "   " is not a name nor a message.
# "Blank" is what \s matches in JavaScript (ECMA-262), the regular expressions
# of OpenAPI's "pattern": tabs, line breaks, spaces (Unicode's Zs) and U+FEFF.
# Python's \s also matches \x1c-\x1f and \x85, and not U+FEFF: hence a pattern
# that lists the characters, and means the same to both.
NOT_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"

LIMITS = f"""limits:
  user name          1 to {NAME_MAX} characters, not only spaces; unique, ignoring the case of A-Z
  status             0 to {STATUS_MAX} characters
  message text       1 to {TEXT_MAX} characters, not only spaces
  request body       {BODY_MAX // 1024} KiB of JSON (413 beyond)
  page size          ?limit=1 to {PAGE_MAX} items (default {PAGE_DEFAULT})
  requests           --rate-limit per client address (429 beyond, with a Retry-After header)
"""

JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
              int: "a number", float: "a number", type(None): "null"}


class ValidationFailed(UnprocessableEntity):
    """422: the request is well-formed but breaks a rule; ``details`` says which, per field."""

    def __init__(self, details: dict[str, str]):
        self.details = details
        problems = "; ".join(f"{field}: {problem}" for field, problem in details.items())
        super().__init__(f"Invalid request: {problems}.")


def json_body() -> object:
    """The request body, decoded from JSON: 415 if it is not JSON, 400 if it is broken."""
    if not request.is_json:
        sent = request.mimetype or "no Content-Type header"
        raise UnsupportedMediaType(
            f"The body must be JSON, sent with the header 'Content-Type: application/json' (got {sent}). "
            "With requests: requests.post(url, json={...})."
        )
    try:
        # get_data() answers 413 itself when the body is longer than BODY_MAX.
        return json.loads(request.get_data())
    except RecursionError:  # [[[[... deeper than Python's recursion limit (about 1,000)
        raise BadRequest("The body is not valid JSON: its arrays and objects are nested too deeply.") from None
    except ValueError as e:  # also: not UTF-8, huge numbers
        raise BadRequest(f"The body is not valid JSON: {e}.") from None


# A check takes a value from the client and returns what is wrong with it, or None.
Check = Callable[[object], str | None]


def string(low: int, high: int, not_blank: bool = False) -> Check:
    """A check for a string of ``low`` to ``high`` characters."""

    def check(value: object) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, not {JSON_TYPES.get(type(value), 'that')}"
        if not low <= len(value) <= high:
            return f"must have {low} to {high} characters, not {len(value)}"
        if not_blank and not re.search(NOT_BLANK, value):
            return "must not be only spaces"
        try:
            # JSON can carry half of a UTF-16 pair ("\ud800"), which is no
            # character at all: SQLite (UTF-8) could not store it.
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (it contains a lone surrogate)"
        return None

    return check


def boolean(value: object) -> str | None:
    if not isinstance(value, bool):
        return f"must be true or false, not {JSON_TYPES.get(type(value), 'that')}"
    return None


def fields(body: object, checks: dict[str, Check]) -> dict:
    """``body`` if it is a JSON object with exactly these fields, each passing its check; else 422.

    An unknown field is an error rather than ignored, so that a typo such as
    {"txt": "hi"} is reported instead of silently doing something else.
    """
    if not isinstance(body, dict):
        example = ", ".join(f'"{name}": ...' for name in checks)
        raise ValidationFailed({"body": f"must be a JSON object like {{{example}}}, not {JSON_TYPES[type(body)]}"})
    details = {}
    for name in body:
        if name not in checks:
            details[name] = f"unexpected field; allowed: {', '.join(checks)}"
    for name, check in checks.items():
        if name not in body:
            details[name] = "missing"
        elif (problem := check(body[name])) is not None:
            details[name] = problem
    if details:
        raise ValidationFailed(details)
    return body


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter ``name`` (``?name=12``), between low and high; else 422."""
    text = request.args.get(name)
    if text is None:
        return default
    # Only ASCII digits: int() would also accept " 12", "1_000" and "١٢".
    if not re.fullmatch(r"-?[0-9]{1,19}", text) or not low <= int(text) <= high:
        raise ValidationFailed({name: f"must be an integer from {low} to {high}, not {text[:30]!r}"})
    return int(text)


def bool_arg(name: str) -> bool:
    """The query parameter ``name`` as a boolean: ``true`` or ``false`` (absent: false); else 422."""
    text = request.args.get(name, "false")
    if text not in ("true", "false"):
        raise ValidationFailed({name: f"must be true or false, not {text[:30]!r}"})
    return text == "true"
