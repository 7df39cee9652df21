"""Hostile-client tests: each starts its own real `switchboard serve` process on a free loopback port,
attacks it, and checks that the process survives, answers others, and stays within memory and CPU
bounds (read from /proc, with generous margins: these are bounds, not timings).

Run by scripts/test.sh, which provides:
  SWITCHBOARD_BIN     the built switchboard executable
  SWITCHBOARD_LOGS    where the servers' logs go (default: the temp dir)

Every wait is bounded; every process started here is stopped here, by PID.
"""

import asyncio
import inspect
import os
import sys
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from switchboard_support import free_port, run_coroutine_test, stop_process, wait_http  # noqa: E402

BIN = os.environ.get("SWITCHBOARD_BIN", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pytest_pyfunc_call(pyfuncitem):
    """Runs `async def` tests on a fresh event loop each, without a pytest plugin."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=180))
        return True
    return None


class Server:
    """One `switchboard serve` process. `preexec` runs in the child before exec (e.g. to lower
    RLIMIT_NOFILE); `env` adds environment variables."""

    def __init__(self, name, *args, env=None, preexec=None, ready_timeout=15):
        if not BIN:
            raise RuntimeError("SWITCHBOARD_BIN is not set (scripts/test.sh sets it)")
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(LOGS, f"hostile-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, preexec_fn=preexec,
        )
        self.wait_ready(ready_timeout)

    @property
    def pid(self):
        return self.process.pid

    @property
    def http(self):
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def health(self, timeout=5):
        """(status, body) of GET /health, or (None, reason) when it did not answer in time."""
        try:
            with urllib.request.urlopen(self.http + "/health", timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            return None, str(error)

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_text()}")
            if self.health(timeout=1)[0] == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not healthy within {timeout} s: {self.log_text()}")

    def alive(self):
        return self.process.poll() is None

    def rss_bytes(self):
        """Resident set size now, from /proc/PID/statm."""
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE

    def cpu_seconds(self):
        """User + system CPU time used so far, from /proc/PID/stat."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=15):
        """SIGTERM, wait; returns the exit code (kill -9 and raise if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"{self.name} did not stop within {timeout} s of SIGTERM")
        self.log.close()
        return self.process.returncode


@pytest.fixture
def start_server():
    """start_server(name, *args, **kwargs) -> Server; every server started is stopped afterwards."""
    started = []

    def start(name, *args, **kwargs):
        server = Server(name, *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        server.log.close()
