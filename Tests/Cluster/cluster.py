"""Nodes (`switchboard serve` processes on the engine under test) and a protocol client, for the
cluster tests.

  SWITCHBOARD_BIN                the built switchboard executable
  SWITCHBOARD_CLUSTER_LOGS       where the nodes' logs go (default: the temp dir)

Every node listens on a free loopback port; every wait is bounded; every process started here is
stopped here (kill -9 only for the node whose death is the test).
"""

import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import websockets

from backing import free_port

BIN = os.environ["SWITCHBOARD_BIN"]
CONFIG = os.path.join(os.path.dirname(__file__), "switchboard.json")
API_KEY = "cluster-test-key"
NODE_TTL = "2"
LOGS = os.environ.get("SWITCHBOARD_CLUSTER_LOGS") or tempfile.gettempdir()


class Node:
    """One `switchboard serve` process on the backing service's engine (`redis_urls`: other
    addresses of its shards, a proxy's, say)."""

    def __init__(self, name, backing, redis_urls=None):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(LOGS, f"cluster-{backing.tag}-node-{name}.log")
        self.log = open(self.log_path, "w")
        engine = backing.node_arguments(redis_urls) if redis_urls else backing.node_arguments()
        self.process = subprocess.Popen(
            [BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), *engine,
             "--node-ttl", NODE_TTL, "--config", CONFIG, "--api-key", API_KEY, "--log-level", "notice"],
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

    def read_log(self):
        with open(self.log_path) as log:
            return log.read()

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"node {self.name} exited: {self.read_log()}")
            if self.health()[0] == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"node {self.name} not ready in {timeout} s: {self.read_log()}")

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

