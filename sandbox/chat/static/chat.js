// The chat page: one WebSocket to /ws/chat, plus GET /api/history for what was said before.
// A server started with --token needs the class token: the page asks for it on a 401.
// Everything from the server is shown with textContent, never innerHTML: a message that
// looks like HTML (<img src=x onerror=...>) stays text and can run nothing.

const $ = (id) => document.getElementById(id);
const shown = new Set(); // ids of the messages on the page: history and live ones may overlap
let socket = null;

function item(className, parts) {
  const li = document.createElement("li");
  li.className = className;
  for (const [cls, text] of parts) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  return li;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function addMessage(m) {
  if (shown.has(m.id)) return;
  shown.add(m.id);
  const li = item("message", [["time", clock(m.time)], ["from", m.from], ["text", m.text]]);
  li.dataset.id = m.id;
  // In id order: the history may arrive after a live message.
  const list = $("messages");
  const later = [...list.querySelectorAll("li.message")].find((other) => Number(other.dataset.id) > m.id);
  list.insertBefore(li, later ?? null);
  list.scrollTop = list.scrollHeight;
}

function addEvent(text) {
  const list = $("messages");
  list.append(item("event", [["text", text]]));
  list.scrollTop = list.scrollHeight;
}

function handle(event) {
  if (event.type === "message") {
    addMessage(event);
  } else if (event.type === "join" || event.type === "leave") {
    addEvent(`${event.name} ${event.type === "join" ? "joined" : "left"}`);
    $("users").textContent = `Online: ${event.users.join(", ")}`;
  } else if (event.type === "error") {
    $("error").textContent = event.message;
  }
}

function token() {
  return $("token").value.trim();
}

async function loadHistory() {
  try {
    const response = await fetch("/api/history", { headers: token() ? { Authorization: `Bearer ${token()}` } : {} });
    if (response.status === 401) {
      $("token-field").hidden = false; // ask for it, with the name
      $("token").required = true;
      $("error").textContent = (await response.json()).message;
      return;
    }
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    for (const m of await response.json()) addMessage(m);
  } catch (error) {
    $("error").textContent = `Could not load the history: ${error.message}`;
  }
}

function setJoined(joined) {
  $("join").hidden = joined;
  $("say").hidden = !joined;
  (joined ? $("text") : $("name")).focus();
}

function join(name) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // A browser cannot add headers to a WebSocket: the token goes in the URL.
  const withToken = token() ? `&token=${encodeURIComponent(token())}` : "";
  socket = new WebSocket(`${scheme}//${location.host}/ws/chat?name=${encodeURIComponent(name)}${withToken}`);
  socket.addEventListener("open", () => {
    $("status").textContent = `Connected as ${name}.`;
    $("error").textContent = "";
    setJoined(true);
    loadHistory();
  });
  socket.addEventListener("message", (e) => handle(JSON.parse(e.data)));
  socket.addEventListener("close", (e) => {
    const why = e.reason ? `: ${e.reason}` : "";
    $("status").textContent = `Disconnected (code ${e.code})${why}.`;
    $("users").textContent = "";
    socket = null;
    setJoined(false);
  });
}

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  join($("name").value.trim());
});

$("say").addEventListener("submit", (e) => {
  e.preventDefault();
  if (socket?.readyState !== WebSocket.OPEN) return;
  socket.send($("text").value);
  $("text").value = "";
  $("error").textContent = "";
});

$("leave").addEventListener("click", () => socket?.close(1000, "left the room"));

loadHistory();
