/* Snapshot files (src/snapfile.c): writing a snapshot to a file and reading
 * it back, in the format docs/snapshot-format.md describes (versioned,
 * compressed, checksummed).  Plain C: no Python.
 *
 * Ownership: the caller keeps the snapshot it saves; a loaded snapshot is
 * the caller's, freed with rg_snap_free. */
#ifndef REFGRAPH_SNAPFILE_H
#define REFGRAPH_SNAPFILE_H

#include <stddef.h>

#include "refgraph/heapsnap.h"

#define RG_SNAPFILE_ERRLEN 384

/* Writes s to path: to a temporary name in the same directory, flushed to
 * disk, then renamed, so that no crash or full disk leaves a partial file
 * under path (nor a temporary one behind).  RG_OK, RG_EIO (errno set),
 * RG_ENOMEM, or RG_EINTR when progress asked to stop.  progress may be NULL. */
int rg_snap_save(const rg_snap *s, const char *path, rg_progress_fn progress, void *arg);

/* Reads the snapshot file at path into *out.  RG_OK; RG_ECORRUPT with err
 * naming what is wrong ("truncated: ...", "checksum mismatch ...", "not a
 * refgraph snapshot", "unsupported format version N"); RG_EFILESIZE when its
 * counts ask for more memory than the default bound (rg_snap_load_limit);
 * RG_EIO (errno set); RG_ENOMEM; RG_EINTR.  Every index and offset is
 * checked, so that a damaged or forged file can never make a reader crash. */
int rg_snap_load(const char *path, rg_snap **out, char err[RG_SNAPFILE_ERRLEN], rg_progress_fn progress,
                 void *arg);
/* rg_snap_load with a bound on the memory the file's counts may ask for:
 * max_memory bytes, or 0 for the default, max(64 MiB, 512 times the file's
 * size).  Past it RG_EFILESIZE, err saying what the file claims, before
 * anything is allocated or inflated, and naming `option`, how the caller's
 * user sets the bound ("max_memory=", "--max-memory SIZE"). */
int rg_snap_load_limit(const char *path, uint64_t max_memory, const char *option, rg_snap **out,
                       char err[RG_SNAPFILE_ERRLEN], rg_progress_fn progress, void *arg);

/* The same from bytes in memory (the fuzz tests). */
int rg_snap_load_bytes(const void *data, size_t len, rg_snap **out, char err[RG_SNAPFILE_ERRLEN]);

#endif
