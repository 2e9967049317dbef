"""Leak shape: a bound-method signal.  Widgets connect self.on_change to a
module-level signal; a bound method holds its __self__, so a disposed widget
lives as long as the signal does.

    PYTHONPATH=. python3 samples/leak_signal.py [OUTDIR]    (default out/signal)
"""
import sys

from leakreport import report_survivor


class Signal:
    def __init__(self):
        self.receivers = []

    def connect(self, receiver):
        self.receivers.append(receiver)

    def send(self, value):
        for receiver in self.receivers:
            receiver(value)


settings_changed = Signal()


class Widget:
    def __init__(self, widget_id):
        self.widget_id = widget_id
        self.pixels = bytearray(4096)
        settings_changed.connect(self.on_change)      # the leak: never disconnected

    def on_change(self, value):
        self.theme = value


def show_dialog(widget_id):
    Widget(widget_id)
    settings_changed.send("dark")


def main(outdir):
    for widget_id in range(100):
        show_dialog(widget_id)
    report_survivor("Widget", lambda w: w.widget_id == 42, outdir,
                    "%d Widget objects alive after 100 dialogs were shown and dismissed",
                    "Who keeps Widget(42) alive?")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/signal")
