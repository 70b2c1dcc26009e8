// The instructor's dashboard: the roster, refreshed every few seconds, and the class's settings.
//
// The instructor token comes after # in the address the server printed
// (/class#TOKEN): the browser never sends that part to the server, so it is
// in no log. The page moves it to sessionStorage and out of the address bar.
// Every name and status is shown with textContent: students type them.

const API = "/class/api";
const REFRESH_SECONDS = 3;
const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem("instructor-token");
let timer = null;

if (location.hash.length > 1) {
  token = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname); // out of the address bar (and of screenshots)
}

async function call(method, path, body) {
  const options = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, options);
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    const error = new Error(data ? `${data.status} ${data.error}: ${data.message}` : `${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response;
}

function show(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return new Date(iso).toLocaleString();
}

function setConnection(state, text) {
  $("connection").dataset.state = state;
  $("connection").textContent = text;
}

function row(user, steps) {
  const tr = element("tr");
  const name = element("th", user.name);
  name.scope = "row";
  const done = Object.entries(steps).map(([step, label]) => {
    const badge = element("span", label, user.steps[step] ? "step done" : "step");
    badge.title = user.steps[step] ? `${label}: ${new Date(user.steps[step]).toLocaleString()}` : `${label}: not yet`;
    return badge;
  });
  const stepCell = element("td", undefined, "steps");
  stepCell.append(...done);
  const last = element("td", ago(user.last_request_at));
  if (user.last_request_at) last.title = user.last_request_at;
  tr.append(name, element("td", user.status || "—", user.status ? "" : "muted"), last,
            element("td", user.sent, "number"), element("td", user.received, "number"), stepCell);
  return tr;
}

function render(data) {
  const users = data.users;
  const stepCount = Object.keys(data.steps).length;
  const finished = users.filter((u) => Object.values(u.steps).filter(Boolean).length === stepCount).length;
  $("summary").textContent = `${users.length} students · ${finished} with every step · ` +
    `registration ${data.registration_open ? "open" : "closed"}`;
  $("registration").checked = data.registration_open;
  $("students").replaceChildren(...users.map((user) => row(user, data.steps)));
  $("empty").hidden = users.length > 0;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const data = await (await call("GET", "/roster")).json();
    render(data);
    setConnection("live", `updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (error.status === 401 || error.status === 403) return signOut(error.message);
    setConnection("retrying", "server unreachable: retrying");
  }
  timer = setTimeout(refresh, REFRESH_SECONDS * 1000);
}

async function signIn(newToken) {
  token = newToken;
  await call("GET", "/roster"); // 401 or 403 if it is not the instructor token
  sessionStorage.setItem("instructor-token", token);
  $("sign-in").hidden = true;
  $("board").hidden = false;
  await refresh();
}

function signOut(message) {
  token = null;
  clearTimeout(timer);
  sessionStorage.removeItem("instructor-token");
  $("sign-in").hidden = false;
  $("board").hidden = true;
  setConnection("off", "offline");
  show("error", message || "");
}

async function attempt(action) {
  show("error", "");
  try {
    await action();
  } catch (error) {
    show("error", error.message);
  }
}

async function download(response, filename) {
  const link = element("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  link.click();
  URL.revokeObjectURL(link.href);
}

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  attempt(() => signIn($("token").value.trim()));
});

$("registration").addEventListener("change", () => attempt(async () => {
  await call("POST", "/registration", { open: $("registration").checked });
  show("notice", `Registration is now ${$("registration").checked ? "open" : "closed"}.`);
  await refresh();
}));

$("export").addEventListener("click", () => attempt(async () => {
  await download(await call("GET", "/roster.csv"), "roster.csv");
}));

$("tokens").addEventListener("click", () => attempt(async () => {
  if (!confirm("Give every student a new token? Their current tokens stop working at once.")) return;
  await download(await call("POST", "/tokens.csv", { confirm: "NEW TOKENS" }), "class-tokens.csv");
  show("notice", "New tokens made: class-tokens.csv is the only copy of them.");
}));

$("reset").addEventListener("click", () => attempt(async () => {
  if (!confirm("Reset the class? Every message and status is deleted; the accounts stay.")) return;
  await call("POST", "/reset", { confirm: "RESET" });
  show("notice", "The class was reset.");
  await refresh();
}));

if (token) attempt(() => signIn(token));
