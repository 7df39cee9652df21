// The chat app at `/`: pick a nickname and a room; the room is the channel `rooms:<room>`.
// It shows who is online (presence, kept current by join/leave), the room's recent history on
// entering, and after a dropped connection it reconnects and recovers what was missed.
// The room is in the URL (`/?room=lobby`) and the nickname in this tab's sessionStorage, so a reload
// re-enters the same room. Every text from the network is shown with textContent, never as HTML.
import { Client } from "./switchboard.js";

const HISTORY_LIMIT = 50;
const NAME_KEY = "switchboard.nickname";

const $ = (id) => document.getElementById(id);
const statusLabel = $("status");
const joinForm = $("join-form");
const roomView = $("room-view");
const sendForm = $("send-form");
const input = $("message-text");
const sendButton = $("send-button");
const list = $("messages");
const presenceList = $("presence");

let session = null;

function setStatus(state, text) {
  statusLabel.className = "status " + state;
  statusLabel.textContent = text;
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
      if (detail.delay > 0) {
        const why = detail.reason ? ` (${detail.code} ${detail.reason})` : ` (${detail.code})`;
        setStatus("connecting", `reconnecting in ${(detail.delay / 1000).toFixed(1)} s${why}`);
      } else {
        setStatus("connecting", "connecting…");
      }
    });
    client.addEventListener("connected", ({ detail }) => {
      document.body.dataset.clientId = detail.client;
      setStatus("connecting", "joining the room…");
    });
    client.addEventListener("disconnected", ({ detail }) => {
      enableSending(false);
      if (this !== session) return;
      const why = detail.code ? `: ${detail.code} ${detail.reason}` : "";
      setStatus("closed", `disconnected${why}`);
      if (detail.code) this.note(`Disconnected${why}. Reload the page to try again.`);
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
      if (detail.code) this.note(`Left the room: ${detail.reason} (${detail.code})`);
    });
    subscription.addEventListener("error", ({ detail }) => this.note(`Could not enter the room: ${detail.error.message}`));
  }

  #entered(detail) {
    setStatus("open", "connected");
    enableSending(true);
    input.focus();
    if (!detail.wasRecovering) {
      this.#loadHistory(detail.epoch);
    } else if (detail.recovered) {
      const missed = detail.missed === 1 ? "1 missed message" : `${detail.missed} missed messages`;
      this.note(`Reconnected: ${missed} recovered`);
    } else {
      this.note("Reconnected, but some messages were lost: showing the room's recent history");
      this.#loadHistory(detail.epoch);
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
    if (offset !== null) item.dataset.offset = String(offset);
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = nameOf(publication.info) + ":";
    item.append(author, " " + text);
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

function enter(name, room) {
  sessionStorage.setItem(NAME_KEY, name);
  history.replaceState(null, "", "?room=" + encodeURIComponent(room));
  document.title = `#${room} · Switchboard chat`;
  $("room-name").textContent = room;
  $("my-name").textContent = name;
  list.replaceChildren();
  presenceList.replaceChildren();
  $("online-count").textContent = "0";
  joinForm.hidden = true;
  roomView.hidden = false;
  session = new RoomSession(name, room);
}

function leave() {
  const leaving = session;
  session = null;
  leaving?.leave();
  history.replaceState(null, "", "./");
  document.title = "Switchboard chat";
  roomView.hidden = true;
  joinForm.hidden = false;
  setStatus("closed", "not connected");
  $("nickname").focus();
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
    await session.subscription.publish({ text });
  } catch (error) {
    input.value = text;
    session?.note(`Not sent: ${error.message}`);
  }
});

$("leave-button").addEventListener("click", leave);

// Enter the room in the URL straight away when this tab already has a nickname (e.g. on reload).
const params = new URLSearchParams(location.search);
const savedName = sessionStorage.getItem(NAME_KEY) ?? "";
const roomParam = params.get("room") ?? "";
$("nickname").value = savedName;
if (roomParam !== "") $("room").value = roomParam;
if (savedName !== "" && /^[A-Za-z0-9_-]{1,64}$/.test(roomParam)) enter(savedName, roomParam);
else $("nickname").focus();
