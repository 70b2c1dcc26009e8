"""Checks for exercises/capstone-messaging: a Python client of the messaging API.

    check_api(api, server, token)                                    step 1: one request: JSON, errors, 204
    check_who(get_me, find_user, server, token)                      step 2: GET /me, and a user by name
    check_status(set_status, server, token)                          step 3: PATCH my status
    check_send(send_message, server, token, classmate_name, classmate_token)   step 4: POST a message
    check_inbox(read_inbox, server, token, classmate_token)          step 5: every page of my inbox
    check_mark_and_delete(mark_read, delete_message, server, token)  step 6: PATCH read, DELETE

``server`` is the notebook's messaging server (a sandbox server it launched)
or the instructor's, as ``checks.helpers.Remote(SERVER_URL)``; ``token`` is the
student's. The student's functions use the notebook's own session; each check
then looks at the server's state through the API, with its own requests: my
status really changed, the classmate's inbox really has my message (read with
the classmate's token when the notebook has it, on its own server).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from .core import Failure, call, call_raising, checker, expect, expect_equal, short

NO_SUCH_USER = 2**62  # an id no server of the course gives


def api_session(token: str | None) -> requests.Session:
    """A session that sends the token and waits out the server's rate limit (429, Retry-After)."""
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    retry = Retry(total=6, status_forcelist=[429], allowed_methods=None, backoff_factor=0.5,
                  respect_retry_after_header=True, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


class _Api:
    """The check's own view of the server, with one user's token."""

    def __init__(self, server, token: str | None):
        self.base = f"{server.url}/api/v1"
        self.session = api_session(token)

    def request(self, method: str, path: str, status: int = 200, **kwargs):
        url = path if path.startswith("http") else f"{self.base}{path}"
        try:
            response = self.session.request(method, url, timeout=10, **kwargs)
        except requests.RequestException as error:
            raise Failure(f"the server to answer the check's {method} {url}", f"{type(error).__name__}: {error}",
                          "is the server running? Run the cell near the top that starts it (or check SERVER_URL)") from None
        if response.status_code != status:
            raise Failure(f"{status} for the check's own {method} {path}", f"{response.status_code} {short(response.text, 100)}",
                          "the check could not read the server's state: is MY_TOKEN right?")
        return response.json() if response.content else None

    def me(self) -> dict:
        return self.request("GET", "/me")

    def every(self, path: str) -> list:
        """Every item of a paginated list, following "next"."""
        items, page = [], self.request("GET", path)
        items += page["items"]
        while page["next"]:
            page = self.request("GET", page["next"])
            items += page["items"]
        return items

    def close(self):
        self.session.close()


def _is_user(value) -> bool:
    return isinstance(value, dict) and {"id", "name", "status"} <= set(value)


@checker("api")
def check_api(api, server, token):
    """``api(method, path, **kwargs)`` sends one request to ``{API}{path}`` (or to ``path``, a whole
    URL such as a page's ``next``) with the notebook's session (which has the token), and returns
    the JSON answer, None for a 204 (no body); an error status raises ``requests.HTTPError``.
    """
    mine = _Api(server, token)
    try:
        me = mine.me()
        hint = ('response = session.request(method, API + path, timeout=10, **kwargs); '
                'response.raise_for_status(); then the JSON, or None for a 204')
        got = call(api, "GET", "/me", hint=hint)
        expect(_is_user(got) and got["id"] == me["id"], f'api("GET", "/me"): user {me["id"]} ({me["name"]})',
               short(got, 100), hint)
        page = call(api, "GET", "/users", params={"limit": 1}, hint="pass **kwargs on to session.request")
        expect(isinstance(page, dict) and page.get("limit") == 1, 'api("GET", "/users", params={"limit": 1}): a page of 1',
               short(page, 100), "pass **kwargs on to session.request: params=, json=...")
        if page.get("next"):
            following = call(api, "GET", page["next"], expected=f'api("GET", {page["next"]!r}): the next page',
                             hint='a whole URL is used as it is: url = path if path.startswith(("http://", "https://")) '
                                  'else API + path')
            expect(isinstance(following, dict) and following.get("offset") == 1,
                   f'api("GET", {page["next"]!r}): the next page, from offset 1', short(following, 100),
                   'url = path if path.startswith(("http://", "https://")) else API + path')
        text = f"api check at {time.strftime('%H:%M:%S')}"
        sent = call(api, "POST", f"/users/{me['id']}/messages", json={"text": text})
        expect(isinstance(sent, dict) and sent.get("text") == text,
               f'api("POST", "/users/{me["id"]}/messages", json={{"text": ...}}): the message made', short(sent, 100))
        gone = call(api, "DELETE", f"/users/{me['id']}/messages/{sent['id']}",
                    hint="a 204 No Content has no body: return None instead of response.json()")
        expect(gone is None, f'api("DELETE", ...) of message {sent["id"]}: None (204, no body)', short(gone),
               "if response.status_code == 204: return None")
        mine.request("GET", f"/users/{me['id']}/messages/{sent['id']}", 404)
        error = call_raising(requests.HTTPError, api, "GET", f"/users/{NO_SUCH_USER}",
                             hint="response.raise_for_status() raises HTTPError for a 4xx or 5xx answer")
        status = getattr(getattr(error, "response", None), "status_code", None)
        expect(status == 404, f'api("GET", "/users/{NO_SUCH_USER}"): HTTPError for a 404', f"HTTPError for {status}")
    finally:
        mine.close()
    return "JSON for GET (a path, a next link) and POST, None for a DELETE (204), HTTPError for a 404"


@checker("get_me and find_user")
def check_who(get_me, find_user, server, token):
    """``get_me()`` returns the user my token belongs to (``GET /api/v1/me``); ``find_user(name)``
    the user with exactly that name, ignoring case (``GET /api/v1/users?name=...``, every page), or None.
    """
    api = _Api(server, token)
    try:
        me = api.me()
        got = call(get_me, hint="return session.get(f\"{API}/me\", timeout=10).json() (after raise_for_status())")
        expect(_is_user(got) and got["id"] == me["id"], f"get_me(): user {me['id']} ({me['name']})", short(got, 100),
               "GET {API}/me with the session, which sends your token")
        everyone = api.every("/users?limit=100")
        names = {user["name"].casefold() for user in everyone}
        hint = ("GET {API}/users with params={\"name\": name}: it lists the users whose name *contains* it; "
                "keep the one whose name is exactly it, ignoring case (casefold()), and follow \"next\"")
        for asked in (me["name"], me["name"].upper(), me["name"].lower()):
            found = call(find_user, asked, hint=hint)
            expect(_is_user(found) and found["id"] == me["id"], f"find_user({asked!r}): user {me['id']}", short(found, 100), hint)
        cases = [name for name in ("Ada", "ada lovelace", "Alan") if any(name.casefold() in n for n in names)]
        for asked in cases:
            wanted = next((u for u in everyone if u["name"].casefold() == asked.casefold()), None)
            found = call(find_user, asked, hint=hint)
            expect((found is None) if wanted is None else (_is_user(found) and found["id"] == wanted["id"]),
                   f"find_user({asked!r}): " + (f"user {wanted['id']} ({wanted['name']})" if wanted else "None (no user has exactly that name)"),
                   short(found, 100), hint)
        prefix = me["name"][:2]
        if prefix.casefold() not in names:
            found = call(find_user, prefix, hint=hint)
            expect(found is None, f"find_user({prefix!r}): None, although names contain it", short(found, 100), hint)
        missing = "nobody has this name ✗ 42"
        found = call(find_user, missing, hint="return None when no user has that name")
        expect(found is None, f"find_user({missing!r}): None", short(found, 100), "return None when no user has that name")
        far = _user_on_page_two(server)
        if far is not None:
            found = call(find_user, far["name"], hint=hint)
            expect(_is_user(found) and found["id"] == far["id"],
                   f"find_user({far['name']!r}): user {far['id']}, listed after {CROWD} others whose names contain it",
                   short(found, 100),
                   "one page holds 100 users at most: when a page has a \"next\" link, ask for that page too, "
                   "until there is none")
    finally:
        api.close()
    paging = ("; and it reads every page" if far is not None else
              " (every page: not checked, this server lets nobody register the users it takes)")
    return (f"get_me() is {me['name']} (user {me['id']}); find_user finds exact names, ignoring case, "
            f"and None for others{paging}")


FAR_NAME = "Page Two Pat"
CROWD = 100  # the largest page the server gives (?limit=100): the user sits on the next one


def _user_on_page_two(server) -> dict | None:
    """A user whose name is contained in CROWD other names that sort before it, so that no
    single page of ``GET /users?name=...`` holds it; registered once on the server, if it
    lets anyone register (the practice server does, a class server does not): else None."""
    session = api_session(None)
    base = f"{server.url}/api/v1"
    try:
        def register(name):
            answer = session.post(f"{base}/users", json={"name": name}, timeout=10)
            if answer.status_code not in (201, 409):  # 409: registered by an earlier run
                raise PermissionError(answer.status_code)

        listed = session.get(f"{base}/users", params={"name": FAR_NAME, "limit": 1}, timeout=10)
        if listed.status_code != 200:  # 401: a class server shows its users to the class only
            return None
        if listed.json()["total"] < CROWD + 1:
            for n in range(1, CROWD + 1):  # "Check crowd 001 Page Two Pat" sorts before "Page Two Pat"
                register(f"Check crowd {n:03} {FAR_NAME}")
            register(FAR_NAME)
        last = session.get(f"{base}/users", params={"name": FAR_NAME, "limit": 1, "offset": CROWD}, timeout=10)
        found = last.json()["items"] if last.status_code == 200 else []
        return found[0] if found and found[0]["name"] == FAR_NAME else None
    except (PermissionError, requests.RequestException, ValueError, KeyError):
        return None
    finally:
        session.close()


@checker("set_status")
def check_status(set_status, server, token):
    """``set_status(text)`` sets my status (``PATCH /api/v1/users/<my id>``) and returns me; the server
    keeps it. A status the server refuses (over 200 characters) raises ``requests.HTTPError``.
    """
    api = _Api(server, token)
    try:
        me = api.me()
        status = f"checking the API at {time.strftime('%H:%M:%S')} ✓ {secrets.token_hex(2)}"
        got = call(set_status, status, hint="session.patch(f\"{API}/users/{my_id}\", json={\"status\": text}, timeout=10)")
        now = api.request("GET", f"/users/{me['id']}")
        expect_equal(now["status"], status, f"my status on the server, after set_status({status!r})",
                     'PATCH {API}/users/<your id> with json={"status": text}')
        expect(_is_user(got) and got.get("status") == status, "set_status() to return me, with the new status",
               short(got, 100), "return the JSON of the answer: the user, changed")
        call_raising(requests.HTTPError, set_status, "x" * 201,
                     hint="response.raise_for_status(): the server answers 422 for a status of 201 characters")
        after = api.request("GET", f"/users/{me['id']}")
        expect_equal(after["status"], status, "my status after the refused one")
    finally:
        api.close()
    return f"my status is now {status!r} on the server; a refused one raises HTTPError"


@checker("send_message")
def check_send(send_message, server, token, classmate_name=None, classmate_token=None):
    """``send_message(user_id, text)`` sends a message (``POST /api/v1/users/<id>/messages``) and
    returns it (201); the classmate called ``classmate_name`` (None: myself) then has it.
    An unknown user raises ``requests.HTTPError``.
    """
    api = _Api(server, token)
    try:
        me = api.me()
        target = me
        if classmate_name:
            found = [u for u in api.every(f"/users?limit=100&name={quote(classmate_name)}")
                     if u["name"].casefold() == classmate_name.casefold()]
            expect(found, f"a user called {classmate_name!r} on the server", "none",
                   "check the name of your classmate in the first cell (CLASSMATE)")
            target = found[0]
        text = f"Hello {target['name']}, from {me['name']} ({time.strftime('%H:%M:%S')}) 👋"
        sent = call(send_message, target["id"], text,
                    hint="session.post(f\"{API}/users/{user_id}/messages\", json={\"text\": text}, timeout=10)")
        expect(isinstance(sent, dict) and isinstance(sent.get("id"), int) and sent.get("text") == text,
               "send_message() to return the message the server made: {\"id\": ..., \"text\": ...}", short(sent, 100),
               "return response.json() (after raise_for_status())")
        where = f"/users/{target['id']}/messages/{sent['id']}"
        found = api.session.get(f"{api.base}{where}", timeout=10)  # a sender may read what they sent
        expect(found.status_code == 200, f"message {sent['id']} in {target['name']}'s inbox (GET {where})",
               f"{found.status_code}: it is not there (it went to user {sent.get('recipient_id')})",
               "POST to /users/<the id of the user given>/messages")
        stored = found.json()
        expect(stored["text"] == text and stored["sender_id"] == me["id"] and stored["recipient_id"] == target["id"],
               f"message {sent['id']} on the server: from you to {target['name']}, with the text sent", short(stored, 100))
        if classmate_token:
            theirs = _Api(server, classmate_token)
            try:
                inbox = theirs.request("GET", f"/users/{target['id']}/messages?limit=100")
            finally:
                theirs.close()
            expect(any(m["id"] == sent["id"] and m["text"] == text for m in inbox["items"]),
                   f"{target['name']}'s inbox, read with their token, to have message {sent['id']}",
                   short([m["id"] for m in inbox["items"]]), "POST to the classmate's id, not to yours")
        call_raising(requests.HTTPError, send_message, NO_SUCH_USER, "hello?",
                     hint="response.raise_for_status(): the server answers 404 for a user that does not exist")
    finally:
        api.close()
    where = "seen in their inbox with their token" if classmate_token else "read back from the server"
    return f"message {sent['id']} to {target['name']}, {where}; an unknown user raises HTTPError"


@checker("read_inbox")
def check_inbox(read_inbox, server, token, classmate_token=None):
    """``read_inbox(unread_only=False, page_size=20)`` returns every message of my inbox, newest
    first, following the ``next`` links page after page (``?limit=page_size``, ``?unread=true``).
    """
    api = _Api(server, token)
    try:
        me = api.me()
        sender = _Api(server, classmate_token) if classmate_token else api
        try:
            texts = [f"inbox check {i} at {time.strftime('%H:%M:%S')}" for i in range(5)]
            for text in texts:
                sender.request("POST", f"/users/{me['id']}/messages", 201, json={"text": text})
        finally:
            if sender is not api:
                sender.close()
        newest = api.request("GET", f"/users/{me['id']}/messages?limit=5")["items"]
        api.request("PATCH", f"/users/{me['id']}/messages/{newest[1]['id']}", json={"read": True})
        everything = api.every(f"/users/{me['id']}/messages?limit=100")
        unread = [m for m in everything if not m["read"]]
        hint = ('GET {API}/users/<your id>/messages with params={"limit": page_size}, then GET page["next"] '
                'until it is None, adding page["items"] each time')
        for kwargs, wanted, what in [({"page_size": 2}, everything, "every message"),
                                     ({}, everything, "every message"),
                                     ({"unread_only": True, "page_size": 3}, unread, "the unread messages")]:
            got = call(read_inbox, **kwargs, hint=hint)
            shown = f"read_inbox({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
            expect(isinstance(got, list) and all(isinstance(m, dict) and "id" in m for m in got),
                   f"{shown}: a list of messages", short(got, 100), hint)
            got_ids, wanted_ids = [m["id"] for m in got], [m["id"] for m in wanted]
            expect(got_ids == wanted_ids, f"{shown}: {what}, {len(wanted_ids)}, newest first",
                   f"{len(got_ids)}: {short(got_ids, 80)}",
                   'params={"unread": "true"} for the unread ones only' if kwargs.get("unread_only") else hint)
    finally:
        api.close()
    return f"all {len(everything)} messages in pages of 2 and of 20, and the {len(unread)} unread ones"


@checker("mark_read and delete_message")
def check_mark_and_delete(mark_read, delete_message, server, token):
    """``mark_read(message_id)`` marks one of my messages read (``PATCH ... {"read": true}``) and
    returns it; ``delete_message(message_id)`` deletes it (``DELETE``, 204) and returns None.
    Both raise ``requests.HTTPError`` for a message that is not in my inbox.
    """
    api = _Api(server, token)
    try:
        me = api.me()
        first = api.request("POST", f"/users/{me['id']}/messages", 201, json={"text": "mark me read"})
        second = api.request("POST", f"/users/{me['id']}/messages", 201, json={"text": "delete me"})
        got = call(mark_read, first["id"],
                   hint='session.patch(f"{API}/users/{my_id}/messages/{message_id}", json={"read": True}, timeout=10)')
        stored = api.request("GET", f"/users/{me['id']}/messages/{first['id']}")
        expect(stored["read"] is True, f"message {first['id']} read on the server after mark_read({first['id']})",
               short(stored, 100), 'PATCH with json={"read": True}')
        expect(isinstance(got, dict) and got.get("id") == first["id"] and got.get("read") is True,
               "mark_read() to return the message, now read", short(got, 100), "return response.json()")
        got = call(delete_message, second["id"], hint='session.delete(f"{API}/users/{my_id}/messages/{message_id}", timeout=10)')
        api.request("GET", f"/users/{me['id']}/messages/{second['id']}", 404)
        expect(got is None, f"delete_message({second['id']}) to return None (the answer is 204 No Content: no body)",
               short(got), "a 204 has no body: response.json() would fail; return nothing")
        expect_equal(api.request("GET", f"/users/{me['id']}/messages/{first['id']}")["id"], first["id"],
                     f"message {first['id']} still there", "delete the message given, only that one")
        call_raising(requests.HTTPError, delete_message, second["id"],
                     hint="response.raise_for_status(): deleting it again is a 404")
        call_raising(requests.HTTPError, mark_read, NO_SUCH_USER, hint="response.raise_for_status(): no such message, 404")
    finally:
        api.close()
    return f"message {first['id']} marked read and message {second['id']} deleted, on the server; errors raise HTTPError"
