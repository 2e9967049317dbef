/* TEMPORARY STUB (replaced by the snapfile branch) */
#include "refgraph/snapfile.h"
#include "refgraph/status.h"
#include <string.h>
int rg_snap_save(const rg_snap *s, const char *path, rg_progress_fn progress, void *arg)
{ (void)s; (void)path; (void)progress; (void)arg; return RG_EINVAL; }
int rg_snap_load(const char *path, rg_snap **out, char err[RG_SNAPFILE_ERRLEN], rg_progress_fn progress, void *arg)
{ (void)path; (void)out; (void)progress; (void)arg; strcpy(err, "stub"); return RG_ECORRUPT; }
int rg_snap_load_bytes(const void *data, size_t len, rg_snap **out, char err[RG_SNAPFILE_ERRLEN])
{ (void)data; (void)len; (void)out; strcpy(err, "stub"); return RG_ECORRUPT; }
