// The messaging web client: plain JavaScript calling the REST API with fetch().
//
// Everything that comes from the server (names, statuses, messages) is shown
// with textContent, which displays text as text: a message such as
// <img src=x onerror=alert(1)> appears as those characters and runs nothing.
// innerHTML would turn it into an element and run its code: never give it data.

const API = "/api/v1";
const REFRESH_SECONDS = 5;

const $ = (id) => document.getElementById(id);

// sessionStorage: the token survives a reload of the page, and is forgotten
// when the tab is closed.
let token = sessionStorage.getItem("token");
let me = null; // the signed-in user: {id, name, status, created_at}
let timer = null;

// One request to the API: the parsed JSON answer, or an Error with the
// server's own explanation (every error is {"status", "error", "message"}).
async function api(method, url, body) {
  const options = { method, headers: {} };
  if (token) options.headers["Authorization"] = `Bearer ${token}`;
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  // "next" links are full URLs; everything else is a path under /api/v1.
  const response = await fetch(url.startsWith("http") ? url : API + url, options);
  if (response.status === 204) return null; // No Content
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(data ? `${data.status} ${data.error}: ${data.message}` : `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// Every item of a paginated list, following the "next" links.
async function all(url) {
  const items = [];
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

// Run what a button or form asks for: clear the last error, show a new one.
async function attempt(action) {
  show("error", "");
  try {
    await action();
  } catch (error) {
    showError(error);
  }
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text; // text, never HTML
  if (className) node.className = className;
  return node;
}

// --- signing in and out ----------------------------------------------------------

async function signIn(newToken) {
  token = newToken;
  me = await api("GET", "/me"); // who does this token belong to? (401 if no one)
  sessionStorage.setItem("token", token);
  $("whoami").textContent = `Signed in as ${me.name} (user ${me.id})`;
  $("status").value = me.status;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  $("sign-out").hidden = false;
  await refresh();
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

// --- what the page shows -------------------------------------------------------------

async function refresh() {
  clearTimeout(timer);
  try {
    await Promise.all([showUsers(), showInbox()]);
  } finally {
    if (me) timer = setTimeout(() => refresh().catch(showError), REFRESH_SECONDS * 1000);
  }
}

async function showUsers() {
  const users = await all("/users?limit=100");
  const rows = users.map((user) => {
    const row = element("tr");
    row.append(element("td", user.id === me.id ? `${user.name} (you)` : user.name), element("td", user.status));
    return row;
  });
  $("users").replaceChildren(...rows);

  const recipient = $("recipient");
  const chosen = recipient.value; // keep the choice across refreshes
  recipient.replaceChildren(...users.map((user) => {
    const option = element("option", user.name);
    option.value = user.id;
    return option;
  }));
  if (chosen) recipient.value = chosen;
}

async function showInbox() {
  const page = await api("GET", `/users/${me.id}/messages?limit=50`);
  const unread = page.items.filter((message) => !message.read).length;
  $("unread").textContent = `(${unread} unread, ${page.total} in all)`;
  $("inbox").replaceChildren(...page.items.map(messageItem));
}

function messageItem(message) {
  const item = element("li", undefined, message.read ? "message" : "message unread");
  item.dataset.id = message.id;
  const when = new Date(message.created_at).toLocaleString();
  item.append(element("p", `From ${message.sender_name}, ${when}`, "meta"), element("p", message.text, "text"));
  if (!message.read) {
    const read = element("button", "Mark read");
    read.type = "button";
    read.addEventListener("click", () => attempt(async () => {
      await api("PATCH", `/users/${me.id}/messages/${message.id}`, { read: true });
      await showInbox();
    }));
    item.append(read);
  }
  const remove = element("button", "Delete");
  remove.type = "button";
  remove.addEventListener("click", () => attempt(async () => {
    await api("DELETE", `/users/${me.id}/messages/${message.id}`);
    await showInbox();
  }));
  item.append(remove);
  return item;
}

// --- forms ---------------------------------------------------------------------------------

function onSubmit(id, action) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault(); // handle it here instead of loading another page
    attempt(action);
  });
}

onSubmit("sign-in", () => signIn($("token").value.trim()));

onSubmit("register", async () => {
  const { user, token: newToken } = await api("POST", "/users", { name: $("name").value });
  await signIn(newToken);
  // Shown once: the server keeps only a hash of it.
  show("notice", `Welcome, ${user.name}. Your token, to sign in again later (copy it now): ${newToken}`);
});

onSubmit("status-form", async () => {
  me = await api("PATCH", `/users/${me.id}`, { status: $("status").value });
  show("notice", "Status updated.");
  await showUsers();
});

onSubmit("send-form", async () => {
  const message = await api("POST", `/users/${$("recipient").value}/messages`, { text: $("text").value });
  $("text").value = "";
  show("notice", `Message ${message.id} sent.`);
});

$("sign-out").addEventListener("click", () => {
  show("notice", "");
  signOut();
});

if (token) attempt(() => signIn(token)); // still signed in from before a reload
