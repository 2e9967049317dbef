"""Execute a notebook with a real kernel and save it with its outputs:
    PYTHONPATH=<dir holding refgraph> python3 samples/run_notebook.py samples/leak_hunt.ipynb [OUT]
(`make docs` refreshes leak_hunt.ipynb this way; tests/test_notebook.py executes a
copy in a temporary directory and saves nothing).  The kernel runs in the
notebook's directory."""
import os
import sys

import nbclient
import nbformat


def execute(path, timeout=300):
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")   # ipykernel's debugger notice
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
    return nb


if __name__ == "__main__":
    source = sys.argv[1]
    nbformat.write(execute(source), sys.argv[2] if len(sys.argv) > 2 else source)
