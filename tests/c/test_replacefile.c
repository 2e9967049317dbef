/* Replacing a file all at once (src/replacefile.c): the temporary file
 * goes away on commit and abort, the replaced file keeps its mode, a link
 * keeps pointing at the replaced file, and devices, FIFOs and directories
 * are refused (renaming over /dev/null would replace the device). */
#include "check.h"
#include "refgraph/replacefile.h"
#include "refgraph/status.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/rg-replace-XXXXXX";

static const char *at(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.' || (e->d_name[1] != '\0' && strcmp(e->d_name, "..") != 0);
    if (d)
        closedir(d);
    return n;
}

static int write_text(const char *path, const char *text)
{
    rg_replace r;
    int st = rg_replace_open(&r, path);
    if (st != RG_OK)
        return st;
    if (write(r.fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        rg_replace_abort(&r);
        return RG_EIO;
    }
    return rg_replace_commit(&r);
}

static void read_text(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t k = f ? fread(buf, 1, n - 1, f) : 0;
    buf[k] = '\0';
    if (f)
        fclose(f);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    char buf[64];
    /* A new file, then over it: its mode kept, no temporary left. */
    CHECK(write_text(at("a.rgsnap"), "one") == RG_OK);
    CHECK(chmod(at("a.rgsnap"), 0600) == 0);
    CHECK(write_text(at("a.rgsnap"), "two") == RG_OK);
    read_text(at("a.rgsnap"), buf, sizeof buf);
    CHECK_STR(buf, "two");
    struct stat st;
    CHECK(stat(at("a.rgsnap"), &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(entries() == 1);
    /* Through a link: the target is replaced, the link stays a link. */
    char target[256];
    snprintf(target, sizeof target, "%s", at("a.rgsnap"));
    CHECK(symlink(target, at("link.rgsnap")) == 0);
    CHECK(write_text(at("link.rgsnap"), "three") == RG_OK);
    CHECK(lstat(at("link.rgsnap"), &st) == 0 && S_ISLNK(st.st_mode));
    read_text(at("a.rgsnap"), buf, sizeof buf);
    CHECK_STR(buf, "three");
    CHECK(entries() == 2);
    /* Abort: nothing new, the old file untouched. */
    rg_replace r;
    CHECK(rg_replace_open(&r, at("a.rgsnap")) == RG_OK);
    CHECK(write(r.fd, "partial", 7) == 7);
    rg_replace_abort(&r);
    read_text(at("a.rgsnap"), buf, sizeof buf);
    CHECK_STR(buf, "three");
    CHECK(entries() == 2);
    /* Not regular files: refused, left alone. */
    CHECK(rg_replace_open(&r, "/dev/null") == RG_ENOTREG && errno == EINVAL);
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(mkfifo(at("fifo"), 0600) == 0);
    CHECK(rg_replace_open(&r, at("fifo")) == RG_ENOTREG);
    CHECK(rg_replace_open(&r, dir) == RG_ENOTREG && errno == EISDIR);
    CHECK(symlink("/dev/null", at("null-link")) == 0);
    CHECK(rg_replace_open(&r, at("null-link")) == RG_ENOTREG);
    /* A missing directory: RG_EIO, errno ENOENT. */
    CHECK(rg_replace_open(&r, at("no/such/file")) == RG_EIO && errno == ENOENT);
    CHECK(entries() == 4);
    unlink(at("a.rgsnap"));
    unlink(at("link.rgsnap"));
    unlink(at("fifo"));
    unlink(at("null-link"));
    rmdir(dir);
    return check_result("test_replacefile");
}
