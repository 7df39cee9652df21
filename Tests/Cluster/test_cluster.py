"""Several real `switchboard serve --engine postgres` processes on one real PostgreSQL.

Run by scripts/test.sh, which provides:
  SWITCHBOARD_BIN                the built switchboard executable
  SWITCHBOARD_CLUSTER_DB         postgres://... of an empty database for these tests
  SWITCHBOARD_TEST_PG_CONTROL    a script taking `stop` or `start` for the test PostgreSQL
  SWITCHBOARD_CLUSTER_LOGS       where the nodes' logs go (default: the temp dir)

Every node listens on a free loopback port; every wait is bounded; every process started here is
stopped here (kill -9 only for the node whose death is the test).
"""

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest
import websockets

BIN = os.environ["SWITCHBOARD_BIN"]
DATABASE = os.environ["SWITCHBOARD_CLUSTER_DB"]
PG_CONTROL = os.environ["SWITCHBOARD_TEST_PG_CONTROL"]
CONFIG = os.path.join(os.path.dirname(__file__), "switchboard.json")
API_KEY = "cluster-test-key"
NODE_TTL = "2"
LOGS = os.environ.get("SWITCHBOARD_CLUSTER_LOGS") or tempfile.gettempdir()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `switchboard serve --engine postgres` process."""

    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(LOGS, f"cluster-node-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--engine", "postgres",
             "--postgres-url", DATABASE, "--node-ttl", NODE_TTL, "--config", CONFIG, "--api-key", API_KEY,
             "--log-level", "notice"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    @property
    def http(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self):
        return f"ws://127.0.0.1:{self.port}"

    def health(self):
        try:
            with urllib.request.urlopen(self.http + "/health", timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
        except OSError:
            return None, None

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"node {self.name} exited: {open(self.log_path).read()}")
            if self.health()[0] == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"node {self.name} not ready in {timeout} s: {open(self.log_path).read()}")

    def api(self, method, params):
        request = urllib.request.Request(
            f"{self.http}/api/{method}", data=json.dumps(params).encode(),
            headers={"X-API-Key": API_KEY, "Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self):
        if self.log.closed:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def kill9(self):
        self.process.kill()
        self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def nodes():
    started = []
    try:
        for name in "abc":
            started.append(Node(name))
        yield started
    finally:
        for node in started:
            node.stop()


def channel(prefix):
    return f"rooms:{prefix}-{uuid.uuid4().hex[:8]}"


class Client:
    """A protocol client over a raw WebSocket (JSON, one command per frame)."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.replies = {}
        self.pushes = []
        self.closed = None
        self.reader = asyncio.ensure_future(self.read())

    @classmethod
    async def connect(cls, node, data=None):
        client = cls(await websockets.connect(node.ws + "/connection/websocket", max_size=None))
        await client.call("connect", {"data": data or {}})
        return client

    async def read(self):
        try:
            async for frame in self.socket:
                for line in frame.splitlines():
                    message = json.loads(line)
                    if message == {}:
                        await self.socket.send("{}")
                    elif "id" in message:
                        self.replies[message["id"]].set_result(message)
                    else:
                        self.pushes.append(message["push"])
        except websockets.ConnectionClosed as closed:
            self.closed = closed

    def send(self, method, params):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = future
        return self.next_id, future, json.dumps({"id": self.next_id, method: params})

    async def send_and_wait(self, method, params):
        """Send a command and return its whole reply (result or error)."""
        _, future, frame = self.send(method, params)
        await self.socket.send(frame)
        return await future

    async def call(self, method, params, timeout=10):
        _, future, frame = self.send(method, params)
        await self.socket.send(frame)
        reply = await asyncio.wait_for(future, timeout)
        assert "error" not in reply, reply
        return reply[method]

    def publications(self, name):
        return [push["pub"] for push in self.pushes if push.get("channel") == name and "pub" in push]

    async def close(self):
        await self.socket.close()
        await asyncio.wait_for(self.reader, 5)


async def until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


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


async def test_presence_spans_nodes_and_a_killed_node_leaves_no_ghosts(nodes):
    a, b, _ = nodes
    name = channel("presence")
    doomed = await asyncio.to_thread(Node, "doomed")
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


def api_batch(node, commands):
    """Run server API commands in one `batch` request; every reply must be a result."""
    request = urllib.request.Request(
        f"{node.http}/api/batch", data=json.dumps({"commands": commands}).encode(),
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        replies = json.loads(response.read())["replies"]
    assert len(replies) == len(commands)
    errors = [reply for reply in replies if "error" in reply]
    assert not errors, errors[:3]
    return replies


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


async def test_the_tutorial_chat_says_who_left_when_a_node_dies_once(nodes):
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
    doomed = await asyncio.to_thread(Node, "chat-doomed")
    quitter = await asyncio.to_thread(Node, "chat-quitter")
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


async def test_postgres_restart_mid_stream_loses_nothing(nodes):
    """PostgreSQL stops in the middle of a publish stream and comes back: publishes meanwhile fail
    with an error (never vanish), /health says 503, and afterwards every node delivers every stored
    publication, in order, to clients that stayed and to clients that recover."""
    a, b, c = nodes
    name = channel("restart")
    stayed = await Client.connect(b)
    subscribed = await stayed.call("subscribe", {"channel": name, "recover": True})
    leaver = await Client.connect(c)
    await leaver.call("subscribe", {"channel": name, "recover": True})
    chatter = await websockets.connect(a.ws + "/ws/77")

    accepted, refused, errors = [], [], []

    def publish_stream(count, stop_after=None):
        for n in range(count):
            if stop_after is not None and n == stop_after:
                subprocess.run([PG_CONTROL, "stop"], check=True, timeout=60)
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
        assert any("unreachable" in e["message"] or "did not answer" in e["message"] for e in refused), refused[:3]
        assert not errors, errors[:3]
        await until(lambda: all(node.health()[0] == 503 for node in nodes), 15, "503 from /health on every node")
        status, body = a.health()
        assert body["status"] == "unavailable" and "PostgreSQL" in body["reason"], body

        # A protocol client's publish gets error 100 with the reason ...
        _, future, frame = stayed.send("publish", {"channel": name, "data": {"n": -1}})
        await stayed.socket.send(frame)
        reply = await asyncio.wait_for(future, 10)
        assert reply["error"]["code"] == 100 and "PostgreSQL" in reply["error"]["message"], reply
        # ... and the tutorial chat closes the sender with 1011 once it has said "You wrote".
        await chatter.send("anyone there?")
        assert await asyncio.wait_for(chatter.recv(), 10) == "You wrote: anyone there?"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(chatter.recv(), 10)
        assert closed.value.rcvd.code == 1011 and "not delivered" in closed.value.rcvd.reason, closed.value.rcvd

        # A client leaves during the outage, to recover later.
        await leaver.close()
    finally:
        subprocess.run([PG_CONTROL, "start"], check=True, timeout=60)

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


async def test_info_shows_every_live_node_with_its_figures(nodes):
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
            if len(info["result"]["nodes"]) >= 3 and by_port(info, b)["num_clients"] >= 2:
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
        doomed = await asyncio.to_thread(Node, "info-doomed")
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


async def test_epochs_and_history_survive_restarting_every_node(nodes):
    """Last in the module: it stops the module's nodes. Streams live in PostgreSQL, so a cluster
    whose every node restarts keeps its offsets and epochs, and clients recover across it."""
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

    fresh = await asyncio.to_thread(Node, "fresh")
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
