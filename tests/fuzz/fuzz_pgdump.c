/* libFuzzer target: the reader of pg_dump's custom format, which the parallel restore points at
 * the dump inside an untrusted backup archive. The table of contents is read; when this reader
 * takes the dump, every data block is walked the way the loader walks them (chunks of copyable
 * table data read, every other block skipped) up to the end or the first error. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/pgdump_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
walk(const struct pgd_toc *toc, const uint8_t *data, size_t size, size_t *chunks)
{
    struct pgd_cursor c;
    struct rg_err err;
    int type = 0, id = 0, rc;

    pgd_cursor_init(&c, toc, data, size);
    while ((rc = pgd_next_block(&c, &type, &id, &err)) > 0) {
        const struct pgd_entry *e = pgd_toc_find(toc, id);
        const uint8_t *chunk;
        size_t n;

        if (type == PGD_BLOCK_DATA && e && pgd_entry_copyable(e)) {
            while ((rc = pgd_next_chunk(&c, &chunk, &n, &err)) > 0) {
                /* A chunk is never empty and always inside the input. */
                if (n == 0 || chunk < data || (size_t)(chunk - data) > size - n)
                    abort();
                (void)pgd_chunk_is_copy_end(chunk, n);
                (*chunks)++;
            }
        } else {
            rc = pgd_skip_block(&c, type, &err);
        }
        if (rc < 0)
            break;
    }
    if ((rc == 0 && c.pos != size) || c.pos > size ||
        (rc < 0 && (err.code != RG_EINVAL || !err.msg[0])))
        abort();
    return rc;
}

struct src {
    const uint8_t *p;
    size_t len, pos, step;
};

static int
src_read(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err)
{
    struct src *s = ctx;
    size_t n = s->len - s->pos;

    (void)err;
    n = n < s->step ? n : s->step;
    n = n < cap ? n : cap;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    *got = n;
    return 0;
}

/* The same walk over a stream, in small reads, with every other block teed to /dev/null: it
 * must end as the walk in memory ends, having read the same chunks. */
static void
stream_walk(const uint8_t *data, size_t size, int want, size_t want_chunks)
{
    struct src src = {.p = data, .len = size, .step = 1 + size % 13};
    struct pgd_stream st;
    struct pgd_toc toc;
    struct rg_err err;
    const uint8_t *chunk;
    size_t n, chunks = 0;
    int type = 0, id = 0, rc;
    static int devnull = -1;

    if (devnull < 0)
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pgd_stream_init(&st, src_read, &src, &err);
    if (pgd_stream_read_toc(&st, &toc) != 0 || toc.unsupported[0] || toc.compressed)
        abort(); /* the walk in memory got past this */
    while ((rc = pgd_stream_next_block(&st, &type, &id)) > 0) {
        const struct pgd_entry *e = pgd_toc_find(&toc, id);

        if (type == PGD_BLOCK_DATA && e && pgd_entry_copyable(e)) {
            while ((rc = pgd_stream_next_chunk(&st, &chunk, &n)) > 0)
                chunks++;
        } else if ((rc = pgd_stream_tee_block(&st, devnull)) == 0 &&
                   (rc = pgd_stream_skip_block(&st, type)) == 0) {
            rc = pgd_stream_tee_block(&st, -1);
        }
        if (rc < 0)
            break;
    }
    if ((rc < 0) != (want < 0) || chunks != want_chunks ||
        (rc < 0 && (err.code != RG_EINVAL || strncmp(err.msg, "pg_dump archive: ", 17) != 0)))
        abort();
    pgd_toc_release(&toc);
    pgd_stream_release(&st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pgd_toc toc;
    struct rg_err err;

    if (pgd_toc_read(&toc, data, size, &err) < 0) {
        if (err.code != RG_EINVAL || !err.msg[0])
            abort();
        return 0;
    }
    if (!toc.unsupported[0] && !toc.compressed) {
        if (toc.data_start > size)
            abort();
        /* Ids may repeat: find answers the first entry with the id, never none. */
        for (size_t i = 0; i < toc.n; i++) {
            const struct pgd_entry *e = pgd_toc_find(&toc, toc.entries[i].id);

            if (!e || e->id != toc.entries[i].id || e > &toc.entries[i] || !e->desc || !e->tag ||
                !e->nspace || !e->copy_stmt)
                abort();
            (void)pgd_entry_copyable(e);
        }
        size_t chunks = 0;
        int rc = walk(&toc, data, size, &chunks);

        stream_walk(data, size, rc, chunks);
    }
    pgd_toc_release(&toc);
    return 0;
}
