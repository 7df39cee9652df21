"""The image built from the project's Dockerfile: it serves, reports healthy, runs as its non-root
user, echoes WebSocket messages, delivers a server-API publication to a protocol subscriber, and on
`podman stop` (SIGTERM) closes its clients with 1001 / 3001 and exits 0 within the close timeout."""

import contextlib
import json
import os
import time
import urllib.request

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import podman

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def api(container, method, params):
    request = urllib.request.Request(
        f"{container.http}/api/{method}", data=json.dumps(params).encode(), method="POST",
        headers={"X-API-Key": container.api_key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def replies(ws, timeout=5):
    """The JSON protocol's replies and pushes in the next frame (one per line)."""
    frame = ws.recv(timeout=timeout)
    return [json.loads(line) for line in frame.splitlines() if line.strip()]


@contextlib.contextmanager
def subscriber(container, channel):
    """A raw JSON protocol client, subscribed to `channel` by its token (server-side subscription)."""
    with connect(container.ws("/connection/websocket"), open_timeout=5) as ws:
        ws.send(json.dumps({"id": 1, "connect": {"token": container.token("alice", [channel]), "name": "container-test"}}))
        reply = replies(ws)[0]
        assert reply.get("id") == 1 and channel in reply["connect"].get("subs", {}), reply
        yield ws


def close_code(ws, timeout):
    """The code of the close frame the server sends, waiting at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return "no close within %.1f s" % timeout
    return "no close"


def test_health_page_and_asset(container):
    status, _, body = get(container.http + "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, content_type, body = get(container.http + "/")
    with open(os.path.join(ROOT, "Sources", "SwitchboardServer", "Public", "index.html"), "rb") as f:
        assert (status, body) == (200, f.read())
    assert content_type.startswith("text/html")
    status, content_type, _ = get(container.http + "/static/switchboard.js")
    assert status == 200 and content_type.startswith("text/javascript")


def test_healthcheck_is_in_the_image_and_passes(container):
    assert "switchboard-healthcheck" in container.state(".Config.Healthcheck.Test"), "HEALTHCHECK lost (build with --format docker)"
    result = podman("healthcheck", "run", container.name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert podman("inspect", "--format", "{{.State.Health.Status}}", container.name).stdout.strip() == "healthy"


def test_runs_as_the_non_root_user(container):
    assert podman("exec", container.name, "id", "-u").stdout.strip() == "10001"
    pid = container.state(".State.Pid")
    with open(f"/proc/{pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert set(uids) == {"10001"}, f"the server process runs as {uids}"


def test_websocket_echo(container):
    with connect(container.ws("/echo"), open_timeout=5) as ws:
        ws.send("héllo from the host")
        assert ws.recv(timeout=5) == "héllo from the host"
        ws.send(bytes(range(256)) * 100)
        assert ws.recv(timeout=5) == bytes(range(256)) * 100


def test_api_publish_reaches_a_subscriber(container):
    with subscriber(container, "news") as ws:
        answer = api(container, "publish", {"channel": "news", "data": {"text": "from the API"}})
        assert "error" not in answer, answer
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for message in replies(ws, timeout=max(0.1, deadline - time.monotonic())):
                push = message.get("push", {})
                if push.get("channel") == "news" and "pub" in push:
                    assert push["pub"]["data"] == {"text": "from the API"}
                    return
        raise AssertionError("the publication did not arrive within 5 s")


def test_sigterm_closes_clients_and_exits_zero(start_container):
    container = start_container("stop", close_timeout=2)
    with connect(container.ws("/echo"), open_timeout=5) as echo, subscriber(container, "news") as protocol:
        started = time.monotonic()
        # podman stop sends the image's STOPSIGNAL (SIGTERM); SIGKILL only after 15 s.
        stop = podman("stop", "--time", "15", container.name, timeout=30)
        took = time.monotonic() - started
        assert close_code(echo, 5) == 1001
        assert close_code(protocol, 5) == 3001
    assert container.state(".State.ExitCode") == "0", container.logs()
    # Within the close timeout (2 s; these clients answer at once) plus podman's own overhead, far
    # from podman's 15 s SIGKILL.
    assert took < container.close_timeout + 4, f"podman stop took {took:.1f} s: {stop.stdout}"
    print(f"podman stop: {took:.2f} s, exit 0")
