"""refgraph.snapshot_process() and `python3 -m refgraph attach`: a snapshot
of a running process that never imported refgraph.  Each test starts a real
target (a script of its own, run with -I: refgraph is not on its path),
attaches from the test, and checks the file and that the target is as it
was: alive, running, with its threads and descriptors."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import refgraph
from conftest import module_root

pytestmark = [
    pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="attach is for Linux"),
]
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)   # docs/ and samples/

TARGET = r'''
import itertools, os, sys, threading, time

class Leak:
    def __init__(self, n):
        self.n = n

LEAKS = [Leak(i) for i in range(5)]
SECRET = "secret-customer-" + str(4242)

def busy():
    while True:
        sum(i * i for i in range(1000))

mode = sys.argv[1]
if mode == "nothreading":
    del threading   # imported by the line above: this mode needs a process that never did
    for name in [n for n in sys.modules if n in ("threading",)]:
        del sys.modules[name]
if mode == "worker":
    threading.Thread(target=busy, name="worker", daemon=True).start()
print("ready", "refgraph" in sys.modules, flush=True)
if mode == "sleep":
    time.sleep(3600)
elif mode == "busy":
    busy()
elif mode == "worker":
    threading.Event().wait()
elif mode == "c-call":
    sum(itertools.repeat(1, 10 ** 14))   # one C call that holds the GIL for hours
elif mode == "short-c-call":
    sum(itertools.repeat(1, 6 * 10 ** 7))   # holds the GIL a few seconds, then sleeps
    print("returned", flush=True)
    time.sleep(3600)
elif mode == "dlopen-loop":
    import _ctypes
    def load_unload():
        while True:
            _ctypes.dlclose(_ctypes.dlopen("libbz2.so.1.0" if os.path.exists("/usr/lib/x86_64-linux-gnu/libbz2.so.1.0") else "libz.so.1"))
    for _ in range(2):
        threading.Thread(target=load_unload, daemon=True).start()
    time.sleep(3600)
elif mode == "pause":
    import signal
    signal.pause()
    print("pause returned", flush=True)
elif mode == "nothreading":
    sys.stdin.readline()
    import threading
    print("main", threading.main_thread() is threading.current_thread(), flush=True)
    time.sleep(3600)
elif mode == "grow":
    # a leak per line on stdin, for the guide's diff
    for line in sys.stdin:
        LEAKS.extend(Leak(i) for i in range(int(line)))
        print("grown", len(LEAKS), flush=True)
'''


class Target:
    """A target process started from a script in tmp_path."""

    def __init__(self, tmp_path, mode, python=sys.executable, env=None):
        script = tmp_path / "target.py"
        script.write_text(TARGET)
        self.proc = subprocess.Popen([python, "-I", str(script), mode], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     cwd=str(tmp_path))
        line = self.proc.stdout.readline().decode()
        assert line.startswith("ready"), (line, self.proc.stderr.read().decode())
        assert line.split()[1] == "False"   # refgraph is not loaded in it
        self.pid = self.proc.pid
        time.sleep(0.1)
        self.baseline = self.counts()

    def counts(self):
        """Its threads, and its descriptors by what they point to."""
        fds = sorted(os.readlink("/proc/%d/fd/%s" % (self.pid, fd)) for fd in os.listdir("/proc/%d/fd" % self.pid))
        return len(os.listdir("/proc/%d/task" % self.pid)), fds

    def state(self):
        with open("/proc/%d/stat" % self.pid, "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2:][:1].decode()

    def assert_unharmed(self):
        """Alive, not stopped, and (within 5 s: the dump's reaper thread
        ends once the child has) back to its threads and descriptors."""
        assert self.proc.poll() is None
        assert self.state() not in "Tt"
        deadline = time.monotonic() + 5
        while self.counts() != self.baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.counts() == self.baseline

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


@pytest.fixture
def target(tmp_path):
    started = []

    def start(mode, **kw):
        t = Target(tmp_path, mode, **kw)
        started.append(t)
        return t
    yield start
    for t in started:
        t.close()


def check_file(path, pid):
    snap = refgraph.open_snapshot(path, progress=False)
    assert snap.info["pid"] == pid
    assert len(snap.by_type("Leak")) >= 5
    chain = snap.find_backref_chain("Leak")
    text = snap.show_chain(chain, output=__import__("io").StringIO()).to_text()
    assert "__main__" in text and "LEAKS" in text
    return snap


def cli(*args, env=None, cwd=None):
    env = env or dict(os.environ, PYTHONPATH=module_root() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "refgraph"] + list(args), capture_output=True, text=True,
                          env=env, timeout=120, cwd=cwd)


def test_a_sleeping_process(target, tmp_path):
    """Its only thread in time.sleep(3600): the sleep is interrupted (EINTR,
    as a signal would) and resumes."""
    t = target("sleep")
    done = refgraph.snapshot_process(t.pid, tmp_path / "s.rgsnap", timeout=20)
    assert done.path == str(tmp_path / "s.rgsnap") and done.pid == t.pid and done.objects > 1000
    assert done.forked and 0 < done.stopped < 5
    check_file(done.path, t.pid)
    t.assert_unharmed()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []   # no status file left


def test_the_cli_prints_one_line(target, tmp_path):
    t = target("sleep")
    out = cli("attach", str(t.pid), "-o", str(tmp_path / "c.rgsnap"), "--timeout", "20")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refgraph: dumped ") and out.stdout.count("\n") == 1
    assert "process %d" % t.pid in out.stdout and "(gdb)" in out.stdout
    check_file(str(tmp_path / "c.rgsnap"), t.pid)
    summary = cli("summary", str(tmp_path / "c.rgsnap"))
    assert summary.returncode == 0 and "pid %d" % t.pid in summary.stdout
    t.assert_unharmed()


def test_redact_leaves_values_out(target, tmp_path):
    t = target("sleep")
    out = cli("attach", str(t.pid), "-o", str(tmp_path / "r.rgsnap"), "--redact", "--timeout", "20")
    assert out.returncode == 0, out.stderr
    snap = check_file(str(tmp_path / "r.rgsnap"), t.pid)
    assert snap.info["redacted"]
    assert not [a for a in snap.by_type("str") if "secret-customer" in snap.object(a).summary]
    plain = check_file(refgraph.snapshot_process(t.pid, tmp_path / "p.rgsnap", timeout=20).path, t.pid)
    assert [a for a in plain.by_type("str") if "secret-customer-4242" in plain.object(a).summary]
    t.assert_unharmed()


@pytest.mark.parametrize("args, message", [
    (["0"], "'0' is not a process id"),
    (["abc"], "'abc' is not a process id"),
    (["1", "--timeout", "-3"], "is not a positive number of seconds"),
    (["1", "--timeout", "nan"], "is not a positive number of seconds"),
])
def test_bad_arguments_get_one_line(tmp_path, args, message):
    out = cli("attach", *args, "-o", str(tmp_path / "x.rgsnap"))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_bad_arguments_from_python(tmp_path):
    with pytest.raises(TypeError, match="pid must be an int"):
        refgraph.snapshot_process("12", tmp_path / "x.rgsnap")
    with pytest.raises(ValueError, match="pid must be a positive"):
        refgraph.snapshot_process(-1, tmp_path / "x.rgsnap")
    with pytest.raises(refgraph.AttachError, match="is this process"):
        refgraph.snapshot_process(os.getpid(), tmp_path / "x.rgsnap")
    with pytest.raises(FileNotFoundError, match="cannot write .*x.rgsnap: no directory .*no"):
        refgraph.snapshot_process(1, tmp_path / "no" / "x.rgsnap")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        refgraph.snapshot_process(1, tmp_path / "x.rgsnap", timeout=0)
    with pytest.raises(TypeError, match="python must be a str"):
        refgraph.snapshot_process(1, tmp_path / "x.rgsnap", python=3)


def test_a_pid_that_does_not_exist(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    out = cli("attach", str(gone.pid), "-o", str(tmp_path / "x.rgsnap"))
    assert out.returncode == 2 and out.stderr == "refgraph: error: no process %d\n" % gone.pid


def test_a_process_that_is_not_python(tmp_path):
    other = subprocess.Popen(["sleep", "100"])
    try:
        out = cli("attach", str(other.pid), "-o", str(tmp_path / "x.rgsnap"), "--timeout", "20")
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert "process %d is not CPython" % other.pid in out.stderr
        assert other.poll() is None and not os.path.exists(tmp_path / "x.rgsnap")
    finally:
        other.kill()
        other.wait()


def test_a_stopped_process_is_refused(target, tmp_path):
    t = target("sleep")
    os.kill(t.pid, signal.SIGSTOP)
    try:
        time.sleep(0.1)
        with pytest.raises(refgraph.AttachError, match=r"is stopped .*kill -CONT"):
            refgraph.snapshot_process(t.pid, tmp_path / "x.rgsnap", timeout=5)
    finally:
        os.kill(t.pid, signal.SIGCONT)


@pytest.mark.slow   # about 1 s a case
@pytest.mark.parametrize("mode", ["busy", "worker"])
def test_a_busy_process(target, tmp_path, mode):
    """A main thread running Python; a main thread blocked in Event.wait()
    while a worker runs."""
    t = target(mode)
    done = refgraph.snapshot_process(t.pid, tmp_path / "b.rgsnap", timeout=20)
    check_file(done.path, t.pid)
    t.assert_unharmed()


@pytest.mark.slow
def test_a_process_started_with_an_empty_environment(target, tmp_path):
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("an AddressSanitizer build's module loads only where the sanitizer is preloaded")
    t = target("sleep", env={})
    done = refgraph.snapshot_process(t.pid, tmp_path / "e.rgsnap", timeout=20)
    check_file(done.path, t.pid)
    t.assert_unharmed()


@pytest.mark.slow   # waits out its 2 s timeout
def test_a_long_c_call_times_out_and_the_process_goes_on(target, tmp_path):
    t = target("c-call")
    out = cli("attach", str(t.pid), "-o", str(tmp_path / "x.rgsnap"), "--timeout", "2")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "did not reach a safe point within 2 s" in out.stderr
    t.assert_unharmed()
    assert not os.path.exists(tmp_path / "x.rgsnap")


@pytest.mark.slow   # ten attaches, about 8 s
def test_ten_attaches_leave_no_thread_and_no_descriptor(target, tmp_path):
    t = target("sleep")
    for i in range(10):
        done = refgraph.snapshot_process(t.pid, tmp_path / ("t%d.rgsnap" % i), timeout=20)
        assert done.objects > 1000
    t.assert_unharmed()
    check_file(str(tmp_path / "t9.rgsnap"), t.pid)


def _other_python():
    versions = os.path.expanduser("~/.pyenv/versions")
    mine = "%d.%d" % sys.version_info[:2]
    for name in sorted(os.listdir(versions)) if os.path.isdir(versions) else []:
        if not name.startswith(mine + ".") and name[:1] == "3":
            exe = os.path.join(versions, name, "bin", "python3")
            if os.path.exists(exe):
                return exe, ".".join(name.split(".")[:2])
    return None, None


@pytest.mark.slow
def test_another_python_version_is_named(target, tmp_path):
    python, version = _other_python()
    if python is None:
        pytest.skip("no CPython of another version here")
    t = target("sleep", python=python)
    out = cli("attach", str(t.pid), "-o", str(tmp_path / "x.rgsnap"), "--timeout", "20")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    mine = "%d.%d" % sys.version_info[:2]
    assert "runs CPython %s and this refgraph is built for %s" % (version, mine) in out.stderr
    assert "--python" in out.stderr
    t.assert_unharmed()
    # --python naming an interpreter with no refgraph: said so, in one line
    out = cli("attach", str(t.pid), "-o", str(tmp_path / "x.rgsnap"), "--python", python)
    assert out.returncode == 2 and "cannot import refgraph" in out.stderr and out.stderr.count("\n") == 1
    t.assert_unharmed()


@pytest.mark.slow
def test_python_names_the_refgraph_to_load(target, tmp_path):
    """--python with this interpreter: its refgraph is the one loaded."""
    t = target("sleep")
    out = cli("attach", str(t.pid), "-o", str(tmp_path / "p.rgsnap"), "--python", sys.executable,
              env=dict(os.environ, PYTHONPATH=module_root()))
    assert out.returncode == 0, out.stderr
    check_file(str(tmp_path / "p.rgsnap"), t.pid)
    t.assert_unharmed()


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def skip_unless_nobody_runs_python():
    """Another user (nobody) must be able to run this interpreter and read
    this refgraph: not so for a pyenv build under /root, say."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a process as another user")
    probe = subprocess.run(AS_NOBODY + [sys.executable, "-c", "import refgraph"], capture_output=True,
                           env=dict(os.environ, PYTHONPATH=module_root()), cwd="/")
    if probe.returncode != 0:
        pytest.skip("user nobody cannot run %s with this refgraph" % sys.executable)


