"""python3 -m refgraph: questions on heap snapshot files (.rgsnap), asked in
another process than the one that wrote them (Snapshot.save,
refgraph.dump_on_signal).  Every subcommand is a thin layer over
refgraph/_snapshot.py; see docs/a-leak-in-production.md.

Exit status: 0 done, 1 no chain found (chain), 2 bad input (a missing or
damaged file, an unknown type or address, a bad option), 130 interrupted.
"""
import argparse
import io
import os
import re
import sys
import time

import refgraph
from refgraph._snapshot import _open_snapshot, _printable   # _printable: heap text and names given, escaped for the terminal

PROG = "python3 -m refgraph"

MAIN_EXAMPLES = """\
examples:
  %(prog)s summary refgraph-4242-20260101T120000.rgsnap
  %(prog)s chain refgraph-4242-20260101T120000.rgsnap Session
  %(prog)s backrefs refgraph-4242-20260101T120000.rgsnap Session -o leak.svg
  %(prog)s diff before.rgsnap after.rgsnap
  %(prog)s export after.rgsnap after.heapsnapshot
  %(prog)s top after.rgsnap
  %(prog)s attach 4242 -o app.rgsnap

A snapshot file comes from refgraph.snapshot().save(path), or from a process
that called refgraph.dump_on_signal(signal.SIGUSR2, directory) and was sent
`kill -USR2 <pid>`.  `%(prog)s COMMAND --help` describes each command.
"""

SUMMARY_EXAMPLES = """\
examples:
  %(prog)s snap.rgsnap               pid, time, counts, the 10 most common types
  %(prog)s snap.rgsnap --limit 30    the 30 most common types
"""

TARGET_HELP = ("an object's address as id() gave it (0x7f3a... or decimal), or a type name "
               "(Session, or module.Session)")

CHAIN_EXAMPLES = """\
examples:
  %(prog)s snap.rgsnap Session                 who keeps the nearest Session alive
  %(prog)s snap.rgsnap 0x7f3a2c1b5e10          ... the object at that address
  %(prog)s snap.rgsnap Session --to roots      from a module or a running frame
  %(prog)s snap.rgsnap Session --to App        from the nearest App object
  %(prog)s snap.rgsnap Session -o chain.svg    draw it (.svg .png .dot .txt)

The chain runs from a root to the target: by default from a module in
sys.modules, as refgraph.find_backref_chain(obj, refgraph.is_proper_module).
Exit status 1 when no chain is found within --max-depth.
"""

BACKREFS_EXAMPLES = """\
examples:
  %(prog)s snap.rgsnap Session -o leak.svg          the nearest Session and who refers to it
  %(prog)s snap.rgsnap 0x7f3a2c1b5e10 --max-depth 6 one object, six levels back, as text
  %(prog)s snap.rgsnap Session --all --too-many 3   every Session (a big picture)

A type name stands for the object of that type nearest to a module (the one
`chain` shows), or with --all for every object of the type.  Without -o the
graph is printed as text.
"""

DIFF_EXAMPLES = """\
examples:
  %(prog)s before.rgsnap after.rgsnap              the types that grew the most
  %(prog)s before.rgsnap after.rgsnap --limit 30

Objects are matched by address and type: a Session at the same address in
both files is the same Session.
"""

EXPORT_EXAMPLES = """\
examples:
  %(prog)s snap.rgsnap snap.heapsnapshot

Open the .heapsnapshot in Chrome DevTools (Memory panel, Load) or memlab.
"""


