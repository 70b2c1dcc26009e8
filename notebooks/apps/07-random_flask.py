"""The random-number API of sandbox/random_api.py, rewritten with Flask (chapter 07).

    python -m sandbox app --app notebooks/apps/07-random_flask.py
    flask --app notebooks/apps/07-random_flask.py run

Same endpoints, query parameters, JSON answers and JSON errors as the
http.server version (tests/test_flask_random.py checks it). The differences
sit at the edges, where Flask and the server under it decide:

- a verb other than GET or HEAD on a URL that does not exist: 404 here (Flask
  routes first), 405 there (its do_POST() never looks at the path);
- OPTIONS: Flask answers it by itself (200) and lists it in Allow; there, 405;
- a query with two different mistakes: each version may report another one first;
- Flask decodes %-escapes in the path before routing, and keeps invalid UTF-8
  in the query string %-escaped;
- a request line too malformed to reach Flask gets the WSGI server's own
  plain-text 400; headers (Server, Content-Type) and JSON spacing differ.
"""

from __future__ import annotations

import random

from flask import Flask, abort, request
from werkzeug.exceptions import HTTPException

from sandbox.random_api import OPENAPI  # the same API, so the same description: data, not code

MAX_N = 1000
BOUND = 10**15  # |min|, |max| and seed: integers this size are exact in every JSON parser
PARAMETERS = ("n", "min", "max", "seed")
DEFAULTS = {int: (0, 100), float: (0.0, 1.0)}  # (min, max)

app = Flask(__name__, static_folder=None)  # an API: no /static/ (apps/static/ is for pages)
app.json.sort_keys = False  # keep the keys in our order, as json.dumps() does


def read_number(name: str, kind: type, default, low, high):
    """The query parameter `name` as an int or a float between low and high, else a 400."""
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        abort(400, f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}")
    if not low <= value <= high:  # also false for nan
        abort(400, f"{name} must be between {low:_} and {high:_}, got {text!r}")
    return value


def random_numbers(kind: type) -> dict:
    for name, values in request.args.lists():
        if name not in PARAMETERS:
            abort(400, f"unknown query parameter {name!r}; the allowed ones are {', '.join(PARAMETERS)}")
        if len(values) > 1:
            abort(400, f"query parameter {name!r} is given more than once; give it once")
    n = read_number("n", int, 1, 1, MAX_N)
    low = read_number("min", kind, DEFAULTS[kind][0], -BOUND, BOUND)
    high = read_number("max", kind, DEFAULTS[kind][1], -BOUND, BOUND)
    if low > high:
        abort(400, f"min ({low}) must not be greater than max ({high})")
    seed = read_number("seed", int, None, 0, BOUND)  # not negative: Random(-5) is Random(5)
    generator = random.Random(seed)  # our own generator: requests run in several threads
    draw = generator.randint if kind is int else generator.uniform
    values = [draw(low, high) for _ in range(n)]
    return {"type": kind.__name__, "n": n, "min": low, "max": high, "seed": seed, "values": values}


@app.get("/")
def index():
    return {"endpoints": list(OPENAPI["paths"]), "docs": "/api/openapi.json"}


@app.get("/api/random/int")
def random_ints():
    return random_numbers(int)


@app.get("/api/random/float")
def random_floats():
    return random_numbers(float)


@app.get("/api/openapi.json")
def openapi():
    return OPENAPI


@app.errorhandler(HTTPException)  # abort(400, ...), no such URL (404), a wrong verb (405), ...
def json_error(error: HTTPException):
    message, headers = error.description, {}
    if error.code == 404:
        message = f"there is nothing at {request.path}; GET / lists the endpoints"
    elif error.code == 405:
        message = f"{request.method} is not allowed: this API only answers GET (and HEAD)"
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return {"status": error.code, "error": error.name, "message": message}, error.code, headers
