"""Browser test: the chat app at / on a phone (360 px) and on a desktop (1280 px) in headless Chromium.

At each size (Chromium's device emulation, the phone as a mobile viewport):
- `/` shows the form for any room and no connection badge (nothing red before joining).
- A shared link `/?room=X` opens on "Join #X" with the nickname field focused and no room field.
- Ann joins by the link, Bob by the same link in a second tab: each tab marks its own messages apart
  (Ann's are "own" in her tab, not in Bob's), every message has a time (`<time datetime>` within a
  minute of now, shown as a clock), and the status says "Connected".
- Layout: the messages get most of the width (on the phone one column, who is online above or below
  the messages, not beside them; on the desktop beside them), and nothing overflows sideways, not even
  a 106-character link.
- A screenshot of Ann's tab is saved (chat-phone.png, chat-desktop.png: those in docs/screenshots/), and
  one while offline (chat-phone-offline.png, chat-desktop-offline.png).
- Offline: Chromium's network emulation takes Ann's tab offline (the page drops its connection);
  the status says "Offline — messages will arrive when reconnected" (never a close code), who is
  online is greyed; a message published meanwhile arrives once the network is back ("Connected").
- A reload shows the same messages from history, own ones still marked and with the same times.
- The server unsubscribes the tab (server API): the status says "Not in the room".

Usage: python chat_layout.py http://127.0.0.1:PORT API_KEY [SCREENSHOT_DIR]
"""

import os
import re
import secrets
import sys
import time
from datetime import datetime

from selenium.webdriver.common.by import By

from browser import api, chat_lines, run, wait_for_line, wait_until

SIZES = (("phone", 360, 740, True), ("desktop", 1280, 800, False))
OFFLINE = "Offline — messages will arrive when reconnected"


def set_size(driver, width, height, mobile):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def status(driver):
    element = driver.find_element(By.ID, "status")
    return element.text if element.is_displayed() else None


def wait_status(driver, expected):
    wait_until(driver, lambda d: status(d) == expected, f"the status never said {expected!r}",
               show=lambda d: [status(d), *chat_lines(d)])


def displayed(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def rect(driver, element_id):
    return driver.execute_script("return document.getElementById(arguments[0]).getBoundingClientRect().toJSON()", element_id)


def overflow(driver):
    """What sticks out of the viewport sideways: the page's scroll width and the visible elements past the right edge."""
    return driver.execute_script("""
        const width = document.documentElement.clientWidth;
        const outside = [...document.querySelectorAll('main *')].filter((element) => {
          const box = element.getBoundingClientRect();
          return box.width > 0 && box.height > 0 && (box.right > width + 0.5 || box.left < -0.5);
        }).map((element) => element.tagName + (element.id ? '#' + element.id : '') + (element.className ? '.' + element.className : ''));
        return { scrollWidth: document.documentElement.scrollWidth, width, outside };
    """)


def assert_no_overflow(driver, where):
    found = overflow(driver)
    assert found["scrollWidth"] <= found["width"] and not found["outside"], f"{where}: the page overflows sideways: {found!r}"


def open_link(driver, base_url, room, name):
    """Opens the shared link to `room`, checks its "Join #room" form and joins as `name`."""
    driver.get(f"{base_url}/?room={room}")
    wait_until(driver, lambda d: d.find_element(By.ID, "join-title").text == f"Join #{room}",
               "a link to a room does not open on its join form", show=lambda d: d.find_element(By.ID, "join-title").text)
    assert not displayed(driver, "room-field"), "the link's form still asks for a room"
    assert displayed(driver, "other-room"), "the link's form offers no way to another room"
    focused = driver.switch_to.active_element.get_attribute("id")
    assert focused == "nickname", f"the nickname field is not focused (the focus is on {focused!r})"
    assert status(driver) is None, f"a status shows before joining: {status(driver)!r}"
    assert driver.title.startswith(f"Join #{room}"), f"the tab's title is {driver.title!r}"
    driver.switch_to.active_element.send_keys(name)
    driver.find_element(By.ID, "join-button").click()
    wait_status(driver, "Connected")
    assert driver.current_url.endswith(f"/?room={room}"), driver.current_url


def send(driver, text):
    box = driver.find_element(By.ID, "message-text")
    box.send_keys(text)
    driver.find_element(By.ID, "send-button").click()


def message_details(driver):
    """Each chat message: its line, whether it is marked own, its background, its time (datetime and text)."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#messages li.message')].map((item) => {
          const time = item.querySelector('time');
          return {
            line: item.querySelector('.author').textContent + ': ' + item.querySelector('.text').textContent,
            own: item.classList.contains('own'),
            background: getComputedStyle(item).backgroundColor,
            datetime: time ? time.dateTime : null,
            clock: time ? time.textContent : null,
            timeShown: time ? time.getBoundingClientRect().width > 0 : false,
          };
        });
    """)


