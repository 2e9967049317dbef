"""refgraph.snapshot_process() and `python3 -m refgraph attach`: a heap
snapshot of a running CPython process that never imported refgraph, taken
through gdb with no restart and no change to its code
(docs/a-leak-in-production-no-restart.md says how, and what it costs).

gdb runs refgraph/_attach_gdb.py: it attaches, waits for a thread to stop
where the C library holds no lock, loads refgraph's _core module there and
starts one thread (src/remote_agent.c), then detaches.  That thread takes
the GIL as any thread does and runs refgraph/_attach_agent.py, which dumps
the heap as refgraph.dump() does (a forked child writes the file) and
writes a status file beside it.  This module waits for that file.
"""
import json
import os
import shutil
import signal
import sys
import time

# subprocess and selectors are imported where they are used: they import
# threading, which `import refgraph` must not (refgraph/_snapshot.py says why).

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP_TIMEOUT = 600   # the dump's own limit (refgraph.dump's timeout), once the agent runs
WAKE_AFTER = 0.3     # seconds of a process running into no stop of gdb's before its waits are woken


class AttachError(RuntimeError):
    """refgraph could not take a snapshot of the process; the message says
    why in one line, and the process was left as it was."""


class Attached:
    """What snapshot_process() did.  ``path`` the file; ``objects`` and
    ``references`` saved; ``stopped`` the seconds gdb held the process
    stopped (attach to detach); ``stall`` the seconds the agent's fork()
    stopped it; ``seconds`` the whole call; ``forked`` whether a child
    wrote the file (else the process did, stopped meanwhile)."""

    __slots__ = ("path", "pid", "objects", "references", "stopped", "stall", "seconds", "forked")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    def line(self):
        """The one line `refgraph attach` prints."""
        return ("refgraph: dumped %s objects of process %d to %s in %.2f s; the process stopped %s "
                "(gdb) and %s (%s)" % (format(self.objects, ","), self.pid, self.path, self.seconds,
                                       _ms(self.stopped), _ms(self.stall),
                                       "fork" if self.forked else "in-process snapshot"))

    def __repr__(self):
        return "<refgraph.Attached %s>" % self.line()[len("refgraph: "):]


def _ms(seconds):
    return "%d ms" % round((seconds or 0.0) * 1000)


def _process_state(pid):
    """The state letter of /proc/PID/stat (R, S, D, T, t, Z...), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read(4096)
    except OSError:
        return None
    end = data.rfind(b")")
    return data[end + 2:end + 3].decode("ascii", "replace") if end > 0 else None


def _check_target(pid):
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError("pid must be an int, not %s" % type(pid).__name__)
    if pid <= 0:
        raise ValueError("pid must be a positive process id, not %d" % pid)
    if pid == os.getpid():
        raise AttachError("process %d is this process: call refgraph.dump() instead" % pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise AttachError("no process %d" % pid) from None
    except PermissionError:
        pass   # gdb says whether ptrace may attach
    state = _process_state(pid)
    try:
        with open("/proc/%d/status" % pid) as f:
            tracer = next((int(line.split()[1]) for line in f if line.startswith("TracerPid:")), 0)
    except (OSError, ValueError, IndexError):
        tracer = 0
    if tracer:
        raise AttachError("process %d is being traced by process %d (a debugger, strace): only one may attach; "
                          "detach that one first" % (pid, tracer))
    if state == "Z":
        raise AttachError("process %d has exited (a zombie)" % pid)
    if state in ("T", "t"):
        raise AttachError("process %d is stopped (%s); it cannot reach a safe point: `kill -CONT %d` first"
                          % (pid, "by a signal" if state == "T" else "by a debugger", pid))


def _check_alive(pid):
    if _process_state(pid) in (None, "Z", "X"):
        raise AttachError("process %d exited before its dump was written" % pid)


def _version_hint(pid):
    """[major, minor] of the process's CPython from its libpython's or its
    program's name (libpython3.10.so, python3.10), or None: read with no
    stop, so that a process of another version is not disturbed at all."""
    import re
    try:
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read(1 << 22)
        match = re.search(r"/libpython(\d+)\.(\d+)", maps)
        if match is None:
            match = re.search(r"python(\d+)\.(\d+)$", os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None
    return [int(match.group(1)), int(match.group(2))] if match else None


def _check_writable_by_target(pid, directory):
    """The process writes the file, as its user: a directory it cannot
    write to would leave the command waiting for a file that never comes.
    Returns the process's (uid, gid), or (None, None) if not known."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        uid = int(fields["Uid"].split()[1])    # effective
        gids = {int(fields["Gid"].split()[1])} | {int(g) for g in fields.get("Groups", "").split()}
        st = os.stat(directory)
    except (OSError, KeyError, ValueError, IndexError):
        return None, None   # not known: gdb and the agent will say
    if uid == 0:
        return uid, min(gids)
    mode = st.st_mode
    if (st.st_uid == uid and mode & 0o300 == 0o300) or (st.st_gid in gids and mode & 0o030 == 0o030) or (
            st.st_uid != uid and st.st_gid not in gids and mode & 0o003 == 0o003):
        return uid, int(fields["Gid"].split()[1])
    raise AttachError("process %d runs as uid %d, which cannot write to %s: the process writes the file; "
                      "give a directory it can write to (/tmp)" % (pid, uid, directory))


