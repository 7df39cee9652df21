"""Browser test: the admin page (/admin) in headless Chromium against a real server.

- A wrong password is refused with a message and shows no dashboard.
- The right one opens the dashboard: the node (clients, uptime, engine ready), the channel a protocol
  client (websocket-client, a JWT of user "ops-user") subscribed to, with its subscriber count and,
  once chosen, its presence.
- Publishing from the page reaches that subscriber, and shows in the channel's history.
- "Disconnect" ends the subscriber's connection.
- Logging out and reloading asks for the password again.

Usage: python admin_page.py http://127.0.0.1:PORT ADMIN_PASSWORD TOKEN_HMAC_SECRET [screenshot.png]
The server must run with --admin-password ADMIN_PASSWORD, an admin secret and --token-hmac-secret.
"""

import base64
import hashlib
import hmac
import json
import sys
import threading
import time

import websocket
from selenium.webdriver.common.by import By

from browser import run, texts, wait_until

CHANNEL = "rooms:ops"


def jwt(secret, claims):
    encode = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=")
    head = encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + encode(json.dumps(claims).encode())
    return (head + b"." + encode(hmac.new(secret.encode(), head, hashlib.sha256).digest())).decode()


class Subscriber:
    """A protocol client over a plain WebSocket (JSON), subscribed to CHANNEL, collecting pushes."""

    def __init__(self, base_url, secret):
        self.socket = websocket.create_connection(base_url.replace("http", "ws", 1) + "/connection/websocket", timeout=10)
        token = jwt(secret, {"sub": "ops-user", "exp": int(time.time()) + 600})
        self.socket.send(json.dumps({"id": 1, "connect": {"token": token}}))
        assert "connect" in json.loads(self.socket.recv()), "the subscriber could not connect"
        self.socket.send(json.dumps({"id": 2, "subscribe": {"channel": CHANNEL}}))
        assert "subscribe" in json.loads(self.socket.recv()), "the subscriber could not subscribe"
        self.pushes = []
        self.closed = None
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        try:
            while True:
                opcode, frame = self.socket.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.closed = int.from_bytes(frame[:2], "big") if len(frame) >= 2 else 1005
                    return
                for line in frame.decode().splitlines():
                    message = json.loads(line)
                    if message == {}:
                        self.socket.send("{}")
                    elif "push" in message:
                        self.pushes.append(message["push"])
        except (websocket.WebSocketConnectionClosedException, OSError):
            self.closed = self.closed or 1006

    def published(self):
        return [push["pub"]["data"] for push in self.pushes if push.get("channel") == CHANNEL and "pub" in push]


def visible(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def log_in(driver, password):
    box = driver.find_element(By.ID, "password")
    box.clear()
    box.send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()


def test(base_url, password, secret, screenshot, driver):
    driver.get(base_url + "/admin")
    wait_until(driver, lambda d: visible(d, "login-form"), "no login form", show=lambda d: d.page_source[:500])
    log_in(driver, "not the password")
    wait_until(driver, lambda d: visible(d, "login-error"), "a wrong password was not refused", show=lambda d: d.find_element(By.ID, "login-error").text)
    assert "Wrong password" in driver.find_element(By.ID, "login-error").text
    assert not visible(driver, "dashboard"), "the dashboard shows after a wrong password"

    subscriber = Subscriber(base_url, secret)
    log_in(driver, password)
    wait_until(driver, lambda d: visible(d, "dashboard"), "the right password did not open the dashboard",
               show=lambda d: d.find_element(By.ID, "login-error").text)

    node_rows = lambda d: [row.text for row in d.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")]
    wait_until(driver, lambda d: len(node_rows(d)) == 1 and " 1 1 1 1 " in f" {node_rows(d)[0]} ", "the node's figures (1 client, user, channel, subscription) never showed", show=node_rows)
    assert "ready" in node_rows(driver)[0], node_rows(driver)

    channel_rows = lambda d: texts(d, "#channels tbody tr")
    wait_until(driver, lambda d: f"{CHANNEL} 1" in channel_rows(d), "the subscribed channel never showed", show=channel_rows)
    driver.find_element(By.CSS_SELECTOR, f'#channels tbody tr[data-channel="{CHANNEL}"]').click()
    wait_until(driver, lambda d: any(item.startswith("ops-user") for item in texts(d, "#presence li")), "presence never showed the subscriber",
               show=lambda d: texts(d, "#presence li"))

    assert driver.find_element(By.ID, "publish-channel").get_attribute("value") == CHANNEL, "choosing a channel fills the publish form"
    data = driver.find_element(By.ID, "publish-data")
    data.clear()
    data.send_keys('{"text": "maintenance at noon"}')
    driver.find_element(By.CSS_SELECTOR, "#publish-form button").click()
    wait_until(driver, lambda d: "Published to" in d.find_element(By.ID, "publish-result").text, "the page never said it published",
               show=lambda d: d.find_element(By.ID, "publish-result").text)
    deadline = time.monotonic() + 10
    while {"text": "maintenance at noon"} not in subscriber.published():
        assert time.monotonic() < deadline, f"the publication never reached the subscriber: {subscriber.pushes}"
        time.sleep(0.05)
    wait_until(driver, lambda d: any("maintenance at noon" in item for item in texts(d, "#history li")), "the history never showed the publication",
               show=lambda d: texts(d, "#history li"))

    # Data that is not JSON is refused by the page, not sent.
    data.clear()
    data.send_keys("{not json")
    driver.find_element(By.CSS_SELECTOR, "#publish-form button").click()
    wait_until(driver, lambda d: "not JSON" in d.find_element(By.ID, "publish-result").text, "non-JSON data was not refused",
               show=lambda d: d.find_element(By.ID, "publish-result").text)

    if screenshot:
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(screenshot)

    driver.find_element(By.ID, "disconnect-user").send_keys("ops-user")
    driver.find_element(By.CSS_SELECTOR, "#disconnect-form button").click()
    deadline = time.monotonic() + 10
    while subscriber.closed is None and not any("disconnect" in push for push in subscriber.pushes):
        assert time.monotonic() < deadline, "the disconnected user's connection stayed open"
        time.sleep(0.05)
    wait_until(driver, lambda d: "Disconnected ops-user" in d.find_element(By.ID, "disconnect-result").text, "the page never said it disconnected",
               show=lambda d: d.find_element(By.ID, "disconnect-result").text)

    driver.find_element(By.ID, "logout").click()
    driver.refresh()
    wait_until(driver, lambda d: visible(d, "login-form") and not visible(d, "dashboard"), "logging out did not end the session",
               show=lambda d: d.page_source[:300])
    return "wrong password refused; node, channel, presence, history shown; publish reached the subscriber; disconnect closed it"


def main():
    base_url, password, secret = sys.argv[1:4]
    screenshot = sys.argv[4] if len(sys.argv) > 4 else None
    run(lambda driver: test(base_url, password, secret, screenshot, driver))


if __name__ == "__main__":
    main()
