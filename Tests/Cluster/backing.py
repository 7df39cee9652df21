"""The services the nodes share: the test PostgreSQL (given by scripts/test.sh) or throwaway
redis-servers started here, one per shard, with a way to stop and start each mid-test.

Environment (scripts/test.sh provides the first two; the postgres parameter needs them):
  SWITCHBOARD_CLUSTER_DB         postgres://... of an empty database for these tests
  SWITCHBOARD_TEST_PG_CONTROL    a script taking `stop` or `start` for the test PostgreSQL
  SWITCHBOARD_TEST_REDIS_SERVER  the redis-server executable (default: /usr/bin/redis-server)
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = os.environ.get("SWITCHBOARD_TEST_REDIS_SERVER", "/usr/bin/redis-server")
ENGINES = ("postgres", "redis", "redis-2-shards")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shard_index(channel, shards):
    """RedisEngine.shardIndex: FNV-1a (64 bits) of the UTF-8 name, then Lamping and Veach's jump
    consistent hash, in the same floating-point steps as the Swift code."""
    if shards <= 1:
        return 0
    mask = (1 << 64) - 1
    key = 0xCBF29CE484222325
    for byte in channel.encode():
        key = ((key ^ byte) * 0x100000001B3) & mask
    bucket, following = -1, 0
    while following < shards:
        bucket = following
        key = (key * 2862933555777941757 + 1) & mask
        following = int(float(bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return bucket


class Postgres:
    """The PostgreSQL scripts/test.sh started: every node on one database."""

    name = "PostgreSQL"
    # What a refused publish says while it is down (besides its name).
    outage_words = ("unreachable", "did not answer")

    def __init__(self, tag):
        self.tag = tag
        self.database = os.environ["SWITCHBOARD_CLUSTER_DB"]
        self.control = os.environ["SWITCHBOARD_TEST_PG_CONTROL"]

    def node_arguments(self):
        return ["--engine", "postgres", "--postgres-url", self.database]

    def stop(self, channel):
        """Stop the service the channel lives in."""
        subprocess.run([self.control, "stop"], check=True, timeout=60)

    def start(self):
        """Start again what `stop` stopped."""
        subprocess.run([self.control, "start"], check=True, timeout=60)

    def close(self):
        pass


class RedisServer:
    """A throwaway redis-server on a free loopback port in a temp dir. Its append-only file is
    written at every command (--appendfsync always), so a stop and a start keep what it held."""

    def __init__(self, directory, name):
        self.directory = directory
        self.name = name
        self.port = free_port()
        self.process = None
        self.log_path = os.path.join(directory, f"{name}.log")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout=10):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
             "--dbfilename", f"{self.name}.rdb", "--appendfilename", f"{self.name}.aof",
             "--appenddirname", f"{self.name}-aof", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--daemonize", "no", "--logfile", self.log_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server {self.name} exited: {self.log()}")
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"redis-server {self.name} not up in {timeout} s: {self.log()}")

    def stop(self, timeout=30):
        """SIGTERM (it writes what it holds and exits), then wait."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"redis-server {self.name} did not stop in {timeout} s")
        self.process = None

    def log(self):
        try:
            with open(self.log_path) as log:
                return log.read()[-4000:]
        except OSError:
            return "(no log)"

    def command(self, *arguments, timeout=5):
        """One command over a fresh connection; its reply (error replies raised)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as connection:
            request = f"*{len(arguments)}\r\n".encode()
            for argument in arguments:
                data = str(argument).encode()
                request += b"$%d\r\n%s\r\n" % (len(data), data)
            connection.sendall(request)
            with connection.makefile("rb") as reader:
                return read_reply(reader)

    def keys(self, pattern):
        """Every key matching the pattern (SCAN, so a big keyspace does not block the server)."""
        cursor, found = "0", []
        while True:
            cursor, batch = self.command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found += batch
            if cursor == "0":
                return found


def read_reply(reader):
    """One RESP2 reply: text for simple and bulk strings, int, None, or a list."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise OSError(f"Redis closed the connection mid-reply: {line!r}")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisReplyError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        if int(rest) < 0:
            return None
        data = reader.read(int(rest) + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        return None if int(rest) < 0 else [read_reply(reader) for _ in range(int(rest))]
    raise OSError(f"not a RESP reply: {line!r}")


class RedisReplyError(Exception):
    pass


class Redis:
    """One redis-server per shard; every node lists them all, in the same order."""

    name = "Redis"
    outage_words = ("unavailable", "is closed", "did not answer")

    def __init__(self, tag, shards):
        self.tag = tag
        self.directory = tempfile.mkdtemp(prefix=f"switchboard-cluster-{tag}-")
        self.servers = [RedisServer(self.directory, f"shard{n}") for n in range(shards)]
        self.stopped = []
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.close()
            raise

    def node_arguments(self, urls=None):
        arguments = ["--engine", "redis"]
        for url in urls or [server.url for server in self.servers]:
            arguments += ["--redis-url", url]
        return arguments

    def shard(self, channel):
        return self.servers[shard_index(channel, len(self.servers))]

    def stop(self, channel):
        server = self.shard(channel)
        server.stop()
        self.stopped.append(server)

    def start(self):
        while self.stopped:
            self.stopped.pop().start()

    def close(self):
        for server in self.servers:
            try:
                server.stop()
            except AssertionError:
                pass
        if os.environ.get("SWITCHBOARD_CLUSTER_LOGS"):
            # The servers' logs, beside the nodes' (a failure's evidence), before the dir goes.
            for server in self.servers:
                if os.path.exists(server.log_path):
                    shutil.copy(server.log_path, os.path.join(os.environ["SWITCHBOARD_CLUSTER_LOGS"], f"cluster-{self.tag}-redis-{server.name}.log"))
        shutil.rmtree(self.directory, ignore_errors=True)


def start_backing(engine, tag):
    """The service of an engine of ENGINES; `tag` names its logs."""
    if engine == "postgres":
        service = Postgres(tag)
    elif engine == "redis":
        service = Redis(tag, 1)
    elif engine == "redis-2-shards":
        service = Redis(tag, 2)
    else:
        raise ValueError(f"no engine {engine!r}; the engines are {ENGINES}")
    service.engine = engine
    return service
