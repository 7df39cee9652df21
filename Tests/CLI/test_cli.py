"""`switchboard version`, the token commands and the configuration commands against the built
binary; tokens are checked by a running server over the real client protocol (raw JSON frames on
/connection/websocket, as any SDK sends them)."""

import json
import os
import re
import socket
import stat
import time
import urllib.request

import jwt
import pytest
from websockets.sync.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from conftest import SECRET, run

VERSION_LINE = re.compile(r"^switchboard \d+\.\d+\.\d+\S* \(Swift [^)]+\)$")


def protocol(server, *commands, timeout=10):
    """Send `commands` (one JSON message each, ids 1, 2, ...) and return the replies, or
    ("closed", code, reason) if the server closes the connection first."""
    replies = []
    with ws_connect(server.ws, open_timeout=timeout, close_timeout=2) as ws:
        try:
            for command in commands:
                ws.send(json.dumps(command))
                while True:
                    reply = json.loads(ws.recv(timeout=timeout))
                    if reply:  # {} is a ping
                        break
                    ws.send("{}")
                replies.append(reply)
        except ConnectionClosed as closed:
            return ("closed", closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else "")
    return replies


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------- version

def test_version_and_dash_dash_version_print_the_same_line():
    status, out, _ = run("version")
    assert status == 0
    assert VERSION_LINE.match(out.strip()), out
    status2, out2, _ = run("--version")
    assert status2 == 0 and out2.strip() == out.strip()


# ---------------------------------------------------------------- tokens

def test_gentoken_mints_a_token_the_server_accepts(tmp_path, server_factory):
    config = tmp_path / "switchboard.yaml"
    status, out, err = run("genconfig", str(config))
    assert status == 0, err
    server = server_factory("gentoken", "--config", str(config))

    status, token, err = run("gentoken", "-u", "28282", "--ttl", "3600", "--channels", "news,alerts",
                             "--info", '{"name":"Ada"}', "--config", str(config))
    assert status == 0, err
    token = token.strip()
    assert token.count(".") == 2 and "\n" not in token
    assert 'user "28282"' in err and "3600" in err
    replies = protocol(server, {"id": 1, "connect": {"token": token}})
    assert "connect" in replies[0], replies
    result = replies[0]["connect"]
    assert result.get("client")
    assert 3590 <= result.get("ttl", 0) <= 3600, result
    assert set(result.get("subs", {})) == {"news", "alerts"}, result

    # The same secret from the environment variable, as for serve.
    secret = re.search(r'token_hmac_secret_key: "([0-9a-f]+)"', config.read_text()).group(1)
    status, token2, err = run("gentoken", "-u", "7", env={"SWITCHBOARD_TOKEN_HMAC_SECRET": secret})
    assert status == 0, err
    assert "connect" in protocol(server, {"id": 1, "connect": {"token": token2.strip()}})[0]

    # A token of another secret is refused by the server and by checktoken.
    status, foreign, _ = run("gentoken", "-u", "1", "--token-hmac-secret", "another-secret-0123456789abcdef0123456789")
    assert status == 0
    closed = protocol(server, {"id": 1, "connect": {"token": foreign.strip()}})
    assert closed[0] == "closed" and closed[1] == 3500, closed
    status, _, err = run("checktoken", foreign.strip(), "--config", str(config))
    assert status == 1 and err.strip() == "invalid connection token: bad signature", err


def test_gensubtoken_grants_its_channel_only(tmp_path, server_factory):
    server = server_factory("gensubtoken", "--token-hmac-secret", SECRET)
    _, conn, _ = run("gentoken", "-u", "5", "--token-hmac-secret", SECRET)
    status, sub, err = run("gensubtoken", "-u", "5", "-s", "room", "--ttl", "600", "--token-hmac-secret", SECRET)
    assert status == 0, err
    assert 'channel "room"' in err
    replies = protocol(server, {"id": 1, "connect": {"token": conn.strip()}},
                       {"id": 2, "subscribe": {"channel": "room", "token": sub.strip()}})
    assert "subscribe" in replies[1], replies
    # The token names its channel: another channel is refused.
    replies = protocol(server, {"id": 1, "connect": {"token": conn.strip()}},
                       {"id": 2, "subscribe": {"channel": "other", "token": sub.strip()}})
    assert isinstance(replies, list) and "subscribe" not in replies[1] and replies[1].get("error"), replies

    status, out, err = run("checksubtoken", sub.strip(), "--token-hmac-secret", SECRET)
    assert status == 0, err
    assert out.startswith('valid subscription token: user "5", channel "room", expires '), out
    # A connection token has no channel claim.
    status, _, err = run("checksubtoken", conn.strip(), "--token-hmac-secret", SECRET)
    assert status == 1 and "no 'channel' claim" in err, err


