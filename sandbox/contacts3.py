"""The same contacts served three ways: REST, GraphQL and gRPC (chapter 11).

    python -m sandbox contacts3 [--host H] [--port P] [--grpc-port G]

One process, one list of contacts, three interfaces to it:

    GET  /                      where everything is: {"rest": ..., "graphql": ..., "grpc": "HOST:PORT"}
    GET  /api/contacts[?tag=T]  REST: every contact (or those with tag T), every field
    GET  /api/contacts/<id>     REST: one contact, or 404
    POST /graphql               GraphQL (ariadne): {"query": "...", "variables": {...}}
    gRPC on --grpc-port         the service Contacts of contacts3.proto: ListContacts, GetContact

REST and GraphQL share the HTTP port (Flask, served by waitress); gRPC, which
needs HTTP/2, has a port of its own (grpcio), announced by ``GET /``. The Python
code for gRPC is generated from ``contacts3.proto`` at start-up, into a
temporary folder (``compile_proto``): generated code is never committed.

Each interface reports errors its own way: REST in the JSON of every Flask
server of the sandbox (web.py), {"status": 404, "error": "Not Found",
"message": ...}; GraphQL in the "errors" of its answer; gRPC as a status code
(NOT_FOUND) and a message.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ariadne import ObjectType, QueryType, format_error, graphql_sync, make_executable_schema
from flask import Blueprint, Flask, current_app, request
from graphql import GraphQLError
from werkzeug.exceptions import HTTPException, NotFound

from . import common, web

NAME = "contacts3"
DESCRIPTION = "The same contacts served three ways: REST and GraphQL (Flask), and gRPC."
PROTO = Path(__file__).with_name("contacts3.proto")
THREADS = 8
LIMITS = f"""limits:
  read only: the contacts are fixed (the chapter compares ways of reading them)
  GraphQL: sharingATag cannot be nested (each level multiplies the work)
  simultaneous: {THREADS} HTTP requests and {THREADS} gRPC calls at once; more wait their turn
"""
EXPOSED = ('anyone who reaches the ports can list, add and delete contacts, over REST, GraphQL and '
           "gRPC: no accounts, one book for all. Put no real person's details in it.")

QUIET = logging.getLogger("sandbox.contacts3.graphql")  # ariadne logs each error with its traceback:
QUIET.addHandler(logging.NullHandler())  # log_error() below logs one line instead
QUIET.propagate = False

CONTACTS = [  # sorted by name
    {"id": "ada", "name": "Ada Lovelace", "emails": ["ada@example.org", "ada@engines.example"],
     "phones": ["+44 20 7946 0001"], "tags": ["engines", "math"]},
    {"id": "alan", "name": "Alan Turing", "emails": ["alan@example.org"],
     "phones": ["+44 20 7946 0002", "+44 161 496 0003"], "tags": ["codes", "math"]},
    {"id": "charles", "name": "Charles Babbage", "emails": ["charles@example.org"],
     "phones": [], "tags": ["engines"]},
    {"id": "grace", "name": "Grace Hopper", "emails": ["grace@example.org"],
     "phones": ["+1 202 555 0104"], "tags": ["compilers", "navy"]},
    {"id": "joan", "name": "Joan Clarke", "emails": ["joan@example.org"],
     "phones": ["+44 20 7946 0005"], "tags": ["codes", "math"]},
    {"id": "katherine", "name": "Katherine Johnson", "emails": ["katherine@example.org", "kj@space.example"],
     "phones": ["+1 757 555 0106"], "tags": ["math", "space"]},
]


def select(tag: str | None = None) -> list[dict]:
    """Every contact, or those with ``tag``."""
    return [c for c in CONTACTS if tag is None or tag in c["tags"]]


def find(contact_id: str) -> dict | None:
    return next((c for c in CONTACTS if c["id"] == contact_id), None)


def sharing_a_tag(contact: dict) -> list[dict]:
    """The other contacts with at least one tag in common with ``contact``."""
    return [c for c in CONTACTS if c["id"] != contact["id"] and set(c["tags"]) & set(contact["tags"])]


# --------------------------------------------------------------------------- GraphQL

TYPE_DEFS = '''
type Contact {
  id: ID!
  name: String!
  emails: [String!]!
  phones: [String!]!
  tags: [String!]!
  "The other contacts with at least one tag in common with this one."
  sharingATag: [Contact!]!
}

type Query {
  "Every contact, or those with this tag."
  contacts(tag: String): [Contact!]!
  "One contact, or null."
  contact(id: ID!): Contact
}
'''


def graphql_schema():
    """The executable schema: the type definitions above, bound to resolvers."""
    query = QueryType()
    query.set_field("contacts", lambda _, info, tag=None: select(tag))
    query.set_field("contact", lambda _, info, id: find(id))
    contact = ObjectType("Contact")  # its other fields are read from the dicts, by name

    @contact.field("sharingATag")
    def resolve_sharing_a_tag(obj, info):
        # A client could nest sharingATag ten levels deep, multiplying the work
        # at each level. Public GraphQL servers limit depth and cost; we allow one level.
        fields = [key for key in info.path.as_list() if isinstance(key, str)]
        if len(fields) > 2:
            raise GraphQLError("sharingATag cannot be nested in sharingATag")
        return sharing_a_tag(obj)

    return make_executable_schema(TYPE_DEFS, query, contact)


# --------------------------------------------------------------------------- HTTP: REST and GraphQL


DEFAULTS = {"GRPC_ADDRESS": ""}  # where gRPC listens, for GET / (main() sets it)

views = Blueprint("contacts3", __name__)


def create_app(config: dict | None = None) -> Flask:
    """The application; ``config`` overrides DEFAULTS (above) and any Flask setting."""
    app = Flask(__name__, static_folder=None)  # no /static/ route: this app serves no files
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.extensions["contacts3.schema"] = graphql_schema()
    app.register_blueprint(views)
    web.init_app(app, explain)  # every error in JSON, and a log line per request
    return app


@views.get("/")
def index():
    return {"rest": "/api/contacts", "graphql": "/graphql", "grpc": current_app.config["GRPC_ADDRESS"]}


@views.get("/api/contacts")
def list_contacts():
    return select(request.args.get("tag"))


@views.get("/api/contacts/<contact_id>")
def get_contact(contact_id):
    contact = find(contact_id)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id!r}")
    return contact


def explain(error: HTTPException) -> str | None:
    """Our message for Flask's 404 (see web.py), which says nothing of the URLs there are."""
    if isinstance(error, NotFound) and request.url_rule is None:  # no route matched
        return f"there is nothing at {request.path}; GET / says where each interface is"
    return None


