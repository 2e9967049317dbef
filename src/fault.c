/* The failure counters behind refgraph/alloc.h (fault-injection builds). */
#include "config.h"
#ifdef RG_FAULT_INJECTION
#include <stdint.h>
#include <string.h>
#include "refgraph/alloc.h"

/* An allocation site: __FILE__ and __LINE__ of an allocating call. */
typedef struct fault_site {
    const char *file;   /* NULL: a free slot */
    int line;
    long count;         /* allocations made here since the last arming */
    long first;         /* the overall number of the first of them */
} fault_site;

/* refgraph has a few hundred allocating calls: a fixed open-addressing
 * table keeps the counter free of allocations of its own.  Sites past its
 * capacity are counted overall but not by site. */
#define SITE_SLOTS 4096u
static fault_site sites[SITE_SLOTS];
static uint16_t site_order[SITE_SLOTS];   /* slots, in order of first use */
static size_t site_used;

static long fault_at;      /* the allocation that fails, counting from 1; 0: none */
static long fault_count;   /* allocations counted since the last arming */
static const char *fault_file;   /* with fault_line and fault_nth: the site's allocation that fails */
static int fault_line;
static long fault_nth;

static void forget(void)
{
    memset(sites, 0, sizeof sites);
    site_used = 0;
    fault_count = 0;
    fault_at = 0;
    fault_file = NULL;
}

void rg_fault_arm(long k)
{
    forget();
    fault_at = k > 0 ? k : 0;
}

void rg_fault_arm_site(const char *file, int line, long n)
{
    /* A copy: the caller's string (a Python str's buffer) may go. */
    static char file_copy[1024];
    forget();
    if (file != NULL && n >= 1 && strlen(file) < sizeof file_copy) {
        strcpy(file_copy, file);
        fault_file = file_copy;
        fault_line = line;
        fault_nth = n;
    }
}

static int same_file(const char *a, const char *b)
{
    return a == b || strcmp(a, b) == 0;
}

/* The site's slot, taken on first use; NULL when the table is full. */
static fault_site *site_slot(const char *file, int line)
{
    /* Hash the name's characters, not its address: one file's __FILE__
     * literals need not share an address. */
    uint32_t h = 2166136261u ^ (uint32_t)line;
    for (const char *c = file; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    for (uint32_t probe = 0; probe < SITE_SLOTS; probe++) {
        fault_site *s = &sites[(h + probe) & (SITE_SLOTS - 1)];
        if (s->file == NULL) {
            if (site_used >= SITE_SLOTS - 1)
                return NULL;
            s->file = file;
            s->line = line;
            site_order[site_used++] = (uint16_t)(s - sites);
            return s;
        }
        if (s->line == line && same_file(s->file, file))
            return s;
    }
    return NULL;
}

int rg_fault_now(const char *file, int line)
{
    fault_count++;
    fault_site *s = site_slot(file, line);
    if (s != NULL && s->count++ == 0)
        s->first = fault_count;
    if (fault_at > 0 && fault_count == fault_at)
        return 1;
    return fault_file != NULL && s != NULL && s->count == fault_nth && s->line == fault_line &&
           same_file(s->file, fault_file);
}

long rg_fault_count(void)
{
    return fault_count;
}

int rg_fault_site(size_t i, const char **file, int *line, long *count, long *first)
{
    if (i >= site_used)
        return 0;
    const fault_site *s = &sites[site_order[i]];
    *file = s->file;
    *line = s->line;
    *count = s->count;
    *first = s->first;
    return 1;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int rg_fault_injection_disabled;
#endif
