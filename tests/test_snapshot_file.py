"""Snapshot files: a saved snapshot opens to the same answers, a file from
CPython 3.11 opens under every version and build, and a truncated,
bit-flipped or forged file gives ValueError naming what is wrong (fuzzed
here with hypothesis; tests/c/test_snapfile.c tries every truncation and
every bit of a small file; tests/sanitizers.sh runs both under ASan)."""
import io
import os
import signal
import subprocess
import sys
import textwrap
import types

import pytest

import refgraph
from conftest import SOURCE_ROOT, fuzz_examples, module_root

FIXTURE = os.path.join(SOURCE_ROOT, "tests", "data", "py311.rgsnap")


class Kept:
    pass


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    mod = types.ModuleType("filemod")
    mod.registry = {"kept": [Kept(), Kept()]}
    sys.modules["filemod"] = mod
    snap = refgraph.snapshot()
    path = str(tmp_path_factory.mktemp("snap") / "s.rgsnap")
    snap.save(path, progress=False)
    yield snap, path, mod
    del sys.modules["filemod"]


def test_a_saved_snapshot_opens_to_the_same_answers(saved):
    snap, path, mod = saved
    back = refgraph.open_snapshot(path, progress=False)
    assert back.info == snap.info
    assert back.typestats() == snap.typestats()
    target = id(mod.registry["kept"][1])
    text = [s.show_chain(s.find_backref_chain(target), output=io.StringIO()).to_text() for s in (snap, back)]
    assert text[0] == text[1] and "filemod.registry" in text[0]
    graphs = [s.show_backrefs(target, max_depth=4, output=io.StringIO()).to_text() for s in (snap, back)]
    assert graphs[0] == graphs[1]
    assert back.diff(snap).added == {} and back.diff(snap).removed == {}


def test_saving_leaves_only_the_file(saved, tmp_path):
    snap, _, _ = saved
    snap.save(str(tmp_path / "a.rgsnap"), progress=False)
    snap.save(tmp_path / "a.rgsnap", progress=False)   # os.PathLike, over an existing file
    assert os.listdir(tmp_path) == ["a.rgsnap"]


def test_a_file_from_cpython_3_11_opens_here():
    snap = refgraph.open_snapshot(FIXTURE, progress=False)
    assert snap.info["python_hex"] >> 16 == 0x030B
    addrs = snap.by_type("FixtureSession")
    assert len(addrs) == 3
    text = snap.show_chain(snap.find_backref_chain(addrs[0]), output=io.StringIO()).to_text()
    assert "module fixturemod  [root]" in text and "fixturemod.registry -> dict len=1" in text
    assert "['sessions'] -> list len=3" in text and "-> FixtureSession  [target]" in text


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"hello, world, this is not a snapshot at all" * 4, "not a refgraph snapshot"),
])
def test_foreign_files_raise_value_error(tmp_path, content, message):
    path = tmp_path / "x.rgsnap"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        refgraph.open_snapshot(str(path), progress=False)


def test_missing_and_directory_paths_raise_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        refgraph.open_snapshot(str(tmp_path / "nope.rgsnap"))
    with pytest.raises(OSError):
        refgraph.open_snapshot(str(tmp_path))
    with pytest.raises(TypeError):
        refgraph.open_snapshot(3.5)


def test_saving_into_a_missing_directory_raises(saved, tmp_path):
    snap, _, _ = saved
    with pytest.raises(FileNotFoundError):
        snap.save(str(tmp_path / "no" / "such" / "dir.rgsnap"), progress=False)
    assert os.listdir(tmp_path) == []


