"""SIGTERM shortly after start: the server must exit 0 with a clean log, whenever the signal comes
(right after /health first answers, or a little later) and whatever is open (nothing, WebSocket
connections on each endpoint, a keep-alive HTTP connection). A regression test for NIO's
"Cannot schedule tasks on an EventLoop that has already shut down", which was printed in about one
run in five when something scheduled work on the event loop group after serve had shut it down."""

import socket
import time

from test_wire_close_order import connect

RUNS = 28
DELAYS = [0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.35, 0.5]
BAD = ("Cannot schedule tasks", "ERROR", "error:", "Fatal error", "fatal error", "Assertion failed")


def test_sigterm_soon_after_start_exits_cleanly_every_time(start_server):
    problems = []
    for run in range(RUNS):
        delay = DELAYS[run % len(DELAYS)]
        mode = run % 4
        # Refused WebSocket requests wait (up to the close timeout) for a close that this client never
        # sends; they are the connections that used to outlive the server.
        timeout = "5" if mode == 3 else "1"
        server = start_server(f"wire-shutdown-{run}", "--log-level", "info", "--close-timeout", timeout)
        held = []
        try:
            if mode == 1:
                for path in ("/echo", "/ws", "/ws/client-%d" % run, "/connection/websocket"):
                    held.append(connect(server, path))
            elif mode == 3:
                for path in ("/ws/not-a-number", "/items/1/ws"):
                    held.append(connect(server, path))
            elif mode == 2:
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                held.append(sock)
            time.sleep(delay)
            code = server.stop(timeout=20)
        finally:
            for sock in held:
                sock.close()
        with open(server.log_path) as f:  # stop() closed the server's end of it
            log = f.read()
        found = [line for line in log.splitlines() if any(bad in line for bad in BAD)]
        if code != 0 or found:
            problems.append(f"run {run} (delay {delay}, exit {code}): {found or log[-500:]}")
    assert not problems, "\n".join(problems)
