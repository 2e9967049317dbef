"""refgraph.dump and dump_on_signal: the snapshot taken by a forked child
from its copy-on-write image of the heap (src/snapfork.c), the service's
threads stopped only for fork(); the in-process fallback; the one line
each dump reports."""
import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest

import refgraph
from refgraph import _snapshot
from conftest import module_root


class Record:
    def __init__(self, i):
        self.name = "record-%d" % i
        self.total = i * 1.5


@pytest.fixture
def heap():
    """A module holding some records: a heap worth a few tenths of a second."""
    module = types.ModuleType("dumpheap")
    module.records = [Record(i) for i in range(50000)]
    sys.modules["dumpheap"] = module
    yield module
    del sys.modules["dumpheap"]


def test_a_forked_dump_returns_at_once_and_writes_the_file(heap, tmp_path):
    log = io.StringIO()
    path = tmp_path / "d.rgsnap"
    d = refgraph.dump(path, log=log)
    assert d.forked and d.pid and d.fallback is None
    assert d.stall < 5
    assert d.wait(120) and d.done and d.error is None, d.line()
    snap = refgraph.open_snapshot(path, progress=False)
    assert snap.info["pid"] == os.getpid(), "the heap's process, not the child's"
    assert snap.info["nodes"] == d.objects and d.objects > 100000
    assert snap.object(id(heap.records[7].name)).summary == "'record-7'"
    assert log.getvalue() == d.line() + "\n"
    assert log.getvalue().startswith("refgraph: dumped %s objects to %s in " % (format(d.objects, ","), path))
    assert "the service stopped" in log.getvalue() and "(fork)" in log.getvalue()
    with pytest.raises(ChildProcessError):
        os.waitpid(d.pid, os.WNOHANG)   # reaped: no zombie left
    assert sorted(os.listdir(tmp_path)) == ["d.rgsnap"]


def test_other_threads_keep_working_during_the_dump(heap, tmp_path):
    """A worker thread serves "requests" all along; while the child takes
    the snapshot the worker keeps serving, and its frame is in the dump."""
    served = [0]
    stop = threading.Event()

    def serve_requests():
        request_log = []
        while not stop.is_set():
            request_log.append({"n": served[0]})
            del request_log[:-100]
            served[0] += 1

    worker = threading.Thread(target=serve_requests, name="worker")
    worker.start()
    try:
        while served[0] == 0:
            time.sleep(0.001)
        d = refgraph.dump(tmp_path / "t.rgsnap", log=None)
        at_fork = served[0]
        progressed = False
        while not d.done:
            progressed = progressed or served[0] > at_fork + 1000
            time.sleep(0.01)
        progressed = progressed or served[0] > at_fork + 1000
    finally:
        stop.set()
        worker.join()
    assert d.error is None and d.forked, d.line()
    assert progressed, "the worker stopped while the child took the snapshot"
    snap = refgraph.open_snapshot(tmp_path / "t.rgsnap", progress=False)
    frames = [name for _, kind, name in snap._h.roots() if kind == "frame"]
    assert any(name.startswith("thread 'worker': ") and "serve_requests at test_dump.py" in name for name in frames), frames


def test_no_fork_takes_it_here_and_says_so(heap, tmp_path):
    log = io.StringIO()
    d = refgraph.dump(tmp_path / "n.rgsnap", fork=False, log=log)
    assert not d.forked and d.pid is None and d.fallback == "fork=False"
    assert d.wait(120) and d.error is None
    assert "(in-process snapshot: fork=False)" in log.getvalue(), log.getvalue()
    assert refgraph.open_snapshot(tmp_path / "n.rgsnap", progress=False).info["nodes"] == d.objects


def test_a_failed_fork_falls_back_to_a_snapshot_here(heap, tmp_path, monkeypatch):
    def no_fork(*args):
        raise BlockingIOError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(refgraph._core, "dump_forked", no_fork)
    log = io.StringIO()
    d = refgraph.dump(tmp_path / "f.rgsnap", log=log)
    assert d.wait(120) and d.error is None and not d.forked
    assert "in-process snapshot: fork failed: [Errno 11] Resource temporarily unavailable" in log.getvalue()


