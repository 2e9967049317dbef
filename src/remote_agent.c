/* The thread `refgraph attach` starts in a process it attached to
 * (refgraph/_attach.py): gdb loads this module with dlopen() and calls
 * refgraph_agent_start() from the entry of malloc, free or
 * PyErr_CheckSignals, where the stopped thread holds no lock of the C
 * library's.  That call runs no Python: it starts a thread and returns.
 * The thread then takes the GIL as any thread does, so the program is at
 * a safe point (the eval loop dropped the GIL, or a thread released it
 * around a blocking call) when the Python code runs, and leaves with no
 * thread state behind. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Runs code (a Python statement, malloc'd) with the GIL, then frees it.
 * The code catches its own exceptions: what it prints goes nowhere. */
static void *agent_main(void *arg)
{
    char *code = arg;
    if (Py_IsInitialized()) {
        PyGILState_STATE state = PyGILState_Ensure();
        if (PyRun_SimpleString(code) != 0)
            PyErr_Clear();
        PyGILState_Release(state);
    }
    free(code);
    return NULL;
}

/* Where gdb writes the agent's code (NUL-terminated) before it calls
 * refgraph_agent_start: memory of this module's, so that gdb allocates
 * none with a malloc that may not be the program's (a preloaded
 * allocator's free() would then be given a block it never made). */
__attribute__((visibility("default"))) char refgraph_agent_code[1 << 16];

/* Starts a detached thread that runs a copy of refgraph_agent_code (made
 * here, with the program's malloc) with the GIL.  Every signal is blocked
 * in that thread, so that the program's signals go to its own threads.
 * Returns 0, or a negative errno.  No Python is called here. */
__attribute__((visibility("default"))) int refgraph_agent_start(void);
int refgraph_agent_start(void)
{
    refgraph_agent_code[sizeof refgraph_agent_code - 1] = '\0';
    if (refgraph_agent_code[0] == '\0')
        return -EINVAL;
    char *copy = strdup(refgraph_agent_code);
    if (copy == NULL)
        return -ENOMEM;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    pthread_t thread;
    if (err == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        err = pthread_create(&thread, &attr, agent_main, copy);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        free(copy);
        return -err;
    }
    return 0;
}
