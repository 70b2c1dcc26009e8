// The messaging web client: plain JavaScript calling the REST API with fetch().
// (The capstone-web exercise has students write this same file, for a page
// served from another origin: see exercises/capstone-web.)
//
// Everything that comes from the server (names, statuses, messages) is shown
// with textContent, which shows text as text: a message such as
// <img src=x onerror=alert(1)> appears as those characters and runs nothing.
// innerHTML would turn it into an element and run its code: never give it data.
//
// New messages appear without a reload: the page keeps a live stream of
// events open (GET /api/v1/events, Server-Sent Events), and reconnects when
// it ends or breaks.

const $ = (id) => document.getElementById(id);

// sessionStorage: survives a reload of the page, forgotten when the tab closes.
let server = sessionStorage.getItem("server"); // "http://192.168.1.20:8000", from the sign-in form
let token = sessionStorage.getItem("token");
let me = null; // the signed-in user: {id, name, status, created_at}
let live = null; // the AbortController of the live stream: live.abort() stops it
let lastEventId = null; // the id of the last event received: a reconnection resumes after it
let retryMs = 1000; // how long to wait before reconnecting (the server's "retry:" says)
let shownIds = null; // the ids of the messages on the page, to highlight the ones that just arrived

// One request to the API: server + "/api/v1" + path, or a full URL (the "next" links).
//   - send the token: the header Authorization: Bearer <token>;
//   - with a body: send it as JSON (JSON.stringify), with Content-Type: application/json;
//   - an error status (response.ok is false): throw new Error(`${status} ${error}: ${message}`),
//     with the fields of the server's JSON error, e.g. "401 Unauthorized: This token belongs to no user...";
//     give the Error a .status too (error.status = 401): showError() signs out on a 401;
//   - return null for 204 No Content (no body), else the parsed JSON (await response.json()).
async function api(method, path, body) {
  const options = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path.startsWith("http") ? path : `${server}/api/v1${path}`, options);
  if (response.status === 204) return null; // No Content
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(data ? `${data.status} ${data.error}: ${data.message}` : `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// Every item of a paginated list ({"items": [...], "next": URL or null}), following "next".
async function allPages(path) {
  const items = [];
  let url = path;
  while (url) {
    const page = await api("GET", url);
    items.push(...page.items);
    url = page.next;
  }
  return items;
}

function show(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

function showError(error) {
  show("error", error.message);
  if (error.status === 401) signOut(); // the token is not (or no longer) valid
}

// Run what a button or a form asks for: clear the last error, show a new one.
async function attempt(action) {
  show("error", "");
  try {
    await action();
  } catch (error) {
    showError(error);
  }
}

// A new element holding text (never HTML): element("td", user.name).
function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// --- signing in and out ----------------------------------------------------------------

// Sign in with this server and token:
//   - keep them in the variables server (without a "/" at the end) and token;
//   - ask the API who the token belongs to (GET /me) and keep the answer in me;
//   - show "Signed in as <name> (user <id>)" in #whoami, and put my status in the #status field;
//   - hide #signed-out, show #signed-in and #sign-out (element.hidden = true or false);
//   - keep server and token in sessionStorage; then refresh() the page.
async function signIn(serverUrl, newToken) {
  server = (serverUrl || location.origin).replace(/\/+$/, ""); // this page's own server, by default
  token = newToken;
  me = await api("GET", "/me"); // who does this token belong to? (401 if no one)
  sessionStorage.setItem("server", server);
  sessionStorage.setItem("token", token);
  $("whoami").textContent = `Signed in as ${me.name} (user ${me.id})`;
  $("status").value = me.status;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  $("sign-out").hidden = false;
  await refresh();
  listen(); // not awaited: it runs as long as I am signed in
}

function signOut() {
  token = me = shownIds = null;
  sessionStorage.removeItem("token");
  live?.abort();
  setConnection("off", "offline");
  $("whoami").textContent = "Not signed in";
  $("signed-out").hidden = false;
  $("signed-in").hidden = true;
  $("sign-out").hidden = true;
}

// --- what the page shows -------------------------------------------------------------------

async function refresh() {
  await Promise.all([showUsers(), showInbox()]);
}

// Every user (allPages("/users?limit=100")):
//   - in #users, a row <tr> each: <td>name</td><td>status</td>; yours with class="me";
//   - in the #recipient list, a first <option value=""> "Choose someone…", then an <option> per
//     other user (never yourself: you would write to yourself by mistake), with the user's name,
//     and the id as its value; keep the recipient chosen before, across refreshes.
// Text only: element(), or textContent. Never innerHTML with a name or a status.
async function showUsers() {
  const users = await allPages("/users?limit=100");
  $("users").replaceChildren(...users.map((user) => {
    const row = element("tr", undefined, user.id === me.id ? "me" : "");
    row.append(element("td", user.name), element("td", user.status));
    return row;
  }));
  const recipient = $("recipient");
  const chosen = recipient.value; // keep the choice across refreshes
  const others = users.filter((user) => user.id !== me.id);
  const choose = element("option", others.length ? "Choose someone…" : "Nobody else yet");
  choose.value = "";
  recipient.replaceChildren(choose, ...others.map((user) => {
    const option = element("option", user.name);
    option.value = user.id;
    return option;
  }));
  if (others.some((user) => String(user.id) === chosen)) recipient.value = chosen;
}

// My inbox (the first 50 messages, newest first): GET /users/<my id>/messages?limit=50.
//   - #unread says "2 unread" (or nothing when all are read);
//   - #inbox gets one <li class="conversation"> per sender (in the order of their newest
//     message), holding an <h3> with the sender's name and an <ol> of messageItem()s;
//   - #inbox-empty shows when there is no message at all (hidden otherwise).
async function showInbox() {
  const page = await api("GET", `/users/${me.id}/messages?limit=50`);
  const unread = page.items.filter((message) => !message.read).length;
  $("unread").textContent = unread ? `${unread} unread` : "";
  const bySender = new Map(); // a Map keeps the order in which senders are first seen: newest first
  for (const message of page.items) {
    if (!bySender.has(message.sender_id)) bySender.set(message.sender_id, []);
    bySender.get(message.sender_id).push(message);
  }
  $("inbox").replaceChildren(...[...bySender.values()].map((messages) => {
    const conversation = element("li", undefined, "conversation");
    const list = element("ol");
    list.append(...messages.map(messageItem));
    conversation.append(element("h3", messages[0].sender_name), list);
    return conversation;
  }));
  $("inbox-empty").hidden = page.items.length > 0;
  markFresh(page.items);
}

// The messages that were not on the page before get class "fresh" (style.css makes them glow).
function markFresh(messages) {
  if (shownIds) {
    for (const message of messages.filter((m) => !shownIds.has(m.id))) {
      document.querySelector(`#inbox .message[data-id="${message.id}"]`)?.classList.add("fresh");
    }
  }
  shownIds = new Set(messages.map((message) => message.id));
}

