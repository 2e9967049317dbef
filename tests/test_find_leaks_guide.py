"""docs/let-refgraph-find-it.md is executed: every >>> line runs, in a
fresh interpreter, and its output is compared (exactly, with doctest's
ELLIPSIS, on CPython 3.11, whose output the page shows, with or without
Graphviz: nothing it prints is a picture; elsewhere every line must still
run without an exception).  The page's screenshot of the HTML report is
made by docs/tools/leak_report_screenshot.py (`make docs`), which is run
here too, but its picture is never compared byte for byte."""
import os
import re
import struct
import subprocess
import sys

import pytest

import refgraph
from conftest import SOURCE_ROOT, markdown_doctest, module_root

PAGE = os.path.join(SOURCE_ROOT, "docs", "let-refgraph-find-it.md")
SCREENSHOT = os.path.join(SOURCE_ROOT, "docs", "images", "webshop-leak-report.png")

# Nothing the page prints is a picture: exact with or without Graphviz.
RUNNER = markdown_doctest('sys.version_info[:2] == (3, 11)')


def env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([module_root(), os.path.join(SOURCE_ROOT, "samples")]))


def test_every_example_on_the_page_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-c", RUNNER, PAGE], cwd=tmp_path, env=env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed: 0" in proc.stdout
    attempted = int(proc.stdout.split("examples:")[1].split()[0])
    assert attempted >= 30
    # report.save("leaks.html") wrote the page the screenshot shows
    html = (tmp_path / "leaks.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "webshop.app.sessions[*]" in html and "webshop.app.on_shutdown.receivers[*]" in html
    assert ("<svg" in html) == bool(refgraph.features["graphviz"])


def test_the_page_shows_the_calls_it_explains():
    with open(PAGE) as f:
        page = f.read()
    for text in ("refgraph.find_leaks(workload)", "refgraph.leak_check(rounds=5, warmup=2)", "lc.round()",
                 'report.save("leaks.html")', "report.bounded", "ignore=",
                 "images/webshop-leak-report.png",
                 "leak-tests-in-ci.md"):
        assert text in page, text
    for name in (os.path.join("docs", "hunting-a-leak.md"), "README.md"):
        with open(os.path.join(SOURCE_ROOT, name)) as f:
            assert "let-refgraph-find-it.md" in f.read(), name


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_the_committed_screenshot_is_a_picture_of_the_page():
    """Not compared with a new one: it depends on the fonts and the browser."""
    width, height = png_size(SCREENSHOT)
    assert width == 1100 and 600 < height < 2000, (width, height)
    with open(os.path.join(SOURCE_ROOT, "Makefile.am")) as f:
        assert "docs/images/webshop-leak-report.png" in f.read()


@pytest.mark.slow   # headless Chromium
def test_the_screenshot_script_runs(tmp_path):
    """docs/tools/leak_report_screenshot.py, as `make docs` runs it: it always
    writes leaks.html, and the PNG where Chromium and Selenium are
    (REFGRAPH_EXPECT_BROWSER=yes: they must be)."""
    proc = subprocess.run([sys.executable, os.path.join(SOURCE_ROOT, "docs", "tools", "leak_report_screenshot.py"),
                           str(tmp_path)], env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "leaks.html").read_text(encoding="utf-8").count('<section class="rg-group"') == 2
    if proc.stdout.startswith("no screenshot: "):
        if os.environ.get("REFGRAPH_EXPECT_BROWSER") == "yes":
            pytest.fail("REFGRAPH_EXPECT_BROWSER=yes, but " + proc.stdout)
        pytest.skip(proc.stdout.strip())
    assert re.search(r"webshop-leak-report\.png$", proc.stdout.strip()), proc.stdout
    width, height = png_size(tmp_path / "webshop-leak-report.png")
    assert width == 1100 and height > 600


def test_the_readme_example_runs(tmp_path):
    """The README's find_leaks lines, and what their comments say; then its
    pytest line on a copy of the sample suite (as a build directory runs it:
    -p refgraph.pytest_plugin, the file named)."""
    import shutil
    with open(os.path.join(SOURCE_ROOT, "README.md")) as f:
        readme = f.read()
    found = re.search(r"```python\n(report = refgraph\.find_leaks\(.*?)```\n\n```sh\n(.*?)```", readme, re.S)
    assert found, "the README's find_leaks example"
    example, shell = found.groups()
    assert 3 <= len(example.strip().splitlines()) + len(shell.strip().splitlines()) <= 5
    script = "import refgraph, webshop\n" + example
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 leaks in 5 rounds (after 2 warm-up rounds):" in proc.stdout
    assert "1. Session held in webshop.app.sessions[*]" in proc.stdout
    assert "per round: 100 100 100 100 100" in proc.stdout
    assert (tmp_path / "leaks.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    argv = shell.split("#")[0].split()
    assert argv[:3] == ["pytest", "--refgraph-leaks", "--refgraph-dir"], shell
    (tmp_path / "samples").mkdir()
    for name in ("test_webshop_leaks.py", "webshop.py"):
        shutil.copy(os.path.join(SOURCE_ROOT, "samples", name), str(tmp_path / "samples" / name))
    pytest_env = dict(env(), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1",
                      PYTHONPATH=os.pathsep.join(p for p in (module_root(), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "refgraph.pytest_plugin", "-p", "no:cacheprovider"]
                          + argv[1:] + ["samples/test_webshop_leaks.py"], cwd=tmp_path, env=pytest_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 2 passed" in proc.stdout
    assert any(name.endswith(".txt") for name in os.listdir(str(tmp_path / argv[3])))
