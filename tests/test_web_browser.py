"""The web page in headless Chromium, against a server this test starts on 127.0.0.1.

Skipped (with the reason) where Chromium, chromedriver or selenium is missing, unless
``NEXTTERM_BROWSER_TESTS=1`` (CI sets it), which turns the skip into a failure. The README's
picture of the page is made by ``benchmarks/bench_web.py --screenshot``.
"""

from __future__ import annotations

import os
import shutil

import pytest

from nextterm.serve.server import BackgroundServer
from web_helpers import HOSTILE_NAME, page_app, tiny_engine

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WAIT_S = 30


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = _missing()
    if missing:
        if os.environ.get("NEXTTERM_BROWSER_TESTS") == "1":
            pytest.fail(f"NEXTTERM_BROWSER_TESTS=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.add_argument("--window-size=1100,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=shutil.which("chromedriver"))
    )
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return tiny_engine(tmp_path_factory.mktemp("web-browser") / "ckpt")


@pytest.fixture(scope="module")
def server(engine):
    with BackgroundServer(page_app(engine)) as running:
        yield running


def wait_for(driver, condition, message: str):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT_S, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(lambda d: condition(d), message)


def by_id(driver, name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def candidates(driver) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#candidates > li")


def type_terms(driver, text: str) -> None:
    box = by_id(driver, "terms")
    box.clear()
    box.send_keys(text)


def paste_terms(driver, text: str) -> None:
    """What pasting does: the whole text arrives in one input event (Enter keys would submit)."""
    driver.execute_script(
        "const box = document.getElementById('terms'); box.value = arguments[0];"
        "box.dispatchEvent(new Event('input'));",
        text,
    )


def answered(driver, first_terms: str):
    """Waits until the first candidate shows ``first_terms``; returns the candidates."""
    wait_for(
        driver,
        lambda d: (
            by_id(d, "answer").is_displayed()
            and candidates(d)
            and candidates(d)[0].find_element("css selector", ".terms").text == first_terms
        ),
        f"no candidate {first_terms!r}",
    )
    return candidates(driver)


def test_typing_shows_candidates_rule_and_plot(browser, server):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(server.url + "/")
    type_terms(browser, "1, 1, 2, 3, 5, 8")  # no Enter: the page answers when typing pauses
    first = answered(browser, "13, 21, 34")[0]
    assert "Fibonacci" in first.find_element("css selector", "code").text
    assert first.find_element("css selector", ".confidence").text == "high"
    assert float(first.find_element("css selector", "meter").get_attribute("value")) > 0.9
    assert "rule search" in first.text
    assert browser.find_elements("css selector", "#plot canvas")
    plot = by_id(browser, "plot")
    plot.send_keys(Keys.ARROW_RIGHT)
    assert by_id(browser, "readout").text == "n = 1, a(n) = 1 (given)"
    plot.send_keys(Keys.END)
    assert by_id(browser, "readout").text == "n = 9, a(n) = 34 (predicted)"
    Select(by_id(browser, "count")).select_by_value("5")
    answered(browser, "13, 21, 34, 55, 89")
    browser.find_element("css selector", "input[value=log]").click()
    assert "log scale" in by_id(browser, "plot").get_attribute("aria-label")
    assert '"continuation"' in browser.execute_script(
        "return document.getElementById('json').textContent"
    )
    by_id(browser, "copy").click()
    wait_for(browser, lambda d: by_id(d, "copied").text == "Copied.", "not copied")
    # No script error and no refusal by the page's content security policy.
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_bad_input_shows_the_error_and_the_page_keeps_working(browser, server):
    browser.get(server.url + "/")
    type_terms(browser, "1, a, 3")
    error = by_id(browser, "terms-error")
    wait_for(browser, lambda d: error.is_displayed(), "no error shown")
    assert error.text == "term 2 is not an integer: 'a'"
    assert by_id(browser, "terms").get_attribute("aria-invalid") == "true"
    assert not by_id(browser, "answer").is_displayed()
    type_terms(browser, "2 4 6 8 10")
    answered(browser, "12, 14, 16")
    assert not error.is_displayed()


def test_the_shared_link_restores_the_query(browser, server):
    browser.get(server.url + "/")
    paste_terms(browser, "[1\n4\n9\n16\n25]")
    answered(browser, "36, 49, 64")
    link = by_id(browser, "share-link").get_attribute("href")
    assert link == server.url + "/?q=1,4,9,16,25&n=3"
    browser.get("about:blank")
    browser.get(link)
    answered(browser, "36, 49, 64")
    assert by_id(browser, "terms").get_attribute("value") == "1,4,9,16,25"


def test_a_malformed_query_string_gives_the_page_error(browser, server):
    browser.get(server.url + "/?q=%ZZ,1&n=3")
    error = by_id(browser, "terms-error")
    wait_for(browser, lambda d: error.is_displayed(), "no error shown")
    assert error.text == "term 1 is not an integer: '%ZZ'"
    browser.get(server.url + "/?q=1,2,3,4&n=<b>7</b>")
    answered(browser, "5, 6, 7")  # the default of 3 terms
    assert by_id(browser, "count-note").text == (
        "The link asked for n = <b>7</b>; choose a number from the list."
    )


def test_terms_beyond_floating_point_are_listed_exactly_and_left_out_of_the_plot(browser, server):
    from selenium.webdriver.common.keys import Keys

    huge = [10 ** (100 * k) for k in range(1, 6)]  # the fourth and fifth exceed 1.8e308
    browser.get(server.url + "/?q=" + ",".join(map(str, huge)) + "&n=1")
    first = answered(browser, str(10**600))[0]
    assert first.is_displayed()
    assert "left out" in by_id(browser, "plot-note").text
    by_id(browser, "plot").send_keys(Keys.END)
    assert by_id(browser, "readout").text == f"n = 6, a(n) = {10**600} (predicted)"


def test_a_name_with_markup_stays_text(browser, server):
    browser.get(server.url + "/")
    type_terms(browser, "999, 1, 2")
    first = answered(browser, "7, 8, 9")[0]
    link = first.find_element("css selector", "a")
    assert link.text == f"A000001 {HOSTILE_NAME}"
    assert link.get_attribute("href") == "https://oeis.org/A000001"
    assert browser.execute_script("return window.pwned === undefined")
    assert not browser.find_elements(
        "css selector", "#candidates script, #candidates img, #candidates b"
    )


def test_keyboard_labels_and_phone_width(browser, server):
    browser.get(server.url + "/")
    unlabelled = browser.execute_script(
        "return Array.from(document.querySelectorAll('textarea, select, input'))"
        ".filter(e => !e.closest('[hidden]') && e.labels.length === 0).map(e => e.outerHTML)"
    )
    assert unlabelled == []
    box = by_id(browser, "terms")
    box.click()
    box.send_keys("1, 3, 5, 7")
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.ENTER)  # Enter asks at once
    answered(browser, "9, 11, 13")
    active = browser.switch_to.active_element
    active.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "count"
    browser.set_window_size(390, 844)
    try:
        wait_for(  # the plot is redrawn for the new width
            browser,
            lambda d: d.execute_script(
                "const e = document.documentElement; return e.scrollWidth <= e.clientWidth"
            ),
            "the page is wider than a phone screen",
        )
    finally:
        browser.set_window_size(1100, 900)


def test_the_page_asks_for_the_api_key(browser, engine):
    with BackgroundServer(page_app(engine, api_key="sesame")) as keyed:
        browser.get(keyed.url + "/")
        browser.execute_script("sessionStorage.clear()")
        type_terms(browser, "1, 2, 4, 8, 16")
        key = by_id(browser, "key")
        wait_for(browser, lambda d: key.is_displayed(), "no key field shown")
        assert browser.switch_to.active_element.get_attribute("id") == "key", (
            browser.switch_to.active_element.get_attribute("outerHTML")
        )
        key.send_keys("wrong\n")
        wait_for(browser, lambda d: "refused" in by_id(d, "status").text, "no refusal shown")
        key.clear()
        key.send_keys("sesame\n")
        answered(browser, "32, 64, 128")
        assert not key.is_displayed()