@pytest.mark.slow
def test_no_ptrace_permission_names_ptrace_scope_and_the_capability(target, tmp_path):
    skip_unless_nobody_runs_python()
    t = target("sleep")
    shared = tempfile.mkdtemp(prefix="refgraph-attach-")   # a directory the other user can reach
    os.chmod(shared, 0o777)
    # No coverage hook (tests/coverage.sh): as nobody it could not save its data.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE")}
    env["PYTHONPATH"] = module_root()
    try:
        out = subprocess.run(AS_NOBODY + [sys.executable,
                              "-m", "refgraph", "attach", str(t.pid), "-o", os.path.join(shared, "x.rgsnap"),
                              "--timeout", "20"], capture_output=True, text=True, env=env, timeout=120, cwd="/")
    finally:
        shutil.rmtree(shared)
    # (A --coverage build's module says, as nobody exits, that it cannot
    # write its counts: those lines are the build's, not the command's.)
    said = [line for line in out.stderr.splitlines() if line.startswith("refgraph:")]
    assert "Traceback" not in out.stderr
    assert out.returncode == 2 and len(said) == 1, out.stderr
    assert "ptrace is not permitted" in out.stderr and "ptrace_scope" in out.stderr
    assert "CAP_SYS_PTRACE" in out.stderr
    t.assert_unharmed()


