"""A real headless Chromium (Debian's, installed by scripts/ensure-chromium) driven by Selenium.

The browser starts with a fresh profile in a temporary directory, talks to nothing but the pages it
is sent to (background networking, component updates, sync and first-run pages off), and keeps the
page console's messages so a test can read them (`console_errors`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # we run as root in CI; the sandbox needs user namespaces we may not have
    "--disable-gpu",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--password-store=basic",
)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900, lang: str = "zh-CN") -> Iterator[webdriver.Chrome]:
    profile = Path(tempfile.mkdtemp(prefix="incentives-chromium-"))
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--lang={lang}")
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The page console's errors since the last call (reading the log empties it): script errors,
    CSP violations, resources that failed to load."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def text(driver: webdriver.Chrome, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def field(driver: webdriver.Chrome, css: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, css)


def fill(driver: webdriver.Chrome, values: dict[str, str]) -> None:
    """Type into inputs found by CSS selector (set directly for date/time inputs, whose typing is
    locale-dependent)."""
    for css, value in values.items():
        element = field(driver, css)
        if element.get_attribute("type") in ("datetime-local", "date", "time") or element.tag_name == "select":
            driver.execute_script("arguments[0].value = arguments[1]", element, value)
        else:
            element.clear()
            element.send_keys(value)
