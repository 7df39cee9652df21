"""The Protobuf format on the wire, without the SDK: the handshake's subprotocol, varint-framed
commands (several in one message), the 0x00 ping/pong, and what broken framing gets (3501 with a
reason; 1009 for a message over --max-message-size). Commands and replies are built and read with
the SDK's generated `client_pb2`, as Centrifugo's own clients do.

The server pings test starts a server of its own with a short ping interval when scripts/test.sh
gives the executable (SWITCHBOARD_BIN); the shared server pings every 30 s.
"""

import asyncio
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import websockets
from centrifuge.protocol import client_pb2 as pb

from helpers import API_KEY, SECRET, WS_URL, frame, replies, room, token

PROTOBUF = ["centrifuge-protobuf"]
# The server's --max-message-size (the default unless scripts/test.sh passes one).
MAX_MESSAGE_SIZE = int(os.environ.get("SWITCHBOARD_MAX_MESSAGE_SIZE", 65536))


def connect_command(user="pat", id=1):
    return pb.Command(id=id, connect=pb.ConnectRequest(token=token(user)))


async def next_replies(ws, count, timeout=5):
    """The next `count` replies, however the server spread them over messages."""
    got = []
    while len(got) < count:
        message = await asyncio.wait_for(ws.recv(), timeout)
        assert isinstance(message, bytes), f"a text message on a Protobuf connection: {message!r}"
        got += replies(message)
    return got


async def connected_socket(url=WS_URL, subprotocols=PROTOBUF, user="pat"):
    ws = await websockets.connect(url, subprotocols=subprotocols)
    await ws.send(frame(connect_command(user)))
    [reply] = await next_replies(ws, 1)
    assert reply.id == 1 and reply.connect.client, reply
    return ws, reply.connect


async def closed_with(ws, payload, received=None):
    """Send `payload` and return the close frame the server answers with (what came before it
    goes to `received`)."""
    try:
        await ws.send(payload)
        while True:
            message = await asyncio.wait_for(ws.recv(), 5)
            if received is not None:
                received.append(message)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server closed without a close frame"
        return closed.rcvd


async def test_handshake_answers_the_protobuf_subprotocol():
    async with websockets.connect(WS_URL, subprotocols=PROTOBUF) as ws:
        assert ws.subprotocol == "centrifuge-protobuf"
        assert ws.response.headers["Sec-WebSocket-Protocol"] == "centrifuge-protobuf"


async def test_two_commands_in_one_message_get_two_replies_in_order():
    channel = room()
    async with websockets.connect(WS_URL, subprotocols=PROTOBUF) as ws:
        subscribe = pb.Command(id=2, subscribe=pb.SubscribeRequest(channel=channel, recoverable=True))
        await ws.send(frame(connect_command(id=1), subscribe))
        first, second = await next_replies(ws, 2)
        assert (first.id, second.id) == (1, 2)
        assert first.connect.client and first.connect.version
        assert not second.HasField("error"), second
        assert second.HasField("subscribe") and second.subscribe.recoverable and second.subscribe.epoch


async def test_publication_pushes_carry_the_json_as_bytes():
    channel = room()
    ws, _ = await connected_socket()
    async with ws:
        await ws.send(frame(pb.Command(id=2, subscribe=pb.SubscribeRequest(channel=channel))))
        await next_replies(ws, 1)
        await ws.send(frame(pb.Command(id=3, publish=pb.PublishRequest(channel=channel, data=b'{"n": 1}'))))
        got = await next_replies(ws, 2)
        publish = next(r for r in got if r.id == 3)
        push = next(r for r in got if r.id == 0)
        assert publish.HasField("publish"), publish
        assert push.push.channel == channel
        assert push.push.pub.data == b'{"n":1}'  # compact JSON, as every format stores it
        assert push.push.pub.info.user == "pat"


