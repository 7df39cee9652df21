"""Unidirectional transport tests (uni_http_stream, uni_sse, uni_websocket): each test module gets
its own real `switchboard serve` process on a free loopback port, started here with this directory's
switchboard.json (a `feed` namespace with history and force_recovery), a fresh HMAC secret and API
key, and a one-second ping interval.

Run by scripts/test.sh, which provides:
  SWITCHBOARD_BIN     the built switchboard executable
  SWITCHBOARD_LOGS    where the server's log goes (default: the temp dir)

Every wait is bounded; the server started here is stopped here, by PID.
"""

import os
import sys
import secrets
import subprocess
import tempfile
import urllib.request

import jwt
import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from switchboard_support import free_port, run_coroutine_test, stop_process, wait_http  # noqa: E402

BIN = os.environ.get("SWITCHBOARD_BIN", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "switchboard.json")


class Server:
    """One `switchboard serve` process with a token secret and an API key."""

    def __init__(self, name, *args):
        if not BIN:
            raise RuntimeError("SWITCHBOARD_BIN is not set (scripts/test.sh sets it)")
        self.secret = secrets.token_hex(32)
        self.api_key = secrets.token_hex(16)
        self.port = free_port()
        self.log_path = os.path.join(LOGS, f"uni-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--config", CONFIG,
             "--token-hmac-secret", self.secret, "--api-key", self.api_key, "--ping-interval", "1", *args],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.wait_ready(15)

    @property
    def http(self):
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout):
        wait_http(self.http + "/health", self.process, self.log_text, timeout)

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def token(self, user, channels=()):
        return jwt.encode({"sub": user, "channels": list(channels)}, self.secret, algorithm="HS256")

    def api(self, method, **params):
        response = requests.post(f"{self.http}/api/{method}", json=params, headers={"X-API-Key": self.api_key}, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert "error" not in body, body
        return body["result"]

    def connections(self):
        with urllib.request.urlopen(self.http + "/health", timeout=5) as response:
            import json
            return json.loads(response.read())["connections"]

    def stop(self, timeout=15):
        code = stop_process(self.process, timeout)
        self.log.close()
        return code


@pytest.fixture(scope="module")
def server(request):
    started = Server(request.module.__name__.rsplit(".", 1)[-1])
    yield started
    started.stop()
