"""The embedding example, end to end: its own pages and login, Switchboard's protocol connections
authenticated by the app's session cookie through the connect hook, RPC answered by the rpc hook,
publishing from the app's route handler, the app's own WebSocket on the same port, and a graceful
SIGTERM."""

import asyncio
import json
import signal
import time
import uuid

import requests
import websockets
from centrifuge import Client, ClientEventHandler, ClientState, SubscriptionEventHandler
from centrifuge.exceptions import ReplyError

from conftest import App


def value(data):
    """Received data as a value: JSON clients get the value, Protobuf clients the JSON's bytes."""
    return json.loads(data) if isinstance(data, (bytes, bytearray)) else data


def payload(fmt, data):
    """What a client sends as data on its format: the value on JSON, its JSON's bytes on Protobuf."""
    return json.dumps(data).encode() if fmt == "protobuf" else data


async def eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


class Events(ClientEventHandler):
    def __init__(self):
        self.disconnected = []
        self.connecting = []
        self.publications = []

    async def on_disconnected(self, ctx):
        self.disconnected.append(ctx)

    async def on_connecting(self, ctx):
        self.connecting.append(ctx)

    async def on_publication(self, ctx):  # the server-side subscription (news:announcements)
        self.publications.append((ctx.channel, ctx.pub))


class Room(SubscriptionEventHandler):
    def __init__(self):
        self.publications = []

    async def on_publication(self, ctx):
        self.publications.append(ctx.pub)


def unique_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def client(app, fmt, session=None, events=None):
    headers = {"Cookie": f"session={session}"} if session else None
    return Client(app.protocol_url, events=events, use_protobuf=fmt == "protobuf", headers=headers)


async def connected(app, fmt, session, events=None):
    c = client(app, fmt, session, events)
    await c.connect()
    await c.ready(timeout=5)
    return c


# --- The app's own routes --------------------------------------------------------------------------


def test_the_page_is_the_apps_own(app):
    anonymous = requests.get(app.http + "/", timeout=5)
    assert anonymous.status_code == 200
    assert anonymous.headers["Content-Type"].startswith("text/html")
    assert 'action="/login"' in anonymous.text

    session = app.login("<dora>")
    page = requests.get(app.http + "/", cookies={"session": session}, timeout=5)
    assert "&lt;dora&gt;" in page.text and "<dora>" not in page.text, "the name is escaped"
    assert "/realtime/connection/websocket" in page.text
    # Switchboard's own pages are off (tutorialEndpoints = false); its health is under the prefix.
    assert requests.get(app.http + "/realtime/", timeout=5).status_code == 404
    assert requests.get(app.http + "/realtime/health", timeout=5).json()["status"] == "ok"


def test_login_sets_an_http_only_session_cookie_and_logout_ends_it(app):
    response = requests.post(app.http + "/login", data={"name": "erin"}, allow_redirects=False, timeout=5)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert requests.post(app.http + "/login", data={"name": "  "}, allow_redirects=False, timeout=5).status_code == 400

    session = response.cookies["session"]
    out = requests.post(app.http + "/logout", cookies={"session": session}, allow_redirects=False, timeout=5)
    assert out.status_code == 303
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    page = requests.get(app.http + "/", cookies={"session": session}, timeout=5)
    assert 'action="/login"' in page.text, "the session is gone"


async def test_the_apps_own_websocket_shares_the_port(app):
    async with websockets.connect(app.ws("/app/echo"), open_timeout=5) as ws:
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), 5) == "echo: hi"
        # Switchboard's connections come and go on the same port meanwhile.
        c = await connected(app, "json", app.login("frank"))
        await c.disconnect()
        await ws.send("again")
        assert await asyncio.wait_for(ws.recv(), 5) == "echo: again"


# --- Connecting with the app's session (the connect hook) ------------------------------------------


async def test_a_logged_in_user_connects_as_themselves(app, fmt):
    name = unique_name("alice")
    c = await connected(app, fmt, app.login(name))
    assert c.state == ClientState.CONNECTED
    whoami = await c.rpc("whoami", payload(fmt, {}))
    assert value(whoami.data) == {"user": name, "info": {"name": name}}

    sub = c.new_subscription("rooms:" + uuid.uuid4().hex[:8], Room())
    await sub.subscribe()
    await sub.ready(timeout=5)
    presence = await sub.presence()
    assert [(p.user, value(p.conn_info)) for p in presence.clients.values()] == [(name, {"name": name})]
    await c.disconnect()


async def test_without_a_session_the_connection_is_refused_for_good(app, fmt):
    for session in (None, "not-a-session"):
        events = Events()
        c = client(app, fmt, session, events)
        await c.connect()
        assert await eventually(lambda: c.state == ClientState.DISCONNECTED)
        assert events.disconnected[0].code == 4501
        assert events.disconnected[0].reason == "login required"
        await asyncio.sleep(0.3)
        assert c.state == ClientState.DISCONNECTED, "4501 is final: the SDK does not reconnect"
        assert len(events.connecting) == 1


async def test_logout_disconnects_the_users_connections(app, fmt):
    session = app.login(unique_name("gina"))
    events = Events()
    c = await connected(app, fmt, session, events)
    requests.post(app.http + "/logout", cookies={"session": session}, allow_redirects=False, timeout=5)
    assert await eventually(lambda: c.state == ClientState.DISCONNECTED)
    assert (events.disconnected[0].code, events.disconnected[0].reason) == (4501, "logged out")


