"""Issue 11, bugs 5 and 10: validly signed tokens with hostile claims, against a live server.

- Any `exp`, `nbf` or `iat` (huge, negative, fractional) is handled without crashing the process;
  a far-future `exp` is clamped to 10 years; `nbf` ahead of now and `iat` in the future (beyond
  30 s of leeway) are refused.
- Each algorithm is tied to its key: a header naming another algorithm than the key's is refused
  (`RS256` signed with the HMAC secret, `none`, `HS384`).
- `token_audience` / `token_issuer`, when set, must match `aud` / `iss`.
- A connection token's `channels` claim is bound by `client_channel_limit` (3505 `channel limit`).

Tokens are made here by hand (HMAC with the standard library, RSA with the openssl command), so
that headers and claims can say anything.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

from bounds_clients import RawWebSocket

SECRET = "a-test-secret-of-at-least-32-bytes-long!"
TEN_YEARS = 10 * 365 * 86400


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_input(claims, alg, extra_header=None):
    header = {"alg": alg, "typ": "JWT", **(extra_header or {})}
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())


def hs_token(claims, alg="HS256", secret=SECRET, digest=hashlib.sha256):
    head = signing_input(claims, alg)
    return head + "." + b64(hmac.new(secret.encode(), head.encode(), digest).digest())


def rs_token(claims, private_key_path, alg="RS256"):
    head = signing_input(claims, alg)
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", private_key_path], input=head.encode(),
        capture_output=True, check=True, timeout=30).stdout
    return head + "." + b64(signature)


def config_file(settings):
    handle, path = tempfile.mkstemp(suffix=".json", prefix="switchboard-tokens-")
    with os.fdopen(handle, "w") as f:
        json.dump({
            "client_channel_limit": 16,
            "namespaces": [{"name": "rooms", "allow_subscribe_for_client": True},
                           {"name": "private", "private": True}],
            **settings,
        }, f)
    return path


def start(start_server, name, **settings):
    path = config_file({"token_hmac_secret_key": SECRET, **settings})
    try:
        return start_server(name, "--config", path, "--log-level", "warning")
    finally:
        os.unlink(path)


async def connect(server, token, *commands):
    """Send connect (and `commands`) in one message; returns the replies, or ("closed", code, reason)."""
    ws = await RawWebSocket.open(server.port, "/connection/websocket")
    ws.send_text("\n".join(json.dumps(c) for c in [{"id": 1, "connect": {"token": token}}, *commands]))
    replies = []
    try:
        for _ in range(1 + len(commands)):
            replies.append(json.loads(await ws.recv_text()))
    except ConnectionError as closed:
        await ws.close()
        return ("closed", str(closed))
    await ws.close()
    return replies


def closed_with(result, code):
    return isinstance(result, tuple) and result[0] == "closed" and f"({code}," in result[1]


async def test_any_time_claim_is_handled_without_crashing(start_server):
    server = start(start_server, "tokens-times")
    now = time.time()
    # Far-future expiries are accepted, clamped to 10 years.
    for exp in (10**16, 1e16, 1e300, 2**63, 2**64 + 1, now + 3600.5):
        result = await connect(server, hs_token({"sub": "u", "exp": exp}))
        assert server.alive(), f"exp={exp!r} killed the server: {server.log_text()[-2000:]}"
        assert isinstance(result, list), (exp, result)
        ttl = result[0]["connect"]["ttl"]
        assert 3500 <= ttl <= TEN_YEARS, (exp, ttl)
    # Past or negative expiries: "token expired" (109), the connection stays for a refresh.
    for exp in (-(10**16), -1e300, -1.5, now - 10):
        result = await connect(server, hs_token({"sub": "u", "exp": exp}))
        assert isinstance(result, list) and result[0]["error"]["code"] == 109, (exp, result)
    # nbf / iat of any size or sign: only a moment ahead of now (beyond the leeway) is refused.
    for claims in ({"nbf": -(10**16)}, {"nbf": 1.5}, {"iat": -1e300}, {"iat": now - 1e6}, {"nbf": now + 5}):
        result = await connect(server, hs_token({"sub": "u", **claims}))
        assert isinstance(result, list) and "connect" in result[0], (claims, result)
    for claims in ({"nbf": 10**16}, {"nbf": 1e300}, {"iat": 10**16}, {"iat": now + 3600}):
        result = await connect(server, hs_token({"sub": "u", **claims}))
        assert closed_with(result, 3500), (claims, result)
    # The same for subscription tokens.
    for exp in (10**16, 1e300, -(10**16)):
        sub = hs_token({"sub": "u", "channel": "private:x", "exp": exp})
        result = await connect(server, hs_token({"sub": "u"}), {"id": 2, "subscribe": {"channel": "private:x", "token": sub}})
        assert server.alive(), f"subscription exp={exp!r} killed the server"
        assert isinstance(result, list), result
        if exp > 0:
            assert 0 < result[1]["subscribe"]["ttl"] <= TEN_YEARS, result
        else:
            assert result[1]["error"]["code"] == 109, result
    # Claims of the wrong type are refused, not trusted.
    for claims in ({"exp": "soon"}, {"exp": [1]}, {"nbf": {"a": 1}}, {"exp": True}):
        result = await connect(server, hs_token({"sub": "u", **claims}))
        assert closed_with(result, 3500), (claims, result)
    assert server.health()[0] == 200


async def test_not_before_is_honoured(start_server):
    server = start(start_server, "tokens-nbf")
    result = await connect(server, hs_token({"sub": "u", "nbf": time.time() + 3600}))
    assert closed_with(result, 3500) and "not valid" in result[1], result
    sub = hs_token({"sub": "u", "channel": "private:x", "nbf": time.time() + 3600})
    result = await connect(server, hs_token({"sub": "u"}), {"id": 2, "subscribe": {"channel": "private:x", "token": sub}})
    assert result[1]["error"]["code"] == 103 and "not valid" in result[1]["error"]["message"], result


async def test_each_algorithm_is_tied_to_its_key(start_server):
    with tempfile.TemporaryDirectory() as keys:
        private = os.path.join(keys, "rsa.pem")
        subprocess.run(["openssl", "genrsa", "-out", private, "2048"], capture_output=True, check=True, timeout=60)
        public = subprocess.run(["openssl", "rsa", "-in", private, "-pubout"], capture_output=True, check=True,
                                timeout=30).stdout.decode()
        hmac_only = start(start_server, "tokens-alg-hmac")
        both = start(start_server, "tokens-alg-both", token_rsa_public_key=public)
        claims = {"sub": "u"}
        # What each server accepts.
        assert "connect" in (await connect(hmac_only, hs_token(claims)))[0]
        assert "connect" in (await connect(both, hs_token(claims)))[0]
        assert "connect" in (await connect(both, rs_token(claims, private)))[0]
        # A header that names another algorithm than the key that verifies it.
        for server in (hmac_only, both):
            for token in (
                hs_token(claims, alg="RS256"),                                   # HMAC-signed, says RS256
                hs_token(claims, alg="ES256"),
                hs_token(claims, alg="HS384", digest=hashlib.sha384),             # no HS384 key
                signing_input(claims, "none") + ".",                              # unsigned
                hs_token(claims, alg="HS256", secret=public),                     # the public key as HMAC secret
            ):
                result = await connect(server, token)
                assert closed_with(result, 3500), (server.name, token[:40], result)
        # Without an RSA key, a real RS256 token is refused too.
        assert closed_with(await connect(hmac_only, rs_token(claims, private)), 3500)
        # An RSA signature under an HS256 header.
        forged = signing_input(claims, "HS256") + "." + rs_token(claims, private).rsplit(".", 1)[1]
        assert closed_with(await connect(both, forged), 3500)


async def test_audience_and_issuer_when_configured(start_server):
    server = start(start_server, "tokens-aud-iss", token_audience="switchboard", token_issuer="https://auth.example")
    good = {"sub": "u", "aud": "switchboard", "iss": "https://auth.example"}
    assert "connect" in (await connect(server, hs_token(good)))[0]
    assert "connect" in (await connect(server, hs_token({**good, "aud": ["other", "switchboard"]})))[0]
    for claims in (
        {"sub": "u", "iss": "https://auth.example"},                # no aud
        {**good, "aud": "other"},
        {**good, "aud": ["other"]},
        {**good, "aud": 7},
        {"sub": "u", "aud": "switchboard"},                        # no iss
        {**good, "iss": "https://evil.example"},
    ):
        result = await connect(server, hs_token(claims))
        assert closed_with(result, 3500), (claims, result)
    # Subscription tokens too.
    sub_good = hs_token({**good, "channel": "private:x"})
    sub_bad = hs_token({**good, "channel": "private:y", "aud": "other"})
    result = await connect(server, hs_token(good),
                           {"id": 2, "subscribe": {"channel": "private:x", "token": sub_good}},
                           {"id": 3, "subscribe": {"channel": "private:y", "token": sub_bad}})
    assert "subscribe" in result[1], result
    assert result[2]["error"]["code"] == 103 and "aud" in result[2]["error"]["message"], result
    # Without the settings, aud and iss are not checked.
    plain = start(start_server, "tokens-no-aud")
    assert "connect" in (await connect(plain, hs_token({"sub": "u", "aud": "x", "iss": "y"})))[0]


async def test_token_channels_are_bound_by_the_channel_limit(start_server):
    server = start(start_server, "tokens-channels")
    many = [f"rooms:{i}" for i in range(1000)]
    result = await connect(server, hs_token({"sub": "u", "channels": many}))
    assert closed_with(result, 3505) and "channel limit" in result[1], result
    # Duplicates count once; exactly the limit is fine.
    result = await connect(server, hs_token({"sub": "u", "channels": many[:16] + many[:16]}))
    assert len(result[0]["connect"]["subs"]) == 16, result
    # The channels a connection got from its token count against the limit of later subscribes.
    result = await connect(server, hs_token({"sub": "u", "channels": many[:16]}),
                           {"id": 2, "subscribe": {"channel": "rooms:extra"}})
    assert result[1]["error"]["code"] == 106, result
    assert server.rss_bytes() < 150 * 1024 * 1024
