"""Check the capstone's web client (exercises/capstone-web) in a real browser, headless Chromium.

    python -m checks.capstone_web                         # the folder exercises/capstone-web
    python -m checks.capstone_web path/to/your/folder     # or yours
    python -m checks.capstone_web --serve                 # just serve it, to try it in your own browser

The check starts a messaging server with a class of three (Ada Lovelace, Grace
Hopper, and ``Bob <b>bold</b>``, whose name is HTML), serves the folder with a
second, static server (so the page calls the API from another origin, as it
would call the instructor's server: CORS), and drives the page like a user:

    sign in               a wrong token shows the server's 401 explanation; Ada's token signs in
    users and statuses    every user and status in #users, as text; every other user in #recipient,
                          and not myself as the recipient chosen at first
    update my status      the #status form changes Ada's status on the server, and in the table
    send a message        the #send-form sends Grace a message, <img src=x onerror=alert(1)>
    read my inbox         Grace, signed in on a page of her own, sees it as text, from Ada, unread
    mark read and delete  her buttons change the server: the message is read, then gone
    live                  #connection says "live"; a message Ada sends Grace from elsewhere appears on
                          Grace's page within a second, as text; one Grace sends from elsewhere does not
                          enter her inbox; the server restarts: #connection says so, the page
                          reconnects by itself, and the next message appears too

Each step prints ✅ passed, ❌ what was expected and what happened, or ⏳ not
done yet (the page showed a "TODO: ..." error: a function of app.js is still
the starter's). Nothing may load from elsewhere than this machine, and no
alert() may ever run. The exit status is 0 when every step passed.

Needs Playwright (``pip install playwright``) and Chromium: the system's
(``apt install chromium``, or the CHROMIUM environment variable naming it), or
Playwright's own (``python -m playwright install chromium``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from .core import NOT_DONE, PASSED, Failure, NotDone, Result, checker, short
from .servers import static_server

ROOT = Path(__file__).resolve().parent.parent
XSS = "<img src=x onerror=alert(1)>"
CLASS = ["Ada Lovelace", "Grace Hopper", "Bob <b>bold</b>"]
STATUSES = {"Grace Hopper": "in a meeting <i>until 3</i>", "Bob <b>bold</b>": ""}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LIVE_XSS = '<img src=x onerror=alert("live")>'
LIVE_SECONDS = 1.0  # a live message must appear within this


class BrowserUnavailable(RuntimeError):
    """No Playwright or no Chromium here; the message says how to get them."""


# --- the servers ---------------------------------------------------------------------------


@dataclass
class Classroom:
    server: object  # the messaging server (sandbox)
    tokens: dict  # name -> token
    users: dict  # name -> user
    database: Path = None  # its SQLite file, kept across a restart

    @property
    def api(self) -> str:
        return f"{self.server.url}/api/v1"

    def get(self, name: str, path: str) -> requests.Response:
        return requests.get(f"{self.api}{path}", headers={"Authorization": f"Bearer {self.tokens[name]}"}, timeout=10)

    def send(self, sender: str, recipient: str, text: str) -> dict:
        """``sender`` sends ``recipient`` a message through the API, as another client would."""
        response = requests.post(f"{self.api}/users/{self.users[recipient]['id']}/messages", json={"text": text},
                                 headers={"Authorization": f"Bearer {self.tokens[sender]}"}, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.server.stop()

    def start(self, port: int = 0) -> None:
        """(Again) a server on this database, on ``port`` (0: any free port)."""
        from sandbox import launch

        self.server = launch("messaging", replace=False, db=self.database, port=port, quiet=True, rate_limit="off")


@contextlib.contextmanager
def classroom():
    """A messaging server with the class of three, and the statuses above."""
    from sandbox import launch

    with tempfile.TemporaryDirectory(prefix="capstone-web-", ignore_cleanup_errors=True) as folder:
        roster, tokens_file = Path(folder, "class.csv"), Path(folder, "class-tokens.csv")
        with roster.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows([["name"], *([name] for name in CLASS)])
        database = Path(folder, "class.sqlite3")
        with launch("messaging", replace=False, users=roster, tokens_out=tokens_file, db=database, quiet=True,
                    rate_limit="off") as server:
            with tokens_file.open(encoding="utf-8") as file:
                rows = list(csv.DictReader(file))
            tokens = {row["name"]: row["token"] for row in rows}
            users = {row["name"]: {"id": int(row["id"]), "name": row["name"]} for row in rows}
            for name, status in STATUSES.items():
                requests.patch(f"{server.url}/api/v1/users/{users[name]['id']}", json={"status": status},
                               headers={"Authorization": f"Bearer {tokens[name]}"}, timeout=10).raise_for_status()
            room = Classroom(server, tokens, users, database)
            try:
                yield room
            finally:
                room.stop()  # the server of a restart, if there was one


# --- the browser -----------------------------------------------------------------------------


def chromium_path() -> str | None:
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        if not os.path.exists(chosen):
            raise BrowserUnavailable(f"CHROMIUM={chosen}: no such file")
        return chosen
    candidates = ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                  shutil.which("google-chrome")]
    return next((path for path in candidates if path and os.path.exists(path)), None)


@contextlib.contextmanager
def chromium(headed: bool = False):
    """A Playwright browser: the system's Chromium, or Playwright's own."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserUnavailable("this check drives a browser with Playwright, which is not installed: "
                                 "pip install playwright (make test installs it)") from None
    executable = chromium_path()
    with sync_playwright() as playwright:
        if executable is None and not os.path.exists(playwright.chromium.executable_path):
            raise BrowserUnavailable("no Chromium found: install it (apt install chromium, or: "
                                     "python -m playwright install chromium), or set CHROMIUM to its path")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=not headed)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Web:
    """What the steps share: the browser, the page's address, the class, and what the pages did."""

    browser: object
    site: str  # where the student's folder is served
    room: Classroom
    timeout: float = 5.0
    pages: dict = field(default_factory=dict)  # name -> page
    contexts: list = field(default_factory=list)
    outside: list = field(default_factory=list)  # URLs the pages asked for elsewhere (blocked)
    errors: list = field(default_factory=list)  # uncaught JavaScript errors
    dialogs: list = field(default_factory=list)  # alert(), confirm(), prompt()
    passed: set = field(default_factory=set)  # the steps passed so far

    def open(self, name: str):
        """A fresh page (its own session storage) at the student's index.html."""
        context = self.browser.new_context(viewport={"width": 1100, "height": 900})
        self.contexts.append(context)

        def guard(route):
            url = route.request.url
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob") or (parts.hostname or "") in LOCAL_HOSTS:
                route.continue_()
            else:
                self.outside.append(url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.set_default_timeout(2000)  # no action waits long: until() below does the waiting
        page.on("pageerror", lambda error: self.errors.append(f"{name}'s page: {error}"))
        page.on("dialog", lambda dialog: (self.dialogs.append(f"{dialog.type}({dialog.message!r})"), dialog.dismiss()))
        page.goto(f"{self.site}/index.html")
        self.pages[name] = page
        return page

    def close(self):
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()

    # --- reading the page ---

    def text(self, page, selector: str) -> str:
        return inner(page.locator(selector))

    def todo(self) -> str:
        """The first "TODO: ..." the pages showed in #error or raised, or ""."""
        for page in self.pages.values():
            shown = self.text(page, "#error")
            if "TODO" in shown:
                return shown
        return next((error for error in self.errors if "TODO" in error), "")

    def until(self, condition, page=None):
        """Wait up to ``timeout`` seconds for ``condition()`` to be true; return its last value.

        A page showing a "TODO: ..." error is given one second only: a stub will not finish later.
        """
        begin = time.monotonic()
        page = page or next(iter(self.pages.values()))
        while True:
            try:
                value = condition()
            except Exception:  # noqa: BLE001 - the page is changing under us: try again
                value = None
            waited = time.monotonic() - begin
            if value or waited > self.timeout or (waited > 1 and self.todo()):
                return value
            page.wait_for_timeout(100)

    def failure(self, expected: str, got: str, hint: str = "", page=None):
        """NotDone if a TODO stub is what stopped the page; else a Failure that says what the page shows."""
        todo = self.todo()
        if todo:
            return NotDone(f"the page shows {short(todo, 160)}")
        extra = []
        for page_ in [page] if page is not None else self.pages.values():
            shown = self.text(page_, "#error")
            if shown:
                extra.append(f"#error says {short(shown, 120)}")
        if self.errors:
            extra.append(f"JavaScript error: {short(self.errors[-1], 160)}")
        return Failure(expected, "; ".join([got, *extra]), hint)

    def require(self, *steps: str) -> None:
        missing = [step for step in steps if step not in self.passed]
        if missing:
            raise NotDone(f"this step needs the step {missing[0]!r} to pass first")

    def stays_here(self) -> None:
        if self.outside:
            raise Failure("the page to load nothing from elsewhere than this machine", f"it asked for {short(self.outside[0])}",
                          "keep every file (scripts, styles, fonts) in your folder")
        if self.dialogs:
            raise Failure("no alert() ever", f"{self.dialogs[0]} ran", "show text with textContent, never innerHTML")


def inner(locator) -> str:
    """The text of the first element found, or "" at once if there is none (never waiting)."""
    return locator.first.inner_text() if locator.count() else ""


def sign_in(web: Web, page, name: str, token: str) -> None:
    page.fill("#server", web.room.server.url)
    page.fill("#token", token)
    page.click("#sign-in button")


def signed_in_as(web: Web, page, name: str) -> bool:
    user = web.room.users[name]
    return (web.text(page, "#whoami").strip() == f"Signed in as {name} (user {user['id']})"
            and page.locator("#signed-in").is_visible() and not page.locator("#signed-out").is_visible())


# --- the steps -------------------------------------------------------------------------------


@checker("sign in")
def check_sign_in(web: Web):
    """A wrong token shows the server's explanation of its 401, and the page stays signed out;
    Ada's token signs her in: "Signed in as Ada Lovelace (user 1)", and the signed-in part shows."""
    page = web.open("Ada Lovelace")
    sign_in(web, page, "Ada Lovelace", "not-a-valid-token")
    shown = web.until(lambda: "401" in web.text(page, "#error") and web.text(page, "#error"), page)
    if not shown:
        raise web.failure('#error to show the 401 answer: "401 Unauthorized: This token belongs to no user..."',
                          f"#error shows {web.text(page, '#error')!r}",
                          "api(): when !response.ok, throw new Error(`${data.status} ${data.error}: ${data.message}`)", page)
    if "belongs to no user" not in shown or page.locator("#signed-in").is_visible():
        raise Failure("the server's explanation in #error, and the page still signed out",
                      f"#error: {shown!r}; signed-in part visible: {page.locator('#signed-in').is_visible()}",
                      "the message is data.message, from the server's JSON error")
    sign_in(web, page, "Ada Lovelace", web.room.tokens["Ada Lovelace"])
    if not web.until(lambda: signed_in_as(web, page, "Ada Lovelace"), page):
        user = web.room.users["Ada Lovelace"]
        raise web.failure(f'#whoami: "Signed in as Ada Lovelace (user {user["id"]})", #signed-in shown, #signed-out hidden',
                          f"#whoami: {web.text(page, '#whoami')!r}, #signed-in visible: {page.locator('#signed-in').is_visible()}",
                          "signIn(): GET /me, then show who it is, and switch the hidden parts", page)
    web.stays_here()
    return "a wrong token shows the server's 401 explanation; Ada's token signs in"


def table(web: Web, page) -> list[list[str]]:
    return [[inner(cell).strip() for cell in row.locator("td").all()] for row in page.locator("#users tr").all()]


@checker("users and statuses")
def check_users(web: Web):
    """#users has a row per user, name then status, as text (Bob's name and Grace's status hold
    HTML, which must show as typed); #recipient has an option per other user, its value the user's
    id (Ada's own may be there, but is not the one chosen at first)."""
    web.require("sign in")
    page = web.pages["Ada Lovelace"]
    wanted = {name: STATUSES.get(name, "") for name in CLASS}

    def rows_right():
        rows = table(web, page)
        found = {name: row[1] if len(row) > 1 else None for name in CLASS for row in rows if row and row[0].startswith(name)}
        return len(rows) == len(CLASS) and found == wanted

    if not web.until(rows_right, page):
        raise web.failure(f"#users: {len(CLASS)} rows, <td>name</td><td>status</td>, e.g. {[CLASS[1], wanted[CLASS[1]]]}",
                          f"{short(table(web, page), 160)}",
                          "showUsers(): one <tr> per user, its cells made with element(\"td\", text)", page)
    if page.locator("#users b, #users i").count():
        raise Failure("the names and statuses shown as text", "<b> or <i> elements in #users",
                      "textContent (or element()), never innerHTML: a name is data, not HTML")
    mine = str(web.room.users["Ada Lovelace"]["id"])
    others = {str(user["id"]) for user in web.room.users.values()} - {mine}
    options = page.locator("#recipient option")

    def values() -> set:
        return {option.get_attribute("value") for option in options.all()} - {"", None}

    if not web.until(lambda: others <= values() <= others | {mine}, page):
        raise web.failure(f"#recipient: an <option> per other user, its value the user's id: {sorted(others)}",
                          f"{sorted(values())}", "option.value = user.id; option.textContent = user.name", page)
    if page.locator("#recipient").input_value() == mine:
        raise Failure("someone else than Ada as the recipient chosen at first (or nobody yet)",
                      "Ada herself: she would write to herself by mistake",
                      'leave yourself out of the list, or put a first option "Choose someone…" with value ""')
    return f"{len(CLASS)} users with their statuses, as text; the others in the list of recipients"


@checker("update my status")
def check_status(web: Web):
    """The #status form changes Ada's status on the server, and the table shows the new one."""
    web.require("sign in")
    page = web.pages["Ada Lovelace"]
    status = "writing the web client ✓ <3"
    page.fill("#status", status)
    page.click("#status-form button")
    ada = web.room.users["Ada Lovelace"]
    if not web.until(lambda: web.room.get("Ada Lovelace", f"/users/{ada['id']}").json()["status"] == status, page):
        got = web.room.get("Ada Lovelace", f"/users/{ada['id']}").json()["status"]
        raise web.failure(f"Ada's status on the server: {status!r}", repr(got),
                          "updateStatus(): PATCH /users/<me.id> with {status: $(\"status\").value}", page)
    if not web.until(lambda: any(row[:1] and row[0].startswith("Ada Lovelace") and row[1:2] == [status]
                                 for row in table(web, page)), page):
        raise web.failure(f"Ada's row in #users to show {status!r}", short(table(web, page), 160),
                          "updateStatus(): then showUsers() again", page)
    return "the server has Ada's new status, and the table shows it"


@checker("send a message")
def check_send(web: Web):
    """Ada chooses Grace in #recipient, types the message, sends it: Grace's inbox has it."""
    web.require("sign in")
    page = web.pages["Ada Lovelace"]
    grace = web.room.users["Grace Hopper"]
    web.until(lambda: page.locator(f'#recipient option[value="{grace["id"]}"]').count(), page)
    if not page.locator(f'#recipient option[value="{grace["id"]}"]').count():
        raise web.failure(f"an option for Grace Hopper (value {grace['id']}) in #recipient", "none",
                          "showUsers() fills #recipient too", page)
    page.select_option("#recipient", str(grace["id"]))
    page.fill("#text", XSS)
    page.click("#send-form button")

    def delivered():
        inbox = web.room.get("Grace Hopper", f"/users/{grace['id']}/messages?limit=100").json()["items"]
        return [m for m in inbox if m["text"] == XSS and m["sender_name"] == "Ada Lovelace"]

    if not web.until(delivered, page):
        raise web.failure(f"Grace's inbox on the server to have the message {XSS!r} from Ada", "it has not",
                          "sendMessage(): POST /users/<$(\"recipient\").value>/messages with {text: $(\"text\").value}", page)
    return f"Grace has Ada's message {XSS!r} on the server"


@checker("read my inbox")
def check_inbox(web: Web):
    """Grace signs in on a page of her own: her inbox shows Ada's message, as text, from Ada, unread."""
    web.require("sign in", "send a message")
    page = web.open("Grace Hopper")
    sign_in(web, page, "Grace Hopper", web.room.tokens["Grace Hopper"])
    if not web.until(lambda: signed_in_as(web, page, "Grace Hopper"), page):
        raise web.failure("Grace signed in", f"#whoami: {web.text(page, '#whoami')!r}", "", page)
    item = page.locator("#inbox li.message").first
    if not web.until(lambda: item.count(), page):
        raise web.failure('a <li class="message"> in #inbox, for Ada\'s message', f"#inbox: {short(web.text(page, '#inbox'))}",
                          "showInbox(): $(\"inbox\").replaceChildren(...page.items.map(messageItem))", page)
    if page.locator("#inbox img").count() or web.dialogs:
        raise Failure(f"the message shown as text: {XSS!r}",
                      "an <img> element in #inbox" + (f", and {web.dialogs[0]} ran" if web.dialogs else ""),
                      "textContent (or element()), never innerHTML: the message ran code in Grace's page")
    if not web.until(lambda: inner(item.locator(".text")) == XSS, page):
        shown = page.locator("#inbox").inner_text() if page.locator("#inbox").count() else ""
        raise web.failure(f'<li class="message"> in #inbox, its <p class="text"> showing {XSS!r}', short(shown, 120),
                          "showInbox() and messageItem(): element(\"p\", message.text, \"text\")", page)
    if "&lt;img" not in item.locator(".text").inner_html():
        raise Failure(f"the message shown as text: {XSS!r}", f"its HTML: {short(item.locator('.text').inner_html())}",
                      "textContent (or element()), never innerHTML")
    meta = inner(item.locator(".meta"))
    if "From Ada Lovelace" not in meta:
        raise Failure('<p class="meta"> saying "From Ada Lovelace, <when>"', repr(meta), "message.sender_name")
    if "unread" not in (item.get_attribute("class") or "").split():
        raise Failure('the unread message as <li class="message unread">', repr(item.get_attribute("class")),
                      'element("li", undefined, message.read ? "message" : "message unread")')
    web.stays_here()
    return "Grace sees Ada's message as text, from Ada, unread; alert() never ran"


@checker("mark read and delete")
def check_mark_and_delete(web: Web):
    """Grace's "Mark read" button marks the message read on the server, and the page shows it read;
    her "Delete" button deletes it on the server, and it leaves the page."""
    web.require("read my inbox")
    page = web.pages["Grace Hopper"]
    grace = web.room.users["Grace Hopper"]
    item = page.locator("#inbox li.message").first
    message_id = web.room.get("Grace Hopper", f"/users/{grace['id']}/messages?limit=1").json()["items"][0]["id"]
    button = item.locator("button", has_text="Mark read")
    if not button.count():
        raise web.failure('a button "Mark read" in the unread message', "none", "messageItem(): a button for unread messages", page)
    button.first.click()
    path = f"/users/{grace['id']}/messages/{message_id}"
    if not web.until(lambda: web.room.get("Grace Hopper", path).json()["read"] is True, page):
        raise web.failure(f"message {message_id} read on the server", "still unread",
                          "markRead(): PATCH /users/<me.id>/messages/<id> with {read: true}", page)
    if not web.until(lambda: "unread" not in (page.locator("#inbox li.message").first.get_attribute("class") or ""), page):
        raise web.failure("the message no longer shown unread", repr(item.get_attribute("class")),
                          "markRead(): then showInbox() again", page)
    button = page.locator("#inbox li.message").first.locator("button", has_text="Delete")
    if not button.count():
        raise web.failure('a button "Delete" in the message', "none", "messageItem(): a button for every message", page)
    button.first.click()
    if not web.until(lambda: web.room.get("Grace Hopper", path).status_code == 404, page):
        raise web.failure(f"message {message_id} deleted on the server", "it is still there",
                          "deleteMessage(): DELETE /users/<me.id>/messages/<id>", page)
    if not web.until(lambda: page.locator("#inbox li.message").count() == 0, page):
        raise web.failure("the message gone from #inbox", f"{page.locator('#inbox li.message').count()} still shown",
                          "deleteMessage(): then showInbox() again", page)
    web.stays_here()
    return "read, then deleted, on the server and on the page"


def texts(page) -> list[str]:
    return [inner(item) for item in page.locator("#inbox li.message .text").all()]


@checker("live")
def check_live(web: Web):
    """Grace's page keeps a live stream: #connection says "live"; a message Ada sends her from
    elsewhere (the API) appears within a second, as text; a message Grace sends from elsewhere is
    not hers to read and stays out of her inbox. Then the server stops: #connection says the
    stream is down; it starts again: the page reconnects by itself, and the next message appears."""
    web.require("read my inbox")
    page = web.pages["Grace Hopper"]
    state = lambda: page.locator("#connection").get_attribute("data-state") if page.locator("#connection").count() else None  # noqa: E731
    if not web.until(lambda: state() == "live", page):
        raise web.failure('#connection with data-state="live" once the stream is open', f"data-state={state()!r}",
                          "listen(): fetch /events with the token; setConnection(\"live\", ...) on a 200", page)
    web.room.send("Grace Hopper", "Ada Lovelace", "sent by Grace, from elsewhere")
    web.room.send("Ada Lovelace", "Grace Hopper", LIVE_XSS)
    sent = time.monotonic()
    while LIVE_XSS not in texts(page) and time.monotonic() - sent < LIVE_SECONDS and not page.locator("#inbox img").count():
        page.wait_for_timeout(20)
    waited = time.monotonic() - sent
    if page.locator("#inbox img").count() or web.dialogs:
        raise Failure(f"the live message shown as text: {LIVE_XSS!r}", "an <img> element in #inbox",
                      "a message that arrives live is data too: element() or textContent, never innerHTML")
    if LIVE_XSS not in texts(page):
        late = web.until(lambda: LIVE_XSS in texts(page), page)
        raise web.failure(f"Ada's message on Grace's page within {LIVE_SECONDS:g} s, without a reload",
                          "it came after more than a second" if late else f"not there after {web.timeout:g} s",
                          "handleEvent(): a \"message\" event to me: showInbox()", page)
    page.wait_for_timeout(300)  # the other event came first: give it time to show, if it is going to
    if "sent by Grace, from elsewhere" in texts(page):
        raise Failure("Grace's inbox without the message she sent Ada", "it is in her inbox",
                      "a \"message\" event also comes for the messages I send: data.recipient_id says whose inbox")

    port = web.room.server.address[1]
    web.room.stop()
    if not web.until(lambda: state() in ("connecting", "retrying", "off"), page):
        raise web.failure("#connection to say the stream is down while the server is stopped",
                          f"data-state={state()!r}", "listen(): when the stream ends, setConnection(\"retrying\", ...)", page)
    web.room.start(port)
    web.room.send("Ada Lovelace", "Grace Hopper", "after the restart")
    if not web.until(lambda: "after the restart" in texts(page) and state() == "live", page):
        raise web.failure("the page reconnected by itself after the server restarted, and showed the next message",
                          f"data-state={state()!r}; messages shown: {short(texts(page), 120)}",
                          "listen(): when the stream ends or fails, sleep(retryMs) and connect again", page)
    web.stays_here()
    return f"live in {waited:.2f} s, as text; only my own inbox; reconnected after a restart"


STEPS = [check_sign_in, check_users, check_status, check_send, check_inbox, check_mark_and_delete, check_live]


def run(folder: Path, timeout: float = 5.0, headed: bool = False) -> list[Result]:
    """Check the web client in ``folder``; the verdicts are printed as they come, and returned.

    Raises BrowserUnavailable without Playwright or Chromium.
    """
    folder = Path(folder).resolve()
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"{folder}: no index.html there; give the folder of your web client")
    results = []
    with chromium(headed) as browser, classroom() as room, static_server(folder) as site:
        web = Web(browser, site, room, timeout)
        try:
            for step in STEPS:
                result = step(web)
                if result.passed:
                    web.passed.add(step.step)
                results.append(result)
        finally:
            web.close()
    return results