@pytest.mark.parametrize("kill, says", [(signal.SIGKILL, "killed by SIGKILL"),
                                        (signal.SIGALRM, "killed by SIGALRM (timeout)")])
def test_a_child_that_dies_is_reported(tmp_path, kill, says):
    """A bigger heap, so that the child is still at work when it is killed."""
    module = types.ModuleType("dumpbig")
    module.records = [Record(i) for i in range(400000)]
    sys.modules["dumpbig"] = module
    try:
        log = io.StringIO()
        d = refgraph.dump(tmp_path / "k.rgsnap", log=log)
        os.kill(d.pid, kill)
        assert d.wait(120)
    finally:
        del sys.modules["dumpbig"]
    if d.error is None:
        pytest.skip("the child finished before the signal came")
    assert says in d.error and "failed" in log.getvalue(), log.getvalue()
    assert os.listdir(tmp_path) == []   # nothing half-written under any name


def test_a_path_that_cannot_be_written_is_reported(tmp_path):
    os.mkdir(tmp_path / "adir.rgsnap")
    log = io.StringIO()
    d = refgraph.dump(tmp_path / "adir.rgsnap", log=log)
    assert d.wait(120) and d.error, d.line()
    assert "failed" in log.getvalue() and "adir.rgsnap" in log.getvalue()


@pytest.mark.parametrize("kwargs, exc", [
    ({"timeout": 0}, ValueError), ({"timeout": -1}, ValueError), ({"timeout": True}, ValueError),
    ({"timeout": "10"}, ValueError), ({"log": 3}, TypeError), ({"log": "stderr"}, TypeError),
])
def test_bad_arguments_are_clear_errors(tmp_path, kwargs, exc):
    with pytest.raises(exc):
        refgraph.dump(tmp_path / "x.rgsnap", **kwargs)
    with pytest.raises(exc):
        refgraph.dump_on_signal(signal.SIGUSR2, tmp_path, **kwargs)
    assert os.listdir(tmp_path) == []


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        refgraph.dump(tmp_path / "missing" / "x.rgsnap")
    with pytest.raises(TypeError):
        refgraph.dump(3)


def test_the_child_holds_none_of_the_services_sockets(tmp_path):
    """A listening socket stays the service's: the child closes every
    descriptor but its report pipe (a restart can bind the port again)."""
    module = types.ModuleType("dumpsock")
    module.records = [Record(i) for i in range(400000)]
    sys.modules["dumpsock"] = module
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        d = refgraph.dump(tmp_path / "s.rgsnap", log=None)
        target = os.readlink("/proc/self/fd/%d" % listener.fileno())
        seen_closed = False
        while not d.done and not seen_closed:
            try:
                links = [os.readlink("/proc/%d/fd/%s" % (d.pid, fd)) for fd in os.listdir("/proc/%d/fd" % d.pid)]
            except OSError:
                break
            seen_closed = target not in links and len(links) <= 5
        d.wait(120)
    finally:
        listener.close()
        del sys.modules["dumpsock"]
    if not seen_closed:
        pytest.skip("the child finished before its descriptors were read")
    assert d.error is None


