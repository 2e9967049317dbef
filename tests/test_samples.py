"""Each leak-shape sample runs, prints the chain that shows its leak, and
writes SVG and PNG (or, without Graphviz, the text fallback)."""
import os
import subprocess
import sys
import xml.dom.minidom

import pytest

import refgraph
from conftest import SOURCE_ROOT, module_root

# sample -> lines its printed chain must contain, in order
SHAPES = {
    "leak_cache": ["100 Report objects alive", "__main__.Report -> type Report", ".render -> _lru_cache_wrapper",
                   "[0] -> Report  [target]"],
    "leak_closure": ["100 Dashboard objects alive", "__main__.listeners -> list len=100",
                     "-> function Dashboard.__init__.<locals>.<lambda>", "__closure__ -> tuple len=1",
                     "dashboard (closure) -> Dashboard  [target]"],
    "leak_signal": ["100 Widget objects alive", "__main__.settings_changed -> Signal",
                    ".receivers -> list len=100", "-> method Widget.on_change", "__self__ -> Widget  [target]"],
    "leak_exception": ["10 Upload objects alive", "__main__.recent_errors -> list len=10", "-> ValueError",
                       "__traceback__ -> traceback", "tb_frame -> frame validate at leak_exception.py:",
                       "upload (local) -> Upload  [target]"],
    "leak_generator": ["100 Export objects alive", "__main__.pending -> list len=100",
                       "-> generator stream_rows at leak_generator.py:", "export (local) -> Export  [target]"],
    "leak_registry": ["100 Plugin objects alive", "__main__.Plugin -> type Plugin", ".instances -> list len=100",
                      "-> Plugin  [target]"],
    "leak_threadlocal": ["4 Request objects alive", "__main__.context -> _local",
                         "(per-thread dicts) -> dict", "['request'] -> Request  [target]"],
}


@pytest.mark.parametrize("sample", sorted(SHAPES))
def test_sample_shows_its_leak_and_writes_pictures(sample, tmp_path):
    env = dict(os.environ, PYTHONPATH=module_root())
    proc = subprocess.run([sys.executable, os.path.join(SOURCE_ROOT, "samples", sample + ".py"), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert "module __main__  [root]" in out
    position = 0
    for line in SHAPES[sample]:
        found = out.find(line, position)
        assert found >= 0, "%r not after offset %d in:\n%s" % (line, position, out)
        position = found + len(line)
    names = set(os.listdir(tmp_path))
    assert {"chain.txt", "chain.dot", "backrefs.txt", "backrefs.dot"} <= names
    if not refgraph.features["graphviz"]:
        assert "warning: refgraph cannot render .svg here" in out
        return
    for stem in ("chain", "backrefs"):
        svg = xml.dom.minidom.parse(str(tmp_path / (stem + ".svg")))
        texts = " ".join(t.firstChild.data for t in svg.getElementsByTagName("text") if t.firstChild)
        assert "__main__" in texts or stem == "backrefs"
        assert (tmp_path / (stem + ".png")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_sample_is_tested():
    scripts = {f[:-3] for f in os.listdir(os.path.join(SOURCE_ROOT, "samples")) if f.startswith("leak_")
               and f.endswith(".py")}
    assert scripts == set(SHAPES)
