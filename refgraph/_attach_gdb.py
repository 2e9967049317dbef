"""The script gdb runs for `refgraph attach` (refgraph/_attach.py starts
gdb with it; it is not imported by refgraph).  gdb's own Python runs it.

It attaches to the target, checks that the target is a CPython of the
version the agent was built for, and then waits for a thread of the target
to stop at the entry of malloc, calloc, realloc, free, PyErr_CheckSignals
or Py_MakePendingCalls: at such an entry the thread holds no lock of the C
library's (no allocator lock, no loader lock unless the caller below holds
one, which the stack is checked for), so that dlopen() and pthread_create()
can be called there.  There it loads refgraph's _core module and calls
refgraph_agent_start(), which starts a thread that takes the GIL as any
thread does and runs the agent's code (refgraph/_attach.py), then detaches.
No Python code of the target runs on the stopped thread.

A target whose threads all wait in a blocking call hits none of these.
When nothing stopped for a while (the command then sends SIGURG), each
thread stopped in a system call that CPython retries is made to return
EINTR instead of restarting it, once, as a signal with a handler would;
CPython retries such calls (PEP 475) after PyErr_CheckSignals() or
Py_MakePendingCalls(), where it stops.  A call CPython does not retry
(signal.pause(), ctypes) is left alone.  A SIGURG someone else sent is
passed on to the program.

What happens is printed as lines "REFGRAPH {json}" on stdout.
"""
import json
import os
import re
import time

import gdb  # noqa: F401  (gdb's module: this runs inside gdb)

ARGS = json.loads(os.environ["REFGRAPH_ATTACH_ARGS"])
EINTR = 4
# Stops at these functions' entries are safe for dlopen() and
# pthread_create(); between them a thread running Python calls one often:
# the eval loop for each call, pymalloc for each object (an LTO build's
# internal copies too, "_PyObject_Malloc.lto_priv.0").
PYTHON_STOPS = ("PyErr_CheckSignals", "Py_MakePendingCalls", "_PyEval_EvalFrameDefault", "PyObject_Malloc",
                "_PyObject_Malloc", "PyObject_Free", "_PyObject_Free")
LIBC_STOPS = ("malloc", "calloc", "realloc", "free")
STOP_NAME = re.compile(r"^0x([0-9a-f]+)\s+(%s)(\.lto_priv\.[0-9]+)?$" % "|".join(PYTHON_STOPS))
# CPython's calls that retry a system call on EINTR (PEP 475) and run the
# signal handlers between: time.sleep, lock and Event waits, select, poll,
# os.read/write, sockets, waitpid; a substring of the C function's name.
RETRIED_BY = ("pysleep", "time_sleep", "acquire_timed", "lock_PyThread_acquire_lock", "rlock_acquire",
              "select_select", "select_poll", "select_epoll", "select_devpoll", "_Py_read", "_Py_write",
              "sock_call", "os_waitpid", "os_wait_impl", "os_wait3", "os_wait4", "os_waitid", "_io__FileIO_read",
              "_io_FileIO_read", "os_read", "os_write")
# x86-64 system calls those callers block in: clock_nanosleep, nanosleep,
# futex, select, pselect6, poll, ppoll, epoll_wait, epoll_pwait, wait4,
# waitid (not pause: signal.pause() returns on EINTR).
RETRIED_SYSCALLS = (230, 35, 202, 23, 270, 7, 271, 232, 281, 61, 247)
# Below one of these, the caller does not retry: leave the call alone.
NOT_RETRIED = ("signal_pause", "signal_sigwait", "ffi_call", "PyCFuncPtr", "_ctypes")
# A caller that may hold a lock dlopen() or pthread_create() takes.
UNSAFE_CALLERS = ("dl_", "dlopen", "dlclose", "dlsym", "pthread_create", "fork", "_IO_", "malloc_",
                  "arena", "__libc_", "_dl", "tls", "atfork", "exit")


def report(event, **fields):
    fields["event"] = event
    gdb.write("REFGRAPH " + json.dumps(fields) + "\n")
    gdb.flush()


def quiet(command):
    return gdb.execute(command, to_string=True)


class Stops:
    """Why the target last stopped: a breakpoint of ours, or our SIGSTOP."""

    def __init__(self):
        self.breakpoint = False
        self.signal = None
        gdb.events.stop.connect(self.on_stop)

    def on_stop(self, event):
        self.breakpoint = isinstance(event, gdb.BreakpointEvent)
        self.signal = getattr(event, "stop_signal", None)