def test_truncations_raise_value_error(saved, tmp_path):
    _, path, _ = saved
    data = open(path, "rb").read()
    cut = tmp_path / "cut.rgsnap"
    lengths = sorted(set(list(range(0, 200)) + list(range(0, len(data), max(1, len(data) // 300)))))
    for n in lengths:
        if n >= len(data):
            continue
        cut.write_bytes(data[:n])
        with pytest.raises(ValueError):
            refgraph.open_snapshot(str(cut), progress=False)


def _damaged_files_property(saved, tmp_path, flips, insert):
    _, path, _ = saved
    data = bytearray(open(path, "rb").read())
    for at, bit in flips:
        data[at % len(data)] ^= 1 << bit
    if insert is not None:
        at, extra = insert
        data[at % len(data):at % len(data)] = extra
    bad = tmp_path / "bad.rgsnap"
    bad.write_bytes(bytes(data))
    try:
        snap = refgraph.open_snapshot(str(bad), progress=False)
    except ValueError as exc:
        assert str(exc)
        return
    # A change the checksum cannot see (none expected): then it must be whole.
    snap.typestats()
    snap.find_backref_chain("Kept")


# Only this test needs hypothesis: without it, it alone is skipped (a module
# level importorskip would skip every test of this file).
try:
    from hypothesis import HealthCheck, given, settings, strategies as st
except ImportError:
    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_damaged_files_raise_value_error_or_open_whole():
        pass
else:
    test_damaged_files_raise_value_error_or_open_whole = pytest.mark.fuzz(
        settings(max_examples=fuzz_examples(150), deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])(
            given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=4),
                  insert=st.one_of(st.none(), st.tuples(st.integers(min_value=0),
                                                        st.binary(min_size=1, max_size=16))))(
                _damaged_files_property)))


def test_a_full_disk_leaves_no_file(tmp_path):
    """A file size limit (SIGXFSZ ignored) stands for a full disk: save
    raises OSError, the process goes on, no file is left behind."""
    script = textwrap.dedent("""
        import os, resource, signal, sys
        import refgraph
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        # The soft limit only, lifted again before exit: gcov's .gcda and
        # coverage.py's data are written at exit (tests/coverage.sh), and a
        # 4 KiB limit would truncate them.
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
        snap = refgraph.snapshot()
        try:
            snap.save(os.path.join(sys.argv[1], "full.rgsnap"), progress=False)
        except OSError as exc:
            print("OSError", exc.errno)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        print("alive", sorted(os.listdir(sys.argv[1])))
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=module_root()), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "OSError" in proc.stdout and "alive []" in proc.stdout, proc.stdout


def test_a_dump_while_threads_mutate_the_heap(tmp_path):
    """dump_on_signal while another thread keeps allocating and freeing:
    the dump opens whole and the process keeps running."""
    script = textwrap.dedent("""
        import os, signal, sys, threading, time
        import refgraph
        refgraph.dump_on_signal(signal.SIGUSR2, sys.argv[1])
        stop = False
        def churn():
            junk = {}
            i = 0
            while not stop:
                junk[i % 5000] = [object() for _ in range(5)]
                i += 1
        t = threading.Thread(target=churn)
        t.start()
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)   # a second signal while the first dump is under way
        deadline = time.time() + 60
        while time.time() < deadline and not any(n.endswith(".rgsnap") for n in os.listdir(sys.argv[1])):
            time.sleep(0.05)
        time.sleep(0.5)
        stop = True
        t.join()
        names = sorted(os.listdir(sys.argv[1]))
        print("files", names)
        snap = refgraph.open_snapshot(os.path.join(sys.argv[1], names[0]), progress=False)
        print("objects", len(snap) > 1000)
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=module_root()), timeout=180)
    assert proc.returncode == 0, proc.stderr
    files = eval(proc.stdout.split("files ", 1)[1].splitlines()[0])
    assert 1 <= len(files) <= 2 and all(f.startswith("refgraph-%s" % "") and f.endswith(".rgsnap") for f in files)
    assert "objects True" in proc.stdout


def test_dump_on_signal_checks_its_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        refgraph.dump_on_signal(signal.SIGUSR2, str(tmp_path / "missing"))
    with pytest.raises(TypeError):
        refgraph.dump_on_signal(signal.SIGUSR2, 3)


