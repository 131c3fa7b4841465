"""The site driven by a real browser: headless Debian Chromium through Selenium.

Nothing is downloaded: Debian's chromedriver is given explicitly and Selenium
Manager is told to stay offline. Screenshots land in artifacts/ (gitignored).
"""

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a driver or browser

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAGE_WAIT = 60  # seconds; a deployed site hashes a new password for a few seconds
# While the next page loads, reading the old one can fail with stale elements or
# inspector errors: the wait keeps polling through those.
TRANSIENT = (WebDriverException,)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1100,900"]

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian chromium and chromium-driver are not installed (scripts/apt-packages.txt)")


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="zoolab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def register(driver, site_url: str, username: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{site_url}/zoobar/index.cgi/login")
    driver.find_element(By.NAME, "login_username").send_keys(username)
    driver.find_element(By.NAME, "login_password").send_keys(password)
    driver.find_element(By.NAME, "submit_registration").click()


def body(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def wait_for_text(driver, text: str) -> str:
    """The page's text once it shows ``text`` (a click does not wait for the
    next page); fails with what the page showed instead."""
    try:
        WebDriverWait(driver, PAGE_WAIT, poll_frequency=0.2, ignored_exceptions=TRANSIENT).until(
            lambda d: text in body(d))
    except TimeoutException:
        pytest.fail(f"page never showed {text!r}; it shows: {body(driver)[:300]!r}")
    return body(driver)


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"e2e-{name}.png"
    driver.save_screenshot(str(path))
    return path


def test_register_transfer_and_view_a_profile_in_a_browser(browser, site_url):
    tag = secrets.token_hex(3)
    sender, recipient = f"web{tag}s", f"web{tag}r"
    register(browser, site_url, recipient, "pw-" + tag)
    wait_for_text(browser, f"Log out {recipient}")
    profile = f"#!python\nprint('Browser-%s sees %s' % (api.call('get_visitor'), '{tag}'))\n"
    browser.find_element(By.NAME, "profile_update").send_keys(profile)
    browser.find_element(By.NAME, "profile_submit").click()
    WebDriverWait(browser, PAGE_WAIT, ignored_exceptions=TRANSIENT).until(
        lambda d: "#!python" in d.find_element(By.NAME, "profile_update").get_attribute("value"))

    register(browser, site_url, sender, "pw-" + tag)
    wait_for_text(browser, f"Log out {sender}")
    assert "Balance: 10 zoobars" in body(browser)
    browser.get(f"{site_url}/zoobar/index.cgi/transfer")
    browser.find_element(By.NAME, "zoobars").send_keys("4")
    browser.find_element(By.NAME, "recipient").send_keys(recipient)
    browser.find_element(By.NAME, "submission").click()
    wait_for_text(browser, "Balance: 6 zoobars")

    browser.get(f"{site_url}/zoobar/index.cgi/users?user={recipient}")
    zoobars = browser.find_element(By.ID, "zoobars")
    assert zoobars.get_attribute("class") == "14"
    assert f"Browser-{sender} sees {tag}" in body(browser)
    log = browser.find_element(By.CSS_SELECTOR, "table.log").text
    assert sender in log and recipient in log
    assert screenshot(browser, "profile").stat().st_size > 0
