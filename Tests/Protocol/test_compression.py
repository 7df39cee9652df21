"""permessage-deflate (RFC 7692) with a real client that speaks it: Python `websockets`.

The server under test (scripts/test.sh) runs with `"websocket_compression": true`
(Tests/Protocol/switchboard.json), so every SDK test of this directory runs compressed too:
centrifuge-python connects through `websockets`, which offers permessage-deflate by default.
"""

import asyncio
import json

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, PerMessageDeflate

from cent import PublishRequest

from helpers import BASE, WS_URL, api, room, token

ECHO = BASE.replace("http://", "ws://") + "/echo"
LONG = json.dumps({"user": "alice", "text": "hello everyone " * 40})


def deflate(ws):
    """The negotiated permessage-deflate extension of a connection, or None."""
    found = [e for e in ws.protocol.extensions if isinstance(e, PerMessageDeflate)]
    return found[0] if found else None


async def test_echo_round_trip_compressed():
    async with connect(ECHO) as ws:
        extension = deflate(ws)
        assert extension is not None, ws.response.headers.get("Sec-WebSocket-Extensions")
        # The server always answers with server_no_context_takeover: it compresses each message alone.
        assert extension.remote_no_context_takeover
        assert "server_no_context_takeover" in ws.response.headers["Sec-WebSocket-Extensions"]
        for message in [LONG, "short", "", LONG.encode(), bytes(range(256)) * 40, "é" * 5000]:
            await ws.send(message)
            assert await ws.recv() == message


async def test_context_takeover_and_window_offers():
    factory = ClientPerMessageDeflateFactory(
        client_no_context_takeover=True, server_max_window_bits=10, client_max_window_bits=9
    )
    async with connect(ECHO, extensions=[factory], compression=None) as ws:
        extension = deflate(ws)
        assert extension is not None
        assert extension.local_no_context_takeover
        assert extension.remote_max_window_bits == 10
        header = ws.response.headers["Sec-WebSocket-Extensions"]
        assert "client_no_context_takeover" in header and "server_max_window_bits=10" in header
        # Messages larger than the 1 KiB window, compressed by both sides within their windows.
        for index in range(5):
            message = LONG * 6 + str(index)
            await ws.send(message)
            assert await ws.recv() == message


async def test_client_context_takeover_across_messages():
    # Without client_no_context_takeover the client compresses each message against the previous
    # ones: the server's inflater keeps its window between messages.
    async with connect(ECHO) as ws:
        assert not deflate(ws).local_no_context_takeover
        for index in range(20):
            message = LONG + str(index)
            await ws.send(message)
            assert await ws.recv() == message


async def test_uncompressed_client_still_works():
    async with connect(ECHO, compression=None) as ws:
        assert deflate(ws) is None
        await ws.send(LONG)
        assert await ws.recv() == LONG


async def test_broadcast_reaches_compressed_subscribers():
    # Raw protocol clients (JSON), compressed, subscribed to one channel; the server API publishes.
    channel = room()
    clients = []
    try:
        for index in range(10):
            ws = await connect(WS_URL)
            assert deflate(ws) is not None
            await ws.send(json.dumps({"id": 1, "connect": {"token": token(f"user{index}")}}))
            assert "connect" in json.loads(await ws.recv())
            await ws.send(json.dumps({"id": 2, "subscribe": {"channel": channel}}))
            assert json.loads(await ws.recv()).get("id") == 2
            clients.append(ws)
        data = {"text": "compressed once " * 30}
        api().publish(PublishRequest(channel=channel, data=data))
        for ws in clients:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                push = frame.get("push", {})
                if push.get("channel") == channel and "pub" in push:
                    assert push["pub"]["data"] == data
                    break
    finally:
        for ws in clients:
            await ws.close()
