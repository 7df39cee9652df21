// The chat app at `/`: pick a nickname and a room; the room is the channel `rooms:<room>`.
// It shows who is online (presence, kept current by join/leave), the room's recent history on
// entering, and after a dropped connection it reconnects and recovers what was missed.
// The room is in the URL (`/?room=lobby`) and the nickname in this tab's sessionStorage, so a reload
// re-enters the same room; a shared link opens on "Join #lobby" asking only for a nickname.
// The client ids this tab connected with are kept in sessionStorage too, so its own messages are
// marked as such, also in the history shown after a reload. Messages carry the sender's time
// (`{text, time}`, time in ms since the epoch); one without a time shows when it arrived.
// The connection state is shown in words ("Connecting…", "Connected", "Reconnecting…", "Offline"),
// never as close codes. Every text from the network is shown with textContent, never as HTML.
import { Client } from "./switchboard.js";

const HISTORY_LIMIT = 50;
const NAME_KEY = "switchboard.nickname";
const CLIENTS_KEY = "switchboard.clientIds";
const CLIENTS_KEPT = 200;
const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const $ = (id) => document.getElementById(id);
const statusLabel = $("status");
const joinForm = $("join-form");
const roomView = $("room-view");
const sendForm = $("send-form");
const input = $("message-text");
const sendButton = $("send-button");
const list = $("messages");
const presenceList = $("presence");
const presencePanel = $("presence-panel");

let session = null;

// What the status badge says in each state of the connection (class, text).
const STATES = {
  connecting: ["connecting", "Connecting…"],
  open: ["open", "Connected"],
  reconnecting: ["connecting", "Reconnecting…"],
  offline: ["offline", "Offline — messages will arrive when reconnected"],
  closed: ["closed", "Disconnected"],
  outside: ["closed", "Not in the room"],
};

/** Shows the connection's state; `null` (not in a room) shows nothing at all. */
function setConnection(state) {
  statusLabel.hidden = state === null;
  if (state === null) {
    delete document.body.dataset.connection;
    presencePanel.classList.remove("stale");
    return;
  }
  const [className, text] = STATES[state];
  statusLabel.className = "status " + className;
  statusLabel.textContent = text;
  document.body.dataset.connection = state;
  // Who is online is only known while connected: the list shown is greyed as the last one known.
  presencePanel.classList.toggle("stale", state !== "open");
  presencePanel.title = state === "open" ? "" : "Who was online when last connected";
}

// The client ids this tab has had (a new one on every connection), oldest first.
const myClients = new Set(readClients());

function readClients() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(CLIENTS_KEY) ?? "[]");
    return Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
  } catch {
    return [];
  }
}

function rememberClient(id) {
  if (typeof id !== "string" || id === "" || myClients.has(id)) return;
  myClients.add(id);
  for (const old of myClients) {
    if (myClients.size <= CLIENTS_KEPT) break;
    myClients.delete(old);
  }
  sessionStorage.setItem(CLIENTS_KEY, JSON.stringify([...myClients]));
}

/** When a publication was sent: the sender's time, else now for a live one, else unknown (null). */
function sentAt(data, fromHistory) {
  const time = data?.time;
  // A sender's clock ahead of this one is shown as now rather than in the future.
  if (typeof time === "number" && Number.isFinite(time) && time > 0) return new Date(Math.min(time, Date.now()));
  return fromHistory ? null : new Date();
}

function timeElement(date) {
  const element = document.createElement("time");
  element.dateTime = date.toISOString();
  element.title = date.toLocaleString();
  const clock = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = date.toDateString() === new Date().toDateString();
  element.textContent = today ? clock : `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${clock}`;
  return element;
}

function enableSending(on) {
  input.disabled = !on;
  sendButton.disabled = !on;
}

function nameOf(info) {
  const name = info?.conn_info?.name;
  if (typeof name === "string" && name !== "") return name;
  if (info?.user) return info.user;
  return info ? "anonymous" : "server";
}

/**
 * The WebSocket URL of an endpoint of the server this script came from, under the path Switchboard
 * is served at (this file is `<prefix>/static/app.js`), so the page works mounted under a prefix.
 */
