// switchboard.js: a small browser client for Switchboard's client protocol, which is the Centrifugo
// client protocol v2 in its JSON format (docs/PROTOCOL.md). An ES module with no dependencies.
//
//   import { Client } from "/static/switchboard.js";
//   const client = new Client("ws://host:8000/connection/websocket", { data: { name: "Ann" } });
//   const room = client.newSubscription("rooms:lobby");
//   room.addEventListener("publication", (event) => console.log(event.detail.data));
//   room.subscribe();
//   client.connect();
//
// What it does for you:
// - Reconnects after a dropped connection with exponential backoff and jitter (`minReconnectDelay`
//   doubling up to `maxReconnectDelay`), except after a terminal close code (3500-3999, 4500-4999) or
//   `disconnect()`.
// - Answers the server's `{}` pings and closes a connection whose pings stop arriving.
// - In a browser, follows its word on the network: going `offline` ends the connection at once (a
//   socket can otherwise hang unnoticed until the pings stop) and reconnects with backoff as usual;
//   coming back `online` retries at once instead of waiting out the backoff.
// - Remembers each subscription's stream position (offset and epoch) and resubscribes with
//   `recover: true` after a reconnect: the missed publications arrive as ordinary `publication` events
//   right after `subscribed`, whose detail says `recovered: true`. With `recovered: false` some were
//   lost (the gap left history): reload what you show from `history()`.
//
// Events (CustomEvent, fields in `event.detail`):
//   Client:       connecting {code, reason, delay}, connected {client, version}, disconnected {code, reason},
//                 error {error}
//   Subscription: subscribing, subscribed {recovered, wasRecovering, recoverable, offset, epoch},
//                 publication {data, info, offset}, join {info}, leave {info}, unsubscribed {code, reason},
//                 error {error}
// Promises returned by calls reject with a SwitchboardError: `code` is the protocol's error code,
// or 0 when the connection was lost or the reply timed out.

/** An error reply of the protocol, or a call that could not complete. */
export class SwitchboardError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SwitchboardError";
    this.code = code;
  }
}

/** The close codes after which reconnecting would not help (protocol's "terminal" disconnects). */
function isTerminal(code) {
  return (code >= 3500 && code <= 3999) || (code >= 4500 && code <= 4999);
}

function emit(target, type, detail) {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}

/** One connection to a Switchboard server, reconnecting as needed, carrying its subscriptions. */
export class Client extends EventTarget {
  #url;
  #options;
  #socket = null;
  #state = "disconnected";
  #nextId = 1;
  #pending = new Map(); // id -> {resolve, reject, timer}
  #subscriptions = new Map(); // channel -> Subscription
  #attempt = 0;
  #reconnectTimer = null;
  #pingWatchdog = null;
  #pingInterval = 0;
  #answerPings = true;
  #clientId = null;
  #network = null; // the window's online/offline listeners while connecting or connected

