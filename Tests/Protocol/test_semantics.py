"""What a subscription gets depends on what the app asks for and what the namespace says, as in
Centrifugo: recovery through the SDK's `get_state`, `recoverable`/`positioned` only when asked or
forced, join/leave pushes only to subscribers that ask (or to everyone with
`force_push_join_leave`), the user's personal channel on every connection, and user-limited
channels (`dialog:…#alice,bob`). Each test runs once per client format (`fmt`).

Namespaces (Tests/Protocol/switchboard.json): `rooms` (history, join_leave), `forced`
(history, force_recovery), `everyone` (join_leave, force_push_join_leave), `dialog`
(allow_user_limited_channels), `personal` (subscribe_to_user_personal_channel).
"""

import uuid

from cent import HistoryRequest, PublishRequest
from centrifuge import StreamPosition, SubscriptionState

from helpers import ClientRecorder, Recorder, api, eventually, room, subscribed, unique


def publish_values(channel, values):
    for v in values:
        api().publish(PublishRequest(channel=channel, data=v))


# --- get_state -------------------------------------------------------------------------------------


async def test_get_state_with_an_offset_and_no_epoch_recovers_what_came_after_it(fmt):
    channel = room()
    publish_values(channel, ["a", "b", "c", "d", "e"])  # offsets 1..5
    calls = []

    async def get_state(name):
        # The app's state says it has seen up to offset 3; it did not keep the epoch.
        calls.append(name)
        return StreamPosition(offset=3, epoch="")

    client = await fmt.connected("stella")
    seen = Recorder()
    await subscribed(client, channel, seen, get_state=get_state)
    assert calls == [channel]
    assert seen.subscribed[0].was_recovering and seen.subscribed[0].recovered
    assert await eventually(lambda: seen.values == ["d", "e"])
    assert [p.offset for p in seen.publications] == [4, 5]
    publish_values(channel, ["f"])
    assert await eventually(lambda: seen.values == ["d", "e", "f"])
    await client.disconnect()


async def test_get_state_from_the_start_of_a_new_channel_gets_everything(fmt):
    channel = room()

    async def get_state(name):
        return StreamPosition(offset=0, epoch="")

    client = await fmt.connected("stella")
    seen = Recorder()
    await subscribed(client, channel, seen, get_state=get_state)
    assert seen.subscribed[0].recovered
    publish_values(channel, [1, 2])
    assert await eventually(lambda: seen.values == [1, 2])
    await client.disconnect()


async def test_get_state_in_a_wrong_epoch_gets_112_and_the_sdk_asks_again(fmt):
    channel = room()
    publish_values(channel, ["old1", "old2"])
    calls = []

    async def get_state(name):
        calls.append(name)
        if len(calls) == 1:
            # A position from a stream that no longer exists (say, from before a restart).
            return StreamPosition(offset=1, epoch="an-epoch-that-never-was")
        # Reload the state from the source of truth: here, the stream's current position.
        top = api().history(HistoryRequest(channel=name, limit=0))
        return StreamPosition(offset=top.offset, epoch=top.epoch)

    client = await fmt.connected("stella")
    seen = Recorder()
    sub = client.new_subscription(channel, seen, get_state=get_state)
    await sub.subscribe()
    await sub.ready(timeout=5)
    assert calls == [channel, channel], "the 112 made the SDK load the state again"
    assert len(seen.subscribed) == 1 and seen.subscribed[0].recovered
    assert seen.errors == [] and seen.unsubscribed == []
    assert seen.publications == [], "nothing from the wrong position"
    publish_values(channel, ["new"])
    assert await eventually(lambda: seen.values == ["new"])
    await client.disconnect()


# --- recoverable and positioned --------------------------------------------------------------------


async def test_recoverable_and_positioned_only_when_asked_or_forced(fmt):
    client = await fmt.connected("rita")

    async def context(channel, **kwargs):
        seen = Recorder()
        await subscribed(client, channel, seen, **kwargs)
        return seen.subscribed[0]

    plain = await context(room())
    assert (plain.recoverable, plain.positioned, plain.stream_position) == (False, False, None)

    recoverable = await context(room(), recoverable=True)
    assert (recoverable.recoverable, recoverable.positioned) == (True, False)
    assert recoverable.stream_position.epoch and recoverable.stream_position.offset == 0

    positioned = await context(room(), positioned=True)
    assert (positioned.recoverable, positioned.positioned) == (False, True)
    assert positioned.stream_position.epoch

    forced = await context(unique("forced"))
    assert (forced.recoverable, forced.positioned) == (True, False)
    assert forced.stream_position.epoch

    # Asking in a channel without history gets neither: there is no stream to recover.
    no_history = await context(unique("everyone"), recoverable=True, positioned=True)
    assert (no_history.recoverable, no_history.positioned, no_history.stream_position) == (False, False, None)
    await client.disconnect()


