/// The app's page: a login form, or a small chat in `rooms:lobby` with the app's announcements. The
/// chat speaks the Centrifugo JSON protocol with the browser's own WebSocket (no SDK): the browser
/// sends the `session` cookie with the upgrade, and the connect hook knows who it is.
enum Page {
    static func html(user: String?) -> String {
        guard let user else {
            return page(
                """
                <form method="post" action="/login">
                  <input name="name" placeholder="your name" maxlength="32" required autofocus>
                  <button>Log in</button>
                </form>
                """
            )
        }
        return page(
            """
            <form method="post" action="/logout">Logged in as <b id="me">\(escaped(user))</b> <button>Log out</button></form>
            <ul id="messages"></ul>
            <form id="say"><input id="text" placeholder="say something in rooms:lobby" autocomplete="off" required> <button>Send</button></form>
            <form id="announce"><input id="news" placeholder="announce to everyone" required> <button>Announce</button></form>
            <script>
            const log = document.getElementById("messages");
            const show = (line) => { const li = document.createElement("li"); li.textContent = line; log.append(li); };
            const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/realtime/connection/websocket`);
            let id = 0;
            const send = (command) => ws.send(JSON.stringify({ id: ++id, ...command }));
            ws.onopen = () => send({ connect: {} });
            ws.onclose = (e) => show(`disconnected: ${e.code} ${e.reason}`);
            ws.onmessage = (e) => {
              for (const line of e.data.split("\\n").filter(Boolean)) {
                const reply = JSON.parse(line);
                if (Object.keys(reply).length === 0) { ws.send("{}"); continue; }  // ping → pong
                if (reply.connect) { show(`connected as ${reply.connect.client}`); send({ subscribe: { channel: "rooms:lobby" } }); }
                if (reply.subscribe) show("joined rooms:lobby");
                if (reply.error) show(`error ${reply.error.code}: ${reply.error.message}`);
                const pub = reply.push && reply.push.pub;
                if (pub) show(`${reply.push.channel}: ${pub.info ? pub.info.user + ": " : ""}${JSON.stringify(pub.data)}`);
              }
            };
            document.getElementById("say").onsubmit = (e) => {
              e.preventDefault();
              const input = document.getElementById("text");
              send({ publish: { channel: "rooms:lobby", data: { text: input.value } } });
              input.value = "";
            };
            document.getElementById("announce").onsubmit = async (e) => {
              e.preventDefault();
              const input = document.getElementById("news");
              await fetch("/announce", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: input.value }) });
              input.value = "";
            };
            </script>
            """
        )
    }

    private static func page(_ body: String) -> String {
        """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Switchboard example</title></head>
        <body><h1>Switchboard example</h1>
        \(body)
        </body></html>
        """
    }

    private static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