async def test_a_zero_byte_from_the_client_is_a_pong_not_an_error():
    ws, _ = await connected_socket()
    async with ws:
        for _ in range(3):
            await ws.send(b"\x00")
        await ws.send(frame(pb.Command(id=2, ping=pb.PingRequest())))
        [reply] = await next_replies(ws, 1)  # nothing came for the pongs: no error reply, no close
        assert reply.id == 2 and reply.HasField("ping") and not reply.HasField("error")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fast_pinging_server():
    """A server of our own that pings every second (stopped by PID afterwards)."""
    binary = os.environ.get("SWITCHBOARD_BIN")
    if not binary:
        pytest.skip("SWITCHBOARD_BIN is not set (scripts/test.sh sets it)")
    port = free_port()
    config = os.path.join(os.path.dirname(__file__), "switchboard.json")
    log = tempfile.NamedTemporaryFile(prefix="switchboard-ping-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--config", config,
         "--token-hmac-secret", SECRET, "--api-key", API_KEY, "--ping-interval", "1", "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the server did not start; see {log.name}")
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/connection/websocket"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def test_the_server_pings_with_a_zero_byte_and_takes_a_zero_byte_as_pong(fast_pinging_server):
    ws, result = await connected_socket(fast_pinging_server)
    async with ws:
        assert result.ping == 1 and result.pong
        for _ in range(4):  # past two intervals: the pongs keep the connection
            message = await asyncio.wait_for(ws.recv(), 3)
            assert message == b"\x00", message
            await ws.send(b"\x00")
        await ws.send(frame(pb.Command(id=2, ping=pb.PingRequest())))
        [reply] = await next_replies(ws, 1, timeout=3)
        assert reply.id == 2 and reply.HasField("ping")


async def test_a_client_that_does_not_pong_is_closed_with_no_pong(fast_pinging_server):
    ws, _ = await connected_socket(fast_pinging_server)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 3012


async def test_a_truncated_varint_closes_with_3501():
    ws, _ = await connected_socket()
    close = await closed_with(ws, b"\x80")
    assert close.code == 3501 and "varint" in close.reason, close


async def test_a_length_beyond_the_message_closes_with_3501():
    ws, _ = await connected_socket()
    command = pb.Command(id=2, ping=pb.PingRequest()).SerializeToString()
    close = await closed_with(ws, bytes([len(command) + 5]) + command)
    assert close.code == 3501 and "follow" in close.reason, close


async def test_a_message_whose_last_command_is_cut_short_runs_none_of_them():
    ws, _ = await connected_socket()
    whole = frame(pb.Command(id=2, ping=pb.PingRequest()))
    received = []
    close = await closed_with(ws, whole + b"\x0a\x08", received)
    assert close.code == 3501 and "follow" in close.reason, close
    assert received == [], "the whole command before the broken one did not run"


async def test_an_empty_binary_message_closes_with_3501():
    ws, _ = await connected_socket()
    close = await closed_with(ws, b"")
    assert close.code == 3501, close


async def test_a_text_message_on_a_protobuf_connection_closes_with_3501():
    ws, _ = await connected_socket()
    close = await closed_with(ws, '{"id":2,"ping":{}}')
    assert close.code == 3501 and "text" in close.reason, close


async def test_bytes_that_are_no_command_close_with_3501():
    ws, _ = await connected_socket()
    close = await closed_with(ws, b"\x03\xff\xff\xff")
    assert close.code == 3501 and "Protobuf" in close.reason, close


async def test_a_message_over_the_size_limit_closes_with_1009():
    ws, _ = await connected_socket()
    publish = pb.Command(id=2, publish=pb.PublishRequest(channel=room(), data=b'"' + b"x" * MAX_MESSAGE_SIZE + b'"'))
    close = await closed_with(ws, frame(publish))
    assert close.code == 1009, close


@pytest.mark.parametrize("query", ["format=protobuf", "cf_protocol=protobuf"])
async def test_the_query_parameter_selects_protobuf_without_a_subprotocol(query):
    ws, result = await connected_socket(WS_URL + "?" + query, subprotocols=None)
    async with ws:
        assert ws.subprotocol is None
        assert result.client


async def test_the_json_subprotocol_selects_json():
    async with websockets.connect(WS_URL, subprotocols=["centrifuge-json"]) as ws:
        assert ws.subprotocol == "centrifuge-json"
        await ws.send('{"id":1,"connect":{"token":"%s"}}' % token("quinn"))
        reply = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(reply, str) and '"client"' in reply
        close = await closed_with(ws, frame(pb.Command(id=2, ping=pb.PingRequest())))
        assert close.code == 3501 and "binary" in close.reason, close


async def test_the_clients_preference_decides_between_the_two_subprotocols():
    async with websockets.connect(WS_URL, subprotocols=["centrifuge-protobuf", "centrifuge-json"]) as ws:
        assert ws.subprotocol == "centrifuge-protobuf"
    async with websockets.connect(WS_URL, subprotocols=["centrifuge-json", "centrifuge-protobuf"]) as ws:
        assert ws.subprotocol == "centrifuge-json"
