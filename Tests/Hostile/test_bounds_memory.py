"""Issue 11, bug 11: memory is given back after a burst. A few thousand tutorial-chat clients
(`/ws/{id}`; one in ten never reads) join, talk and all leave; the idle server's resident memory
then returns close to where it started instead of staying hundreds of megabytes up.

BOUNDS_CHAT_CLIENTS sets the burst's size (default 1000, less if the open-file limit is lower: on a
debug build the leaves of 1000 members, each announced to all the others, take some 20 seconds).
Before the fix the idle server stayed about 50 MB above its baseline after 1000 clients (150 MB
after 2000); with it, about 15 MB (code pages the burst touched, and what malloc keeps).
"""

import asyncio
import json
import os
import resource
import time

from bounds_clients import RawWebSocket

MB = 1024 * 1024
WANTED = int(os.environ.get("BOUNDS_CHAT_CLIENTS", "1000"))
BOUND = 30 * MB
MESSAGE = "m" * 10


def client_budget():
    """How many clients this process and the server (which inherits the limit) can both open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        target = WANTED + 512 if hard == resource.RLIM_INFINITY else min(hard, WANTED + 512)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
        soft = max(soft, target)
    return min(WANTED, soft - 256)


def connections(server):
    status, body = server.health()
    return json.loads(body)["connections"] if status == 200 else None


async def wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return condition()


async def burst(server, count):
    """`count` chat clients join, each says one line, the readers read everything; then all leave."""
    clients = []
    for start in range(0, count, 200):
        clients += await asyncio.gather(*(
            RawWebSocket.open(server.port, f"/ws/{i}") for i in range(start, min(count, start + 200))))
    assert await wait_for(lambda: connections(server) == count, 30), connections(server)

    async def read_all(ws):
        try:
            while await ws.reader.read(1 << 16):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass

    readers = [asyncio.create_task(read_all(ws)) for i, ws in enumerate(clients) if i % 10 != 0]
    for ws in clients:
        ws.send_text(MESSAGE)
    # Let the broadcasts flow for a while (one in ten members never reads and is dropped as a
    # slow consumer, or just holds its outbox).
    await asyncio.sleep(5)
    for ws in clients:
        ws.abort()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    assert await wait_for(lambda: connections(server) == 0, 60), connections(server)


async def test_memory_returns_close_to_baseline_after_a_chat_burst(start_server):
    count = client_budget()
    assert count >= 300, f"open-file limit too low for this test ({count} clients)"
    server = start_server("bounds-memory", "--log-level", "warning")
    # A few clients first, so that what the first connections set up once is in the baseline.
    warm = [await RawWebSocket.open(server.port, f"/ws/{i}") for i in range(20)]
    for ws in warm:
        ws.abort()
    assert await wait_for(lambda: connections(server) == 0, 10)
    await asyncio.sleep(1)
    baseline = server.rss_bytes()

    started = time.monotonic()
    await burst(server, count)
    peak_after = server.rss_bytes()
    # Idle now: memory must come back within a few seconds.
    returned = await wait_for(lambda: server.rss_bytes() < baseline + BOUND, 10)
    final = server.rss_bytes()
    print(f"\n{count} chat clients: baseline {baseline / MB:.0f} MB, right after {peak_after / MB:.0f} MB, "
          f"idle {final / MB:.0f} MB ({time.monotonic() - started:.0f} s)")
    assert server.alive()
    assert returned, f"RSS stayed at {final // MB} MB after the burst (baseline {baseline // MB} MB)"
    # And a newcomer is served.
    ws = await RawWebSocket.open(server.port, "/ws/1")
    ws.send_text("hi")
    assert await ws.recv_text() == "You wrote: hi"
    await ws.close()