def check_messages(driver, mine, theirs, where):
    details = {item["line"]: item for item in message_details(driver)}
    for line in mine + theirs:
        assert line in details, f"{where}: {line!r} is not shown; the page shows {list(details)!r}"
        item = details[line]
        assert item["own"] == (line in mine), f"{where}: {line!r} is {'not ' if line in mine else ''}marked own"
        assert item["datetime"] and item["timeShown"], f"{where}: {line!r} has no time shown: {item!r}"
        sent = datetime.fromisoformat(item["datetime"].replace("Z", "+00:00")).timestamp()
        assert abs(sent - time.time()) < 120, f"{where}: {line!r} has the time {item['datetime']} (now is {time.time()})"
        assert re.fullmatch(r"\d{1,2}:\d{2}(\s?[AP]M)?", item["clock"]), f"{where}: {line!r} shows its time as {item['clock']!r}"
    own_background = {details[line]["background"] for line in mine}
    other_background = {details[line]["background"] for line in theirs}
    assert own_background.isdisjoint(other_background), f"{where}: own messages look like the others ({own_background!r})"


def check_layout(driver, size, width):
    messages, presence = rect(driver, "messages"), rect(driver, "presence-panel")
    assert presence["width"] > 0 and presence["height"] > 0, f"{size}: who is online is not shown"
    if size == "phone":
        assert messages["width"] >= 0.85 * width, f"{size}: the messages get {messages['width']} px of {width}"
        stacked = presence["bottom"] <= messages["top"] + 1 or presence["top"] >= messages["bottom"] - 1
        assert stacked, f"{size}: who is online is beside the messages, not above or below: {presence!r} {messages!r}"
    else:
        assert messages["width"] >= 480, f"{size}: the messages get {messages['width']} px of {width}"
        assert presence["left"] >= messages["right"], f"{size}: who is online is not beside the messages"
    assert_no_overflow(driver, size)


