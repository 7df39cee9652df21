"""Browser test: a page with no SDK consumes a channel through the unidirectional SSE transport
(`/connection/uni_sse`) with the browser's own EventSource, and recovers what it missed.

- JavaScript injected into an ordinary page opens `new EventSource('/connection/uni_sse?cf_connect=…')`
  with a connection token whose `channels` claim names a `feed:` channel (a namespace with history
  and force_recovery), and collects publications into `window.__got`.
- Two publications (server API) arrive in order.
- The server API disconnects the user: the server ends the stream with a `disconnect` push; the
  page's error handler closes the EventSource (whose own retry would reuse the first URL) and,
  once the test has published three more, reopens it with `subs: {channel: {recover, offset, epoch}}`
  from the last publication it saw. The three arrive once each, in order, in the connect push
  (`recovered: true`), and a later publication arrives live after them.

Usage: python uni_sse.py http://127.0.0.1:PORT API_KEY TOKEN_HMAC_SECRET
(the server must run with Tests/Uni/switchboard.json, that secret and that API key).
"""

import base64
import hashlib
import hmac
import json
import secrets
import sys

from browser import api, run, wait_until

PAGE_SCRIPT = """
const [channel, token] = arguments;
window.__got = []; window.__connects = []; window.__disconnects = []; window.__mayReconnect = false;
let position = null;
function open() {
  const request = {token};
  if (position) request.subs = {[channel]: {recover: true, offset: position.offset, epoch: position.epoch}};
  const source = new EventSource('/connection/uni_sse?cf_connect=' + encodeURIComponent(JSON.stringify(request)));
  source.onmessage = (event) => {
    const push = JSON.parse(event.data);
    if (push.connect) {
      window.__connects.push(push.connect);
      const sub = push.connect.subs[channel];
      if (!position) position = {offset: sub.offset || 0, epoch: sub.epoch};
      for (const pub of sub.publications || []) { window.__got.push(pub.data); position.offset = pub.offset; }
    } else if (push.pub && push.channel === channel) {
      window.__got.push(push.pub.data);
      position.offset = push.pub.offset;
    } else if (push.disconnect) {
      window.__disconnects.push(push.disconnect);
    }
  };
  source.onerror = () => {
    source.close();
    const retry = () => window.__mayReconnect ? open() : setTimeout(retry, 50);
    retry();
  };
}
open();
"""


def token(secret, user, channels):
    def encode(value):
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=")

    signing_input = encode({"alg": "HS256", "typ": "JWT"}) + b"." + encode({"sub": user, "channels": channels})
    signature = base64.urlsafe_b64encode(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


def uni_sse(driver, base_url, key, secret):
    channel = f"feed:{secrets.token_hex(4)}"
    user = f"sse-{secrets.token_hex(3)}"
    # Any page of the server will do: the script only needs its origin.
    driver.get(base_url + "/tutorial")
    driver.execute_script(PAGE_SCRIPT, channel, token(secret, user, [channel]))
    got = lambda d: d.execute_script("return window.__got")
    connects = lambda d: d.execute_script("return window.__connects")
    wait_until(driver, lambda d: len(connects(d)) == 1, "the EventSource never got its connect push", show=connects)

    for text in ("one", "two"):
        api(base_url, key, "publish", {"channel": channel, "data": text})
    wait_until(driver, lambda d: got(d) == ["one", "two"], "the live publications did not arrive in order", show=got)

    api(base_url, key, "disconnect", {"user": user})
    disconnects = lambda d: d.execute_script("return window.__disconnects")
    wait_until(driver, lambda d: len(disconnects(d)) == 1, "the stream did not end with a disconnect push", show=disconnects)
    assert disconnects(driver)[0]["code"] == 3503, disconnects(driver)
    for text in ("missed 1", "missed 2", "missed 3"):
        api(base_url, key, "publish", {"channel": channel, "data": text})
    driver.execute_script("window.__mayReconnect = true")

    expected = ["one", "two", "missed 1", "missed 2", "missed 3"]
    wait_until(driver, lambda d: got(d) == expected, "the missed publications were not recovered once each, in order", show=got)
    second = connects(driver)[1]["subs"][channel]
    assert second.get("recovered") is True, second
    assert [p["data"] for p in second["publications"]] == expected[2:], second
    api(base_url, key, "publish", {"channel": channel, "data": "after"})
    wait_until(driver, lambda d: got(d) == expected + ["after"], "a publication after the recovery did not arrive", show=got)
    return "EventSource on /connection/uni_sse: connect push, 2 live, 3 recovered after a server disconnect, 1 live"


def main():
    base_url, key, secret = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    run(lambda driver: uni_sse(driver, base_url, key, secret))


if __name__ == "__main__":
    main()
