"""Switchboard against the real Centrifugo SDKs: centrifuge-python (client protocol, JSON) and cent
(HTTP server API). Nothing here is Switchboard-specific: the code is what the SDKs' documentation
shows. The server is started by scripts/test.sh, which passes its address and keys in the
environment: SWITCHBOARD_URL (http://127.0.0.1:PORT), SWITCHBOARD_SECRET (HS256), SWITCHBOARD_API_KEY.
The server's configuration is Tests/Protocol/switchboard.json.
"""

import asyncio
import os
import time
import uuid

import jwt
import pytest
from cent import (
    BatchRequest,
    BroadcastRequest,
    ChannelsRequest,
    Client as ApiClient,
    CentApiResponseError,
    CentUnauthorizedError,
    DisconnectRequest,
    HistoryRemoveRequest,
    HistoryRequest,
    InfoRequest,
    PresenceRequest,
    PresenceStatsRequest,
    PublishRequest,
    StreamPosition as ApiStreamPosition,
    SubscribeRequest,
    UnsubscribeRequest,
)
from cent.dto import Disconnect as ApiDisconnect
from centrifuge import (
    Client,
    ClientEventHandler,
    ClientState,
    SubscriptionEventHandler,
    SubscriptionState,
)

BASE = os.environ["SWITCHBOARD_URL"]
WS_URL = BASE.replace("http://", "ws://") + "/connection/websocket"
SECRET = os.environ["SWITCHBOARD_SECRET"]
API_KEY = os.environ["SWITCHBOARD_API_KEY"]


