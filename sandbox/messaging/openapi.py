"""The API's description in OpenAPI 3.0, served at /api/v1/openapi.json.

It is written by hand, as a Python dict, from the same limits the server
checks (validation.py). Tools read it: the docs page at /api/v1/docs lets you
try every request from the browser, and the tests use it twice, checking that
its paths are exactly the server's routes and letting Schemathesis send
generated requests and compare each answer with what is described here.
"""

from __future__ import annotations

from .live import HEARTBEAT_SECONDS, RETRY_MS, STREAM_SECONDS, TYPES
from .validation import BODY_MAX, ID_MAX, NAME_MAX, NOT_BLANK, PAGE_DEFAULT, PAGE_MAX, STATUS_MAX, TEXT_MAX

API = "/api/v1"


def ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def body(schema_name: str) -> dict:
    return {"required": True, "content": json_content(ref("schemas", schema_name))}


def ok(description: str, schema_name: str, location: bool = False) -> dict:
    response = {"description": description, "content": json_content(ref("schemas", schema_name))}
    if location:
        response["headers"] = {"Location": ref("headers", "Location")}
    return response


def errors(*codes: int) -> dict:
    """The listed error responses, plus 429, which any request can get."""
    return {str(code): ref("responses", str(code)) for code in sorted({*codes, 429})}


# Errors of every request that carries a JSON body.
BODY_ERRORS = (400, 413, 415, 422)
# Errors of every request that needs a token and names a user.
OWNER_ERRORS = (401, 403, 404)
BEARER = [{"bearerAuth": []}]
# Reading users: no token needed, except on a server started with --no-registration.
READER = [{}, {"bearerAuth": []}]
READER_NOTE = "Needs a token (401 without) when the server runs with --no-registration: a class's roster is the class's."

ERRORS = {
    400: ("Bad Request", "The body is not valid JSON."),
    401: ("Unauthorized", "No token, or not a valid one: send 'Authorization: Bearer <token>'."),
    403: ("Forbidden", "The token is valid but belongs to someone else (or registration is closed)."),
    404: ("Not Found", "No such user, message or URL."),
    409: ("Conflict", "The name is taken."),
    413: ("Request Entity Too Large", f"The body is larger than {BODY_MAX // 1024} KiB."),
    415: ("Unsupported Media Type", "The body is not sent as 'Content-Type: application/json'."),
    422: ("Unprocessable Entity", "The JSON is valid but breaks a rule; 'details' says which, per field."),
    429: ("Too Many Requests", "Too many requests from this address: wait for Retry-After seconds."),
    503: ("Service Unavailable", "This process of the server has all the live streams it can hold: wait for Retry-After seconds."),
}


def error_response(code: int) -> dict:
    name, description = ERRORS[code]
    example = {"status": code, "error": name, "message": description}
    response = {
        "description": f"{name}: {description}",
        "content": {"application/json": {"schema": ref("schemas", "Error"), "example": example}},
    }
    if code == 401:
        response["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    if code in (429, 503):
        response["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}}
    return response


def page_of(item: str) -> dict:
    return {
        "type": "object",
        "description": "One page of a longer list: follow 'next' for the following page.",
        "required": ["items", "total", "limit", "offset", "next"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": ref("schemas", item)},
            "total": {"type": "integer", "minimum": 0, "description": "How many items match, on all pages"},
            "limit": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
            "offset": {"type": "integer", "minimum": 0},
            "next": {"type": "string", "format": "uri", "nullable": True,
                     "description": "The URL of the next page, or null on the last one"},
        },
    }


def integer_id(description: str) -> dict:
    return {"type": "integer", "minimum": 1, "maximum": ID_MAX, "description": description}


def text(low: int, high: int, not_blank: bool, description: str) -> dict:
    schema = {"type": "string", "minLength": low, "maxLength": high, "description": description}
    if not_blank:
        schema["pattern"] = NOT_BLANK  # read as JavaScript reads it; means the same in Python (validation.py)
    return schema


def only(**properties: dict) -> dict:
    """An object with exactly these properties, all required."""
    return {"type": "object", "required": list(properties), "additionalProperties": False, "properties": properties}


SCHEMAS = {
    "User": only(
        id=integer_id("The user's id, used in URLs"),
        name={"type": "string"},
        status={"type": "string", "description": "What the user says about themself; may be empty"},
        created_at={"type": "string", "format": "date-time"},
    ),
    "Message": only(
        id=integer_id("The message's id: later messages have larger ids"),
        sender_id=integer_id("Who sent it"),
        sender_name={"type": "string"},
        recipient_id=integer_id("Whose inbox it is in"),
        text={"type": "string"},
        created_at={"type": "string", "format": "date-time"},
        read={"type": "boolean", "description": "Whether the recipient marked it read"},
    ),
    "UserPage": page_of("User"),
    "MessagePage": page_of("Message"),
    "Registration": only(
        user=ref("schemas", "User"),
        token={"type": "string", "description": "The new user's secret: shown this once, keep it"},
    ),
    "NewUser": only(name=text(1, NAME_MAX, True, "Unique, ignoring the case of A-Z")),
    "StatusUpdate": only(status=text(0, STATUS_MAX, False, "The new status; an empty string clears it")),
    "NewMessage": only(text=text(1, TEXT_MAX, True, "Shown as plain text, never as HTML")),
    "ReadUpdate": only(read={"type": "boolean"}),
    # One event of a text/event-stream, its fields as the client reads them (tools such as
    # Schemathesis check each event against it; OpenAPI 3.2 would name it an itemSchema).
    "Event": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$", "description": "Send it back as Last-Event-ID"},
            "event": {"type": "string", "enum": [*TYPES, "ready"]},
            "data": {"type": "string", "description": "One line of JSON"},
            "retry": {"type": "integer", "description": "Milliseconds to wait before reconnecting"},
        },
    },
    "Error": {
        "type": "object",
        "description": "Every error, with any status code, has this shape.",
        "required": ["status", "error", "message"],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "integer", "description": "The HTTP status code, again"},
            "error": {"type": "string", "description": "Its name, e.g. 'Not Found'"},
            "message": {"type": "string", "description": "What went wrong, for a person to read"},
            "details": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "422 only: the problem with each field"},
        },
    },
}

