/* Reads text logs backwards from their end in fixed chunks and hands complete lines newest
 * first, so the last minutes of a 1 GB log cost what those minutes weigh, in one buffer. */
#define _GNU_SOURCE /* memrchr */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagnose/nginx_log.h"
#include "rollgate/util.h"

#define PREFETCH (1024 * 1024) /* asked of the kernel ahead of the reads, backwards */

struct tail {
    char *buf; /* RG_LOGTAIL_CHUNK + RG_LOGTAIL_LINE_MAX + 1 bytes */
    int (*fn)(const char *line, size_t len, void *data);
    void *data;
    struct rg_logtail_stats *st;
    size_t budget; /* bytes that may still be read; SIZE_MAX without a bound */
    bool done;     /* stopped by the callback or the budget: no further file */
};

static bool
is_compressed(const char *path)
{
    size_t n = strlen(path);

    return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

/* Hands buf[s, e) to the callback. cut says the line was already cut while it was read.
 * Returns 1 when the callback asks to stop. */
static int
emit(struct tail *t, size_t s, size_t e, bool cut)
{
    size_t len = e - s;

    if (len > RG_LOGTAIL_LINE_MAX) {
        len = RG_LOGTAIL_LINE_MAX;
        cut = true;
    } else if (len > 0 && t->buf[s + len - 1] == '\r') {
        len--;
    }
    if (len == 0)
        return 0;
    /* The byte after the line is its newline (already consumed) or its cut tail. */
    t->buf[s + len] = '\0';
    t->st->lines++;
    if (cut)
        t->st->lines_truncated++;
    if (t->fn(t->buf + s, len, t->data)) {
        t->st->stopped = true;
        t->done = true;
        return 1;
    }
    return 0;
}

/* Reads all n bytes at off; a short count means the file shrank under us. */
static int
read_at(size_t *got_out, int fd, char *p, size_t n, off_t off, const char *path, struct rg_err *err)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return rg_err_sys(err, RG_EIO, "cannot read '%s'", path);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *got_out = got;
    return 0;
}

/* One file, from its end to its start (or until told to stop). Invariant between reads:
 * buf[0, carry) holds the start of the line that continues past it, without a newline, at
 * most RG_LOGTAIL_LINE_MAX bytes (the rest of a longer line is dropped: its start is what
 * a parser needs). */
static int
tail_file(struct tail *t, int fd, off_t size, const char *path, struct rg_err *err)
{
    off_t pos = size;
    size_t carry = 0;
    bool carry_cut = false;
    int rc = 0;

    while (pos > 0) {
        size_t n = (size_t)(pos % RG_LOGTAIL_CHUNK), got = 0, e;
        char *nl;

        if (n == 0)
            n = RG_LOGTAIL_CHUNK; /* later reads are chunk-aligned */
        if (n > t->budget)
            n = t->budget;
        if (n == 0) {
            t->st->cut = true;
            t->done = true;
            return 0;
        }
        if (pos > PREFETCH && pos % PREFETCH == 0)
            posix_fadvise(fd, pos - PREFETCH, PREFETCH, POSIX_FADV_WILLNEED);
        memmove(t->buf + n, t->buf, carry);
        if ((rc = read_at(&got, fd, t->buf, n, pos - (off_t)n, path, err)) < 0)
            return rc;
        t->st->bytes_read += got;
        t->budget -= got;
        if (got < n) {
            t->st->shrunk = true;
            return 0;
        }
        pos -= (off_t)n;
        e = n + carry;
        /* The file's last bytes without a newline are a line still being written: hand it
         * too, a parser refuses it if it is incomplete. Lines end at e, newest first. */
        while ((nl = memrchr(t->buf, '\n', e <= n ? e : n)) != NULL) {
            size_t s = (size_t)(nl - t->buf) + 1;
            if (emit(t, s, e, carry_cut))
                return 0;
            e = s - 1;
            carry_cut = false;
        }
        carry = e;
        if (carry > RG_LOGTAIL_LINE_MAX) {
            carry = RG_LOGTAIL_LINE_MAX;
            carry_cut = true;
        }
    }
    if (carry > 0)
        emit(t, 0, carry, carry_cut);
    return 0;
}

int
rg_logtail_read(struct rg_logtail_stats *out, const char *const *paths, size_t max_bytes,
                int (*fn)(const char *line, size_t len, void *data), void *data, struct rg_err *err)
{
    struct tail t = {.fn = fn, .data = data, .st = out, .budget = max_bytes ? max_bytes : SIZE_MAX};
    int fd = -1, rc = 0;

    memset(out, 0, sizeof(*out));
    t.buf = rg_malloc(RG_LOGTAIL_CHUNK + RG_LOGTAIL_LINE_MAX + 1);
    for (size_t i = 0; paths[i] && !t.done; i++) {
        struct stat st;

        if (is_compressed(paths[i])) {
            out->files_compressed++;
            continue;
        }
        if ((fd = open(paths[i], O_RDONLY | O_CLOEXEC)) < 0) {
            if (errno == ENOENT && i > 0) {
                out->files_missing++;
                continue;
            }
            rc =
                rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot open '%s'", paths[i]);
            goto out;
        }
        if (fstat(fd, &st) < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot stat '%s'", paths[i]);
            goto out;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = rg_err_set(err, RG_EINVAL, "'%s' is not a regular file", paths[i]);
            goto out;
        }
        out->files_read++;
        if ((rc = tail_file(&t, fd, st.st_size, paths[i], err)) < 0)
            goto out;
        close(fd);
        fd = -1;
    }
out:
    if (fd >= 0)
        close(fd);
    free(t.buf);
    return rc;
}
