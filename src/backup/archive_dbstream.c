/* The second read of a verified archive: its database dump streamed to a restore, so that the
 * dump is never written out whole. The verification pass hashed every byte; this pass reads the
 * same file, which must not have changed in between (same inode, size, modification and change
 * time when the stream opens and when it ends: any write moves the change time, and userland
 * cannot set it back), and the database members must add up to the size verified. The kernel
 * takes those times from a clock of a few milliseconds' resolution, so a write in the same tick
 * as the one before verification began would go unseen: only a writer still busy with the file
 * as the restore starts could do that, and a finished backup has none. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup/archive_internal.h"
#include "rollgate/util.h"

#define STREAM_READ_BUF (1 << 20)

struct rg_archive_dbstream {
    char *path;
    int fd;
    struct archive *a;
    enum rg_archive_kind kind;
    struct rg_archive_file_id id;
    const char *stem; /* a rollgate backup's part names: "database.dump", ".sql", ".sqlite" */
    size_t next_part;
    uint64_t want, got; /* the dump's verified size, and what was read of it */
    bool in_member;     /* a database member is being read */
    bool done;
};

static bool
same_file(const struct rg_archive_file_id *a, const struct rg_archive_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static int
changed(const struct rg_archive_dbstream *s, struct rg_err *err)
{
    return rg_err_set(err, RG_EINVAL, "backup '%s' changed after it was verified: restore it "
                      "again", s->path);
}

static int
still_same(const struct rg_archive_dbstream *s, struct rg_err *err)
{
    struct rg_archive_file_id now;
    struct stat st;

    if (fstat(s->fd, &st) < 0)
        return rg_err_sys(err, RG_EIO, "cannot stat backup '%s'", s->path);
    ar_file_id(&now, &st);
    return same_file(&now, &s->id) ? 0 : changed(s, err);
}

static int
broken(const struct rg_archive_dbstream *s, struct rg_err *err)
{
    const char *why = archive_error_string(s->a);

    return rg_err_set(err, RG_EINVAL, "backup '%s' is truncated or corrupt: %s", s->path,
                      why ? why : "unexpected end");
}

/* Whether the member is the next piece of the database. */
static bool
is_db_member(struct rg_archive_dbstream *s, const char *name)
{
    char want[64];

    switch (s->kind) {
    case RG_ARCHIVE_ROLLGATE:
        snprintf(want, sizeof(want), "%s.%06zu", s->stem, s->next_part);
        if (!name || strcmp(name, want) != 0)
            return false;
        s->next_part++;
        return true;
    case RG_ARCHIVE_ODOO_ZIP:
        return name && strcmp(name, "dump.sql") == 0;
    case RG_ARCHIVE_PLAIN_SQL:
    default:
        return true;
    }
}

int
rg_archive_dbstream_open(struct rg_archive_dbstream **out, const char *path,
                         const struct rg_archive_info *verified, struct rg_err *err)
{
    struct rg_archive_dbstream *s = rg_calloc(1, sizeof(*s));
    enum rg_archive_kind kind;
    bool gz;
    int rc;

    *out = NULL;
    s->path = rg_strdup(path);
    s->fd = -1;
    s->want = verified->manifest.db_size;
    s->stem = ar_db_stem(verified->manifest.db_format);
    if (!s->stem)
        s->stem = "database.sql";
    if ((rc = ar_open_archive(&s->fd, &kind, &gz, &s->id, path, err)) < 0)
        goto fail;
    s->kind = kind;
    if (kind != verified->kind || !same_file(&s->id, &verified->file_id)) {
        rc = changed(s, err);
        goto fail;
    }
    if ((rc = ar_reader_new(&s->a, kind, gz, path, err)) < 0)
        goto fail;
    if (archive_read_open_fd(s->a, s->fd, STREAM_READ_BUF) != ARCHIVE_OK) {
        rc = broken(s, err);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    rg_archive_dbstream_close(s);
    return rc;
}

/* Moves to the next database member; false (with *rc) when there is none or on an error. */
static bool
next_member(struct rg_archive_dbstream *s, int *rc, struct rg_err *err)
{
    struct archive_entry *e;

    for (;;) {
        int r = archive_read_next_header(s->a, &e);
        if (r == ARCHIVE_EOF) {
            *rc = 0;
            return false;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            *rc = broken(s, err);
            return false;
        }
        if (is_db_member(s, archive_entry_pathname(e)))
            return true;
        /* Only a rollgate backup's members come in a known order: its database parts first,
         * so the first other member ends the database. */
        if (s->kind == RG_ARCHIVE_ROLLGATE && s->next_part > 0) {
            *rc = 0;
            return false;
        }
    }
}

int
rg_archive_dbstream_read(struct rg_archive_dbstream *s, void *buf, size_t cap, size_t *got,
                         struct rg_err *err)
{
    char a[32], b[32];
    int rc = 0;

    *got = 0;
    while (!s->done) {
        la_ssize_t k;

        if (!s->in_member) {
            if (!next_member(s, &rc, err)) {
                if (rc < 0)
                    return rc;
                s->done = true;
                break;
            }
            s->in_member = true;
        }
        k = archive_read_data(s->a, buf, cap);
        if (k == ARCHIVE_WARN)
            continue;
        if (k < 0)
            return broken(s, err);
        if (k == 0) {
            s->in_member = false;
            continue;
        }
        s->got += (uint64_t)k;
        if (s->got > s->want)
            break;
        *got = (size_t)k;
        return 0;
    }
    s->done = true;
    /* A changed file explains any difference best: that is checked first. */
    if ((rc = still_same(s, err)) < 0)
        return rc;
    if (s->got != s->want)
        return rg_err_set(err, RG_EINVAL, "backup '%s': the database has %s bytes now, %s when it "
                          "was verified", s->path,
                          (snprintf(a, sizeof(a), "%llu", (unsigned long long)s->got), a),
                          (snprintf(b, sizeof(b), "%llu", (unsigned long long)s->want), b));
    return 0;
}

void
rg_archive_dbstream_close(struct rg_archive_dbstream *s)
{
    if (!s)
        return;
    if (s->a)
        archive_read_free(s->a);
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}
