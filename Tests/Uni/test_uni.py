"""The unidirectional transports against a real `switchboard serve`, with plain clients and no SDK:
`requests` streaming for uni_http_stream and uni_sse, the `websockets` client for uni_websocket.

Every transport gets the same checks: the connect push first, publications as
`{"channel":…,"pub":…}` pushes, `{}` pings, recovery on reconnect through the connect request's
`subs`, and the disconnect the server sends when it ends the connection."""

import contextlib
import time
import json
import secrets

import pytest
import requests
import websockets.exceptions
from websockets.sync.client import connect as ws_connect

TIMEOUT = 10


class HTTPStream:
    """A streamed HTTP response read as it arrives, split into pushes by `separator`."""

    separator = b"\n"

    def __init__(self, response):
        self.response = response
        self.chunks = response.iter_content(chunk_size=None)
        self.buffer = b""

    def _piece(self):
        while self.separator not in self.buffer:
            try:
                self.buffer += next(self.chunks)
            except StopIteration:
                return None
        piece, self.buffer = self.buffer.split(self.separator, 1)
        return piece

    def next(self):
        """The next message (a dict), or None when the stream has ended."""
        while True:
            piece = self._piece()
            if piece is None:
                return None
            text = self.decode(piece.decode())
            if text is not None:
                return json.loads(text)

    def decode(self, piece):
        return piece

    def close(self):
        self.response.close()


class UniHTTPStream(HTTPStream):
    name = "uni_http_stream"

    @classmethod
    def open(cls, server, request):
        response = requests.post(f"{server.http}/connection/uni_http_stream", data=json.dumps(request),
                                 stream=True, timeout=(5, TIMEOUT))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return cls(response)


class UniSSE(HTTPStream):
    """An EventSource's view: GET with the connect request in `cf_connect`, `data:` events."""

    name = "uni_sse"
    separator = b"\n\n"

    @classmethod
    def open(cls, server, request):
        response = requests.get(f"{server.http}/connection/uni_sse", params={"cf_connect": json.dumps(request)},
                                headers={"Accept": "text/event-stream"}, stream=True, timeout=(5, TIMEOUT))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        return cls(response)

    def decode(self, piece):
        piece = piece.strip()
        if not piece:
            return None  # the stream's opening blank line
        assert piece.startswith("data: "), piece
        return piece[len("data: "):]


class UniWebSocket:
    name = "uni_websocket"

    def __init__(self, server):
        self.sockets = contextlib.ExitStack()
        self.socket = self.sockets.enter_context(ws_connect(server.ws("/connection/uni_websocket"), open_timeout=TIMEOUT))
        self.close_code = None

    @classmethod
    def open(cls, server, request):
        stream = cls(server)
        stream.socket.send(json.dumps(request))
        return stream

    def next(self):
        try:
            return json.loads(self.socket.recv(timeout=TIMEOUT))
        except websockets.exceptions.ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd else None
            return None

    def close(self):
        self.sockets.close()


TRANSPORTS = [UniHTTPStream, UniSSE, UniWebSocket]


def next_push(stream):
    """The next message that is not a ping."""
    while True:
        message = stream.next()
        if message != {}:
            return message


def new_channel():
    return f"feed:{secrets.token_hex(4)}"


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
def test_connect_push_then_publications(server, transport):
    channel = new_channel()
    stream = transport.open(server, {"token": server.token("ann", [channel])})
    try:
        connect = next_push(stream)
        assert set(connect) == {"connect"}, connect
        result = connect["connect"]
        assert len(result["client"]) == 36
        assert result["ping"] == 1
        assert result["subs"][channel]["recoverable"] is True
        assert "pong" not in result
        for n in (1, 2):
            server.api("publish", channel=channel, data={"n": n})
        first, second = next_push(stream), next_push(stream)
        assert first == {"channel": channel, "pub": {"data": {"n": 1}, "offset": 1}}
        assert second["pub"]["data"] == {"n": 2} and second["pub"]["offset"] == 2
    finally:
        stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
def test_pings_are_empty_objects(server, transport):
    stream = transport.open(server, {"token": server.token("ann")})
    try:
        assert "connect" in stream.next()
        assert stream.next() == {}  # within the 1 s ping interval (the read timeout is 10 s)
    finally:
        stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
