"""Browser test: the tutorial's chat page (/tutorial) in two tabs of a real headless Chromium.

Opens the page in two tabs, sends a message from one and sees it in both (as text, never as HTML),
then closes one tab and sees "Client #N left the chat" in the other.

Usage: python tutorial_chat.py http://127.0.0.1:PORT [screenshot.png]
"""

import sys

from selenium.webdriver.common.by import By

from browser import run, wait_for_message, wait_until


def open_chat(driver, base_url):
    driver.get(base_url + "/tutorial")
    # Exactly "connected": "disconnected (…)" contains the word too.
    wait_until(driver, lambda d: d.find_element(By.ID, "status").text == "connected", "the page never connected")
    client_id = driver.find_element(By.ID, "client-id").text
    assert client_id.isdigit(), f"client id shown is {client_id!r}"
    return client_id


def send(driver, text):
    box = driver.find_element(By.ID, "message-text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send-button").click()


def main():
    base_url = sys.argv[1].rstrip("/")
    screenshot = sys.argv[2] if len(sys.argv) > 2 else None
    run(lambda driver: chat(driver, base_url, screenshot))


def chat(driver, base_url, screenshot):
    tab_a = driver.current_window_handle
    id_a = open_chat(driver, base_url)
    driver.switch_to.new_window("tab")
    tab_b = driver.current_window_handle
    id_b = open_chat(driver, base_url)
    assert id_a != id_b, "two tabs must get different client ids"

    # Markup in a message must show as text, never become elements.
    text = "hello from A <b>not bold</b>"
    driver.switch_to.window(tab_a)
    send(driver, text)
    wait_for_message(driver, f"You wrote: {text}")
    wait_for_message(driver, f"Client #{id_a} says: {text}")
    assert not driver.find_elements(By.CSS_SELECTOR, "#messages b"), "message text was rendered as HTML"

    driver.switch_to.window(tab_b)
    wait_for_message(driver, f"Client #{id_a} says: {text}")
    send(driver, "and hello from B")
    wait_for_message(driver, f"Client #{id_b} says: and hello from B")

    driver.switch_to.window(tab_a)
    wait_for_message(driver, f"Client #{id_b} says: and hello from B")

    # Closing tab B drops its socket: tab A hears that B left.
    driver.switch_to.window(tab_b)
    driver.close()
    driver.switch_to.window(tab_a)
    wait_for_message(driver, f"Client #{id_b} left the chat")
    if screenshot:
        driver.save_screenshot(screenshot)
    return f"tutorial page: tabs #{id_a} and #{id_b} chatted; #{id_b} left"


if __name__ == "__main__":
    main()
