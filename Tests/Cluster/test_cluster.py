"""Three real `switchboard serve` nodes on each engine (conftest.py: PostgreSQL, one Redis, two
Redis shards): publications, recovery, presence and the tutorial chat across nodes, and channels
every engine must take or refuse alike.

Run by scripts/test.sh (cluster.py and backing.py say which environment it provides). Every wait is
bounded; every process started here is stopped here.
"""

import asyncio
import time
import uuid

import websockets

from cluster import Client, Node, api_batch, channel, until


async def test_thousands_of_publications_reach_every_node_in_order_once_each(nodes):
    """Publishers on two nodes and the HTTP API of a third, at once; a subscriber on each node."""
    name = channel("order")
    subscribers = [await Client.connect(node) for node in nodes]
    for subscriber in subscribers:
        await subscriber.call("subscribe", {"channel": name})
    per_publisher = 1000
    publishers = [await Client.connect(node) for node in nodes[:2]]

    async def publish_over_protocol(publisher, tag):
        futures = []
        frames = []
        for n in range(per_publisher):
            _, future, frame = publisher.send("publish", {"channel": name, "data": {"from": tag, "n": n}})
            futures.append(future)
            frames.append(frame)
        # Many commands per frame, as SDKs batch them.
        for start in range(0, len(frames), 50):
            await publisher.socket.send("\n".join(frames[start:start + 50]))
        for reply in await asyncio.gather(*futures):
            assert "error" not in reply, reply

    def publish_over_api():
        for n in range(per_publisher):
            reply = nodes[2].api("publish", {"channel": name, "data": {"from": "api", "n": n}})
            assert "error" not in reply, reply

    await asyncio.gather(
        publish_over_protocol(publishers[0], "a"),
        publish_over_protocol(publishers[1], "b"),
        asyncio.to_thread(publish_over_api),
    )
    total = 3 * per_publisher
    await until(lambda: all(len(s.publications(name)) >= total for s in subscribers), 60, f"{total} publications on every node")
    await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive by now
    for node, subscriber in zip(nodes, subscribers):
        received = subscriber.publications(name)
        assert [p["offset"] for p in received] == list(range(1, total + 1)), f"node {node.name}: offsets in order, none lost or doubled"
        for tag in ("a", "b", "api"):
            assert [p["data"]["n"] for p in received if p["data"]["from"] == tag] == list(range(per_publisher)), \
                f"node {node.name}: {tag}'s publications in the order published"
    for client in subscribers + publishers:
        await client.close()


async def test_a_client_recovers_on_another_node(nodes):
    a, b, c = nodes
    name = channel("recover")
    first = await Client.connect(a)
    subscribed = await first.call("subscribe", {"channel": name, "recover": True})
    epoch = subscribed["epoch"]
    for n in range(3):
        b.api("publish", {"channel": name, "data": {"n": n}})
    await until(lambda: len(first.publications(name)) == 3, 10, "3 live publications")
    last = first.publications(name)[-1]["offset"]
    await first.close()

    for n in range(3, 8):
        b.api("publish", {"channel": name, "data": {"n": n}})
    again = await Client.connect(c)
    result = await again.call("subscribe", {"channel": name, "recover": True, "offset": last, "epoch": epoch})
    assert result.get("recovered") is True
    assert [p["data"]["n"] for p in result["publications"]] == [3, 4, 5, 6, 7]
    assert result["epoch"] == epoch
    a.api("publish", {"channel": name, "data": {"n": 8}})
    await until(lambda: len(again.publications(name)) == 1, 10, "the next live publication")
    assert again.publications(name)[0]["offset"] == result["offset"] + 1
    await asyncio.sleep(0.3)
    assert len(again.publications(name)) == 1, "nothing doubled after recovery"
    await again.close()


