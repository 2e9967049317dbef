"""A small long-running "service" with a leak that never imports refgraph,
for docs/a-leak-in-production-no-restart.md: each request opens a Session
and files it in a module-level registry that nothing ever empties.  It
prints its pid and "ready", then serves fake requests until it is killed
(or for --seconds N).

    python3 samples/service_plain.py [--seconds N] [--rate N]

Then, from another shell, with no restart:

    python3 -m refgraph attach <pid> -o before.rgsnap
    python3 -m refgraph attach <pid> -o after.rgsnap
    python3 -m refgraph diff before.rgsnap after.rgsnap
"""
import argparse
import itertools
import os
import threading
import time

import sessions_code   # beside this script

sessions = sessions_code.install()


def serve(rate, deadline, served):
    tokens = itertools.count(1)
    while deadline is None or time.monotonic() < deadline:
        for _ in range(max(1, rate // 10)):
            n = next(tokens)
            sessions.handle(n % 1000, "tok-%08d" % n)
            served[0] = n
        time.sleep(0.1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")
    parser.add_argument("--rate", type=int, default=200, help="requests per second (default 200)")
    args = parser.parse_args(argv)
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    served = [0]
    # Requests are served by a worker thread; the main thread waits, as a
    # server's main thread often does.
    worker = threading.Thread(target=serve, args=(args.rate, deadline, served), name="worker", daemon=True)
    worker.start()
    print("pid %d" % os.getpid())
    print("ready", flush=True)
    worker.join()
    print("served %d requests, %d sessions alive" % (served[0], len(sessions.registry)), flush=True)


if __name__ == "__main__":
    main()
