/* Exporting a snapshot to Chrome DevTools' .heapsnapshot format
 * (src/snapchrome.c), which Chrome's Memory panel and memlab open.  Plain
 * C: no Python.  See docs/snapshot-format.md, "Chrome export". */
#ifndef REFGRAPH_SNAPCHROME_H
#define REFGRAPH_SNAPCHROME_H

#include "refgraph/heapsnap.h"

/* Writes s to path as a .heapsnapshot (JSON), through a temporary name and
 * a rename like rg_snap_save.  It may build s's referents index (hence not
 * const).  RG_OK, RG_EIO (errno set), RG_ENOMEM, RG_EINTR (progress
 * asked to stop; nothing is left behind), or RG_ETOOBIG past what the
 * readers' 32-bit arrays hold (613 million nodes).  progress may be NULL. */
int rg_snap_export_chrome(rg_snap *s, const char *path, rg_progress_fn progress, void *arg);

#endif
