"""More of the local httpbin: redirects, compression, ranges, caching, streams,
failures on purpose, Bearer and Digest authentication.

These views join httpbin.py's Blueprint (httpbin.py imports this module, and
lists every endpoint in its docstring); their limits are in its LIMITS. Bad
input is a 4xx in the sandbox's one JSON error shape (web.py), as there.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import zlib
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit

from flask import Response, abort, request, url_for
from werkzeug.exceptions import PreconditionFailed, RequestedRangeNotSatisfiable, ServiceUnavailable, Unauthorized
from werkzeug.http import http_date, quote_etag

from . import web
from .httpbin import (ANY_METHOD, MAX_AGE, MAX_BYTES, MAX_DELAY, MAX_DRIP_BYTES, MAX_EVENTS, MAX_LINES,
                      MAX_REDIRECTS, MAX_SLOW, NONCE_SECONDS, describe, empty, seeded, views)

REDIRECT_CODES = (301, 302, 303, 307, 308)
VISIBLE_ASCII = re.compile(r"[!-~]+")  # no space, no control character (a newline would split the header)
ETAG_CHARS = re.compile(r"[!#-~]+")  # what an entity tag may hold between its quotes: visible ASCII but "
ALPHABET = b"abcdefghijklmnopqrstuvwxyz"
STARTED = int(time.time())  # /cache's "last modification": when this server started


# --------------------------------------------------------------------------- redirects


def redirect(location: str, code: int = 302) -> Response:
    return empty(code, {"Location": location})


def chain(n: str, view: str, external: bool) -> Response:
    """One step of /redirect/<n> or /absolute-redirect/<n>: to n - 1 of the same, and from 1 to /get."""
    n = web.number(n, "the number of redirects", 1, MAX_REDIRECTS)
    # url_for() gives a path, "/redirect/2": the client resolves it against the URL it asked
    # for. With _external=True, a whole URL, from the request's scheme and Host header.
    if n == 1:
        return redirect(url_for("httpbin.get", _external=external))
    return redirect(url_for(view, n=n - 1, _external=external))


@views.get("/redirect/<n>")
def redirect_n(n: str):
    return chain(n, "httpbin.redirect_n", external=False)


@views.get("/absolute-redirect/<n>")
def absolute_redirect(n: str):
    return chain(n, "httpbin.absolute_redirect", external=True)


@views.route("/redirect-to", methods=ANY_METHOD)
def redirect_to():  # /redirect-to?url=/get&status_code=307
    if not request.args.get("url"):
        abort(400, "say where to: /redirect-to?url=/get (and &status_code=307 for another status than 302)")
    code = web.number(request.args.get("status_code", "302"), "status_code", 100, 599)
    if code not in REDIRECT_CODES:
        abort(400, f"status_code must be a redirect, 301, 302, 303, 307 or 308, got {code}")
    return redirect(local_url(request.args["url"]), code)


def local_url(url: str) -> str:
    """``url`` if it leads to this server, else a 400: never an open redirect.

    An open redirect sends anyone anywhere: a link to a trusted server that lands on a
    look-alike site. Allowed here: a path ("/get", "get?a=1") or an http(s) URL of the
    host the client asked for (its Host header). Browsers read "\\" as "/", drop tabs
    and newlines, and take "//host/" (even "///host/") as a URL of another host: refused.
    """
    if not VISIBLE_ASCII.fullmatch(url) or "\\" in url:
        abort(400, f"url must be visible ASCII, without backslashes (percent-encode the rest, %20), got {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError:  # such as "http://[::1" (an unclosed IPv6 address)
        abort(400, f"url is not a URL: {url!r}")
    relative = not parts.scheme and not url.startswith("//")
    here = parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()
    if not (relative or here):
        abort(400, f"this server redirects only to itself: a path such as /get, or a URL starting with "
                   f"{request.host_url}; not to {url!r} (that would be an open redirect)")
    return url


# --------------------------------------------------------------------------- compression


def compressed(body: bytes, encoding: str) -> Response:
    # Content-Encoding says how the body was compressed: the client decompresses it (requests
    # does, for gzip and deflate), and Content-Length counts the bytes sent, compressed. As
    # httpbin.org, whatever the request's Accept-Encoding says: /gzip is asked for to see gzip.
    return Response(body, mimetype="application/json", headers={"Content-Encoding": encoding})


@views.get("/gzip")
def gzipped():
    return compressed(gzip.compress(json.dumps({**describe(), "gzipped": True}).encode()), "gzip")


@views.get("/deflate")
def deflated():
    # HTTP's "deflate" is the zlib format (RFC 1950: a 2-byte header, deflate data, an Adler-32
    # checksum), which zlib.compress() writes; not raw deflate (RFC 1951), despite its name.
    return compressed(zlib.compress(json.dumps({**describe(), "deflated": True}).encode()), "deflate")


# --------------------------------------------------------------------------- ranges


@views.get("/range/<n>")
def byte_range(n: str):
    """n bytes, abcd...xyzabc...; with "Range: bytes=first-last", only those (a resumed download)."""
    size = web.number(n, "the number of bytes", 0, MAX_BYTES)
    body = (ALPHABET * (size // len(ALPHABET) + 1))[:size]
    headers = {"Accept-Ranges": "bytes"}  # "you may ask for a part"
    # No Range, or in a unit other than bytes, which a server must then ignore (RFC 9110, 14.2).
    if not request.headers.get("Range", "").lower().startswith("bytes="):
        return Response(body, mimetype="application/octet-stream", headers=headers)
    first, last = wanted_range(request.headers["Range"], size)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"  # which part, of how many bytes in all
    return Response(body[first:last + 1], 206, mimetype="application/octet-stream", headers=headers)


def wanted_range(header: str, size: int) -> tuple[int, int]:
    """The first and the last position (both included) that "Range: bytes=..." asks of ``size`` bytes.

    bytes=0-99 is the first 100 bytes (positions 0 to 99), bytes=100- all from position
    100, bytes=-100 the last 100. A last position past the end means the end; a first one
    past it is satisfied by no byte: a 416, with Content-Range: bytes */size.
    """
    match = re.fullmatch(r"bytes=([0-9]*)-([0-9]*)", header.strip(), re.IGNORECASE)
    if not match or match.groups() == ("", ""):  # several ranges too: this server sends one part
        unsatisfiable(size, f"send one range, such as bytes=0-99, bytes=100- or bytes=-100; got {header!r}")
    start, end = match.groups()
    if not start:  # bytes=-n: the last n bytes, or all of them if there are fewer
        first, last = max(size - int(end), 0), size - 1
    elif end and int(end) < int(start):
        unsatisfiable(size, f"the range ends before it starts: {header!r}")
    else:
        first, last = int(start), min(int(end or size - 1), size - 1)
    if first > last:  # a start past the end, bytes=-0, or an empty body
        unsatisfiable(size, f"no byte of {header!r} exists: there are {size}, positions 0 to {size - 1}")
    return first, last


def unsatisfiable(size: int, message: str):
    raise RequestedRangeNotSatisfiable(length=size, description=message)  # with Content-Range: bytes */size


# --------------------------------------------------------------------------- conditional requests, caching


def unchanged(etag: str, modified: datetime | None = None) -> bool:
    """Whether the client's copy is current, by its If-None-Match or else its If-Modified-Since.

    A cache revalidating its copy sends the ETag it got in If-None-Match, or the
    Last-Modified in If-Modified-Since; if still current, the answer is a 304 without
    a body. If-None-Match decides alone when both are there (RFC 9110, 13.2.2), compared
    weakly (W/"v1" matches "v1"); an If-Modified-Since that is not a date is ignored.
    """
    if "If-None-Match" in request.headers:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since  # None if absent or not an HTTP date
    return modified is not None and since is not None and modified <= since


@views.get("/etag/<etag>")
def etag(etag: str):
    if not ETAG_CHARS.fullmatch(etag):
        abort(400, f"an entity tag is visible ASCII without a quote, got {etag!r}")
    headers = {"ETag": quote_etag(etag)}  # ETag: "v1", in quotes
    # If-Match: "only if it is still the version I have": how a PUT avoids overwriting someone
    # else's change. Checked first, compared strongly (W/"v1" does not match): else a 412.
    if "If-Match" in request.headers and not request.if_match.contains(etag):
        raise PreconditionFailed(f"If-Match {request.headers['If-Match']} does not match the ETag {headers['ETag']}")
    if unchanged(etag):
        return empty(304, headers)
    return describe(), headers


@views.get("/cache")
def cache():
    modified = datetime.fromtimestamp(STARTED, timezone.utc)
    headers = {"ETag": quote_etag(f"started-{STARTED}"), "Last-Modified": http_date(modified)}
    if unchanged(f"started-{STARTED}", modified):
        return empty(304, headers)  # no body: the client's copy is current (werkzeug keeps only the ETag)
    return describe(), headers


@views.get("/cache/<seconds>")
def cache_for(seconds: str):
    seconds = web.number(seconds, "max-age, in seconds,", 0, MAX_AGE)
    # public: any cache may keep it, a proxy's too; max-age: fresh for that long, reused without asking.
    return describe(), {"Cache-Control": f"public, max-age={seconds}"}


# --------------------------------------------------------------------------- streams


@views.get("/stream/<n>")
def stream(n: str):
    lines = web.number(n, "the number of lines", 0, MAX_LINES)
    info = describe()  # now: the generator runs after this view returned, when the request is gone

    def generate():
        for i in range(lines):
            yield json.dumps({"id": i, **info}) + "\n"

    # A generator, not a string: waitress sends each line as soon as it is yielded, and the
    # whole body is never in memory. Its length is not known in advance, so no Content-Length:
    # in HTTP/1.1 each line goes as a chunk of its own (Transfer-Encoding: chunked), and an
    # empty chunk ends the body; waitress then closes the connection all the same (its choice).
    # httpbin.org says application/json, but the whole is not one JSON document.
    return Response(generate(), mimetype="application/x-ndjson")


slow_slots = threading.BoundedSemaphore(MAX_SLOW)  # one count for the process: it serves one app


def slow(chunks, mimetype: str, headers: dict | None = None) -> Response:
    """A body sent slowly (/drip, /sse), or a 503 if MAX_SLOW are being sent already.

    Each holds one of waitress's threads to its end: slow clients alone could hold
    all of them, and then even a /get would wait its turn.
    """
    if not slow_slots.acquire(blocking=False):
        raise ServiceUnavailable(f"{MAX_SLOW} slow answers (/drip, /sse) are being sent, the most at once",
                                 retry_after=MAX_DELAY)
    response = Response(chunks, mimetype=mimetype, headers=headers)
    response.call_on_close(slow_slots.release)  # waitress closes the body once sent, or once the client is gone
    return response


def paced(chunks, interval: float, start_after: float = 0.0):
    """Yield each chunk at its time: the first after ``start_after`` seconds, then one per ``interval``.

    Times count from the start, not from the chunk before: the time each takes to
    send does not add up.
    """
    start = time.monotonic() + start_after
    for i, chunk in enumerate(chunks):
        time.sleep(max(0.0, start + i * interval - time.monotonic()))
        yield chunk


@views.get("/drip")
def drip():  # /drip?duration=2&numbytes=10&delay=0
    duration = web.number(request.args.get("duration", "2"), "duration", 0, MAX_DELAY, float)
    numbytes = web.number(request.args.get("numbytes", "10"), "numbytes", 1, MAX_DRIP_BYTES)
    delay = web.number(request.args.get("delay", "0"), "delay", 0, MAX_DELAY, float)
    if delay + duration > MAX_DELAY:
        abort(400, f"delay + duration must be at most {MAX_DELAY} seconds, got {delay:g} + {duration:g}")
    interval = duration / numbytes  # the last byte leaves at delay + duration
    chunks = paced(itertools.repeat(b"*", numbytes), interval, start_after=delay + interval)
    response = slow(chunks, "application/octet-stream")
    response.content_length = numbytes  # known: the client can tell when the body is complete
    return response


@views.get("/sse")
def sse():  # /sse?count=5&delay=1
    count = web.number(request.args.get("count", "10"), "count", 1, MAX_EVENTS)
    delay = web.number(request.args.get("delay", "1"), "delay", 0, MAX_DELAY, float)
    if (count - 1) * delay > MAX_DELAY:
        abort(400, f"(count - 1) x delay must be at most {MAX_DELAY} seconds, got {count - 1} x {delay:g}")
    # A browser's EventSource reconnects when the stream ends, with the id of the last event
    # it got: the rest follows, and once all are sent a 204 tells it to stop reconnecting.
    after = web.number(request.headers.get("Last-Event-ID", "0"), "Last-Event-ID", 0, count)
    if after == count:
        return empty(204)
    # An event is "field: value" lines ended by a blank line: "data:" the payload (json.dumps()
    # writes no newline: one line), "id:" what a reconnecting client sends back.
    events = (f"id: {i}\ndata: {json.dumps({'id': i, 'count': count})}\n\n" for i in range(after + 1, count + 1))
    return slow(paced(events, delay), "text/event-stream", {"Cache-Control": "no-store"})


# --------------------------------------------------------------------------- failures on purpose


@views.get("/unstable")
def unstable():  # /unstable?failure_rate=0.5&seed=1: to try retries against
    rate = web.number(request.args.get("failure_rate", "0.5"), "failure_rate", 0, 1, float)
    if seeded().random() < rate:  # with a seed, the same draw every time: a reproducible run
        abort(500, f"a failure on purpose (failure_rate={rate:g}): try again")
    return describe()


# --------------------------------------------------------------------------- Bearer and Digest authentication


@views.get("/bearer")
def bearer():
    auth = web.authorization()  # from the header "Authorization: Bearer TOKEN"
    if auth and auth.type == "bearer" and auth.token:
        return {"authenticated": True, "token": auth.token}
    if "Authorization" in request.headers:
        message = "the Authorization header must be 'Bearer ' and then the token"
    else:
        message = "send a token in the header Authorization: Bearer TOKEN (any token will do here)"
    return web.error_response(Unauthorized(message)), {"WWW-Authenticate": "Bearer"}


# Digest (RFC 7616) is here for completeness: the password never crosses the network, only
# an MD5 of it mixed with the server's nonce. What one uses today is HTTPS, with Basic or a
# token: TLS protects the whole exchange, not just the password, MD5 is broken, and a Digest
# server must keep for each user a hash that is as good as the password (HA1, below).
REALM = "httpbin"
NONCE_KEY = secrets.token_bytes(16)  # this process's own: a nonce cannot be forged, nor outlive a restart
OPAQUE = secrets.token_hex(16)  # sent with each challenge, to come back unchanged
DIGEST_FIELDS = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "opaque")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_nonce(issued: int) -> str:
    """A nonce that says when it was issued, signed: checked later without a list of the nonces issued."""
    return f"{issued}.{hmac.new(NONCE_KEY, str(issued).encode(), 'sha256').hexdigest()}"


def digest_refusal(message: str, stale: bool = False):
    """A 401 with a fresh challenge; stale=true: only the nonce has expired, answer again."""
    nonce = make_nonce(int(time.time()))
    challenge = f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}", opaque="{OPAQUE}"'
    if stale:
        challenge += ", stale=true"
    return web.error_response(Unauthorized(message)), {"WWW-Authenticate": challenge}


def digest_problem(fields: dict, user: str, passwd: str) -> str | None:
    """What is wrong with the Digest credentials ``fields``, or None if they are right."""
    if missing := [name for name in DIGEST_FIELDS if not fields.get(name)]:
        return f"the Digest credentials lack {', '.join(missing)}; answer the challenge of a 401"
    issued = fields["nonce"].partition(".")[0]
    ours = issued.isascii() and issued.isdigit() and hmac.compare_digest(make_nonce(int(issued)).encode(),
                                                                        fields["nonce"].encode())
    if not ours or fields["opaque"] != OPAQUE or fields["qop"] != "auth":
        return "the nonce, opaque or qop is not from this server's challenge: answer the challenge of a 401"
    if unquote(urlsplit(fields["uri"]).path) != request.path:  # a response computed for another URL
        return f"uri {fields['uri']!r} is not the URL of this request"
    # response = MD5(HA1:nonce:nc:cnonce:qop:HA2), where HA1 = MD5(user:realm:password) and
    # HA2 = MD5(method:uri). The client's cnonce and counter nc make each response different.
    ha1, ha2 = md5(f"{user}:{REALM}:{passwd}"), md5(f"{request.method}:{fields['uri']}")
    expected = md5(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
    if fields["username"] != user or not hmac.compare_digest(expected.encode(), fields["response"].encode()):
        return "wrong user name or password"
    return None


@views.get("/digest-auth/auth/<user>/<passwd>")
def digest_auth(user: str, passwd: str):
    auth = web.authorization()
    if not auth or auth.type != "digest" or auth.parameters is None:
        return digest_refusal(f"send user {user!r} and the password from the URL with HTTP Digest "
                              "authentication (requests.auth.HTTPDigestAuth)")
    if problem := digest_problem(dict(auth.parameters), user, passwd):
        return digest_refusal(problem)
    if time.time() - int(auth.parameters["nonce"].partition(".")[0]) > NONCE_SECONDS:
        return digest_refusal(f"the nonce is older than {NONCE_SECONDS} s: answer this new challenge", stale=True)
    return {"authenticated": True, "user": user}