class UsageError(Exception):
    """Bad input: printed as `refgraph: error: ...`, exit status 2."""


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("%r is negative" % text)
    return value


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _memory_size(text):
    """A size in bytes: 800M, 2G, 4096 (K, M, G and T are powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]+)\s*(?:([KMGT])(?:i?B)?|B?)\s*", text, re.IGNORECASE)
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError("%r is not a size: give bytes, or a number with K, M, G or T (2G)" % text)
    return int(match.group(1)) * _UNITS[(match.group(2) or "").upper()]


def parse_target(text):
    """An address (0x... hex, or decimal) as an int, or else a type name."""
    text = text.strip()
    if not text:
        raise UsageError("the target is empty: give an address (0x7f...) or a type name")
    if text[0].isdigit() or text[0] in "+-":
        try:
            value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise UsageError("bad address %r: an address is 0x followed by hex digits, or decimal digits" % text)
        if value < 0 or value >= 2 ** 64:
            raise UsageError("bad address %r: an address is from 0 to 0xffffffffffffffff" % text)
        return value
    return text


def open_file(path, max_memory=None):
    """refgraph.open_snapshot(path) with the errors a user can act on."""
    if not os.path.exists(path):
        raise UsageError("%s: no such file" % path)
    if os.path.isdir(path):
        raise UsageError("%s: is a directory, not a snapshot file" % path)
    try:
        return _open_snapshot(path, None, max_memory, "--max-memory SIZE")
    except ValueError as exc:   # damaged, truncated, foreign: the message names the file and the fault
        message = str(exc)
        raise UsageError(message if path in message else "%s: %s" % (path, message))


def check_output(path):
    if path is None:
        return None
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if ext not in refgraph.formats():
        common = [f for f in ("svg", "png", "pdf", "dot", "txt") if f in refgraph.formats()]
        raise UsageError("cannot write %s: the extension names the format: %s (refgraph.formats() lists all)"
                         % (path, " ".join("." + f for f in common)))
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError("cannot write %s: no directory %s" % (path, directory))
    return path


def deliver(graph_fn, out):
    """Runs graph_fn(filename=..., output=...) to write out, or prints the
    graph as text."""
    if out is None:
        graph = graph_fn(output=io.StringIO())
        sys.stdout.write(graph.to_text().rstrip("\n") + "\n")
    else:
        graph_fn(filename=out)
        print("wrote %s" % _printable(out))


def cmd_summary(args):
    snap = open_file(args.file, args.max_memory)
    info = snap.info
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["time_ns"] / 1e9))
    print("%s: pid %d at %s" % (_printable(args.file), info["pid"], when))
    print("%d objects, %d references, %d types, %d roots" % (info["nodes"], info["edges"], info["types"],
                                                            info["roots"]))
    extras = []
    if "python_hex" in info:
        v = info["python_hex"]
        extras.append("Python %d.%d.%d" % ((v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff))
    extras.append("untracked objects included" if info.get("untracked") else "tracked objects only")
    if info.get("redacted"):
        extras.append("redacted (types only)")
    print(", ".join(extras))
    print()
    print("Most common types:")
    snap.show_most_common_types(limit=args.limit)
    return 0


def cmd_chain(args):
    check_output(args.output)
    target = parse_target(args.target)
    snap = open_file(args.file, args.max_memory)
    to = args.to
    if to in (None, "module", "modules"):
        to = None
    chain = snap.find_backref_chain(target, to, max_depth=args.max_depth)
    if len(chain) < 2 and (to is not None or not _is_root(snap, chain[0])):
        what = "a module" if to is None else ("a root" if to == "roots" else "a %s" % to)
        sys.stderr.write("refgraph: no chain from %s to %r within %d references\n"
                         % (what, chain[0], args.max_depth))
        return 1
    deliver(lambda **kw: snap.show_chain(chain, **kw), args.output)
    return 0


def _is_root(snap, obj):
    return any(o == obj for _, _, o in snap.roots())


def cmd_backrefs(args):
    check_output(args.output)
    target = parse_target(args.target)
    snap = open_file(args.file, args.max_memory)
    if isinstance(target, str) and not args.all:
        target = snap.find_backref_chain(target)[-1]
    deliver(lambda **kw: snap.show_backrefs(target, max_depth=args.max_depth, too_many=args.too_many, **kw),
            args.output)
    return 0


def cmd_diff(args):
    old = open_file(args.old, args.max_memory)
    new = open_file(args.new, args.max_memory)
    d = new.diff(old)
    print("%s -> %s: %d objects added, %d removed" % (_printable(args.old), _printable(args.new), sum(d.added.values()),
                                                      sum(d.removed.values())))
    d.show(limit=args.limit)
    return 0


def cmd_export(args):
    if not args.out.endswith(".heapsnapshot"):
        raise UsageError("%s: the Chrome export is named *.heapsnapshot" % args.out)
    snap = open_file(args.file, args.max_memory)
    snap.export_chrome(args.out)
    print("wrote %s" % _printable(args.out))
    return 0


TOP_EXAMPLES = """\
examples:
  %(prog)s snap.rgsnap              the 10 objects that retain the most, with bytes
  %(prog)s snap.rgsnap -n 30 --chains   30 of them, each with its chain from a module

