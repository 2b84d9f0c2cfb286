/* libFuzzer target: the reader of pg_dump's custom format, which the parallel restore points at
 * the dump inside an untrusted backup archive. The table of contents is read; when this reader
 * takes the dump, every data block is walked the way the loader walks them (chunks of copyable
 * table data read, every other block skipped) up to the end or the first error. */
#include <stdint.h>
#include <stdlib.h>

#include "backup/pgdump_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const struct pgd_toc *toc, const uint8_t *data, size_t size)
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
        walk(&toc, data, size);
    }
    pgd_toc_release(&toc);
    return 0;
}