def token(user, ttl=3600, **claims):
    payload = {"sub": user, "exp": int(time.time()) + ttl, **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


def api():
    return ApiClient(BASE + "/api", API_KEY)


def room():
    return "rooms:" + uuid.uuid4().hex[:10]


async def eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


class Recorder(SubscriptionEventHandler):
    def __init__(self):
        self.publications = []
        self.joins = []
        self.leaves = []
        self.subscribed = []

    async def on_publication(self, ctx):
        self.publications.append(ctx.pub)

    async def on_join(self, ctx):
        self.joins.append(ctx.info)

    async def on_leave(self, ctx):
        self.leaves.append(ctx.info)

    async def on_subscribed(self, ctx):
        self.subscribed.append(ctx)


class ClientRecorder(ClientEventHandler):
    def __init__(self):
        self.disconnected = []
        self.connecting = []
        self.errors = []

    async def on_disconnected(self, ctx):
        self.disconnected.append(ctx)

    async def on_connecting(self, ctx):
        self.connecting.append(ctx)

    async def on_error(self, ctx):
        self.errors.append(ctx)


async def connected(user, events=None, **kwargs):
    client = Client(WS_URL, events=events, token=token(user), **kwargs)
    await client.connect()
    await client.ready(timeout=5)
    return client


async def subscribed(client, channel, events=None, **kwargs):
    """A subscription of `client` to `channel` that the server has confirmed."""
    sub = client.new_subscription(channel, events or Recorder(), **kwargs)
    await sub.subscribe()
    await sub.ready(timeout=5)
    return sub


# --- Connection and tokens -------------------------------------------------------------------------


async def test_valid_token_connects_with_its_user():
    client = await connected("alice")
    assert client.state == ClientState.CONNECTED
    assert client.client_id
    channel = room()
    sub = await subscribed(client, channel)
    presence = await sub.presence()
    assert [info.user for info in presence.clients.values()] == ["alice"]
    await client.disconnect()


async def test_forged_token_is_refused_for_good():
    events = ClientRecorder()
    forged = jwt.encode({"sub": "mallory"}, "not-the-secret-but-long-enough-32b", algorithm="HS256")
    client = Client(WS_URL, events=events, token=forged)
    await client.connect()
    assert await eventually(lambda: client.state == ClientState.DISCONNECTED)
    assert events.disconnected[0].code == 3500
    assert "invalid token" in events.disconnected[0].reason


async def test_expired_token_asks_for_a_new_one():
    fresh = token("bob")
    calls = []

    async def get_token():
        calls.append(1)
        return fresh

    client = Client(WS_URL, token=token("bob", ttl=-10), get_token=get_token)
    await client.connect()
    await client.ready(timeout=5)  # the expired token got error 109; the SDK fetched another
    assert calls == [1]
    await client.disconnect()


async def test_token_channels_are_subscribed_on_connect():
    channel = room()
    published = []

    class Events(ClientEventHandler):
        async def on_publication(self, ctx):
            published.append((ctx.channel, ctx.pub.data))

    client = Client(WS_URL, events=Events(), token=token("carol", channels=[channel]))
    await client.connect()
    await client.ready(timeout=5)
    api().publish(PublishRequest(channel=channel, data={"n": 1}))
    assert await eventually(lambda: published == [(channel, {"n": 1})])
    await client.disconnect()


# --- Channels --------------------------------------------------------------------------------------


async def test_publish_reaches_subscribers_with_offsets_and_info():
    channel = room()
    alice, bob = await connected("alice"), await connected("bob")
    seen_a, seen_b = Recorder(), Recorder()
    sub_a = await subscribed(alice, channel, seen_a)
    sub_b = await subscribed(bob, channel, seen_b)
    for i in range(5):
        await sub_a.publish({"i": i})
    assert await eventually(lambda: len(seen_b.publications) == 5)
    assert [p.data for p in seen_b.publications] == [{"i": i} for i in range(5)]
    offsets = [p.offset for p in seen_b.publications]
    assert offsets == sorted(offsets) and len(set(offsets)) == 5
    assert seen_b.publications[0].info.user == "alice"
    await alice.disconnect()
    await bob.disconnect()


async def test_join_leave_and_presence():
    channel = room()
    alice = await connected("alice")
    seen = Recorder()
    sub = await subscribed(alice, channel, seen)
    bob = await connected("bob")
    sub_b = await subscribed(bob, channel)
    assert await eventually(lambda: [info.user for info in seen.joins] == ["bob"])
    stats = await sub.presence_stats()
    assert (stats.num_clients, stats.num_users) == (2, 2)
    users = sorted(info.user for info in (await sub.presence()).clients.values())
    assert users == ["alice", "bob"]
    await bob.disconnect()
    assert await eventually(lambda: [info.user for info in seen.leaves] == ["bob"])
    assert (await sub.presence_stats()).num_clients == 1
    await alice.disconnect()


async def test_history_limit_reverse_and_since():
    channel = room()
    for i in range(6):
        api().publish(PublishRequest(channel=channel, data=i))
    client = await connected("dave")
    sub = await subscribed(client, channel)
    full = await sub.history(limit=-1)
    assert [p.data for p in full.publications] == list(range(6))
    assert full.offset == 6
    latest = await sub.history(limit=2, reverse=True)
    assert [p.data for p in latest.publications] == [5, 4]
    from centrifuge import StreamPosition

    since = await sub.history(limit=10, since=StreamPosition(offset=4, epoch=full.epoch))
    assert [p.data for p in since.publications] == [4, 5]
    await client.disconnect()


async def test_permission_errors_are_clear():
    from centrifuge import ReplyError

    client = await connected("erin")
    # The default namespace is for the server API only: clients may not publish there.
    with pytest.raises(ReplyError) as denied:
        await client.publish("announcements", {"x": 1})
    assert denied.value.code == 103
    # An unknown namespace does not exist.
    with pytest.raises(ReplyError) as unknown:
        await client.publish("nosuch:thing", {"x": 1})
    assert unknown.value.code == 102
    # rpc is not configured.
    with pytest.raises(ReplyError) as rpc:
        await client.rpc("method", {})
    assert rpc.value.code == 108
    await client.disconnect()


async def test_private_channel_needs_a_subscription_token():
    client = await connected("frank")
    refused = Recorder()
    denied = client.new_subscription("private:frank", refused)
    await denied.subscribe()
    assert await eventually(lambda: denied.state == SubscriptionState.UNSUBSCRIBED)

    async def get_token(channel):
        return token("frank", channel=channel)

    seen = Recorder()
    sub = await subscribed(client, "private:frank2", seen, get_token=get_token)
    api().publish(PublishRequest(channel="private:frank2", data="secret"))
    assert await eventually(lambda: [p.data for p in seen.publications] == ["secret"])
    await client.disconnect()


async def test_recovery_after_forced_disconnect_loses_nothing():
    channel = room()
    events = ClientRecorder()
    client = Client(WS_URL, events=events, token=token("gina"), min_reconnect_delay=0.5, max_reconnect_delay=1)
    await client.connect()
    await client.ready(timeout=5)
    seen = Recorder()
    sub = await subscribed(client, channel, seen)
    for i in range(3):
        api().publish(PublishRequest(channel=channel, data=i))
    assert await eventually(lambda: len(seen.publications) == 3)

    # The server drops the connection (3011: reconnect); meanwhile more is published.
    api().disconnect(DisconnectRequest(user="gina", disconnect=ApiDisconnect(code=3011, reason="force reconnect")))
    assert await eventually(lambda: len(events.connecting) >= 1)
    for i in range(3, 10):
        api().publish(PublishRequest(channel=channel, data=i))

    assert await eventually(lambda: len(seen.subscribed) == 2, timeout=10)
    assert seen.subscribed[1].was_recovering and seen.subscribed[1].recovered
    assert await eventually(lambda: len(seen.publications) == 10)
    assert [p.data for p in seen.publications] == list(range(10))
    await client.disconnect()


async def test_bad_commands_get_errors_not_crashes():
    import websockets

    async with websockets.connect(WS_URL) as ws:
        await ws.send('{"id":1,"connect":{"token":"%s"}}' % token("hank"))
        assert '"client"' in await ws.recv()
        await ws.send('{"id":2,"frobnicate":{}}')
        assert '"code":104' in await ws.recv()
        await ws.send('{"id":3,"subscribe":{"channel":""}}')
        assert '"code":107' in await ws.recv()
        await ws.send("{not json")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 3501


# --- Server API through cent -----------------------------------------------------------------------


async def test_server_api_methods():
    client_api = api()
    channel = room()
    user_client = await connected("ivy")
    seen = Recorder()
    sub = await subscribed(user_client, channel, seen)

    published = client_api.publish(PublishRequest(channel=channel, data={"a": 1}))
    assert published.offset == 1 and published.epoch
    broadcast = client_api.broadcast(BroadcastRequest(channels=[channel, room()], data={"b": 2}))
    assert len(broadcast.responses) == 2 and all(r.error is None for r in broadcast.responses)
    assert await eventually(lambda: [p.data for p in seen.publications] == [{"a": 1}, {"b": 2}])

    presence = client_api.presence(PresenceRequest(channel=channel))
    assert [info.user for info in presence.presence.values()] == ["ivy"]
    stats = client_api.presence_stats(PresenceStatsRequest(channel=channel))
    assert (stats.num_clients, stats.num_users) == (1, 1)

    history = client_api.history(HistoryRequest(channel=channel, limit=10))
    assert [p.data for p in history.publications] == [{"a": 1}, {"b": 2}]
    since = client_api.history(HistoryRequest(channel=channel, limit=10, since=ApiStreamPosition(offset=1, epoch=history.epoch)))
    assert [p.data for p in since.publications] == [{"b": 2}]
    client_api.history_remove(HistoryRemoveRequest(channel=channel))
    assert client_api.history(HistoryRequest(channel=channel, limit=10)).publications == []

    channels = client_api.channels(ChannelsRequest(pattern="rooms:*"))
    assert channels.channels[channel].num_clients == 1
    info = client_api.info(InfoRequest())
    assert info.nodes[0].num_clients >= 1

    # Server-side subscribe and unsubscribe of a user's connections.
    extra = room()
    got = []

    class Events(ClientEventHandler):
        async def on_subscribed(self, ctx):
            got.append(("subscribed", ctx.channel))

        async def on_publication(self, ctx):
            got.append(("pub", ctx.channel, ctx.pub.data))

        async def on_unsubscribed(self, ctx):
            got.append(("unsubscribed", ctx.channel))

    other = Client(WS_URL, events=Events(), token=token("jack"))
    await other.connect()
    await other.ready(timeout=5)
    client_api.subscribe(SubscribeRequest(user="jack", channel=extra))
    assert await eventually(lambda: ("subscribed", extra) in got)
    client_api.publish(PublishRequest(channel=extra, data="hello"))
    assert await eventually(lambda: ("pub", extra, "hello") in got)
    client_api.unsubscribe(UnsubscribeRequest(user="jack", channel=extra))
    assert await eventually(lambda: client_api.presence_stats(PresenceStatsRequest(channel=extra)).num_clients == 0)

    batch = client_api.batch(
        BatchRequest(requests=[PublishRequest(channel=channel, data=3), PresenceStatsRequest(channel=channel)])
    )
    assert len(batch.replies) == 2 and batch.replies[1].num_clients == 1

    with pytest.raises(CentApiResponseError) as unknown:
        client_api.presence(PresenceRequest(channel="nosuch:x"))
    assert unknown.value.code == 102

    client_api.disconnect(DisconnectRequest(user="jack"))
    assert await eventually(lambda: other.state == ClientState.DISCONNECTED)
    await user_client.disconnect()


def test_server_api_refuses_a_wrong_or_missing_key():
    with pytest.raises(CentUnauthorizedError):
        ApiClient(BASE + "/api", "wrong-key").info(InfoRequest())
    import urllib.request
    import urllib.error

    request = urllib.request.Request(BASE + "/api/info", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    assert missing.value.code == 401
