"""Faults on each engine (conftest.py): a node killed or stopped, the backing service (PostgreSQL,
a Redis shard) restarted mid-stream, every node restarted. Last in this module, the test that
stops the module's nodes; before it, `info`, which wants them all.

Run by scripts/test.sh (cluster.py and backing.py say which environment it provides). Every wait is
bounded; every process started here is stopped here (kill -9 only for the node whose death is the test).
"""

import asyncio
import time

import pytest
import websockets

from cluster import NODE_TTL, Client, Node, channel, until


async def test_the_tutorial_chat_says_who_left_when_a_node_dies_once(nodes, backing):
    """A chat member on a node killed with -9 is said to have left, to the members on the other
    nodes, once the node TTL has passed (the live nodes' reaper publishes it); a member of a node
    shut down cleanly is said to have left at once; once each, never twice."""
    _, b, _ = nodes
    heard = []
    listener = await websockets.connect(b.ws + "/ws/32")

    async def read():
        try:
            async for message in listener:
                heard.append(message)
        except websockets.ConnectionClosed:
            pass

    reader = asyncio.ensure_future(read())
    await listener.send("listening")
    await until(lambda: "Client #32 says: listening" in heard, 10, "the listener's own line")
    doomed = await asyncio.to_thread(Node, "chat-doomed", backing)
    quitter = await asyncio.to_thread(Node, "chat-quitter", backing)
    try:
        for node, number in ((doomed, 31), (quitter, 33)):
            member = await websockets.connect(node.ws + f"/ws/{number}")
            await member.send("hi")
            await until(lambda: f"Client #{number} says: hi" in heard, 10, f"member {number}'s line on the other node")

        killed_at = time.monotonic()
        doomed.kill9()
        # Dead after the TTL, reaped at a live node's next heartbeat (every TTL/3), then published.
        await until(lambda: "Client #31 left the chat" in heard, 2 * float(NODE_TTL) + 3, "the killed node's member to leave")
        assert time.monotonic() - killed_at >= 1.5, "not before the TTL"

        await asyncio.to_thread(quitter.stop)
        await until(lambda: "Client #33 left the chat" in heard, 10, "the stopped node's member to leave")
        # A reaper would have run by now (the TTL and a heartbeat): nothing doubled.
        await asyncio.sleep(float(NODE_TTL) * 1.5 + 1)
        assert heard.count("Client #31 left the chat") == 1, heard
        assert heard.count("Client #33 left the chat") == 1, heard
    finally:
        for node in (doomed, quitter):
            if not node.log.closed:
                node.stop()
        await listener.close()
        await asyncio.wait_for(reader, 5)


def restart_channel(backing):
    """A fresh channel; on two Redis shards, one on the tutorial chat's shard (the shard stopped)."""
    while True:
        name = channel("restart")
        if backing.engine != "redis-2-shards" or backing.shard(name) is backing.shard("chat"):
            return name


async def test_the_backing_service_restarts_mid_stream_and_nothing_is_lost(nodes, backing):
    """The backing service (PostgreSQL; the Redis, or on two shards the channel's shard) stops in
    the middle of a publish stream and comes back: publishes meanwhile fail with an error (never
    vanish), /health says 503 naming the engine, and afterwards every node delivers every stored
    publication, in order, to clients that stayed and to clients that recover. On two shards, the
    other shard takes publications all along."""
    a, b, c = nodes
    name = restart_channel(backing)
    # On two shards: a channel of the shard that stays up.
    elsewhere = next((n for n in (channel("elsewhere") for _ in range(100)) if backing.shard(n) is not backing.shard(name)), None) \
        if backing.engine == "redis-2-shards" else None
    stayed = await Client.connect(b)
    subscribed = await stayed.call("subscribe", {"channel": name, "recover": True})
    leaver = await Client.connect(c)
    await leaver.call("subscribe", {"channel": name, "recover": True})
    chatter = await websockets.connect(a.ws + "/ws/77")

    accepted, refused, errors = [], [], []

    def publish_stream(count, stop_after=None):
        for n in range(count):
            if stop_after is not None and n == stop_after:
                backing.stop(name)
            try:
                reply = a.api("publish", {"channel": name, "data": {"n": len(accepted) + len(refused)}})
            except OSError as error:
                errors.append(str(error))
                continue
            if "error" in reply:
                refused.append(reply["error"])
            else:
                accepted.append(reply["result"]["offset"])
            time.sleep(0.005)

    try:
        await asyncio.to_thread(publish_stream, 200, 100)
        # While it is down: refused with a clear error, and the nodes say they are not ready.
        assert refused, "publishes during the outage must fail, not vanish"
        assert all(e["code"] == 100 for e in refused), refused[:3]
        assert any(backing.name in e["message"] and any(word in e["message"] for word in backing.outage_words) for e in refused), refused[:3]
        assert not errors, errors[:3]
        await until(lambda: all(node.health()[0] == 503 for node in nodes), 15, "503 from /health on every node")
        status, body = a.health()
        assert body["status"] == "unavailable" and backing.name in body["reason"], body
        if elsewhere:
            reply = b.api("publish", {"channel": elsewhere, "data": {"n": 0}})
            assert reply.get("result", {}).get("offset") == 1, f"the other shard takes publications: {reply}"

        # A protocol client's publish gets error 100 with the reason ...
        _, future, frame = stayed.send("publish", {"channel": name, "data": {"n": -1}})
        await stayed.socket.send(frame)
        reply = await asyncio.wait_for(future, 10)
        assert reply["error"]["code"] == 100 and backing.name in reply["error"]["message"], reply
        # ... and the tutorial chat closes the sender with 1011 once it has said "You wrote".
        await chatter.send("anyone there?")
        assert await asyncio.wait_for(chatter.recv(), 10) == "You wrote: anyone there?"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(chatter.recv(), 10)
        assert closed.value.rcvd.code == 1011 and "not delivered" in closed.value.rcvd.reason, closed.value.rcvd

        # A client leaves during the outage, to recover later.
        await leaver.close()
    finally:
        await asyncio.to_thread(backing.start)

    await until(lambda: all(node.health()[0] == 200 for node in nodes), 30, "every node ready again")
    before = len(accepted)
    await asyncio.to_thread(publish_stream, 50)
    assert len(accepted) == before + 50, "publishing works again"
    top = max(accepted)

    await until(lambda: len(stayed.publications(name)) >= top, 30, "the client that stayed to get everything")
    offsets = [p["offset"] for p in stayed.publications(name)]
    assert offsets == list(range(1, top + 1)), "in order, none lost or doubled across the restart"
    assert set(accepted) <= set(offsets)

    back = await Client.connect(c)
    result = await back.call("subscribe", {"channel": name, "recover": True, "offset": 0, "epoch": subscribed["epoch"]})
    assert result.get("recovered") is True
    assert [p["offset"] for p in result["publications"]] == list(range(1, top + 1))
    for client in (stayed, back):
        await client.close()