def test_progress_bars_go_to_stderr(tmp_path):
    """progress=True draws "saving/loading/exporting NN%" on file descriptor 2
    (the CLI's default when stderr is a terminal); progress=False nothing."""
    script = textwrap.dedent("""
        import os, sys
        import refgraph
        snap = refgraph.snapshot()
        path = os.path.join(sys.argv[1], "p.rgsnap")
        snap.save(path, progress=True)
        refgraph.open_snapshot(path, progress=True)
        snap.export_chrome(os.path.join(sys.argv[1], "p.heapsnapshot"), progress=True)
        snap.save(path, progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=module_root()), timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in ("saving", "loading", "exporting"):
        assert word in proc.stderr and "100%" in proc.stderr.split(word, 1)[1], proc.stderr
    assert proc.stderr.count("saving") >= 1 and proc.stderr.endswith("\n")


def test_devices_fifos_and_links_are_never_replaced(saved, tmp_path):
    snap, _, _ = saved
    for device in ("/dev/null", "/dev/full"):
        with pytest.raises(OSError, match="not a regular file"):
            snap.save(device, progress=False)
        with pytest.raises(OSError, match="not a regular file"):
            snap.export_chrome(device, progress=False)
        assert os.path.exists(device) and not os.path.isfile(device)
    fifo = tmp_path / "fifo.rgsnap"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        snap.save(str(fifo), progress=False)
    # A link: its target is replaced, keeping its mode; the link stays.
    real = tmp_path / "real.rgsnap"
    real.write_bytes(b"old")
    os.chmod(real, 0o600)
    link = tmp_path / "link.rgsnap"
    os.symlink(real, link)
    snap.save(str(link), progress=False)
    assert os.path.islink(link) and os.stat(real).st_mode & 0o777 == 0o600
    facts = lambda s: {k: v for k, v in s.info.items() if k != "memory"}   # noqa: E731 (indexes built on use)
    assert facts(refgraph.open_snapshot(str(link), progress=False)) == facts(snap)
    assert sorted(os.listdir(tmp_path)) == ["fifo.rgsnap", "link.rgsnap", "real.rgsnap"]


def test_devices_and_fifos_are_not_read(tmp_path):
    """/dev/zero would be read forever, a FIFO wait for a writer: both are
    refused at once, as a huge foreign file is after its first bytes."""
    with pytest.raises(OSError, match="not a regular file: refgraph reads regular files only") as e:
        refgraph.open_snapshot("/dev/zero", progress=False)
    assert e.value.filename == "/dev/zero"
    fifo = tmp_path / "fifo.rgsnap"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        refgraph.open_snapshot(str(fifo), progress=False)
    sparse = tmp_path / "sparse.rgsnap"
    with open(sparse, "wb") as f:
        f.truncate(1 << 34)   # 16 GiB of holes
    with pytest.raises(ValueError, match="bad magic"):
        refgraph.open_snapshot(str(sparse), progress=False)


def test_dump_on_signal_keeps_its_directory_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("dumps")
    previous = refgraph.dump_on_signal(signal.SIGUSR2, "dumps")
    try:
        os.chdir("/")
        os.kill(os.getpid(), signal.SIGUSR2)
        import time
        for _ in range(600):
            if any(n.endswith(".rgsnap") for n in os.listdir(tmp_path / "dumps")):
                break
            time.sleep(0.05)
        assert [n for n in os.listdir(tmp_path / "dumps") if n.endswith(".rgsnap")]
    finally:
        signal.signal(signal.SIGUSR2, previous)


@pytest.fixture(scope="module")
def sizable(tmp_path_factory):
    """A snapshot whose save, export and open each take a good part of a
    second (a few hundred thousand objects), and its saved file."""
    heap = [{"key-%d" % i: "value-%d" % i, "total": i * 0.5} for i in range(150000)]
    snap = refgraph.snapshot()
    path = tmp_path_factory.mktemp("sizable") / "full.rgsnap"
    snap.save(path, progress=False)
    del heap
    return snap, path


def _stops(name, snap, path, out):
    return {"save": lambda progress: snap.save(out / "x.rgsnap", progress=progress),
            "export_chrome": lambda progress: snap.export_chrome(out / "x.heapsnapshot", progress=progress),
            "open_snapshot": lambda progress: refgraph.open_snapshot(path, progress=progress)}[name]


@pytest.mark.parametrize("name", ["save", "export_chrome", "open_snapshot"])
def test_a_signal_stops_a_long_file_operation_and_leaves_nothing(sizable, tmp_path, name):
    """Ctrl-C during a save, an export or an open: the work stopped only at
    its end before, and left the whole file in place; now the signal's
    handler runs within about a megabyte of work, its exception stops the
    operation, and no file or temporary file is left."""
    import time
    snap, path = sizable
    call = _stops(name, snap, path, tmp_path)
    start = time.perf_counter()
    call(False)
    whole = time.perf_counter() - start
    for f in os.listdir(tmp_path):
        os.remove(tmp_path / f)
    if whole < 0.03:
        pytest.skip("%s took %.0f ms here: too short to interrupt in its middle" % (name, whole * 1000))

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, 0.005)
        with pytest.raises(KeyboardInterrupt):
            call(False)
        stopped = time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert stopped < whole / 2, "stopped after %.0f ms of a %.0f ms %s" % (stopped * 1000, whole * 1000, name)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["save", "export_chrome", "open_snapshot"])
def test_a_progress_callback_sees_the_work_and_can_stop_it(sizable, tmp_path, name):
    snap, path = sizable
    call = _stops(name, snap, path, tmp_path)
    seen = []
    result = call(lambda done, total: seen.append((done, total)))
    assert seen and all(0 <= done <= total for done, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    if name != "open_snapshot":
        assert len(os.listdir(tmp_path)) == 1
        for f in os.listdir(tmp_path):
            os.remove(tmp_path / f)
    else:
        assert result.info["nodes"] == snap.info["nodes"]
    calls = []
    with pytest.raises(RuntimeError, match="stopped before the end: the progress callback returned true"):
        call(lambda done, total: calls.append(done) or True)
    assert len(calls) == 1 and os.listdir(tmp_path) == []
    with pytest.raises(ZeroDivisionError):
        call(lambda done, total: 1 / 0)
    assert os.listdir(tmp_path) == []
    with pytest.raises(TypeError, match="progress must be a bool or a callable"):
        call("yes")


def _zero_blocks(count, value):
    """The inflated stream of a section holding count copies of a one-byte
    value (docs/snapshot-format.md, blocks of byte planes)."""
    out = bytearray()
    while count > 0:
        b = min(16384, count)
        out += bytes([1, 1]) + bytes([value]) * b
        count -= b
    return bytes(out)


def _section(tag, count, stream):
    import struct
    import zlib
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    data = c.compress(stream) + c.flush()
    return tag.encode() + bytes(4) + struct.pack("<QQ", count, len(data)) + data


def forged_file(n):
    """A valid, CRC-correct version 1 file of n objects of one type and no
    reference: deflate makes it about n / 45 bytes, while its arrays take
    22 bytes an object in memory."""
    import struct
    import zlib
    head = b"RGSNAP\r\n\x1a\n" + struct.pack("<HIIIIIII", 1, 2, n, 0, 1, 0, 0, 1)
    head += struct.pack("<QII", 0, 1, 0x030b00f0) + struct.pack("<II", 11, 0)
    type_words = [0, 0, 0, 0, 0xFFFFFFFF, 0]
    typs = bytes([4, 4]) + b"".join(bytes((v >> (8 * k)) & 0xFF for v in type_words) for k in range(4))
    body = head + b"".join([
        _section("ADDR", n, _zero_blocks(n, 32)), _section("TYPE", n, _zero_blocks(n, 0)),
        _section("SIZE", n, _zero_blocks(n, 16)), _section("SUMM", n, _zero_blocks(n, 0)),
        _section("RCNT", n, _zero_blocks(n, 0)), _section("RSRC", 0, b""), _section("RLBL", 0, b""),
        _section("TYPS", 6, typs), _section("ROOT", 0, b""), _section("BIGS", 0, b""),
        _section("STRS", 1, _zero_blocks(1, 0))])
    return body + struct.pack("<I", zlib.crc32(body))


def test_a_small_file_cannot_ask_for_a_lot_of_memory(tmp_path):
    """A 221 KiB file claiming 10 million objects made open_snapshot
    allocate and fill 200 MiB (a 5 MB one would have asked for 20 GB):
    counts asking for more than max(64 MiB, 512 times the file's size) are
    refused before anything is allocated, saying what the file claims;
    max_memory= lets a caller open it anyway."""
    import resource
    path = tmp_path / "forged.rgsnap"
    path.write_bytes(forged_file(10 ** 7))
    assert path.stat().st_size < 300 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"is refused: the file claims 10000000 objects and 0 references, "
                                         r"\d+ MiB in memory from \d+ KiB of file, over the limit of 110 MiB "
                                         r"\(the larger of 64 MiB and 512 times .*: max_memory= raises it\)"):
        refgraph.open_snapshot(path, progress=False)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 32 * 1024   # KiB: nothing allocated
    with pytest.raises(ValueError, match="over the limit of 1 MiB \\(set by max_memory=\\)"):
        refgraph.open_snapshot(path, progress=False, max_memory=1 << 20)
    for bad, exc in ((0, ValueError), (-1, ValueError), ("1", TypeError), (1.5, TypeError)):
        with pytest.raises(exc, match="max_memory"):
            refgraph.open_snapshot(path, progress=False, max_memory=bad)
    small = tmp_path / "small.rgsnap"
    small.write_bytes(forged_file(1000))
    assert refgraph.open_snapshot(small, progress=False).info["nodes"] == 1000


@pytest.mark.slow   # 200 MiB and a second
def test_max_memory_opens_a_file_past_the_default_limit(tmp_path):
    path = tmp_path / "forged.rgsnap"
    path.write_bytes(forged_file(10 ** 7))
    snap = refgraph.open_snapshot(path, progress=False, max_memory=1 << 30)
    assert snap.info["nodes"] == 10 ** 7


@pytest.mark.slow   # a 2M-object heap in a child, snapshotted three times: 5 s
def test_ctrl_c_stops_a_snapshot_in_its_middle(tmp_path):
    """snapshot() holds the GIL for seconds on a big heap, and SIGINT's
    handler could not run until it ended.  The build now reads SIGINT's flag
    every 65,536 objects (running no Python code meanwhile), lets go of the
    heap, and the handler runs: KeyboardInterrupt well before the end, the
    heap intact.  A handler that raises nothing (a flag for a graceful
    stop) lets the program go on: the snapshot is taken again."""
    script = textwrap.dedent("""
        import gc, os, signal, subprocess, sys, time
        sys.path.insert(0, sys.argv[1])
        from benchutil import service_heap
        import refgraph
        heap = service_heap(2000000)
        start = time.perf_counter(); refgraph.snapshot(); whole = time.perf_counter() - start
        def interrupted_after(delay):
            # The killer waits for a line on its stdin: starting a process
            # (forking this heap) takes longer than the delay may be, so it
            # is started first and the delay counts from the line.
            kill = subprocess.Popen(["sh", "-c", "read go; sleep %s; kill -INT %d" % (delay, os.getpid())],
                                    stdin=subprocess.PIPE)
            kill.stdin.write(b"go\\n")
            kill.stdin.close()
            start = time.perf_counter()
            try:
                refgraph.snapshot()
                outcome = "finished"
            except KeyboardInterrupt:
                outcome = "KeyboardInterrupt"
            except RuntimeError as e:
                outcome = "RuntimeError: %s" % e
            kill.wait()
            return outcome, time.perf_counter() - start
        outcome, took = interrupted_after(whole / 4)
        print("whole %.3f interrupted %.3f %s" % (whole, took, outcome))
        signal.signal(signal.SIGINT, lambda *a: None)
        print(interrupted_after(whole / 4)[0])
        gc.collect()
        print("nodes", len(refgraph.snapshot()) > 2000000)
    """)
    proc = subprocess.run([sys.executable, "-c", script, os.path.join(SOURCE_ROOT, "bench")], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=module_root()), timeout=300)
    assert proc.returncode == 0, proc.stderr
    first, second, third = proc.stdout.splitlines()
    whole, took, outcome = float(first.split()[1]), float(first.split()[3]), first.split()[4]
    assert outcome == "KeyboardInterrupt" and took < whole * 0.75, first
    assert second == "finished", second   # the handler raised nothing: the program goes on, and so does the snapshot
    assert third == "nodes True"
