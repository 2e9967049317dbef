"""refgraph.snapshot_process() (`python3 -m refgraph attach`) on a running
process that never imported refgraph, at several heap sizes, each in a
fresh target process.

    PYTHONPATH=. /usr/bin/python3 bench/bench_attach.py [--sizes 1M,4M] [--attaches 3]

The target builds a service-shaped heap (benchutil.service_heap: dicts with
str keys, big ints, unique strs, floats, instances), times its own
gc.collect(), then waits in Event.wait() while a ticker thread wakes every
millisecond and keeps the longest gap it saw: the pause the service's
threads saw.  Each attach writes a snapshot; columns: the target's
gc.collect() (s); the attach's whole time (s), with its ratio to
gc.collect(); the time gdb held the target stopped and the fork() stall
(ms, as the command reports them); the longest gap the target's ticker saw
during the attach (ms) and its ratio to gc.collect().  The first attach of
a target also imports refgraph into it; later ones reuse it.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from benchutil import parse_size

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import refgraph  # noqa: E402

TARGET = r'''
import gc, sys, threading, time
sys.path.insert(0, %(bench)r)
from benchutil import service_heap

heap = service_heap(%(n)d)
gc.collect()
t = time.perf_counter()
gc.collect()
collect = time.perf_counter() - t
longest = [0.0]

def tick():
    last = time.perf_counter()
    while True:
        time.sleep(0.001)
        now = time.perf_counter()
        longest[0] = max(longest[0], now - last)
        last = now

threading.Thread(target=tick, daemon=True).start()

def serve():
    for line in sys.stdin:
        if line.strip() == "reset":
            longest[0] = 0.0
        print("longest %%.6f" %% longest[0], flush=True)

threading.Thread(target=serve, daemon=True).start()
print("ready %%.6f %%d" %% (collect, len(gc.get_objects())), flush=True)
threading.Event().wait()
'''


def ask(proc, word):
    proc.stdin.write(word + "\n")
    proc.stdin.flush()
    return float(proc.stdout.readline().split()[1])


def run_size(n, attaches, directory):
    script = os.path.join(directory, "target.py")
    with open(script, "w") as f:
        f.write(TARGET % {"bench": HERE, "n": n})
    proc = subprocess.Popen([sys.executable, "-I", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        words = proc.stdout.readline().split()
        collect = float(words[1])
        rows = []
        for i in range(attaches):
            time.sleep(0.5)
            ask(proc, "reset")
            done = refgraph.snapshot_process(proc.pid, os.path.join(directory, "a%d.rgsnap" % i), timeout=60)
            time.sleep(0.05)   # the ticker's next wake-up records the last gap
            gap = ask(proc, "report")
            rows.append((i + 1, done, gap))
            os.unlink(done.path)
        return collect, rows
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,4M")
    parser.add_argument("--attaches", type=int, default=3)
    args = parser.parse_args()
    print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("%-5s %-3s %10s %10s %8s %9s %9s %9s %8s %8s" % (
        "heap", "#", "objects", "gc.collect", "attach", "ratio", "gdb stop", "fork", "longest", "ratio"))
    with tempfile.TemporaryDirectory() as directory:
        for text in args.sizes.split(","):
            collect, rows = run_size(parse_size(text), args.attaches, directory)
            for i, done, gap in rows:
                print("%-5s %-3d %10s %9.3fs %7.2fs %8.1fx %7.0fms %7.0fms %6.0fms %7.1fx" % (
                    text, i, format(done.objects, ","), collect, done.seconds, done.seconds / collect,
                    done.stopped * 1000, done.stall * 1000, gap * 1000, gap / collect))


if __name__ == "__main__":
    main()
