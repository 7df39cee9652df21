"""Fossil delta compression (docs/PROTOCOL.md, "Delta compression") with centrifuge-python, which
applies every delta itself: a wrong delta, or data in the wrong shape, shows up as wrong data or a
failed subscription. Raw frames show that deltas are really what goes on the wire.

Namespaces (switchboard.json): `deltas` allows fossil and sends every publication as a delta
(`delta_publish`); `asked` allows it for publications that ask (the server API's `delta`); `rooms`
does not allow it.
"""

import asyncio
import json
import urllib.request

import pytest
import websockets
from centrifuge import DeltaType
from cent import DisconnectRequest
from cent.dto import Disconnect as ApiDisconnect

from helpers import API_KEY, BASE, WS_URL, ClientRecorder, Recorder, api, eventually, frame, replies, subscribed, token, unique, value

pytestmark = pytest.mark.usefixtures("fmt")


def document(version, size=300):
    """A document of which each version differs from the last in one field."""
    return {"board": "x" * size, "version": version, "moves": list(range(version % 7))}


def publish(channel, data, delta=False):
    """The server API's publish over HTTP (cent has no `delta` field)."""
    body = json.dumps({"channel": channel, "data": data, "delta": delta}).encode()
    request = urllib.request.Request(BASE + "/api/publish", data=body, method="POST")
    request.add_header("X-API-Key", API_KEY)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        reply = json.loads(response.read())
    assert "error" not in reply, reply
    return reply["result"]


async def test_the_sdk_applies_every_delta_and_recovers_through_a_reconnect(fmt):
    channel = unique("deltas")
    events = ClientRecorder()
    client = fmt.client("dana", events, min_reconnect_delay=0.5, max_reconnect_delay=1)
    await client.connect()
    await client.ready(timeout=5)
    seen = Recorder()
    await subscribed(client, channel, seen, delta=DeltaType.FOSSIL, recoverable=True)
    for version in range(8):
        publish(channel, document(version))
    assert await eventually(lambda: len(seen.publications) == 8)

    # Dropped and recovered: the recovered publications come in the subscribe reply (whole, data as
    # the SDK expects on a delta subscription), then deltas again.
    api().disconnect(DisconnectRequest(user="dana", disconnect=ApiDisconnect(code=3011, reason="force reconnect")))
    assert await eventually(lambda: len(events.connecting) >= 1)
    for version in range(8, 12):
        publish(channel, document(version))
    assert await eventually(lambda: len(seen.subscribed) == 2, timeout=10)
    assert seen.subscribed[1].recovered
    for version in range(12, 20):
        publish(channel, document(version))
    assert await eventually(lambda: len(seen.publications) == 20)
    assert [value(p.data) for p in seen.publications] == [document(v) for v in range(20)]
    assert [p.offset for p in seen.publications] == list(range(1, 21))
    assert not seen.errors
    await client.disconnect()


async def test_client_publications_and_subscribers_with_and_without_delta(fmt):
    channel = unique("deltas")
    alice, bob, carl = await fmt.connected("alice"), await fmt.connected("bob"), await fmt.connected("carl")
    with_delta, without = Recorder(), Recorder()
    await subscribed(bob, channel, with_delta, delta=DeltaType.FOSSIL, positioned=True)
    await subscribed(carl, channel, without)
    publisher = await subscribed(alice, channel)
    for version in range(10):
        await publisher.publish(fmt.payload(document(version)))
    assert await eventually(lambda: len(with_delta.publications) == 10 and len(without.publications) == 10)
    assert with_delta.values == without.values == [document(v) for v in range(10)]
    for client in (alice, bob, carl):
        await client.disconnect()


# --- On the wire ------------------------------------------------------------------------------------


