"""A sample leak hunt: a request handler caches every session in a module-level
registry and registers its close() for shutdown, so sessions never die.  Run it after building:

    PYTHONPATH=. python3 samples/registry_leak.py [OUTDIR]

It prints the reference chain that keeps one session alive and the wider
picture of who refers to it, and writes both to OUTDIR as text, DOT, SVG and
PNG.  Without Graphviz the images fall back to text (with a RuntimeWarning).
"""
import gc
import os
import sys
import types

import refgraph
from leakreport import write_all

# A tiny "service" module, registered like any imported module.
service = types.ModuleType("service")
sys.modules["service"] = service
exec('''
class Session:
    def __init__(self, user):
        self.user = user
        self.buffer = bytearray(1024)

    def close(self):
        self.buffer = None

class Handler:
    def __init__(self):
        self.seen = {}

    def handle(self, user):
        session = Session(user)
        self.seen["user:%d" % user] = session   # the leak: never evicted
        on_shutdown.append(session.close)       # and a second one: a bound method
        return session

handlers = [Handler()]
on_shutdown = []
''', service.__dict__)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    for user in range(100):
        service.handlers[0].handle(user)
    session = service.handlers[0].seen["user:42"]

    # refgraph lists referrers in the collector's order, youngest generation
    # first: where collections fell during the requests (after an import
    # that allocated more, say) would change the order of the picture.  A
    # collection first puts every object in allocation order, so that this
    # picture is the same in every run (tests/test_docs.py compares it).
    gc.collect()
    chain = refgraph.find_backref_chain(session, refgraph.is_proper_module)
    print("Who keeps Session(user=42) alive?\n")
    graph = refgraph.show_chain(chain, filename=os.path.join(outdir, "chain.txt"))
    del chain   # the chain list refers to every object on it
    print(graph.to_text())
    written = write_all(graph, outdir, "chain")

    print("The wider picture (show_backrefs, max_depth=5):\n")
    wide = refgraph.show_backrefs(session, max_depth=5, filename=os.path.join(outdir, "backrefs.txt"))
    print(wide.to_text())
    written += write_all(wide, outdir, "backrefs")
    print("Written to %s: %s" % (outdir, ", ".join(sorted(set(written)))))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