def _ptrace_hint():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = f.read().strip()
    except OSError:
        scope = None
    where = "kernel.yama.ptrace_scope is %s" % scope if scope is not None else "no Yama ptrace_scope here"
    return ("ptrace is not permitted (%s): run as the process's user with ptrace_scope 0, or as root, or "
            "with CAP_SYS_PTRACE (a container needs --cap-add SYS_PTRACE)" % where)


def _gdb_failure(event, pid, timeout):
    """The one-line message for a gdb report that ended the attach."""
    kind = event.get("event")
    if kind == "not-python":
        return "process %d is not CPython: no Py_IsInitialized in it" % pid
    if kind == "version":
        target = "%d.%d" % tuple(event["target"])
        built = "%d.%d" % tuple(event["built"])
        return ("process %d runs CPython %s and this refgraph is built for %s: attach with a refgraph built "
                "for %s, by running `python%s -m refgraph attach` where one is installed (the process's own "
                "environment), or with --python PATH naming such an interpreter"
                % (pid, target, built, target, target))
    if kind == "timeout":
        return ("process %d did not reach a safe point within %g s (a thread holding the GIL in one long C call?)"
                % (pid, timeout))
    message = event.get("message", "")
    if event.get("where") == "attach":
        if "Operation not permitted" in message:
            return "cannot attach to process %d: %s" % (pid, _ptrace_hint())
        if "No such process" in message:
            return "no process %d" % pid
        lines = message.strip().splitlines()
        return "gdb could not attach to process %d: %s" % (pid, lines[-1] if lines else "no reason given")
    return "attaching to process %d failed in %s: %s" % (pid, event.get("where", "gdb"), message)


def _agent_code(args):
    """The statement the agent thread runs: _attach_agent.py's text in a
    namespace of its own, so that nothing is bound in the target's
    __main__."""
    with open(os.path.join(HERE, "_attach_agent.py"), encoding="utf-8") as f:
        source = f.read()
    return "__import__('builtins').exec(%r, {'__name__': '__refgraph_attach__', 'ARGS': %r})" % (source, args)


def _status_path(filename, pid):
    directory, name = os.path.split(filename)
    return os.path.join(directory, ".%s.attach-%d-%d.json" % (name, pid, os.getpid()))


def _read_status(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read(1 << 16))
    except (OSError, ValueError):
        return None


