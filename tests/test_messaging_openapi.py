"""The messaging API's OpenAPI document stays true, and the docs page works offline.

1. The document is valid OpenAPI 3.0, and its paths and methods are exactly
   the routes of the Flask application: a route added without its
   description, or described but gone, fails here.
2. Schemathesis reads the document, generates requests from it (valid ones,
   and deliberately invalid ones), sends them to the application and checks
   each answer: never a 5xx, and always a status code, content type, headers
   and body that the document describes.
3. Its pattern for "not only spaces", read as JavaScript reads it (in a
   browser), refuses exactly what the server refuses.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from messaging_helpers import bearer, new_app, register
from sandbox.messaging import live
from sandbox.messaging.openapi import document
from sandbox.messaging.validation import NOT_BLANK, string

API = "/api/v1"
# Routes under /api/v1 that are web pages for people, not part of the API.
PAGES = {f"{API}/docs", f"{API}/docs/<path:filename>"}


def test_the_document_is_valid_openapi():
    validate(document())  # raises, saying where, if it is not


def test_the_server_serves_the_document(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.json == document()


def flask_operations(app) -> set[tuple[str, str]]:
    """(path, method) of every API route, with Flask's <int:id> written as OpenAPI's {id}."""
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(f"{API}/") and rule.rule not in PAGES:
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            operations |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return operations


def documented_operations() -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(path, method) for path, item in document()["paths"].items() for method in item if method in methods}


def test_the_document_describes_exactly_the_routes(app):
    assert documented_operations() == flask_operations(app)


def test_every_error_response_has_the_error_shape():
    spec = document()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert "429" in operation["responses"], (path, method)
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    name = response["$ref"].rsplit("/", 1)[1]
                    schema = spec["components"]["responses"][name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}


def test_the_docs_page_uses_only_files_from_this_server(client):
    page = client.get(f"{API}/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, html
    for url in urls:
        assert url.startswith("/"), f"{url} is not on this server"
        asset = client.get(url)
        assert asset.status_code == 200, url
        asset.close()
    script = client.get("/static/docs.js").get_data(as_text=True)
    assert f"{API}/openapi.json" in script and "validatorUrl: null" in script


# --- Schemathesis ----------------------------------------------------------------------------
#
# One test per operation and kind of data: "positive" requests follow the
# document, "negative" ones break it on purpose (a wrong type, a missing
# field...) and must get a 4xx. (Schemathesis' own @schema.parametrize() gives
# all its tests the same pytest id under pytest 9, which pytest-xdist cannot
# tell apart; plain pytest.mark.parametrize with Hypothesis does not.)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """The document as Schemathesis reads it from a live application; a user's id and token."""
    # A live stream (GET /api/v1/events) lasts a minute: here 0.1 s, so that each generated request ends soon.
    stream_seconds, live.STREAM_SECONDS = live.STREAM_SECONDS, 0.1
    fuzzed_app = new_app(tmp_path_factory.mktemp("fuzz"))
    client = fuzzed_app.test_client()
    user, token = register(client, "Fuzz")
    _, other_token = register(client, "Other")
    for _ in range(3):  # so that the generator may find existing messages too
        client.post(f"{API}/users/{user['id']}/messages", json={"text": "hi"}, headers=bearer(other_token))
    yield schemathesis.openapi.from_wsgi(f"{API}/openapi.json", fuzzed_app), user["id"], token
    live.STREAM_SECONDS = stream_seconds


CHECKS = [
    not_a_server_error,  # no 5xx, whatever the input
    status_code_conformance,  # every status code is one the document lists for that operation
    content_type_conformance,  # the answer's Content-Type is the documented one
    response_headers_conformance,  # documented headers (Location...) are there and well-formed
    response_schema_conformance,  # the JSON body fits the documented schema
    negative_data_rejection,  # a request that breaks the document gets a 4xx, never a 2xx
]


