"""The check of the capstone's web client (checks/capstone_web.py), in headless Chromium.

The solution (solutions/capstone-web) passes every step; the starter files
(exercises/capstone-web) are "not done yet" at every step; a client that is
half written, or that inserts messages with innerHTML, or that hides the
server's explanations, or whose live part does not reconnect, sends no token,
or puts every message event in the inbox, gets the verdict a student should read.
"""

from __future__ import annotations

import difflib
import os
import shutil

import pytest

from checks import capstone_web, core
from checks.core import FAILED, NOT_DONE, PASSED

ROOT = capstone_web.ROOT
SOLUTION = ROOT / "solutions" / "capstone-web"
STARTER = ROOT / "exercises" / "capstone-web"

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def student_mode(monkeypatch):
    monkeypatch.delenv(core.ENV, raising=False)  # verdicts are asserted here, one by one


def check(folder, timeout=5.0):
    try:
        return {result.step: result for result in capstone_web.run(folder, timeout)}
    except capstone_web.BrowserUnavailable as reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so a missing browser is a failure, not a skip")
        pytest.skip(str(reason))


def variant(tmp_path, old: str, new: str):
    """The solution's folder, with one change to app.js."""
    folder = tmp_path / "client"
    shutil.copytree(SOLUTION, folder)
    script = folder / "app.js"
    text = script.read_text(encoding="utf-8")
    assert old in text, old
    script.write_text(text.replace(old, new), encoding="utf-8")
    return folder


def statuses(results) -> list[str]:
    return [result.status for result in results.values()]


def test_the_solution_passes_every_step():
    results = check(SOLUTION)
    assert statuses(results) == [PASSED] * len(capstone_web.STEPS), "\n".join(map(str, results.values()))


def test_the_starter_is_not_done_at_every_step():
    results = check(STARTER)
    assert statuses(results) == [NOT_DONE] * len(capstone_web.STEPS), "\n".join(map(str, results.values()))
    assert "TODO: set server and token" in results["sign in"].summary
    assert "needs the step 'sign in'" in results["users and statuses"].summary


def test_a_half_written_client_passes_what_is_written(tmp_path):
    body = 'const page = await api("GET", `/users/${me.id}/messages?limit=50`);'
    folder = variant(tmp_path, body, 'throw new Error("TODO: fetch the first page of my inbox");\n  ' + body)
    results = check(folder)
    assert statuses(results) == [PASSED] * 4 + [NOT_DONE] * 3, "\n".join(map(str, results.values()))
    assert "TODO: fetch the first page of my inbox" in results["read my inbox"].summary


def test_messages_inserted_as_html_fail_and_run_their_code(tmp_path):
    folder = variant(tmp_path, 'element("p", message.text, "text")',
                     'Object.assign(document.createElement("p"), { className: "text", innerHTML: message.text })')
    results = check(folder)
    inbox = results["read my inbox"]
    assert inbox.status == FAILED, str(inbox)
    # The <img> is caught at once; whether its onerror alert() has run by then is a matter of timing.
    assert "an <img> element in #inbox" in str(inbox) and "never innerHTML" in str(inbox)
    assert results["send a message"].status == PASSED


def test_an_error_without_the_servers_explanation_fails_the_sign_in(tmp_path):
    folder = variant(tmp_path, "const error = new Error(data ? `${data.status} ${data.error}: ${data.message}` :",
                     "const error = new Error(data ? 'Something went wrong' :")
    results = check(folder, timeout=2.0)  # the sign-in waits that long for the 401 message, in vain
    assert results["sign in"].status == FAILED
    assert "401 Unauthorized: This token belongs to no user" in str(results["sign in"])
    assert "#error shows 'Something went wrong'" in str(results["sign in"])


def test_the_command_line_needs_a_folder_with_a_page(tmp_path, capsys):
    assert capstone_web.main([str(tmp_path)]) == 2
    assert "no index.html there" in capsys.readouterr().err


def live_verdict(tmp_path, old: str, new: str):
    results = check(variant(tmp_path, old, new))
    return results["live"], results


def test_a_live_stream_that_does_not_reconnect_fails_the_live_step(tmp_path):
    live, results = live_verdict(tmp_path, "    await sleep(retryMs);", "    return;")
    assert live.status == FAILED, str(live)
    assert "reconnected by itself" in str(live) and "sleep(retryMs)" in str(live)
    assert statuses(results)[:-1] == [PASSED] * 6


def test_a_live_stream_without_the_token_fails_the_live_step(tmp_path):
    live, _ = live_verdict(tmp_path, "const headers = { Authorization: `Bearer ${token}` };", "const headers = {};")
    assert live.status in (FAILED, NOT_DONE), str(live)  # the 401 signs the page out: earlier steps fail too
    assert live.status == NOT_DONE or 'data-state="live"' in str(live)


def test_every_message_event_put_in_the_inbox_fails_the_live_step(tmp_path):
    """The stream also tells me of the messages I send: they are not mine to read."""
    live, _ = live_verdict(tmp_path, "if ((event.event === \"message\" || event.event === \"read\") && data.recipient_id === me.id)",
                           "if (event.event === \"message\") $(\"inbox\").prepend(messageItem(data));\n  else if (event.event === \"read\")")
    assert live.status == FAILED, str(live)
    assert "without the message she sent Ada" in str(live)


def test_a_live_message_inserted_as_html_fails(tmp_path):
    live, _ = live_verdict(tmp_path, "const data = JSON.parse(event.data);",
                           "const data = JSON.parse(event.data);\n  if (event.event === \"message\" && data.recipient_id === me.id) "
                           "$(\"inbox\").insertAdjacentHTML(\"afterbegin\", `<li class=\"message\"><p class=\"text\">${data.text}</p></li>`);")
    assert live.status == FAILED, str(live)
    assert "never innerHTML" in str(live)


def test_a_live_part_left_to_do_is_not_done(tmp_path):
    live, results = live_verdict(tmp_path, "const data = JSON.parse(event.data);",
                                 'throw new Error("TODO: JSON.parse(event.data)");')
    assert live.status == NOT_DONE, str(live)
    assert "TODO: JSON.parse(event.data)" in live.summary


def test_the_servers_own_page_is_the_solution(tmp_path):
    """sandbox/messaging/static/ serves the same client as the solution: the same styles, the same
    code (plus registering, and its own server by default), so that the two never drift apart."""
    static = ROOT / "sandbox" / "messaging" / "static"
    assert (static / "style.css").read_text() == (SOLUTION / "style.css").read_text()
    solution = [line for line in (SOLUTION / "app.js").read_text().splitlines() if "### " not in line]
    served = (static / "app.js").read_text().splitlines()
    differ = difflib.SequenceMatcher(a=solution, b=served, autojunk=False)
    changed = [line for tag, i1, i2, _, _ in differ.get_opcodes() if tag in ("replace", "delete")
               for line in solution[i1:i2]]
    # Only the opening comment (the exercise's wording) and where the server is may differ.
    assert all(line.startswith("//") or "server = serverUrl" in line for line in changed), changed


def test_a_listen_left_to_do_is_not_done(tmp_path):
    live, results = live_verdict(tmp_path, "  while (!signal.aborted) {\n    setConnection(\"connecting\"",
                                 "  throw new Error(\"TODO: a loop\");\n  while (!signal.aborted) {\n    setConnection(\"connecting\"")
    assert statuses(results)[:-1] == [PASSED] * 6, "\n".join(map(str, results.values()))
    assert live.status == NOT_DONE and "TODO: a loop" in live.summary, str(live)