@pytest.mark.slow
def test_a_process_in_other_mount_and_pid_namespaces(tmp_path):
    """A target started by `unshare --mount --pid --fork` (a container's
    namespaces, with the host's files): attached by its pid here; the file
    names its pid there (1)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare")
    script = tmp_path / "target.py"
    script.write_text(TARGET)
    outer = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--mount-proc", sys.executable, "-I",
                              str(script), "sleep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = outer.stdout.readline().decode()
        if not line.startswith("ready"):
            pytest.skip("unshare does not work here: %s" % outer.stderr.read().decode().strip())
        inner = int(subprocess.check_output(["pgrep", "-P", str(outer.pid)]).split()[0])
        assert os.readlink("/proc/%d/ns/pid" % inner) != os.readlink("/proc/self/ns/pid")
        done = refgraph.snapshot_process(inner, tmp_path / "ns.rgsnap", timeout=20)
        snap = refgraph.open_snapshot(done.path, progress=False)
        assert snap.info["pid"] == 1 and len(snap.by_type("Leak")) >= 5
        assert done.pid == inner
        os.kill(inner, 0)   # still there
    finally:
        subprocess.run(["pkill", "-9", "-P", str(outer.pid)])   # the namespace's pid 1, before its parent
        outer.kill()
        outer.wait()
        outer.stdout.close()
        outer.stderr.close()


def console_session(page):
    """The page's console blocks: [(command, [output lines])]."""
    steps, in_block = [], False
    for line in page.splitlines():
        if line.startswith("```"):
            in_block = line.strip() == "```console"
        elif in_block and line.startswith("$ "):
            steps.append((line[2:], []))
        elif in_block and steps:
            steps[-1][1].append(line)
    return steps


