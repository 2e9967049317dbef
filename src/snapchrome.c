/* TEMPORARY STUB (replaced by the chrome branch) */
#include "refgraph/snapchrome.h"
#include "refgraph/status.h"
int rg_snap_export_chrome(rg_snap *s, const char *path, rg_progress_fn progress, void *arg)
{ (void)s; (void)path; (void)progress; (void)arg; return RG_EINVAL; }
