"""What the browser tests share: a headless Chromium driven by Selenium, and waiting for the page.

Uses Debian's chromium and chromium-driver (no driver download).
"""

import json
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 15


def api(base_url, key, method, params):
    request = urllib.request.Request(
        f"{base_url}/api/{method}",
        data=json.dumps(params).encode(),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.load(response)
    assert "error" not in reply, f"server API {method} failed: {reply}"
    return reply["result"]


def chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,700"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def texts(driver, selector):
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, selector)]


def messages(driver):
    return texts(driver, "#messages li")


# The chat app's messages as lines: "author: text" for a chat message (its time left out), the text
# of the page's own notes ("Bob joined") as it is.
CHAT_LINES = """
return [...document.querySelectorAll('#messages li')].map((item) => item.classList.contains('message')
  ? item.querySelector('.author').textContent + ': ' + item.querySelector('.text').textContent
  : item.textContent);
"""


def chat_lines(driver):
    return driver.execute_script(CHAT_LINES)


def wait_until(driver, condition, what, show=messages):
    """Waits for `condition(driver)`; fails naming `what` and showing the page's messages."""
    try:
        WebDriverWait(driver, TIMEOUT).until(lambda d: condition(d))
    except Exception:
        raise AssertionError(f"{what}; the page shows {show(driver)!r}") from None


def wait_for_message(driver, text):
    wait_until(driver, lambda d: text in messages(d), f"never saw {text!r}")


def wait_for_line(driver, text):
    """Waits for a line of the chat app (`chat_lines`)."""
    wait_until(driver, lambda d: text in chat_lines(d), f"never saw {text!r}", show=chat_lines)


def run(test):
    """Runs `test(driver)` in a fresh Chromium; prints one result line and exits non-zero on failure."""
    driver = chromium()
    try:
        summary = test(driver)
        print(f"browser: 1 passed, 0 failed ({summary})")
    except AssertionError as error:
        print(f"browser: 0 passed, 1 failed: {error}")
        sys.exit(1)
    finally:
        driver.quit()
