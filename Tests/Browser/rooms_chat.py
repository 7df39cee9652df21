"""Browser test: the chat app at / (rooms over the client protocol) in three tabs of headless Chromium.

- Ann and Bob enter room "lobby" in two tabs: each sees the other online and the other's messages
  (markup shown as text, never as HTML); Ann sees "Bob joined".
- Cid in room "kitchen" (a third tab) sees none of it, and they see nothing of his.
- Bob reloads: his tab enters the lobby again by itself and shows the room's history in order.
- The server drops Ann's connection (server API `disconnect`, a reconnecting code) and three messages
  are published while she is away: her tab reconnects and recovers all three, each shown once.

Usage: python rooms_chat.py http://127.0.0.1:PORT API_KEY [screenshot.png]
"""

import sys

from selenium.webdriver.common.by import By

from browser import api, chat_lines, run, texts, wait_for_line, wait_until


def status(driver):
    return driver.find_element(By.ID, "status").text


def wait_connected(driver):
    wait_until(driver, lambda d: status(d) == "Connected", "the room never connected", show=lambda d: [status(d), *chat_lines(d)])


def enter(driver, base_url, name, room):
    driver.get(base_url + "/")
    driver.find_element(By.ID, "nickname").send_keys(name)
    box = driver.find_element(By.ID, "room")
    box.clear()
    box.send_keys(room)
    driver.find_element(By.ID, "join-button").click()
    wait_connected(driver)
    assert driver.current_url.endswith(f"/?room={room}"), f"the URL does not name the room: {driver.current_url}"
    assert not driver.find_element(By.ID, "join-form").is_displayed(), "the nickname form still shows in the room"
    assert driver.find_element(By.ID, "room-name").text == room


def online(driver):
    return texts(driver, "#presence li")


def wait_online(driver, expected):
    wait_until(driver, lambda d: sorted(online(d)) == sorted(expected), f"online list never became {expected!r}", show=online)


def send(driver, text):
    box = driver.find_element(By.ID, "message-text")
    box.send_keys(text)
    driver.find_element(By.ID, "send-button").click()


def message_items(driver):
    """("author: text", class) of each chat message, leaving out the page's own notes."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#messages li.message')].map((item) =>
          [item.querySelector('.author').textContent + ': ' + item.querySelector('.text').textContent, item.className]);
    """)


def main():
    base_url = sys.argv[1].rstrip("/")
    key = sys.argv[2]
    screenshot = sys.argv[3] if len(sys.argv) > 3 else None
    run(lambda driver: rooms(driver, base_url, key, screenshot))


def rooms(driver, base_url, key, screenshot):
    ann = driver.current_window_handle
    enter(driver, base_url, "Ann", "lobby")
    wait_online(driver, ["Ann (you)"])

    driver.switch_to.new_window("tab")
    bob = driver.current_window_handle
    enter(driver, base_url, "Bob", "lobby")
    wait_online(driver, ["Ann", "Bob (you)"])

    driver.switch_to.new_window("tab")
    cid = driver.current_window_handle
    enter(driver, base_url, "Cid", "kitchen")
    wait_online(driver, ["Cid (you)"])

    driver.switch_to.window(ann)
    wait_for_line(driver, "Bob joined")
    wait_online(driver, ["Ann (you)", "Bob"])
    hello = "hello from Ann <b>not bold</b>"
    send(driver, hello)
    wait_for_line(driver, f"Ann: {hello}")
    assert not driver.find_elements(By.CSS_SELECTOR, "#messages b"), "message text was rendered as HTML"

    driver.switch_to.window(bob)
    wait_for_line(driver, f"Ann: {hello}")
    send(driver, "hi Ann")
    wait_for_line(driver, "Bob: hi Ann")
    driver.switch_to.window(ann)
    wait_for_line(driver, "Bob: hi Ann")

    # The kitchen is another channel: Cid sees nobody from the lobby, and the lobby none of his.
    driver.switch_to.window(cid)
    send(driver, "only in the kitchen")
    wait_for_line(driver, "Cid: only in the kitchen")
    assert online(driver) == ["Cid (you)"], f"the kitchen shows {online(driver)!r} online"
    assert chat_lines(driver) == ["Cid: only in the kitchen"], f"the kitchen shows {chat_lines(driver)!r}"
    for tab in (ann, bob):
        driver.switch_to.window(tab)
        shown = chat_lines(driver)
        assert not any("kitchen" in line or "Cid" in line for line in shown), f"the lobby shows {shown!r}"

    # Bob reloads: the tab keeps its nickname and room and shows the lobby's history, in order.
    driver.switch_to.window(bob)
    driver.refresh()
    wait_connected(driver)
    wait_until(driver, lambda d: len(message_items(d)) == 2, "the reloaded tab never showed the room's 2 messages")
    # Bob's own message is still marked as his: the tab remembers the client ids it connected with.
    expected = [[f"Ann: {hello}", "message history"], ["Bob: hi Ann", "message history own"]]
    assert message_items(driver) == expected, f"history after reload is {message_items(driver)!r}"
    wait_online(driver, ["Ann", "Bob (you)"])
    driver.switch_to.window(ann)
    wait_for_line(driver, "Bob left")
    wait_online(driver, ["Ann (you)", "Bob"])

    # The server drops Ann's connection; three messages are published before she can be back
    # (her first reconnect waits at least 250 ms). Her tab recovers them: each once, in order.
    ann_client = driver.execute_script("return document.body.dataset.clientId")
    assert ann_client, "the page does not expose its client id"
    api(base_url, key, "disconnect", {"user": "", "client": ann_client, "disconnect": {"code": 3000, "reason": "test"}})
    missed = [f"missed {n}" for n in (1, 2, 3)]
    for text in missed:
        api(base_url, key, "publish", {"channel": "rooms:lobby", "data": {"text": text}})
    wait_for_line(driver, "Reconnected: 3 missed messages recovered")
    wait_until(driver, lambda d: status(d) == "Connected", "Ann's tab never reconnected")
    shown = [text for text, _ in message_items(driver)]
    assert shown == [f"Ann: {hello}", "Bob: hi Ann"] + [f"server: {text}" for text in missed], f"Ann's tab shows {shown!r}"
    new_client = driver.execute_script("return document.body.dataset.clientId")
    assert new_client != ann_client, "the tab did not open a new connection"

    driver.switch_to.window(bob)
    for text in missed:
        wait_for_line(driver, f"server: {text}")
    if screenshot:
        driver.save_screenshot(screenshot)
    return "rooms: two tabs in the lobby chatted and saw each other online, the kitchen saw nothing, a reload showed history, a dropped tab recovered 3 messages"


if __name__ == "__main__":
    main()