function webSocketURL(path) {
  const url = new URL("../" + path, import.meta.url);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** One visit to one room: its connection, subscription and what the page shows of it. */
class RoomSession {
  constructor(name, room) {
    this.name = name;
    this.room = room;
    this.members = new Map(); // client id -> name
    this.epoch = null; // the stream shown
    this.lastOffset = 0; // highest offset shown
    this.buffer = null; // publications held back while history loads
    this.retrying = false; // a reconnect attempt is under way since the connection was lost
    this.client = new Client(webSocketURL("connection/websocket"), { data: { name } });
    this.subscription = this.client.newSubscription("rooms:" + room);
    this.#listen();
    this.subscription.subscribe();
    this.client.connect();
  }

  leave() {
    this.client.disconnect();
  }

  #listen() {
    const client = this.client;
    const subscription = this.subscription;
    client.addEventListener("connecting", ({ detail }) => {
      enableSending(false);
      if (this !== session) return;
      if (detail.delay === 0) {
        setConnection("connecting");
      } else {
        // The first try after losing the connection is "Reconnecting…"; once a try has failed (or
        // the browser knows it has no network: switchboard.js then drops the connection at once),
        // the wait may be long: say what it means.
        setConnection(this.retrying || !navigator.onLine ? "offline" : "reconnecting");
        this.retrying = true;
      }
    });
    client.addEventListener("connected", ({ detail }) => {
      rememberClient(detail.client);
      document.body.dataset.clientId = detail.client;
      this.retrying = false;
    });
    client.addEventListener("disconnected", ({ detail }) => {
      enableSending(false);
      if (this !== session) return;
      setConnection("closed");
      const why = detail.reason ? `: ${detail.reason}` : "";
      if (detail.code) this.note(`The server closed the connection${why}. Reload the page to join again.`);
    });
    client.addEventListener("error", ({ detail }) => this.note(`Could not connect: ${detail.error.message}`));

    subscription.addEventListener("subscribing", () => enableSending(false));
    subscription.addEventListener("subscribed", ({ detail }) => this.#entered(detail));
    subscription.addEventListener("publication", ({ detail }) => this.#received(detail));
    subscription.addEventListener("join", ({ detail }) => {
      this.members.set(detail.info.client, nameOf(detail.info));
      this.#renderPresence();
      this.note(`${nameOf(detail.info)} joined`);
    });
    subscription.addEventListener("leave", ({ detail }) => {
      this.members.delete(detail.info.client);
      this.#renderPresence();
      this.note(`${nameOf(detail.info)} left`);
    });
    subscription.addEventListener("unsubscribed", ({ detail }) => {
      enableSending(false);
      if (this !== session || !detail.code) return;
      // The server refused or ended the subscription: connected, but no longer in the room.
      setConnection("outside");
      this.note(`Left the room: ${detail.reason}`);
    });
    subscription.addEventListener("error", ({ detail }) => this.note(`Could not enter the room: ${detail.error.message}`));
  }

  #entered(detail) {
    setConnection("open");
    enableSending(true);
    if (!detail.wasRecovering) {
      input.focus();
      this.#loadHistory(detail.epoch);
    } else if (detail.recovered) {
      const missed = detail.missed === 1 ? "1 missed message" : `${detail.missed} missed messages`;
      this.note(`Reconnected: ${missed} recovered`);
    } else {
      // (After the history is cleared for a new stream, so that the note stays.)
      this.#loadHistory(detail.epoch);
      this.note("Reconnected, but some messages were lost: showing the room's recent history");
    }
    this.#loadPresence();
  }

  #received(publication) {
    if (this.buffer) this.buffer.push(publication);
    else this.#show(publication, false);
  }

  // Shows the last HISTORY_LIMIT publications, then what arrived meanwhile, each offset once.
  async #loadHistory(epoch) {
    if (this.epoch !== null && this.epoch !== epoch) {
      // A new stream: its offsets start again, so what is shown cannot be matched against it.
      list.replaceChildren();
      this.lastOffset = 0;
    }
    this.epoch = epoch;
    this.buffer = this.buffer ?? [];
    try {
      const { publications } = await this.subscription.history({ limit: HISTORY_LIMIT, reverse: true });
      for (const publication of publications.reverse()) this.#show(publication, true);
    } catch (error) {
      this.note(`Could not load the room's history: ${error.message}`);
    }
    const held = this.buffer;
    this.buffer = null;
    for (const publication of held) this.#show(publication, false);
  }

  async #loadPresence() {
    try {
      const presence = await this.subscription.presence();
      this.members = new Map(Object.values(presence).map((info) => [info.client, nameOf(info)]));
      this.#renderPresence();
    } catch (error) {
      this.note(`Could not load who is online: ${error.message}`);
    }
  }

  #show(publication, fromHistory) {
    const offset = publication.offset ?? null;
    if (offset !== null) {
      if (offset <= this.lastOffset) return;
      this.lastOffset = offset;
    }
    const data = publication.data;
    const text = typeof data === "string" ? data : (typeof data?.text === "string" ? data.text : JSON.stringify(data));
    const item = document.createElement("li");
    item.className = fromHistory ? "message history" : "message";
    if (myClients.has(publication.info?.client)) item.classList.add("own");
    if (offset !== null) item.dataset.offset = String(offset);
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = nameOf(publication.info);
    meta.append(author);
    const date = sentAt(data, fromHistory);
    if (date) meta.append(timeElement(date));
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    item.append(meta, body);
    this.#append(item);
  }

  /** Adds a line of the page's own (join, leave, reconnect, errors) to the messages. */
  note(text) {
    if (this !== session) return;
    const item = document.createElement("li");
    item.className = "system";
    item.textContent = text;
    this.#append(item);
  }

  #append(item) {
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  #renderPresence() {
    const mine = this.client.clientId;
    const entries = [...this.members.entries()].sort((a, b) => a[1].localeCompare(b[1]));
    presenceList.replaceChildren(...entries.map(([client, name]) => {
      const item = document.createElement("li");
      item.textContent = client === mine ? `${name} (you)` : name;
      if (client === mine) item.className = "me";
      return item;
    }));
    $("online-count").textContent = String(this.members.size);
  }
}