@pytest.mark.slow   # a service, two attaches and four commands: about 8 s
def test_the_guide_page_runs_as_shown(tmp_path):
    """docs/a-leak-in-production-no-restart.md: every command, in its
    order, against samples/service_plain.py; the lines it shows that hold
    no number (which differ from run to run) are in what the command
    prints."""
    with open(os.path.join(SOURCE, "docs", "a-leak-in-production-no-restart.md"), encoding="utf-8") as f:
        page = f.read()
    steps = console_session(page)
    assert steps[0][0] == "python3 samples/service_plain.py &"
    shown_pid = re.match(r"pid (\d+)$", steps[0][1][0]).group(1)
    service = subprocess.Popen([sys.executable, "-E", "-s", os.path.join(SOURCE, "samples", "service_plain.py")],
                               stdout=subprocess.PIPE, cwd=str(tmp_path))
    try:
        pid = int(service.stdout.readline().split()[1])
        assert service.stdout.readline().strip() == b"ready"
        ran = []
        for command, shown in steps[1:]:
            words = command.replace(shown_pid, str(pid)).split()
            if words[0] == "sleep":
                time.sleep(min(float(words[1]), 2))
                continue
            assert words[:3] == ["python3", "-m", "refgraph"], command
            out = cli(*words[3:], cwd=str(tmp_path))
            assert out.returncode == 0, (command, out.stderr)
            printed = out.stdout.splitlines()
            for line in shown:
                if not re.search(r"[0-9]", line):
                    assert line in printed, (command, line, printed)
            ran.append((words[3], printed))
        assert [name for name, _ in ran] == ["attach", "attach", "diff", "chain", "backrefs", "top"]
        diff = dict((line.split()[0], line) for line in ran[2][1][1:])
        assert int(diff["Session"].split()[1]) > 0
        assert any("sessions.registry -> dict" in line for line in ran[3][1])
        assert (tmp_path / "leak.svg").stat().st_size > 0
        assert service.poll() is None
    finally:
        service.kill()
        service.wait()
        service.stdout.close()


