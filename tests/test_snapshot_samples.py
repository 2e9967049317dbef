"""On every leak sample, a snapshot's chain is the live chain: each sample
runs in a subprocess whose report_survivor (samples/leakreport.py) is
replaced by a comparison of refgraph.find_backref_chain + show_chain with
Snapshot.find_backref_chain + Snapshot.show_chain of the same survivor, and
of a snapshot saved and opened again."""
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import SOURCE_ROOT, module_root

SAMPLES = sorted(n[:-3] for n in os.listdir(os.path.join(SOURCE_ROOT, "samples"))
                 if n.startswith("leak_") and n.endswith(".py"))

DRIVER = textwrap.dedent("""
    import io, os, runpy, sys
    sys.path.insert(0, os.path.join(sys.argv[1], "samples"))
    import leakreport
    import refgraph

    def compare(typename, wanted, outdir, census, question):
        target = next(o for o in refgraph.by_type(typename) if wanted(o))
        live = refgraph.find_backref_chain(target, refgraph.is_proper_module, max_depth=10)
        live_text = refgraph.show_chain(live, output=io.StringIO()).to_text()
        del live
        snap = refgraph.snapshot()
        path = os.path.join(sys.argv[-1], "s.rgsnap")
        snap.save(path, progress=False)
        # The pictures too, node for node, where too_many cuts: the same
        # neighbours kept, in the same order, with the same labels.
        pictures = {}
        for too_many in (2, 3):
            for name in ("show_refs",):
                out = io.StringIO()
                getattr(refgraph, name)([target], max_depth=3, too_many=too_many, output=out)
                pictures[name, too_many] = out.getvalue()
        for s in (snap, refgraph.open_snapshot(path, progress=False)):
            chain = s.find_backref_chain(id(target), max_depth=10)
            text = s.show_chain(chain, output=io.StringIO()).to_text()
            assert text == live_text, "snapshot:\\n%s\\nlive:\\n%s" % (text, live_text)
            for (name, too_many), live_dot in pictures.items():
                out = io.StringIO()
                getattr(s, name)(id(target), max_depth=3, too_many=too_many, output=out)
                assert out.getvalue() == live_dot, "%s(too_many=%d): snapshot:\\n%s\\nlive:\\n%s" % (
                    name, too_many, out.getvalue(), live_dot)
        os.remove(path)
        print("SAME\\n" + live_text)

    leakreport.report_survivor = compare
    sys.argv = [sys.argv[2], sys.argv[3]]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


@pytest.mark.parametrize("sample", SAMPLES)
def test_snapshot_chain_equals_live_chain_on_sample(sample, tmp_path):
    env = dict(os.environ, PYTHONPATH=module_root())
    script = os.path.join(SOURCE_ROOT, "samples", sample + ".py")
    # The sample writes into tmp_path, as does the snapshot: nothing is left
    # in the system's temporary directory.
    proc = subprocess.run([sys.executable, "-c", DRIVER, SOURCE_ROOT, script, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.startswith("SAME\n") or "\nSAME\n" in proc.stdout, proc.stdout
    assert "module __main__  [root]" in proc.stdout