def test_checktoken_prints_the_claims_of_a_valid_token():
    _, token, _ = run("gentoken", "-u", "42", "--channels", "a", "--info", '{"x":1}', "--token-hmac-secret", SECRET)
    status, out, err = run("checktoken", token.strip(), "--token-hmac-secret", SECRET)
    assert status == 0, err
    lines = out.splitlines()
    assert re.match(r'^valid connection token: user "42", expires \S+Z \(in 60\d{4} s\)$', lines[0]), out
    assert "channels: a" in lines and 'info: {"x":1}' in lines, out
    _, forever, _ = run("gentoken", "-u", "42", "--ttl", "0", "--token-hmac-secret", SECRET)
    status, out, _ = run("checktoken", forever.strip(), "--token-hmac-secret", SECRET)
    assert status == 0 and out.strip() == 'valid connection token: user "42", never expires'


def test_checktoken_refuses_expired_and_garbled_tokens(server_factory):
    expired = jwt.encode({"sub": "u", "exp": int(time.time()) - 60}, SECRET, algorithm="HS256")
    status, out, err = run("checktoken", expired, "--token-hmac-secret", SECRET)
    assert (status, out, err.strip()) == (1, "", "invalid connection token: expired")
    for garbled in ["not-a-token", "a.b.c", expired[:-4] + "AAAA", ""]:
        status, out, err = run("checktoken", garbled, "--token-hmac-secret", SECRET)
        assert status == 1 and out == "", (garbled, out, err)
        assert err.startswith("invalid connection token: "), (garbled, err)
    # The server agrees: the expired token gets "token expired" (109).
    server = server_factory("expired", "--token-hmac-secret", SECRET)
    replies = protocol(server, {"id": 1, "connect": {"token": expired}})
    assert replies[0].get("error", {}).get("code") == 109, replies


def test_token_commands_without_a_key_say_how_to_give_one():
    status, out, err = run("gentoken", "-u", "1")
    assert status != 0 and out == ""
    assert "no HMAC secret" in err and "--token-hmac-secret" in err, err
    status, _, err = run("checktoken", "a.b.c")
    assert status != 0 and "no token keys" in err, err
    status, _, err = run("gentoken", "-u", "1", "--token-hmac-secret", "short")
    assert status != 0 and "at least 32 bytes" in err, err
    status, _, err = run("gentoken", "-u", "1", "--info", "{not json", "--token-hmac-secret", SECRET)
    assert status != 0 and "--info must be valid JSON" in err, err


# ---------------------------------------------------------------- configuration files

GOOD = {
    "json": '{"api_key": "k", "presence": true, "namespaces": [{"name": "chat", "history_size": 10, "history_ttl": "5m"}]}',
    "yaml": "api_key: k\npresence: true\nnamespaces:\n  - name: chat\n    history_size: 10\n    history_ttl: 5m\n",
    "toml": 'api_key = "k"\npresence = true\n[[namespaces]]\nname = "chat"\nhistory_size = 10\nhistory_ttl = "5m"\n',
}
TYPO = {
    "json": '{"namespaces": [{"name": "chat", "histroy_size": 10}]}',
    "yaml": "namespaces:\n  - name: chat\n    histroy_size: 10\n",
    "toml": '[[namespaces]]\nname = "chat"\nhistroy_size = 10\n',
}
SYNTAX = {
    "json": '{"api_key": "k",,}',
    "yaml": "api_key: k\nnamespaces: [chat\npresence: true\n",
    "toml": 'api_key = "k"\npresence = tru\n',
}


@pytest.mark.parametrize("fmt", ["json", "yaml", "toml"])
def test_checkconfig_accepts_a_good_file_in_each_format(tmp_path, fmt):
    path = write(tmp_path, f"good.{fmt}", GOOD[fmt])
    status, out, err = run("checkconfig", path)
    assert (status, out.strip()) == (0, f"{path}: valid"), err
    # Centrifugo's spelling.
    status, out, err = run("checkconfig", "-c", path)
    assert (status, out.strip()) == (0, f"{path}: valid"), err


def test_checkconfig_needs_the_file_once(tmp_path):
    path = write(tmp_path, "good.json", GOOD["json"])
    assert run("checkconfig")[0] == 64
    assert run("checkconfig", path, "--config", path)[0] == 64


def serve_error(path):
    """The error line `switchboard serve --config PATH` prints before exiting."""
    status, _, err = run("serve", "--port", "0", "--config", path, timeout=20)
    assert status != 0
    return next(line for line in err.splitlines() if line.startswith("Error:"))


