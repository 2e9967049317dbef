"""docs/leak-tests-in-ci.md, for real: every `$ ` command in its console
blocks runs, in the page's order, in a directory holding a copy of the
sample suite (samples/test_webshop_leaks.py, samples/webshop.py,
samples/conftest.py) and this refgraph as ./refgraph, with `python3` this
interpreter; the lines the page shows under a command must appear in what
it printed, in the same order (`...` in a line stands for anything, a line
of `...` for any lines, and runs of `=` for any run of them).

Exactly on CPython 3.11, whose output the page shows (a build without
Graphviz writes .dot pictures where the page says .svg); elsewhere, and
under AddressSanitizer, the lines indented in the report (sizes, chains:
other versions lay objects out otherwise) are left out, and pytest's
summary lines may say more (warnings).

pytest's plugin autoloading is off, as in `make check`: -p
refgraph.pytest_plugin is the one plugin, whether refgraph is pip-installed
or not.  The YAML block (a GitHub Actions step) is text only."""
import os
import re
import shutil
import subprocess
import sys

import pytest

import refgraph
from conftest import SOURCE_ROOT, module_root

PAGE = os.path.join(SOURCE_ROOT, "docs", "leak-tests-in-ci.md")
SAMPLES = ("test_webshop_leaks.py", "webshop.py", "conftest.py")
EXACT = sys.version_info[:2] == (3, 11) and "asan" not in os.environ.get("LD_PRELOAD", "")


def page_commands():
    """[(command, [expected output lines])] of the page's console blocks, in order."""
    with open(PAGE) as f:
        blocks = re.findall(r"^```console\n(.*?)^```", f.read(), re.S | re.M)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            else:
                assert commands, "output before any command: " + line
                commands[-1][1].append(line)
    return commands


def normalized(line):
    return re.sub(r"={3,}", "===", line.rstrip())


def line_pattern(line):
    return re.compile(".*".join(re.escape(part) for part in normalized(line).split("...")) + r"\Z")


def expected_lines(expected):
    for line in expected:
        if line.strip() == "...":
            continue
        if not refgraph.features["graphviz"]:
            line = re.sub(r"\.svg(:\d+)?$", r".dot\1", line)   # a file name, or grep -c's "name:count"
        if not EXACT:
            if line.startswith(" "):
                continue
            # pytest's summary may count warnings (Debian's pytest 7.2 on 3.12 warns about ast.Str)
            line = line.replace(" in ...s", "...")
        yield line


def assert_shows(command, expected, output):
    """Each expected line matches a line of output, in order."""
    lines = [normalized(line) for line in output.splitlines()]
    at = 0
    for line in expected_lines(expected):
        pattern = line_pattern(line)
        while at < len(lines) and not pattern.match(lines[at]):
            at += 1
        assert at < len(lines), "$ %s\ndid not print, in this order, the line\n%s\nIt printed:\n%s" % (
            command, line, output)
        at += 1


@pytest.fixture
def shop(tmp_path):
    """The directory the page's commands run in, and their environment."""
    (tmp_path / "samples").mkdir()
    for name in SAMPLES:
        shutil.copy(os.path.join(SOURCE_ROOT, "samples", name), str(tmp_path / "samples" / name))
    os.symlink(os.path.join(module_root(), "refgraph"), str(tmp_path / "refgraph"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Not a symlink: a venv's interpreter finds its venv from the path it is run by.
    python3 = bin_dir / "python3"
    python3.write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable.replace('"', '\\"'))
    python3.chmod(0o755)
    env = dict(os.environ, PATH=str(bin_dir) + os.pathsep + os.environ.get("PATH", ""),
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1", COLUMNS="80")
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    return tmp_path, env


@pytest.mark.slow   # pytest runs in subprocesses
def test_the_pages_commands_print_what_it_shows(shop):
    directory, env = shop
    commands = page_commands()
    assert len(commands) >= 6
    ran = []
    for command, expected in commands:
        # PYTHONPATH=. puts ./refgraph first; what the environment had stays after it
        # (Debian's pytest for another interpreter: tests/matrix.sh).
        script = command.replace("PYTHONPATH=. ", 'PYTHONPATH=."${PYTHONPATH:+:$PYTHONPATH}" ')
        proc = subprocess.run(["bash", "-c", script], cwd=str(directory), env=env, capture_output=True, text=True,
                              timeout=300)
        output = proc.stdout + proc.stderr
        if " -m pytest " in command and "--refgraph-ignore" not in command:
            assert proc.returncode == 1, "$ %s\nexit status %d (1: a test failed):\n%s" % (
                command, proc.returncode, output)
        else:
            assert proc.returncode == 0, "$ %s\nexit status %d:\n%s" % (command, proc.returncode, output)
        assert_shows(command, expected, output)
        ran.append(command)
    # The page shows each option at work.
    text = "\n".join(ran)
    for option in ("-p refgraph.pytest_plugin", "--refgraph-leaks", "--refgraph-rounds", "--refgraph-dir",
                   "--refgraph-no-redact", "--refgraph-ignore"):
        assert option in text, option
    ext = "svg" if refgraph.features["graphviz"] else "dot"
    stem = "samples_test_webshop_leaks.py_test_a_request_leaves_nothing_behind"
    assert sorted(os.listdir(str(directory / "leak-reports"))) == sorted(
        ["%s.1.%s" % (stem, ext), "%s.2.%s" % (stem, ext), stem + ".html", stem + ".txt"])


def test_the_page_quotes_the_sample_suite_and_the_plugins_words():
    with open(PAGE) as f:
        page = f.read()
    with open(os.path.join(SOURCE_ROOT, "samples", "test_webshop_leaks.py")) as f:
        sample = f.read()
    quoted = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    test = quoted.split("\n\n\n")[-1]
    assert test in sample, "the page's test is not samples/test_webshop_leaks.py's:\n" + test
    for option in ("--refgraph-leaks", "--refgraph-rounds", "--refgraph-warmup", "--refgraph-dir",
                   "--refgraph-no-redact", "@pytest.mark.no_leaks", "-p no:refgraph", "actions/upload-artifact"):
        assert option in page, option
    for name in (os.path.join("docs", "hunting-a-leak.md"), os.path.join("docs", "let-refgraph-find-it.md"),
                 "README.md"):
        with open(os.path.join(SOURCE_ROOT, name)) as f:
            assert "leak-tests-in-ci.md" in f.read(), name
