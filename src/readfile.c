/* Reading a file whole, bounded (include/refgraph/readfile.h). */
#include "refgraph/readfile.h"
#include "refgraph/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

int rg_open_regular(const char *path, int *fd, uint64_t *size)
{
    struct stat sb;
    *fd = -1;
    *size = 0;
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0)
        return RG_EIO;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        errno = e;
        return RG_EIO;
    }
    if (!S_ISREG(sb.st_mode)) {
        int dir = S_ISDIR(sb.st_mode);
        close(f);
        errno = dir ? EISDIR : 0;
        return dir ? RG_EIO : RG_ENOTREG;
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return RG_OK;
}

int rg_read_regular(const char *path, size_t limit, unsigned char **data, size_t *len, uint64_t *size)
{
    int fd;
    *data = NULL;
    *len = 0;
    errno = 0;
    int st = rg_open_regular(path, &fd, size);
    if (st != RG_OK)
        return st;
    if (*size > limit) {
        close(fd);
        return RG_EFILESIZE;
    }
    unsigned char *p = malloc((size_t)*size + 1);
    if (p == NULL) {
        close(fd);
        return RG_ENOMEM;
    }
    /* No more than the size seen: a file that grows meanwhile is read as
     * it was (a bounded read); one that shrinks ends early. */
    size_t got = 0;
    while (got < (size_t)*size) {
        ssize_t k = read(fd, p + got, (size_t)*size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            free(p);
            close(fd);
            errno = e;
            return RG_EIO;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    p[got] = '\0';
    *data = p;
    *len = got;
    return RG_OK;
}