async def test_info_shows_every_live_node_with_its_figures(nodes, backing):
    a, b, c = nodes
    names = lambda info: sorted(node["name"] for node in info["result"]["nodes"])
    by_port = lambda info, node: next(n for n in info["result"]["nodes"] if n["name"].endswith(f"_{node.port}"))
    clients = [await Client.connect(b, {"name": f"counted{n}"}) for n in range(2)]
    room = channel("info")
    for client in clients:
        await client.call("subscribe", {"channel": room})
    try:
        # Each node reports itself with its heartbeat (every TTL/3): a sees b's clients soon.
        deadline = time.monotonic() + 15
        while True:
            info = a.api("info", {})
            # b's clients are counted, and subscribed, in the same heartbeat.
            if len(info["result"]["nodes"]) >= 3 and by_port(info, b)["num_clients"] >= 2 and by_port(info, b)["num_subs"] >= 2:
                break
            assert time.monotonic() < deadline, f"a never saw every node with b's clients: {info}"
            await asyncio.sleep(0.2)
        assert info["result"]["nodes"][0]["name"].endswith(f"_{a.port}"), "this node comes first"
        assert {n["name"].rsplit("_", 1)[1] for n in info["result"]["nodes"]} >= {str(n.port) for n in nodes}
        seen_b = by_port(info, b)
        assert seen_b["num_clients"] == 2 and seen_b["num_subs"] >= 2 and seen_b["engine"] == {"ready": True}
        assert len({n["uid"] for n in info["result"]["nodes"]}) == len(info["result"]["nodes"])
        assert names(c.api("info", {})) == names(info), "every node sees the same cluster"

        # A killed node drops out of everyone's info after the node TTL.
        doomed = await asyncio.to_thread(Node, "info-doomed", backing)
        try:
            await until(lambda: any(n["name"].endswith(f"_{doomed.port}") for n in a.api("info", {})["result"]["nodes"]),
                        15, "the new node in a's info")
            doomed.kill9()
            await until(lambda: not any(n["name"].endswith(f"_{doomed.port}") for n in a.api("info", {})["result"]["nodes"]),
                        15, "the killed node gone from a's info")
        finally:
            if doomed.process.poll() is None:
                doomed.stop()
    finally:
        for client in clients:
            await client.close()


async def test_epochs_and_history_survive_restarting_every_node(nodes, backing):
    """Last in the module: it stops the module's nodes. Streams live in the backing service
    (PostgreSQL, Redis), so a cluster whose every node restarts keeps its offsets and epochs, and
    clients recover across it."""
    a = nodes[0]
    name = channel("restart-all")
    client = await Client.connect(a)
    subscribed = await client.call("subscribe", {"channel": name, "recover": True})
    for n in range(3):
        a.api("publish", {"channel": name, "data": {"n": n}})
    await until(lambda: len(client.publications(name)) == 3, 10, "3 publications")
    await client.close()
    for node in nodes:
        await asyncio.to_thread(node.stop)

    fresh = await asyncio.to_thread(Node, "fresh", backing)
    try:
        assert "error" not in fresh.api("publish", {"channel": name, "data": {"n": 3}})
        back = await Client.connect(fresh)
        result = await back.call("subscribe", {"channel": name, "recover": True, "offset": 3, "epoch": subscribed["epoch"]})
        assert result.get("recovered") is True
        assert result["epoch"] == subscribed["epoch"]
        assert [(p["offset"], p["data"]["n"]) for p in result["publications"]] == [(4, 3)]
        await back.close()
    finally:
        fresh.stop()
