"""Leak shape: a suspended generator.  A download streams rows from an
Export; clients that disconnect leave their generator in the pending list,
and a suspended generator keeps its frame, and the frame keeps its locals.

    PYTHONPATH=. python3 samples/leak_generator.py [OUTDIR]    (default out/generator)
"""
import sys

from leakreport import report_survivor

pending = []        # downloads in progress, removed only when finished


class Export:
    def __init__(self, export_id):
        self.export_id = export_id
        self.rows = [(export_id, i) for i in range(1000)]


def stream_rows(export):
    for row in export.rows:
        yield row
    pending.remove(export)


def start_download(export_id):
    rows = stream_rows(Export(export_id))
    pending.append(rows)
    next(rows)          # the client reads one row and disconnects: the leak


def main(outdir):
    for export_id in range(100):
        start_download(export_id)
    report_survivor("Export", lambda e: e.export_id == 42, outdir,
                    "%d Export objects alive after 100 abandoned downloads",
                    "Who keeps Export(42) alive?")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/generator")