/** The join form: for a room given by a link ("Join #room", only a nickname to type) or for any room. */
function showJoinForm(linkedRoom) {
  const title = linkedRoom ? `Join #${linkedRoom}` : "Pick a nickname and a room";
  $("join-title").textContent = title;
  $("join-button").textContent = linkedRoom ? "Join" : "Enter";
  $("room-field").hidden = linkedRoom !== null;
  $("other-room").hidden = linkedRoom === null;
  if (linkedRoom) $("room").value = linkedRoom;
  document.title = linkedRoom ? `${title} · Switchboard chat` : "Switchboard chat";
  roomView.hidden = true;
  joinForm.hidden = false;
  setConnection(null);
  $("nickname").focus();
}

function enter(name, room) {
  sessionStorage.setItem(NAME_KEY, name);
  history.replaceState(null, "", "?room=" + encodeURIComponent(room));
  document.title = `#${room} · Switchboard chat`;
  $("room-name").textContent = room;
  $("room-link").href = "?room=" + encodeURIComponent(room);
  $("my-name").textContent = name;
  list.replaceChildren();
  presenceList.replaceChildren();
  $("online-count").textContent = "0";
  joinForm.hidden = true;
  roomView.hidden = false;
  setConnection("connecting");
  session = new RoomSession(name, room);
}

function leave() {
  const leaving = session;
  session = null;
  leaving?.leave();
  history.replaceState(null, "", "./");
  showJoinForm(null);
}

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("nickname").value.trim();
  const room = $("room").value.trim();
  if (name === "" || !joinForm.reportValidity()) return;
  enter(name, room);
});

sendForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value;
  if (!session || text.trim() === "") return;
  input.value = "";
  try {
    await session.subscription.publish({ text, time: Date.now() });
  } catch (error) {
    input.value = text;
    session?.note(`Not sent: ${error.message}`);
  }
});

$("leave-button").addEventListener("click", leave);

// Enter the room in the URL straight away when this tab already has a nickname (e.g. on reload);
// a link to a room (`/?room=lobby`) opens on "Join #lobby".
const params = new URLSearchParams(location.search);
const savedName = sessionStorage.getItem(NAME_KEY) ?? "";
const roomParam = params.get("room") ?? "";
const linkedRoom = ROOM_PATTERN.test(roomParam) ? roomParam : null;
$("nickname").value = savedName;
if (savedName !== "" && linkedRoom) {
  enter(savedName, linkedRoom);
} else {
  showJoinForm(linkedRoom);
  // A room name in the link that is not one: offered in the form, which says what is wrong with it.
  if (!linkedRoom && roomParam !== "") $("room").value = roomParam;
}
