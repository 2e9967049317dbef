"""docs/hunting-a-leak.md is executed: every >>> line runs, in a fresh
interpreter, and its output is compared (exactly, with doctest's ELLIPSIS,
on Debian 12's CPython 3.11 with Graphviz, whose output the guide shows;
elsewhere every line must still run without an exception)."""
import os
import subprocess
import sys

from conftest import SOURCE_ROOT, markdown_doctest, module_root

# Without Graphviz, saving an image prints the text fallback (docs/without-graphviz.md).
RUNNER = markdown_doctest('sys.version_info[:2] == (3, 11) and refgraph.features["graphviz"]')


def test_every_example_in_the_guide_runs(tmp_path):
    guide = os.path.join(SOURCE_ROOT, "docs", "hunting-a-leak.md")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([module_root(), os.path.join(SOURCE_ROOT, "samples")]))
    proc = subprocess.run([sys.executable, "-c", RUNNER, guide], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed: 0" in proc.stdout
    attempted = int(proc.stdout.split("examples:")[1].split()[0])
    assert attempted >= 30
    if __import__("refgraph").features["graphviz"]:
        assert (tmp_path / "webshop-backrefs.svg").read_bytes().startswith(b"<?xml")
        assert (tmp_path / "webshop-dominators.svg").read_bytes().startswith(b"<?xml")


def test_the_readme_example_runs(tmp_path):
    """The README's ten lines, on the guide's service after 50 requests."""
    import re
    import refgraph
    with open(os.path.join(SOURCE_ROOT, "README.md")) as f:
        readme = f.read()
    example = re.search(r"## Use\n\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(example.strip().splitlines()) <= 10
    script = "import webshop\nwebshop.serve(50)\n" + example
    if not refgraph.features["graphviz"]:
        # a text-only build writes report.txt beside the image it cannot draw
        script = script.replace('refgraph.load("report.png").to_text()', 'open("report.txt").read()')
        assert "report.txt" in script
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([module_root(), os.path.join(SOURCE_ROOT, "samples")]))
    proc = subprocess.run([sys.executable, "-W", "ignore::RuntimeWarning", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # 4 references from 3.11 on; one more (an instance __dict__) before
    assert re.search(r"Chain of [45] references from module webshop to Session:", proc.stdout)
    assert re.search(r"\['tok-\d{6}'\] -> Session  \[target\]", proc.stdout)
    report = proc.stdout.rsplit("Session  [target]\n", 1)[1]      # the redacted report, read back
    assert "<- method Session.flush  via __self__" in report and "tok-" not in report
    # The shell lines after it, on the snapshot the example saved.
    shell = re.search(r"## Use\n\n```python\n.*?```\n\n```sh\n(.*?)```", readme, re.S).group(1)
    for line in shell.strip().splitlines():
        argv = line.split("#")[0].split()
        assert argv[:3] == ["python3", "-m", "refgraph"], line
        proc = subprocess.run([sys.executable] + argv[1:], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        if argv[3] == "chain":
            assert re.search(r"-> Session  \[target\]", proc.stdout), proc.stdout
    assert (tmp_path / "heap.heapsnapshot").stat().st_size > 0
