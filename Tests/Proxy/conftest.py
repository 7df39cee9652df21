"""Centrifugo's HTTP proxy end to end: a real `switchboard serve` whose configuration file sends
connect, refresh, subscribe, publish and rpc to an aiohttp backend (backend.py) that runs as a
process of its own, and the real centrifuge-python SDK as the client.

Run by scripts/test.sh, which provides:
  SWITCHBOARD_BIN     the built switchboard executable
  SWITCHBOARD_LOGS    where the server's and backend's logs go (default: the temp dir)

Async tests run on a fresh event loop each (no pytest plugin). Every wait is bounded; every process
started here is stopped here, by PID.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from switchboard_support import free_port, run_coroutine_test, stop_process, wait_http  # noqa: E402

BIN = os.environ.get("SWITCHBOARD_BIN", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()
HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_pyfunc_call(pyfuncitem):
    return run_coroutine_test(pyfuncitem, timeout=60)


def read(path):
    with open(path) as f:
        return f.read()


class Backend:
    """backend.py on a free port."""

    def __init__(self):
        self.port = free_port()
        self.log_path = os.path.join(LOGS, "proxy-backend.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "backend.py"), str(self.port)], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_http(self.url("/_requests"), self.process, lambda: read(self.log_path), 15, what="the backend")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path):
        with urllib.request.urlopen(self.url("/_requests"), timeout=5) as response:
            return [r for r in json.loads(response.read()) if r["path"] == path]

    def stop(self):
        stop_process(self.process)
        self.log.close()


class Server:
    """One `switchboard serve` with a configuration file written from `config`."""

    def __init__(self, name, config, *args):
        if not BIN:
            raise RuntimeError("SWITCHBOARD_BIN is not set (scripts/test.sh sets it)")
        self.port = free_port()
        self.config_path = os.path.join(LOGS, f"proxy-{name}.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)
        self.log_path = os.path.join(LOGS, f"proxy-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--config", self.config_path, *args],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_http(f"http://127.0.0.1:{self.port}/health", self.process, lambda: read(self.log_path), 15)

    @property
    def http(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self):
        return f"ws://127.0.0.1:{self.port}/connection/websocket"

    def log_text(self):
        self.log.flush()
        return read(self.log_path)

    def stop(self):
        code = stop_process(self.process)
        self.log.close()
        return code


@pytest.fixture(scope="module")
def backend():
    started = Backend()
    yield started
    started.stop()


def proxied_config(backend):
    """What a Centrifugo v5 user writes: the proxy_*_endpoint settings, headers, namespace switches."""
    return {
        "proxy_connect_endpoint": backend.url("/centrifugo/connect"),
        "proxy_connect_timeout": "1s",
        "proxy_refresh_endpoint": backend.url("/centrifugo/refresh"),
        "proxy_subscribe_endpoint": backend.url("/centrifugo/subscribe"),
        "proxy_publish_endpoint": backend.url("/centrifugo/publish"),
        "proxy_sub_refresh_endpoint": backend.url("/centrifugo/sub_refresh"),
        "proxy_rpc_endpoint": backend.url("/centrifugo/rpc"),
        "proxy_rpc_timeout": "1s",
        "proxy_http_headers": ["Cookie", "User-Agent", "X-Real-Ip"],
        "namespaces": [
            {"name": "rooms", "proxy_subscribe": True, "proxy_publish": True, "proxy_sub_refresh": True, "history_size": 10, "history_ttl": "60s"},
            {"name": "plain", "allow_subscribe_for_client": True},
        ],
    }


@pytest.fixture(scope="module")
def server(backend):
    started = Server("server", proxied_config(backend))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def down_server():
    """A server whose connect backend is not running: nothing listens on its port."""
    config = {"proxy_connect_endpoint": f"http://127.0.0.1:{free_port()}/centrifugo/connect", "proxy_connect_timeout": "1s"}
    started = Server("down", config)
    yield started
    started.stop()