async def test_a_forced_recovery_namespace_recovers_after_a_reconnect_without_asking(fmt):
    channel = unique("forced")
    client = fmt.client("rita", min_reconnect_delay=0.2, max_reconnect_delay=0.5)
    await client.connect()
    await client.ready(timeout=5)
    seen = Recorder()
    await subscribed(client, channel, seen)
    publish_values(channel, [1])
    assert await eventually(lambda: seen.values == [1])
    from cent import DisconnectRequest
    from cent.dto import Disconnect

    api().disconnect(DisconnectRequest(user="rita", disconnect=Disconnect(code=3011, reason="reconnect")))
    publish_values(channel, [2, 3])
    assert await eventually(lambda: len(seen.subscribed) == 2, timeout=10)
    assert seen.subscribed[1].was_recovering and seen.subscribed[1].recovered
    assert await eventually(lambda: seen.values == [1, 2, 3])
    await client.disconnect()


# --- join and leave --------------------------------------------------------------------------------


async def test_join_leave_pushes_go_only_to_subscribers_that_ask(fmt):
    channel = room()
    quiet_client, asking_client = await fmt.connected("quiet"), await fmt.connected("asking")
    quiet, asking = Recorder(), Recorder()
    await subscribed(quiet_client, channel, quiet)
    await subscribed(asking_client, channel, asking, join_leave=True)

    visitor = await fmt.connected("visitor")
    await subscribed(visitor, channel)
    await visitor.disconnect()
    assert await eventually(lambda: [i.user for i in asking.joins] == ["visitor"] and [i.user for i in asking.leaves] == ["visitor"])

    # Pushes to one connection keep their order: once the quiet one has the next publication,
    # it would have had the join and leave before it.
    publish_values(channel, ["after"])
    assert await eventually(lambda: quiet.values == ["after"])
    assert quiet.joins == [] and quiet.leaves == []
    for client in (quiet_client, asking_client):
        await client.disconnect()


async def test_force_push_join_leave_sends_them_to_everyone(fmt):
    channel = unique("everyone")
    first_client, second_client = await fmt.connected("first"), await fmt.connected("second")
    first, second = Recorder(), Recorder()
    await subscribed(first_client, channel, first)
    await subscribed(second_client, channel, second)
    assert await eventually(lambda: [i.user for i in first.joins] == ["second"])

    visitor = await fmt.connected("visitor")
    await subscribed(visitor, channel)
    await visitor.disconnect()
    for seen in (first, second):
        assert await eventually(lambda: "visitor" in [i.user for i in seen.leaves])
    assert [i.user for i in first.joins] == ["second", "visitor"]
    assert [i.user for i in second.joins] == ["visitor"], "no one gets their own join"
    for client in (first_client, second_client):
        await client.disconnect()


# --- the personal channel --------------------------------------------------------------------------


async def test_the_personal_channel_reaches_every_connection_of_its_user_and_no_one_else(fmt):
    user = "alice-" + uuid.uuid4().hex[:6]
    other = "bob-" + uuid.uuid4().hex[:6]
    phone, laptop, bobs = ClientRecorder(), ClientRecorder(), ClientRecorder()
    clients = [await fmt.connected(user, phone), await fmt.connected(user, laptop), await fmt.connected(other, bobs)]
    mine, theirs = f"personal:#{user}", f"personal:#{other}"
    for events, channel in ((phone, mine), (laptop, mine), (bobs, theirs)):
        assert [ctx.channel for ctx in events.subscribed] == [channel], "subscribed on connect (the connect result's subs)"

    api().publish(PublishRequest(channel=mine, data={"note": "for you"}))
    api().publish(PublishRequest(channel=theirs, data={"note": "for bob"}))
    assert await eventually(lambda: phone.values(mine) == laptop.values(mine) == [{"note": "for you"}])
    assert await eventually(lambda: bobs.values(theirs) == [{"note": "for bob"}])
    assert bobs.values(mine) == [] and phone.values(theirs) == []
    for client in clients:
        await client.disconnect()


# --- user-limited channels -------------------------------------------------------------------------


async def test_a_user_limited_channel_is_for_its_users_only(fmt):
    alice, bob = "alice" + uuid.uuid4().hex[:6], "bob" + uuid.uuid4().hex[:6]
    channel = f"dialog:{uuid.uuid4().hex[:8]}#{alice},{bob}"
    alice_client, bob_client, carol_client = await fmt.connected(alice), await fmt.connected(bob), await fmt.connected("carol")
    alice_seen, bob_seen = Recorder(), Recorder()
    alice_sub = await subscribed(alice_client, channel, alice_seen)
    await subscribed(bob_client, channel, bob_seen)
    await alice_sub.publish(fmt.payload({"text": "hi bob"}))
    assert await eventually(lambda: bob_seen.values == [{"text": "hi bob"}])

    carol_seen = Recorder()
    denied = carol_client.new_subscription(channel, carol_seen)
    await denied.subscribe()
    assert await eventually(lambda: denied.state == SubscriptionState.UNSUBSCRIBED)
    assert [ctx.code for ctx in carol_seen.unsubscribed] == [103]
    assert carol_seen.publications == []
    for client in (alice_client, bob_client, carol_client):
        await client.disconnect()
