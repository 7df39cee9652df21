#!/usr/bin/env python3
"""Runs the benchmark scenarios against Switchboard and the FastAPI tutorial, side by side.

Each scenario gets a fresh server process pinned to CPU 0 (taskset) and the load generator
(switchboard-bench) pinned to CPU 1. Server CPU is read from /proc, so the per-operation figures stay
meaningful when the generator is the one saturated. Prints a table with Switchboard / FastAPI ratios,
then the whole run as JSON (also written to --out). Called by Benchmarks/run.sh, which builds first.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CPU, GENERATOR_CPU = "0", "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """One server process for one scenario."""

    def __init__(self, name, command, port, env=None, cwd=None):
        self.name, self.port = name, port
        self.log = open(os.path.join(ROOT, ".build", "bench", f"{name}-server.log"), "ab")
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU] + command,
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd, preexec_fn=raise_fd_limit,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited at start; see .build/bench/{name}-server.log")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{name} did not answer /health within 30 s")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def start_server(name, args):
    port = free_port()
    if name in ("switchboard", "switchboard-prometheus"):
        command = [args.switchboard, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                   "--config", os.path.join(ROOT, "Benchmarks", "switchboard.json")]
        # The same server with /metrics on, scraped every second while it is measured (see run_scenario).
        if name == "switchboard-prometheus":
            command.append("--prometheus")
        return Server(name, command, port)
    if name == "fastapi":
        uvicorn = os.path.join(args.fastapi_venv, "bin", "uvicorn")
        command = [uvicorn, "fastapi_tutorial:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        return Server(name, command, port, cwd=os.path.join(ROOT, "Benchmarks", "peers"))
    if name == "socketify":
        python = os.path.join(args.fastapi_venv, "bin", "python")
        command = [python, "socketify_peer.py", str(port)]
        return Server(name, command, port, cwd=os.path.join(ROOT, "Benchmarks", "peers"))
    raise ValueError(f"unknown server {name}")


def scrape_every_second(port, stop):
    """What a Prometheus server does to a node: GET /metrics every second, until `stop` is set."""
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                response.read()
        except OSError:
            pass


def run_scenario(args, server_name, scenario, options):
    server = start_server(server_name, args)
    stop_scraping = threading.Event()
    if server_name == "switchboard-prometheus":
        threading.Thread(target=scrape_every_second, args=(server.port, stop_scraping), daemon=True).start()
    try:
        command = ["taskset", "-c", GENERATOR_CPU, args.bench, scenario, "--port", str(server.port),
                   "--server-pid", str(server.pid), "--server-name", server_name] + options
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.scenario_timeout, preexec_fn=raise_fd_limit)
        if done.returncode != 0:
            raise RuntimeError(f"{scenario} against {server_name} failed: {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        stop_scraping.set()
        server.stop()


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# (scenario key, metric, label, True if higher is better)
ROWS = [
    ("echo", "round_trips_per_s", "echo: round trips/s", True),
    ("echo", "p50_us", "echo: p50 µs", False),
    ("echo", "p99_us", "echo: p99 µs", False),
    ("echo", "p999_us", "echo: p99.9 µs", False),
    ("echo", "server_cpu_us_per_round_trip", "echo: server CPU µs/round trip", False),
    ("echo", "generator_cpu_percent", "echo: generator CPU %", None),
]
FANOUT_ROWS = [
    ("deliveries_per_s", "deliveries/s (max rate)", True),
    ("server_cpu_us_per_delivery", "server CPU µs/delivery", False),
    ("fixed_rate_p50_us", "p50 µs at {rate}/s", False),
    ("fixed_rate_p99_us", "p99 µs at {rate}/s", False),
    ("fixed_rate_server_cpu_us_per_delivery", "server CPU µs/delivery at {rate}/s", False),
    ("fixed_rate_generator_cpu_us_per_delivery", "generator CPU µs/delivery at {rate}/s", None),
    ("lost", "lost", False),
    ("disconnects", "disconnects", False),
    ("generator_cpu_percent", "generator CPU %", None),
]
CONNECTION_ROWS = [
    ("handshakes_per_s", "handshakes/s", True),
    ("server_cpu_us_per_handshake", "server CPU µs/handshake", False),
    ("rss_bytes_per_connection", "RSS bytes/connection", False),
    ("failed_connections", "failed", False),
]


def table(results, servers, rate):
    rows = []
    for key, metric, label, better in ROWS:
        rows.append((key, metric, label, better))
    for prefix, name in (("fanout", "chat fan-out"), ("channel", "channel fan-out"),
                         ("channel-protobuf", "channel fan-out, Protobuf subscribers")):
        keys = [k for k in results if k.startswith(prefix + "-") and k[len(prefix) + 1:].isdigit()]
        for key in sorted(keys, key=lambda k: int(k.rsplit("-", 1)[1])):
            subscribers = key.rsplit("-", 1)[1]
            for metric, label, better in FANOUT_ROWS:
                rows.append((key, metric, f"{name} S={subscribers}: " + label.format(rate=int(rate)), better))
    for key in sorted(k for k in results if k.startswith("connections")):
        for metric, label, better in CONNECTION_ROWS:
            rows.append((key, metric, f"{key.replace('-', ' N=')}: {label}", better))
    peers = [s for s in servers if s != "switchboard"] if "switchboard" in servers else []
    header = ["metric"] + servers + [f"switchboard / {peer}" for peer in peers]
    lines = []
    for key, metric, label, better in rows:
        if key not in results:
            continue
        values = [results[key].get(server, {}).get("metrics", {}).get(metric) for server in servers]
        cells = [label] + [fmt(v) for v in values]
        sb = results[key].get("switchboard", {}).get("metrics", {}).get(metric)
        for peer in peers:
            other = results[key].get(peer, {}).get("metrics", {}).get(metric)
            ratio = ""
            if isinstance(sb, (int, float)) and isinstance(other, (int, float)) and other not in (0, 0.0):
                ratio = f"{sb / other:.2f}×" + ("" if better is None else (" (higher better)" if better else " (lower better)"))
            cells.append(ratio)
        lines.append(cells)
    widths = [max(len(str(row[i])) for row in [header] + lines) for i in range(len(header))]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in lines]
    return "\n".join(out)


def fmt(value):
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", required=True, help="path of the switchboard-bench binary")
    parser.add_argument("--switchboard", required=True, help="path of the switchboard binary")
    parser.add_argument("--fastapi-venv", help="virtualenv with fastapi and uvicorn")
    parser.add_argument("--servers", default="switchboard,fastapi,socketify",
                        help="switchboard, switchboard-prometheus (with --prometheus, /metrics scraped every second), "
                             "fastapi (the tutorial's code on uvicorn), socketify (the same endpoints on uWebSockets)")
    parser.add_argument("--scenarios", default="echo,fanout,channel,channel-protobuf,connections",
                        help="echo, fanout (the tutorial chat), channel (a protocol channel, JSON subscribers; Switchboard only), "
                             "channel-protobuf (the same with Protobuf subscribers, centrifuge-protobuf subprotocol), connections")
    parser.add_argument("--quick", action="store_true", help="short runs and smaller sizes, to try the benchmark out")
    parser.add_argument("--subscribers", default=None, help="fan-out sizes, comma-separated (default 100,1000,10000)")
    parser.add_argument("--connections", type=int, default=None, help="idle connections to open (default 10000)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of each measured phase (default 10)")
    parser.add_argument("--rate", type=float, default=10.0, help="broadcasts/s in the fan-out latency phase")
    parser.add_argument("--scenario-timeout", type=float, default=300)
    parser.add_argument("--out", default=os.path.join(ROOT, ".build", "bench", "results.json"))
    args = parser.parse_args()
    os.makedirs(os.path.join(ROOT, ".build", "bench"), exist_ok=True)
    if os.cpu_count() < 2:
        sys.exit("error: the benchmark pins the server and the generator to different CPUs and needs 2")

    servers = args.servers.split(",")
    if {"fastapi", "socketify"} & set(servers) and not args.fastapi_venv:
        sys.exit("error: --fastapi-venv (the peers' virtualenv) is needed to run the FastAPI and socketify peers")
    duration = args.duration or (3.0 if args.quick else 10.0)
    subscribers = [int(s) for s in (args.subscribers or ("100,1000" if args.quick else "100,1000,10000")).split(",")]
    connections = args.connections or (2000 if args.quick else 10000)
    scenarios = args.scenarios.split(",")

    results = {}
    for server in servers:
        if "echo" in scenarios:
            print(f"... {server}: echo", file=sys.stderr, flush=True)
            results.setdefault("echo", {})[server] = run_scenario(
                args, server, "echo", ["--warmup", "2", "--duration", str(duration)])
        if "fanout" in scenarios:
            for s in subscribers:
                print(f"... {server}: fan-out to {s}", file=sys.stderr, flush=True)
                results.setdefault(f"fanout-{s}", {})[server] = run_scenario(
                    args, server, "fanout", ["--subscribers", str(s), "--rate", str(args.rate),
                                             "--rate-duration", str(duration), "--max-duration", str(duration)])
        if "channel" in scenarios and server.startswith("switchboard"):
            for s in subscribers:
                print(f"... {server}: fan-out to {s} in a protocol channel", file=sys.stderr, flush=True)
                results.setdefault(f"channel-{s}", {})[server] = run_scenario(
                    args, server, "fanout", ["--transport", "protocol", "--subscribers", str(s), "--rate", str(args.rate),
                                             "--rate-duration", str(duration), "--max-duration", str(duration)])
        if "channel-protobuf" in scenarios and server.startswith("switchboard"):
            for s in subscribers:
                print(f"... {server}: fan-out to {s} Protobuf subscribers in a protocol channel", file=sys.stderr, flush=True)
                results.setdefault(f"channel-protobuf-{s}", {})[server] = run_scenario(
                    args, server, "fanout", ["--transport", "protocol", "--format", "protobuf", "--subscribers", str(s),
                                             "--rate", str(args.rate), "--rate-duration", str(duration), "--max-duration", str(duration)])
        if "connections" in scenarios:
            print(f"... {server}: {connections} connections", file=sys.stderr, flush=True)
            results.setdefault(f"connections-{connections}", {})[server] = run_scenario(
                args, server, "connections", ["--count", str(connections)])

    run = {"machine": machine(), "quick": args.quick, "duration_s": duration, "results": results}
    with open(args.out, "w") as f:
        json.dump(run, f, indent=2, sort_keys=True)
    m = run["machine"]
    print(f"\nSwitchboard benchmark — {m['date']}, {m['cpu']}, {m['cores']} cores, kernel {m['kernel']}, commit {m['commit']}")
    print(f"server on CPU {SERVER_CPU}, generator on CPU {GENERATOR_CPU}; measured phases of {duration:g} s\n")
    print(table(results, servers, args.rate))
    print(f"\nJSON (also in {os.path.relpath(args.out, ROOT)}):")
    print(json.dumps(run, sort_keys=True))


if __name__ == "__main__":
    main()
