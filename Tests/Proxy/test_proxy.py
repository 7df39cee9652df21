"""Centrifugo's HTTP proxy end to end: centrifuge-python against `switchboard serve`, whose connect,
refresh, subscribe, publish and rpc events go to the aiohttp backend (backend.py) in Centrifugo's
JSON, as an existing Centrifugo backend expects them."""

import asyncio
import json
import time
import uuid

import pytest
import requests
from centrifuge import Client, ClientEventHandler, ClientState, ReplyError, SubscriptionEventHandler


class Events(ClientEventHandler):
    def __init__(self):
        self.connected = []
        self.disconnected = []
        self.errors = []

    async def on_connected(self, ctx):
        self.connected.append(ctx)

    async def on_disconnected(self, ctx):
        self.disconnected.append(ctx)

    async def on_error(self, ctx):
        self.errors.append(ctx)


class Publications(SubscriptionEventHandler):
    def __init__(self):
        self.data = []
        self.subscribed = []

    async def on_publication(self, ctx):
        self.data.append(ctx.pub.data)

    async def on_subscribed(self, ctx):
        self.subscribed.append(ctx)


async def eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


def client(server, session=None, events=None, **kwargs):
    headers = {"User-Agent": "proxy-tests"}
    if session is not None:
        headers["Cookie"] = f"theme=dark; session={session}"
    return Client(server.ws, events=events, headers=headers, max_reconnect_delay=0.5, **kwargs)


async def connected(server, session, events=None):
    c = client(server, session, events)
    await c.connect()
    await c.ready(timeout=5)
    return c


def room(name=None):
    return "rooms:" + (name or uuid.uuid4().hex[:10])


# --- connect -----------------------------------------------------------------------------------------


async def test_the_session_cookie_authenticates_through_the_backend(server, backend):
    events = Events()
    alice = await connected(server, "alice-session", events)
    assert await eventually(lambda: events.connected)
    assert events.connected[0].data == {"welcome": "alice"}
    request = backend.requests("/centrifugo/connect")[-1]
    assert "session=alice-session" in request["headers"]["Cookie"]
    assert request["headers"]["User-Agent"] == "proxy-tests"
    body = request["body"]
    assert body["client"] == alice.client_id
    assert (body["transport"], body["protocol"], body["encoding"], body["name"]) == ("websocket", "json", "json", "python")
    # The user the backend named is who the server sees: the rpc proxy gets it.
    assert (await alice.rpc("whoami", {})).data == {"user": "alice"}
    await alice.disconnect()


async def test_a_backend_error_passes_through_to_the_client(server):
    events = Events()
    c = client(server, "no-such-session", events)
    await c.connect()
    assert await eventually(lambda: events.disconnected)
    assert (events.disconnected[0].code, events.disconnected[0].reason) == (1001, "no valid session")
    assert c.state == ClientState.DISCONNECTED


async def test_a_backend_disconnect_closes_the_connection_with_its_code(server):
    events = Events()
    c = client(server, "kick", events)
    await c.connect()
    assert await eventually(lambda: events.disconnected)
    assert (events.disconnected[0].code, events.disconnected[0].reason) == (4501, "banned")
    await c.disconnect()


async def test_an_out_of_range_error_code_is_a_backend_failure(server):
    events = Events()
    c = client(server, "bad-code", events)
    await c.connect()
    assert await eventually(lambda: events.errors)
    error = events.errors[0].error
    assert (error.code, error.temporary) == (100, True)
    await c.disconnect()
    assert "outside 400" in server.log_text()


async def test_a_slow_backend_gives_a_temporary_error_not_a_hung_connection(server):
    events = Events()
    c = client(server, "slow", events)
    started = time.monotonic()
    await c.connect()
    assert await eventually(lambda: events.errors, timeout=5)
    assert time.monotonic() - started < 3
    error = events.errors[0].error
    # The client learns neither the backend's address nor what went wrong; the log says both.
    assert (error.code, error.message, error.temporary) == (100, "internal server error", True)
    await c.disconnect()
    assert "/centrifugo/connect" in server.log_text() and "timeout" in server.log_text()


async def test_a_backend_that_is_down_gives_a_temporary_error_and_a_log_line(down_server):
    events = Events()
    c = client(down_server, "alice-session", events)
    started = time.monotonic()
    await c.connect()
    assert await eventually(lambda: events.errors, timeout=5)
    assert time.monotonic() - started < 3
    error = events.errors[0].error
    assert (error.code, error.temporary) == (100, True)
    assert c.state != ClientState.CONNECTED
    await c.disconnect()
    assert await eventually(lambda: "/centrifugo/connect" in down_server.log_text())
    assert "unreachable" in down_server.log_text()


def test_a_unidirectional_connection_is_authenticated_by_its_cookie(server, backend):
    response = requests.post(f"{server.http}/connection/uni_http_stream", data="{}", stream=True, timeout=(5, 10),
                             headers={"Cookie": "session=bob-session"})
    try:
        assert response.status_code == 200
        first = json.loads(next(response.iter_lines()))
        assert first["connect"]["data"] == {"welcome": "bob"}
        request = backend.requests("/centrifugo/connect")[-1]
        assert request["body"]["transport"] == "uni_http_stream"
        assert request["headers"]["Cookie"] == "session=bob-session"
    finally:
        response.close()


# --- refresh -----------------------------------------------------------------------------------------