def _run_gdb(gdb, args, deadline):
    """Runs gdb's script; returns its REFGRAPH events.  At the deadline, or
    on Ctrl-C, a target that gdb waits on is sent SIGURG, which ends the
    wait (refgraph/_attach_gdb.py); gdb then detaches.  gdb is never killed:
    killed, it would leave its breakpoints in the target, which the next
    thread to reach one would die of.  A gdb still there 30 s later, or a
    second Ctrl-C, is left to finish on its own."""
    import selectors
    import subprocess
    # gdb gets no preload, no PYTHON* variable and no coverage hook of ours:
    # its own Python runs the script.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    env["REFGRAPH_ATTACH_ARGS"] = json.dumps(args)
    command = [gdb, "-nx", "-q", "-batch", "-readnever", "-iex", "set debuginfod enabled off",
               "-iex", "set auto-load off", "-x", os.path.join(HERE, "_attach_gdb.py")]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    events, err = [], []
    waiting = None      # since when gdb lets the target run until a stop of its own
    stop_at = None      # when the wait was to end (deadline, Ctrl-C)
    urged = False
    woken = False       # the first SIGURG: gdb wakes the process's waits (_attach_gdb.py poke())
    interrupted = None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        buffers = {"out": b"", "err": b""}
        open_streams = 2
        while open_streams:
            now = time.monotonic()
            if stop_at is None and now >= deadline:
                stop_at = now
            finished = any(e["event"] in ("started", "detached", "timeout", "error") for e in events)
            if waiting is not None and not woken and not finished and now >= waiting + WAKE_AFTER and (
                    stop_at is None and now < deadline - 0.2):
                try:
                    os.kill(args["pid"], signal.SIGURG)
                except OSError:
                    pass
                woken = True
            if stop_at is not None and waiting is not None and not urged and not finished:
                try:
                    os.kill(args["pid"], signal.SIGURG)
                except OSError:
                    pass
                urged = True
            if stop_at is not None and now > stop_at + 30:
                raise AttachError("gdb (pid %d) has not detached from process %d after 30 s; it was left to finish"
                                  % (proc.pid, args["pid"]))
            try:
                ready = sel.select(timeout=0.05)
            except KeyboardInterrupt as exc:
                if interrupted is not None:   # a second Ctrl-C: gdb goes on alone
                    raise
                interrupted, stop_at = exc, time.monotonic()
                continue
            for key, _ in ready:
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buffers[key.data] += chunk
                *lines, buffers[key.data] = buffers[key.data].split(b"\n")
                for line in lines:
                    text = line.decode("utf-8", "replace")
                    if key.data == "err":
                        err.append(text)
                    elif text.startswith("REFGRAPH "):
                        try:
                            events.append(json.loads(text[len("REFGRAPH "):]))
                        except ValueError:
                            continue
                        if waiting is None and events[-1]["event"] == "waiting":
                            waiting = time.monotonic()
    proc.wait()
    if interrupted is not None:
        raise interrupted
    if not any(e["event"] == "detached" for e in events):
        text = [line for line in err if line.strip()]
        events.append({"event": "error", "where": "gdb", "message": text[-1] if text else
                       "gdb exited with status %d and said nothing" % proc.returncode})
    return events


