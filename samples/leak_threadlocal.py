"""Leak shape: a thread-local.  Pool threads put the request being served in
a threading.local and never clear it; a pool thread lives for the whole
process, so each one keeps the last request it served, with its body.

    PYTHONPATH=. python3 samples/leak_threadlocal.py [OUTDIR]    (default out/threadlocal)
"""
import queue
import sys
import threading

from leakreport import report_survivor

context = threading.local()     # per-thread request context


class Request:
    def __init__(self, request_id):
        self.request_id = request_id
        self.body = bytearray(8192)


def pool_worker(jobs, done):
    for request_id in iter(jobs.get, None):
        context.request = Request(request_id)   # the leak: never reset after the request
        done.put(request_id)


def main(outdir):
    jobs, done = queue.Queue(), queue.Queue()
    pool = [threading.Thread(target=pool_worker, args=(jobs, done), name="pool-%d" % i)
            for i in range(4)]
    for thread in pool:
        thread.start()
    for request_id in range(100):
        jobs.put(request_id)
        done.get()              # one request at a time: the last one ends on some thread
    report_survivor("Request", lambda r: r.request_id == 99, outdir,
                    "%d Request objects alive after 100 requests were served",
                    "Who keeps Request(99) alive?")
    for thread in pool:
        jobs.put(None)
    for thread in pool:
        thread.join()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/threadlocal")
