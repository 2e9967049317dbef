"""A small long-running "service" with a leak, for docs/a-leak-in-production.md:
each request opens a Session and files it in a module-level registry that
nothing ever empties.  At start it arranges for `kill -USR2 <pid>` to write a
heap snapshot into DIRECTORY, prints its pid and "ready", then serves fake
requests until it is killed (or for --seconds N).

    PYTHONPATH=. python3 samples/service_prod.py DIRECTORY [--seconds N]

Then, from another shell:

    kill -USR2 <pid>                                   # DIRECTORY/refgraph-<pid>-<time>.rgsnap
    python3 -m refgraph chain DIRECTORY/refgraph-*.rgsnap Session
"""
import argparse
import itertools
import os
import signal
import time

import refgraph
import sessions_code   # beside this script

sessions = sessions_code.install()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where kill -USR2 writes refgraph-<pid>-<time>.rgsnap")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")
    parser.add_argument("--rate", type=int, default=200, help="requests per second (default 200)")
    args = parser.parse_args(argv)

    refgraph.dump_on_signal(signal.SIGUSR2, args.directory)
    print("pid %d" % os.getpid())
    print("ready: kill -USR2 %d writes a snapshot into %s" % (os.getpid(), os.path.abspath(args.directory)),
          flush=True)

    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    tokens = itertools.count(1)
    while deadline is None or time.monotonic() < deadline:
        for _ in range(max(1, args.rate // 10)):
            n = next(tokens)
            sessions.handle(n % 1000, "tok-%08d" % n)
        time.sleep(0.1)     # signals are handled here, between requests
    print("served %d requests, %d sessions alive" % (next(tokens) - 1, len(sessions.registry)), flush=True)


if __name__ == "__main__":
    main()
