"""LeakReport.save('leaks.html') opened by a real browser: headless
Chromium driven by Selenium (Debian: chromium, chromium-driver,
python3-selenium).  The page of a workload that leaks two ways loads
without a console error, shows both groups, draws both pictures, its search
box finds a node by its label, and the wheel and a drag move a picture.

Skipped, with the reason, where Chromium, chromedriver or Selenium is
missing, except under REFGRAPH_EXPECT_BROWSER=yes (.ci/run's main test
run), where that is a failure.  Selenium is imported from Debian's
/usr/lib/python3/dist-packages when the interpreter does not find it (the
version matrix's interpreters, a venv).  REFGRAPH_BROWSER_SCREENSHOT=PATH
saves a screenshot of the page there."""
import os
import re
import sys
import time

import pytest

import refgraph

pytestmark = pytest.mark.slow   # headless Chromium through Selenium

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEBIAN_PACKAGES = "/usr/lib/python3/dist-packages"

# What a sanitized or valgrind run puts in the environment is for Python,
# not for the browser.
NOT_FOR_THE_BROWSER = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "PYTHONMALLOC")


def missing(reason):
    if os.environ.get("REFGRAPH_EXPECT_BROWSER") == "yes":
        pytest.fail("REFGRAPH_EXPECT_BROWSER=yes, but " + reason)
    pytest.skip(reason)