def go_offline(driver, offline):
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                           {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def check_offline(driver, base_url, key, room, ann_lines, screenshot):
    # The browser loses its network: the page ends its connection (a socket could otherwise hang
    # unnoticed until the server's pings stop) and its tries to reconnect fail until it is back.
    go_offline(driver, True)
    seen = set()

    def offline_shown(d):
        seen.add(status(d))
        return status(d) == OFFLINE
    try:
        wait_until(driver, offline_shown, "the tab never said it is offline", show=lambda d: [status(d), *chat_lines(d)])
        assert all(text is None or not re.search(r"\d", text) for text in seen), f"the status showed a code: {seen!r}"
        assert driver.execute_script("return document.body.dataset.connection") == "offline"
        panel = driver.find_element(By.ID, "presence-panel")
        assert "stale" in panel.get_attribute("class").split(), "who is online is not greyed while offline"
        opacity = float(driver.execute_script("return getComputedStyle(arguments[0]).opacity", panel))
        assert opacity < 1, f"who is online is shown at opacity {opacity} while offline"
        assert not driver.find_element(By.ID, "message-text").is_enabled(), "typing is open while offline"
        if screenshot:
            driver.save_screenshot(screenshot)
        api(base_url, key, "publish", {"channel": f"rooms:{room}", "data": {"text": "while you were away"}})
        time.sleep(1)
        assert "server: while you were away" not in chat_lines(driver), "a message arrived while offline"
    finally:
        go_offline(driver, False)
    wait_status(driver, "Connected")
    wait_for_line(driver, "server: while you were away")
    lines = chat_lines(driver)
    assert lines.count("server: while you were away") == 1, f"the missed message is shown {lines.count('server: while you were away')} times"
    assert all(line in lines for line in ann_lines), f"the tab lost messages: {lines!r}"
    panel = driver.find_element(By.ID, "presence-panel")
    wait_until(driver, lambda d: "stale" not in panel.get_attribute("class").split(), "who is online stayed greyed after reconnecting")


def check_reload(driver, mine, theirs):
    """A reload shows the same messages from history: own ones still marked, the senders' times kept."""
    before = {item["line"]: item for item in message_details(driver)}
    driver.refresh()
    wait_status(driver, "Connected")
    wait_until(driver, lambda d: len(message_details(d)) == len(before), "the reloaded tab never showed the room's history")
    after = {item["line"]: item for item in message_details(driver)}
    for line in mine + theirs:
        assert after[line]["own"] == (line in mine), f"after a reload {line!r} is {'not ' if line in mine else ''}marked own"
        if not line.startswith("server: "):  # the API's publications carry no time: shown on arrival only
            assert after[line]["datetime"] == before[line]["datetime"], f"after a reload {line!r} has another time: {after[line]!r}"


def check_unsubscribed(driver, base_url, key, room):
    """The server ends the subscription: the status says so instead of "Connected", and typing closes."""
    client = driver.execute_script("return document.body.dataset.clientId")
    api(base_url, key, "unsubscribe", {"channel": f"rooms:{room}", "user": "", "client": client})
    wait_status(driver, "Not in the room")
    assert not driver.find_element(By.ID, "message-text").is_enabled(), "typing is open outside the room"


def at_size(driver, base_url, key, size, width, height, mobile, screenshot_dir):
    room = f"{size}-{secrets.token_hex(2)}"
    set_size(driver, width, height, mobile)

    # `/`: the form for any room, nothing about a connection yet.
    driver.get(base_url + "/")
    assert driver.find_element(By.ID, "join-title").text == "Pick a nickname and a room"
    assert displayed(driver, "room-field"), "/ does not ask for a room"
    assert status(driver) is None, f"/ shows a status before joining: {status(driver)!r}"
    assert_no_overflow(driver, f"{size} /")

    open_link(driver, base_url, room, "Ann")
    ann = driver.current_window_handle
    driver.switch_to.new_window("tab")
    bob = driver.current_window_handle
    set_size(driver, width, height, mobile)
    open_link(driver, base_url, room, "Bob")

    driver.switch_to.window(ann)
    send(driver, "Hi Bob! The room link worked.")
    driver.switch_to.window(bob)
    wait_for_line(driver, "Ann: Hi Bob! The room link worked.")
    send(driver, "Hello Ann, I'm on my " + size + ".")
    long_word = "https://example.com/share/" + secrets.token_hex(40)  # 106 characters with no break
    send(driver, long_word)
    driver.switch_to.window(ann)
    wait_for_line(driver, f"Bob: {long_word}")
    api(base_url, key, "publish", {"channel": f"rooms:{room}", "data": {"text": "Reminder: standup at 10."}})
    send(driver, "Got it.")
    wait_for_line(driver, "Ann: Got it.")
    wait_for_line(driver, "server: Reminder: standup at 10.")
    mine = ["Ann: Hi Bob! The room link worked.", "Ann: Got it."]
    theirs = [f"Bob: Hello Ann, I'm on my {size}.", f"Bob: {long_word}", "server: Reminder: standup at 10."]
    check_messages(driver, mine, theirs, f"{size}, Ann's tab")
    check_layout(driver, size, width)
    if screenshot_dir:
        driver.save_screenshot(os.path.join(screenshot_dir, f"chat-{size}.png"))

    driver.switch_to.window(bob)
    check_messages(driver, theirs[:2], mine, f"{size}, Bob's tab")
    driver.close()
    driver.switch_to.window(ann)
    offline_screenshot = os.path.join(screenshot_dir, f"chat-{size}-offline.png") if screenshot_dir else None
    check_offline(driver, base_url, key, room, mine + theirs, offline_screenshot)
    check_reload(driver, mine, theirs)
    check_unsubscribed(driver, base_url, key, room)
    driver.close()
    driver.switch_to.window(driver.window_handles[0])


def layout(driver, base_url, key, screenshot_dir):
    first = driver.current_window_handle
    for size, width, height, mobile in SIZES:
        driver.switch_to.new_window("tab")
        at_size(driver, base_url, key, size, width, height, mobile, screenshot_dir)
        driver.switch_to.window(first)
    return "chat layout: phone (360 px) and desktop (1280 px): room link, own messages, times, no sideways overflow, offline and back, reload, unsubscribed"


def main():
    base_url = sys.argv[1].rstrip("/")
    key = sys.argv[2]
    screenshot_dir = sys.argv[3] if len(sys.argv) > 3 else None
    run(lambda driver: layout(driver, base_url, key, screenshot_dir))


if __name__ == "__main__":
    main()
