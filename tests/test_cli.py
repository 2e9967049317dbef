"""python3 -m refgraph: each subcommand on a snapshot file, its --help, and
bad input (exit status 2, `refgraph: error: ...`, no traceback).

The tests named *_file run the program in a child process on a file written
by Snapshot.save; the tests named *_inprocess run refgraph.__main__.main()
on a snapshot taken here (open_snapshot replaced), so that the program's own
logic is checked whatever the file format does."""
import io
import os
import subprocess
import sys
import xml.dom.minidom

import pytest

import refgraph
import refgraph.__main__ as cli
from conftest import module_root

COMMANDS = ["summary", "chain", "backrefs", "diff", "export", "top", "attach"]
LEAKED = 25


def run(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=module_root())
    return subprocess.run([sys.executable, "-m", "refgraph"] + [str(a) for a in args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_error(proc, *fragments):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("refgraph: error: ") or line.startswith("python3 -m refgraph"), proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def plant(module):
    """A registry in module holding LEAKED LeakedSession objects."""
    exec("class LeakedSession:\n"
         "    def __init__(self, n):\n"
         "        self.n = n\n"
         "registry = {}\n"
         "for i in range(%d):\n"
         "    registry['tok-%%d' %% i] = LeakedSession(i)\n" % LEAKED, module.__dict__)
    return module


@pytest.fixture
def leak(module):
    return plant(module)


@pytest.fixture
def snapfile(leak, tmp_path):
    path = tmp_path / "leak.rgsnap"
    refgraph.snapshot().save(path)
    return path


@pytest.fixture
def garbage(tmp_path):
    path = tmp_path / "garbage.rgsnap"
    path.write_bytes(b"this is not a snapshot\x00\x01\x02" * 10)
    return path


# ---------------------------------------------------------------- --help

def test_program_help_lists_the_commands_with_examples():
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    for command in COMMANDS:
        assert command in proc.stdout
    assert "examples:" in proc.stdout
    assert "python3 -m refgraph chain refgraph-" in proc.stdout
    assert "dump_on_signal" in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_shows_examples(command):
    proc = run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "examples:" in proc.stdout
    # RawDescriptionHelpFormatter: the examples keep their lines
    assert "\n  python3 -m refgraph %s " % command in proc.stdout


def test_no_command_is_a_usage_error():
    proc = run()
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "COMMAND" in proc.stderr


# ---------------------------------------------------------------- bad input (no file format needed)

@pytest.mark.parametrize("command", ["summary", "chain", "backrefs", "diff", "export", "top"])
def test_missing_file(command, tmp_path):
    missing = tmp_path / "nope.rgsnap"
    extra = {"summary": [], "chain": ["Session"], "backrefs": ["Session"], "diff": [missing],
             "export": [tmp_path / "out.heapsnapshot"], "top": []}[command]
    assert_error(run(command, missing, *extra), "refgraph: error: ", "nope.rgsnap", "no such file")


@pytest.mark.parametrize("command", ["summary", "chain", "backrefs", "export"])
def test_corrupt_file(command, garbage, tmp_path):
    extra = {"summary": [], "chain": ["Session"], "backrefs": ["Session"],
             "export": [tmp_path / "out.heapsnapshot"]}[command]
    proc = run(command, garbage, *extra)
    assert_error(proc, "refgraph: error: ", "garbage.rgsnap")
    assert not (tmp_path / "out.heapsnapshot").exists()


@pytest.mark.parametrize("command", ["summary", "chain", "backrefs", "diff", "export"])
def test_max_memory_bounds_what_a_file_may_ask_for(command, snapfile, tmp_path):
    """Every command takes --max-memory SIZE, open_snapshot's max_memory:
    below what the file asks for, one line naming the option; a size
    with a unit opens it; a bad size is a usage error."""
    extra = {"summary": [], "chain": ["LeakedSession"], "backrefs": ["LeakedSession"], "diff": [snapfile],
             "export": [tmp_path / "out.heapsnapshot"]}[command]
    assert_error(run(command, "--max-memory", "1K", snapfile, *extra), "is refused: the file claims",
                 "over the limit of 1 KiB (set by --max-memory SIZE)")
    assert not (tmp_path / "out.heapsnapshot").exists()
    assert_error(run(command, "--max-memory", "2X", snapfile, *extra), "'2X' is not a size")
    assert_error(run(command, "--max-memory", "0", snapfile, *extra), "'0' is not a size")
    ok = run(command, "--max-memory", "2G", snapfile, *extra)
    assert ok.returncode == 0, ok.stderr


def test_a_file_past_the_default_bound_names_the_option(tmp_path):
    """The refusal says how to raise the bound in the CLI's words."""
    from test_snapshot_file import forged_file
    path = tmp_path / "forged.rgsnap"
    path.write_bytes(forged_file(10 ** 7))
    assert_error(run("summary", path), "is refused: the file claims 10000000 objects",
                 "--max-memory SIZE raises it)")


def test_memory_sizes_read_as_powers_of_1024():
    assert [cli._memory_size(t) for t in ("4096", "1K", "800M", "2G", "1T", "3 GiB", "5mb", "64B", " 2 G ")] == \
        [4096, 1024, 800 << 20, 2 << 30, 1 << 40, 3 << 30, 5 << 20, 64, 2 << 30]
    import argparse
    for bad in ("2 iB", "1i", "\u0661\u0662", "1e9", "-5", "1.5G", "", "G", "2X", "0"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a size"):
            cli._memory_size(bad)


def test_a_directory_is_not_a_snapshot(tmp_path):
    assert_error(run("summary", tmp_path), "is a directory")


@pytest.mark.parametrize("address", ["0xzz", "0x", "12ab", "-5", "0x-1"])
@pytest.mark.parametrize("command", ["chain", "backrefs"])
def test_bad_address(command, address, garbage):
    assert_error(run(command, garbage, address), "refgraph: error: bad address", repr(address))


def test_unknown_output_format(garbage, tmp_path):
    # The message lists the formats this build can write (.svg only with Graphviz).
    assert_error(run("chain", garbage, "Session", "-o", tmp_path / "chain.foo"), "chain.foo", ".dot")


def test_export_wants_a_heapsnapshot_name(garbage, tmp_path):
    assert_error(run("export", garbage, tmp_path / "out.json"), ".heapsnapshot")


@pytest.mark.parametrize("option", ["--limit", "--max-depth"])
def test_negative_numbers_are_usage_errors(option, garbage):
    command = "summary" if option == "--limit" else "chain"
    args = [command, garbage] + ([] if command == "summary" else ["Session"]) + [option, "-1"]
    proc = run(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "negative" in proc.stderr


# ---------------------------------------------------------------- on a real snapshot file

def test_summary_file(snapfile):
    proc = run("summary", snapfile, "--limit", "5")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "pid %d" % os.getpid() in first
    assert "objects" in proc.stdout and "references" in proc.stdout
    rows = proc.stdout.split("Most common types:\n")[1].strip().splitlines()
    assert len(rows) == 5
    # The rows are the file's own most common types, in its order. Which
    # type leads depends on what earlier tests in this process left behind
    # (under ASan with xdist, ints did), so ask the file rather than guess.
    expected = refgraph.open_snapshot(snapfile).most_common_types(5)
    assert [(row.split()[0], int(row.split()[1])) for row in rows] == expected


def test_top_file(snapfile):
    """The objects that retain the most, as a table with bytes; --chains
    adds each one's chain; the rows are the file's own top_retainers."""
    proc = run("top", snapfile, "-n", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["type", "summary", "retained", "objects", "share"] and len(lines) == 4
    expected = refgraph.open_snapshot(snapfile).top_retainers(3, file=io.StringIO(), chains=False)
    assert [int(line.split()[-2]) for line in lines[1:]] == [count for _, _, count in expected]
    assert all(line.split()[-3] in ("B", "KiB", "MiB", "GiB") for line in lines[1:])
    chains = run("top", snapfile, "-n", "2", "--chains")
    # the table, then each one's chain (or why it has none), a block each
    assert chains.returncode == 0 and len(chains.stdout.rstrip("\n").split("\n\n")) == 3
    assert run("top", snapfile, "-n", "-1").returncode == 2


def test_chain_by_type_file(snapfile, leak):
    proc = run("chain", snapfile, "LeakedSession")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "module %s  [root]" % leak.__name__ in out
    assert ".registry -> dict len=%d" % LEAKED in out
    assert "-> LeakedSession  [target]" in out


def test_chain_by_address_file(snapfile, leak):
    target = leak.registry["tok-7"]
    for spelling in (hex(id(target)), str(id(target))):
        proc = run("chain", snapfile, spelling)
        assert proc.returncode == 0, proc.stderr
        assert "['tok-7'] -> LeakedSession  [target]" in proc.stdout


def test_chain_to_a_type_file(snapfile):
    proc = run("chain", snapfile, "LeakedSession", "--to", "dict")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].strip() == "dict len=%d" % LEAKED


def test_chain_to_roots_file(snapfile, leak):
    proc = run("chain", snapfile, "LeakedSession", "--to", "roots")
    assert proc.returncode == 0, proc.stderr
    assert "[root]" in proc.stdout


@pytest.mark.parametrize("ext", ["txt", "dot", "svg", "png"])
def test_chain_writes_a_picture_file(snapfile, tmp_path, ext):
    if ext in ("svg", "png") and ext not in refgraph.formats():
        pytest.skip("built --without-graphviz")
    out = tmp_path / ("chain." + ext)
    proc = run("chain", snapfile, "LeakedSession", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "wrote " in proc.stdout
    data = out.read_bytes()
    if ext == "svg":
        texts = " ".join(t.firstChild.data for t in xml.dom.minidom.parseString(data).getElementsByTagName("text")
                         if t.firstChild)
        assert "LeakedSession" in texts
    elif ext == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert b"LeakedSession" in data


def test_unknown_type_file(snapfile):
    assert_error(run("chain", snapfile, "NoSuchTypeAnywhere"), "NoSuchTypeAnywhere", "no object of type")
    assert_error(run("backrefs", snapfile, "NoSuchTypeAnywhere"), "NoSuchTypeAnywhere")
    assert_error(run("chain", snapfile, "LeakedSession", "--to", "NoSuchGoal"), "NoSuchGoal")


def test_unknown_address_file(snapfile):
    assert_error(run("chain", snapfile, "0x10"), "no object at 0x10")


def test_backrefs_file(snapfile, leak, tmp_path):
    target = leak.registry["tok-3"]
    proc = run("backrefs", snapfile, hex(id(target)), "--max-depth", "3")
    assert proc.returncode == 0, proc.stderr
    assert "LeakedSession  [target]" in proc.stdout
    assert "dict len=%d  via ['tok-3']" % LEAKED in proc.stdout
    proc = run("backrefs", snapfile, "LeakedSession", "--too-many", "3", "-o", tmp_path / "b.dot")
    assert proc.returncode == 0, proc.stderr
    assert b"LeakedSession" in (tmp_path / "b.dot").read_bytes()
    # A type name: its object nearest to a module; --all: every one of them.
    proc = run("backrefs", snapfile, "LeakedSession", "--too-many", "3")
    assert proc.stdout.count("LeakedSession  [target]") == 1, proc.stdout
    proc = run("backrefs", snapfile, "LeakedSession", "--all", "--too-many", "3")
    assert proc.stdout.count("LeakedSession  [target]") == LEAKED, proc.stdout


def test_diff_file(leak, tmp_path):
    old = tmp_path / "old.rgsnap"
    new = tmp_path / "new.rgsnap"
    refgraph.snapshot().save(old)
    for i in range(LEAKED, LEAKED + 40):
        leak.registry["tok-%d" % i] = leak.LeakedSession(i)
    refgraph.snapshot().save(new)
    proc = run("diff", old, new, "--limit", "50")
    assert proc.returncode == 0, proc.stderr
    row = [line for line in proc.stdout.splitlines() if line.startswith("LeakedSession ")]
    assert row and row[0].split()[1] == "+40", proc.stdout


def test_export_file(snapfile, tmp_path):
    import json
    out = tmp_path / "leak.heapsnapshot"
    proc = run("export", snapfile, out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert "snapshot" in doc and "nodes" in doc
    assert "LeakedSession" in doc["strings"]


# ---------------------------------------------------------------- the program's logic, in process

@pytest.fixture
def live(leak, monkeypatch, tmp_path):
    """open_snapshot returns a snapshot taken now; the file just has to exist."""
    snap = refgraph.snapshot()
    path = tmp_path / "live.rgsnap"
    path.write_bytes(b"x")
    monkeypatch.setattr(cli, "_open_snapshot", lambda path, progress, max_memory, option: snap)
    return str(path)


def main(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_summary_inprocess(live, capsys):
    rc, out, err = main(capsys, "summary", live, "--limit", "3")
    assert rc == 0 and err == ""
    assert "pid %d at " % os.getpid() in out.splitlines()[0]
    assert "Python %d.%d." % sys.version_info[:2] in out
    assert len(out.split("Most common types:\n")[1].strip().splitlines()) == 3


def test_chain_inprocess(live, leak, capsys):
    rc, out, err = main(capsys, "chain", live, "LeakedSession")
    assert rc == 0, err
    assert "module %s  [root]" % leak.__name__ in out and "-> LeakedSession  [target]" in out
    target = leak.registry["tok-9"]
    for spelling in (hex(id(target)), hex(id(target)).upper().replace("0X", "0x"), str(id(target))):
        rc, out, err = main(capsys, "chain", live, spelling)
        assert rc == 0, err
        assert "['tok-9'] -> LeakedSession  [target]" in out
    rc, out, err = main(capsys, "chain", live, "LeakedSession", "--to", "dict")
    assert rc == 0 and out.splitlines()[1].strip() == "dict len=%d" % LEAKED


def test_chain_not_found_inprocess(live, capsys):
    rc, out, err = main(capsys, "chain", live, "LeakedSession", "--max-depth", "1")
    assert rc == 1 and out == ""
    assert "no chain from a module" in err


def test_chain_and_backrefs_write_files_inprocess(live, capsys, tmp_path):
    for command in ("chain", "backrefs"):
        out_path = tmp_path / (command + ".dot")
        rc, out, err = main(capsys, command, live, "LeakedSession", "-o", out_path)
        assert rc == 0, err
        assert out == "wrote %s\n" % out_path
        assert "LeakedSession" in out_path.read_text()


def test_backrefs_inprocess(live, leak, capsys):
    rc, out, err = main(capsys, "backrefs", live, hex(id(leak.registry["tok-1"])), "--max-depth", "2")
    assert rc == 0, err
    assert "LeakedSession  [target]" in out and "via ['tok-1']" in out


def test_diff_inprocess(live, capsys):
    rc, out, err = main(capsys, "diff", live, live)
    assert rc == 0, err
    assert "0 objects added, 0 removed" in out


@pytest.mark.parametrize("argv, message", [
    (["chain", "{live}", "NoSuchTypeAnywhere"], "no object of type 'NoSuchTypeAnywhere'"),
    (["backrefs", "{live}", "NoSuchTypeAnywhere"], "no object of type 'NoSuchTypeAnywhere'"),
    (["chain", "{live}", "LeakedSession", "--to", "NoSuchGoal"], "no object of type 'NoSuchGoal'"),
    (["chain", "{live}", "0x10"], "no object at 0x10"),
    (["chain", "{live}", "0xnope"], "bad address '0xnope'"),
    (["chain", "{live}", "LeakedSession", "-o", "{tmp}/x.foo"], "x.foo"),
    (["chain", "{live}", "LeakedSession", "-o", "{tmp}/nodir/x.dot"], "no directory"),
    (["summary", "{tmp}/missing.rgsnap"], "missing.rgsnap: no such file"),
])
def test_errors_inprocess(live, capsys, tmp_path, argv, message):
    rc, out, err = main(capsys, *[a.format(live=live, tmp=tmp_path) for a in argv])
    assert rc == 2 and out == ""
    assert err.startswith("refgraph: error: ") and message in err, err
    assert err.count("\n") == 1


def test_corrupt_file_message_inprocess(garbage, capsys):
    rc, out, err = main(capsys, "summary", garbage)
    assert rc == 2 and out == ""
    assert err.startswith("refgraph: error: ") and "garbage.rgsnap" in err


EVIL = "Ev\x1b]0;PWNED\x07il\x1b[2J\x9b\n"


def test_no_command_prints_a_control_character_from_the_heap(module, tmp_path):
    """A class named with terminal escapes (set the title, clear the
    screen) came out raw from `diff`: every line carrying heap text escapes
    control characters, as the graphs' text does."""
    old = tmp_path / "old.rgsnap"
    refgraph.snapshot().save(old, progress=False)
    evil = type(EVIL, (), {})
    module.kept = [evil() for _ in range(3)]
    module.kept_str = "x\x1b[2J" * 3
    new = tmp_path / "new.rgsnap"
    refgraph.snapshot().save(new, progress=False)
    outputs = [run("diff", old, new), run("summary", new, "--limit", "1000"),
               run("chain", new, "0x%x" % id(module.kept[0])), run("backrefs", new, "0x%x" % id(module.kept[0])),
               run("chain", new, "0x%x" % id(module.kept[0]), "--to", "NoSuchTypeAnywhere")]
    for proc in outputs:
        assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr, proc
        assert "\x9b" not in proc.stdout + proc.stderr
    assert "Ev\\x1b]0;PWNED\\x07il\\x1b[2J\\x9b\\n" in outputs[0].stdout, outputs[0].stdout
    # The library's tables too, live and on a snapshot.
    import io
    for show in (lambda f: refgraph.show_most_common_types(limit=None, file=f),
                 lambda f: refgraph.snapshot().show_most_common_types(limit=None, file=f),
                 lambda f: refgraph.snapshot().top_retainers(limit=50, file=f, chains=False)):
        f = io.StringIO()
        show(f)
        assert "\x1b" not in f.getvalue()
    assert "\x1b" not in repr(refgraph.snapshot().object(id(module.kept[0])))


def test_a_leak_report_escapes_the_names_it_prints(module):
    """The pytest plugin prints LeakReport.to_text(): a leaking class named
    with terminal escapes came out raw (a title change, a screen clear)."""
    evil = type(EVIL.rstrip("\n") + "\u202e", (), {})
    module.store = []
    report = refgraph.find_leaks(lambda: module.store.append(evil()), confirm=0)
    text = report.to_text()
    assert report and "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "Ev\\x1b]0;PWNED\\x07il\\x1b[2J\\x9b\\u202e held in" in text, text