// One message, as <li class="message"> (class "message unread" if it is unread), holding
// <p class="meta">From <sender's name>, <when></p>, <p class="text"><the text></p>, a button
// "Mark read" (for an unread message) calling markRead(message), and a button "Delete" calling
// deleteMessage(message), each through attempt(). Text only, never innerHTML.
function messageItem(message) {
  const item = element("li", undefined, message.read ? "message" : "message unread");
  item.dataset.id = message.id;
  const when = new Date(message.created_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  item.append(element("p", `From ${message.sender_name}, ${when}`, "meta"), element("p", message.text, "text"));
  if (!message.read) {
    const read = element("button", "Mark read");
    read.type = "button";
    read.addEventListener("click", () => attempt(() => markRead(message)));
    item.append(read);
  }
  const remove = element("button", "Delete");
  remove.type = "button";
  remove.addEventListener("click", () => attempt(() => deleteMessage(message)));
  item.append(remove);
  return item;
}

// --- what the forms and buttons do ------------------------------------------------------------

// PATCH /users/<my id> with {"status": <the #status field>}; keep the answer in me;
// show("notice", "Status updated."); then showUsers().
async function updateStatus() {
  me = await api("PATCH", `/users/${me.id}`, { status: $("status").value });
  show("notice", "Status updated.");
  await showUsers();
}

// POST /users/<the #recipient chosen>/messages with {"text": <the #text field>};
// then empty the #text field, and show("notice", "Message <its id> sent.").
async function sendMessage() {
  if (!$("recipient").value) throw new Error("Choose who to write to, in the list To.");
  const message = await api("POST", `/users/${$("recipient").value}/messages`, { text: $("text").value });
  $("text").value = "";
  show("notice", `Message ${message.id} sent.`);
}

// PATCH /users/<my id>/messages/<its id> with {"read": true}; then showInbox().
async function markRead(message) {
  await api("PATCH", `/users/${me.id}/messages/${message.id}`, { read: true });
  await showInbox();
}

// DELETE /users/<my id>/messages/<its id>; then showInbox().
async function deleteMessage(message) {
  await api("DELETE", `/users/${me.id}/messages/${message.id}`);
  await showInbox();
}

// --- live: the events stream ----------------------------------------------------------------------

// #connection shows the stream's state: "off", "connecting", "live" or "retrying" (style.css colours each).
function setConnection(state, text) {
  $("connection").dataset.state = state;
  $("connection").textContent = text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Read a text/event-stream answer: call onEvent({id, event, data}) for each event, until the stream
// ends (or throw if the connection breaks); an error in onEvent shows in #error. Each event is
// lines "field: value", then an empty line;
// lines starting with ":" are comments (the server's heartbeats). "retry:" sets retryMs.
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { id: null, event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "retry") retryMs = Number(text) || retryMs;
        else if (name === "data") event.data += event.data ? `\n${text}` : text;
        else if (name === "id" || name === "event") event[name] = text;
      }
      if (!event.data) continue;
      try {
        onEvent(event);
      } catch (error) {
        showError(error); // a mistake in handling one event: shown, and the stream goes on
      }
    }
  }
}