def selenium():
    """The selenium modules the test uses, or a skip (a failure where a browser is expected)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            missing("%s is not installed (Debian: apt-get install %s)" % (path, package))
    try:
        import selenium  # noqa: F401
    except ImportError:
        if os.path.isdir(DEBIAN_PACKAGES) and DEBIAN_PACKAGES not in sys.path:
            sys.path.append(DEBIAN_PACKAGES)   # last: it shadows nothing the interpreter has
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
        from selenium.webdriver.common.by import By
    except ImportError as e:
        missing("selenium cannot be imported (Debian: apt-get install python3-selenium): %s" % e)
    return webdriver, Service, ActionChains, ScrollOrigin, By


@pytest.fixture
def browser(tmp_path):
    webdriver, Service, *_ = selenium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", "--user-data-dir=%s" % (tmp_path / "profile")):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env = {k: v for k, v in os.environ.items() if k not in NOT_FOR_THE_BROWSER}
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=options)
    except Exception as e:   # WebDriverException, OSError: Chromium that does not start is not "missing"
        pytest.fail("headless Chromium did not start: %s" % e)
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)
        yield driver
    finally:
        driver.quit()


class BrowserSession:
    """Leaked into a dict under a key that is HTML."""

    def __init__(self, n):
        self.n = n
        self.data = {"user": "u%d" % n}


class BrowserHandler:
    """Leaked into a list."""


def two_leaks(module):
    module.sessions = {}
    module.handlers = []
    count = [0]

    def work():
        count[0] += 1
        module.sessions["s%d</script><script>alert(1)</script>" % count[0]] = BrowserSession(count[0])
        module.handlers.append(BrowserHandler())
        return [BrowserSession(-1) for _ in range(3)]   # garbage, not a leak

    report = refgraph.find_leaks(work, rounds=4, warmup=1)
    assert sorted(g.type for g in report.groups) == ["BrowserHandler", "BrowserSession"], report.to_text()
    return report


def transform(driver, viewport):
    return driver.execute_script("return arguments[0].firstElementChild.style.transform;", viewport)


def test_the_html_report_in_chromium(module, browser, tmp_path):
    _, _, ActionChains, ScrollOrigin, By = selenium()
    from selenium.common.exceptions import NoAlertPresentException
    report = two_leaks(module)
    path = tmp_path / "leaks.html"
    report.save(path)
    browser.get(path.as_uri())

    # No alert: the heap's "</script><script>alert(1)</script>" is text.
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert
    assert browser.execute_script("return document.readyState;") == "complete"
    assert browser.title.startswith("refgraph leak report: 2 leaks")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe

    # Every group: its heading names its type and culprit; the text chain is there.
    groups = browser.find_elements(By.CSS_SELECTOR, "section.rg-group")
    assert len(groups) == 2
    for section, group in zip(groups, report.groups):
        heading = section.find_element(By.TAG_NAME, "h2").text
        assert group.type in heading and group.culprit in heading, heading
        assert group.type in section.find_element(By.CSS_SELECTOR, "pre.rg-chain").text
    assert "alert(1)</script>" in groups[[g.type for g in report.groups].index("BrowserSession")].text

    # The pictures are drawn: an <svg> each (its text rendering without Graphviz), with a size.
    kind = "svg" if refgraph.features["graphviz"] else "pre.rg-graph-text"
    viewports = browser.find_elements(By.CSS_SELECTOR, ".rg-viewport")
    assert len(viewports) == 2
    for vp in viewports:
        box = browser.execute_script(
            "var r = arguments[0].querySelector(arguments[1]).getBoundingClientRect();"
            "return [r.width, r.height];", vp, kind)
        assert box[0] > 10 and box[1] > 10, box
        if kind == "svg":
            assert vp.find_elements(By.CSS_SELECTOR, "svg g.node"), "no node drawn"

    # Search: the leaked type's name is a node label in a picture and a line of its chain.
    search = browser.find_element(By.CSS_SELECTOR, "input.rg-search")
    count = browser.find_element(By.CSS_SELECTOR, ".rg-count")
    search.send_keys("BrowserHandler")
    hit_nodes = browser.find_elements(By.CSS_SELECTOR, "svg g.node.rg-hit")
    hit_lines = browser.find_elements(By.CSS_SELECTOR, "pre .rg-line.rg-hit")
    if kind == "svg":
        assert len(hit_nodes) >= 1
        assert all("BrowserHandler" in n.text for n in hit_nodes)
    assert len(hit_lines) >= 1
    if kind == "svg":
        said = re.match(r"(\d+) nodes? in the pictures, (\d+) lines? of text match \(Enter: next\)$", count.text)
        assert said, count.text
        assert (int(said.group(1)), int(said.group(2))) == (len(hit_nodes), len(hit_lines))
    else:   # the text pictures' nodes are lines
        assert count.text == "%d line%s of text match (Enter: next)" % (
            len(hit_lines), "" if len(hit_lines) == 1 else "s"), count.text
    if os.environ.get("REFGRAPH_BROWSER_SCREENSHOT"):
        browser.save_screenshot(os.environ["REFGRAPH_BROWSER_SCREENSHOT"])   # the search's marks in it
    search.clear()
    search.send_keys("no such label anywhere")
    assert count.text == "no match"
    assert browser.find_elements(By.CSS_SELECTOR, ".rg-hit") == []
    search.clear()
    search.send_keys("x")   # send_keys("") fires no input event: clear the count with a real edit
    search.send_keys("\b")
    assert count.text == ""

    # Zoom and pan: the wheel over a picture scales it, a drag moves it, Reset puts it back.
    vp = viewports[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", vp)
    fitted = transform(browser, vp)
    scale = float(vp.get_attribute("data-scale"))
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(vp), 0, -300).perform()
    deadline = time.monotonic() + 5
    while float(vp.get_attribute("data-scale")) == scale and time.monotonic() < deadline:
        time.sleep(0.05)
    assert float(vp.get_attribute("data-scale")) > scale, "the wheel did not zoom in"
    zoomed = transform(browser, vp)
    assert zoomed != fitted
    ActionChains(browser).move_to_element(vp).click_and_hold().move_by_offset(60, 40).release().perform()
    panned = transform(browser, vp)
    assert panned != zoomed and "scale(%s)" % zoomed.split("scale(")[1].rstrip(")") in panned
    vp.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, "button.rg-reset").click()
    assert transform(browser, vp) == fitted
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(vp), 0, 200).perform()
    deadline = time.monotonic() + 5
    while transform(browser, vp) == fitted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert float(vp.get_attribute("data-scale")) < scale, "the wheel did not zoom out"
    ActionChains(browser).double_click(vp).perform()
    assert transform(browser, vp) == fitted, "a double click fits the picture again"
    vp.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, "button.rg-zoom-in").click()
    assert float(vp.get_attribute("data-scale")) > scale

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
