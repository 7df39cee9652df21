"""What the Python suites that start processes of their own share (Tests/Uni, Tests/Hostile,
Tests/Proxy, Tests/Example): async tests without a plugin, free loopback ports, waiting for a
process's HTTP endpoint, and stopping a process by PID. Each conftest adds this directory to
sys.path and imports from here.
"""

import asyncio
import inspect
import socket
import subprocess
import time
import urllib.error
import urllib.request


def run_coroutine_test(pyfuncitem, timeout):
    """The body of a `pytest_pyfunc_call` hook: run an `async def` test on a fresh event loop, bounded
    by `timeout` seconds. True if it ran the test, None to leave a plain test to pytest."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=timeout))
    return True


def free_port():
    """A loopback port that was free just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, process, log_text, timeout, what="the server"):
    """Wait until `url` answers 200, at most `timeout` seconds; fail with the process's log (from
    `log_text()`) if it does not, or if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer {url} within {timeout} s: {log_text()}")


def stop_process(process, timeout=15):
    """SIGTERM, then SIGKILL after `timeout` seconds; the exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