def safe_stack(frame):
    """Whether none of the stopped thread's callers, a few frames up, may
    hold a lock of the C library's (the loader's: malloc called from inside
    a dlopen; gdb reads the loader's symbols for this) or run in a signal
    handler.  The walk ends at a caller with no name: without debug
    information gdb cannot unwind past some frames."""
    caller = frame.older()
    for _ in range(6):
        if caller is None:
            return True
        if caller.type() == gdb.SIGTRAMP_FRAME:
            return False
        name = caller.name()
        if not name:
            return True
        if any(part in name for part in UNSAFE_CALLERS):
            return False
        caller = caller.older()
    return True


def in_syscall(thread):
    """Whether thread is stopped in an interruptible system call."""
    thread.switch()
    try:
        orig = int(gdb.parse_and_eval("$orig_rax"))
        rax = int(gdb.parse_and_eval("$rax"))
    except gdb.error:
        return False
    # -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK
    return orig >= 0 and rax in (-512, -513, -514, -516)


def retried_by_cpython(thread):
    """Whether thread's system call was made by one of CPython's calls that
    retry on EINTR after running signal handlers (PEP 475), named among its
    callers before any other code: not signal.pause(), which returns, nor
    ctypes, which does not retry.  Where gdb cannot unwind that far (no
    debug information), the system call decides: a sleep, a wait or a poll,
    which CPython's callers retry (a C extension's may not: the guide says
    so)."""
    frame = gdb.newest_frame()
    for _ in range(10):
        frame = frame.older()
        name = frame.name() if frame is not None else None
        if name and any(part in name for part in RETRIED_BY):
            return True
        if name and any(part in name for part in NOT_RETRIED):
            return False
        if not name:
            break
    return int(gdb.parse_and_eval("$orig_rax")) in RETRIED_SYSCALLS


def poke(inferior):
    """Makes each thread stopped in a restartable system call that CPython
    retries return EINTR when resumed, as a signal with a handler would:
    CPython runs the handlers (PyErr_CheckSignals, Py_MakePendingCalls,
    where gdb stops) and makes the call again for the time it had left."""
    poked = 0
    for thread in inferior.threads():
        if in_syscall(thread) and retried_by_cpython(thread):
            gdb.execute("set $rax = -%d" % EINTR)
            gdb.execute("set $orig_rax = -1")
            poked += 1
    return poked


def stop_names():
    """The names of PYTHON_STOPS' functions in what gdb has read (minimal
    symbols: gdb reads no debug information, which makes attaching slow),
    with an LTO build's internal copies."""
    found = set()
    for name in PYTHON_STOPS:
        try:
            text = quiet("info functions ^%s" % name)
        except gdb.error:
            continue
        for line in text.splitlines():
            match = STOP_NAME.match(line.strip())
            if match:
                found.add(match.group(2) + (match.group(3) or ""))
    return sorted(found)


def sender():
    """The pid that sent the signal the current thread stopped on, or None."""
    try:
        return int(gdb.parse_and_eval("$_siginfo._sifields._kill.si_pid"))
    except gdb.error:
        return None


def version_of_target():
    """(major, minor) of the target's CPython, from Py_Version (3.11+) or,
    at a safe point only, from Py_GetVersion()."""
    try:
        hexversion = int(gdb.parse_and_eval("*(unsigned long *)&Py_Version"))
        return [hexversion >> 24, (hexversion >> 16) & 0xff]
    except gdb.error:
        return None


def version_by_call():
    text = gdb.parse_and_eval("((const char *(*)(void))Py_GetVersion)()").string()
    major, minor = text.split(".")[:2]
    return [int(major), int("".join(c for c in minor if c.isdigit()))]


def inject(inferior):
    """At a safe stop: loads the agent and starts its thread.  Returns the
    error text, or None."""
    want = ARGS["python"]
    got = version_of_target() or version_by_call()
    if got != want:
        report("version", target=got, built=want)
        return "version"
    handle = int(gdb.parse_and_eval('((void *(*)(const char *, int))dlopen)("%s", %d)'
                                    % (ARGS["library"].replace("\\", "\\\\").replace('"', '\\"'),
                                       2 | 0x100)))   # RTLD_NOW | RTLD_GLOBAL
    if handle == 0:
        error = gdb.parse_and_eval("((char *(*)(void))dlerror)()")
        report("error", where="dlopen", message=error.string() if int(error) else "dlopen failed")
        return "dlopen"
    start = int(gdb.parse_and_eval('((void *(*)(void *, const char *))dlsym)((void *)%d, "refgraph_agent_start")'
                                   % handle))
    if start == 0:
        report("error", where="dlsym", message="refgraph_agent_start is not in %s" % ARGS["library"])
        return "dlsym"
    # The code goes into the module's own buffer: a block gdb allocated
    # would come from libc's malloc, which is not the program's where an
    # allocator is preloaded (jemalloc, AddressSanitizer).
    buffer = int(gdb.parse_and_eval('((void *(*)(void *, const char *))dlsym)((void *)%d, "refgraph_agent_code")'
                                    % handle))
    code = ARGS["code"].encode("utf-8") + b"\0"
    if buffer == 0 or len(code) > 1 << 16:
        report("error", where="dlsym", message="no room for the agent's code in %s" % ARGS["library"])
        return "dlsym"
    inferior.write_memory(buffer, code)
    status = int(gdb.parse_and_eval("((int (*)(void))%d)()" % start))
    if status != 0:
        report("error", where="thread", message=os.strerror(-status))
        return "thread"
    report("started")
    return None


