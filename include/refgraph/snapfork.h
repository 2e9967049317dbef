/* A dump taken in a forked child (src/snapfork.c): the service's threads
 * stop only for fork() itself.  POSIX only.  Include after Python.h. */
#ifndef REFGRAPH_SNAPFORK_H
#define REFGRAPH_SNAPFORK_H

#include "refgraph/snapbuild.h"

/* Forks.  The child finishes job (rg_snapshot_finish, borrowed) from its
 * copy of the heap, saves the snapshot to path (rg_snap_save: temporary
 * name, then rename), writes one line to its report pipe and exits:
 *   "ok NODES EDGES SNAPSHOT_S TOTAL_S PRIVATE_KIB\n" or "error MESSAGE\n"
 * (PRIVATE_KIB: the memory the child held alone at the end, pages it
 * copied from the heap and the snapshot; 0 unknown);
 * after timeout_s seconds (0: none) SIGALRM ends it.  The parent gets the
 * child's pid and the pipe's read end (close-on-exec) at once, keeps job
 * (rg_snapshot_abandon it), and must read the pipe and reap the child.
 * RG_OK, or RG_EIO with errno set (no pipe, fork() failed: nothing was
 * forked). */
int rg_dump_fork(rg_snapshot_job *job, const char *path, unsigned timeout_s, long *pid_out, int *report_fd);

#endif
