"""docs/a-leak-in-production.md, step by step, for real: samples/service_prod.py
runs as its own process, `kill -USR2` makes it write a snapshot, and another
process reads the file with `python3 -m refgraph`."""
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import refgraph
from conftest import SOURCE_ROOT, module_root

SERVICE = os.path.join(SOURCE_ROOT, "samples", "service_prod.py")
TIMEOUT = 30


def env():
    return dict(os.environ, PYTHONPATH=module_root())


class Service:
    """samples/service_prod.py in a child process, dumping into directory."""

    def __init__(self, directory, logdir):
        self.directory = directory
        self.stderr_path = os.path.join(str(logdir), "service.stderr")
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([sys.executable, SERVICE, str(directory)], env=env(),
                                     stdout=subprocess.PIPE, stderr=self.stderr, bufsize=0)
        out = b""
        deadline = time.monotonic() + TIMEOUT
        while b"\nready" not in out:
            left = deadline - time.monotonic()
            assert left > 0, "the service did not say ready: %r %s" % (out, self.errors())
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                assert chunk, "the service exited: %r %s" % (out, self.errors())
                out += chunk
        self.lines = out.decode().splitlines()
        self.pid = int(re.match(r"pid (\d+)", self.lines[0]).group(1))
        assert self.pid == self.proc.pid

    def errors(self):
        with open(self.stderr_path) as f:
            return f.read()

    def signal(self):
        os.kill(self.pid, signal.SIGUSR2)

    def dumps(self):
        return sorted(f for f in os.listdir(self.directory))

    def wait_for_dump(self, besides=()):
        """Polls the directory until a snapshot file other than besides appears."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            new = [f for f in self.dumps() if f.endswith(".rgsnap") and f not in besides]
            if new:
                return os.path.join(str(self.directory), new[0])
            errors = self.errors()
            assert "failed" not in errors, "the dump failed: " + errors
            assert self.proc.poll() is None, "the service died: " + errors
            assert time.monotonic() < deadline, "no snapshot after %d s; stderr: %s" % (TIMEOUT, errors)
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


@pytest.fixture
def service(tmp_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    s = Service(dumps, tmp_path)
    yield s
    s.stop()


def name_pattern(pid):
    return re.compile(r"refgraph-%d-\d{8}T\d{6}\.\d{3}\.rgsnap$" % pid)


def test_the_guide_kill_usr2_then_refgraph_chain(service):
    time.sleep(0.5)          # let it serve some requests first
    service.signal()
    path = service.wait_for_dump()
    # the file appears under its final name only: no temporary file is left
    assert all(name_pattern(service.pid).match(f) for f in service.dumps()), service.dumps()
    assert len(service.dumps()) == 1

    snap = refgraph.open_snapshot(path)
    assert snap.info["pid"] == service.pid
    assert len(snap.by_type("Session")) > 0
    chain = snap.find_backref_chain("Session")
    assert chain[0].type == "module" and chain[-1].type == "Session"

    proc = subprocess.run([sys.executable, "-m", "refgraph", "chain", path, "Session"], env=env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "module sessions  [root]" in proc.stdout
    assert "sessions.registry -> dict len=" in proc.stdout
    assert "-> Session  [target]" in proc.stdout

    proc = subprocess.run([sys.executable, "-m", "refgraph", "summary", path], env=env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pid %d" % service.pid in proc.stdout

    assert service.proc.poll() is None, "the service stopped after the dump"
    # The one line each dump says, and nothing else.
    lines = service.errors().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refgraph: dumped ") and path in lines[0], lines
    assert re.search(r"; the service stopped \d+ ms \(fork\)$", lines[0]), lines


@pytest.mark.slow   # a service subprocess dumping twice
def test_two_signals_in_quick_succession(service):
    time.sleep(0.3)
    service.signal()
    service.signal()
    service.wait_for_dump()
    time.sleep(2)            # a second dump, if one was started, lands meanwhile
    files = service.dumps()
    # one dump at a time: the second signal is ignored while the first is under
    # way (or, if the first was done, makes a second): never more, never a
    # temporary file left, every file complete
    assert 1 <= len(files) <= 2, files
    assert all(name_pattern(service.pid).match(f) for f in files), files
    for f in files:
        assert refgraph.open_snapshot(os.path.join(str(service.directory), f)).info["pid"] == service.pid
    assert service.proc.poll() is None, "the service died: " + service.errors()
    # A line for each dump, and one for a signal ignored while one ran (two
    # signals that come before the first is handled are one: POSIX merges
    # them).
    lines = service.errors().splitlines()
    dumped = [line for line in lines if line.startswith("refgraph: dumped ")]
    ignored = [line for line in lines if line.startswith("refgraph: SIGUSR2 ignored: the dump to ")]
    assert len(dumped) == len(files) and len(dumped) + len(ignored) == len(lines) <= 2, lines

    # the service still answers the signal afterwards
    for f in files:
        os.unlink(os.path.join(str(service.directory), f))
    service.signal()
    service.wait_for_dump()
    assert service.proc.poll() is None


def test_the_service_stops_after_seconds(tmp_path):
    proc = subprocess.run([sys.executable, SERVICE, str(tmp_path), "--seconds", "0.5"], env=env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "pid %d" % proc_pid(lines)
    assert lines[1].startswith("ready")
    served = re.match(r"served (\d+) requests, (\d+) sessions alive", lines[-1])
    assert served and served.group(1) == served.group(2) and int(served.group(1)) > 0
    assert os.listdir(tmp_path) == []


def proc_pid(lines):
    return int(lines[0].split()[1])


def test_the_guide_quotes_these_commands():
    with open(os.path.join(SOURCE_ROOT, "docs", "a-leak-in-production.md")) as f:
        page = f.read()
    for command in ("samples/service_prod.py", "kill -USR2", "python3 -m refgraph summary",
                    "python3 -m refgraph chain", "python3 -m refgraph backrefs", "-o leak.svg",
                    "refgraph.open_snapshot(", 'find_backref_chain("Session")', "show_chain("):
        assert command in page, command
    for page_name in ("README.md", os.path.join("docs", "hunting-a-leak.md")):
        with open(os.path.join(SOURCE_ROOT, page_name)) as f:
            assert "a-leak-in-production.md" in f.read(), page_name
