/* A dump taken in a forked child (include/refgraph/snapfork.h), as Redis's
 * BGSAVE writes its database: fork() gives the child a copy-on-write image
 * of the heap at that instant, the child takes the snapshot from it and
 * saves it, and the service's threads go on as soon as fork() returns.
 *
 * The child runs nothing but this file's code: one thread (the one that
 * forked), the collector disabled, every signal at its default action and
 * a watchdog alarm, no file descriptor but its report pipe (and the file it
 * writes), and it leaves with _exit(), so no atexit, at-fork or finalizer
 * code of the program runs there, and nothing the parent has buffered is
 * flushed twice.  The roots (modules, other threads' frames) were read in
 * the parent before the fork (rg_snapshot_begin), because reading threads'
 * frames takes a lock another thread may have held when fork() copied it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/snapfork.h"
#include "refgraph/snapfile.h"
#include "refgraph/status.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Closes every descriptor from 3 up but keep: the service's sockets and
 * files must not stay open in a child that outlives a restart. */
static void close_all_but(int keep)
{
#ifdef SYS_close_range
    if (keep > 3)
        syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u);
    if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < (int)max; fd++) {
        if (fd != keep)
            close(fd);
    }
}

/* Writes all of text to fd (a pipe whose reader may be gone: EPIPE ends it). */
static void write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* The child's private memory in KiB (pages it copied or allocated: what
 * the dump costs the machine beyond the service), from
 * /proc/self/smaps_rollup; 0 where that cannot be read. */
static unsigned long private_kib(void)
{
    int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long total = 0, kib;
    for (const char *p = buf; (p = strstr(p, "Private_")) != NULL; p++) {
        const char *colon = strchr(p, ':');
        if (colon != NULL && sscanf(colon + 1, "%lu", &kib) == 1)
            total += kib;   /* Private_Clean and Private_Dirty */
    }
    return total;
}

static void child(rg_snapshot_job *job, const char *path, unsigned timeout_s, int report)
{
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    close_all_but(report);
    /* 0, 1 and 2 too (an inetd-style service's client connection may be
     * there): /dev/null in their place, so that nothing writes elsewhere. */
    int null_fd = open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2 && null_fd >= 0; fd++) {
        if (fd != report && fd != null_fd)
            dup2(null_fd, fd);
    }
    if (null_fd > 2 && null_fd != report)
        close(null_fd);
    if (timeout_s > 0)
        alarm(timeout_s);   /* a child stuck on a lock copied held dies of SIGALRM */
#if PY_VERSION_HEX >= 0x030A0000
    PyGC_Disable();
#else
    {
        /* gc is imported (refgraph imports it): no import runs here. */
        PyObject *gc = PyDict_GetItemString(PyImport_GetModuleDict(), "gc");
        PyObject *r = gc ? PyObject_CallMethod(gc, "disable", NULL) : NULL;
        Py_XDECREF(r);
        PyErr_Clear();
    }
#endif
    double start = now_s();
    rg_snap *snap = NULL;
    int st = rg_snapshot_finish(job, 1, &snap);
    double took = now_s() - start;
    int saved_errno = 0;
    if (st == RG_OK) {
        st = rg_snap_save(snap, path, NULL, NULL);
        saved_errno = errno;
    }
    char line[512];
    int n;
    if (st == RG_OK)
        n = snprintf(line, sizeof line, "ok %u %u %.6f %.6f %lu\n", snap->n_nodes, snap->n_edges, took,
                     now_s() - start, private_kib());
    else if (st == RG_EIO)
        n = snprintf(line, sizeof line, "error %s\n", strerror(saved_errno));
    else if (st == RG_EPYTHON)
        n = snprintf(line, sizeof line, "error a Python error while taking the snapshot\n");
    else
        n = snprintf(line, sizeof line, "error %s\n", rg_strerror(st));
    if (n > 0)
        write_all(report, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    _exit(st == RG_OK ? 0 : 1);
}

int rg_dump_fork(rg_snapshot_job *job, const char *path, unsigned timeout_s, long *pid_out, int *report_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return RG_EIO;
    /* Raw fork(), not os.fork(): the program's at-fork handlers are for
     * children that go on running its code, which this one never does. */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        return RG_EIO;
    }
    if (pid == 0) {
        close(fds[0]);
        child(job, path, timeout_s, fds[1]);   /* never returns */
    }
    close(fds[1]);
    *pid_out = (long)pid;
    *report_fd = fds[0];
    return RG_OK;
}
