"""A client's close that follows its message in the same TCP write: the server must still answer the
message, and its close frame must come after the reply (RFC 6455 §5.5.1: a close frame is the last
thing sent; messages received before it are handled). Also the fail-fast path: a valid message and
a protocol violation in one write get the reply, then the 1002 close.

Raw sockets, so the bytes really arrive in one segment."""

import socket
import struct
import time

import pytest

from bounds_clients import masked

HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def connect(server, path):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(HANDSHAKE.format(path=path).encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, "handshake response ended early"
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_frames(sock, deadline=5):
    """Every frame until the server's close frame (or the end of the stream): [(opcode, payload)]."""
    sock.settimeout(deadline)
    frames = []
    while True:
        try:
            b0, b1 = read_exactly(sock, 2)
        except EOFError:
            return frames
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", read_exactly(sock, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", read_exactly(sock, 8))[0]
        frames.append((b0 & 0x0F, read_exactly(sock, n)))
        if b0 & 0x0F == 0x8:
            return frames


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


@pytest.mark.parametrize("path,sent,expected", [
    ("/echo", b"hello", b"hello"),
    ("/ws", b"hello", b"Message text was: hello"),
])
def test_reply_to_a_message_is_written_before_the_close_that_followed_it(start_server, path, sent, expected):
    server = start_server(f"wire-close-order{path.replace('/', '-')}", "--log-level", "warning")
    for attempt in range(20):
        sock = connect(server, path)
        sock.sendall(masked(0x1, sent) + masked(0x8, close_payload(1000)))
        frames = read_frames(sock)
        sock.close()
        assert frames and frames[-1][0] == 0x8, f"attempt {attempt}: no close frame: {frames}"
        assert [f for f in frames if f[0] == 0x1] == [(0x1, expected)], f"attempt {attempt}: {frames}"
        assert frames[-1][1][:2] == close_payload(1000), f"attempt {attempt}: close {frames[-1]}"
    assert server.alive()


def test_reply_and_close_still_go_out_when_the_client_also_shuts_down_its_sending_side(start_server):
    """Message, close and FIN together: the half-closed peer can still read the reply and the close."""
    server = start_server("wire-close-order-fin", "--log-level", "warning")
    for attempt in range(10):
        sock = connect(server, "/echo")
        sock.sendall(masked(0x1, b"last words") + masked(0x8, close_payload(1000)))
        sock.shutdown(socket.SHUT_WR)
        frames = read_frames(sock)
        sock.close()
        assert frames == [(0x1, b"last words"), (0x8, close_payload(1000))], f"attempt {attempt}: {frames}"


def test_many_messages_then_close_in_one_write(start_server):
    server = start_server("wire-close-order-many", "--log-level", "warning")
    sock = connect(server, "/echo")
    sock.sendall(b"".join(masked(0x1, b"m%d" % i) for i in range(50)) + masked(0x8, close_payload(1001)))
    frames = read_frames(sock)
    sock.close()
    assert [p for op, p in frames if op == 0x1] == [b"m%d" % i for i in range(50)]
    assert frames[-1] == (0x8, close_payload(1001))


def test_reply_comes_before_a_protocol_error_close(start_server):
    """A valid message, then a frame with a reserved bit, in one write (Autobahn 3.2 made strict)."""
    server = start_server("wire-close-order-violation", "--log-level", "warning")
    for attempt in range(10):
        sock = connect(server, "/echo")
        bad = bytearray(masked(0x1, b"bad"))
        bad[0] |= 0x40  # RSV1 without an extension
        sock.sendall(masked(0x1, b"first") + bytes(bad))
        frames = read_frames(sock)
        sock.close()
        assert frames[0] == (0x1, b"first"), f"attempt {attempt}: {frames}"
        assert frames[-1][0] == 0x8 and frames[-1][1][:2] == close_payload(1002), f"attempt {attempt}: {frames}"


def test_protocol_connect_waiting_for_its_token_check_is_answered_before_the_close(start_server):
    """The client protocol checks a token off the event loop: the connect is still in the session's
    queue when the close (same write) arrives. The session finishes it, then the close goes out."""
    import json
    import secrets

    import jwt

    secret = secrets.token_hex(32)
    server = start_server("wire-close-order-protocol", "--log-level", "warning", "--token-hmac-secret", secret)
    for attempt in range(10):
        token = jwt.encode({"sub": f"user-{attempt}", "exp": int(time.time()) + 600}, secret, algorithm="HS256")
        sock = connect(server, "/connection/websocket")
        command = json.dumps({"id": 1, "connect": {"token": token}}).encode()
        sock.sendall(masked(0x1, command) + masked(0x8, close_payload(1000)))
        frames = read_frames(sock)
        sock.close()
        texts = [json.loads(p) for op, p in frames if op == 0x1]
        assert texts and texts[0].get("id") == 1 and "connect" in texts[0], f"attempt {attempt}: {frames}"
        assert texts[0]["connect"].get("client"), texts[0]
        assert frames[-1] == (0x8, close_payload(1000)), f"attempt {attempt}: {frames}"


def test_frames_sent_right_behind_the_handshake_in_the_same_write(start_server):
    """The client does not wait for 101: handshake, a message and the close in one write."""
    server = start_server("wire-close-order-early", "--log-level", "warning")
    for attempt in range(10):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(HANDSHAKE.format(path="/echo").encode() + masked(0x1, b"early bird") + masked(0x8, close_payload(1000)))
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = sock.recv(1)
            assert byte, f"attempt {attempt}: handshake response ended early"
            head += byte
        assert head.startswith(b"HTTP/1.1 101"), head
        frames = read_frames(sock)
        sock.close()
        assert frames == [(0x1, b"early bird"), (0x8, close_payload(1000))], f"attempt {attempt}: {frames}"
    assert server.alive()