def main():
    for command in ("set pagination off", "set confirm off", "set unwindonsignal on",
                    "set print thread-events off", "set print inferior-events off",
                    "handle all nostop noprint pass", "handle SIGURG stop print nopass"):
        quiet(command)
    pid = ARGS["pid"]
    # The program's symbols are read before the target stops: with them,
    # the functions to stop at.  (A libpython.so is read once attached.)
    names = []
    try:
        quiet("file /proc/%d/exe" % pid)
        names = stop_names()
    except gdb.error:
        pass
    # Breakpoints set now are inserted as gdb attaches.
    breakpoints = []
    for name in names:
        try:
            breakpoints.append(gdb.Breakpoint("'%s'" % name, internal=True))
        except (gdb.error, RuntimeError):
            pass
    # Of the shared libraries' symbols, only the C library's (malloc, free,
    # dlopen; libdl's before glibc 2.34), the loader's (to see a stop inside
    # it) and a libpython's are read.
    quiet("set auto-solib-add off")
    halted_since = time.monotonic()   # the target is stopped from attach on, but in continue
    halted = 0.0
    try:
        quiet("attach %d" % pid)
        for library in ("libc\\.so", "libdl\\.so", "libpython", "ld-linux"):
            quiet("sharedlibrary " + library)
    except gdb.error as exc:
        report("error", where="attach", message=str(exc))
        return
    report("attached", seconds=time.monotonic() - halted_since)
    inferior = gdb.selected_inferior()
    detach_ok = False
    try:
        try:
            gdb.parse_and_eval("(long)&Py_IsInitialized")
        except gdb.error:
            report("not-python")
            return
        got = version_of_target() or ARGS.get("version_hint")
        if got is not None and got != ARGS["python"]:
            report("version", target=got, built=ARGS["python"])
            return
        known = got is not None   # only a process known to be of the right version is disturbed
        for name in ([] if names else stop_names()) + list(LIBC_STOPS):
            try:
                breakpoints.append(gdb.Breakpoint("'%s'" % name, internal=True))
            except (gdb.error, RuntimeError):
                pass
        report("waiting", breakpoints=len(breakpoints), at=time.monotonic() - halted_since)
        stops = Stops()
        resume = "continue"
        poked = False
        while True:
            # The command sends SIGURG (ignored unless handled, and rarely
            # handled) once nothing ran into a stop of ours for a while, and
            # at its deadline: gdb stops on it, and passes it not.
            stops.breakpoint, stops.signal = False, None
            halted += time.monotonic() - halted_since
            gdb.execute(resume, to_string=True)
            halted_since = time.monotonic()
            resume = "continue"
            if stops.breakpoint and safe_stack(gdb.newest_frame()):
                # A SIGURG sent as the breakpoint stopped must not end
                # the calls below: from here gdb swallows it.
                quiet("handle SIGURG nostop noprint nopass")
                for bp in breakpoints:
                    bp.delete()
                breakpoints = []
                inject(inferior)
                report("injected", at=time.monotonic() - halted_since)
                return
            if stops.signal == "SIGURG":
                # (0: sent from outside the process's pid namespace, as the
                # command is when the process runs in a container.)
                if sender() not in (ARGS["driver"], None, 0):
                    resume = "signal SIGURG"   # someone else's: the program gets it
                elif not poked and known and time.time() < ARGS["deadline"] - 0.05:
                    # The command's first: every thread waits; wake the
                    # waits CPython retries.
                    poked = True
                    report("poked", threads=poke(inferior))
                else:
                    report("timeout")
                    return
    finally:
        try:
            for bp in gdb.breakpoints() or ():
                bp.delete()
        except gdb.error:
            pass
        try:
            quiet("detach")
            detach_ok = True
        except gdb.error as exc:
            report("error", where="detach", message=str(exc))
        report("detached", ok=detach_ok, stopped=halted + time.monotonic() - halted_since)


try:
    main()
except Exception as exc:   # every path reports and detaches; this is the last word
    report("error", where="gdb", message="%s: %s" % (type(exc).__name__, exc))