def sse_events(response):
    """The JSON of each `data:` line of an event stream."""
    for line in response.iter_lines():
        if line.startswith(b"data: "):
            yield json.loads(line[len(b"data: "):])


def test_the_session_cookie_also_authenticates_a_unidirectional_stream(app):
    """The connect hook sees uni_sse's request too: an EventSource on the app's page would send the
    cookie the same way."""
    name = unique_name("uma")
    session = app.login(name)
    with requests.get(app.http + "/realtime/connection/uni_sse", cookies={"session": session}, stream=True, timeout=5) as stream:
        assert stream.status_code == 200
        events = sse_events(stream)
        connected = next(events)["connect"]
        assert "news:announcements" in connected["subs"]
        requests.post(app.http + "/announce", cookies={"session": session}, json={"text": "by stream"}, timeout=5)
        pushed = next(events)
        assert pushed["channel"] == "news:announcements"
        assert pushed["pub"]["data"] == {"text": "by stream", "from": name}

    with requests.get(app.http + "/realtime/connection/uni_sse", stream=True, timeout=5) as refused:
        assert next(sse_events(refused)) == {"disconnect": {"code": 4501, "reason": "login required"}}


# --- RPC (the rpc hook) ----------------------------------------------------------------------------


async def test_rpc_sum_and_its_errors(app, fmt):
    c = await connected(app, fmt, app.login(unique_name("hank")))
    result = await c.rpc("sum", payload(fmt, {"a": 1, "b": 2}))
    assert value(result.data) == {"sum": 3}
    assert value((await c.rpc("sum", payload(fmt, {"a": -40, "b": 2}))).data) == {"sum": -38}

    for method, data, code in [("sum", {"a": "1"}, 107), ("nope", {}, 104)]:
        try:
            await c.rpc(method, payload(fmt, data))
            raise AssertionError(f"{method} {data} was answered")
        except ReplyError as error:
            assert error.code == code, (method, error.code, error.message)
    assert c.state == ClientState.CONNECTED, "an RPC error leaves the connection as it was"
    await c.disconnect()


# --- Publishing from the app's route handler, channels configured in code --------------------------


async def test_announce_from_a_route_handler_reaches_every_user(app, fmt):
    name = unique_name("ivy")
    session = app.login(name)
    events = Events()
    c = await connected(app, fmt, session, events)  # subscribed to news:announcements by the connect hook

    response = requests.post(app.http + "/announce", cookies={"session": session}, json={"text": "lunch!"}, timeout=5)
    assert response.status_code == 200, response.text
    offset = response.json()["offset"]
    assert isinstance(offset, int) and offset >= 1
    assert await eventually(lambda: events.publications)
    channel, pub = events.publications[0]
    assert channel == "news:announcements"
    assert value(pub.data) == {"text": "lunch!", "from": name}
    assert pub.offset == offset

    assert requests.post(app.http + "/announce", json={"text": "x"}, timeout=5).status_code == 401, "only users announce"
    # news is read-only for clients.
    try:
        await c.publish("news:announcements", payload(fmt, {"text": "forged"}))
        raise AssertionError("a client published into news")
    except ReplyError as error:
        assert error.code == 103
    await c.disconnect()


async def test_users_chat_in_rooms(app, fmt):
    room = "rooms:" + uuid.uuid4().hex[:8]
    alice, bob = unique_name("alice"), unique_name("bob")
    a = await connected(app, fmt, app.login(alice))
    b = await connected(app, fmt, app.login(bob))
    heard = Room()
    b_sub = b.new_subscription(room, heard)
    await b_sub.subscribe()
    await b_sub.ready(timeout=5)
    a_sub = a.new_subscription(room, Room())
    await a_sub.subscribe()
    await a_sub.ready(timeout=5)
    await a_sub.publish(payload(fmt, {"text": "hello bob"}))
    assert await eventually(lambda: heard.publications)
    assert value(heard.publications[0].data) == {"text": "hello bob"}
    assert heard.publications[0].info.user == alice
    await a.disconnect()
    await b.disconnect()


# --- Shutdown --------------------------------------------------------------------------------------


async def test_sigterm_closes_protocol_connections_with_3001_and_exits_0():
    app = App("sigterm")
    try:
        session = app.login("judy")
        protocol = await websockets.connect(
            app.protocol_url, additional_headers={"Cookie": f"session={session}"}, open_timeout=5
        )
        await protocol.send(json.dumps({"id": 1, "connect": {}}))
        reply = json.loads(await asyncio.wait_for(protocol.recv(), 5))
        assert reply["connect"]["client"]
        echo = await websockets.connect(app.ws("/app/echo"), open_timeout=5)
        await echo.send("still here")
        assert await asyncio.wait_for(echo.recv(), 5) == "echo: still here"

        app.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(protocol.wait_closed(), 10)
        assert (protocol.close_code, protocol.close_reason) == (3001, "shutdown")
        await asyncio.wait_for(echo.wait_closed(), 10)
        assert await asyncio.to_thread(app.process.wait, 15) == 0
    finally:
        app.stop()