def log_error(error, debug=False):  # one line per GraphQL error, instead of a traceback
    common.log(f"GraphQL error: {error.message}")  # may quote the client's text (see common.log)
    return format_error(error, debug)


@views.post("/graphql")
def graphql():
    schema = current_app.extensions["contacts3.schema"]
    # web.json_body(): a 400 for a broken body (ours: GraphQL's own errors
    # are about queries); None if it is not JSON, which GraphQL then refuses.
    success, result = graphql_sync(schema, web.json_body(), error_formatter=log_error, logger=QUIET)
    return result, 200 if success else 400  # GraphQL tells its own errors, in result["errors"]


# --------------------------------------------------------------------------- gRPC


def compile_proto(folder: str | Path):
    """Generate the Python code for contacts3.proto into ``folder``, import it and
    return the two modules: ``contacts3_pb2`` (the messages) and
    ``contacts3_pb2_grpc`` (the client stub and the server's base class)."""
    from grpc_tools import protoc

    status = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={folder}", f"--grpc_python_out={folder}",
                          str(PROTO)])
    if status != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit status {status})")
    sys.path.insert(0, str(folder))  # the _grpc module imports the _pb2 module by name
    try:
        return importlib.import_module("contacts3_pb2"), importlib.import_module("contacts3_pb2_grpc")
    finally:
        sys.path.remove(str(folder))


def start_grpc(pb2, pb2_grpc, host: str, port: int):
    """Start the gRPC server in background threads; return it and its port."""
    import grpc

    class ContactsServicer(pb2_grpc.ContactsServicer):
        def ListContacts(self, request, context):
            common.log(f"{context.peer()} gRPC ListContacts tag={request.tag!r}")
            return pb2.ListContactsResponse(contacts=[pb2.Contact(**c) for c in select(request.tag or None)])

        def GetContact(self, request, context):
            common.log(f"{context.peer()} gRPC GetContact id={request.id!r}")
            contact = find(request.id)
            if contact is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no contact with id {request.id!r}")
            return pb2.Contact(**contact)

    server = grpc.server(ThreadPoolExecutor(max_workers=THREADS))
    pb2_grpc.add_ContactsServicer_to_server(ContactsServicer(), server)
    bound = server.add_insecure_port(common.host_port(host, port))  # 0: any free port
    if bound == 0:
        raise SystemExit(f"gRPC: cannot listen on {common.host_port(host, port)}")
    server.start()
    return server, bound


def main(argv: list[str] | None = None) -> None:
    parser = common.make_parser(NAME, DESCRIPTION, LIMITS, EXPOSED)
    parser.add_argument("--grpc-port", type=common.port_number, default=0, metavar="G",
                        help="port for gRPC (default: 0, a free one; GET / tells which)")
    args = common.parse_args(parser, argv)
    generated = tempfile.mkdtemp(prefix="contacts3-grpc-")
    try:
        pb2, pb2_grpc = compile_proto(generated)
        grpc_server, grpc_port = start_grpc(pb2, pb2_grpc, args.host, args.grpc_port)
        try:
            app = create_app({"GRPC_ADDRESS": common.host_port(args.host, grpc_port)})
            common.serve_wsgi(NAME, app, args.host, args.port, threads=THREADS)
        finally:
            grpc_server.stop(grace=None)
    finally:
        shutil.rmtree(generated, ignore_errors=True)


if __name__ == "__main__":
    main()
