"""The container tests: the image scripts/test.sh built from the project's Dockerfile with podman,
run with host networking on a free loopback port, and the release binary itself (copied alone; two
nodes behind deploy/nginx.conf).

Run by scripts/test.sh, which provides:
  SWITCHBOARD_IMAGE        the image's tag (test_image.py; podman's CONTAINERS_CONF and
                           CONTAINERS_STORAGE_CONF point at the test script's private storage)
  SWITCHBOARD_RELEASE_BIN  the static release build (test_moved_binary.py, test_nginx.py)
  SWITCHBOARD_CLUSTER_DB   an empty PostgreSQL database URL for the nodes behind nginx (test_nginx.py)
  SWITCHBOARD_LOGS         where logs go (default: the temp dir)

Every container started here is removed here; every process is stopped by PID; every wait is bounded.
"""

import os
import secrets
import subprocess
import sys
import tempfile
import time

import jwt
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from switchboard_support import free_port, wait_http  # noqa: E402

IMAGE = os.environ.get("SWITCHBOARD_IMAGE", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()


def podman(*args, timeout=60, check=True):
    """Run podman with the test script's private configuration; its CompletedProcess (text)."""
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result


class Container:
    """One container of the image, host networking, serving on a free loopback port."""

    def __init__(self, name, *serve_args, close_timeout=2):
        if not IMAGE:
            raise RuntimeError("SWITCHBOARD_IMAGE is not set (scripts/test.sh sets it)")
        self.name = f"switchboard-test-{name}-{secrets.token_hex(3)}"
        self.port = free_port()
        self.secret = secrets.token_hex(32)
        self.api_key = secrets.token_hex(16)
        self.close_timeout = close_timeout
        # Address and keys through the variables the image's healthcheck also reads; the image's own
        # ENTRYPOINT and CMD (`switchboard serve`) unless serve_args replace the command.
        # --health-interval disable: no systemd timer for the HEALTHCHECK (there is no systemd here);
        # the test runs it itself with `podman healthcheck run`.
        podman("run", "--detach", "--name", self.name, "--network", "host", "--pull", "never",
               "--health-interval", "disable", "--read-only", "--cap-drop", "ALL",
               "--env", "SWITCHBOARD_HOST=127.0.0.1", "--env", f"SWITCHBOARD_PORT={self.port}",
               "--env", f"SWITCHBOARD_TOKEN_HMAC_SECRET={self.secret}", "--env", f"SWITCHBOARD_API_KEY={self.api_key}",
               "--env", f"SWITCHBOARD_CLOSE_TIMEOUT={close_timeout}",
               IMAGE, *serve_args)
        self.wait_ready(30)

    @property
    def http(self):
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def token(self, user, channels=()):
        return jwt.encode({"sub": user, "exp": int(time.time()) + 600, "channels": list(channels)},
                          self.secret, algorithm="HS256")

    def state(self, field):
        return podman("inspect", "--format", "{{" + field + "}}", self.name).stdout.strip()

    def logs(self):
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def wait_ready(self, timeout):
        class Process:  # wait_http's view of the container: poll() is its exit code once it stopped
            def __init__(self, container):
                self.container = container

            def poll(self):
                return None if self.container.state(".State.Running") == "true" else self.container.state(".State.ExitCode")

            @property
            def returncode(self):
                return self.poll()

        wait_http(self.http + "/health", Process(self), self.logs, timeout, f"container {self.name}")

    def save_logs(self):
        with open(os.path.join(LOGS, f"{self.name}.log"), "w") as f:
            f.write(self.logs())

    def remove(self):
        self.save_logs()
        podman("rm", "--force", "--time", "0", self.name, check=False)


@pytest.fixture
def start_container():
    """start_container(name, *serve_args) -> Container; every container started is removed afterwards."""
    started = []

    def start(name, *args, **kwargs):
        container = Container(name, *args, **kwargs)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()


@pytest.fixture(scope="module")
def container():
    """One container shared by a module's checks that leave it running."""
    running = Container("shared")
    yield running
    running.remove()
