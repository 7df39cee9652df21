"""The `switchboard` command line, run as a real process: version, the token commands (tokens
checked by a running `switchboard serve` over the real protocol), the configuration commands in
JSON, YAML and TOML, and the one-line bind failure.

Run by scripts/test.sh, which provides:
  SWITCHBOARD_BIN     the built switchboard executable
  SWITCHBOARD_LOGS    where the servers' logs go (default: the temp dir)

Every wait is bounded; every process started here is stopped here, by PID.
"""

import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from switchboard_support import free_port, stop_process, wait_http  # noqa: E402

BIN = os.environ.get("SWITCHBOARD_BIN", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()
SECRET = "cli-tests-secret-0123456789abcdef0123456789"


def run(*args, env=None, timeout=30):
    """Run `switchboard ARGS`: (exit status, stdout, stderr). The environment has no SWITCHBOARD_*
    variables of the caller's, so only what a test gives counts."""
    if not BIN:
        raise RuntimeError("SWITCHBOARD_BIN is not set (scripts/test.sh sets it)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    result = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env={**clean, **(env or {})})
    return result.returncode, result.stdout, result.stderr


class Server:
    """One `switchboard serve` process on a free loopback port."""

    def __init__(self, name, *args, port=None):
        self.port = port or free_port()
        self.log_path = os.path.join(LOGS, f"cli-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", *args],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_http(f"http://127.0.0.1:{self.port}/health", self.process, self.log_text, 20)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    @property
    def ws(self):
        return f"ws://127.0.0.1:{self.port}/connection/websocket"

    def stop(self):
        status = stop_process(self.process)
        self.log.close()
        return status


@pytest.fixture
def server_factory():
    servers = []

    def start(name, *args, **kwargs):
        server = Server(name, *args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
