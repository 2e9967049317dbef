/* A tiny assertion helper for the C unit tests: each test file is one
 * program; CHECK records a failure and goes on, main returns the verdict. */
#ifndef REFGRAPH_TEST_CHECK_H
#define REFGRAPH_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

#define CHECK_STR(got, want)                                                   \
    do {                                                                       \
        const char *got_ = (got), *want_ = (want);                             \
        if (got_ == NULL || strcmp(got_, want_) != 0) {                        \
            fprintf(stderr, "%s:%d: got \"%s\"\n    want \"%s\"\n", __FILE__, __LINE__, \
                    got_ ? got_ : "(null)", want_);                            \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                            \
    do {                                                                       \
        const char *hay_ = (hay), *needle_ = (needle);                         \
        if (hay_ == NULL || strstr(hay_, needle_) == NULL) {                   \
            fprintf(stderr, "%s:%d: \"%s\" not found in:\n%s\n", __FILE__, __LINE__, needle_, \
                    hay_ ? hay_ : "(null)");                                   \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

/* A reproducible pseudo-random sequence (xorshift64) for the tests. */
static inline unsigned long long check_rand(void)
{
    static unsigned long long state = 88172645463325252ULL;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static inline int check_result(const char *name)
{
    if (check_failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    return check_failures ? 1 : 0;
}

#endif
