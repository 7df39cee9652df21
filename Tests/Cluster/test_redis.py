"""What only the Redis engine has: channels split across two shards (two redis-servers), and a
pub/sub connection that stays open but silently stops delivering (as after a failover, with a green
health check), which the node's probe must notice and replace, losing nothing.

Run by scripts/test.sh (cluster.py and backing.py say which environment it provides). Every wait is
bounded; every process and socket opened here is closed here.
"""

import asyncio
import time
import uuid

import pytest

from backing import shard_index
from cluster import Client, Node, api_batch, until

# RedisEngine.Settings: every probeInterval a probe is published, and expected back within requestTimeout.
PROBE_INTERVAL = 5
REQUEST_TIMEOUT = 5


@pytest.mark.engines("redis-2-shards", why="needs two Redis shards")
async def test_channels_land_on_both_shards_and_keep_order_and_recovery_on_each(nodes, backing):
    a, b, c = nodes
    names = [f"acc:shard-{n}-{uuid.uuid4().hex[:8]}" for n in range(40)]
    api_batch(a, [{"publish": {"channel": name, "data": {"n": n}}} for name in names for n in range(3)])
    held = [{key.split(":meta:", 1)[1] for key in server.keys("switchboard:meta:acc:shard-*")} for server in backing.servers]
    for index, keys in enumerate(held):
        assert keys & set(names), f"shard {index} holds none of the 40 channels: {held}"
    for name in names:
        where = [index for index, keys in enumerate(held) if name in keys]
        assert where == [shard_index(name, 2)], f"{name} is on shards {where}, expected on {shard_index(name, 2)} (RedisEngine.shardIndex)"
    # The nodes are registered in the first shard only.
    assert backing.servers[0].keys("switchboard:nodes") and not backing.servers[1].keys("switchboard:nodes")

    # On each shard: publishers on two nodes and the API of the third, a subscriber on b in order,
    # then one recovering on c from the middle.
    per_publisher = 100
    for shard in (0, 1):
        name = next(n for n in (f"rooms:on-{shard}-{uuid.uuid4().hex[:8]}" for _ in range(100)) if shard_index(n, 2) == shard)
        subscriber = await Client.connect(b)
        subscribed = await subscriber.call("subscribe", {"channel": name, "recover": True})
        publishers = [await Client.connect(node) for node in (a, c)]

        async def over_protocol(publisher, tag):
            for n in range(per_publisher):
                await publisher.call("publish", {"channel": name, "data": {"from": tag, "n": n}})

        def over_api():
            for n in range(per_publisher):
                assert "error" not in b.api("publish", {"channel": name, "data": {"from": "api", "n": n}})

        await asyncio.gather(over_protocol(publishers[0], "a"), over_protocol(publishers[1], "c"), asyncio.to_thread(over_api))
        total = 3 * per_publisher
        await until(lambda: len(subscriber.publications(name)) >= total, 30, f"{total} publications on shard {shard}")
        await asyncio.sleep(0.3)
        received = subscriber.publications(name)
        assert [p["offset"] for p in received] == list(range(1, total + 1)), f"shard {shard}: offsets in order, none lost or doubled"
        for tag in ("a", "c", "api"):
            assert [p["data"]["n"] for p in received if p["data"]["from"] == tag] == list(range(per_publisher)), f"shard {shard}: {tag}'s order"
        back = await Client.connect(c)
        result = await back.call("subscribe", {"channel": name, "recover": True, "offset": 100, "epoch": subscribed["epoch"]})
        assert result.get("recovered") is True and result["epoch"] == subscribed["epoch"]
        assert [p["offset"] for p in result["publications"]] == list(range(101, total + 1)), f"shard {shard}: recovered on c"
        for client in [subscriber, back] + publishers:
            await client.close()


