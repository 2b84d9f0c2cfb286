/* Reading pg_dump's custom format (the archive `pg_dump -Fc` writes): the header, the table of
 * contents, and a walk over the data blocks that follow it. Enough to load table data over
 * several connections (pg_load.c); everything else stays pg_restore's job.
 *
 * Works on the dump in memory, or on a window over it as it streams out of a backup archive;
 * either way every length is checked against what is there: a dump is data from a backup
 * archive, and an archive is untrusted until restored. Formats this
 * reader does not know (other versions, compressed data) are reported as such, and the caller
 * leaves the whole dump to pg_restore. */
#ifndef ROLLGATE_BACKUP_PGDUMP_FORMAT_H
#define ROLLGATE_BACKUP_PGDUMP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"

/* pg_dump's sections, with pg_dump's numbers. */
enum pgd_section { PGD_SECTION_NONE = 1, PGD_SECTION_PRE_DATA, PGD_SECTION_DATA,
                   PGD_SECTION_POST_DATA };

/* Data block types. */
enum { PGD_BLOCK_DATA = 1, PGD_BLOCK_BLOBS = 3 };

struct pgd_entry {
    int id;             /* pg_dump's dump id, > 0 */
    bool has_data;      /* a data block belongs to it */
    int section;        /* enum pgd_section */
    char *desc;         /* "TABLE DATA", "INDEX", ... */
    char *tag;          /* the object's name */
    char *nspace;       /* schema, "" when none */
    char *copy_stmt;    /* "COPY s.t (cols) FROM stdin;\n" for table data, "" otherwise */
};

struct pgd_toc {
    int vmaj, vmin, vrev;  /* archive format version, e.g. 1.14.0 (PostgreSQL 12 to 15) */
    int int_size, off_size;
    bool compressed;       /* data blocks are compressed: this reader cannot walk them */
    char unsupported[128]; /* why the dump is left to pg_restore; "" when this can read it */
    char encoding[64];     /* the dump's client encoding from its ENCODING entry, "" if none */
    bool std_strings_off;  /* its STDSTRINGS entry sets standard_conforming_strings off */
    struct pgd_entry *entries;
    size_t n;
    struct pgd_entry **by_id; /* the entries sorted by id, for pgd_toc_find */
    size_t data_start;     /* offset of the first data block */
};

/* Reads the header and table of contents of a custom-format dump of len bytes at p. A dump this
 * reader does not handle (not the custom format, an archive version outside 1.12 to 1.16) is not
 * an error: 0 with toc->unsupported saying why, and nothing else read. RG_EINVAL
 * "pg_dump archive: <what> at offset N" for a malformed one. */
int pgd_toc_read(struct pgd_toc *toc, const uint8_t *p, size_t len, struct rg_err *err);
/* The same on what may be only the start of a dump: on RG_EINVAL *need_more says whether the
 * error is only that the bytes ended (more of the dump may read fine). */
int pgd_toc_read_prefix(struct pgd_toc *toc, const uint8_t *p, size_t len, bool *need_more,
                        struct rg_err *err);
void pgd_toc_release(struct pgd_toc *toc);

/* The entry with dump id id, or NULL. */
const struct pgd_entry *pgd_toc_find(const struct pgd_toc *toc, int id);

/* Whether entry e is table data that a plain COPY FROM STDIN can load: a TABLE DATA entry with a
 * data block and one statement "COPY <name> [(<columns>)] FROM stdin;\n" with no quote, comment,
 * newline or ';' outside double-quoted names. */
bool pgd_entry_copyable(const struct pgd_entry *e);

/* A walk over the data blocks (uncompressed dumps only). */
struct pgd_cursor {
    const uint8_t *p;
    size_t len, pos;
    int int_size;
};

void pgd_cursor_init(struct pgd_cursor *c, const struct pgd_toc *toc, const uint8_t *p,
                     size_t len);

/* The next block's header: 1 with *type and *id, 0 at the end of the dump, <0 on a malformed
 * one. The block's contents follow: read them with pgd_next_chunk (PGD_BLOCK_DATA) or skip them
 * with pgd_skip_block (any type this reader knows). */
int pgd_next_block(struct pgd_cursor *c, int *type, int *id, struct rg_err *err);

/* The next chunk of the current data block: 1 with *data and *n (n > 0), 0 at the block's end
 * (the cursor is then at the next block), <0 on a malformed or truncated one. */
int pgd_next_chunk(struct pgd_cursor *c, const uint8_t **data, size_t *n, struct rg_err *err);

/* Skips the contents of a block of the given type; RG_EINVAL for a type this reader does not
 * know (it could not tell where the block ends). */
int pgd_skip_block(struct pgd_cursor *c, int type, struct rg_err *err);

/* ---- the same walk over a dump read once from a stream (a backup being decompressed) ----
 * A window over the input grows to hold the table of contents and the biggest chunk; the
 * pointers handed out stay valid until the next call. A tee copies consumed bytes, as they
 * are, to a file: a dump of only the parts the caller does not take itself. */

/* Reads up to cap bytes into buf: *got 0 at the end; <0 with err set on failure. */
typedef int (*pgd_read_fn)(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err);

struct pgd_stream {
    pgd_read_fn read;
    void *ctx;
    struct rg_err *err; /* where every failure is described */
    uint8_t *buf;
    size_t cap, pos, end; /* buf[pos, end) is read and not yet consumed */
    uint64_t base;        /* the dump offset of buf[0] */
    bool eof;
    int int_size;
    int tee_fd;           /* -1: none */
    size_t tee_from;      /* buf[tee_from, pos) is consumed but not yet teed */
    uint8_t hdr[2 + 8];   /* the last block header, as read */
    size_t hdr_len;
};

void pgd_stream_init(struct pgd_stream *s, pgd_read_fn read, void *ctx, struct rg_err *err);
void pgd_stream_release(struct pgd_stream *s);
/* pgd_toc_read on the stream's first bytes; on success the header and table of contents are
 * buf[0, toc->data_start) and consumed (pos == data_start), unless toc->unsupported. */
int pgd_stream_read_toc(struct pgd_stream *s, struct pgd_toc *toc);
/* As pgd_next_block, pgd_next_chunk and pgd_skip_block, offsets in messages counted from the
 * dump's start. A chunk is whole in the window, at *data. */
int pgd_stream_next_block(struct pgd_stream *s, int *type, int *id);
int pgd_stream_next_chunk(struct pgd_stream *s, const uint8_t **data, size_t *n);
int pgd_stream_skip_block(struct pgd_stream *s, int type);
/* Copies the block whose header was just read to fd: the header, then every byte consumed
 * from here on; fd -1 stops (after writing what the previous tee still held). */
int pgd_stream_tee_block(struct pgd_stream *s, int fd);
/* Writes the dump's first len bytes (still in the window: only before anything past the table
 * of contents was read) to fd. */
int pgd_stream_write_head(struct pgd_stream *s, int fd, size_t len);
/* Writes the whole dump, from its first byte to the end of the input, to fd. */
int pgd_stream_copy_all(struct pgd_stream *s, int fd);

/* Whether a chunk is the end-of-data marker pg_dump appends to COPY data ("\." then newlines). */
bool pgd_chunk_is_copy_end(const uint8_t *data, size_t n);

#endif
