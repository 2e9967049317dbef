"""Leak shape: a cache.  functools.lru_cache on a method keys its cache on
self, so every Report ever rendered stays alive as long as the class does.

    PYTHONPATH=. python3 samples/leak_cache.py [OUTDIR]    (default out/cache)
"""
import functools
import sys

import refgraph
from leakreport import report


class Report:
    def __init__(self, customer):
        self.customer = customer
        self.rows = [customer] * 1000

    @functools.lru_cache(maxsize=None)      # the leak: the cache's keys hold self
    def render(self, fmt):
        return "%s: %d rows as %s" % (self.customer, len(self.rows), fmt)


def serve(customer):
    return Report(customer).render("html")


def main(outdir):
    for customer in range(100):
        serve(customer)
    alive = refgraph.by_type("Report")
    print("%d Report objects alive after 100 requests that each made one\n" % len(alive))
    target = next(r for r in alive if r.customer == 42)
    del alive
    report(target, outdir, "Who keeps Report(customer=42) alive?")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/cache")