class BlackHoleProxy:
    """A TCP proxy on 127.0.0.1 in front of one redis-server. A connection on which the client
    sends SUBSCRIBE is a pub/sub connection; `black_hole()` stops forwarding on those open now, in
    both directions, while keeping their sockets open (what arrives is read and dropped)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.links = []
        self.tasks = set()
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self.accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    async def accept(self, client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        link = {"pubsub": False, "silenced": False, "dropped": 0, "writers": (client_writer, upstream_writer)}
        self.links.append(link)
        for reader, writer, from_client in ((client_reader, upstream_writer, True), (upstream_reader, client_writer, False)):
            task = asyncio.ensure_future(self.pump(link, reader, writer, from_client))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def pump(self, link, reader, writer, from_client):
        try:
            while data := await reader.read(65536):
                if from_client and b"$9\r\nSUBSCRIBE\r\n" in data.upper():
                    link["pubsub"] = True
                if link["silenced"]:
                    link["dropped"] += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            for each in link["writers"]:
                each.close()

    def black_hole(self):
        """Silence every pub/sub connection open now; how many."""
        silenced = [link for link in self.links if link["pubsub"] and not link["writers"][0].is_closing()]
        for link in silenced:
            link["silenced"] = True
        return len(silenced)

    def pubsub_connections(self):
        return [link for link in self.links if link["pubsub"]]

    async def close(self):
        self.server.close()
        for link in self.links:
            for writer in link["writers"]:
                writer.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.wait_for(self.server.wait_closed(), 5)


@pytest.mark.engines("redis", "redis-2-shards", why="the pub/sub probe is the Redis engine's (PostgreSQL's LISTEN connection is another matter)")
async def test_a_pub_sub_connection_that_silently_stops_delivering_is_replaced_and_nothing_is_lost(nodes, backing):
    """One node reaches Redis through a proxy that black-holes its pub/sub connection to the
    channel's shard (open, but nothing passes either way). Meanwhile publications come from another
    node and from it (its command connection still works), and a subscriber on another node gets
    them at once. Its probe notices within the probe interval and timeout, the connection is
    replaced, and its subscriber gets every publication made meanwhile (from the history stream), in
    order, once each; live delivery goes on."""
    a, b, _ = nodes
    proxies = [await BlackHoleProxy(server.port).start() for server in backing.servers]
    silent = None
    try:
        silent = await asyncio.to_thread(Node, "silent", backing, [proxy.url for proxy in proxies])
        name = next(n for n in (f"rooms:silence-{uuid.uuid4().hex[:8]}" for _ in range(100)) if backing.shard(n) is backing.servers[-1])
        proxy = proxies[-1]
        subscriber = await Client.connect(silent)
        await subscriber.call("subscribe", {"channel": name, "recover": True})
        elsewhere = await Client.connect(b)
        await elsewhere.call("subscribe", {"channel": name})
        for n in range(3):
            a.api("publish", {"channel": name, "data": {"n": n}})
        await until(lambda: len(subscriber.publications(name)) == 3, 10, "3 live publications through the proxy")
        assert len(proxy.pubsub_connections()) == 1, "one pub/sub connection through the proxy"

        statuses = []

        async def watch_health():
            while True:
                statuses.append((await asyncio.to_thread(silent.health))[0])
                await asyncio.sleep(0.05)

        watcher = asyncio.ensure_future(watch_health())
        silenced_at = time.monotonic()
        assert proxy.black_hole() == 1
        during = 20
        for n in range(3, 3 + during):
            publisher = (a, silent)[n % 2]
            assert "error" not in await asyncio.to_thread(publisher.api, "publish", {"channel": name, "data": {"n": n}})
            await asyncio.sleep(0.05)
        await until(lambda: len(elsewhere.publications(name)) == 3 + during, 10, "the publications on the other node, live")
        assert any(link["dropped"] for link in proxy.pubsub_connections()), "the black hole swallowed the publications"
        bound = PROBE_INTERVAL + REQUEST_TIMEOUT + 10
        await until(lambda: len(subscriber.publications(name)) >= 3 + during, bound, "the publications made during the silence")
        noticed = time.monotonic() - silenced_at
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        assert [(p["offset"], p["data"]["n"]) for p in subscriber.publications(name)] == [(n + 1, n) for n in range(3 + during)], \
            "every publication made during the silence, in order, once each"
        log = silent.read_log()
        assert "stopped delivering" in log, f"the probe noticed (after {noticed:.1f} s): {log[-3000:]}"
        assert len(proxy.pubsub_connections()) == 2, "the silenced connection was replaced by a new one"
        print(f"silent pub/sub noticed and caught up after {noticed:.1f} s; /health answers seen: {sorted(set(statuses), key=str)}")

        # Live again: the next publication comes at once, and nothing is doubled.
        a.api("publish", {"channel": name, "data": {"n": 3 + during}})
        await until(lambda: len(subscriber.publications(name)) == 4 + during, 10, "the next live publication")
        await asyncio.sleep(0.3)
        assert len(subscriber.publications(name)) == 4 + during
        assert silent.health()[0] == 200
        assert [p["offset"] for p in elsewhere.publications(name)] == list(range(1, 5 + during))
        for client in (subscriber, elsewhere):
            await client.close()
    finally:
        if silent is not None:
            await asyncio.to_thread(silent.stop)
        for proxy in proxies:
            await proxy.close()
