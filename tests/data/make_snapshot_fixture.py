"""Writes tests/data/py311.rgsnap, the snapshot file tests/test_snapshot_file.py
opens under every Python version and build: a small known heap (a module
`fixturemod` whose registry holds three FixtureSession objects) saved by
CPython 3.11.  Run once, with the in-tree build, to make it again:

    PYTHONPATH=. /usr/bin/python3 tests/data/make_snapshot_fixture.py tests/data/py311.rgsnap
"""
import sys
import types

import refgraph


class FixtureSession:
    def __init__(self, user):
        self.user = user


def main(path):
    mod = types.ModuleType("fixturemod")
    mod.registry = {"sessions": [FixtureSession(i) for i in range(3)]}
    sys.modules["fixturemod"] = mod
    snap = refgraph.snapshot(untracked=False)
    snap.save(path, progress=False)
    print("wrote", path, len(snap), "objects; FixtureSession at",
          ", ".join(hex(a) for a in snap.by_type("FixtureSession")))


if __name__ == "__main__":
    main(sys.argv[1])
