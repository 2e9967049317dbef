/* Numbers as Python shows them, without Python (src/numtext.c): a
 * snapshot keeps a float's or an int's bits and makes its text when it is
 * shown, in any process, by these rules.  Plain C. */
#ifndef REFGRAPH_NUMTEXT_H
#define REFGRAPH_NUMTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any text below, its NUL included. */
#define RG_NUMTEXT_MAX 32

/* repr(x) for a float: the shortest digits that read back as x (the
 * nearest to x among them), as CPython's repr: "0.1", "1e+16", "1e-05",
 * "100.0", "-0.0", "inf", "nan".  Writes a NUL-terminated text to out
 * (RG_NUMTEXT_MAX bytes) and returns its length.  The decimal point is
 * '.' whatever the locale. */
size_t rg_double_repr(double x, char *out);

/* repr(v) for an int: its decimal digits.  As rg_double_repr. */
size_t rg_int64_repr(int64_t v, char *out);

#endif
