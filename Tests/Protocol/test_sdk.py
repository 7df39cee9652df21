"""Switchboard against the real Centrifugo SDKs: centrifuge-python (client protocol, in the JSON and
the Protobuf format) and cent (HTTP server API). Nothing here is Switchboard-specific: the code is
what the SDKs' documentation shows. The server is started by scripts/test.sh, which passes its
address and keys in the environment: SWITCHBOARD_URL (http://127.0.0.1:PORT), SWITCHBOARD_SECRET
(HS256), SWITCHBOARD_API_KEY. The server's configuration is Tests/Protocol/switchboard.json.

Every test runs once per client format (the `fmt` fixture, conftest.py): a Protobuf app publishes
its JSON as bytes (`fmt.payload`) and receives the JSON's bytes (`value` reads either).
"""

import asyncio

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
from centrifuge import ClientEventHandler, ClientState, SubscriptionState

from helpers import BASE, WS_URL, ClientRecorder, Recorder, api, eventually, frame, replies, room, subscribed, token, value

# Each test once per format, also those that do not take `fmt` themselves.
pytestmark = pytest.mark.usefixtures("fmt")


# --- Connection and tokens -------------------------------------------------------------------------


async def test_valid_token_connects_with_its_user(fmt):
    client = await fmt.connected("alice")
    assert client.state == ClientState.CONNECTED
    assert client.client_id
    channel = room()
    sub = await subscribed(client, channel)
    presence = await sub.presence()
    assert [info.user for info in presence.clients.values()] == ["alice"]
    await client.disconnect()


async def test_forged_token_is_refused_for_good(fmt):
    events = ClientRecorder()
    forged = jwt.encode({"sub": "mallory"}, "not-the-secret-but-long-enough-32b", algorithm="HS256")
    client = fmt.client(events=events, token=forged)
    await client.connect()
    assert await eventually(lambda: client.state == ClientState.DISCONNECTED)
    assert events.disconnected[0].code == 3500
    assert "invalid token" in events.disconnected[0].reason


async def test_expired_token_asks_for_a_new_one(fmt):
    fresh = token("bob")
    calls = []

    async def get_token():
        calls.append(1)
        return fresh

    client = fmt.client(token=token("bob", ttl=-10), get_token=get_token)
    await client.connect()
    await client.ready(timeout=5)  # the expired token got error 109; the SDK fetched another
    assert calls == [1]
    await client.disconnect()


async def test_an_expiring_connection_and_subscription_are_refreshed_in_time(fmt):
    """Tokens that expire in 2 s: the SDK refreshes both (refresh, sub_refresh) before the server
    would close the connection (3005) or end the subscription (3006)."""
    connection_tokens, subscription_tokens = [], []

    async def get_token():
        connection_tokens.append(1)
        return token("kim", ttl=2)

    async def get_subscription_token(channel):
        subscription_tokens.append(channel)
        return token("kim", ttl=2, channel=channel)

    events = ClientRecorder()
    client = fmt.client(events=events, token=token("kim", ttl=2), get_token=get_token)
    await client.connect()
    await client.ready(timeout=5)
    seen = Recorder()
    await subscribed(client, "private:kim", seen, get_token=get_subscription_token)
    await asyncio.sleep(4.5)
    assert len(connection_tokens) >= 1 and len(subscription_tokens) >= 2  # the first subscribe, then refreshes
    assert client.state == ClientState.CONNECTED and events.disconnected == []
    assert seen.unsubscribed == []
    api().publish(PublishRequest(channel="private:kim", data="still here"))
    assert await eventually(lambda: seen.values == ["still here"])
    await client.disconnect()


async def test_token_channels_are_subscribed_on_connect(fmt):
    channel = room()
    published = []

    class Events(ClientEventHandler):
        async def on_publication(self, ctx):
            published.append((ctx.channel, value(ctx.pub.data)))

    client = fmt.client(events=Events(), token=token("carol", channels=[channel]))
    await client.connect()
    await client.ready(timeout=5)
    api().publish(PublishRequest(channel=channel, data={"n": 1}))
    assert await eventually(lambda: published == [(channel, {"n": 1})])
    await client.disconnect()


# --- Channels --------------------------------------------------------------------------------------


async def test_publish_reaches_subscribers_with_offsets_and_info(fmt):
    channel = room()
    alice, bob = await fmt.connected("alice"), await fmt.connected("bob")
    seen_a, seen_b = Recorder(), Recorder()
    sub_a = await subscribed(alice, channel, seen_a)
    sub_b = await subscribed(bob, channel, seen_b)
    for i in range(5):
        await sub_a.publish(fmt.payload({"i": i}))
    assert await eventually(lambda: len(seen_b.publications) == 5)
    assert seen_b.values == [{"i": i} for i in range(5)]
    offsets = [p.offset for p in seen_b.publications]
    assert offsets == sorted(offsets) and len(set(offsets)) == 5
    assert seen_b.publications[0].info.user == "alice"
    await alice.disconnect()
    await bob.disconnect()