@pytest.mark.slow
def test_a_directory_the_process_cannot_write_to(tmp_path):
    """The process writes the file as its user: a directory that user
    cannot write to is refused before gdb starts, and one it can works."""
    skip_unless_nobody_runs_python()
    shared = tempfile.mkdtemp(prefix="refgraph-attach-")
    os.chmod(shared, 0o755)
    script = os.path.join(shared, "target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    os.chmod(script, 0o644)
    proc = subprocess.Popen(AS_NOBODY + [sys.executable, "-I",
                             script, "sleep"], stdout=subprocess.PIPE, cwd="/")
    try:
        assert proc.stdout.readline().startswith(b"ready")
        with pytest.raises(refgraph.AttachError, match=r"runs as uid 65534, which cannot write to .*refgraph-attach"):
            refgraph.snapshot_process(proc.pid, os.path.join(shared, "x.rgsnap"), timeout=20)
        os.chmod(shared, 0o777)
        done = refgraph.snapshot_process(proc.pid, os.path.join(shared, "x.rgsnap"), timeout=20)
        assert os.stat(done.path).st_uid == 65534
        assert refgraph.open_snapshot(done.path, progress=False).by_type("Leak")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        shutil.rmtree(shared)


@pytest.mark.slow   # a few seconds of a C call
def test_a_timeout_leaves_no_breakpoint_and_no_late_dump(target, tmp_path):
    """The GIL held past the deadline: the command gives up, and once the
    call returns the process goes on (no breakpoint left to trap it) and
    writes no file (the thread, if one was started, sees it was too late)."""
    t = target("short-c-call")
    with pytest.raises(refgraph.AttachError, match="did not reach a safe point within 0.5 s"):
        refgraph.snapshot_process(t.pid, tmp_path / "late.rgsnap", timeout=0.5)
    assert t.proc.stdout.readline().decode().strip() == "returned"
    time.sleep(1)
    t.assert_unharmed()
    assert sorted(os.listdir(tmp_path)) == ["target.py"]


@pytest.mark.slow
def test_a_wait_that_cpython_does_not_retry_is_left_alone(target, tmp_path):
    """signal.pause() returns on EINTR: the process is not woken (no safe
    point then, said so), and it still waits."""
    t = target("pause")
    with pytest.raises(refgraph.AttachError, match="did not reach a safe point within 2 s"):
        refgraph.snapshot_process(t.pid, tmp_path / "p.rgsnap", timeout=2)
    time.sleep(0.3)
    t.assert_unharmed()
    os.set_blocking(t.proc.stdout.fileno(), False)
    assert t.proc.stdout.read() is None   # pause() has not returned


@pytest.mark.slow
def test_a_process_without_threading_keeps_its_main_thread(target, tmp_path):
    """The attach imports no threading module into a process that had none:
    one imported later still knows its main thread."""
    t = target("nothreading")
    refgraph.snapshot_process(t.pid, tmp_path / "n.rgsnap", timeout=20)
    t.proc.stdin.write(b"go\n")
    t.proc.stdin.flush()
    assert t.proc.stdout.readline().decode().strip() == "main True"


@pytest.mark.slow
def test_a_process_already_traced_is_refused(target, tmp_path):
    t = target("sleep")
    other = subprocess.Popen(["gdb", "-nx", "-q", "-batch", "-p", str(t.pid), "-ex", "shell sleep 5"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while "TracerPid:\t0" in open("/proc/%d/status" % t.pid).read() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(refgraph.AttachError, match=r"is being traced by process \d+ .*detach that one first"):
            refgraph.snapshot_process(t.pid, tmp_path / "x.rgsnap", timeout=5)
    finally:
        other.wait()
    t.assert_unharmed()


@pytest.mark.slow   # five attaches
def test_threads_loading_libraries_all_the_time(target, tmp_path):
    """Two threads dlopen and dlclose in a loop: gdb must not start the
    agent from a malloc inside the loader (ld.so asserts and exits)."""
    t = target("dlopen-loop")
    for i in range(5):
        refgraph.snapshot_process(t.pid, tmp_path / ("d%d.rgsnap" % i), timeout=20)
        assert t.proc.poll() is None, t.proc.stderr.read().decode()
    time.sleep(0.5)
    assert t.proc.poll() is None
