"""`pip install .` builds refgraph with the autotools build itself: the same
sources, the same Graphviz/libpng detection and the same flags as
`./configure && make`, configured for the interpreter pip runs.  Only the
packaging is setuptools': the package refgraph/ -- its Python files, the C
core _core<suffix>.so, the stubs (__init__.pyi) and py.typed -- as `make
install` installs it, and the entry point that loads the pytest plugin
(refgraph/pytest_plugin.py), which `make install` cannot register.

Here (no PyPI): python3 -m venv --system-site-packages venv
                venv/bin/pip install --no-build-isolation .
The sdist (python3 -m build --sdist --no-isolation; MANIFEST.in lists what it
carries) builds the same way: tests/sdist.sh.
REFGRAPH_CONFIGURE_FLAGS passes extra flags to configure (--without-graphviz).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def declared_version():
    """The version AC_INIT declares: one number for configure, the module and pip."""
    with open(os.path.join(ROOT, "configure.ac")) as f:
        return re.search(r"AC_INIT\(\[refgraph\], \[([^]]+)\]", f.read()).group(1)


class AutotoolsBuild(build_ext):
    """Runs configure and make in a pristine copy of the sources under
    build_temp (an in-place configured checkout refuses out-of-tree builds)."""

    def build_extension(self, ext):
        tree = os.path.abspath(os.path.join(self.build_temp, "autotools"))
        subprocess.check_call(["bash", "-c", '. "$1/tests/pristine.sh" && pristine_src "$1" "$2"',
                               "pristine_src", ROOT, tree])
        flags = shlex.split(os.environ.get("REFGRAPH_CONFIGURE_FLAGS", ""))
        subprocess.check_call(["./configure", "PYTHON=" + sys.executable] + flags, cwd=tree)
        subprocess.check_call(["make", "-j%d" % (os.cpu_count() or 1)], cwd=tree)

        built = os.path.join(tree, "refgraph", "_core" + sysconfig.get_config_var("EXT_SUFFIX"))
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)
        shutil.copymode(built, target)


setup(
    name="refgraph",
    version=declared_version(),
    description="Who is keeping this object alive? objgraph's API, in C, with in-process Graphviz",
    long_description=open(os.path.join(ROOT, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9,<3.14",
    # refgraph/__init__.py over the C core refgraph._core; the stubs and
    # py.typed beside them (PEP 561).
    packages=["refgraph"],
    package_data={"refgraph": ["__init__.pyi", "py.typed"]},
    # The pytest plugin (refgraph/pytest_plugin.py: @pytest.mark.no_leaks,
    # --refgraph-leaks) loads itself once refgraph is installed, through
    # refgraph/_pytest_entry.py (which says why).
    entry_points={"pytest11": ["refgraph = refgraph._pytest_entry"],
                  # `refgraph ...` on PATH: the same CLI as `python3 -m refgraph ...`
                  "console_scripts": ["refgraph = refgraph.__main__:main"]},
    ext_modules=[Extension("refgraph._core", sources=[])],
    cmdclass={"build_ext": AutotoolsBuild},
    zip_safe=False,
)
