/* Numbers as Python shows them (refgraph/numtext.h).  Plain C.
 *
 * A float's repr is CPython's short repr (Python/pystrtod.c, mode 0 of
 * dtoa): the fewest significant digits that read back as the same double;
 * where several such texts have that many digits, the nearest to x.  For
 * each count of digits from 1 to 17, the nearest decimal of that many
 * digits is printf's "%.*e"; if it does not read back as x, only its two
 * neighbours in the last digit can (any other is further from x on the
 * same side); away from powers of two only the nearest can, and three
 * lengths are enough (shortest()).  Then the layout: exponent form where the decimal point
 * would fall more than 16 digits right or 4 left of the first digit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* newlocale, uselocale */
#endif
#include "refgraph/numtext.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* printf and strtod in the "C" locale's numbers (a '.'), made once; the
 * program's own locale is put back after each number. */
static locale_t c_numbers;
static pthread_once_t c_numbers_once = PTHREAD_ONCE_INIT;

static void make_c_numbers(void)
{
    c_numbers = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

typedef struct decimal {
    char digits[24];   /* significant digits, the first non-zero */
    int k;             /* how many */
    int exp10;         /* x = d.ddd * 10^exp10 */
} decimal;

/* The k-digit decimal nearest a (> 0). */
static void nearest(double a, int k, decimal *d)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.*e", k - 1, a);
    char *e = strchr(buf, 'e');
    d->k = 0;
    for (char *p = buf; p < e; p++) {
        if (*p >= '0' && *p <= '9')
            d->digits[d->k++] = *p;
    }
    d->digits[d->k] = '\0';
    d->exp10 = atoi(e + 1);
}

static int reads_back_as(const decimal *d, double a)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%c.%se%d", d->digits[0], d->digits + 1, d->exp10);
    return strtod(buf, NULL) == a;
}

/* d one unit of its last digit up (up) or down, still k digits; 0 when
 * there is no such decimal (down from 1, 0.1...). */
static int step(decimal *d, int up)
{
    int i = d->k - 1;
    if (up) {
        while (i >= 0 && d->digits[i] == '9')
            d->digits[i--] = '0';
        if (i >= 0) {
            d->digits[i]++;
            return 1;
        }
        d->digits[0] = '1';   /* 999 + 1 = 1000: 100 and one more power of ten */
        d->exp10++;
        return 1;
    }
    while (i >= 0 && d->digits[i] == '0')
        d->digits[i--] = '9';
    if (i < 0)
        return 0;
    d->digits[i]--;
    if (d->digits[0] != '0')
        return 1;
    if (d->k == 1)
        return 0;
    memmove(d->digits, d->digits + 1, (size_t)d->k - 1);   /* 1000 - 1 = 0999: 999 and one power less */
    d->digits[d->k - 1] = '9';
    d->exp10--;
    return 1;
}

/* The shortest decimal that reads back as a (> 0, finite). */
static void shortest(double a, decimal *d)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    if ((bits & ((1ULL << 52) - 1)) != 0 && (bits >> 52 & 0x7ff) != 0) {
        /* Normal, not a power of two: the doubles either side are as far away, so
         * no decimal reads back as a unless the nearest one of its length
         * does.  A decimal of 15 digits or fewer that reads back as a is
         * within 2^-53 of it, nearer than any other 15-digit decimal: the
         * nearest 15 digits are it, with zeros after (DBL_DIG).  So: 15
         * digits, else 16, else 17 (which always read back): one or two
         * printf and strtod, not one per length. */
        for (int k = 15; k <= 17; k++) {
            nearest(a, k, d);
            if (k == 17 || reads_back_as(d, a))
                return;
        }
    }
    /* A power of two: the double below is half as far as the one above,
     * and a decimal past the nearest may read back where it does not.  A
     * subnormal: fewer digits than 15 may be all it has. */
    for (int k = 1; k <= 17; k++) {
        nearest(a, k, d);
        if (reads_back_as(d, a))
            return;
        for (int up = 1; up >= 0; up--) {
            decimal n = *d;
            if (step(&n, up) && reads_back_as(&n, a)) {
                *d = n;
                return;
            }
        }
    }
    nearest(a, 17, d);   /* 17 digits always read back */
}

size_t rg_double_repr(double x, char *out)
{
    if (isnan(x))
        return (size_t)snprintf(out, RG_NUMTEXT_MAX, "nan");
    if (isinf(x))
        return (size_t)snprintf(out, RG_NUMTEXT_MAX, "%sinf", x < 0 ? "-" : "");
    if (x == 0)
        return (size_t)snprintf(out, RG_NUMTEXT_MAX, "%s0.0", signbit(x) ? "-" : "");
    pthread_once(&c_numbers_once, make_c_numbers);
    locale_t was = c_numbers != (locale_t)0 ? uselocale(c_numbers) : (locale_t)0;
    decimal d;
    shortest(fabs(x), &d);
    if (was != (locale_t)0)
        uselocale(was);
    int n = d.k;
    while (n > 1 && d.digits[n - 1] == '0')
        n--;
    int point = d.exp10 + 1;   /* digits before the decimal point */
    char *p = out;
    if (x < 0)
        *p++ = '-';
    if (point <= -4 || point > 16) {
        *p++ = d.digits[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, d.digits + 1, (size_t)n - 1);
            p += n - 1;
        }
        p += sprintf(p, "e%c%02d", d.exp10 < 0 ? '-' : '+', abs(d.exp10));
    } else if (point <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -point; i++)
            *p++ = '0';
        memcpy(p, d.digits, (size_t)n);
        p += n;
    } else if (point < n) {
        memcpy(p, d.digits, (size_t)point);
        p += point;
        *p++ = '.';
        memcpy(p, d.digits + point, (size_t)(n - point));
        p += n - point;
    } else {
        memcpy(p, d.digits, (size_t)n);
        p += n;
        for (int i = n; i < point; i++)
            *p++ = '0';
        *p++ = '.';
        *p++ = '0';
    }
    *p = '\0';
    return (size_t)(p - out);
}

size_t rg_int64_repr(int64_t v, char *out)
{
    return (size_t)snprintf(out, RG_NUMTEXT_MAX, "%lld", (long long)v);
}