// Keep the live stream open while signed in. The browser's EventSource cannot send the
// Authorization header (only cookies), so fetch() it: GET <server>/api/v1/events with the
// token, plus the header Last-Event-ID: <lastEventId> once there is one (the server then
// sends what was missed). In a loop, until live.signal is aborted (signOut() does it):
//   - setConnection("connecting", "connecting…"); fetch, with { headers, signal: live.signal };
//   - a 401: signOut() and stop; another error status: as a broken connection (below);
//   - a 200: setConnection("live", "live"), then readEvents(response, ...): keep each event's
//     id in lastEventId (when it has one), and pass the event to handleEvent();
//   - when the stream ends, or breaks (fetch or readEvents throws): setConnection("retrying",
//     "reconnecting…"), sleep(retryMs), and go round again. (Once aborted, just stop.)
async function listen() {
  live?.abort(); // one stream at a time
  live = new AbortController();
  const signal = live.signal;
  while (!signal.aborted) {
    setConnection("connecting", "connecting…");
    try {
      const headers = { Authorization: `Bearer ${token}` };
      if (lastEventId !== null) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch(`${server}/api/v1/events`, { headers, signal });
      if (response.status === 401) {
        signOut();
        return;
      }
      if (response.ok) {
        setConnection("live", "live");
        await readEvents(response, (event) => {
          if (event.id !== null) lastEventId = event.id;
          handleEvent(event);
        });
      }
    } catch (error) {
      // the connection broke (or was aborted): try again below, unless aborted
    }
    if (signal.aborted) return;
    setConnection("retrying", "reconnecting…");
    await sleep(retryMs);
  }
}

// What an event changes on the page. event.event is its type, event.data its JSON (JSON.parse it):
//   - "message": a message to me (data.recipient_id is my id): showInbox(). One I sent (from
//     another page) concerns me too, but it is not in my inbox: nothing to show;
//   - "read": a message to me marked read or unread (from another page): showInbox();
//   - "status": someone's status changed: showUsers();
//   - "ready" (the stream is open: something may have come before) and "reset" (the server
//     forgot what I missed): refresh() everything.
// Each through attempt(): an error shows in #error.
function handleEvent(event) {
  const data = JSON.parse(event.data);
  if ((event.event === "message" || event.event === "read") && data.recipient_id === me.id) attempt(showInbox);
  else if (event.event === "status") attempt(showUsers);
  else if (event.event === "ready" || event.event === "reset") attempt(refresh);
}

// --- wiring: which function each form and button runs -----------------------------------------

function onSubmit(id, action) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault(); // handle it here, instead of loading another page
    attempt(action);
  });
}

onSubmit("sign-in", () => signIn($("server").value.trim(), $("token").value.trim()));
onSubmit("status-form", updateStatus);
onSubmit("send-form", sendMessage);
$("sign-out").addEventListener("click", () => {
  show("notice", "");
  signOut();
});

onSubmit("register", async () => {
  server = location.origin; // this page's own server
  const { user, token: newToken } = await api("POST", "/users", { name: $("name").value });
  await signIn("", newToken);
  // Shown once: the server keeps only a hash of it.
  show("notice", `Welcome, ${user.name}. Your token, to sign in again later (copy it now): ${newToken}`);
});

if (server) $("server").value = server;
if (server && token) attempt(() => signIn(server, token)); // still signed in from before a reload