def generation_cases() -> list:
    """(path, method, mode) to test: negative data only where there is something to break."""
    cases = []
    for path, method in sorted(documented_operations()):
        item = document()["paths"][path]
        inputs = item.get("parameters") or item[method].get("parameters") or item[method].get("requestBody")
        for mode in [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if inputs else [GenerationMode.POSITIVE]:
            cases.append(pytest.param(path, method, mode, id=f"{method.upper()} {path} {mode}"))
    return cases


def headers_broken(case) -> bool:
    """Whether Schemathesis generated this case's headers to break the document (its metadata says)."""
    meta = getattr(case, "_meta", None)
    info = meta.components.get(ParameterLocation.HEADER) if meta else None
    return bool(info and info.mode == GenerationMode.NEGATIVE)


@pytest.mark.parametrize("path, method, mode", generation_cases())
def test_generated_requests_get_documented_answers(fuzzed, path, method, mode):
    schema, user_id, token = fuzzed
    operation = schema[path][method.upper()]
    strategies = [operation.as_strategy(mode)]
    if "{user_id}" in path and mode == GenerationMode.POSITIVE:
        # Random ids mostly name no one (404): also aim at the token's own user, where requests succeed.
        strategies.append(operation.as_strategy(mode, path_parameters={"user_id": user_id}))

    @given(case=st.one_of(strategies))
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        # The token, unless the case's headers were made to break the document (GET /events has a
        # header of its own): a missing Authorization is then part of what must be refused.
        case.call_and_validate(headers=None if headers_broken(case) else bearer(token), checks=CHECKS)

    check()


# --- "not only spaces": the document's pattern and the server's check agree ------------------

# Every BMP code point, surrogates included (JSON can carry "\ud800").
CODE_POINTS = range(0x10000)


def blank_for_the_server(code_point: int) -> bool:
    return string(1, 1, not_blank=True)(chr(code_point)) == "must not be only spaces"


def test_the_pattern_read_as_javascript_and_the_server_agree_on_blank(browser):
    """Clients (Swagger UI, a page's own checks) read the pattern as JavaScript does, not as Python."""
    page = browser.new_page()
    try:
        pattern = document()["components"]["schemas"]["NewMessage"]["properties"]["text"]["pattern"]
        # For each code point, alone: [does the pattern match it, does JavaScript's own \s match it].
        ecma = page.evaluate("""([pattern, count]) => {
            const notBlank = new RegExp(pattern), space = /^\\s$/;
            return Array.from({length: count}, (_, c) => {
                const text = String.fromCharCode(c);
                return [notBlank.test(text), space.test(text)];
            });
        }""", [pattern, len(CODE_POINTS)])
    finally:
        page.close()
    server = [blank_for_the_server(c) for c in CODE_POINTS]
    disagree = [hex(c) for c in CODE_POINTS if ecma[c][0] == server[c]]  # pattern matches <=> not blank
    assert not disagree, f"the pattern (as JavaScript) and the server disagree on {disagree[:20]}"
    not_ecma_spaces = [hex(c) for c in CODE_POINTS if ecma[c][1] != server[c]]
    assert not not_ecma_spaces, f"blank for the server but not JavaScript's \\s, or the reverse: {not_ecma_spaces[:20]}"
    # Where Python's \s differs from JavaScript's; the server follows JavaScript.
    assert [blank_for_the_server(c) for c in (0x1C, 0x1F, 0x85, 0xFEFF, 0x20, 0x3000)] == [False] * 3 + [True] * 3


def test_the_pattern_read_as_python_and_the_server_agree_on_blank():
    """Python's re (Schemathesis, jsonschema) reads the same pattern the same way."""
    pattern = re.compile(NOT_BLANK)
    for c in CODE_POINTS:
        assert (pattern.search(chr(c)) is None) == blank_for_the_server(c), hex(c)


@pytest.mark.parametrize("text, status", [("\u001f", 201), ("\x1c", 201), ("\x85", 201), ("\ufeff", 422),
                                          ("\u3000\t\n", 422), ("\ufeff a", 201)])
def test_blank_text_over_http(client, text, status):
    me, token = register(client, "Ada")
    response = client.post(f"{API}/users/{me['id']}/messages", json={"text": text}, headers=bearer(token))
    assert response.status_code == status, response.json
