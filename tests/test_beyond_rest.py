"""The contacts3 sandbox server of chapter 11: REST, GraphQL and gRPC over one list of contacts.

- the .proto compiles (grpc_tools.protoc, into a temporary folder) into the messages
  and the service the chapter uses;
- the three interfaces give the same data for the chapter's two questions;
- the round trips and byte counts behave as the chapter's table says: computed here
  with clients and a counting relay of the tests' own, and checked against sizes
  computed independently from the data (JSON as Flask writes it, protobuf sizes).
"""

from __future__ import annotations

import json
import socket
import threading

import grpc
import pytest
import requests

from sandbox import contacts3, launch

ADA = contacts3.find("ada")
EVERYONE = "{ contacts { name emails } }"
PAGE = "query Page($id: ID!) { contact(id: $id) { name emails phones tags sharingATag { name } } }"
NO_PROXY = [("grpc.enable_http_proxy", 0)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return contacts3.compile_proto(tmp_path_factory.mktemp("grpc"))


@pytest.fixture(scope="module")
def server():
    with launch("contacts3", replace=False) as srv:
        index = requests.get(srv.url, timeout=5).json()
        host, port = index["grpc"].rsplit(":", 1)
        srv.grpc_address = (host, int(port))
        yield srv
    assert srv.log.rstrip().endswith("contacts3 stopped")


# --------------------------------------------------------------------------- clients of the tests' own


class Counts:
    def __init__(self):
        self.calls = self.payload = 0


def http_client(base, counts):
    session = requests.Session()

    def count(response, *args, **kwargs):
        response.raise_for_status()
        counts.calls += 1
        counts.payload += len(response.request.body or b"") + len(response.content)

    session.hooks["response"].append(count)
    session.base = base
    return session


class CountCalls(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, counts):
        self.counts = counts

    def intercept_unary_unary(self, continuation, details, request):
        call = continuation(details, request)
        self.counts.calls += 1
        self.counts.payload += request.ByteSize() + call.result().ByteSize()
        return call


def page_of(contact: dict, related) -> tuple:
    return ({k: list(contact[k]) if k != "name" else contact[k] for k in ("name", "emails", "phones", "tags")},
            sorted(related))


def rest(session, question):
    if question == 1:
        return {c["name"]: c["emails"] for c in session.get(f"{session.base}/api/contacts", timeout=5).json()}
    contact = session.get(f"{session.base}/api/contacts/ada", timeout=5).json()
    related = {c["name"] for tag in contact["tags"]
               for c in session.get(f"{session.base}/api/contacts", params={"tag": tag}, timeout=5).json()
               if c["id"] != "ada"}
    return page_of(contact, related)


def graphql(session, question):
    if question == 1:
        data = session.post(f"{session.base}/graphql", json={"query": EVERYONE}, timeout=5).json()["data"]
        return {c["name"]: c["emails"] for c in data["contacts"]}
    answer = session.post(f"{session.base}/graphql", json={"query": PAGE, "variables": {"id": "ada"}}, timeout=5)
    contact = answer.json()["data"]["contact"]
    return page_of(contact, {c["name"] for c in contact["sharingATag"]})


def grpc_(stub, pb, question):
    if question == 1:
        return {c.name: list(c.emails) for c in stub.ListContacts(pb.ListContactsRequest(), timeout=5).contacts}
    contact = stub.GetContact(pb.GetContactRequest(id="ada"), timeout=5)
    related = {c.name for tag in contact.tags
               for c in stub.ListContacts(pb.ListContactsRequest(tag=tag), timeout=5).contacts if c.id != "ada"}
    return page_of({k: getattr(contact, k) for k in ("name", "emails", "phones", "tags")}, related)


class Relay:
    """Counts the bytes between clients and `target`, both ways; complete once closed."""

    def __init__(self, target):
        self.target, self.bytes, self.threads, self.sockets = target, 0, [], []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=10)
            for sock in (client, server):
                sock.settimeout(10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                thread.start()
                self.threads.append(thread)

    def _pump(self, source, destination):
        try:
            while data := source.recv(65536):
                with self.lock:
                    self.bytes += len(data)
                destination.sendall(data)
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> int:
        self.listener.close()
        for thread in self.threads:
            thread.join(10)
        for sock in self.sockets:
            sock.close()
        return self.bytes


def measure(server, generated, protocol, question, times=1):
    """(answer, calls per question, payload per question, wire bytes in all) over one new connection."""
    pb, pb_grpc = generated
    counts = Counts()
    relay = Relay(server.grpc_address if protocol == "gRPC" else server.address)
    host, port = relay.address
    try:
        if protocol == "gRPC":
            with grpc.insecure_channel(f"{host}:{port}", options=NO_PROXY) as channel:
                stub = pb_grpc.ContactsStub(grpc.intercept_channel(channel, CountCalls(counts)))
                answers = [grpc_(stub, pb, question) for _ in range(times)]
        else:
            with http_client(f"http://{host}:{port}", counts) as session:
                answers = [(rest if protocol == "REST" else graphql)(session, question) for _ in range(times)]
    finally:
        wire = relay.close()
    return answers[0], counts.calls / times, counts.payload / times, wire


PROTOCOLS = ("REST", "GraphQL", "gRPC")


# --------------------------------------------------------------------------- tests


def test_the_proto_compiles(generated, tmp_path):
    pb, pb_grpc = generated
    empty = pb.Contact()  # a repeated field is a (mutable) sequence, a single one a str
    fields = {f.name: (f.number, not isinstance(getattr(empty, f.name), str)) for f in pb.Contact.DESCRIPTOR.fields}
    assert fields == {"id": (1, False), "name": (2, False), "emails": (3, True), "phones": (4, True),
                      "tags": (5, True)}
    service = pb.DESCRIPTOR.services_by_name["Contacts"]
    assert {m.name: (m.input_type.name, m.output_type.name) for m in service.methods} == {
        "ListContacts": ("ListContactsRequest", "ListContactsResponse"),
        "GetContact": ("GetContactRequest", "Contact")}
    assert hasattr(pb_grpc, "ContactsStub") and hasattr(pb_grpc, "ContactsServicer")
    # Generated into the folder given, and nowhere in the repository.
    again = tmp_path / "again"
    again.mkdir()
    contacts3.compile_proto(again)
    assert {p.name for p in again.iterdir()} >= {"contacts3_pb2.py", "contacts3_pb2_grpc.py"}
    assert not list(contacts3.PROTO.parent.glob("*_pb2*.py"))


@pytest.mark.parametrize("question", [1, 2])
def test_three_interfaces_give_the_same_data(server, generated, question):
    answers = {protocol: measure(server, generated, protocol, question)[0] for protocol in PROTOCOLS}
    assert answers["REST"] == answers["GraphQL"] == answers["gRPC"]
    if question == 1:
        assert answers["REST"] == {c["name"]: c["emails"] for c in contacts3.CONTACTS}
    else:
        details, related = answers["REST"]
        assert details == {k: ADA[k] for k in ("name", "emails", "phones", "tags")}
        assert related == sorted(c["name"] for c in contacts3.sharing_a_tag(ADA)) and len(related) == 4


def flask_json(data) -> int:
    """The size of `data` as Flask's jsonify writes it: compact, sorted keys, a final newline."""
    return len(json.dumps(data, separators=(",", ":"), sort_keys=True).encode()) + 1


def test_round_trips_are_what_the_table_says(server, generated):
    trips = {(p, q): measure(server, generated, p, q)[1] for p in PROTOCOLS for q in (1, 2)}
    one_per_tag = 1 + len(ADA["tags"])
    assert trips == {("REST", 1): 1, ("GraphQL", 1): 1, ("gRPC", 1): 1,
                     ("REST", 2): one_per_tag, ("GraphQL", 2): 1, ("gRPC", 2): one_per_tag}


def test_payload_bytes_match_sizes_computed_from_the_data(server, generated):
    pb, _ = generated
    assert measure(server, generated, "REST", 1)[2] == flask_json(contacts3.CONTACTS)
    page = [ADA] + [contacts3.select(tag) for tag in ADA["tags"]]
    assert measure(server, generated, "REST", 2)[2] == sum(flask_json(part) for part in page)
    everyone = pb.ListContactsResponse(contacts=[pb.Contact(**c) for c in contacts3.CONTACTS])
    assert measure(server, generated, "gRPC", 1)[2] == everyone.ByteSize()  # the request is empty: 0 bytes
    calls = [(pb.GetContactRequest(id="ada"), pb.Contact(**ADA))] + [
        (pb.ListContactsRequest(tag=tag), pb.ListContactsResponse(contacts=[pb.Contact(**c)
                                                                            for c in contacts3.select(tag)]))
        for tag in ADA["tags"]]
    assert measure(server, generated, "gRPC", 2)[2] == sum(a.ByteSize() + b.ByteSize() for a, b in calls)
    body = json.dumps({"query": EVERYONE}).encode()
    answer = {"data": {"contacts": [{"emails": c["emails"], "name": c["name"]} for c in contacts3.CONTACTS]}}
    assert measure(server, generated, "GraphQL", 1)[2] == len(body) + flask_json(answer)


def test_the_comparisons_the_chapter_draws(server, generated):
    rows = {}
    for protocol in PROTOCOLS:
        for question in (1, 2):
            _, _, payload, new = measure(server, generated, protocol, question)
            kept = (measure(server, generated, protocol, question, times=11)[3] - new) / 10
            rows[protocol, question] = {"payload": payload, "new": new, "kept": kept}
    for question in (1, 2):
        assert rows["GraphQL", question]["payload"] < rows["REST", question]["payload"]  # only the fields asked
        assert rows["gRPC", question]["payload"] < rows["REST", question]["payload"]  # binary beats JSON
        assert rows["gRPC", question]["kept"] < rows["gRPC", question]["new"]  # HTTP/2 set-up, paid once
        assert rows["gRPC", question]["kept"] < rows["REST", question]["kept"]  # HPACK vs repeated headers
        for protocol in PROTOCOLS:
            assert rows[protocol, question]["new"] >= rows[protocol, question]["payload"]
    # HTTP/1.1 has no set-up of its own: a kept connection saves (almost) nothing per question.
    assert abs(rows["REST", 1]["kept"] - rows["REST", 1]["new"]) <= 10


def test_errors_on_each_interface(server, generated):
    pb, pb_grpc = generated
    for path, message in [("/api/contacts/nobody", "no contact with id 'nobody'"),
                          ("/nope", "there is nothing at /nope; GET / says where each interface is")]:
        missing = requests.get(f"{server.url}{path}", timeout=5)
        assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"
        assert list(missing.json().items()) == [("status", 404), ("error", "Not Found"), ("message", message)]
    nested = '{ contact(id: "ada") { x: sharingATag { y: sharingATag { name } } } }'  # aliases do not help
    answer = requests.post(f"{server.url}/graphql", json={"query": nested}, timeout=5).json()
    assert answer["errors"][0]["message"] == "sharingATag cannot be nested in sharingATag"
    bad = requests.post(f"{server.url}/graphql", json={"query": "{ contacts { age } }"}, timeout=5)
    assert bad.status_code == 400 and "age" in bad.json()["errors"][0]["message"]
    with grpc.insecure_channel("%s:%d" % server.grpc_address, options=NO_PROXY) as channel:
        with pytest.raises(grpc.RpcError) as error:
            pb_grpc.ContactsStub(channel).GetContact(pb.GetContactRequest(id="nobody"), timeout=5)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
