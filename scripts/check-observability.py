#!/usr/bin/env python3
"""Observability checks against the built server (docs/OBSERVABILITY.md), run by scripts/test.sh:

  scripts/check-observability.py BIN [--sigterms N] [--work DIR]

1. `switchboard serve --prometheus --log-format json --log-level debug`; a protocol client connects,
   subscribes and publishes, a tutorial chat client talks, the server API publishes; then /metrics:
   the exposition must pass `promtool check metrics` (Debian's `prometheus` package; the only
   complaints accepted are about the suffixes of Centrifugo's counter names, no `_total` or a
   `_count`, kept so that Centrifugo's dashboards work) and hold the documented series with the
   expected values.
2. A real Prometheus (when `prometheus` is installed) scrapes the server on loopback for a few
   seconds; its query API must return the series.
3. Every line the server wrote to stderr is a JSON object with timestamp, level, label and message;
   connection open/close are logged at debug with the close code, start and stop at info.
4. N SIGTERMs (default 30) with clients connected (protocol, chat, raw echo, a keep-alive HTTP
   connection), at varied delays: each must exit 0 within 20 s, and every line must be JSON (an
   unformatted line, such as NIO's "Cannot schedule tasks on an EventLoop that has already shut
   down", fails).

Only the standard library; every process it starts is stopped by PID.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

API_KEY = "observability-check-key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, log_path, *args):
        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"error: the server exited with {self.process.returncode}: {self.text()}")
            try:
                with urllib.request.urlopen(self.url("/health"), timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"error: the server did not answer /health: {self.text()}")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, timeout=20):
        """SIGTERM; the exit status (None if it had to be killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.log.close()
                return None
        self.log.close()
        return self.process.returncode


class WebSocket:
    """A minimal blocking WebSocket client: text frames, masked, no extensions."""

    def __init__(self, port, path):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SystemExit(f"error: {path}: the server closed during the handshake")
            head += chunk
        head, self.buffer = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit(f"error: {path}: no upgrade: {head[:200]!r}")

    def send(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("error: the server closed the WebSocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self):
        """The next text message (pings are answered by nobody here: the tests are short)."""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(length)
            if first & 0x0F == 0x1:
                return payload.decode()
            if first & 0x0F == 0x8:
                raise SystemExit(f"error: the server closed the WebSocket: {payload!r}")

    def close(self):
        self.sock.close()


def http(url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read().decode()


def samples(exposition):
    found = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            found[series] = float(value)
    return found


def check(condition, message, problems):
    if not condition:
        problems.append(message)


def exercise(server):
    """Clients that leave a trace in every metric family; returns the ones still open."""
    client = WebSocket(server.port, "/connection/websocket")
    client.send('{"id":1,"connect":{}}')
    client.receive()
    client.send('{"id":2,"subscribe":{"channel":"rooms:lobby"}}')
    client.receive()
    client.send('{"id":3,"publish":{"channel":"rooms:lobby","data":{"text":"hi"}}}')
    client.receive()
    client.receive()
    chat = WebSocket(server.port, "/ws/1")
    chat.send("hello")
    chat.receive()
    chat.receive()
    status, _, body = http(
        server.url("/api/publish"),
        json.dumps({"channel": "rooms:lobby", "data": {"text": "from the API"}}).encode(),
        {"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    if status != 200 or '"result"' not in body:
        raise SystemExit(f"error: the server API did not publish: {status} {body}")
    client.receive()  # the API's publication
    return [client, chat]


EXPECTED = {
    "centrifugo_node_num_clients": 1,
    "centrifugo_node_num_users": 1,
    "centrifugo_node_num_channels": 2,
    "centrifugo_node_num_subscriptions": 2,
    "switchboard_node_num_connections": 2,
    'centrifugo_node_messages_sent_count{type="publication"}': 3,
    'centrifugo_node_messages_received_count{type="publication"}': 3,
    'centrifugo_client_command_duration_seconds_count{method="connect"}': 1,
    'centrifugo_client_command_duration_seconds_count{method="subscribe"}': 1,
    'centrifugo_client_command_duration_seconds_count{method="publish"}': 1,
    'centrifugo_api_command_duration_seconds_count{method="publish",protocol="http"}': 1,
    'centrifugo_transport_messages_received{transport="websocket"}': 3,
    'centrifugo_transport_messages_sent{transport="websocket"}': 5,
    'centrifugo_transport_messages_received{transport="websocket_raw"}': 1,
    "switchboard_engine_publish_duration_seconds_count": 3,
    "switchboard_engine_publish_errors_total": 0,
}
PRESENT = ['centrifugo_client_num_server_disconnects{code="3001"}', 'centrifugo_node_build{version="']


def check_metrics(server, work, problems):
    status, headers, body = http(server.url("/metrics"))
    check(status == 200, f"/metrics answered {status}", problems)
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    check(content_type.startswith("text/plain; version=0.0.4"), f"/metrics content type {content_type!r}", problems)
    with open(os.path.join(work, "metrics.txt"), "w") as f:
        f.write(body)
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
    complaints = [line for line in (lint.stdout + lint.stderr).splitlines() if line.strip()]
    # Centrifugo's counters are named `…_count` and without `_total`; the names are kept for its dashboards.
    centrifugo_naming = ('should have "_total" suffix', 'should not have "_count" suffix')
    unexpected = [line for line in complaints if not (line.startswith("centrifugo_") and any(c in line for c in centrifugo_naming))]
    print(f"promtool check metrics: exit {lint.returncode}, {len(complaints)} complaints, {len(unexpected)} not about Centrifugo's counter names")
    check(lint.returncode in (0, 3) and not unexpected, f"promtool check metrics (exit {lint.returncode}): {unexpected}", problems)
    found = samples(body)
    for series, value in EXPECTED.items():
        check(found.get(series) == value, f"{series} = {found.get(series)}, expected {value}", problems)
    for prefix in PRESENT:
        check(any(series.startswith(prefix) for series in found), f"no series {prefix}…", problems)
    print(f"/metrics: {len(found)} series; {len(EXPECTED)} checked for their values")


def check_with_prometheus(server, work, problems):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("prometheus is not installed: skipping the real scrape")
        return
    port = free_port()
    config = os.path.join(work, "prometheus.yml")
    with open(config, "w") as f:
        f.write(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            f"scrape_configs:\n  - job_name: switchboard\n    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n"
        )
    log = open(os.path.join(work, "prometheus.log"), "wb")
    process = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wanted = ["centrifugo_node_num_clients", 'up{job="switchboard"}', "centrifugo_client_command_duration_seconds_count",
                  "centrifugo_node_messages_sent_count", "centrifugo_transport_messages_sent"]
        results = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(results) < len(wanted):
            for query in wanted:
                if query in results:
                    continue
                try:
                    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
                    _, _, body = http(url)
                    data = json.loads(body)["data"]["result"]
                    if data:
                        results[query] = data
                except (urllib.error.URLError, OSError, KeyError, ValueError):
                    pass
            time.sleep(0.5)
        for query in wanted:
            check(query in results, f"Prometheus has no {query} after 30 s (see {work}/prometheus.log)", problems)
        # Every query of the shipped Grafana dashboard is valid PromQL on these series and finds data.
        dashboard = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "grafana", "switchboard-dashboard.json")
        with open(dashboard) as f:
            expressions = [t["expr"] for panel in json.load(f)["panels"] for t in panel["targets"]]
        empty = []
        for expression in expressions:
            query = expression.replace("$__rate_interval", "1m").replace("$instance", ".*")
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            try:
                _, _, body = http(url)
                answer = json.loads(body)
            except urllib.error.HTTPError as error:
                problems.append(f"dashboard query refused by Prometheus ({error.code}): {query}: {error.read()[:200]!r}")
                continue
            if answer.get("status") != "success":
                problems.append(f"dashboard query failed: {query}: {answer}")
            elif not answer["data"]["result"] and "rate(" not in query:
                empty.append(query)
        check(not empty, f"dashboard queries without data: {empty}", problems)
        print(f"the Grafana dashboard's {len(expressions)} queries run on Prometheus")
        if 'up{job="switchboard"}' in results:
            check(results['up{job="switchboard"}'][0]["value"][1] == "1", "Prometheus: the target is not up", problems)
        if "centrifugo_node_num_clients" in results:
            check(results["centrifugo_node_num_clients"][0]["value"][1] == "1", "Prometheus: num_clients is not 1", problems)
        print(f"Prometheus {subprocess.run([prometheus, '--version'], capture_output=True, text=True).stdout.split()[2]} scraped the server: "
              f"{len(results)} of {len(wanted)} queries answered")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def json_lines(text, problems, what):
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"{what}: not a JSON line: {line[:300]}")
            continue
        if not isinstance(record, dict) or not {"timestamp", "level", "label", "message"} <= record.keys():
            problems.append(f"{what}: a JSON line without timestamp, level, label and message: {line[:300]}")
            continue
        records.append(record)
    return records


def check_logs(text, problems):
    records = json_lines(text, problems, "the log")

    def has(level, message, key=None):
        return any(r["level"] == level and r["message"].startswith(message) and (key is None or key in r.get("metadata", {}))
                   for r in records)

    check(has("info", "Switchboard listening", "address"), "no 'Switchboard listening' at info", problems)
    check(has("debug", "WebSocket connection opened", "transport"), "no connection opened at debug", problems)
    check(has("debug", "WebSocket connection closed", "close.code"), "no connection closed at debug with its close code", problems)
    check(has("info", "Shutting down"), "no 'Shutting down' at info", problems)
    check(has("info", "Switchboard stopped"), "no 'Switchboard stopped' at info", problems)
    print(f"log: {len(records)} JSON lines")


def sigterms(binary, runs, work, problems):
    delays = [0, 0.01, 0.05, 0.1, 0.2, 0.5]
    failures = 0
    for run in range(runs):
        server = Server(binary, os.path.join(work, f"sigterm-{run}.log"), "--log-format", "json", "--close-timeout", "1")
        held = []
        try:
            client = WebSocket(server.port, "/connection/websocket")
            client.send('{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"rooms:r"}}')
            held.append(client)
            for path in ("/ws/%d" % run, "/echo"):
                held.append(WebSocket(server.port, path))
            keep_alive = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            keep_alive.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            held.append(keep_alive)
            time.sleep(delays[run % len(delays)])
            code = server.stop()
        finally:
            for connection in held:
                connection.close()
        before = len(problems)
        check(code == 0, f"SIGTERM run {run}: exit status {code}", problems)
        json_lines(server.text(), problems, f"SIGTERM run {run}")
        failures += len(problems) > before
    print(f"SIGTERM with clients connected: {runs - failures} of {runs} runs exited 0 with JSON lines only")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--sigterms", type=int, default=int(os.environ.get("OBSERVABILITY_SIGTERMS", "30")))
    parser.add_argument("--work", default=None)
    arguments = parser.parse_args()
    work = arguments.work or tempfile.mkdtemp(prefix="switchboard-observability-")
    os.makedirs(work, exist_ok=True)
    if shutil.which("promtool") is None:
        raise SystemExit("error: promtool is missing (Debian's prometheus package; scripts/test.sh installs it)")
    problems = []

    server = Server(arguments.binary, os.path.join(work, "server.log"), "--prometheus", "--log-format", "json",
                    "--log-level", "debug", "--api-key", API_KEY, "--close-timeout", "1")
    try:
        clients = exercise(server)
        check_metrics(server, work, problems)
        check_with_prometheus(server, work, problems)
        # The protocol client leaves without a close frame (logged as dropped); the chat client is
        # still connected at SIGTERM and gets the server's 1001 (logged with its code).
        clients[0].close()
    finally:
        code = server.stop()
    check(code == 0, f"the server exited with {code} on SIGTERM", problems)
    check_logs(server.text(), problems)

    off = Server(arguments.binary, os.path.join(work, "off.log"))
    try:
        try:
            http(off.url("/metrics"))
            problems.append("/metrics answered without --prometheus")
        except urllib.error.HTTPError as error:
            check(error.code == 404, f"/metrics without --prometheus: {error.code}, expected 404", problems)
    finally:
        off.stop()

    sigterms(arguments.binary, arguments.sigterms, work, problems)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"(logs in {work})", file=sys.stderr)
        sys.exit(1)
    print("Observability checks passed")
    if arguments.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
