/* Replacing a file all at once (src/replacefile.c): snapshot files and
 * Chrome exports are written to a temporary file beside their target,
 * flushed to disk, given the replaced file's mode, and renamed over it, so
 * that no crash or full disk ever leaves a partial file under the name.
 * Plain C.
 *
 * A path that names a symbolic link replaces the link's target (the link
 * stays); a path that names anything but a regular file (a directory, a
 * device such as /dev/null, a FIFO, a socket) is refused: renaming over it
 * would replace the device itself. */
#ifndef REFGRAPH_REPLACEFILE_H
#define REFGRAPH_REPLACEFILE_H

#include <stddef.h>

typedef struct rg_replace {
    int fd;              /* the temporary file, open for writing; -1 when closed */
    char *tmp;           /* its name */
    char *target;        /* the file it replaces (a link resolved) */
    unsigned mode;       /* the replaced file's permission bits, if keep_mode */
    int keep_mode;
    long uid, gid;       /* the replaced file's owner, if keep_mode (kept where the caller may) */
} rg_replace;

/* Opens the temporary file for path.  RG_OK; RG_ENOTREG (errno EINVAL) if
 * path exists and is not a regular file; RG_EIO (errno set); RG_ENOMEM. */
int rg_replace_open(rg_replace *r, const char *path);
/* Flushes, closes and renames the temporary file over the target.  RG_OK,
 * or RG_EIO with errno, the temporary file removed. */
int rg_replace_commit(rg_replace *r);
/* Closes and removes the temporary file (after a failure); errno is kept. */
void rg_replace_abort(rg_replace *r);
/* Replaces path with len bytes of data, all at once (open, write, commit;
 * on any failure nothing is left but what was there).  Statuses as
 * rg_replace_open and rg_replace_commit. */
int rg_replace_with(const char *path, const void *data, size_t len);

#endif
