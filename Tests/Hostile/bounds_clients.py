"""Raw WebSocket frames for the hostile tests (`masked`), and a minimal raw client on asyncio streams: it can stop reading
altogether (which the `websockets` library never does: it reads in the background), it sends
exactly the frames it is given, and it parses what the server sent, close frames included.
"""

import asyncio
import base64
import os
import struct


def masked(opcode, payload, fin=True):
    """One client frame (masked, as RFC 6455 requires of clients)."""
    mask = os.urandom(4)
    length = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    # XOR with the repeated mask as one big integer: fast enough for megabytes of floods.
    key = (mask * (length // 4 + 1))[:length]
    return head + mask + (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


class RawWebSocket:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port, path, timeout=10, buffer_limit=1 << 16):
        """Connect and complete the handshake. `buffer_limit` bounds what asyncio reads ahead for a
        client that does not read: past about twice that, the socket is left unread and the
        server's writes back up into its own buffers."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, limit=buffer_limit), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            writer.close()
            raise ConnectionError(f"handshake refused: {status!r}")
        return cls(reader, writer)

    def send_text(self, text):
        self.send_frame(0x1, text.encode())

    def send_frame(self, opcode, payload, fin=True):
        self.writer.write(masked(opcode, payload, fin))

    async def drain(self):
        await self.writer.drain()

    async def recv_frame(self, timeout=10):
        """(opcode, payload) of the next frame; raises asyncio.IncompleteReadError at EOF."""
        async def read():
            b0, b1 = await self.reader.readexactly(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return b0 & 0x0F, await self.reader.readexactly(length)
        return await asyncio.wait_for(read(), timeout)

    async def recv_text(self, timeout=10):
        """The next text message, answering pings and skipping pongs on the way."""
        while True:
            opcode, payload = await self.recv_frame(timeout)
            if opcode == 0x1:
                return payload.decode()
            if opcode == 0x8:
                raise ConnectionError(f"closed: {close_code(payload)}")

    async def close_frame(self, timeout=15):
        """Read until the server's close frame: (code, reason); None if the TCP connection ended
        without one, "timeout" if nothing more came within `timeout`. Data frames are skipped."""
        try:
            while True:
                opcode, payload = await self.recv_frame(timeout)
                if opcode == 0x8:
                    return close_code(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        except asyncio.TimeoutError:
            return "timeout"

    def abort(self):
        """Drop the TCP connection without a close handshake."""
        self.writer.transport.abort()

    async def close(self):
        try:
            self.send_frame(0x8, struct.pack("!H", 1000))
            await asyncio.wait_for(self.writer.drain(), 2)
        except (ConnectionError, asyncio.TimeoutError):
            pass
        self.writer.close()


def close_code(payload):
    if len(payload) < 2:
        return (1005, "")
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode(errors="replace")
