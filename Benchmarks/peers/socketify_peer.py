"""The tutorial's endpoints on uWebSockets (through the socketify package), as a second peer.

Same wire behaviour as the FastAPI tutorial for what the benchmark uses: the echo at /ws answers
"Message text was: X"; the chat at /ws/{client_id} answers "You wrote: X" to the sender and
publishes "Client #N says: X" to every member (sender included) and "Client #N left the chat" when
one goes. Broadcasts use uWebSockets' own pub/sub (one topic), which is how a uWS application fans
out. /health answers for the runner. Needs Debian's libuv1.
Run: python socketify_peer.py PORT
"""

import sys

from socketify import App, CompressOptions, OpCode

CHAT = "chat"


def main():
    port = int(sys.argv[1])
    app = App()

    def upgrade_with_path(res, req, socket_context):
        # Keep the path: /ws or /ws/{client_id}.
        res.upgrade(
            req.get_header("sec-websocket-key"),
            req.get_header("sec-websocket-protocol"),
            req.get_header("sec-websocket-extensions"),
            socket_context,
            req.get_url(),
        )

    def echo_message(ws, message, opcode):
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        ws.send(f"Message text was: {text}", OpCode.TEXT)

    def chat_open(ws):
        ws.subscribe(CHAT)

    def chat_message(ws, message, opcode):
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        client_id = ws.get_user_data().rsplit("/", 1)[-1]
        ws.send(f"You wrote: {text}", OpCode.TEXT)
        app.publish(CHAT, f"Client #{client_id} says: {text}", OpCode.TEXT)

    def chat_close(ws, code, message):
        client_id = ws.get_user_data().rsplit("/", 1)[-1]
        app.publish(CHAT, f"Client #{client_id} left the chat", OpCode.TEXT)

    common = {
        "compression": CompressOptions.DISABLED,
        "max_payload_length": 64 * 1024,
        "idle_timeout": 120,
        # The tutorial never drops a slow reader; give uWS room rather than have it close them.
        "max_backpressure": 64 * 1024 * 1024,
        "upgrade": upgrade_with_path,
    }
    app.ws("/ws", {**common, "message": echo_message})
    app.ws("/ws/:client_id", {**common, "open": chat_open, "message": chat_message, "close": chat_close})
    app.get("/health", lambda res, req: res.end('{"status":"ok"}'))
    app.listen(port, lambda config: None)
    app.run()


if __name__ == "__main__":
    main()
