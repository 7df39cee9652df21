"""Issue 11, bug 6: what one connection can make the server queue is bounded, its own replies
included. A client that packs hundreds of `history` commands (each answered with about half a
megabyte) into its messages and never reads used to make the server hold half a gigabyte per
client; now it is disconnected (3501 for more commands in one message than allowed, 3008 `slow`
once its queued replies pass the bound) and the server's memory stays small. The tutorial's echo
and chat endpoints keep the same bound (1008 `slow consumer`).

BOUNDS_CLIENTS sets how many hostile clients of each kind attack (default 6).
"""

import asyncio
import json
import os
import time

from bounds_clients import RawWebSocket

CLIENTS = int(os.environ.get("BOUNDS_CLIENTS", "6"))
MB = 1024 * 1024
CHANNEL = "rooms:big"


async def protocol_client(port, *commands):
    """A connected protocol client, subscribed as `commands` ask, with their replies read."""
    ws = await RawWebSocket.open(port, "/connection/websocket")
    ws.send_text("\n".join(json.dumps(c) for c in [{"id": 1, "connect": {}}, *commands]))
    for _ in range(1 + len(commands)):
        reply = json.loads(await ws.recv_text())
        assert "error" not in reply, reply
    return ws


async def fill_history(port):
    """100 publications of 5 KB in CHANNEL (its whole history)."""
    ws = await protocol_client(port)
    data = "x" * 5000
    next_id = 2
    for _ in range(10):
        ws.send_text("\n".join(
            json.dumps({"id": next_id + i, "publish": {"channel": CHANNEL, "data": {"text": data}}}) for i in range(10)))
        next_id += 10
        for _ in range(10):
            assert "error" not in json.loads(await ws.recv_text())
    await ws.close()


def history_commands(first_id, count):
    return "\n".join(
        json.dumps({"id": first_id + i, "history": {"channel": CHANNEL, "limit": 100}}) for i in range(count))


async def watch_rss(server, stop, samples):
    while not stop.is_set():
        samples.append(server.rss_bytes())
        await asyncio.sleep(0.05)


async def test_history_flood_without_reading_is_disconnected_and_memory_stays_bounded(start_server):
    server = start_server("bounds-history-flood", "--log-level", "warning")
    await fill_history(server.port)
    baseline = server.rss_bytes()

    # Kind A: one 60 KB message of 500 history commands (each answered with ~500 KB).
    one_message = [await protocol_client(server.port, {"id": 2, "subscribe": {"channel": CHANNEL}}) for _ in range(CLIENTS)]
    # Kind B: messages of 100 history commands each, within the per-message limit.
    many_messages = [await protocol_client(server.port, {"id": 2, "subscribe": {"channel": CHANNEL}}) for _ in range(CLIENTS)]

    stop, samples = asyncio.Event(), []
    watcher = asyncio.create_task(watch_rss(server, stop, samples))
    flood = history_commands(3, 500)
    assert len(flood) < 64 * 1024
    for ws in one_message:
        ws.send_text(flood)
    for ws in many_messages:
        for frame in range(5):
            ws.send_text(history_commands(3 + frame * 100, 100))
    for ws in one_message + many_messages:
        await ws.drain()
    # Nobody reads for a while: whatever the server queues for them is queued now.
    await asyncio.sleep(3)
    stop.set()
    await watcher
    peak = max(samples)

    assert server.alive()
    assert peak < 150 * MB, f"RSS rose from {baseline // MB} MB to {peak // MB} MB"
    # Then read what came: each was told why it was dropped.
    closes_a = [await ws.close_frame(timeout=5) for ws in one_message]
    closes_b = [await ws.close_frame(timeout=5) for ws in many_messages]
    assert all(isinstance(c, tuple) and c[0] == 3501 and "commands" in c[1] for c in closes_a), closes_a
    assert all(c == (3008, "slow") for c in closes_b), closes_b

    # A normal client is served as before.
    ws = await protocol_client(server.port, {"id": 2, "subscribe": {"channel": CHANNEL}})
    ws.send_text(json.dumps({"id": 3, "history": {"channel": CHANNEL, "limit": 10}}))
    reply = json.loads(await ws.recv_text())
    assert len(reply["history"]["publications"]) == 10, reply
    await ws.close()


async def test_echo_and_chat_floods_without_reading_stay_bounded(start_server):
    server = start_server("bounds-echo-flood", "--log-level", "warning")
    baseline = server.rss_bytes()
    payload = "y" * 60000
    floods = [await RawWebSocket.open(server.port, "/ws") for _ in range(CLIENTS)]
    floods += [await RawWebSocket.open(server.port, f"/ws/{i}") for i in range(CLIENTS)]
    listener = await RawWebSocket.open(server.port, "/ws/9999")

    stop, samples = asyncio.Event(), []
    watcher = asyncio.create_task(watch_rss(server, stop, samples))

    async def flood(ws):
        # 30 MB each: more than loopback's socket buffers hold, so the server must stop reading
        # (or drop the client) for the sender to block. Bounded in time either way.
        deadline = time.monotonic() + 8
        try:
            for _ in range(500):
                ws.send_text(payload)
                await asyncio.wait_for(ws.drain(), max(0.1, deadline - time.monotonic()))
        except (asyncio.TimeoutError, ConnectionError):
            pass

    await asyncio.gather(*(flood(ws) for ws in floods))
    stop.set()
    await watcher
    peak = max(samples)
    assert server.alive()
    print(f"\nRSS: {baseline / MB:.0f} MB before, peak {peak / MB:.0f} MB")
    assert peak < 150 * MB, f"RSS rose from {baseline // MB} MB to {peak // MB} MB"

    # Echo clients are merely no longer read from (or closed as slow consumers): reading them now
    # would only let the server echo the rest of their flood. Chat members that did not read were
    # closed as slow consumers (or dropped after the close timeout when not even the close frame
    # could be written to them), or are no longer read from.
    for ws in floods[:CLIENTS]:
        ws.abort()
    closes = await asyncio.gather(*(ws.close_frame(timeout=3) for ws in floods[CLIENTS:] + [listener]))
    assert all(close in ((1008, "slow consumer"), None, "timeout") for close in closes), closes
    for ws in floods[CLIENTS:] + [listener]:
        ws.abort()
    # A normal echo client and chat member are served.
    echo = await RawWebSocket.open(server.port, "/ws")
    echo.send_text("hi")
    assert await echo.recv_text() == "Message text was: hi"
    await echo.close()
