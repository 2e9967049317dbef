/* Replacing a file all at once (include/refgraph/replacefile.h). */
#include "refgraph/replacefile.h"
#include "refgraph/status.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* A malloc'd copy of s (strdup goes around alloc.h's fault injection). */
static char *copy(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* The file path stands for: a link's target, or path itself; checks it is
 * a regular file where it exists.  Sets r->target, r->mode. */
static int resolve(rg_replace *r, const char *path)
{
    struct stat st;
    char *target = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        target = realpath(path, NULL);
        if (target == NULL && errno == ENOENT) {
            /* A dangling link: its target is written, wherever it points. */
            char buf[PATH_MAX], whole[2 * PATH_MAX];
            ssize_t n = readlink(path, buf, sizeof buf - 1);
            if (n < 0)
                return RG_EIO;
            buf[n] = '\0';
            if (buf[0] != '/') {
                /* Relative: from the link's own directory. */
                const char *slash = strrchr(path, '/');
                snprintf(whole, sizeof whole, "%.*s%s", slash ? (int)(slash - path) + 1 : 0, path, buf);
                target = copy(whole);
            } else {
                target = copy(buf);
            }
            if (target == NULL)
                return RG_ENOMEM;
        } else if (target == NULL) {
            return RG_EIO;
        } else {
            /* realpath's buffer comes from libc's malloc: copied to ours. */
            char *ours = copy(target);
            free(target);
            if (ours == NULL)
                return RG_ENOMEM;
            target = ours;
        }
    } else {
        target = copy(path);
        if (target == NULL)
            return RG_ENOMEM;
    }
    r->target = target;
    if (stat(target, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
            return RG_ENOTREG;
        }
        /* Replaced only where it could be written in place, as open()
         * would: a read-only file stays (root may, as open() lets it). */
        if (access(target, W_OK) != 0)
            return RG_EIO;
        r->mode = (unsigned)(st.st_mode & 07777);
        r->uid = (long)st.st_uid;
        r->gid = (long)st.st_gid;
        r->keep_mode = 1;
    } else if (errno != ENOENT) {
        return RG_EIO;
    }
    return RG_OK;
}

int rg_replace_open(rg_replace *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    int st = resolve(r, path);
    size_t size = st == RG_OK ? strlen(r->target) + 48 : 0;
    if (st == RG_OK && (r->tmp = malloc(size)) == NULL)
        st = RG_ENOMEM;
    /* Beside the target (a rename stays in one file system), hidden, and
     * created exclusively: never another writer's file. */
    const char *slash = st == RG_OK ? strrchr(r->target, '/') : NULL;
    int dir_len = slash ? (int)(slash - r->target) + 1 : 0;
    /* A name of its own plus ours may pass NAME_MAX (255): then ours alone. */
    int short_name = strlen(r->target + dir_len) > 200;
    for (unsigned k = 0; st == RG_OK && k < 1000; k++) {
        if (short_name)
            snprintf(r->tmp, size, "%.*s.refgraph.%ld.%u.tmp", dir_len, r->target, (long)getpid(), k);
        else
            snprintf(r->tmp, size, "%.*s.%s.%ld.%u.tmp", dir_len, r->target, r->target + dir_len,
                     (long)getpid(), k);
        /* Readable by no one else while it is written: a replaced file's
         * mode (which may hide its data) is given at commit. */
        r->fd = open(r->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, r->keep_mode ? 0600 : 0666);
        if (r->fd >= 0)
            return RG_OK;
        if (errno != EEXIST)
            break;
    }
    if (st == RG_OK)
        st = RG_EIO;
    int e = errno;
    free(r->tmp);
    free(r->target);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    errno = e;
    return st;
}

void rg_replace_abort(rg_replace *r)
{
    int e = errno;
    if (r->fd >= 0)
        close(r->fd);
    if (r->tmp != NULL)
        unlink(r->tmp);
    free(r->tmp);
    free(r->target);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    errno = e;
}

int rg_replace_commit(rg_replace *r)
{
    /* The owner first (a chown clears set-id bits), where the caller may:
     * root replacing another user's file keeps it theirs. */
    if (r->keep_mode && fchown(r->fd, (uid_t)r->uid, (gid_t)r->gid) != 0)
        errno = 0;
    int ok = fsync(r->fd) == 0 && (!r->keep_mode || fchmod(r->fd, (mode_t)r->mode) == 0);
    int e = errno;
    ok = close(r->fd) == 0 && ok;
    r->fd = -1;
    if (ok)
        ok = rename(r->tmp, r->target) == 0;
    else
        errno = e;
    if (ok) {
        /* The rename itself to disk: its directory flushed (errors here
         * leave the file whole, so they are not the caller's failure). */
        const char *slash = strrchr(r->target, '/');
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - r->target) + 1 : 1, slash ? r->target : ".");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    if (!ok) {
        rg_replace_abort(r);
        return RG_EIO;
    }
    free(r->tmp);
    free(r->target);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    return RG_OK;
}

int rg_replace_with(const char *path, const void *data, size_t len)
{
    rg_replace r;
    int st = rg_replace_open(&r, path);
    if (st != RG_OK)
        return st;
    const char *p = data;
    while (len > 0) {
        ssize_t k = write(r.fd, p, len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            rg_replace_abort(&r);
            return RG_EIO;
        }
        p += k;
        len -= (size_t)k;
    }
    return rg_replace_commit(&r);
}