async def test_presence_spans_nodes_and_a_killed_node_leaves_no_ghosts(nodes, backing):
    a, b, _ = nodes
    name = channel("presence")
    doomed = await asyncio.to_thread(Node, "doomed", backing)
    try:
        watcher = await Client.connect(a, {"name": "watcher"})
        # Join/leave pushes go only to subscribers that ask for them.
        await watcher.call("subscribe", {"channel": name, "join_leave": True})
        ghosts = [await Client.connect(doomed, {"name": f"ghost{n}"}) for n in range(2)]
        for ghost in ghosts:
            await ghost.call("subscribe", {"channel": name})
        joins = lambda: [p["join"]["info"]["client"] for p in watcher.pushes if p.get("channel") == name and "join" in p]
        await until(lambda: len(joins()) == 2, 10, "the joins from the other node")

        present = b.api("presence", {"channel": name})["result"]["presence"]
        assert len(present) == 3
        stats = await watcher.call("presence_stats", {"channel": name})
        assert stats["num_clients"] == 3

        killed_at = time.monotonic()
        doomed.kill9()
        leaves = lambda: [p["leave"]["info"]["client"] for p in watcher.pushes if p.get("channel") == name and "leave" in p]
        # Dead after the TTL (2 s); noticed at the next heartbeat of a live node (every TTL/3).
        await until(lambda: len(leaves()) == 2, 15, "leaves for the killed node's clients")
        assert sorted(leaves()) == sorted(joins())
        assert time.monotonic() - killed_at >= 1.5, "not before the TTL"
        present = a.api("presence", {"channel": name})["result"]["presence"]
        assert list(present) == [watcher_id(watcher, present)], present
        await watcher.close()
    finally:
        if doomed.process.poll() is None:
            doomed.stop()


def watcher_id(watcher, present):
    return next(client for client, info in present.items() if info.get("conn_info", {}).get("name") == "watcher")


async def test_large_payloads_cross_nodes(nodes):
    a, b, _ = nodes
    name = channel("large")
    subscriber = await Client.connect(b)
    await subscriber.call("subscribe", {"channel": name})
    big = "x" * 200_000  # far past NOTIFY's 8000 bytes
    assert "error" not in a.api("publish", {"channel": name, "data": {"big": big}})
    publisher = await Client.connect(a)
    medium = "y" * 60_000
    await publisher.call("publish", {"channel": name, "data": {"medium": medium}})
    await until(lambda: len(subscriber.publications(name)) == 2, 10, "both large publications")
    first, second = subscriber.publications(name)
    assert first["data"] == {"big": big}
    assert second["data"] == {"medium": medium}
    for client in (subscriber, publisher):
        await client.close()


async def test_the_tutorial_chat_spans_nodes(nodes):
    a, b, _ = nodes
    one = await websockets.connect(a.ws + "/ws/1")

    async def expect(socket, text):
        while True:
            message = await asyncio.wait_for(socket.recv(), 10)
            if message == text:
                return
            # Lines from other tests' chatters are not ours; anything else of ours out of order fails.
            assert not message.startswith(("You wrote", "Client #1 ", "Client #2 ")), f"expected {text!r}, got {message!r}"

    # Each says hello and hears itself: then its subscription is live.
    await one.send("hello from one")
    await expect(one, "You wrote: hello from one")
    await expect(one, "Client #1 says: hello from one")
    two = await websockets.connect(b.ws + "/ws/2")
    await two.send("hello from two")
    await expect(two, "You wrote: hello from two")
    await expect(two, "Client #2 says: hello from two")
    await expect(one, "Client #2 says: hello from two")
    await one.send("hi two")
    await expect(one, "You wrote: hi two")
    await expect(one, "Client #1 says: hi two")
    await expect(two, "Client #1 says: hi two")
    await two.close()
    await expect(one, "Client #2 left the chat")
    await one.close()


