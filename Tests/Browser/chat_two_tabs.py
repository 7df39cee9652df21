"""Browser test: the chat page in two tabs of a real headless Chromium.

Opens the page served at BASE_URL in two tabs, sends a message from one and sees it in both (as text,
never as HTML), then closes one tab and sees "Client #N left the chat" in the other.

Usage: python chat_two_tabs.py http://127.0.0.1:PORT [screenshot.png]
Uses Debian's chromium and chromium-driver (no driver download).
"""

import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 15


def messages(driver):
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#messages li")]


def wait_for_message(driver, text):
    try:
        WebDriverWait(driver, TIMEOUT).until(lambda d: text in messages(d))
    except Exception:
        raise AssertionError(f"never saw {text!r}; the page shows {messages(driver)!r}")


def open_chat(driver, base_url):
    driver.get(base_url + "/")
    WebDriverWait(driver, TIMEOUT).until(EC.text_to_be_present_in_element((By.ID, "status"), "connected"))
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
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    try:
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
        print(f"browser: 1 passed, 0 failed (tabs #{id_a} and #{id_b} chatted; #{id_b} left)")
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"browser: 0 passed, 1 failed: {error}")
        sys.exit(1)
