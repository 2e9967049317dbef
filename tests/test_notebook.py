"""samples/leak_hunt.ipynb runs with a real kernel (nbclient + ipykernel) and
shows its graphs inline as images."""
import os
import shutil
import sys

import pytest

import refgraph
from conftest import SOURCE_ROOT, module_root

pytestmark = pytest.mark.slow   # a Jupyter kernel

NOTEBOOK = os.path.join(SOURCE_ROOT, "samples", "leak_hunt.ipynb")


@pytest.mark.skipif(not refgraph.features["graphviz"], reason="built --without-graphviz: no images")
def test_the_notebook_runs_and_shows_its_graphs(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    samples = os.path.join(SOURCE_ROOT, "samples")
    # A copy runs, in a temporary directory (the kernel's working directory):
    # the committed notebook is refreshed only by `make docs`.
    copy = tmp_path / "leak_hunt.ipynb"
    shutil.copyfile(NOTEBOOK, copy)
    sys.path.insert(0, samples)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (module_root(), samples, saved) if p)
    try:
        import run_notebook
        nb = run_notebook.execute(str(copy))
    finally:
        sys.path.pop(0)
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not [o for o in c.outputs if o.output_type == "error"] for c in code)
    images = [o.data for c in code for o in c.outputs if o.output_type == "execute_result" and "image/svg+xml" in o.data]
    assert len(images) == 2, "the chain and the wider picture"
    chain, wide = images
    assert "tok-003000" in chain["image/svg+xml"]
    assert chain["text/plain"].startswith("Chain of 4 references from module webshop to Session:")
    assert "<- method Session.flush  via __self__" in wide["text/plain"]
    assert wide["image/png"]      # base64 PNG beside the SVG
    last = code[-1].outputs[-1]
    assert last.data["text/plain"] == "(0, None)"


def test_the_committed_notebook_has_its_outputs():
    import json
    with open(NOTEBOOK) as f:
        nb = json.load(f)
    kinds = [set(o.get("data", {})) for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert sum("image/svg+xml" in k for k in kinds) == 2, "run `make docs` to refresh samples/leak_hunt.ipynb"
