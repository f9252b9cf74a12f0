"""The web page at ``/`` in a real browser: Debian's chromium driven by Selenium against a real server.

The server is one ``python -m tweetsent serve`` process with an API key (so the page must load
without it and send it on every call); the test types a tweet, submits, checks the label, one
bar per class against ``POST /predict`` and the highlighted tokens, and saves a screenshot to
``tests/artifacts/web_page.png``. Without chromium the test skips locally and fails when ``CI=true``.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from test_serve import KEY, run_dir, serve_process  # noqa: F401 (run_dir is a fixture)

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT = 120  # seconds for the page to answer (generous: slow CI)
TWEET = "Vaccines are poison, do not trust them"


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the browser test must run in CI (install chromium and chromium-driver)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            _missing(f"{path} not found")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--window-size=1100,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """``python -m tweetsent serve`` on a free 127.0.0.1 port, with an API key; killed at the end."""
    folder = tmp_path_factory.mktemp("web-server")
    with serve_process(run_dir, folder) as running:
        yield running["url"]


def test_page_loads_without_key_but_api_calls_need_it(server):
    page = httpx.get(f"{server}/", timeout=60)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<textarea" in page.text and "https://" not in page.text and "http://" not in page.text
    assert httpx.post(f"{server}/", timeout=60).status_code == 401  # only GET / is let through
    assert httpx.post(f"{server}/explain", json={"tweet": "hi"}, timeout=60).status_code == 401


def test_typed_tweet_shows_label_bars_and_highlight(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    expected = httpx.post(f"{server}/predict", json={"tweets": [TWEET]}, headers={"X-API-Key": KEY},
                          timeout=60).json()["predictions"][0]
    browser.get(f"{server}/")
    wait = WebDriverWait(browser, WAIT)
    key = wait.until(ec.visibility_of_element_located((By.ID, "key")))  # shown: the service asks for a key
    key.send_keys(KEY)
    browser.find_element(By.ID, "tweets").send_keys(TWEET)
    browser.find_element(By.ID, "submit").click()
    card = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results .result")))

    assert card.find_element(By.CLASS_NAME, "label-value").text == str(expected["label"])
    rows = card.find_elements(By.CLASS_NAME, "bar-row")
    assert sorted(r.get_attribute("data-class") for r in rows) == sorted(expected["proba"])
    for row in rows:
        track = row.find_element(By.CLASS_NAME, "bar-track").size["width"]
        bar = row.find_element(By.CLASS_NAME, "bar").size["width"]
        assert bar / track == pytest.approx(expected["proba"][row.get_attribute("data-class")], abs=0.01)
    tokens = card.find_elements(By.CSS_SELECTOR, ".tweet .tok")
    assert tokens and all(t.text and t.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
                          for t in tokens)
    assert {t.text.lower() for t in tokens} >= {"vaccines", "poison"}
    assert card.find_element(By.CLASS_NAME, "tweet").text == TWEET

    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "web_page.png"))


def test_tweet_text_is_escaped_not_markup(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    hostile = "<b id=injected>bold</b> vaccines"
    browser.get(f"{server}/")
    wait = WebDriverWait(browser, WAIT)
    wait.until(ec.visibility_of_element_located((By.ID, "key"))).send_keys(KEY)
    browser.find_element(By.ID, "tweets").send_keys(hostile)
    browser.find_element(By.ID, "submit").click()
    card = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results .result")))
    assert card.find_element(By.CLASS_NAME, "tweet").text == hostile
    assert not browser.find_elements(By.ID, "injected")
