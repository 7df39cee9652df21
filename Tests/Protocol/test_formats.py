"""JSON and Protobuf clients in one channel, and the server API's `b64data`: publication data is
JSON on every format, so what one format publishes reaches the other as the same JSON (the value on
JSON, the JSON text's bytes on Protobuf), and bytes that are not JSON are refused with 107 before
anyone gets them.
"""

import base64
import json

import pytest
from cent import BroadcastRequest, CentApiResponseError, PublishRequest
from centrifuge import ReplyError

from helpers import Format, Recorder, api, eventually, room, subscribed

JSON, PROTOBUF = Format("json"), Format("protobuf")


async def two_subscribers(channel):
    """A JSON and a Protobuf client subscribed to `channel`: (clients, subscriptions, recorders)."""
    json_client, protobuf_client = await JSON.connected("jules"), await PROTOBUF.connected("paula")
    json_seen, protobuf_seen = Recorder(), Recorder()
    json_sub = await subscribed(json_client, channel, json_seen)
    protobuf_sub = await subscribed(protobuf_client, channel, protobuf_seen)
    return (json_client, protobuf_client), (json_sub, protobuf_sub), (json_seen, protobuf_seen)


async def test_json_and_protobuf_subscribers_get_each_others_publications():
    channel = room()
    clients, (json_sub, protobuf_sub), (json_seen, protobuf_seen) = await two_subscribers(channel)

    await json_sub.publish({"from": "json", "text": "héllo"})
    assert await eventually(lambda: len(protobuf_seen.publications) == 1 and len(json_seen.publications) == 1)
    received = protobuf_seen.publications[0].data
    assert isinstance(received, bytes)
    assert json.loads(received) == {"from": "json", "text": "héllo"}
    assert protobuf_seen.publications[0].info.user == "jules"

    await protobuf_sub.publish(json.dumps({"from": "protobuf", "n": [1, 2]}).encode())
    assert await eventually(lambda: len(json_seen.publications) == 2)
    assert json_seen.publications[1].data == {"from": "protobuf", "n": [1, 2]}
    assert json_seen.publications[1].info.user == "paula"
    # Both saw the same stream: the same offsets in the same order.
    assert await eventually(lambda: len(protobuf_seen.publications) == 2)
    assert [p.offset for p in json_seen.publications] == [p.offset for p in protobuf_seen.publications]
    for client in clients:
        await client.disconnect()


@pytest.mark.parametrize("payload", [b"\x00\x01binary", b"not json", b'{"unterminated": ', "héllo".encode("latin-1")])
async def test_a_protobuf_publication_that_is_not_json_is_refused_and_reaches_nobody(payload):
    channel = room()
    clients, (json_sub, protobuf_sub), (json_seen, protobuf_seen) = await two_subscribers(channel)
    with pytest.raises(ReplyError) as refused:
        await protobuf_sub.publish(payload)
    assert refused.value.code == 107
    assert "not valid JSON" in refused.value.message
    # The next publication is the first either of them gets.
    await json_sub.publish({"marker": True})
    assert await eventually(lambda: len(json_seen.publications) >= 1 and len(protobuf_seen.publications) >= 1)
    assert json_seen.values == [{"marker": True}]
    assert protobuf_seen.values == [{"marker": True}]
    assert json_seen.publications[0].offset == 1, "the refused publication took no offset"
    for client in clients:
        await client.disconnect()


def b64(value):
    return base64.b64encode(json.dumps(value).encode()).decode()


async def test_b64data_through_cent_reaches_json_and_protobuf_subscribers():
    channel, other = room(), room()
    clients, _, (json_seen, protobuf_seen) = await two_subscribers(channel)
    published = api().publish(PublishRequest(channel=channel, data=None, b64data=b64({"via": "b64data"})))
    assert published.offset == 1
    assert await eventually(lambda: json_seen.values == [{"via": "b64data"}] and protobuf_seen.values == [{"via": "b64data"}])
    assert isinstance(protobuf_seen.publications[0].data, bytes)

    broadcast = api().broadcast(BroadcastRequest(channels=[channel, other], data=None, b64data=b64([1, "two"])))
    assert len(broadcast.responses) == 2 and all(r.error is None for r in broadcast.responses)
    assert await eventually(lambda: len(json_seen.values) == 2 and len(protobuf_seen.values) == 2)
    assert json_seen.values[1] == protobuf_seen.values[1] == [1, "two"]
    for client in clients:
        await client.disconnect()


async def test_b64data_that_is_not_json_is_refused_with_107():
    channel = room()
    clients, (json_sub, _), (json_seen, protobuf_seen) = await two_subscribers(channel)
    not_json = base64.b64encode(b"\x89PNG\r\n").decode()
    with pytest.raises(CentApiResponseError) as refused:
        api().publish(PublishRequest(channel=channel, data=None, b64data=not_json))
    assert refused.value.code == 107
    with pytest.raises(CentApiResponseError) as both:
        api().publish(PublishRequest(channel=channel, data={"a": 1}, b64data=b64({"a": 1})))
    assert both.value.code == 107
    with pytest.raises(CentApiResponseError) as not_base64:
        api().publish(PublishRequest(channel=channel, data=None, b64data="%%% not base64"))
    assert not_base64.value.code == 107
    # A broadcast answers per channel.
    broadcast = api().broadcast(BroadcastRequest(channels=[channel, room()], data=None, b64data=not_json))
    assert [r.error.code for r in broadcast.responses] == [107, 107]

    await json_sub.publish({"marker": True})
    assert await eventually(lambda: json_seen.values and protobuf_seen.values)
    assert json_seen.values == protobuf_seen.values == [{"marker": True}]
    for client in clients:
        await client.disconnect()
