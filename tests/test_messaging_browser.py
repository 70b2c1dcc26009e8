"""The messaging web client in a real browser: headless Chromium, driven by Playwright.

Two users sign in, in two separate browser sessions; one sends the other a
message made to run code if it were inserted as HTML, and the other sees it
arrive at once (the live stream), as plain text. The pages may load nothing
from anywhere but the server: every other request is blocked and makes the
test fail. The instructor's dashboard shows the class, as text.

Screenshots (at 1280x720 and at a phone's 390x844) are written to the
folder messaging-screenshots of the system's temporary folder (its path is
printed): look at them after a change of the design.

Chromium comes from the system (Debian's ``chromium`` package, or the
CHROMIUM environment variable), or from ``playwright install chromium``.
Without one the tests are skipped, except when the CI environment variable is
set: there a missing browser is a failure.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from sandbox import launch

API = "/api/v1"
XSS = "<img src=x onerror=alert(1)>"
SCREENSHOTS = Path(tempfile.gettempdir()) / "messaging-screenshots"
SIZES = {"desktop": {"width": 1280, "height": 720}, "phone": {"width": 390, "height": 844}}
pytestmark = pytest.mark.browser


def screenshot(page, name: str) -> None:
    """``name``-desktop.png and ``name``-phone.png in SCREENSHOTS."""
    SCREENSHOTS.mkdir(exist_ok=True)
    print(f"screenshots: {SCREENSHOTS / name}-*.png")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(100)
        page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=size == "phone")
    page.set_viewport_size(SIZES["desktop"])


@pytest.fixture
def server(tmp_path):
    # No rate limit: the pages and the test all come from 127.0.0.1, one budget for all.
    with launch("messaging", replace=False, db=tmp_path / "web.sqlite3", rate_limit="off") as server:
        yield server


@pytest.fixture
def outside():
    """The URLs a page tried to load from anywhere but this machine (blocked)."""
    return []


@pytest.fixture
def open_page(browser, outside):
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport=SIZES["desktop"])
        contexts.append(context)

        def guard(route):
            if urlsplit(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith("data:"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.dialogs = []  # alert(), confirm()...: none may appear
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url)
        page.context_ = context
        return page

    yield open_page
    for context in contexts:
        context.close()


def register(base: str, name: str) -> tuple[dict, str]:
    response = requests.post(f"{base}{API}/users", json={"name": name}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["user"], response.json()["token"]


def sign_in(page, token: str) -> None:
    from playwright.sync_api import expect

    page.fill("#token", token)
    page.click("#sign-in button")
    expect(page.locator("#signed-in")).to_be_visible()
    expect(page.locator("#signed-out")).to_be_hidden()


def test_two_users_exchange_a_message_shown_as_text(server, open_page, outside, tmp_path):
    from playwright.sync_api import expect

    ada, ada_token = register(server.url, "Ada")
    bob, bob_token = register(server.url, "Bob <b>bold</b>")  # a name with HTML in it, too
    ada_page = open_page(server.url + "/")
    bob_page = open_page(server.url + "/")
    sign_in(ada_page, ada_token)
    sign_in(bob_page, bob_token)
    expect(bob_page.locator("#whoami")).to_have_text(f"Signed in as Bob <b>bold</b> (user {bob['id']})")

    ada_page.fill("#status", "writing tests")
    ada_page.click("#status-form button")
    expect(ada_page.locator("#notice")).to_have_text("Status updated.")

    expect(bob_page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(bob_page.locator("#inbox-empty")).to_be_visible()
    assert ada_page.locator("#recipient").input_value() == ""  # no one chosen for me: never myself
    assert str(ada["id"]) not in [o.get_attribute("value") for o in ada_page.locator("#recipient option").all()]
    ada_page.select_option("#recipient", str(bob["id"]))
    ada_page.fill("#text", XSS)
    ada_page.click("#send-form button")
    expect(ada_page.locator("#notice")).to_contain_text("sent")

    # Bob's page is told at once, by its live stream: no refresh, no click.
    text = bob_page.locator("#inbox .message .text")
    expect(text).to_have_text(XSS, timeout=2000)
    expect(bob_page.locator("#inbox .message .meta")).to_contain_text("From Ada")
    assert "&lt;img" in text.inner_html()  # the markup is escaped: it is text, not an element
    assert bob_page.locator("#inbox img").count() == 0
    expect(bob_page.locator("#users")).to_contain_text("writing tests")
    expect(ada_page.locator("#users")).to_contain_text("Bob <b>bold</b>")
    assert ada_page.locator("#users b").count() == 0
    expect(bob_page.locator("#unread")).to_have_text("1 unread")
    expect(bob_page.locator("#inbox .conversation h3")).to_have_text("Ada")
    for n in range(3):
        assert requests.post(f"{server.url}{API}/users/{bob['id']}/messages", json={"text": f"and a longer message, number {n}, "
                      "to see how the page wraps text that goes on for a while"}, headers=bearer(ada_token), timeout=5).ok
    expect(bob_page.locator("#inbox .message")).to_have_count(4)
    bob_page.click("#inbox .message:nth-child(2) button:text('Mark read')")
    expect(bob_page.locator("#unread")).to_have_text("3 unread")
    screenshot(bob_page, "inbox")
    for message in requests.get(f"{server.url}{API}/users/{bob['id']}/messages", headers=bearer(bob_token),
                                timeout=5).json()["items"][:3]:
        requests.delete(f"{server.url}{API}/users/{bob['id']}/messages/{message['id']}", headers=bearer(bob_token), timeout=5)
    bob_page.reload()
    expect(bob_page.locator("#inbox .message")).to_have_count(1)

    bob_page.click("#inbox button:text('Mark read')")
    expect(bob_page.locator("#unread")).to_have_text("")
    expect(bob_page.locator("#inbox .message.unread")).to_have_count(0)
    bob_page.click("#inbox button:text('Delete')")
    expect(bob_page.locator("#inbox .message")).to_have_count(0)

    assert ada_page.dialogs == bob_page.dialogs == []  # alert(1) never ran
    assert outside == []


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_the_page_reconnects_when_the_server_comes_back(tmp_path, open_page, outside):
    from playwright.sync_api import expect

    database = tmp_path / "restart.sqlite3"
    with launch("messaging", replace=False, db=database) as server:
        base, port = server.url, server.address[1]
        ada, ada_token = register(base, "Ada")
        bob, bob_token = register(base, "Bob")
        page = open_page(base + "/")
        sign_in(page, bob_token)
        connection = page.locator("#connection")
        expect(connection).to_have_attribute("data-state", "live")
    # The server stopped: the stream broke, and reconnecting fails for now.
    expect(connection).to_have_attribute("data-state", re.compile("retrying|connecting"))
    with launch("messaging", replace=False, db=database, port=port):
        requests.post(f"{base}{API}/users/{bob['id']}/messages", json={"text": "back again"},
                      headers=bearer(ada_token), timeout=5)
        expect(connection).to_have_attribute("data-state", "live")
        expect(page.locator("#inbox .message .text")).to_have_text("back again")
    assert outside == []


def test_the_dashboard_shows_the_class_as_text(server, open_page, outside):
    from playwright.sync_api import expect

    assert server.wait_for("instructor dashboard:", 10)
    token = re.search(r"/class#(\S+)", server.log).group(1)
    names = ["Ada Lovelace", "Grace Hopper", "Bob <b>bold</b>", "Linus", "Margaret Hamilton"]
    users = {name: register(server.url, name) for name in names}
    (ada, ada_token), (grace, grace_token) = users["Ada Lovelace"], users["Grace Hopper"]
    requests.patch(f"{server.url}{API}/users/{ada['id']}", json={"status": XSS}, headers=bearer(ada_token), timeout=5)
    sent = requests.post(f"{server.url}{API}/users/{grace['id']}/messages", json={"text": "hi"},
                         headers=bearer(ada_token), timeout=5).json()
    requests.patch(f"{server.url}{API}/users/{grace['id']}/messages/{sent['id']}", json={"read": True},
                   headers=bearer(grace_token), timeout=5)

    page = open_page(f"{server.url}/class#{token}")
    expect(page.locator("#students tr")).to_have_count(len(names))
    assert token not in page.url  # moved out of the address bar
    ada_row = page.locator("#students tr", has=page.locator("th", has_text="Ada Lovelace"))
    expect(ada_row.locator("td").first).to_have_text(XSS)  # a status holding HTML, shown as text
    expect(ada_row.locator(".step.done")).to_have_count(3)  # registered, status changed, message sent
    expect(page.locator("#students")).to_contain_text("Bob <b>bold</b>")
    assert page.locator("#students img, #students b").count() == 0
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    screenshot(page, "dashboard")

    page.uncheck("#registration")  # from the page, for the whole server
    expect(page.locator("#notice")).to_have_text("Registration is now closed.")
    assert requests.post(f"{server.url}{API}/users", json={"name": "Late"}, timeout=5).status_code == 403
    page.click("#reset")  # asks first: this page's dialogs are dismissed, so nothing happens
    assert page.dialogs == ["Reset the class? Every message and status is deleted; the accounts stay."]
    assert requests.get(f"{server.url}{API}/users/{grace['id']}/messages", headers=bearer(grace_token),
                        timeout=5).json()["total"] == 1
    assert outside == []


def test_a_wrong_token_shows_the_servers_explanation(server, open_page, outside, tmp_path):
    from playwright.sync_api import expect

    page = open_page(server.url + "/")
    page.fill("#token", "not-a-token")
    page.click("#sign-in button")
    expect(page.locator("#error")).to_contain_text("401 Unauthorized: This token belongs to no user")
    expect(page.locator("#signed-out")).to_be_visible()
    page.screenshot(path=tmp_path / "error.png")
    assert outside == []


def test_registering_in_the_page_signs_in_and_shows_the_token_once(server, open_page, outside):
    from playwright.sync_api import expect

    page = open_page(server.url + "/")
    page.fill("#name", "Grace")
    page.click("#register button")
    expect(page.locator("#whoami")).to_contain_text("Signed in as Grace")
    expect(page.locator("#notice")).to_contain_text("Your token")
    notice = page.locator("#notice").inner_text()
    token = notice.rsplit(" ", 1)[1]
    assert requests.get(f"{server.url}{API}/me", headers={"Authorization": f"Bearer {token}"},
                        timeout=5).json()["name"] == "Grace"
    page.reload()  # the token is kept for the tab (sessionStorage): still signed in
    expect(page.locator("#whoami")).to_contain_text("Signed in as Grace")
    assert outside == []


def test_the_docs_page_works_offline(server, open_page, outside, tmp_path):
    from playwright.sync_api import expect

    page = open_page(server.url + f"{API}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Messaging API", timeout=15_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.screenshot(path=tmp_path / "docs.png")
    assert outside == []
