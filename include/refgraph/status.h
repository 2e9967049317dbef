/* Status codes shared by every refgraph layer.
 *
 * Functions that can fail return int: RG_OK (0) on success, a negative
 * RG_E* code on failure.  Only the binding (src/module.c) turns a code into
 * a Python exception, in one place. */
#ifndef REFGRAPH_STATUS_H
#define REFGRAPH_STATUS_H

enum rg_status {
    RG_OK = 0,
    RG_ENOMEM = -1,       /* an allocation failed */
    RG_EPYTHON = -2,      /* a Python exception is already set */
    RG_EINVAL = -3,       /* a bad argument reached the C layer */
    RG_EIO = -4,          /* an I/O error; errno says which */
    RG_EFORMAT = -5,      /* an output format that is not available */
    RG_ETOOBIG = -6,      /* the heap has more edges than a 32-bit index holds */
    RG_ERENDER = -7,      /* the renderer failed; its message is kept */
    RG_ENORENDERER = -8,  /* no renderer: built --without-graphviz or plugins missing */
    RG_ECORRUPT = -9,     /* a snapshot file is damaged or not one; the reader says what */
    RG_EINTR = -10,       /* a progress callback asked to stop */
    RG_ENOTREG = -11,     /* a path to replace or read is not a regular file (a device, a FIFO) */
    RG_EFILESIZE = -12,   /* a file to read is larger than its reader's limit */
    RG_ESIGINT = -13      /* SIGINT arrived while no Python code could run; its handler has not run yet */
};

/* A short English description of status; never NULL. */
const char *rg_strerror(int status);

#endif