@pytest.mark.parametrize("fmt", ["json", "yaml", "toml"])
def test_checkconfig_names_a_typo_and_suggests_the_key(tmp_path, fmt):
    path = write(tmp_path, f"typo.{fmt}", TYPO[fmt])
    status, out, err = run("checkconfig", path)
    assert status == 1 and out == ""
    expected = f"Error: configuration file '{path}': unknown namespace setting 'namespaces[0].histroy_size'; did you mean 'history_size'?"
    assert err.strip() == expected
    assert serve_error(path) == expected


@pytest.mark.parametrize("fmt", ["json", "yaml", "toml"])
def test_checkconfig_reports_syntax_errors_with_the_line(tmp_path, fmt):
    path = write(tmp_path, f"broken.{fmt}", SYNTAX[fmt])
    status, _, err = run("checkconfig", path)
    assert status == 1
    line = err.strip()
    assert "\n" not in line, line
    assert line.startswith(f"Error: configuration file '{path}': not valid {fmt.upper()}"), line
    if fmt != "json":
        assert re.search(r"line \d+, column \d+", line), line
    assert serve_error(path) == line


def test_checkconfig_refuses_other_extensions_missing_files_and_bad_values(tmp_path):
    path = write(tmp_path, "config.ini", "api_key = k")
    status, _, err = run("checkconfig", path)
    assert status == 1 and ".json, .yaml, .yml or .toml" in err, err
    status, _, err = run("checkconfig", str(tmp_path / "missing.yaml"))
    assert status == 1 and "cannot read the configuration file" in err, err
    path = write(tmp_path, "short.toml", 'token_hmac_secret_key = "short"\n')
    status, _, err = run("checkconfig", path)
    assert status == 1 and "at least 32 bytes" in err, err
    path = write(tmp_path, "pem.yaml", 'token_rsa_public_key: "not a key"\n')
    status, _, err = run("checkconfig", path)
    assert status == 1 and "cannot read a public key" in err, err


@pytest.mark.parametrize("name", ["config.json", "config.yaml", "config.yml", "config.toml"])
def test_genconfig_writes_a_file_checkconfig_and_serve_accept(tmp_path, server_factory, name):
    path = str(tmp_path / name)
    status, out, err = run("genconfig", path)
    assert status == 0, err
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert re.search(r"token_hmac_secret_key\W+[0-9a-f]{64}", text) and re.search(r"api_key\W+[0-9a-f]{64}", text), text
    admin_password = re.search(r"admin_password\W+([0-9a-f]{32})", text)
    assert admin_password and re.search(r"admin_secret\W+[0-9a-f]{64}", text), text
    status, out, err = run("checkconfig", path)
    assert (status, out.strip()) == (0, f"{path}: valid"), err
    server = server_factory(f"genconfig-{name}", "--config", path)
    _, token, _ = run("gentoken", "-u", "u", "-c", path)
    assert "connect" in protocol(server, {"id": 1, "connect": {"token": token.strip()}})[0]
    # The admin page is on, behind the generated password.
    login = urllib.request.Request(f"http://127.0.0.1:{server.port}/admin/auth", method="POST",
                                   data=json.dumps({"password": admin_password.group(1)}).encode())
    with urllib.request.urlopen(login, timeout=10) as response:
        assert "token" in json.load(response)
    # Never over an existing file; each run has fresh secrets.
    status, _, err = run("genconfig", path)
    assert status == 1 and "already exists" in err, err
    assert open(path).read() == text
    other = str(tmp_path / ("again-" + name))
    assert run("genconfig", other)[0] == 0
    assert open(other).read() != text


# ---------------------------------------------------------------- bind failures

def test_a_port_in_use_is_one_line_naming_the_address(server_factory):
    server = server_factory("holder")
    status, out, err = run("serve", "--host", "127.0.0.1", "--port", str(server.port), "--log-level", "warning", timeout=30)
    assert status == 1, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"Error: cannot listen on 127.0.0.1:{server.port}: the address is already in use (another process listens on this port)"], err
    assert server.process.poll() is None, "the running server is unaffected"


def test_an_address_not_on_this_host_is_one_line():
    # 192.0.2.1 (TEST-NET-1) is on no interface here: bind fails at once, nothing is sent.
    status, _, err = run("serve", "--host", "192.0.2.1", "--port", "8000", "--log-level", "warning", timeout=30)
    assert status == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["Error: cannot listen on 192.0.2.1:8000: the address is not available on this host"], err
