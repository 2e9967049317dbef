/* The descriptions of refgraph/status.h's codes.  Plain C: no Python. */
#include "refgraph/status.h"

const char *rg_strerror(int status)
{
    switch (status) {
    case RG_OK: return "success";
    case RG_ENOMEM: return "out of memory";
    case RG_EPYTHON: return "a Python exception was raised";
    case RG_EINVAL: return "invalid argument";
    case RG_EIO: return "input/output error";
    case RG_EFORMAT: return "unsupported output format";
    case RG_ETOOBIG: return "the heap has too many references to index";
    case RG_ERENDER: return "the renderer failed";
    case RG_ENORENDERER: return "no renderer is available";
    case RG_ECORRUPT: return "not a valid refgraph snapshot";
    case RG_EINTR: return "interrupted";
    case RG_ENOTREG: return "not a regular file";
    case RG_EFILESIZE: return "the file is larger than refgraph reads";
    case RG_ESIGINT: return "interrupted by SIGINT";
    default: return "unknown error";
    }
}
