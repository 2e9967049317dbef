"""A small web shop back end with a real leak: the service that
docs/hunting-a-leak.md and samples/leak_hunt.ipynb hunt through.

Every request logs a user in, fills a cart, renders a page and logs out.
Logging out forgets two things: the session stays in App.sessions, and its
flush() stays connected to the app's shutdown signal.  Each request leaves a
Session, its Cart and a 16 KiB buffer behind.

    PYTHONPATH=. python3 samples/webshop.py [OUTDIR]

runs the guide's hunt and writes its pictures to OUTDIR (default out/webshop);
`make docs` copies them to docs/images/.
"""
import itertools
import os
import sys
import weakref


class Signal:
    """Callbacks to run on an event (here: shutdown)."""

    def __init__(self):
        self.receivers = []

    def connect(self, receiver):
        self.receivers.append(receiver)

    def disconnect(self, receiver):
        self.receivers.remove(receiver)

    def send(self):
        for receiver in self.receivers:
            receiver()


class Cart:
    def __init__(self):
        self.items = []

    def add(self, product, price):
        self.items.append((product, price))

    def total(self):
        return sum(price for _, price in self.items)


class Session:
    def __init__(self, user, token):
        self.user = user
        self.token = token
        self.cart = Cart()
        self.buffer = bytearray(16 * 1024)      # response buffer, reused while the session lives
        self.flushed = 0

    def flush(self):
        self.flushed += 1


class App:
    def __init__(self):
        self.sessions = {}
        self.on_shutdown = Signal()
        self.tokens = itertools.count(1)

    def login(self, user):
        session = Session(user, "tok-%06d" % next(self.tokens))
        self.sessions[session.token] = session
        self.on_shutdown.connect(session.flush)
        return session

    def logout(self, session):
        session.flush()         # the leak: still in self.sessions and on on_shutdown

    def handle(self, user):
        session = self.login(user)
        session.cart.add("book", 12.50)
        page = "<p>user %d: %.2f</p>" % (user, session.cart.total())
        self.logout(session)
        return page


app = App()


def serve(requests):
    """Handle `requests` requests from users 0, 1, 2, ..."""
    for user in range(requests):
        app.handle(user % 100)


def hunt(outdir):
    """The guide's pictures: what the app retains after 1,000 requests, and
    who keeps the newest Session alive after 3,000."""
    import gc
    import refgraph
    os.makedirs(outdir, exist_ok=True)
    serve(1000)
    # Objects of equal retained size are drawn in the snapshot's order, the
    # collector's: after a full collection it no longer depends on where the
    # automatic ones fell (an import that allocated more moves them).
    gc.collect()
    for ext in ("svg", "png"):
        refgraph.show_dominators(app, too_many=3, filename=os.path.join(outdir, "webshop-dominators." + ext))
    serve(2000)
    newest = weakref.ref(max(refgraph.by_type("Session"), key=lambda s: s.token))
    refgraph.show_chain(refgraph.find_backref_chain(newest(), refgraph.is_proper_module),
                        filename=os.path.join(outdir, "webshop-chain.svg"))
    for ext in ("svg", "png"):
        refgraph.show_backrefs(newest(), max_depth=4, filename=os.path.join(outdir, "webshop-backrefs." + ext))
    print("Written to %s: webshop-dominators.svg, webshop-dominators.png, webshop-chain.svg, webshop-backrefs.svg, "
          "webshop-backrefs.png" % outdir)


if __name__ == "__main__":
    import webshop      # this file as the module `webshop`, as the guide imports it
    webshop.hunt(sys.argv[1] if len(sys.argv) > 1 else "out/webshop")
