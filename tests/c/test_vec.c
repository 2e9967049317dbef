#include "check.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"
#include "refgraph/bigmem.h"

#include <string.h>

#include <stdint.h>
#include <stdlib.h>
#ifdef __linux__
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

typedef struct pair {
    int a;
    double b;
} pair;

#if defined(__linux__) && defined(MAP_FIXED_NOREPLACE) && !defined(__SANITIZE_ADDRESS__)
/* The process's address space in bytes (VmSize), or 0. */
static size_t address_space(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
            break;
    }
    if (f != NULL)
        fclose(f);
    return kib * 1024;
}

/* Under an address-space limit with room for a plain move and not for an
 * aligned one (which maps the new range beside the old first), a block
 * that must move still grows.  In a child: the limit stays there. */
static void check_growth_under_an_address_space_limit(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        size_t mib = (size_t)1 << 20;
        unsigned char *block = rg_big_alloc(64 * mib - 16);   /* a mapping of 64 MiB, its header included */
        if (block == NULL)
            _exit(2);
        memset(block, 0x33, 64 * mib - 16);
        if (mmap(block - 16 + 64 * mib, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
            MAP_FAILED)
            _exit(3);
        struct rlimit lim = {address_space() + 80 * mib, RLIM_INFINITY};
        lim.rlim_max = lim.rlim_cur;
        if (setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(4);
        unsigned char *grown = rg_big_realloc(block, 127 * mib);
        if (grown == NULL)
            _exit(5);
        _exit(grown[0] == 0x33 && grown[64 * mib - 17] == 0x33 ? 0 : 6);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
#endif

int main(void)
{
    /* Pointers, growing from the first capacity by doubling. */
    static char text[100];
    char **items = NULL;
    size_t len = 0, cap = 0;
    int st = RG_OK;
    for (int i = 0; i < 100 && st == RG_OK; i++)
        st = RG_VEC_PUSH(items, len, cap, 4, &text[i]);
    CHECK(st == RG_OK && len == 100 && cap == 128);
    int in_order = 1;
    for (int i = 0; i < 100; i++)
        in_order &= items[i] == &text[i];
    CHECK(in_order);
    free(items);

    /* Structs; growing to a size sets the capacity without a length. */
    pair *pairs = NULL;
    size_t n = 0, room = 0;
    CHECK(rg_vec_grow((void **)&pairs, &room, 0, sizeof *pairs, 0) == RG_OK && pairs == NULL);
    CHECK(rg_vec_grow((void **)&pairs, &room, 17, sizeof *pairs, 0) == RG_OK && room == 32);
    CHECK(RG_VEC_PUSH(pairs, n, room, 0, ((pair){7, 0.5})) == RG_OK);
    CHECK(n == 1 && pairs[0].a == 7 && pairs[0].b == 0.5);
    /* An impossible size fails and leaves the array as it was. */
    pair *before = pairs;
    CHECK(rg_vec_grow((void **)&pairs, &room, SIZE_MAX / 2, sizeof *pairs, 0) == RG_ENOMEM);
    CHECK(pairs == before && room == 32 && n == 1 && pairs[0].a == 7);
    free(pairs);

    /* bigmem.h: small blocks (malloc) and large ones (a mapping), contents
     * kept across every kind of resize, calloc's zeroes. */
    CHECK(rg_big_calloc(SIZE_MAX / 4, 8) == NULL);
    rg_big_free(NULL);
    size_t sizes[] = {1, 4000, (size_t)1 << 20, 3u << 20, 100, (size_t)9 << 20, 16};
    unsigned char *block = rg_big_calloc(1, 1);
    CHECK(block != NULL && block[0] == 0);
    block[0] = 1;
    size_t have = 1;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t want = sizes[k];
        unsigned char *moved = rg_big_realloc(block, want);
        CHECK(moved != NULL);
        if (moved == NULL)
            break;
        block = moved;
        int kept = 1;
        for (size_t i = 0; i < (have < want ? have : want); i++)
            kept &= block[i] == (unsigned char)(i * 7 + 1);
        CHECK(kept);
        for (size_t i = 0; i < want; i++)
            block[i] = (unsigned char)(i * 7 + 1);
        have = want;
    }
    rg_big_free(block);
    unsigned char *zeroes = rg_big_calloc((size_t)5 << 20, 1);
    CHECK(zeroes != NULL && zeroes[0] == 0 && zeroes[((size_t)5 << 20) - 1] == 0);
    rg_big_free(zeroes);
    /* RG_BIG_PUSH grows across the mapping threshold. */
    uint32_t *many = NULL;
    size_t many_n = 0, many_cap = 0;
    st = RG_OK;
    for (uint32_t i = 0; i < 600000 && st == RG_OK; i++)
        st = RG_BIG_PUSH(many, many_n, many_cap, 0, i);
    CHECK(st == RG_OK && many_n == 600000 && many[0] == 0 && many[599999] == 599999);
    CHECK(rg_big_grow((void **)&many, &many_cap, SIZE_MAX / 2, sizeof *many, 0) == RG_ENOMEM && many_cap >= many_n);
    rg_big_free(many);
#if defined(__linux__) && defined(MAP_FIXED_NOREPLACE)
    /* A mapped block starts on a 2 MiB boundary (its 16-byte header
     * first), where a huge page can back it, and stays on one when it
     * grows: here the address space right after it is taken, so it must
     * move. */
    const uintptr_t huge = (uintptr_t)2 << 20;
    unsigned char *aligned = rg_big_alloc((size_t)3 << 20);
    CHECK(aligned != NULL && ((uintptr_t)aligned - 16) % huge == 0);
    memset(aligned, 0x5a, (size_t)3 << 20);
    void *wall = mmap(aligned - 16 + ((size_t)4 << 20), 4096, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(wall != MAP_FAILED);
    unsigned char *grown = rg_big_realloc(aligned, (size_t)9 << 20);
    CHECK(grown != NULL && grown != aligned && ((uintptr_t)grown - 16) % huge == 0);
    CHECK(grown != NULL && grown[0] == 0x5a && grown[((size_t)3 << 20) - 1] == 0x5a);
    rg_big_free(grown != NULL ? grown : aligned);
    if (wall != MAP_FAILED)
        munmap(wall, 4096);
#endif
#if defined(__linux__) && defined(MAP_FIXED_NOREPLACE) && !defined(__SANITIZE_ADDRESS__)
    check_growth_under_an_address_space_limit();
#endif
    return check_result("test_vec");
}
