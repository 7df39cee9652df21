// The tutorial's chat page, made to work wherever it is served from: it connects to /ws/{id} on
// the same host and port the page came from (under the path Switchboard is served at: this script
// is <prefix>/static/tutorial.js), and shows every message with textContent (never as HTML).
(function () {
  "use strict";
  const base = new URL("../", document.currentScript.src);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  const clientId = Math.floor(Math.random() * 1000000000);
  const idLabel = document.getElementById("client-id");
  const statusLabel = document.getElementById("status");
  const form = document.getElementById("send-form");
  const input = document.getElementById("message-text");
  const sendButton = document.getElementById("send-button");
  const reconnectButton = document.getElementById("reconnect-button");
  const list = document.getElementById("messages");
  idLabel.textContent = String(clientId);
  let socket = null;

  function addMessage(text, kind) {
    const item = document.createElement("li");
    item.textContent = text;
    if (kind) item.className = kind;
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function setStatus(state, text) {
    statusLabel.className = "status " + state;
    statusLabel.textContent = text;
    const open = state === "open";
    input.disabled = !open;
    sendButton.disabled = !open;
    reconnectButton.hidden = state !== "closed";
  }

  function connect() {
    socket = new WebSocket(new URL("ws/" + clientId, base).href);
    setStatus("connecting", "connecting…");
    socket.addEventListener("open", function () {
      setStatus("open", "connected");
      input.focus();
    });
    socket.addEventListener("message", function (event) {
      addMessage(typeof event.data === "string" ? event.data : "(binary message)");
    });
    socket.addEventListener("close", function (event) {
      const reason = event.reason ? ": " + event.reason : "";
      setStatus("closed", "disconnected (" + event.code + reason + ")");
      addMessage("Disconnected (code " + event.code + reason + ")", "system");
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!socket || socket.readyState !== WebSocket.OPEN || input.value === "") return;
    socket.send(input.value);
    input.value = "";
  });
  reconnectButton.addEventListener("click", connect);
  connect();
})();
