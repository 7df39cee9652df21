"""deploy/nginx.conf itself (the file compose.yaml mounts), run by Debian's nginx in front of two
`switchboard serve --engine postgres` nodes (the release binary) on the test script's PostgreSQL:
only the node host names and the listen port are swapped for loopback ports. WebSockets, the pages
and the server API go through it; a publication sent through nginx reaches subscribers on both nodes,
and many handshakes in a row all upgrade (no upstream keepalive: a reused connection would get 404)."""

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request

import jwt
import pytest
from websockets.sync.client import connect

from conftest import LOGS
from switchboard_support import free_port, stop_process, wait_http

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("SWITCHBOARD_RELEASE_BIN", "")
DB = os.environ.get("SWITCHBOARD_CLUSTER_DB", "")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def cluster():
    assert BIN and DB, "SWITCHBOARD_RELEASE_BIN and SWITCHBOARD_CLUSTER_DB are not set (scripts/test.sh sets them)"
    secret, api_key = secrets.token_hex(32), secrets.token_hex(16)
    prefix = tempfile.mkdtemp(prefix="switchboard-nginx-")
    processes = []
    try:
        nodes = []
        for index in (1, 2):
            port = free_port()
            log = open(os.path.join(LOGS, f"nginx-node{index}.log"), "w")
            process = subprocess.Popen(
                [BIN, "serve", "--host", "127.0.0.1", "--port", str(port), "--engine", "postgres",
                 "--postgres-url", DB, "--token-hmac-secret", secret, "--api-key", api_key, "--close-timeout", "1"],
                stdout=log, stderr=subprocess.STDOUT)
            processes.append((process, log))
            nodes.append(port)
        for index, port in enumerate(nodes, 1):
            process, log = processes[index - 1]
            wait_http(f"http://127.0.0.1:{port}/health", process, lambda: open(log.name).read(), 30, f"node {index}")
        listen = free_port()
        with open(os.path.join(ROOT, "deploy", "nginx.conf")) as f:
            conf = f.read()
        swapped = conf.replace("server node1:8000", f"server 127.0.0.1:{nodes[0]}")
        swapped = swapped.replace("server node2:8000", f"server 127.0.0.1:{nodes[1]}")
        swapped = re.sub(r"listen 80;", f"listen 127.0.0.1:{listen};", swapped)
        swapped = swapped.replace("http {", f"http {{\n    access_log {prefix}/access.log;", 1)
        assert swapped.count("127.0.0.1:") == 3, "deploy/nginx.conf no longer has node1:8000, node2:8000 and listen 80"
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(swapped)
        nginx_log = open(os.path.join(LOGS, "nginx.log"), "w")
        nginx = subprocess.Popen(
            [NGINX, "-p", prefix, "-c", os.path.join(prefix, "nginx.conf"),
             "-g", f"daemon off; pid {prefix}/nginx.pid; error_log {prefix}/error.log warn;"],
            stdout=nginx_log, stderr=subprocess.STDOUT)
        processes.append((nginx, nginx_log))
        wait_http(f"http://127.0.0.1:{listen}/health", nginx, lambda: open(os.path.join(prefix, "error.log")).read()
                  if os.path.exists(os.path.join(prefix, "error.log")) else "", 15, "nginx")
        yield {"port": listen, "secret": secret, "api_key": api_key, "nodes": nodes}
    finally:
        for process, log in reversed(processes):
            stop_process(process)
            log.close()
        if os.path.exists(os.path.join(prefix, "error.log")):
            shutil.copy(os.path.join(prefix, "error.log"), os.path.join(LOGS, "nginx-error.log"))
        shutil.rmtree(prefix, ignore_errors=True)


def token(cluster, user, channels):
    return jwt.encode({"sub": user, "exp": int(time.time()) + 600, "channels": channels}, cluster["secret"], algorithm="HS256")


def protocol_client(stack, url, cluster, user, channel):
    ws = stack.enter_context(connect(url, open_timeout=5))
    ws.send(json.dumps({"id": 1, "connect": {"token": token(cluster, user, [channel])}}))
    reply = json.loads(ws.recv(timeout=5).splitlines()[0])
    assert channel in reply["connect"].get("subs", {}), reply
    return ws


def wait_publication(ws, channel, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in ws.recv(timeout=max(0.1, deadline - time.monotonic())).splitlines():
            push = json.loads(line).get("push", {}) if line.strip() else {}
            if push.get("channel") == channel and "pub" in push:
                return push["pub"]["data"]
    raise AssertionError(f"no publication on {channel} within {timeout} s")


def test_websockets_pages_and_api_through_deploy_nginx_conf(cluster):
    base = f"127.0.0.1:{cluster['port']}"
    with urllib.request.urlopen(f"http://{base}/", timeout=5) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
    # Plain requests and handshakes in turn, each handshake upgraded: with upstream keepalive, nginx
    # would send a handshake on a connection a plain request had used, and the node answers 404.
    for i in range(20):
        with urllib.request.urlopen(f"http://{base}/health", timeout=5) as response:
            assert response.status == 200
        with connect(f"ws://{base}/echo", open_timeout=5) as ws:
            ws.send(f"through nginx {i}")
            assert ws.recv(timeout=5) == f"through nginx {i}"
    # One subscriber straight on each node, one through nginx; the publication goes through nginx
    # to either node and reaches all three through PostgreSQL.
    channel = "news-" + secrets.token_hex(4)
    with contextlib.ExitStack() as stack:
        clients = [protocol_client(stack, f"ws://127.0.0.1:{port}/connection/websocket", cluster, f"direct{i}", channel)
                   for i, port in enumerate(cluster["nodes"])]
        clients.append(protocol_client(stack, f"ws://{base}/connection/websocket", cluster, "proxied", channel))
        request = urllib.request.Request(
            f"http://{base}/api/publish", method="POST",
            data=json.dumps({"channel": channel, "data": {"via": "nginx"}}).encode(),
            headers={"X-API-Key": cluster["api_key"], "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert "error" not in answer, answer
        for ws in clients:
            assert wait_publication(ws, channel) == {"via": "nginx"}