async def test_join_leave_and_presence(fmt):
    channel = room()
    alice = await fmt.connected("alice")
    seen = Recorder()
    # Join and leave pushes come to subscriptions that ask for them (the namespace allows them).
    sub = await subscribed(alice, channel, seen, join_leave=True)
    bob = await fmt.connected("bob")
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


async def test_history_limit_reverse_and_since(fmt):
    channel = room()
    for i in range(6):
        api().publish(PublishRequest(channel=channel, data=i))
    client = await fmt.connected("dave")
    sub = await subscribed(client, channel)
    full = await sub.history(limit=-1)
    assert [value(p.data) for p in full.publications] == list(range(6))
    assert full.offset == 6
    latest = await sub.history(limit=2, reverse=True)
    assert [value(p.data) for p in latest.publications] == [5, 4]
    from centrifuge import StreamPosition

    since = await sub.history(limit=10, since=StreamPosition(offset=4, epoch=full.epoch))
    assert [value(p.data) for p in since.publications] == [4, 5]
    await client.disconnect()


async def test_permission_errors_are_clear(fmt):
    from centrifuge import ReplyError

    client = await fmt.connected("erin")
    # The default namespace is for the server API only: clients may not publish there.
    with pytest.raises(ReplyError) as denied:
        await client.publish("announcements", fmt.payload({"x": 1}))
    assert denied.value.code == 103
    # An unknown namespace does not exist.
    with pytest.raises(ReplyError) as unknown:
        await client.publish("nosuch:thing", fmt.payload({"x": 1}))
    assert unknown.value.code == 102
    # rpc is not configured.
    with pytest.raises(ReplyError) as rpc:
        await client.rpc("method", fmt.payload({}))
    assert rpc.value.code == 108
    await client.disconnect()


async def test_private_channel_needs_a_subscription_token(fmt):
    client = await fmt.connected("frank")
    refused = Recorder()
    denied = client.new_subscription("private:frank", refused)
    await denied.subscribe()
    assert await eventually(lambda: denied.state == SubscriptionState.UNSUBSCRIBED)

    async def get_token(channel):
        return token("frank", channel=channel)

    seen = Recorder()
    sub = await subscribed(client, "private:frank2", seen, get_token=get_token)
    api().publish(PublishRequest(channel="private:frank2", data="secret"))
    assert await eventually(lambda: [value(p.data) for p in seen.publications] == ["secret"])
    await client.disconnect()


async def test_recovery_after_forced_disconnect_loses_nothing(fmt):
    channel = room()
    events = ClientRecorder()
    client = fmt.client("gina", events, min_reconnect_delay=0.5, max_reconnect_delay=1)
    await client.connect()
    await client.ready(timeout=5)
    seen = Recorder()
    # A subscription that should survive reconnects asks to be recoverable.
    sub = await subscribed(client, channel, seen, recoverable=True)
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
    assert [value(p.data) for p in seen.publications] == list(range(10))
    await client.disconnect()


async def test_bad_commands_get_errors_not_crashes(fmt):
    import websockets

    if fmt.protobuf:
        from centrifuge.protocol import client_pb2 as pb

        async with websockets.connect(WS_URL, subprotocols=["centrifuge-protobuf"]) as ws:
            await ws.send(frame(pb.Command(id=1, connect=pb.ConnectRequest(token=token("hank")))))
            assert replies(await ws.recv())[0].connect.client
            await ws.send(frame(pb.Command(id=2)))  # no method this server knows
            assert replies(await ws.recv())[0].error.code == 104
            await ws.send(frame(pb.Command(id=3, subscribe=pb.SubscribeRequest(channel=""))))
            assert replies(await ws.recv())[0].error.code == 107
            await ws.send(b"\x05not")  # a length beyond the message
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 3501
        return

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


async def test_server_api_methods(fmt):
    client_api = api()
    channel = room()
    user_client = await fmt.connected("ivy")
    seen = Recorder()
    sub = await subscribed(user_client, channel, seen)

    published = client_api.publish(PublishRequest(channel=channel, data={"a": 1}))
    assert published.offset == 1 and published.epoch
    broadcast = client_api.broadcast(BroadcastRequest(channels=[channel, room()], data={"b": 2}))
    assert len(broadcast.responses) == 2 and all(r.error is None for r in broadcast.responses)
    assert await eventually(lambda: [value(p.data) for p in seen.publications] == [{"a": 1}, {"b": 2}])

    presence = client_api.presence(PresenceRequest(channel=channel))
    assert [info.user for info in presence.presence.values()] == ["ivy"]
    stats = client_api.presence_stats(PresenceStatsRequest(channel=channel))
    assert (stats.num_clients, stats.num_users) == (1, 1)

    history = client_api.history(HistoryRequest(channel=channel, limit=10))
    assert [value(p.data) for p in history.publications] == [{"a": 1}, {"b": 2}]
    since = client_api.history(HistoryRequest(channel=channel, limit=10, since=ApiStreamPosition(offset=1, epoch=history.epoch)))
    assert [value(p.data) for p in since.publications] == [{"b": 2}]
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
            got.append(("pub", ctx.channel, value(ctx.pub.data)))

        async def on_unsubscribed(self, ctx):
            got.append(("unsubscribed", ctx.channel))

    other = fmt.client("jack", Events())
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
