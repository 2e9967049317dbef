"""Leak shape: a callback closure.  Each Dashboard subscribes a lambda to a
module-level event bus; the lambda's closure holds the dashboard, and nobody
unsubscribes when the dashboard is closed.

    PYTHONPATH=. python3 samples/leak_closure.py [OUTDIR]    (default out/closure)
"""
import sys

from leakreport import report_survivor

listeners = []      # the module's event bus


def publish(event):
    for callback in listeners:
        callback(event)


class Dashboard:
    def __init__(self, user):
        self.user = user
        self.history = []
        dashboard = self
        listeners.append(lambda event: dashboard.history.append(event))   # the leak


def open_and_close(user):
    board = Dashboard(user)
    publish("opened by %d" % user)
    return len(board.history)       # the caller closes it: board goes out of scope


def main(outdir):
    for user in range(100):
        open_and_close(user)
    report_survivor("Dashboard", lambda d: d.user == 42, outdir,
                    "%d Dashboard objects alive after 100 were opened and closed",
                    "Who keeps Dashboard(user=42) alive?")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/closure")
