"""What the benchmarks share."""
import time


def best_of(fn, repeat=3):
    """The shortest of `repeat` timed calls of fn(), in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def rss_kib(field):
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def parse_size(text):
    """'4M' -> 4000000, '500K' -> 500000, '12' -> 12."""
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


class Bg:
    """The background heap's object: one slot, in a one-item list
    ([[Bg()] for _ in range(N // 2)]), as a loading loop makes them."""
    __slots__ = ("value",)

    def __init__(self, value=None):
        self.value = value


class Customer:
    """A service's record object: attributes, no slots."""

    def __init__(self, name, balance):
        self.name = name
        self.balance = balance


def service_heap(n):
    """About n objects shaped like a service's heap, mostly atoms: per
    record a dict with str keys holding a big int, a unique str, a float
    and a Customer with its own unique str and float (7 objects, 2 of them
    tracked by the collector)."""
    return [{"id": 10 ** 12 + i, "key": "order-%09d" % i, "total": i * 1.25,
             "customer": Customer("customer-%09d" % i, i * 0.5)} for i in range(n // 7)]
