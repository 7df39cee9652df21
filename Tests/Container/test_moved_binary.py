"""The release binary runs anywhere: copied alone into an empty directory, with no build folder
reachable, it serves the web page and its assets (they are compiled in: scripts/embed-pages.sh),
and links nothing from the Swift toolchain (`--static-swift-stdlib`).

Run by scripts/test.sh, which provides:
  SWITCHBOARD_RELEASE_BIN  the static release build of `switchboard`
  SWITCHBOARD_LOGS         where the server's log goes (default: the temp dir)

As root (CI), the server runs in a mount namespace of its own where the repository, and with it
every build folder, is hidden under an empty tmpfs; elsewhere the copy is still alone in its
directory (the binary has no resource bundle to look for any more).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from switchboard_support import free_port, stop_process, wait_http  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PUBLIC = os.path.join(ROOT, "Sources", "SwitchboardServer", "Public")
BIN = os.environ.get("SWITCHBOARD_RELEASE_BIN", "")
LOGS = os.environ.get("SWITCHBOARD_LOGS") or tempfile.gettempdir()
# What a glibc Linux has anyway (zlib: the HTTP client's decompression); everything Swift (stdlib, Foundation, Dispatch) is linked in.
SYSTEM_LIBRARIES = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1",
                    "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1"}


def release_bin():
    assert BIN, "SWITCHBOARD_RELEASE_BIN is not set (scripts/test.sh sets it)"
    assert os.access(BIN, os.X_OK), f"{BIN} is not an executable"
    return BIN


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def test_only_system_libraries_are_linked():
    output = subprocess.run(["ldd", release_bin()], capture_output=True, text=True, timeout=30, check=True).stdout
    names = {line.split()[0] for line in output.splitlines() if line.strip()}
    names = {os.path.basename(name) for name in names if not os.path.basename(name).startswith("ld-linux")}
    assert names <= SYSTEM_LIBRARIES, f"links more than the C/C++ runtime: {sorted(names - SYSTEM_LIBRARIES)}\n{output}"
    assert not any("swift" in line.lower() for line in output.splitlines()), output


def test_copied_alone_it_serves_the_page_and_assets():
    alone = tempfile.mkdtemp(prefix="switchboard-moved-")
    log_path = os.path.join(LOGS, "moved-binary.log")
    process = None
    try:
        binary = os.path.join(alone, "switchboard")
        shutil.copy2(release_bin(), binary)
        assert os.listdir(alone) == ["switchboard"]
        port = free_port()
        command = [binary, "serve", "--host", "127.0.0.1", "--port", str(port)]
        hidden = os.geteuid() == 0 and shutil.which("unshare") is not None
        if hidden:
            # No --fork: unshare execs sh, which execs the server, so SIGTERM reaches it. The check
            # fails the start (and so the test) if the repository is still visible.
            script = ('mount -t tmpfs switchboard-hidden "$1" && shift && '
                      '[ -z "$(ls -A "$0")" ] || { echo "the repository is still visible" >&2; exit 97; }; exec "$@"')
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, ROOT, ROOT, *command]
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=alone)

        def log_text():
            with open(log_path) as f:
                return f.read()

        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health", process, log_text, 30, "the copied binary")
        status, content_type, body = get(base + "/")
        assert status == 200 and content_type.startswith("text/html")
        with open(os.path.join(PUBLIC, "index.html"), "rb") as f:
            assert body == f.read()
        for name in ("switchboard.js", "chat.css"):
            status, content_type, body = get(f"{base}/static/{name}")
            with open(os.path.join(PUBLIC, name), "rb") as f:
                assert (status, body) == (200, f.read()), name
        assert stop_process(process) == 0, log_text()
        print(f"copied binary served / and its assets (build folders hidden: {hidden})")
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(alone, ignore_errors=True)