def test_a_signal_during_a_dump_is_reported(tmp_path):
    """dump_on_signal: the second signal comes while the first dump runs:
    one file, and a line that says the second was ignored."""
    script = textwrap.dedent("""
        import os, signal, sys, time
        import refgraph
        records = [{"k": "v%d" % i, "f": i * 0.5} for i in range(300000)]
        refgraph.dump_on_signal(signal.SIGUSR2, sys.argv[1])
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)
        deadline = time.time() + 120
        while time.time() < deadline and not any(n.endswith(".rgsnap") for n in os.listdir(sys.argv[1])):
            time.sleep(0.05)
        time.sleep(0.5)
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=module_root()), timeout=180)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert any(line.startswith("refgraph: SIGUSR2 ignored: the dump to %s" % tmp_path) for line in lines), lines
    assert sum(line.startswith("refgraph: dumped ") for line in lines) == 1, lines
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".rgsnap")]) == 1


def test_the_line_reads_well():
    d = _snapshot.Dump("/var/tmp/x.rgsnap")
    d.forked, d.stall = True, 0.0123
    assert d.line() == "refgraph: dumping to /var/tmp/x.rgsnap (the service stopped 12 ms: fork)"
    d.objects, d.references = 1234567, 2000000
    d._started -= 2.5
    _snapshot._finish_dump(d, None)
    assert d.line().startswith("refgraph: dumped 1,234,567 objects to /var/tmp/x.rgsnap in 2.50 s; "
                               "the service stopped 12 ms (fork)")


@pytest.mark.slow   # 40 dumps, 7 s
def test_wait_returns_after_the_line_is_written(tmp_path):
    """A program that exits right after wait() still has the line."""
    for fork in (True, False):
        for i in range(20):
            log = io.StringIO()
            d = refgraph.dump(tmp_path / ("w%d.rgsnap" % i), fork=fork, log=log)
            d.wait()
            assert log.getvalue() == d.line() + "\n", (fork, i)


def test_no_thread_for_the_fallback_saves_in_place(heap, tmp_path, monkeypatch):
    """At a process limit neither fork() nor a new thread works: the
    fallback saves the file itself rather than raise into the service."""
    def no_fork(*args):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    def no_thread(*args):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(refgraph._core, "dump_forked", no_fork)
    monkeypatch.setattr(refgraph._snapshot._thread, "start_new_thread", no_thread)
    log = io.StringIO()
    d = refgraph.dump(tmp_path / "limit.rgsnap", log=log)
    assert d.done and d.error is None and (tmp_path / "limit.rgsnap").exists()
    assert "fork failed" in log.getvalue()


@pytest.mark.slow   # a 600,000-record heap, 4 s
def test_a_child_killed_while_saving_leaves_no_temporary_file(tmp_path):
    module = types.ModuleType("dumpkill")
    module.records = [[str(i), i * 1.5, {"k": i}] for i in range(600000)]
    sys.modules["dumpkill"] = module
    try:
        d = refgraph.dump(tmp_path / "t.rgsnap", log=None)
        deadline = time.monotonic() + 120
        while not os.listdir(tmp_path) and not d.done and time.monotonic() < deadline:
            time.sleep(0.001)
        if d.done:
            pytest.skip("the child finished before its temporary file was seen")
        os.kill(d.pid, signal.SIGKILL)
        assert d.wait(120)
    finally:
        del sys.modules["dumpkill"]
    assert "killed by SIGKILL" in d.error
    assert os.listdir(tmp_path) == []


@pytest.mark.slow   # a subprocess with an 800,000-record heap, 6 s
def test_the_child_does_not_keep_the_standard_descriptors(tmp_path):
    """An inetd-style service's client socket is its fd 0: the child puts
    /dev/null there, so the connection is not held open by the dump."""
    script = textwrap.dedent("""
        import os, socket, sys, time
        import refgraph
        big = [[str(i), i * 1.5, {"k": i}] for i in range(800000)]
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        os.dup2(s.fileno(), 0)
        d = refgraph.dump(os.path.join(sys.argv[1], "t.rgsnap"), log=None)
        seen = None
        while not d.done:
            try:
                links = {fd: os.readlink("/proc/%d/fd/%s" % (d.pid, fd)) for fd in os.listdir("/proc/%d/fd" % d.pid)}
            except OSError:
                break
            if links.get("0") == "/dev/null":
                seen = links
                break
        d.wait()
        print("seen", seen is not None and all(not v.startswith("socket:") for v in seen.values()))
        print("error", d.error)
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=module_root()), timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "error None" in proc.stdout, proc.stdout
    if "seen True" not in proc.stdout:
        pytest.skip("the child finished before its descriptors were read: " + proc.stdout)
