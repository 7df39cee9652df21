"""What the SDK tests share: the server's address and keys (from the environment scripts/test.sh
sets), tokens, the two client formats, and event recorders.

A test that takes the `fmt` fixture (conftest.py) runs once per format: `fmt.client(...)` is a
centrifuge-python Client speaking JSON or Protobuf, `fmt.payload(value)` is what an app passes to
`publish` in that format (the value itself, or its JSON as bytes), and `value(data)` turns received
data back into a value. On the Protobuf format data arrives as the JSON text's bytes, since
Switchboard keeps publication data JSON on every format.
"""

import asyncio
import json
import os
import time
import uuid

import jwt
from cent import Client as ApiClient
from centrifuge import Client, ClientEventHandler, SubscriptionEventHandler

BASE = os.environ["SWITCHBOARD_URL"]
WS_URL = BASE.replace("http://", "ws://") + "/connection/websocket"
SECRET = os.environ["SWITCHBOARD_SECRET"]
API_KEY = os.environ["SWITCHBOARD_API_KEY"]

FORMATS = ["json", "protobuf"]


def token(user, ttl=3600, **claims):
    payload = {"sub": user, "exp": int(time.time()) + ttl, **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


def api():
    return ApiClient(BASE + "/api", API_KEY)


def unique(namespace):
    return namespace + ":" + uuid.uuid4().hex[:10]


def room():
    return unique("rooms")


def value(data):
    """Received data as a value: JSON clients get the value, Protobuf clients the JSON's bytes."""
    return json.loads(data) if isinstance(data, (bytes, bytearray)) else data


async def eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


class Format:
    """One client format: how an app on it builds its Client and its payloads."""

    def __init__(self, name):
        self.name = name
        self.protobuf = name == "protobuf"

    def __repr__(self):
        return self.name

    def client(self, user=None, events=None, **kwargs):
        """A Client for `user` (a fresh token) that has not connected yet."""
        if user is not None:
            kwargs.setdefault("token", token(user))
        return Client(WS_URL, events=events, use_protobuf=self.protobuf, **kwargs)

    async def connected(self, user, events=None, **kwargs):
        client = self.client(user, events, **kwargs)
        await client.connect()
        await client.ready(timeout=5)
        return client

    def payload(self, data):
        """What an app publishes on this format: a value on JSON, its JSON as bytes on Protobuf."""
        return json.dumps(data).encode() if self.protobuf else data


class Recorder(SubscriptionEventHandler):
    def __init__(self):
        self.publications = []
        self.joins = []
        self.leaves = []
        self.subscribed = []
        self.unsubscribed = []
        self.errors = []

    @property
    def values(self):
        return [value(p.data) for p in self.publications]

    async def on_publication(self, ctx):
        self.publications.append(ctx.pub)

    async def on_join(self, ctx):
        self.joins.append(ctx.info)

    async def on_leave(self, ctx):
        self.leaves.append(ctx.info)

    async def on_subscribed(self, ctx):
        self.subscribed.append(ctx)

    async def on_unsubscribed(self, ctx):
        self.unsubscribed.append(ctx)

    async def on_error(self, ctx):
        self.errors.append(ctx)


class ClientRecorder(ClientEventHandler):
    """Connection events, and the publications, subscriptions and unsubscriptions of server-side
    subscriptions (which the SDK reports on the client's handler)."""

    def __init__(self):
        self.disconnected = []
        self.connecting = []
        self.connected = []
        self.errors = []
        self.subscribed = []
        self.unsubscribed = []
        self.publications = []

    def values(self, channel):
        return [value(pub.data) for name, pub in self.publications if name == channel]

    async def on_disconnected(self, ctx):
        self.disconnected.append(ctx)

    async def on_connecting(self, ctx):
        self.connecting.append(ctx)

    async def on_connected(self, ctx):
        self.connected.append(ctx)

    async def on_error(self, ctx):
        self.errors.append(ctx)

    async def on_subscribed(self, ctx):
        self.subscribed.append(ctx)

    async def on_unsubscribed(self, ctx):
        self.unsubscribed.append(ctx)

    async def on_publication(self, ctx):
        self.publications.append((ctx.channel, ctx.pub))


async def subscribed(client, channel, events=None, **kwargs):
    """A subscription of `client` to `channel` that the server has confirmed."""
    sub = client.new_subscription(channel, events or Recorder(), **kwargs)
    await sub.subscribe()
    await sub.ready(timeout=5)
    return sub


# --- The Protobuf format's framing, for tests that speak it without the SDK ------------------------


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame(*commands):
    """One binary WebSocket message holding `commands` (client_pb2.Command), each length-prefixed."""
    return b"".join(varint(len(body)) + body for body in (c.SerializeToString() for c in commands))


def replies(message):
    """The Reply messages of one binary WebSocket message from the server."""
    from centrifuge.protocol import client_pb2

    out, i = [], 0
    while i < len(message):
        length, shift = 0, 0
        while True:
            byte = message[i]
            i += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        reply = client_pb2.Reply()
        reply.ParseFromString(message[i:i + length])
        out.append(reply)
        i += length
    return out
