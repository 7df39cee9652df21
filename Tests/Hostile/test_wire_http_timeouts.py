"""HTTP requests that never complete, and malformed ones: a connection that has not upgraded to a
WebSocket gets a request-head timeout (a silent connection, slowloris) and an idle timeout (keep-alive
between requests); a malformed request is answered 400 and closed; a WebSocket handshake whose
Sec-WebSocket-Key is not 16 base64-encoded bytes is refused with 400. Upgraded connections are not
affected by these HTTP timeouts.

The timeouts are set through the environment (SWITCHBOARD_REQUEST_HEAD_TIMEOUT,
SWITCHBOARD_HTTP_IDLE_TIMEOUT), one test through the flags. Every wait is bounded, with generous
margins over the configured timeouts."""

import socket
import time

import pytest

MARGIN = 4  # seconds over a configured timeout before a test gives up


def open_socket(server):
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def wait_closed(sock, within):
    """(closed, data): reads until EOF or reset, at most `within` seconds."""
    deadline = time.monotonic() + within
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


def request(sock, raw):
    sock.sendall(raw)
    return wait_closed(sock, 5)


@pytest.fixture
def quick(start_server):
    """A server with a 1 s request-head timeout and a long idle timeout."""
    return start_server(
        "wire-http-quick-head", "--log-level", "warning",
        env={"SWITCHBOARD_REQUEST_HEAD_TIMEOUT": "1", "SWITCHBOARD_HTTP_IDLE_TIMEOUT": "60"},
    )


def test_a_connection_that_sends_nothing_is_closed(quick):
    sock = open_socket(quick)
    closed, _ = wait_closed(sock, 1 + MARGIN)
    sock.close()
    assert closed, "a silent connection was still open after the request-head timeout"
    assert quick.health()[0] == 200


def test_slowloris_incomplete_head_is_closed_with_408_although_bytes_keep_coming(quick):
    sock = open_socket(quick)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    deadline = time.monotonic() + 1 + MARGIN
    closed = False
    data = b""
    while time.monotonic() < deadline and not closed:
        try:
            sock.sendall(b"X")  # one byte of a header that never ends
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        closed, more = wait_closed(sock, 0.2)
        data += more
    sock.close()
    assert closed, "a request head dribbled byte by byte was never timed out"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data


def test_garbage_request_line_gets_400_and_close(quick):
    sock = open_socket(quick)
    closed, data = request(sock, b"HELLO THERE\r\n\r\n")
    sock.close()
    assert data.startswith(b"HTTP/1.1 400"), data
    assert closed


def test_content_length_with_transfer_encoding_gets_400_and_close(quick):
    sock = open_socket(quick)
    closed, data = request(
        sock,
        b"POST /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    sock.close()
    assert data.startswith(b"HTTP/1.1 400"), data
    assert closed


def test_garbage_after_a_good_request_on_keep_alive_gets_400_and_close(quick):
    sock = open_socket(quick)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(5)
    first = sock.recv(4096)
    assert first.startswith(b"HTTP/1.1 200"), first
    closed, data = request(sock, b"\x00\x01\x02 nonsense\r\n\r\n")
    sock.close()
    assert data.startswith(b"HTTP/1.1 400"), data
    assert closed


@pytest.mark.parametrize("key", [
    "abc",                               # not 16 bytes
    "dGhlIHNhbXBsZSBub25j",              # 15 bytes
    "dGhlIHNhbXBsZSBub25jZSE=",          # 17 bytes
    "dGhlIHNhbXBsZSBub25jZQ",            # 16 bytes without padding
    "dGhlIHNhbXBsZSBub25j!Q==",          # not base64
])
def test_websocket_key_that_is_not_16_base64_bytes_is_refused_with_400(quick, key):
    sock = open_socket(quick)
    closed, data = request(
        sock,
        ("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode(),
    )
    sock.close()
    assert data.startswith(b"HTTP/1.1 400"), data


def test_upgraded_connections_outlive_the_http_timeouts(quick):
    from test_wire_close_order import connect, masked, read_exactly
    sock = connect(quick, "/echo")
    time.sleep(2.5)  # past the 1 s request-head timeout
    sock.sendall(masked(0x1, b"still here"))
    sock.settimeout(5)
    assert read_exactly(sock, 12) == b"\x81\x0astill here"
    sock.close()


def test_keep_alive_connection_idle_between_requests_is_closed_by_the_idle_timeout(start_server):
    server = start_server("wire-http-idle", "--log-level", "warning",
                          "--request-head-timeout", "60", "--http-idle-timeout", "1")
    sock = open_socket(server)
    for _ in range(3):  # keep-alive still works for requests in a row
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    closed, data = wait_closed(sock, 1 + MARGIN)
    sock.close()
    assert closed and data == b"", (closed, data)