PARAMETERS = {
    "UserId": {"name": "user_id", "in": "path", "required": True, "schema": integer_id("A user's id")},
    "MessageId": {"name": "message_id", "in": "path", "required": True, "schema": integer_id("A message's id")},
    "Limit": {"name": "limit", "in": "query", "description": "Items per page",
              "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT}},
    "Offset": {"name": "offset", "in": "query", "description": "How many items to skip",
               "schema": {"type": "integer", "minimum": 0, "maximum": ID_MAX, "default": 0}},
}

DESCRIPTION = f"""The messaging server of the course's capstone exercise.

* Register with `POST {API}/users`: the answer holds your **token**, shown once.
  Send it with every request that acts as you: `Authorization: Bearer <token>`
  (here: the **Authorize** button).
* Anyone may list and read users (with `--no-registration`, a class server: anyone
  with a token); only you may change your status, read your
  inbox, or mark and delete your messages. You send a message by posting it
  to the recipient's `messages`.
* Lists come in pages: `?limit=` (1 to {PAGE_MAX}, default {PAGE_DEFAULT}) and `?offset=`; each page says `total`
  and gives the URL of the `next` one.
* Every error has the same JSON shape: `{{"status": 404, "error": "Not Found", "message": "..."}}`.
* Limits: names 1 to {NAME_MAX} characters, status up to {STATUS_MAX}, messages 1 to {TEXT_MAX};
  request bodies up to {BODY_MAX // 1024} KiB; requests per client address as set by the server's
  `--rate-limit` (429 beyond).
"""

PATHS = {
    f"{API}/users": {
        "get": {
            "operationId": "listUsers",
            "tags": ["users"],
            "summary": "List users, by name",
            "description": READER_NOTE,
            "security": READER,
            "parameters": [
                {"name": "name", "in": "query", "description": "Only users whose name contains this (ignoring A-Z case)",
                 "schema": {"type": "string"}},
                ref("parameters", "Limit"),
                ref("parameters", "Offset"),
            ],
            "responses": {"200": ok("A page of users", "UserPage"), **errors(401, 422)},
        },
        "post": {
            "operationId": "registerUser",
            "tags": ["users"],
            "summary": "Register: create a user and get their token",
            "description": "403 when the server runs with --no-registration: then the instructor hands out tokens.",
            "requestBody": body("NewUser"),
            "responses": {"201": ok("The new user and their token", "Registration", location=True),
                          **errors(*BODY_ERRORS, 403, 409)},
        },
    },
    f"{API}/users/{{user_id}}": {
        "parameters": [ref("parameters", "UserId")],
        "get": {
            "operationId": "getUser",
            "tags": ["users"],
            "summary": "One user",
            "description": READER_NOTE,
            "security": READER,
            "responses": {"200": ok("The user", "User"), **errors(401, 404)},
        },
        "patch": {
            "operationId": "updateStatus",
            "tags": ["users"],
            "summary": "Change my status",
            "security": BEARER,
            "requestBody": body("StatusUpdate"),
            "responses": {"200": ok("The user, changed", "User"), **errors(*BODY_ERRORS, *OWNER_ERRORS)},
        },
    },
    f"{API}/me": {
        "get": {
            "operationId": "getMe",
            "tags": ["users"],
            "summary": "Who am I: the token's user",
            "security": BEARER,
            "responses": {"200": ok("The token's user", "User"), **errors(401)},
        },
    },
    f"{API}/users/{{user_id}}/messages": {
        "parameters": [ref("parameters", "UserId")],
        "get": {
            "operationId": "listMessages",
            "tags": ["messages"],
            "summary": "Read my inbox, newest first",
            "security": BEARER,
            "parameters": [
                {"name": "unread", "in": "query", "description": "true: only the messages not marked read",
                 "schema": {"type": "boolean", "default": False}},
                {"name": "since", "in": "query", "description": "Only the messages with a larger id (newer)",
                 "schema": {"type": "integer", "minimum": 0, "maximum": ID_MAX, "default": 0}},
                ref("parameters", "Limit"),
                ref("parameters", "Offset"),
            ],
            "responses": {"200": ok("A page of messages", "MessagePage"), **errors(*OWNER_ERRORS, 422)},
        },
        "post": {
            "operationId": "sendMessage",
            "tags": ["messages"],
            "summary": "Send a message to this user (from the token's user)",
            "security": BEARER,
            "requestBody": body("NewMessage"),
            "responses": {"201": ok("The message, as stored", "Message", location=True),
                          **errors(*BODY_ERRORS, 401, 404)},
        },
    },
    f"{API}/users/{{user_id}}/messages/{{message_id}}": {
        "parameters": [ref("parameters", "UserId"), ref("parameters", "MessageId")],
        "get": {
            "operationId": "getMessage",
            "tags": ["messages"],
            "summary": "One message (to me, or from me)",
            "security": BEARER,
            "responses": {"200": ok("The message", "Message"), **errors(*OWNER_ERRORS)},
        },
        "patch": {
            "operationId": "markMessage",
            "tags": ["messages"],
            "summary": "Mark one of my messages read, or unread",
            "security": BEARER,
            "requestBody": body("ReadUpdate"),
            "responses": {"200": ok("The message, changed", "Message"), **errors(*BODY_ERRORS, *OWNER_ERRORS)},
        },
        "delete": {
            "operationId": "deleteMessage",
            "tags": ["messages"],
            "summary": "Delete one of my messages",
            "security": BEARER,
            "responses": {"204": {"description": "Deleted"}, **errors(*OWNER_ERRORS)},
        },
    },
    f"{API}/events": {
        "get": {
            "operationId": "subscribeEvents",
            "tags": ["live"],
            "summary": "My live events (Server-Sent Events)",
            "description": f"""A stream in the `text/event-stream` format: blocks of `id:`, `event:` and `data:` lines,
each ended by an empty line. `data` is one line of JSON:

* `message`: a message to me or from me (a `Message`, as `GET .../messages/{{id}}` gives it);
* `read`: a message to or from me marked read or unread: `{{"id", "sender_id", "recipient_id", "read"}}`;
* `status`: anyone's status changed: a `User`;
* `reset`: the server forgot the events after your `Last-Event-ID` (or never had them): reload everything;
* `ready`, sent once the stream is set up: `{{"user_id"}}`; load what you show after it, to miss nothing.

Lines starting with `:` are comments, sent every {HEARTBEAT_SECONDS} s when nothing happens. The stream ends
after {STREAM_SECONDS} s (or sooner, if you fall behind): reconnect after the `retry:` it gave ({RETRY_MS} ms),
sending the last `id:` you saw as `Last-Event-ID`, and you get what you missed.

The token goes in the Authorization header, never in the URL (logs keep URLs): the browser's
`EventSource` cannot send it, `fetch()` can.""",
            "security": BEARER,
            "parameters": [
                {"name": "types", "in": "query", "description": "Only these events, separated by commas (a reset always comes)",
                 "schema": {"type": "string", "pattern": f"^({'|'.join(TYPES)})(,({'|'.join(TYPES)}))*$"}},
                {"name": "Last-Event-ID", "in": "header", "description": "When reconnecting: the last id received",
                 "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"}},
            ],
            "responses": {"200": {"description": "The stream of events",
                                  "content": {"text/event-stream": {"schema": ref("schemas", "Event")}}},
                          **errors(401, 422, 503)},
        },
    },
    f"{API}/openapi.json": {
        "get": {
            "operationId": "getOpenAPI",
            "tags": ["docs"],
            "summary": "This description (docs page: /api/v1/docs)",
            "responses": {"200": {"description": "An OpenAPI 3.0 document",
                                  "content": json_content({"type": "object"})}, **errors()},
        },
    },
}


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Messaging API", "version": "1.0.0", "description": DESCRIPTION},
        "tags": [
            {"name": "users", "description": "Accounts and their status"},
            {"name": "messages", "description": "Inboxes: sending, reading, marking, deleting"},
            {"name": "live", "description": "Events pushed as they happen"},
            {"name": "docs", "description": "This description"},
        ],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": {str(code): error_response(code) for code in ERRORS},
            "headers": {"Location": {"description": "The URL of what was created",
                                     "schema": {"type": "string", "format": "uri"}}},
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "The token from registration (or from your instructor)",
            }},
        },
    }