  /**
   * @param {string} url  the `/connection/websocket` URL (`ws:` or `wss:`).
   * @param {object} options  `token` (a connection JWT), `data` (connect data; anonymous connections
   *   use `{name}` as their info), `name` (client name), `minReconnectDelay` and `maxReconnectDelay`
   *   (ms, default 500 and 20000), `timeout` (ms to wait for a reply, default 10000),
   *   `maxServerPingDelay` (ms of grace after the ping interval, default 10000).
   */
  constructor(url, options = {}) {
    super();
    this.#url = url;
    this.#options = {
      token: undefined,
      data: undefined,
      name: "switchboard.js",
      minReconnectDelay: 500,
      maxReconnectDelay: 20000,
      timeout: 10000,
      maxServerPingDelay: 10000,
      ...options,
    };
  }

  /** "disconnected", "connecting" or "connected". */
  get state() { return this.#state; }

  /** The id the server gave this connection (changes on every reconnect), or null. */
  get clientId() { return this.#clientId; }

  /** Opens the connection (and keeps it open) until `disconnect()`. */
  connect() {
    if (this.#state !== "disconnected") return;
    this.#attempt = 0;
    this.#watchNetwork(true);
    this.#setState("connecting", { code: 0, reason: "connect called", delay: 0 });
    this.#open();
  }

  /** Closes the connection for good; subscriptions stay and resubscribe on the next `connect()`. */
  disconnect() {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const socket = this.#socket;
    if (socket) {
      this.#transportLost(socket);
      socket.close(1000, "client disconnect");
    }
    if (this.#state !== "disconnected") this.#setState("disconnected", { code: 0, reason: "disconnect called" });
  }

  /** A subscription to `channel`, created unsubscribed; call its `subscribe()`. */
  newSubscription(channel) {
    if (this.#subscriptions.has(channel)) throw new Error(`already have a subscription to '${channel}'`);
    const subscription = new Subscription(this, channel);
    this.#subscriptions.set(channel, subscription);
    return subscription;
  }

  /** The subscription to `channel`, or null. */
  getSubscription(channel) { return this.#subscriptions.get(channel) ?? null; }

  /** Unsubscribes and forgets a subscription. */
  removeSubscription(subscription) {
    subscription.unsubscribe();
    this.#subscriptions.delete(subscription.channel);
  }

  /** Publishes `data` (any JSON value) to `channel`; resolves with the reply (`{}`). */
  publish(channel, data) { return this.call("publish", { channel, data }); }

  /** Who is in `channel`: resolves with `{clientId: {user, client, conn_info, chan_info}}`. */
  async presence(channel) { return (await this.call("presence", { channel })).presence ?? {}; }

  /** Resolves with `{num_clients, num_users}` of `channel`. */
  async presenceStats(channel) {
    const result = await this.call("presence_stats", { channel });
    return { numClients: result.num_clients ?? 0, numUsers: result.num_users ?? 0 };
  }

  /** Resolves with `{publications, offset, epoch}`; options `limit`, `since: {offset, epoch}`, `reverse`. */
  async history(channel, options = {}) {
    const result = await this.call("history", { channel, ...options });
    return { publications: result.publications ?? [], offset: result.offset ?? 0, epoch: result.epoch ?? "" };
  }

  /**
   * Sends one command while connected and resolves with its result (rejects with a SwitchboardError).
   * `onReply(error, result)`, when given, runs synchronously as the reply is read, before any later
   * frame: subscriptions use it so that nothing pushed after a reply is seen before the reply.
   */
  call(method, params, onReply) {
    return new Promise((resolve, reject) => {
      const settle = (error, result) => {
        if (onReply) onReply(error, result);
        if (error) reject(error); else resolve(result);
      };
      if (this.#state !== "connected" && method !== "connect") {
        settle(new SwitchboardError(0, "not connected"));
        return;
      }
      this.#send(method, params, settle);
    });
  }

  #send(method, params, settle) {
    const id = this.#nextId++;
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      settle(new SwitchboardError(0, `no reply to '${method}' within ${this.#options.timeout} ms`));
      // A server that does not answer is treated like a dropped connection.
      if (this.#socket) this.#drop(this.#socket, 4001, "reply timeout");
    }, this.#options.timeout);
    this.#pending.set(id, { settle, timer });
    this.#socket.send(JSON.stringify({ id, [method]: params }));
  }

  #setState(state, detail) {
    this.#state = state;
    if (state === "disconnected") this.#watchNetwork(false);
    emit(this, state, detail);
  }

  #watchNetwork(on) {
    if (typeof window === "undefined" || typeof window.addEventListener !== "function") return;
    if (on && !this.#network) {
      const offline = () => {
        if (this.#socket) this.#drop(this.#socket, 4005, "the browser went offline");
      };
      const online = () => {
        if (this.#state !== "connecting" || this.#reconnectTimer === null) return;
        clearTimeout(this.#reconnectTimer);
        this.#reconnectTimer = null;
        this.#open();
      };
      window.addEventListener("offline", offline);
      window.addEventListener("online", online);
      this.#network = { offline, online };
    } else if (!on && this.#network) {
      window.removeEventListener("offline", this.#network.offline);
      window.removeEventListener("online", this.#network.online);
      this.#network = null;
    }
  }

  #open() {
    const socket = new WebSocket(this.#url);
    this.#socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.#socket) return;
      const params = { name: this.#options.name };
      if (this.#options.token) params.token = this.#options.token;
      if (this.#options.data !== undefined) params.data = this.#options.data;
      this.#send("connect", params, (error, result) => {
        if (error) {
          emit(this, "error", { error });
          // 109 (token expired) and friends: the connection cannot go on without a new token.
          if (error.code === 0) return; // already dropped
          const terminal = error.code !== 100;
          this.#drop(socket, terminal ? 3500 : 4002, `connect failed: ${error.message}`);
          return;
        }
        this.#onConnected(socket, result);
      });
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.#socket) return;
      this.#onFrame(socket, event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.#socket) return;
      this.#transportLost(socket);
      this.#afterClose(event.code, event.reason);
    });
  }

  #onConnected(socket, result) {
    this.#attempt = 0;
    this.#clientId = result.client ?? null;
    this.#pingInterval = (result.ping ?? 0) * 1000;
    this.#answerPings = result.pong !== false;
    this.#armPingWatchdog(socket);
    this.#setState("connected", { client: result.client, version: result.version });
    for (const subscription of this.#subscriptions.values()) subscription._connected();
  }

  #onFrame(socket, data) {
    if (typeof data !== "string") {
      this.#drop(socket, 4003, "binary frame in the JSON protocol");
      return;
    }
    this.#armPingWatchdog(socket);
    for (const line of data.split("\n")) {
      if (line.trim() === "") continue;
      let reply;
      try {
        reply = JSON.parse(line);
      } catch {
        this.#drop(socket, 4003, "the server sent invalid JSON");
        return;
      }
      this.#onReply(socket, reply);
      if (socket !== this.#socket) return;
    }
  }

  #onReply(socket, reply) {
    if (reply === null || typeof reply !== "object") return;
    if (reply.id !== undefined && reply.id !== 0) {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      clearTimeout(pending.timer);
      if (reply.error) {
        pending.settle(new SwitchboardError(reply.error.code, reply.error.message), undefined);
      } else {
        const method = Object.keys(reply).find((key) => key !== "id");
        pending.settle(null, method ? reply[method] ?? {} : {});
      }
      return;
    }
    if (reply.push) {
      const subscription = this.#subscriptions.get(reply.push.channel);
      if (subscription) subscription._push(reply.push);
      return;
    }
    if (Object.keys(reply).length === 0 && this.#answerPings) {
      socket.send("{}");
    }
  }

  // The server pings every `ping` seconds; a connection silent for longer than that plus
  // `maxServerPingDelay` is dead even if the browser has not noticed yet.
  #armPingWatchdog(socket) {
    clearTimeout(this.#pingWatchdog);
    if (this.#pingInterval <= 0) return;
    this.#pingWatchdog = setTimeout(() => {
      if (socket === this.#socket) this.#drop(socket, 4004, "no ping from the server");
    }, this.#pingInterval + this.#options.maxServerPingDelay);
  }

  // Ends `socket` from this side and reconnects (or stops, for a terminal code).
  #drop(socket, code, reason) {
    if (socket !== this.#socket) return;
    this.#transportLost(socket);
    // The close frame gets a code of the application range and no reason (a reason is limited to
    // 123 bytes); the event below carries the real one.
    try { socket.close(code >= 4000 ? code : 4000); } catch { /* already closing */ }
    this.#afterClose(code, reason);
  }

  #transportLost(socket) {
    if (socket !== this.#socket) return;
    this.#socket = null;
    this.#clientId = null;
    clearTimeout(this.#pingWatchdog);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { settle, timer } of pending) {
      clearTimeout(timer);
      settle(new SwitchboardError(0, "connection lost"), undefined);
    }
    for (const subscription of this.#subscriptions.values()) subscription._disconnected();
  }

  #afterClose(code, reason) {
    if (this.#state === "disconnected") return;
    if (isTerminal(code)) {
      this.#setState("disconnected", { code, reason });
      return;
    }
    const cap = Math.min(this.#options.maxReconnectDelay, this.#options.minReconnectDelay * 2 ** this.#attempt);
    const delay = Math.round(cap / 2 + Math.random() * cap / 2);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    this.#setState("connecting", { code, reason, delay });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#state === "connecting") this.#open();
    }, delay);
  }
}

/** A subscription to one channel; keeps its stream position to recover after reconnects. */
export class Subscription extends EventTarget {
  #client;
  #state = "unsubscribed";
  #offset = null;
  #epoch = null;

  constructor(client, channel) {
    super();
    this.#client = client;
    /** The channel's name, e.g. `rooms:lobby`. */
    this.channel = channel;
  }

  /** "unsubscribed", "subscribing" or "subscribed". */
  get state() { return this.#state; }

  /** The last stream position seen: `{offset, epoch}`, or null for a channel without history. */
  get position() { return this.#epoch === null ? null : { offset: this.#offset, epoch: this.#epoch }; }

  /** Subscribes now or as soon as the client is connected, and again after every reconnect. */
  subscribe() {
    if (this.#state !== "unsubscribed") return;
    this.#state = "subscribing";
    emit(this, "subscribing", {});
    if (this.#client.state === "connected") this.#sendSubscribe();
  }

  /** Stops receiving; forgets the stream position. */
  unsubscribe() {
    if (this.#state === "unsubscribed") return;
    const wasSubscribed = this.#state === "subscribed";
    this.#state = "unsubscribed";
    this.#offset = null;
    this.#epoch = null;
    if (wasSubscribed) this.#client.call("unsubscribe", { channel: this.channel }).catch(() => {});
    emit(this, "unsubscribed", { code: 0, reason: "unsubscribe called" });
  }

  publish(data) { return this.#client.publish(this.channel, data); }
  presence() { return this.#client.presence(this.channel); }
  presenceStats() { return this.#client.presenceStats(this.channel); }
  history(options = {}) { return this.#client.history(this.channel, options); }

  _connected() {
    if (this.#state === "subscribing") this.#sendSubscribe();
  }

  _disconnected() {
    if (this.#state === "subscribed") {
      this.#state = "subscribing";
      emit(this, "subscribing", {});
    }
  }

  _push(push) {
    if (push.unsubscribe) {
      const { code = 0, reason = "" } = push.unsubscribe;
      // Codes from 2500 ask the client to subscribe again; lower ones end the subscription.
      if (code >= 2500 && this.#state === "subscribed") {
        this.#state = "subscribing";
        emit(this, "subscribing", {});
        this.#sendSubscribe();
      } else if (this.#state !== "unsubscribed") {
        this.#state = "unsubscribed";
        emit(this, "unsubscribed", { code, reason });
      }
      return;
    }
    if (this.#state !== "subscribed") return;
    if (push.pub) this.#publication(push.pub);
    else if (push.join) emit(this, "join", { info: push.join.info ?? {} });
    else if (push.leave) emit(this, "leave", { info: push.leave.info ?? {} });
  }

  #publication(pub) {
    if (pub.offset !== undefined) this.#offset = pub.offset;
    emit(this, "publication", { data: pub.data, info: pub.info ?? null, offset: pub.offset ?? null, tags: pub.tags ?? null });
  }

  #sendSubscribe() {
    // Ask for recovery and join/leave pushes, as the SDKs' `recoverable` and `joinLeave` options do.
    const params = { channel: this.channel, recoverable: true, join_leave: true };
    const wasRecovering = this.#epoch !== null;
    if (wasRecovering) {
      params.recover = true;
      params.offset = this.#offset;
      params.epoch = this.#epoch;
    }
    this.#client.call("subscribe", params, (error, result) => {
      if (this.#state === "unsubscribed" && !error) {
        // unsubscribe() was called while the subscribe was on its way: undo it on the server too.
        this.#client.call("unsubscribe", { channel: this.channel }).catch(() => {});
        return;
      }
      if (this.#state !== "subscribing") return;
      if (error) {
        if (error.code === 0) return; // the connection dropped: subscribe again once reconnected
        this.#state = "unsubscribed";
        emit(this, "error", { error });
        emit(this, "unsubscribed", { code: error.code, reason: error.message });
        return;
      }
      if (result.recoverable || result.epoch !== undefined) {
        this.#epoch = result.epoch ?? "";
        this.#offset = result.offset ?? 0;
      }
      // Recovered publications come next, oldest first, and end at the reply's offset.
      const publications = result.publications ?? [];
      this.#state = "subscribed";
      emit(this, "subscribed", {
        recovered: result.recovered === true,
        wasRecovering,
        recoverable: result.recoverable === true,
        offset: result.offset ?? 0,
        epoch: result.epoch ?? "",
        missed: publications.length,
      });
      for (const pub of publications) {
        if (this.#state !== "subscribed") return;
        this.#publication(pub);
      }
    }).catch(() => {});
  }
}