async def test_concurrent_first_subscribes_and_history_reads_of_fresh_channels_never_fail(nodes):
    """Two clients subscribe to a channel never used before on one node at the same moment, and two
    /api/history calls read another such channel at once: for many fresh channels, none fails (the
    stream's insert and its read-back were one statement, which missed a row inserted a moment
    earlier by another connection: about 6 % of fresh channels failed with "unreachable")."""
    a = nodes[0]
    first, second = await Client.connect(a), await Client.connect(a)
    failures = []

    async def subscribe_both(name):
        # recoverable: the reply carries the stream's epoch only when the client asks for it.
        sends = [client.send("subscribe", {"channel": name, "recoverable": True}) for client in (first, second)]
        await asyncio.gather(*(client.socket.send(frame) for client, (_, _, frame) in zip((first, second), sends)))
        replies = await asyncio.wait_for(asyncio.gather(*(future for _, future, _ in sends)), 10)
        failures.extend((name, reply["error"]) for reply in replies if "error" in reply)
        epochs = {reply["subscribe"]["epoch"] for reply in replies if "subscribe" in reply}
        assert len(epochs) <= 1, f"{name}: one stream, one epoch: {epochs}"
        for client in (first, second):  # a connection may hold 128 subscriptions
            await client.call("unsubscribe", {"channel": name})

    def history(name):
        try:
            reply = a.api("history", {"channel": name, "limit": -1})
        except OSError as error:
            return {"code": None, "message": str(error)}
        return reply.get("error")

    for _ in range(150):
        await subscribe_both(f"acc:fresh-{uuid.uuid4().hex[:12]}")
        name = f"acc:fresh-api-{uuid.uuid4().hex[:12]}"
        replies = await asyncio.gather(asyncio.to_thread(history, name), asyncio.to_thread(history, name))
        failures += [(name, error) for error in replies if error]
    assert not failures, f"{len(failures)} failed, e.g. {failures[:3]}"
    for client in (first, second):
        await client.close()


async def test_skip_history_publications_push_nothing_out_of_history(nodes):
    """history_size 1000 (namespace acc): 10 publications, then 1000 with skip_history, leave the 10
    in history on every node; 1050 and one skipped leave the last 1000."""
    a = nodes[0]
    kept = f"acc:skip-{uuid.uuid4().hex[:8]}"
    api_batch(a, [{"publish": {"channel": kept, "data": {"n": n}}} for n in range(10)])
    for start in range(0, 1000, 250):
        api_batch(a, [{"publish": {"channel": kept, "data": {"skipped": n}, "skip_history": True}} for n in range(start, start + 250)])
    for node in nodes:
        result = node.api("history", {"channel": kept, "limit": -1})["result"]
        assert [p["data"] for p in result.get("publications", [])] == [{"n": n} for n in range(10)], f"node {node.name}"
        assert result["offset"] == 1010

    full = f"acc:full-{uuid.uuid4().hex[:8]}"
    for start in range(0, 1050, 350):
        api_batch(a, [{"publish": {"channel": full, "data": {"n": n}}} for n in range(start, start + 350)])
    api_batch(a, [{"publish": {"channel": full, "data": {"skipped": 0}, "skip_history": True}}])
    for node in nodes:
        publications = node.api("history", {"channel": full, "limit": -1})["result"]["publications"]
        assert [p["offset"] for p in publications] == list(range(51, 1051)), f"node {node.name}: {len(publications)} kept"


async def test_channel_names_with_control_characters_are_bad_requests(nodes):
    """A channel name PostgreSQL cannot hold (NUL) or any other control character is error 107, not
    temporary, from the client protocol and the server API alike, on every engine; it used to be a
    temporary "the database is unreachable", which SDKs retry forever."""
    a = nodes[0]
    client = await Client.connect(a)
    for name in ("acc:nul\x00x", "acc:tab\tx", "acc:del\x7f"):
        _, future, frame = client.send("subscribe", {"channel": name})
        await client.socket.send(frame)
        reply = await asyncio.wait_for(future, 10)
        assert reply["error"]["code"] == 107 and "temporary" not in reply["error"], reply
        for method, params in (("publish", {"channel": name, "data": 1}), ("history", {"channel": name})):
            error = a.api(method, params)["error"]
            assert error["code"] == 107 and "temporary" not in error, (method, error)
    assert "error" not in await asyncio.wait_for(client.send_and_wait("subscribe", {"channel": "acc:ünï 💬"}), 10)
    await client.close()

