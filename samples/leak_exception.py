"""Leak shape: a stored exception.  The service keeps recent errors for a
status page; each exception's __traceback__ holds the frames it passed
through, and their locals: every failed Upload with its data.

    PYTHONPATH=. python3 samples/leak_exception.py [OUTDIR]    (default out/exception)
"""
import sys

from leakreport import report_survivor

recent_errors = []      # shown on the status page, never trimmed


class Upload:
    def __init__(self, number):
        self.number = number
        self.data = bytearray(10000)


def validate(upload):
    if upload.number % 10 == 2:
        raise ValueError("upload %d: bad checksum" % upload.number)


def receive(number):
    try:
        validate(Upload(number))
    except ValueError as exc:
        recent_errors.append(exc)       # the leak: exc.__traceback__ -> frames -> locals


def main(outdir):
    for number in range(100):
        receive(number)
    report_survivor("Upload", lambda u: u.number == 42, outdir,
                    "%d Upload objects alive after 100 uploads, 10 of them failed",
                    "Who keeps Upload(42) alive?")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/exception")
