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

import os
import sys
import subprocess
import tempfile

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from switchboard_support import free_port, run_coroutine_test, stop_process, wait_http  # noqa: E402

BIN = os.environ.get("SWITCHBOARD_EXAMPLE_BIN", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()


def pytest_pyfunc_call(pyfuncitem):
    return run_coroutine_test(pyfuncitem, timeout=60)


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
        wait_http(self.http + "/realtime/health", self.process, self.log_text, timeout, what="the example")

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
        code = stop_process(self.process, timeout)
        self.log.close()
        return code


@pytest.fixture(scope="module")
def app(request):
    started = App(request.module.__name__.rsplit(".", 1)[-1])
    yield started
    started.stop()


@pytest.fixture(params=["json", "protobuf"])
def fmt(request):
    return request.param
