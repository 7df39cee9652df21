// The admin page: log in with the admin password, then the server API through admin/api/{method}.
// Every URL is relative, so the page works under a path prefix and behind a reverse proxy.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "switchboard-admin-token";
const REFRESH_MS = 3000;
let selectedChannel = null;
let refreshTimer = null;

class SessionExpired extends Error {}

async function api(method, params = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(`admin/api/${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `token ${token}` },
    body: JSON.stringify(params),
  });
  if (response.status === 401) throw new SessionExpired();
  const reply = await response.json();
  if (reply.error) throw new Error(`${reply.error.message} (${reply.error.code})`);
  return reply.result;
}

function formatUptime(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(refreshTimer);
  $("dashboard").hidden = true;
  $("logout").hidden = true;
  $("login-form").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("password").focus();
}

function showDashboard() {
  $("login-form").hidden = true;
  $("login-error").hidden = true;
  $("dashboard").hidden = false;
  $("logout").hidden = false;
  refresh();
  clearInterval(refreshTimer);
  refreshTimer = setInterval(refresh, REFRESH_MS);
}

async function guarded(action) {
  try {
    await action();
    $("api-error").hidden = true;
  } catch (error) {
    if (error instanceof SessionExpired) return showLogin("Your session has ended: log in again.");
    $("api-error").textContent = `The server could not be asked: ${error.message}`;
    $("api-error").hidden = false;
  }
}

function renderNodes(nodes) {
  const body = $("nodes").tBodies[0];
  body.replaceChildren();
  for (const node of nodes) {
    const row = body.insertRow();
    row.dataset.uid = node.uid;
    cell(row, node.name);
    cell(row, node.version);
    cell(row, node.num_clients, "number");
    cell(row, node.num_users, "number");
    cell(row, node.num_channels, "number");
    cell(row, node.num_subs, "number");
    cell(row, formatUptime(node.uptime));
    const ready = !node.engine || node.engine.ready;
    cell(row, ready ? "ready" : `unavailable: ${node.engine.reason}`, ready ? "engine" : "engine down");
  }
}

function renderChannels(channels) {
  const body = $("channels").tBodies[0];
  body.replaceChildren();
  const names = Object.keys(channels).sort();
  $("no-channels").hidden = names.length > 0;
  for (const name of names) {
    const row = body.insertRow();
    row.dataset.channel = name;
    if (name === selectedChannel) row.classList.add("selected");
    cell(row, name);
    cell(row, channels[name].num_clients, "number");
    row.addEventListener("click", () => selectChannel(name));
  }
}

async function renderDetail() {
  if (selectedChannel === null) return;
  $("channel-detail").hidden = false;
  $("detail-name").textContent = selectedChannel;
  const presence = $("presence"), history = $("history");
  try {
    const result = await api("presence", { channel: selectedChannel });
    presence.replaceChildren(...Object.values(result.presence).map((client) => {
      const li = document.createElement("li");
      li.textContent = `${client.user || "(anonymous)"} · ${client.client}`;
      return li;
    }));
    $("presence-note").hidden = presence.children.length > 0;
    $("presence-note").textContent = "Nobody.";
  } catch (error) {
    if (error instanceof SessionExpired) throw error;
    presence.replaceChildren();
    $("presence-note").hidden = false;
    $("presence-note").textContent = error.message;
  }
  try {
    const result = await api("history", { channel: selectedChannel, limit: 20, reverse: true });
    history.replaceChildren(...(result.publications || []).map((publication) => {
      const li = document.createElement("li");
      li.value = publication.offset;
      li.textContent = JSON.stringify(publication.data);
      return li;
    }));
    $("history-note").hidden = history.children.length > 0;
    $("history-note").textContent = "No publication kept.";
  } catch (error) {
    if (error instanceof SessionExpired) throw error;
    history.replaceChildren();
    $("history-note").hidden = false;
    $("history-note").textContent = error.message;
  }
}

function selectChannel(name) {
  selectedChannel = name;
  $("publish-channel").value = name;
  for (const row of $("channels").tBodies[0].rows) row.classList.toggle("selected", row.dataset.channel === name);
  guarded(renderDetail);
}

function refresh() {
  return guarded(async () => {
    const [info, channels] = await Promise.all([api("info"), api("channels")]);
    renderNodes(info.nodes);
    renderChannels(channels.channels);
    await renderDetail();
  });
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.submitter;
  if (button) button.disabled = true;
  try {
    const response = await fetch("admin/auth", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: $("password").value }),
    });
    if (response.status === 401) return showLogin("Wrong password.");
    if (!response.ok) return showLogin(`The server refused the login (HTTP ${response.status}).`);
    const reply = await response.json();
    sessionStorage.setItem(TOKEN_KEY, reply.token);
    $("password").value = "";
    showDashboard();
  } catch (error) {
    showLogin(`The server could not be reached: ${error.message}`);
  } finally {
    if (button) button.disabled = false;
  }
});

$("logout").addEventListener("click", () => showLogin());

function report(element, text, failed) {
  element.textContent = text;
  element.classList.toggle("failed", failed);
}

$("publish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const channel = $("publish-channel").value.trim();
  let data;
  try {
    data = JSON.parse($("publish-data").value);
  } catch (error) {
    return report($("publish-result"), `The data is not JSON: ${error.message}`, true);
  }
  try {
    const result = await api("publish", { channel, data });
    const where = result.offset !== undefined ? ` at offset ${result.offset}` : "";
    report($("publish-result"), `Published to ${channel}${where}.`, false);
    if (channel === selectedChannel) guarded(renderDetail);
  } catch (error) {
    if (error instanceof SessionExpired) return showLogin("Your session has ended: log in again.");
    report($("publish-result"), `Not published: ${error.message}`, true);
  }
});

$("disconnect-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = $("disconnect-user").value.trim();
  try {
    await api("disconnect", { user });
    report($("disconnect-result"), `Disconnected ${user} on this node.`, false);
    refresh();
  } catch (error) {
    if (error instanceof SessionExpired) return showLogin("Your session has ended: log in again.");
    report($("disconnect-result"), `Not disconnected: ${error.message}`, true);
  }
});

if (sessionStorage.getItem(TOKEN_KEY)) showDashboard(); else showLogin();