async def raw_subscribe(fmt, channel, **subscribe):
    """A raw connection subscribed to `channel` with `subscribe`'s fields: (socket, subscribe result
    as a dict, receive), where receive() gives the next publication as (data bytes, delta, offset)."""
    if fmt.protobuf:
        from centrifuge.protocol import client_pb2 as pb

        ws = await websockets.connect(WS_URL, subprotocols=["centrifuge-protobuf"])
        await ws.send(frame(pb.Command(id=1, connect=pb.ConnectRequest(token=token("raw")))))
        assert replies(await ws.recv())[0].connect.client
        await ws.send(frame(pb.Command(id=2, subscribe=pb.SubscribeRequest(channel=channel, **subscribe))))
        reply = replies(await ws.recv())[0]
        result = None if reply.HasField("error") else {"delta": reply.subscribe.delta}
        error = reply.error.code if reply.HasField("error") else None

        async def receive():
            pub = replies(await asyncio.wait_for(ws.recv(), 5))[0].push.pub
            return bytes(pub.data), pub.delta, pub.offset

        return ws, result, error, receive

    ws = await websockets.connect(WS_URL)
    await ws.send(json.dumps({"id": 1, "connect": {"token": token("raw")}}))
    assert "client" in json.loads(await ws.recv())["connect"]
    await ws.send(json.dumps({"id": 2, "subscribe": {"channel": channel, **subscribe}}))
    reply = json.loads(await ws.recv())

    async def receive():
        pub = json.loads(await asyncio.wait_for(ws.recv(), 5))["push"]["pub"]
        data = pub["data"]
        return (data.encode() if isinstance(data, str) else json.dumps(data, separators=(",", ":")).encode()), pub.get("delta", False), pub.get("offset", 0)

    return ws, reply.get("subscribe"), reply.get("error", {}).get("code"), receive


async def test_deltas_are_what_goes_on_the_wire_and_only_when_asked(fmt):
    from centrifuge.fossil import apply_delta

    channel = unique("asked")
    ws, result, error, receive = await raw_subscribe(fmt, channel, delta="fossil", positioned=True)
    assert error is None and result.get("delta") is True, "negotiated"
    sent = [document(v, size=2000) for v in range(4)]
    publish(channel, sent[0], delta=True)
    publish(channel, sent[1], delta=True)
    publish(channel, sent[2])  # not asked: whole
    publish(channel, sent[3], delta=True)
    got = [await receive() for _ in sent]
    assert [delta for _, delta, _ in got] == [False, True, False, True]
    assert all(len(data) < 100 for data, delta, _ in got if delta), "a delta of a 2 KB document is small"
    previous = b""
    for (data, delta, _), expected in zip(got, sent):
        previous = apply_delta(previous, data) if delta else data
        assert json.loads(previous) == expected
    await ws.close()


async def test_no_delta_where_the_namespace_does_not_allow_it_nor_without_position(fmt):
    for channel, subscribe in [(unique("rooms"), {"positioned": True}), (unique("asked"), {})]:
        ws, result, error, receive = await raw_subscribe(fmt, channel, delta="fossil", **subscribe)
        assert error is None and not result.get("delta"), "subscribed, without delta"
        publish(channel, document(1), delta=True)
        publish(channel, document(2), delta=True)
        got = [await receive() for _ in range(2)]
        assert [delta for _, delta, _ in got] == [False, False]
        assert [json.loads(data) for data, _, _ in got] == [document(1), document(2)]
        await ws.close()


async def test_an_unknown_delta_type_is_a_bad_request(fmt):
    ws, result, error, _ = await raw_subscribe(fmt, unique("deltas"), delta="xdelta", positioned=True)
    assert result is None and error == 107
    await ws.close()


async def test_a_huge_delta_type_is_refused_without_being_echoed(fmt):
    if fmt.protobuf:
        return  # the check is the same code for both formats; the JSON reply is easier to read
    async with websockets.connect(WS_URL) as ws:
        await ws.send(json.dumps({"id": 1, "connect": {"token": token("raw")}}))
        assert "client" in json.loads(await ws.recv())["connect"]
        await ws.send(json.dumps({"id": 2, "subscribe": {"channel": unique("deltas"), "delta": "x" * 20000, "positioned": True}}))
        reply = await asyncio.wait_for(ws.recv(), 5)
        error = json.loads(reply)["error"]
        assert error["code"] == 107 and "unknown delta type" in error["message"]
        assert len(reply) < 300, "the client's value is cut, not echoed back whole"
