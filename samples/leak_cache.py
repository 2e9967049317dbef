"""Leak shape: a cache.  functools.lru_cache on a method keys its cache on
self, so every Report ever rendered stays alive as long as the class does.

    PYTHONPATH=. python3 samples/leak_cache.py [OUTDIR]    (default out/cache)
"""
import functools
import sys

from leakreport import report_survivor


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
    report_survivor("Report", lambda r: r.customer == 42, outdir,
                    "%d Report objects alive after 100 requests that each made one",
                    "Who keeps Report(customer=42) alive?")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/cache")
