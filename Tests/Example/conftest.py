"""Tests of the embedding example (Examples/EmbeddedApp, docs/EMBEDDING.md): the built
`switchboard-example` runs on a free loopback port and is driven as its users would: logging in over
HTTP, then centrifuge-python (JSON and Protobuf) with the session cookie, plain WebSocket clients
and HTTP requests.

Run by scripts/test.sh, which provides:
  SWITCHBOARD_EXAMPLE_BIN  the built switchboard-example executable
  SWITCHBOARD_LOGS         where the app's log goes (default: the temp dir)

`async def` tests run on a fresh event loop each, without a pytest plugin; `fmt` runs a test once
per client format. Every wait is bounded; every process started here is stopped here, by PID.
"""

import asyncio
import inspect
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
import requests

BIN = os.environ.get("SWITCHBOARD_EXAMPLE_BIN", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()


def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=60))
        return True
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """One `switchboard-example` process."""

    def __init__(self, name):
        if not BIN:
            raise RuntimeError("SWITCHBOARD_EXAMPLE_BIN is not set (scripts/test.sh sets it)")
        self.port = free_port()
        self.log_path = os.path.join(LOGS, f"example-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BIN, "--host", "127.0.0.1", "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.wait_ready(15)

    @property
    def http(self):
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def protocol_url(self):
        return self.ws("/realtime/connection/websocket")

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the example exited with {self.process.returncode}: {self.log_text()}")
            try:
                with urllib.request.urlopen(self.http + "/realtime/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the example was not healthy within {timeout} s: {self.log_text()}")

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def login(self, name):
        """Log in through the app's form: the session cookie's value."""
        response = requests.post(self.http + "/login", data={"name": name}, allow_redirects=False, timeout=5)
        assert response.status_code == 303, response.text
        return response.cookies["session"]

    def stop(self, timeout=15):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


@pytest.fixture(scope="module")
def app(request):
    started = App(request.module.__name__.rsplit(".", 1)[-1])
    yield started
    started.stop()


@pytest.fixture(params=["json", "protobuf"])
def fmt(request):
    return request.param