def test_reconnect_recovers_exactly_the_missed_publications(server, transport):
    channel = new_channel()
    token = server.token("bob", [channel])
    stream = transport.open(server, {"token": token})
    connect = next_push(stream)["connect"]
    epoch = connect["subs"][channel]["epoch"]
    server.api("publish", channel=channel, data="before")
    seen = next_push(stream)
    assert seen["pub"]["data"] == "before"
    offset = seen["pub"]["offset"]
    stream.close()

    for text in ("missed 1", "missed 2", "missed 3"):
        server.api("publish", channel=channel, data=text)

    stream = transport.open(server, {"token": token, "subs": {channel: {"recover": True, "offset": offset, "epoch": epoch}}})
    try:
        sub = next_push(stream)["connect"]["subs"][channel]
        assert sub["recovered"] is True and sub["was_recovering"] is True
        assert [p["data"] for p in sub["publications"]] == ["missed 1", "missed 2", "missed 3"]
        assert [p["offset"] for p in sub["publications"]] == [offset + 1, offset + 2, offset + 3]
        server.api("publish", channel=channel, data="after")
        after = next_push(stream)
        assert after == {"channel": channel, "pub": {"data": "after", "offset": offset + 4}}
    finally:
        stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
def test_server_api_disconnect_ends_the_connection_with_its_code(server, transport):
    user = f"carol-{secrets.token_hex(3)}"
    stream = transport.open(server, {"token": server.token(user)})
    try:
        assert "connect" in next_push(stream)
        server.api("disconnect", user=user)
        assert next_push(stream) == {"disconnect": {"code": 3503, "reason": "force disconnect"}}
        assert stream.next() is None, "the connection ends after the disconnect push"
        if transport is UniWebSocket:
            assert stream.close_code == 3503
    finally:
        stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
def test_a_bad_token_is_a_3500_disconnect(server, transport):
    stream = transport.open(server, {"token": "not-a-jwt"})
    try:
        push = stream.next()
        assert push["disconnect"]["code"] == 3500
        assert push["disconnect"]["reason"].startswith("invalid token")
        assert stream.next() is None
        if transport is UniWebSocket:
            assert stream.close_code == 3500
    finally:
        stream.close()


@pytest.mark.parametrize("method,path", [("GET", "uni_sse"), ("POST", "uni_sse"), ("POST", "uni_http_stream")])
def test_malformed_connect_requests_get_400_with_a_reason(server, method, path):
    url = f"{server.http}/connection/{path}"
    if method == "GET":
        response = requests.get(url, params={"cf_connect": "{not json"}, timeout=TIMEOUT)
    else:
        response = requests.post(url, data="{not json", timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.text.startswith("bad request")


def test_http_refusals_origin_and_size(server):
    response = requests.post(f"{server.http}/connection/uni_http_stream", data="{}",
                             headers={"Origin": "https://elsewhere.example"}, timeout=TIMEOUT)
    assert response.status_code == 403
    response = requests.post(f"{server.http}/connection/uni_http_stream",
                             data=json.dumps({"data": "x" * 70000}), timeout=TIMEOUT)
    assert response.status_code == 413


def test_uni_websocket_closes_3501_on_a_client_message(server):
    stream = UniWebSocket.open(server, {"token": server.token("dave")})
    try:
        assert "connect" in next_push(stream)
        stream.socket.send("{}")
        assert next_push(stream)["disconnect"]["code"] == 3501
        assert stream.next() is None
        assert stream.close_code == 3501
    finally:
        stream.close()


def test_uni_websocket_refuses_malformed_connect_with_3501(server):
    stream = UniWebSocket(server)
    try:
        stream.socket.send("{not json")
        assert stream.next()["disconnect"]["code"] == 3501
        assert stream.next() is None
        assert stream.close_code == 3501
    finally:
        stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
def test_a_client_that_goes_away_is_let_go(server, transport):
    """Found by the next write at the latest (the 1 s ping here): the connection leaves the server."""
    stream = transport.open(server, {"token": server.token("erin")})
    assert "connect" in next_push(stream)
    assert server.connections() >= 1
    stream.close()
    deadline = time.monotonic() + 10
    while server.connections() > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.connections() == 0