def serve(folder: Path) -> None:
    """Serve the folder and a messaging server with the class, until Ctrl-C or Enter."""
    with classroom() as room, static_server(Path(folder).resolve()) as site:
        print(f"Your page:  {site}/index.html")
        print(f"Server:     {room.server.url}   (its own page, for comparison: {room.server.url}/)")
        for name, token in room.tokens.items():
            print(f"  token of {name}: {token}")
        print("Sign in on your page with the server's address and a token; Enter or Ctrl-C stops.")
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input()


def default_folder() -> Path:
    here = Path.cwd()
    return here if (here / "index.html").is_file() and (here / "app.js").is_file() else ROOT / "exercises" / "capstone-web"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks.capstone_web", description=__doc__.split("\n\n")[0],
                                     epilog="The steps are described in checks/capstone_web.py.")
    parser.add_argument("folder", nargs="?", type=Path, help="the folder of your web client (default: exercises/capstone-web)")
    parser.add_argument("--serve", action="store_true", help="serve the page and a server with a class, to try it yourself")
    parser.add_argument("--headed", action="store_true", help="show the browser while it checks")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the page at each step (default: 5)")
    args = parser.parse_args(argv)
    folder = args.folder or default_folder()
    if args.serve:
        serve(folder)
        return 0
    print(f"Checking the web client in {folder} with headless Chromium...", flush=True)
    try:
        results = run(folder, args.timeout, args.headed)
    except (BrowserUnavailable, FileNotFoundError) as error:
        print(f"cannot check: {error}", file=sys.stderr)
        return 2
    passed = sum(result.status == PASSED for result in results)
    waiting = sum(result.status == NOT_DONE for result in results)
    print(f"{passed} of {len(results)} steps passed" + (f", {waiting} not done yet" if waiting else ""))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
