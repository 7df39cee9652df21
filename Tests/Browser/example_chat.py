"""Browser test: the embedding example's own page (Examples/EmbeddedApp) in two tabs of a headless
Chromium.

Logs in through the app's form (its session cookie is HttpOnly: the page's script never sees it,
the browser sends it with the WebSocket upgrade and the connect hook reads it), chats in
rooms:lobby from one tab to both (the name shown as text, never as HTML), announces through the
app's POST /announce from the other and sees it in both, then logs out in one tab and sees the
other's connection closed with 4501 `logged out`.

Usage: python example_chat.py http://127.0.0.1:PORT [screenshot.png]
"""

import json
import sys

from selenium.webdriver.common.by import By

from browser import messages, run, wait_for_message, wait_until

NAME = "Ada <b>"


def announced(driver):
    """The announcement is shown: `news:announcements: <its JSON>` (the JSON's key order is the
    encoder's, which is not fixed)."""
    prefix = "news:announcements: "
    return any(
        json.loads(m[len(prefix):]) == {"text": "lunch at noon", "from": NAME} for m in messages(driver) if m.startswith(prefix)
    )


def open_chat(driver, base_url):
    driver.get(base_url + "/")
    wait_until(driver, lambda d: any(m.startswith("connected as ") for m in messages(d)), "the page never connected")
    wait_for_message(driver, "joined rooms:lobby")
    assert driver.find_element(By.ID, "me").text == NAME


def submit(driver, form, field, text):
    box = driver.find_element(By.ID, field)
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, f"#{form} button").click()


def chat(driver, base_url, screenshot):
    driver.get(base_url + "/")
    name = driver.find_element(By.NAME, "name")
    name.send_keys(NAME)
    name.submit()
    tab_a = driver.current_window_handle
    open_chat(driver, base_url)
    driver.switch_to.new_window("tab")
    tab_b = driver.current_window_handle
    open_chat(driver, base_url)  # the same browser: the same session

    driver.switch_to.window(tab_a)
    submit(driver, "say", "text", "hello <i>lobby</i>")
    said = f'rooms:lobby: {NAME}: {{"text":"hello <i>lobby</i>"}}'
    wait_for_message(driver, said)
    assert not driver.find_elements(By.CSS_SELECTOR, "#messages i, #me b"), "text was rendered as HTML"
    driver.switch_to.window(tab_b)
    wait_for_message(driver, said)

    submit(driver, "announce", "news", "lunch at noon")
    wait_until(driver, announced, "never saw the announcement")
    driver.switch_to.window(tab_a)
    wait_until(driver, announced, "never saw the announcement")
    if screenshot:
        driver.save_screenshot(screenshot)

    # Logging out ends the session and the user's connections (api.disconnect, 4501).
    driver.find_element(By.CSS_SELECTOR, 'form[action="/logout"] button').click()
    wait_until(driver, lambda d: d.find_elements(By.NAME, "name"), "logging out did not show the login form")
    driver.switch_to.window(tab_b)
    wait_for_message(driver, "disconnected: 4501 logged out")
    return "example page: logged in, chatted and announced in two tabs, logged out"


def main():
    base_url = sys.argv[1].rstrip("/")
    screenshot = sys.argv[2] if len(sys.argv) > 2 else None
    run(lambda driver: chat(driver, base_url, screenshot))


if __name__ == "__main__":
    main()
