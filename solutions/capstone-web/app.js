// The messaging web client: plain JavaScript calling the REST API with fetch().
//
// The page and the API come from two different servers (two "origins"): the
// browser lets this page read the API's answers because the API says so, with
// the header Access-Control-Allow-Origin: * (CORS).
//
// Everything that comes from the server (names, statuses, messages) is shown
// with textContent, which shows text as text: a message such as
// <img src=x onerror=alert(1)> appears as those characters and runs nothing.
// innerHTML would turn it into an element and run its code: never give it data.
//
// Your part: the functions with a TODO. The rest is given.

const REFRESH_SECONDS = 5;

const $ = (id) => document.getElementById(id);

// sessionStorage: survives a reload of the page, forgotten when the tab closes.
let server = sessionStorage.getItem("server"); // "http://192.168.1.20:8000", from the sign-in form
let token = sessionStorage.getItem("token");
let me = null; // the signed-in user: {id, name, status, created_at}
let timer = null;

// One request to the API: server + "/api/v1" + path, or a full URL (the "next" links).
//   - send the token: the header Authorization: Bearer <token>;
//   - with a body: send it as JSON (JSON.stringify), with Content-Type: application/json;
//   - an error status (response.ok is false): throw new Error(`${status} ${error}: ${message}`),
//     with the fields of the server's JSON error, e.g. "401 Unauthorized: This token belongs to no user...";
//     give the Error a .status too (error.status = 401): showError() signs out on a 401;
//   - return null for 204 No Content (no body), else the parsed JSON (await response.json()).
async function api(method, path, body) {
  // ### BEGIN SOLUTION fetch() with the token (and the JSON body); throw an Error with the server's message; null for a 204
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
  // ### END SOLUTION
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
  // ### BEGIN SOLUTION set server and token, GET /me, show who I am and the signed-in part, then refresh()
  server = serverUrl.replace(/\/+$/, "");
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
  // ### END SOLUTION
}

function signOut() {
  token = me = null;
  sessionStorage.removeItem("token");
  clearTimeout(timer);
  $("whoami").textContent = "Not signed in";
  $("signed-out").hidden = false;
  $("signed-in").hidden = true;
  $("sign-out").hidden = true;
}

// --- what the page shows -------------------------------------------------------------------

async function refresh() {
  clearTimeout(timer);
  try {
    await Promise.all([showUsers(), showInbox()]);
  } finally {
    if (me) timer = setTimeout(() => refresh().catch(showError), REFRESH_SECONDS * 1000);
  }
}

// Every user (allPages("/users?limit=100")):
//   - in #users, a row <tr> each: <td>name</td><td>status</td> (yours may say "(you)");
//   - in the #recipient list, an <option> each, with the user's name, and the id as its value;
//     keep the recipient chosen before, across refreshes.
// Text only: element(), or textContent. Never innerHTML with a name or a status.
async function showUsers() {
  // ### BEGIN SOLUTION fetch every user; replace the rows of #users and the options of #recipient
  const users = await allPages("/users?limit=100");
  $("users").replaceChildren(...users.map((user) => {
    const row = element("tr");
    row.append(element("td", user.id === me.id ? `${user.name} (you)` : user.name), element("td", user.status));
    return row;
  }));
  const recipient = $("recipient");
  const chosen = recipient.value; // keep the choice across refreshes
  recipient.replaceChildren(...users.map((user) => {
    const option = element("option", user.name);
    option.value = user.id;
    return option;
  }));
  if (chosen) recipient.value = chosen;
  // ### END SOLUTION
}

// My inbox (the first 50 messages, newest first): GET /users/<my id>/messages?limit=50.
// #inbox gets one messageItem() per message; #unread says "(2 unread, 5 in all)".
async function showInbox() {
  // ### BEGIN SOLUTION fetch the first page of my inbox; fill #unread and #inbox
  const page = await api("GET", `/users/${me.id}/messages?limit=50`);
  const unread = page.items.filter((message) => !message.read).length;
  $("unread").textContent = `(${unread} unread, ${page.total} in all)`;
  $("inbox").replaceChildren(...page.items.map(messageItem));
  // ### END SOLUTION
}

// One message, as <li class="message"> (class "message unread" if it is unread), holding
// <p class="meta">From <sender's name>, <when></p>, <p class="text"><the text></p>, a button
// "Mark read" (for an unread message) calling markRead(message), and a button "Delete" calling
// deleteMessage(message), each through attempt(). Text only, never innerHTML.
function messageItem(message) {
  // ### BEGIN SOLUTION build the <li> with element(); add the buttons, with their click listeners
  const item = element("li", undefined, message.read ? "message" : "message unread");
  item.dataset.id = message.id;
  const when = new Date(message.created_at).toLocaleString();
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
  // ### END SOLUTION
}

// --- what the forms and buttons do ------------------------------------------------------------

// PATCH /users/<my id> with {"status": <the #status field>}; keep the answer in me;
// show("notice", "Status updated."); then showUsers().
async function updateStatus() {
  // ### BEGIN SOLUTION PATCH my status, keep the answer in me, say so, then showUsers()
  me = await api("PATCH", `/users/${me.id}`, { status: $("status").value });
  show("notice", "Status updated.");
  await showUsers();
  // ### END SOLUTION
}

// POST /users/<the #recipient chosen>/messages with {"text": <the #text field>};
// then empty the #text field, and show("notice", "Message <its id> sent.").
async function sendMessage() {
  // ### BEGIN SOLUTION POST the message to the recipient chosen; clear #text; say which message was sent
  const message = await api("POST", `/users/${$("recipient").value}/messages`, { text: $("text").value });
  $("text").value = "";
  show("notice", `Message ${message.id} sent.`);
  // ### END SOLUTION
}

// PATCH /users/<my id>/messages/<its id> with {"read": true}; then showInbox().
async function markRead(message) {
  // ### BEGIN SOLUTION PATCH {"read": true}, then showInbox()
  await api("PATCH", `/users/${me.id}/messages/${message.id}`, { read: true });
  await showInbox();
  // ### END SOLUTION
}

// DELETE /users/<my id>/messages/<its id>; then showInbox().
async function deleteMessage(message) {
  // ### BEGIN SOLUTION DELETE it, then showInbox()
  await api("DELETE", `/users/${me.id}/messages/${message.id}`);
  await showInbox();
  // ### END SOLUTION
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
$("refresh").addEventListener("click", () => attempt(refresh));
$("sign-out").addEventListener("click", () => {
  show("notice", "");
  signOut();
});

if (server) $("server").value = server;
if (server && token) attempt(() => signIn(server, token)); // still signed in from before a reload