async def test_an_expiring_connection_is_refreshed_by_the_backend(server, backend):
    events = Events()
    erin = await connected(server, "expiring", events)
    assert await eventually(lambda: any(r["body"].get("user") == "erin" for r in backend.requests("/centrifugo/refresh")), timeout=10)
    await asyncio.sleep(1)
    assert erin.state == ClientState.CONNECTED and events.disconnected == []
    await erin.disconnect()


async def test_an_expiring_subscription_is_refreshed_by_the_backend(server, backend):
    erin = await connected(server, "alice-session")
    channel = room("expiring-" + uuid.uuid4().hex[:6])
    seen = Publications()
    sub = erin.new_subscription(channel, events=seen)
    await sub.subscribe()
    await sub.ready(timeout=5)
    assert await eventually(lambda: any(r["body"].get("channel") == channel for r in backend.requests("/centrifugo/sub_refresh")), timeout=10)
    request = [r["body"] for r in backend.requests("/centrifugo/sub_refresh") if r["body"].get("channel") == channel][0]
    assert (request["user"], request["client"]) == ("alice", erin.client_id)
    await asyncio.sleep(1)
    assert erin.state == ClientState.CONNECTED and len(seen.subscribed) == 1
    await erin.disconnect()


# --- subscribe and publish ---------------------------------------------------------------------------


async def test_subscribe_goes_to_the_backend_which_may_refuse(server, backend):
    alice = await connected(server, "alice-session")
    channel = room()
    seen = Publications()
    sub = alice.new_subscription(channel, events=seen)
    await sub.subscribe()
    await sub.ready(timeout=5)
    received = backend.requests("/centrifugo/subscribe")[-1]
    request = received["body"]
    assert (request["channel"], request["user"], request["client"]) == (channel, "alice", alice.client_id)
    # The connection's configured headers go with every proxy request, as in Centrifugo v5.
    assert "session=alice-session" in received["headers"]["Cookie"]
    assert await eventually(lambda: seen.subscribed)
    assert seen.subscribed[0].data == {"motd": "hello alice"}

    secret = alice.new_subscription(room("secret"))
    with pytest.raises(Exception):
        await secret.subscribe()
        await secret.ready(timeout=5)
    await alice.disconnect()


async def test_a_namespace_without_proxy_follows_its_configuration(server, backend):
    before = len(backend.requests("/centrifugo/subscribe"))
    alice = await connected(server, "alice-session")
    sub = alice.new_subscription("plain:" + uuid.uuid4().hex[:8])
    await sub.subscribe()
    await sub.ready(timeout=5)
    assert len(backend.requests("/centrifugo/subscribe")) == before
    await alice.disconnect()


async def test_publish_data_is_replaced_by_the_backend(server, backend):
    alice = await connected(server, "alice-session")
    bob = await connected(server, "bob-session")
    channel = room()
    seen = Publications()
    sub_b = bob.new_subscription(channel, events=seen)
    await sub_b.subscribe()
    await sub_b.ready(timeout=5)
    sub_a = alice.new_subscription(channel)
    await sub_a.subscribe()
    await sub_a.ready(timeout=5)
    await sub_a.publish({"text": "hello"})
    assert await eventually(lambda: seen.data == [{"text": "HELLO", "by": "alice"}])
    request = backend.requests("/centrifugo/publish")[-1]["body"]
    assert (request["channel"], request["user"], request["data"]) == (channel, "alice", {"text": "hello"})
    with pytest.raises(ReplyError) as refused:
        await sub_a.publish({"text": "forbidden"})
    assert (refused.value.code, refused.value.message) == (1403, "mind your language")
    await alice.disconnect()
    await bob.disconnect()


# --- rpc ---------------------------------------------------------------------------------------------


async def test_rpc_goes_to_the_backend(server, backend):
    alice = await connected(server, "alice-session")
    assert (await alice.rpc("sum", {"a": 2, "b": 3})).data == {"sum": 5}
    received = backend.requests("/centrifugo/rpc")[-1]
    request = received["body"]
    assert (request["method"], request["user"], request["data"]) == ("sum", "alice", {"a": 2, "b": 3})
    assert received["headers"]["User-Agent"] == "proxy-tests"
    with pytest.raises(ReplyError) as failed:
        await alice.rpc("fail", {})
    assert (failed.value.code, failed.value.message, failed.value.temporary) == (1500, "it failed", True)
    await alice.disconnect()


async def test_rpc_failures_of_the_backend_are_temporary_errors(server):
    alice = await connected(server, "alice-session")
    started = time.monotonic()
    with pytest.raises(ReplyError) as slow:
        await alice.rpc("slow", {})
    assert (slow.value.code, slow.value.message, slow.value.temporary) == (100, "internal server error", True)
    assert time.monotonic() - started < 2.5
    with pytest.raises(ReplyError) as garbage:
        await alice.rpc("garbage", {})
    assert garbage.value.code == 100
    assert alice.state == ClientState.CONNECTED
    await alice.disconnect()
    log = server.log_text()
    assert "/centrifugo/rpc" in log and "not a JSON object" in log


async def test_rpc_disconnect_passes_through(server):
    events = Events()
    alice = await connected(server, "alice-session", events)
    with pytest.raises(Exception):
        await alice.rpc("kick", {}, timeout=3)
    assert await eventually(lambda: events.disconnected)
    assert (events.disconnected[0].code, events.disconnected[0].reason) == (4502, "kicked by rpc")
    await alice.disconnect()