def _refgraph_of(python):
    """Where the refgraph that interpreter imports lives: (the folder
    holding the package, its _core module, [major, minor])."""
    import subprocess
    probe = ("import json, os, sys, refgraph, refgraph._core as c; print(json.dumps(["
             "os.path.dirname(os.path.dirname(os.path.abspath(refgraph.__file__))), "
             "os.path.abspath(c.__file__), list(sys.version_info[:2])]))")
    try:
        done = subprocess.run([python, "-c", probe], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AttachError("cannot run %s: %s" % (python, exc)) from None
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["it exited with %d"
                                                                                      % done.returncode]
        raise AttachError("%s cannot import refgraph: %s" % (python, last[0]))
    try:
        path, library, version = json.loads(done.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AttachError("%s did not say where its refgraph is" % python) from None
    return path, library, version


def snapshot_process(pid, filename, timeout=30.0, *, untracked=True, redact=False, python=None, gdb="gdb"):
    """Writes a snapshot of running CPython process pid to filename, in the
    format of Snapshot.save (open_snapshot and every CLI command read it),
    with no restart and no change to its code; refgraph need not be on its
    sys.path.  Needs gdb and the right to ptrace the process.

    timeout (seconds) bounds the wait for the process to reach a safe point
    (see refgraph/_attach.py); the dump itself then runs as refgraph.dump()
    does, a forked child writing the file.  Returns an Attached; raises
    AttachError with one line when it cannot (no such process, not CPython,
    another CPython version, no ptrace permission, no safe point in time),
    with the process left as it was.

    python: an interpreter whose refgraph the process loads instead of this
    one's (a process on another CPython version needs a refgraph built for
    that version: the interpreter of its own environment, say)."""
    _check_target(pid)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds, not %r" % (timeout,))
    filename = os.path.abspath(os.fspath(filename))
    directory = os.path.dirname(filename)
    if not os.path.isdir(directory):
        raise FileNotFoundError("cannot write %s: no directory %s" % (filename, directory))
    if os.path.isdir(filename):
        raise IsADirectoryError("cannot write %s: it is a directory" % filename)
    uid, gid = _check_writable_by_target(pid, directory)
    gdb_path = shutil.which(gdb)
    if gdb_path is None:
        raise AttachError("gdb is needed to attach and was not found (%s): apt-get install gdb" % gdb)
    if python is None:
        import refgraph
        from refgraph import _core
        package = os.path.dirname(os.path.dirname(os.path.abspath(refgraph.__file__)))
        library, version = os.path.abspath(_core.__file__), list(sys.version_info[:2])
    elif not isinstance(python, str):
        raise TypeError("python must be a str (an interpreter's path), not %s" % type(python).__name__)
    else:
        package, library, version = _refgraph_of(python)
    hint = _version_hint(pid)
    if hint is not None and hint != version:
        raise AttachError(_gdb_failure({"event": "version", "target": hint, "built": version}, pid, timeout))
    started = time.monotonic()
    status_path = _status_path(filename, pid)
    args = {"pid": pid, "python": version, "library": library, "timeout": float(timeout), "driver": os.getpid(),
            "version_hint": hint, "deadline": time.time() + timeout}
    agent = {"path": package, "filename": filename, "status": status_path, "untracked": bool(untracked),
             "redact": bool(redact), "dump_timeout": DUMP_TIMEOUT, "deadline": time.time() + timeout}
    args["code"] = _agent_code(agent)
    try:
        # The agent acts only while this file is there (see _attach_agent.py):
        # taken away on every way out, it cancels an agent that runs late.
        with open(status_path, "w") as f:
            f.write('{"phase": "waiting"}')
        if os.geteuid() == 0 and uid is not None and uid != 0:
            os.chown(status_path, uid, gid)   # the process replaces it, as its user (a sticky /tmp)
        events = _run_gdb(gdb_path, args, started + timeout)
        stopped = next((e.get("stopped") for e in events if e["event"] == "detached"), None)
        if stopped is not None and _process_state(pid) == "T":
            os.kill(pid, signal.SIGCONT)   # a SIGSTOP of the script's that came after gdb's last stop
        failure = next((e for e in events if e["event"] in ("error", "not-python", "version", "timeout")), None)
        if failure is not None or not any(e["event"] == "started" for e in events):
            raise AttachError(_gdb_failure(failure or {"event": "error", "where": "gdb",
                                                       "message": "the agent was not started"}, pid, timeout))
        status = None
        # The agent looks at the deadline before it writes its first status:
        # a second more covers that write.
        while time.monotonic() < started + timeout + 1:
            status = _read_status(status_path)
            if status is not None and status.get("phase") != "waiting":
                break
            _check_alive(pid)
            time.sleep(0.01)
        if status is None or status.get("phase") == "waiting":
            raise AttachError(_gdb_failure({"event": "timeout"}, pid, timeout))
        give_up = time.monotonic() + DUMP_TIMEOUT + 30
        while status.get("phase") != "done":
            if time.monotonic() > give_up:
                raise AttachError("process %d started the dump and has not finished it" % pid)
            _check_alive(pid)
            time.sleep(0.02)
            status = _read_status(status_path) or status
        if status.get("error"):
            raise AttachError("process %d could not dump its heap: %s" % (pid, status["error"]))
        return Attached(path=status["path"], pid=pid, objects=status["objects"],
                        references=status["references"], stopped=stopped, stall=status.get("stall"),
                        seconds=time.monotonic() - started, forked=status.get("forked"))
    finally:
        for leftover in (status_path, ):
            try:
                os.unlink(leftover)
            except OSError:
                pass
