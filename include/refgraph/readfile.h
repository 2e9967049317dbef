/* Reading a file whole, bounded (src/readfile.c): every reader of a
 * user-named path (refgraph.load, open_snapshot) opens it here.  Only a
 * regular file is read: a FIFO or a device (/dev/zero) could block or be
 * read forever.  Its size is checked before anything is read, and no more
 * than that size is read, whatever the file does meanwhile.  Plain C. */
#ifndef REFGRAPH_READFILE_H
#define REFGRAPH_READFILE_H

#include <stddef.h>
#include <stdint.h>

/* Opens path for reading without waiting (a FIFO's open would wait for a
 * writer).  RG_OK with *fd and *size; RG_EIO with errno (EISDIR for a
 * directory); RG_ENOTREG (errno 0) for a FIFO, a device or a socket. */
int rg_open_regular(const char *path, int *fd, uint64_t *size);

/* Reads path whole into *data (malloc'd, len bytes, one NUL after them).
 * RG_OK; RG_EIO, RG_ENOTREG as rg_open_regular; RG_EFILESIZE when it holds
 * more than limit bytes (*size says how many: nothing is read);
 * RG_ENOMEM. */
int rg_read_regular(const char *path, size_t limit, unsigned char **data, size_t *len, uint64_t *size);

#endif
