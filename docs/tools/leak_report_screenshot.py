"""The picture of the HTML leak report in docs/let-refgraph-find-it.md:
runs the page's find_leaks on the web shop (samples/webshop.py), saves the
report as OUTDIR/leaks.html, opens it in headless Chromium through Selenium
(Debian: chromium, chromium-driver, python3-selenium) and saves what the
browser shows as OUTDIR/webshop-leak-report.png.

    PYTHONPATH=.:samples python3 docs/tools/leak_report_screenshot.py OUTDIR

`make docs` runs it (and says when the browser is missing: then it writes
leaks.html only and exits with status 0, saying so).  The screenshot
depends on the fonts and the Chromium at hand: tests never compare it byte
for byte."""
import os
import sys

import refgraph
import webshop

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEBIAN_PACKAGES = "/usr/lib/python3/dist-packages"
WIDTH = 1100
# What a sanitized or valgrind run puts in the environment is for Python, not for the browser.
NOT_FOR_THE_BROWSER = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "PYTHONMALLOC")


def browser():
    """A headless Chromium driven by Selenium, or None with the reason."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return None, "%s is not installed (Debian: apt-get install %s)" % (path, package)
    if DEBIAN_PACKAGES not in sys.path and os.path.isdir(DEBIAN_PACKAGES):
        sys.path.append(DEBIAN_PACKAGES)      # last: it shadows nothing the interpreter has
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        return None, "selenium cannot be imported (Debian: apt-get install python3-selenium): %s" % e
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=%d,900" % WIDTH):
        options.add_argument(arg)
    env = {k: v for k, v in os.environ.items() if k not in NOT_FOR_THE_BROWSER}
    return webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=options), None


def shrink(png):
    """256 colours instead of millions: a third of the bytes, the same to
    the eye (PIL, Debian's python3-pil, when it is there)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(png, optimize=True)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    report = refgraph.find_leaks(lambda: webshop.serve(100))    # the page's call
    html = os.path.abspath(os.path.join(outdir, "leaks.html"))
    report.save(html)
    driver, missing = browser()
    if driver is None:
        print("no screenshot: " + missing)
        return 0
    try:
        driver.get("file://" + html)
        # The page down to the end of the first group: the window grows to it
        # (the pictures fit themselves to at most 560 pixels high whatever
        # the window's height, once it is 800 or more).
        bottom = driver.execute_script(
            "return Math.ceil(document.querySelector('section.rg-group').getBoundingClientRect().bottom) + 16;")
        chrome = 900 - driver.execute_script("return window.innerHeight;")
        driver.set_window_size(WIDTH, max(bottom, 800) + chrome)
        driver.execute_script("return new Promise(function (done) {"
                              " requestAnimationFrame(function () { requestAnimationFrame(done); }); });")
        png = os.path.join(outdir, "webshop-leak-report.png")
        driver.save_screenshot(png)
        shrink(png)
    finally:
        driver.quit()
    print("Written to %s: leaks.html, webshop-leak-report.png" % outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "out/leak-report"))