An object's retained size is what would be freed with it: itself and what
only it keeps alive.  Modules, classes and their namespace dicts are passed
over (each retains a namespace), and an object that is most of what a listed
holder retains is not listed again.  Costs about a gc.collect() of the heap.
"""


def cmd_top(args):
    snap = open_file(args.file, args.max_memory)
    snap.top_retainers(args.n, chains=args.chains)
    return 0


ATTACH_EXAMPLES = """\
examples:
  %(prog)s 4242 -o /tmp/app.rgsnap               snapshot process 4242 (needs gdb and ptrace)
  %(prog)s 4242 -o /tmp/app.rgsnap --timeout 60  wait up to 60 s for a safe point
  %(prog)s 4242 -o /tmp/app.rgsnap --python /srv/app/venv/bin/python
                                                 a process on another Python version

The process needs no change and no restart, and refgraph need not be
installed in it.  It stops while gdb attaches (about 0.1 s) and for one
fork(); a child process writes the file.  The file is written by the
process, as its user: its directory must be writable by that user.
See docs/a-leak-in-production-no-restart.md.
"""


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_attach(args):
    # SIGTERM (`timeout 30 refgraph attach ...`) ends the attach as Ctrl-C
    # does: gdb stops waiting and detaches, and the process dumps nothing.
    import signal
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        done = refgraph.snapshot_process(args.pid, args.output, args.timeout, redact=args.redact,
                                         python=args.python)
    except refgraph.AttachError as exc:
        raise UsageError(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(_printable(done.line()))
    return 0


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError("%r is not a positive number of seconds" % text)
    return value


def _pid(text):
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError("%r is not a process id" % text)
    return value


def build_parser(prog=PROG):
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog, formatter_class=fmt, epilog=MAIN_EXAMPLES,
        description="Ask a heap snapshot file (.rgsnap) who keeps an object alive, or take one of a running "
                    "process (attach).")
    parser.add_argument("--version", action="version", version="refgraph " + refgraph.__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # Every command opens snapshot files: the bound on what one may ask for.
    opening = argparse.ArgumentParser(add_help=False)
    opening.add_argument("--max-memory", type=_memory_size, default=None, metavar="SIZE",
                         help="open a file whose counts ask for up to SIZE bytes (2G; default: the larger of "
                              "64M and 512 times the file's size)")

    p = sub.add_parser("summary", parents=[opening], formatter_class=fmt, epilog=SUMMARY_EXAMPLES,
                       help="pid, time, counts and the most common types",
                       description="Who took the snapshot, when, and what the heap held.")
    p.add_argument("file", metavar="FILE", help="a snapshot file (.rgsnap)")
    p.add_argument("--limit", type=_positive, default=10, metavar="N", help="types to list (default 10)")
    p.set_defaults(run=cmd_summary)

    p = sub.add_parser("chain", parents=[opening], formatter_class=fmt, epilog=CHAIN_EXAMPLES,
                       help="the shortest reference chain from a root to an object",
                       description="The shortest reference chain that keeps TARGET alive.")
    p.add_argument("file", metavar="FILE", help="a snapshot file (.rgsnap)")
    p.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    p.add_argument("--to", metavar="roots|TYPE", default=None,
                   help="where the chain starts: 'roots' (a module or a running frame) or a type name "
                        "(default: a module in sys.modules)")
    p.add_argument("--max-depth", type=_positive, default=1000, metavar="N",
                   help="the longest chain looked for (default 1000)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the picture to OUT (.svg .png .dot .txt)")
    p.set_defaults(run=cmd_chain)

    p = sub.add_parser("backrefs", parents=[opening], formatter_class=fmt, epilog=BACKREFS_EXAMPLES,
                       help="the graph of what refers to an object",
                       description="What refers to TARGET, and what refers to those, --max-depth levels back.")
    p.add_argument("file", metavar="FILE", help="a snapshot file (.rgsnap)")
    p.add_argument("target", metavar="TARGET", help=TARGET_HELP + "; a type name means its object nearest "
                   "to a module")
    p.add_argument("--all", action="store_true", help="a type name means every object of the type")
    p.add_argument("--max-depth", type=_positive, default=3, metavar="N", help="levels back (default 3)")
    p.add_argument("--too-many", type=_positive, default=10, metavar="N",
                   help="show at most N referrers of one object (default 10)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the picture to OUT (.svg .png .dot .txt)")
    p.set_defaults(run=cmd_backrefs)

    p = sub.add_parser("diff", parents=[opening], formatter_class=fmt, epilog=DIFF_EXAMPLES,
                       help="which types gained objects between two snapshots",
                       description="The types that gained or lost the most objects from OLD to NEW.")
    p.add_argument("old", metavar="OLD", help="the earlier snapshot file")
    p.add_argument("new", metavar="NEW", help="the later snapshot file")
    p.add_argument("--limit", type=_positive, default=10, metavar="N", help="types to list (default 10)")
    p.set_defaults(run=cmd_diff)

    p = sub.add_parser("export", parents=[opening], formatter_class=fmt, epilog=EXPORT_EXAMPLES,
                       help="write a Chrome DevTools .heapsnapshot",
                       description="Convert a snapshot file for Chrome DevTools' Memory panel and memlab.")
    p.add_argument("file", metavar="FILE", help="a snapshot file (.rgsnap)")
    p.add_argument("out", metavar="OUT.heapsnapshot", help="the file to write")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("top", parents=[opening], formatter_class=fmt, epilog=TOP_EXAMPLES,
                       help="the objects that retain the most memory",
                       description="The objects of a snapshot that retain the most, biggest first, with bytes.")
    p.add_argument("file", metavar="FILE", help="a snapshot file (.rgsnap)")
    p.add_argument("-n", type=_positive, default=10, metavar="N", help="how many (default 10)")
    p.add_argument("--chains", action="store_true", help="each one's chain from a module too")
    p.set_defaults(run=cmd_top)

    p = sub.add_parser("attach", formatter_class=fmt, epilog=ATTACH_EXAMPLES,
                       help="snapshot a running Python process (no restart)",
                       description="Write a snapshot of running CPython process PID to FILE, through gdb.")
    p.add_argument("pid", metavar="PID", type=_pid, help="the process id")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the snapshot file to write (.rgsnap)")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="how long to wait for the process to reach a safe point (default 30)")
    p.add_argument("--redact", action="store_true",
                   help="leave values, keys and thread names out of the file (as snapshot(redact=True))")
    p.add_argument("--python", metavar="PATH", default=None,
                   help="an interpreter whose refgraph the process loads (a process on another Python version)")
    p.set_defaults(run=cmd_attach)
    return parser


def main(argv=None):
    # The `refgraph` command (pip's console script, make install's) names
    # itself so in usage and examples; `python3 -m refgraph` as that.
    parser = build_parser("refgraph" if os.path.basename(sys.argv[0] or "") == "refgraph" else PROG)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ValueError, KeyError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            return _broken_pipe()
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        sys.stderr.write("refgraph: error: %s\n" % _printable(str(message)))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("refgraph: interrupted\n")
        return 130


def _broken_pipe():
    # `python3 -m refgraph summary f | head`: stop quietly, as other tools do
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
