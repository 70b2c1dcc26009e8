"""The messaging web client in a real browser: headless Chromium, driven by Playwright.

Two users sign in, in two separate browser sessions; one sends the other a
message made to run code if it were inserted as HTML, and the other sees it
arrive, as plain text. The pages may load nothing from anywhere but the
server: every other request is blocked and makes the test fail.

Chromium comes from the system (Debian's ``chromium`` package, or the
CHROMIUM environment variable), or from ``playwright install chromium``.
Without one the tests are skipped, except when the CI environment variable is
set: there a missing browser is a failure.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from sandbox import launch

API = "/api/v1"
XSS = "<img src=x onerror=alert(1)>"
pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path):
    with launch("messaging", replace=False, db=tmp_path / "web.sqlite3") as server:
        yield server


@pytest.fixture
def outside():
    """The URLs a page tried to load from anywhere but this machine (blocked)."""
    return []


@pytest.fixture
def open_page(browser, outside):
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport={"width": 1100, "height": 900})
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

    expect.set_options(timeout=10_000)  # the inbox refreshes every 5 seconds
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

    ada_page.select_option("#recipient", str(bob["id"]))
    ada_page.fill("#text", XSS)
    ada_page.click("#send-form button")
    expect(ada_page.locator("#notice")).to_contain_text("sent")

    # Bob's page has not been told: it finds the message at its next refresh.
    text = bob_page.locator("#inbox .message .text")
    expect(text).to_have_text(XSS)
    expect(bob_page.locator("#inbox .message .meta")).to_contain_text("From Ada")
    assert "&lt;img" in text.inner_html()  # the markup is escaped: it is text, not an element
    assert bob_page.locator("#inbox img").count() == 0
    expect(bob_page.locator("#users")).to_contain_text("writing tests")
    expect(ada_page.locator("#users")).to_contain_text("Bob <b>bold</b>")
    assert ada_page.locator("#users b").count() == 0
    expect(bob_page.locator("#unread")).to_have_text("(1 unread, 1 in all)")
    bob_page.screenshot(path=tmp_path / "inbox.png", full_page=True)

    bob_page.click("#inbox button:text('Mark read')")
    expect(bob_page.locator("#unread")).to_have_text("(0 unread, 1 in all)")
    bob_page.click("#inbox button:text('Delete')")
    expect(bob_page.locator("#inbox .message")).to_have_count(0)

    assert ada_page.dialogs == bob_page.dialogs == []  # alert(1) never ran
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
