/* Unit tests of the pg_dump custom-format reader: dumps built here field by field (every archive
 * version it reads, every way one can be cut short or damaged, with the exact message and
 * offset), and a real dump of the local PostgreSQL kept in tests/fixtures/pgdump. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/pgdump_format.h"
#include "rollgate/util.h"

/* ---- a writer of custom-format dumps that logs where each field lies ---- */

/* What a reader cut inside a field says: bytes of the header, an int (length, count, id, ...),
 * the bytes of a string, a data offset, a block's type byte, the bytes of a data chunk. */
enum fkind { F_BYTE, F_INT, F_STR, F_OFFSET, F_TYPE, F_CHUNK };

struct field {
    enum fkind kind;
    size_t start, end;
};

enum { W_CAP = 8192, W_FIELDS = 1024 };

struct w {
    uint8_t buf[W_CAP];
    size_t len;
    int vmin;            /* archive version 1.<vmin>.0: decides which fields an entry has */
    int int_size;
    struct field f[W_FIELDS];
    size_t nf;
    int64_t count;       /* the entry count as written */
    size_t count_end;    /* offset just past it */
    size_t data_start;   /* offset of the first data block */
    size_t id_end;       /* offsets just past the last entry's id and section */
    size_t section_end;
};

static struct w *
w_new(void)
{
    return rg_calloc(1, sizeof(struct w));
}

static void
w_raw(struct w *w, enum fkind kind, const void *p, size_t n)
{
    assert_true(n <= W_CAP - w->len);
    memcpy(w->buf + w->len, p, n);
    if (n > 0) {
        assert_true(w->nf < W_FIELDS);
        w->f[w->nf++] = (struct field){.kind = kind, .start = w->len, .end = w->len + n};
    }
    w->len += n;
}

static void
w_byte(struct w *w, int v)
{
    uint8_t b = (uint8_t)v;

    w_raw(w, F_BYTE, &b, 1);
}

/* pg_dump's int: a sign byte, then int_size bytes of the magnitude, least significant first. */
static void
w_int(struct w *w, int64_t v)
{
    uint8_t b[1 + 8];
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    b[0] = v < 0;
    for (int i = 0; i < w->int_size; i++)
        b[1 + i] = (uint8_t)(i < 8 ? m >> (8 * i) : 0);
    w_raw(w, F_INT, b, 1 + (size_t)w->int_size);
}

/* NULL is pg_dump's "no string", a length of -1. */
static void
w_str(struct w *w, const char *s)
{
    if (!s) {
        w_int(w, -1);
        return;
    }
    w_int(w, (int64_t)strlen(s));
    w_raw(w, F_STR, s, strlen(s));
}

/* A data offset: a flag byte (1: not set, as pg_dump to a pipe writes it) and 8 bytes. */
static void
w_offset(struct w *w)
{
    uint8_t b[9] = {1};

    w_raw(w, F_OFFSET, b, sizeof(b));
}

/* The header of archive version 1.vmin.0 with int_size bytes per int and 8 per offset. compression
 * is an int before 1.15, an algorithm byte since. */
static void
w_header_sized(struct w *w, int vmin, int format, int compression, int int_size)
{
    static const int64_t crtm[7] = {36, 4, 3, 21, 10, 126, 0};

    w->vmin = vmin;
    w->int_size = int_size;
    w_raw(w, F_BYTE, "PGDMP", 5);
    w_byte(w, 1);
    w_byte(w, vmin);
    w_byte(w, 0);
    w_byte(w, int_size);
    w_byte(w, 8);
    w_byte(w, format);
    if (vmin >= 15)
        w_byte(w, compression);
    else
        w_int(w, compression);
    for (int i = 0; i < 7; i++)
        w_int(w, crtm[i]);
    w_str(w, "rgtest");
    w_str(w, "15.18");
    w_str(w, "15.18");
}

static void
w_header(struct w *w, int vmin)
{
    w_header_sized(w, vmin, 1, 0, 4);
}

static void
w_count(struct w *w, int64_t count)
{
    w->count = count;
    w_int(w, count);
    w->count_end = w->len;
}

struct spec {
    int64_t id;
    int has_data;
    const char *tag, *desc;
    int64_t section;
    const char *defn, *copy, *nspace;
    const char *deps[3]; /* up to the first NULL */
};

/* One TOC entry in the field order of the archive version being written. */
static void
w_entry(struct w *w, const struct spec *s)
{
    w_int(w, s->id);
    w->id_end = w->len;
    w_int(w, s->has_data);
    w_str(w, "1259");  /* table oid */
    w_str(w, "16385"); /* oid */
    w_str(w, s->tag);
    w_str(w, s->desc);
    w_int(w, s->section);
    w->section_end = w->len;
    w_str(w, s->defn);
    w_str(w, ""); /* drop statement */
    w_str(w, s->copy);
    w_str(w, s->nspace);
    w_str(w, ""); /* tablespace */
    if (w->vmin >= 14)
        w_str(w, "heap"); /* table access method */
    if (w->vmin >= 16)
        w_int(w, 'r'); /* relkind */
    w_str(w, "postgres");
    w_str(w, "false"); /* with oids */
    for (int i = 0; i < 3 && s->deps[i]; i++)
        w_str(w, s->deps[i]);
    w_str(w, NULL);
    w_offset(w);
}

static void
w_toc_end(struct w *w)
{
    w->data_start = w->len;
}

static void
w_block(struct w *w, int type, int64_t id)
{
    uint8_t b = (uint8_t)type;

    w_raw(w, F_TYPE, &b, 1);
    w_int(w, id);
}

static void
w_chunk(struct w *w, const char *s)
{
    w_int(w, (int64_t)strlen(s));
    w_raw(w, F_CHUNK, s, strlen(s));
}

/* ---- the standard dump: encoding, a table, its data, large objects, an index ---- */

enum { ID_ENCODING = 3352, ID_TABLE = 215, ID_DATA = 3345, ID_BLOBS = 3348, ID_INDEX = 3199 };

#define COPY_STMT "COPY public.t (a, b) FROM stdin;\n"
#define COPY_END "\\.\n\n\n"

static const struct spec std_entries[] = {
    {.id = ID_ENCODING, .tag = "ENCODING", .desc = "ENCODING", .section = PGD_SECTION_PRE_DATA,
     .defn = "SET client_encoding = 'UTF8';\n", .copy = NULL, .nspace = NULL},
    {.id = ID_TABLE, .tag = "t", .desc = "TABLE", .section = PGD_SECTION_PRE_DATA,
     .defn = "CREATE TABLE public.t (\n    a integer,\n    b text\n);\n", .copy = "",
     .nspace = "public"},
    {.id = ID_DATA, .has_data = 1, .tag = "t", .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
     .defn = "", .copy = COPY_STMT, .nspace = "public", .deps = {"215"}},
    {.id = ID_BLOBS, .has_data = 1, .tag = "BLOBS", .desc = "BLOBS", .section = PGD_SECTION_DATA,
     .defn = "", .copy = "", .nspace = ""},
    {.id = ID_INDEX, .tag = "t_a_idx", .desc = "INDEX", .section = PGD_SECTION_POST_DATA,
     .defn = "CREATE INDEX t_a_idx ON public.t USING btree (a);\n", .copy = "",
     .nspace = "public", .deps = {"215", "3345"}},
};

enum { STD_N = sizeof(std_entries) / sizeof(std_entries[0]) };

static const char *const std_rows[] = {"1\tone\n", "2\t\\N\n", "3\ttab\\there\n", COPY_END};

static struct w *
std_dump(int vmin)
{
    struct w *w = w_new();

    w_header(w, vmin);
    w_count(w, STD_N);
    for (size_t i = 0; i < STD_N; i++)
        w_entry(w, &std_entries[i]);
    w_toc_end(w);
    w_block(w, PGD_BLOCK_DATA, ID_DATA);
    for (size_t i = 0; i < 4; i++)
        w_chunk(w, std_rows[i]);
    w_int(w, 0);
    w_block(w, PGD_BLOCK_BLOBS, ID_BLOBS);
    w_int(w, 16390); /* a large object in two chunks */
    w_chunk(w, "large");
    w_chunk(w, "object");
    w_int(w, 0);
    w_int(w, 16391); /* and one with none */
    w_int(w, 0);
    w_int(w, 0);
    return w;
}

/* The first n bytes in a buffer of their own, so that a read past them is ASan's to see. */
static uint8_t *
dup_prefix(const uint8_t *p, size_t n)
{
    uint8_t *q = rg_malloc(n ? n : 1);

    if (n)
        memcpy(q, p, n);
    return q;
}

/* ---- a walk over all blocks, as a loader does it ---- */

struct walk {
    int blocks;         /* block headers read */
    int chunks;         /* chunks read out of copyable data blocks */
    int copy_ends;      /* of which end-of-data markers */
    struct rg_buf rows; /* the other chunks, concatenated */
};

static void
walk_init(struct walk *wk)
{
    memset(wk, 0, sizeof(*wk));
    rg_buf_init(&wk->rows, 1 << 20);
}

/* Chunks of copyable table data are read, every other block is skipped. */
static int
walk_all(struct walk *wk, const struct pgd_toc *toc, const uint8_t *p, size_t len,
         struct rg_err *err)
{
    struct pgd_cursor c;
    const uint8_t *data;
    size_t n;
    int type = 0, id = 0, rc;

    pgd_cursor_init(&c, toc, p, len);
    assert_int_equal(c.pos, toc->data_start);
    while ((rc = pgd_next_block(&c, &type, &id, err)) > 0) {
        const struct pgd_entry *e = pgd_toc_find(toc, id);

        wk->blocks++;
        if (type == PGD_BLOCK_DATA && e && pgd_entry_copyable(e)) {
            while ((rc = pgd_next_chunk(&c, &data, &n, err)) > 0) {
                assert_true(n > 0);
                assert_true(data >= p && n <= len && data - p <= (ptrdiff_t)(len - n));
                wk->chunks++;
                if (pgd_chunk_is_copy_end(data, n))
                    wk->copy_ends++;
                else
                    rg_buf_add(&wk->rows, data, n);
            }
        } else {
            rc = pgd_skip_block(&c, type, err);
        }
        if (rc < 0)
            return rc;
    }
    if (rc == 0) {
        assert_int_equal(c.pos, len);
        assert_int_equal(pgd_next_block(&c, &type, &id, err), 0); /* and stays at the end */
    }
    return rc;
}

/* ---- the standard dump, read ---- */

static void
check_std_toc(const struct pgd_toc *toc, const struct w *w)
{
    assert_string_equal(toc->unsupported, "");
    assert_int_equal(toc->vmaj, 1);
    assert_int_equal(toc->vmin, w->vmin);
    assert_int_equal(toc->vrev, 0);
    assert_int_equal(toc->int_size, 4);
    assert_int_equal(toc->off_size, 8);
    assert_false(toc->compressed);
    assert_string_equal(toc->encoding, "UTF8");
    assert_int_equal(toc->data_start, w->data_start);
    assert_int_equal(toc->n, STD_N);
    for (size_t i = 0; i < STD_N; i++) {
        const struct pgd_entry *e = &toc->entries[i];
        const struct spec *s = &std_entries[i];

        assert_int_equal(e->id, s->id);
        assert_int_equal(e->has_data, s->has_data != 0);
        assert_int_equal(e->section, s->section);
        assert_string_equal(e->desc, s->desc);
        assert_string_equal(e->tag, s->tag);
        assert_string_equal(e->nspace, s->nspace ? s->nspace : "");
        assert_string_equal(e->copy_stmt, s->copy ? s->copy : "");
        assert_int_equal(pgd_entry_copyable(e), s->id == ID_DATA);
    }
}

static void
test_valid_v14(void **state)
{
    struct w *w = std_dump(14);
    struct pgd_toc toc;
    struct rg_err err;

    (void)state;
    rg_err_clear(&err);
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    check_std_toc(&toc, w);
    assert_string_equal(err.msg, "");
    pgd_toc_release(&toc);
    assert_null(toc.entries);
    assert_int_equal(toc.n, 0);
    pgd_toc_release(&toc); /* twice is harmless */
    free(w);
}

/* Every version this reader knows, with the fields each adds: table access method (1.14), the
 * compression algorithm byte (1.15), relkind (1.16). */
static void
test_versions(void **state)
{
    (void)state;
    for (int vmin = 12; vmin <= 16; vmin++) {
        struct w *w = std_dump(vmin);
        struct pgd_toc toc;
        struct walk wk;
        struct rg_err err;

        assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
        check_std_toc(&toc, w);
        walk_init(&wk);
        assert_int_equal(walk_all(&wk, &toc, w->buf, w->len, &err), 0);
        assert_int_equal(wk.blocks, 2);
        assert_int_equal(wk.chunks, 4);
        assert_int_equal(wk.copy_ends, 1);
        assert_string_equal(wk.rows.data, "1\tone\n2\t\\N\n3\ttab\\there\n");
        rg_buf_release(&wk.rows);
        pgd_toc_release(&toc);
        free(w);
    }
}

/* The blocks in order, each chunk where the writer put it, the end marker last. */
static void
test_walk_blocks(void **state)
{
    struct w *w = std_dump(14);
    struct pgd_toc toc;
    struct pgd_cursor c;
    struct rg_err err;
    const uint8_t *data = NULL;
    size_t n = 0, fi;
    int type = 0, id = 0;

    (void)state;
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    pgd_cursor_init(&c, &toc, w->buf, w->len);
    assert_int_equal(c.pos, w->data_start);
    assert_int_equal(c.int_size, 4);

    assert_int_equal(pgd_next_block(&c, &type, &id, &err), 1);
    assert_int_equal(type, PGD_BLOCK_DATA);
    assert_int_equal(id, ID_DATA);
    for (fi = 0; w->f[fi].start < w->data_start; fi++)
        ;
    fi += 2; /* the type byte and the id */
    for (size_t i = 0; i < 4; i++) {
        size_t want = strlen(std_rows[i]);

        assert_int_equal(pgd_next_chunk(&c, &data, &n, &err), 1);
        assert_int_equal(n, want);
        assert_memory_equal(data, std_rows[i], want);
        assert_int_equal(w->f[fi + 1].kind, F_CHUNK);
        assert_ptr_equal(data, w->buf + w->f[fi + 1].start);
        assert_int_equal(pgd_chunk_is_copy_end(data, n), i == 3);
        fi += 2;
    }
    assert_int_equal(pgd_next_chunk(&c, &data, &n, &err), 0);
    assert_int_equal(c.pos, w->f[fi].end); /* past the block's closing 0 */

    assert_int_equal(pgd_next_block(&c, &type, &id, &err), 1);
    assert_int_equal(type, PGD_BLOCK_BLOBS);
    assert_int_equal(id, ID_BLOBS);
    assert_int_equal(pgd_skip_block(&c, type, &err), 0);
    assert_int_equal(c.pos, w->len);
    assert_int_equal(pgd_next_block(&c, &type, &id, &err), 0);

    /* A data block can be skipped whole too. */
    pgd_cursor_init(&c, &toc, w->buf, w->len);
    assert_int_equal(pgd_next_block(&c, &type, &id, &err), 1);
    assert_int_equal(pgd_skip_block(&c, type, &err), 0);
    assert_int_equal(pgd_next_block(&c, &type, &id, &err), 1);
    assert_int_equal(id, ID_BLOBS);
    pgd_toc_release(&toc);
    free(w);
}

/* A dump with no entries and no data: nothing to walk. */
static void
test_empty_toc(void **state)
{
    struct w *w = w_new();
    struct pgd_toc toc;
    struct walk wk;
    struct rg_err err;

    (void)state;
    w_header(w, 14);
    w_count(w, 0);
    w_toc_end(w);
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    assert_int_equal(toc.n, 0);
    assert_int_equal(toc.data_start, w->len);
    assert_string_equal(toc.encoding, "");
    assert_null(pgd_toc_find(&toc, 1));
    walk_init(&wk);
    assert_int_equal(walk_all(&wk, &toc, w->buf, w->len, &err), 0);
    assert_int_equal(wk.blocks, 0);
    rg_buf_release(&wk.rows);
    pgd_toc_release(&toc);
    free(w);
}

/* An ENCODING entry whose name is not a plain name is ignored, not taken. */
static void
test_encoding_odd(void **state)
{
    static const char *const defns[] = {
        "SET client_encoding = 'UTF8; DROP';\n", "SET client_encoding = '';\n",
        "SET client_encoding = UTF8;\n", "SET client_encoding = 'UTF8\n",
        "SET client_encoding = "
        "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';\n", /* 64: too long */
        NULL};

    (void)state;
    for (size_t i = 0; i < sizeof(defns) / sizeof(defns[0]); i++) {
        struct spec s = {.id = 1, .tag = "ENCODING", .desc = "ENCODING",
                         .section = PGD_SECTION_PRE_DATA, .defn = defns[i]};
        struct w *w = w_new();
        struct pgd_toc toc;
        struct rg_err err;

        w_header(w, 14);
        w_count(w, 1);
        w_entry(w, &s);
        assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
        assert_string_equal(toc.encoding, "");
        pgd_toc_release(&toc);
        free(w);
    }

    /* 63 characters still fit. */
    struct spec s = {.id = 1, .tag = "ENCODING", .desc = "ENCODING",
                     .section = PGD_SECTION_PRE_DATA,
                     .defn = "SET client_encoding = "
                             "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_';\n"};
    struct w *w = w_new();
    struct pgd_toc toc;
    struct rg_err err;

    w_header(w, 14);
    w_count(w, 1);
    w_entry(w, &s);
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    assert_int_equal(strlen(toc.encoding), 63);
    pgd_toc_release(&toc);
    free(w);
}

/* int_size 8 reads the same, and an int up to 2^62 is still an int. */
static void
test_int_size_8(void **state)
{
    struct w *w = w_new();
    struct pgd_toc toc;
    struct rg_err err;

    (void)state;
    w_header_sized(w, 14, 1, 0, 8);
    w_count(w, STD_N);
    for (size_t i = 0; i < STD_N; i++)
        w_entry(w, &std_entries[i]);
    w_toc_end(w);
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    assert_int_equal(toc.int_size, 8);
    assert_int_equal(toc.n, STD_N);
    assert_int_equal(toc.entries[2].id, ID_DATA);
    pgd_toc_release(&toc);
    free(w);

    w = w_new();
    w_header_sized(w, 14, 1, 0, 8);
    w->len = 11; /* back to the compression int, just past the format byte */
    w->nf = 0;
    w_int(w, (int64_t)1 << 62);
    for (int i = 0; i < 7; i++)
        w_int(w, 0);
    for (int i = 0; i < 3; i++)
        w_str(w, NULL);
    w_count(w, 0);
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    assert_true(toc.compressed);
    pgd_toc_release(&toc);
    free(w);
}

static void
test_compressed(void **state)
{
    static const struct {
        int vmin, compression;
    } cases[] = {{14, -1}, {14, 6}, {12, 1}, {15, 1}, {16, 3}};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct w *w = w_new();
        struct pgd_toc toc;
        struct rg_err err;

        w_header_sized(w, cases[i].vmin, 1, cases[i].compression, 4);
        w_count(w, 1);
        w_entry(w, &std_entries[2]);
        w_toc_end(w);
        assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
        assert_true(toc.compressed);
        assert_string_equal(toc.unsupported, "");
        assert_int_equal(toc.n, 1); /* the table of contents is read all the same */
        assert_int_equal(toc.data_start, w->len);
        pgd_toc_release(&toc);
        free(w);
    }
}

/* ---- what this reader leaves to pg_restore: rc 0, a reason, nothing read ---- */

static void
expect_unsupported(const uint8_t *p, size_t len, const char *why)
{
    uint8_t *q = dup_prefix(p, len);
    struct pgd_toc toc;
    struct rg_err err;

    rg_err_clear(&err);
    assert_int_equal(pgd_toc_read(&toc, q, len, &err), 0);
    assert_string_equal(toc.unsupported, why);
    assert_int_equal(err.code, 0);
    assert_int_equal(toc.n, 0);
    assert_null(toc.entries);
    assert_null(pgd_toc_find(&toc, 1));
    pgd_toc_release(&toc);
    free(q);
}

static void
test_not_custom_format(void **state)
{
    static const char plain[] = "--\n-- PostgreSQL database dump\n--\n";
    static const uint8_t almost[] = {'P', 'G', 'D', 'M', 'Q', 1, 14, 0, 4, 8, 1};
    static const char zip[] = "PK\3\4";

    (void)state;
    expect_unsupported((const uint8_t *)plain, sizeof(plain) - 1,
                       "not a custom-format pg_dump archive");
    expect_unsupported(almost, sizeof(almost), "not a custom-format pg_dump archive");
    expect_unsupported((const uint8_t *)zip, 4, "not a custom-format pg_dump archive");
    expect_unsupported((const uint8_t *)"PGDM", 4, "not a custom-format pg_dump archive");
    expect_unsupported((const uint8_t *)"", 0, "not a custom-format pg_dump archive");
}

static void
test_unsupported_version(void **state)
{
    static const struct {
        uint8_t vmaj, vmin, vrev;
        const char *why;
    } cases[] = {{1, 11, 0, "archive version 1.11.0"}, {1, 17, 0, "archive version 1.17.0"},
                 {1, 16, 255, NULL}, {1, 11, 255, "archive version 1.11.255"},
                 {0, 14, 0, "archive version 0.14.0"}, {2, 0, 0, "archive version 2.0.0"},
                 {255, 255, 255, "archive version 255.255.255"}};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct w *w = std_dump(cases[i].vmin >= 12 && cases[i].vmin <= 16 ? cases[i].vmin : 14);
        struct pgd_toc toc;
        struct rg_err err;

        w->buf[5] = cases[i].vmaj;
        w->buf[6] = cases[i].vmin;
        w->buf[7] = cases[i].vrev;
        if (!cases[i].why) { /* a revision inside 1.12 to 1.16 is still read */
            assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
            assert_string_equal(toc.unsupported, "");
            assert_int_equal(toc.vrev, 255);
            assert_int_equal(toc.n, STD_N);
            pgd_toc_release(&toc);
        } else {
            expect_unsupported(w->buf, w->len, cases[i].why);
            assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
            assert_int_equal(toc.vmaj, cases[i].vmaj); /* the version is still told */
            assert_int_equal(toc.vmin, cases[i].vmin);
            assert_int_equal(toc.vrev, cases[i].vrev);
            pgd_toc_release(&toc);
            /* Only the version is looked at: nothing after it need be there. */
            expect_unsupported(w->buf, 8, cases[i].why);
        }
        free(w);
    }
}

/* pg_dump's other archive formats (3 tar, 5 directory, 4 plain) */
static void
test_unsupported_format(void **state)
{
    (void)state;
    for (int fmt = 0; fmt <= 255; fmt++) {
        struct w *w;
        char why[64];

        if (fmt == 1)
            continue;
        w = w_new();
        w_header_sized(w, 14, fmt, 0, 4);
        snprintf(why, sizeof(why), "archive format %d, not custom", fmt);
        expect_unsupported(w->buf, w->len, why);
        expect_unsupported(w->buf, 11, why); /* nothing after the format byte is read */
        free(w);
    }
}

/* ---- malformed: RG_EINVAL with the exact message ---- */

static void
expect_bad(const uint8_t *p, size_t len, const char *msg)
{
    uint8_t *q = dup_prefix(p, len);
    struct pgd_toc toc;
    struct rg_err err;

    rg_err_clear(&err);
    assert_int_equal(pgd_toc_read(&toc, q, len, &err), RG_EINVAL);
    assert_int_equal(err.code, RG_EINVAL);
    assert_string_equal(err.msg, msg);
    assert_int_equal(toc.n, 0);
    assert_null(toc.entries);
    pgd_toc_release(&toc);
    free(q);
}

static void
expect_bad_at(const struct w *w, const char *what, size_t off)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "pg_dump archive: %s at offset %zu", what, off);
    expect_bad(w->buf, w->len, msg);
}

static void
test_truncated_header(void **state)
{
    static const uint8_t v14[] = {'P', 'G', 'D', 'M', 'P', 1, 14, 0, 4, 8, 1, 0, 0, 0, 0};

    (void)state;
    expect_bad(v14, 5, "pg_dump archive: truncated at offset 5");
    expect_bad(v14, 6, "pg_dump archive: truncated at offset 6");
    expect_bad(v14, 7, "pg_dump archive: truncated at offset 7");
    expect_bad(v14, 8, "pg_dump archive: truncated at offset 8");
    expect_bad(v14, 10, "pg_dump archive: truncated at offset 10");
    expect_bad(v14, 11, "pg_dump archive: truncated integer at offset 11"); /* compression */
    expect_bad(v14, 11 + 3, "pg_dump archive: truncated integer at offset 11");
}

/* Every prefix of a dump: what the field the cut falls in says, at that field's offset. Past the
 * table of contents the prefix reads, and the walk over the blocks ends cleanly on a block
 * boundary and says what it found anywhere else. */
static const struct field *
field_past(const struct w *w, size_t cut)
{
    for (size_t i = 0; i < w->nf; i++)
        if (w->f[i].end > cut)
            return &w->f[i];
    return NULL;
}

static const char *
cut_what(enum fkind kind)
{
    switch (kind) {
    case F_BYTE:
        return "truncated";
    case F_INT:
        return "truncated integer";
    case F_STR:
        return "string runs past the end";
    case F_OFFSET:
        return "truncated data offset";
    case F_CHUNK:
        return "chunk runs past the end";
    case F_TYPE:
        break;
    }
    fail_msg("no message for a cut in a block's type byte");
    return NULL;
}

static void
check_prefix(const struct w *w, size_t cut)
{
    uint8_t *p = dup_prefix(w->buf, cut);
    const struct field *f = field_past(w, cut);
    struct pgd_toc toc;
    struct walk wk;
    struct rg_err err;
    char want[256];
    int types_before = 0;

    if (cut < 5) {
        expect_unsupported(p, cut, "not a custom-format pg_dump archive");
        goto out;
    }
    if (cut < w->data_start) {
        /* A count the rest cannot hold is refused before any entry is read. */
        if (cut >= w->count_end && (uint64_t)w->count > (cut - w->count_end) / 16)
            snprintf(want, sizeof(want), "pg_dump archive: entry count out of range at offset %zu",
                     w->count_end);
        else
            snprintf(want, sizeof(want), "pg_dump archive: %s at offset %zu", cut_what(f->kind),
                     f->start);
        expect_bad(p, cut, want);
        goto out;
    }
    rg_err_clear(&err);
    assert_int_equal(pgd_toc_read(&toc, p, cut, &err), 0);
    assert_string_equal(toc.unsupported, "");
    assert_int_equal(toc.n, (size_t)w->count);
    assert_int_equal(toc.data_start, w->data_start);
    for (size_t i = 0; i < w->nf && (!f || w->f[i].start < f->start); i++)
        types_before += w->f[i].kind == F_TYPE;
    walk_init(&wk);
    if (!f || (f->kind == F_TYPE && f->start == cut)) {
        assert_int_equal(walk_all(&wk, &toc, p, cut, &err), 0);
        assert_int_equal(wk.blocks, types_before);
    } else {
        snprintf(want, sizeof(want), "pg_dump archive: %s at offset %zu", cut_what(f->kind),
                 f->start);
        assert_int_equal(walk_all(&wk, &toc, p, cut, &err), RG_EINVAL);
        assert_string_equal(err.msg, want);
    }
    rg_buf_release(&wk.rows);
    pgd_toc_release(&toc);
out:
    free(p);
}

static void
test_every_prefix(void **state)
{
    (void)state;
    for (int vmin = 12; vmin <= 16; vmin++) {
        struct w *w = std_dump(vmin);

        for (size_t cut = 0; cut <= w->len; cut++)
            check_prefix(w, cut);
        free(w);
    }
}

/* Every byte of the dump set to 0x00, 0x7f, 0xff in turn: whatever it then says, it says it
 * without reading outside the dump (ASan) and with one of its own answers. */
static void
test_every_byte_damaged(void **state)
{
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0xff};
    struct w *w = std_dump(16);
    uint8_t *p = dup_prefix(w->buf, w->len);

    (void)state;
    for (size_t i = 0; i < w->len; i++) {
        for (size_t v = 0; v < sizeof(values); v++) {
            struct pgd_toc toc;
            struct walk wk;
            struct rg_err err;
            int rc;

            memcpy(p, w->buf, w->len);
            p[i] = values[v];
            rg_err_clear(&err);
            rc = pgd_toc_read(&toc, p, w->len, &err);
            assert_true(rc == 0 || (rc == RG_EINVAL && strncmp(err.msg, "pg_dump archive: ",
                                                               17) == 0));
            if (rc == 0 && !toc.unsupported[0] && !toc.compressed) {
                walk_init(&wk);
                rc = walk_all(&wk, &toc, p, w->len, &err);
                assert_true(rc == 0 || rc == RG_EINVAL);
                rg_buf_release(&wk.rows);
            }
            pgd_toc_release(&toc);
        }
    }
    free(p);
    free(w);
}

static void
test_string_past_end(void **state)
{
    struct w *w = w_new();
    size_t at;

    (void)state;
    w_header(w, 14);
    w_count(w, 1);
    w_int(w, 1);
    w_int(w, 0);
    w_str(w, "1259");
    w_int(w, 1000); /* the oid: 1000 bytes announced, 40 there */
    at = w->len;
    w_raw(w, F_STR, "0123456789012345678901234567890123456789", 40);
    expect_bad_at(w, "string runs past the end", at);

    /* One byte short of the end of the dump. */
    w->len = at - 5;
    w_int(w, 41);
    w_raw(w, F_STR, "0123456789012345678901234567890123456789", 40);
    expect_bad_at(w, "string runs past the end", at);
    free(w);

    /* The same in the header: the database name. */
    w = w_new();
    w_header(w, 14);
    w->len = 11 + 5 + 7 * 5; /* back to the database name: past compression and time */
    w->nf = 0;
    w_int(w, 7);
    w_raw(w, F_STR, "rgtest", 6);
    expect_bad_at(w, "string runs past the end", w->len - 6);
    free(w);
}

static void
test_negative_string_length(void **state)
{
    static const int64_t lengths[] = {-2, -1000, -((int64_t)1 << 62)};
    size_t at;

    (void)state;
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        struct w *w = w_new();
        struct spec s = std_entries[2];

        w_header_sized(w, 14, 1, 0, 8); /* room for -2^62 */
        w_count(w, 1);
        w_int(w, ID_DATA);
        w_int(w, 1);
        w_str(w, "1259");
        w_str(w, "16385");
        w_int(w, lengths[i]); /* the tag */
        at = w->len;
        w_entry(w, &s); /* padding, never read */
        expect_bad_at(w, "negative string length", at);
        free(w);
    }
}

/* -1 is pg_dump's "no string": a missing type or name makes the entry unusable. */
static void
test_entry_without_desc(void **state)
{
    struct spec no_desc = {.id = 7, .tag = "t", .section = PGD_SECTION_PRE_DATA, .defn = ""};
    struct spec no_tag = {.id = 7, .desc = "TABLE", .section = PGD_SECTION_PRE_DATA};
    struct w *w;

    (void)state;
    w = w_new();
    w_header(w, 14);
    w_count(w, 2);
    w_entry(w, &std_entries[0]);
    w_entry(w, &no_desc);
    expect_bad_at(w, "entry without a type or name", w->len);
    free(w);

    w = w_new();
    w_header(w, 15);
    w_count(w, 1);
    w_entry(w, &no_tag);
    expect_bad_at(w, "entry without a type or name", w->len);
    free(w);
}

static void
test_entry_id_out_of_range(void **state)
{
    static const int64_t ids[] = {0, -1, (int64_t)INT32_MAX + 1, (int64_t)1 << 62};

    (void)state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct w *w = w_new();
        struct spec s = std_entries[2];

        w_header_sized(w, 14, 1, 0, 8);
        w_count(w, 2);
        w_entry(w, &std_entries[1]);
        s.id = ids[i];
        w_entry(w, &s);
        expect_bad_at(w, "entry id out of range", w->id_end);
        free(w);
    }

    /* INT32_MAX itself is an id. */
    struct w *w = w_new();
    struct spec s = std_entries[2];
    struct pgd_toc toc;
    struct rg_err err;

    s.id = INT32_MAX;
    w_header(w, 14);
    w_count(w, 1);
    w_entry(w, &s);
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    assert_non_null(pgd_toc_find(&toc, INT32_MAX));
    pgd_toc_release(&toc);
    free(w);
}

static void
test_section_out_of_range(void **state)
{
    static const int64_t sections[] = {7, 0, 5, -1};

    (void)state;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        struct w *w = w_new();
        struct spec s = std_entries[4];

        w_header(w, 16);
        w_count(w, 3);
        w_entry(w, &std_entries[0]);
        w_entry(w, &std_entries[1]);
        s.section = sections[i];
        w_entry(w, &s);
        expect_bad_at(w, "section out of range", w->section_end);
        free(w);
    }
}

static void
test_sizes_out_of_range(void **state)
{
    static const struct {
        uint8_t isz, osz;
    } cases[] = {{9, 8}, {0, 8}, {4, 9}, {4, 0}, {255, 255}};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct w *w = std_dump(14);

        w->buf[8] = cases[i].isz;
        w->buf[9] = cases[i].osz;
        expect_bad_at(w, "integer or offset size out of range", 11);
        free(w);
    }
}

static void
test_entry_count_out_of_range(void **state)
{
    static const int64_t counts[] = {1000000, -1, (int64_t)UINT32_MAX, STD_N + 1};

    (void)state;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        struct w *w = w_new();

        w_header(w, 14);
        w_count(w, counts[i]);
        for (size_t e = 0; e < STD_N; e++)
            w_entry(w, &std_entries[e]);
        if (counts[i] == STD_N + 1) /* a plausible count: the entry that is not there */
            expect_bad_at(w, "truncated integer", w->len);
        else
            expect_bad_at(w, "entry count out of range", w->count_end);
        free(w);
    }
}

static void
test_integer_out_of_range(void **state)
{
    struct w *w = w_new();

    (void)state;
    w_header_sized(w, 14, 1, 0, 8);
    w_count(w, 1);
    w_int(w, ((int64_t)1 << 62) + 1); /* the entry id */
    w_entry(w, &std_entries[0]);      /* padding, never read */
    expect_bad_at(w, "integer out of range", w->count_end + 9);
    free(w);

    w = w_new();
    w_header_sized(w, 14, 1, 0, 8);
    w->len = 11;
    w->nf = 0;
    w_int(w, INT64_MIN); /* the compression: sign 1, magnitude 2^63 */
    expect_bad_at(w, "integer out of range", 20);
    memset(w->buf + 12, 0xff, 8); /* 2^64 - 1 */
    expect_bad_at(w, "integer out of range", 20);
    free(w);
}

static void
test_truncated_offset(void **state)
{
    struct w *w = w_new();

    (void)state;
    w_header(w, 14);
    w_count(w, 1);
    w_entry(w, &std_entries[1]);
    w->len -= 1;
    expect_bad_at(w, "truncated data offset", w->len - 8);
    free(w);
}

/* ---- the data walk, damaged ---- */

/* A dump of the one TABLE DATA entry; the test writes its blocks. */
static struct w *
data_dump(void)
{
    struct w *w = w_new();

    w_header(w, 14);
    w_count(w, 1);
    w_entry(w, &std_entries[2]);
    w_toc_end(w);
    return w;
}

struct blockwalk {
    struct pgd_toc toc;
    struct pgd_cursor c;
    struct rg_err err;
    uint8_t *p;
};

static void
bw_open(struct blockwalk *bw, const struct w *w)
{
    bw->p = dup_prefix(w->buf, w->len);
    rg_err_clear(&bw->err);
    assert_int_equal(pgd_toc_read(&bw->toc, bw->p, w->len, &bw->err), 0);
    pgd_cursor_init(&bw->c, &bw->toc, bw->p, w->len);
}

static void
bw_close(struct blockwalk *bw)
{
    pgd_toc_release(&bw->toc);
    free(bw->p);
}

static void
expect_msg(const struct rg_err *err, const char *what, size_t off)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "pg_dump archive: %s at offset %zu", what, off);
    assert_int_equal(err->code, RG_EINVAL);
    assert_string_equal(err->msg, msg);
}

static void
test_chunk_past_end(void **state)
{
    struct w *w = data_dump();
    struct blockwalk bw;
    const uint8_t *data;
    size_t n, at;
    int type, id;

    (void)state;
    w_block(w, PGD_BLOCK_DATA, ID_DATA);
    w_chunk(w, "1\tone\n");
    w_int(w, 7); /* 7 announced, 6 there */
    at = w->len;
    w_raw(w, F_CHUNK, "2\ttwo\n", 6);
    bw_open(&bw, w);
    assert_int_equal(pgd_next_block(&bw.c, &type, &id, &bw.err), 1);
    assert_int_equal(pgd_next_chunk(&bw.c, &data, &n, &bw.err), 1);
    assert_int_equal(pgd_next_chunk(&bw.c, &data, &n, &bw.err), RG_EINVAL);
    expect_msg(&bw.err, "chunk runs past the end", at);
    bw_close(&bw);

    /* The same in a large object, through pgd_skip_block. */
    w->len = w->data_start;
    w->nf = 0;
    w_block(w, PGD_BLOCK_BLOBS, ID_DATA);
    w_int(w, 16390);
    w_int(w, 100000);
    at = w->len;
    w_raw(w, F_CHUNK, "x", 1);
    bw_open(&bw, w);
    assert_int_equal(pgd_next_block(&bw.c, &type, &id, &bw.err), 1);
    assert_int_equal(type, PGD_BLOCK_BLOBS);
    assert_int_equal(pgd_skip_block(&bw.c, type, &bw.err), RG_EINVAL);
    expect_msg(&bw.err, "chunk runs past the end", at);
    bw_close(&bw);
    free(w);
}

static void
test_negative_chunk_length(void **state)
{
    struct w *w = data_dump();
    struct blockwalk bw;
    const uint8_t *data;
    size_t n, at;
    int type, id;

    (void)state;
    w_block(w, PGD_BLOCK_DATA, ID_DATA);
    w_int(w, -5);
    at = w->len;
    w_chunk(w, "padding");
    w_int(w, 0);
    bw_open(&bw, w);
    assert_int_equal(pgd_next_block(&bw.c, &type, &id, &bw.err), 1);
    assert_int_equal(pgd_next_chunk(&bw.c, &data, &n, &bw.err), RG_EINVAL);
    expect_msg(&bw.err, "negative chunk length", at);
    bw_close(&bw);
    bw_open(&bw, w);
    assert_int_equal(pgd_next_block(&bw.c, &type, &id, &bw.err), 1);
    assert_int_equal(pgd_skip_block(&bw.c, type, &bw.err), RG_EINVAL);
    expect_msg(&bw.err, "negative chunk length", at);
    bw_close(&bw);
    free(w);
}

/* 2 is pg_dump's old single-blob block, 7 nothing at all: neither can be skipped. */
static void
test_unknown_block_type(void **state)
{
    static const int types[] = {7, 2, 0, 255};

    (void)state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct w *w = data_dump();
        struct blockwalk bw;
        char what[64];
        int type = 0, id = 0;

        w_block(w, types[i], ID_DATA);
        w_chunk(w, "1\tone\n");
        w_int(w, 0);
        bw_open(&bw, w);
        assert_int_equal(pgd_next_block(&bw.c, &type, &id, &bw.err), 1);
        assert_int_equal(type, types[i]);
        assert_int_equal(id, ID_DATA);
        assert_int_equal(pgd_skip_block(&bw.c, type, &bw.err), RG_EINVAL);
        snprintf(what, sizeof(what), "unknown block type %d", types[i]);
        expect_msg(&bw.err, what, w->data_start + 1 + 5);
        bw_close(&bw);
        free(w);
    }
}

static void
test_block_id_out_of_range(void **state)
{
    static const int64_t ids[] = {0, -3, (int64_t)INT32_MAX + 1};

    (void)state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct w *w = data_dump();
        struct blockwalk bw;
        int type, id;

        w_block(w, PGD_BLOCK_DATA, ids[i]);
        w_int(w, 0);
        bw_open(&bw, w);
        assert_int_equal(pgd_next_block(&bw.c, &type, &id, &bw.err), RG_EINVAL);
        expect_msg(&bw.err, "block id out of range", w->data_start + 1 + 5);
        bw_close(&bw);
        free(w);
    }
}

/* A walk that meets a block of an entry the table of contents does not have: the walk goes on
 * (pgd_toc_find answers NULL and the block is skipped). */
static void
test_block_of_unknown_entry(void **state)
{
    struct w *w = data_dump();
    struct blockwalk bw;
    struct walk wk;

    (void)state;
    w_block(w, PGD_BLOCK_DATA, 999);
    w_chunk(w, "x\n");
    w_int(w, 0);
    w_block(w, PGD_BLOCK_DATA, ID_DATA);
    w_chunk(w, "1\tone\n");
    w_chunk(w, COPY_END);
    w_int(w, 0);
    bw_open(&bw, w);
    walk_init(&wk);
    assert_int_equal(walk_all(&wk, &bw.toc, bw.p, w->len, &bw.err), 0);
    assert_int_equal(wk.blocks, 2);
    assert_string_equal(wk.rows.data, "1\tone\n");
    assert_int_equal(wk.copy_ends, 1);
    rg_buf_release(&wk.rows);
    bw_close(&bw);
    free(w);
}

/* ---- the helpers ---- */

static void
test_copyable(void **state)
{
    static const struct {
        struct spec s;
        bool copyable;
    } cases[] = {
        {{.id = 1, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = COPY_STMT}, true},
        {{.id = 2, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t FROM stdin;\n"}, true},
        {{.id = 3, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY \"we ird\".\"Ta ble\" (\"a b\", c) FROM stdin;\n"}, true},
        /* no data block */
        {{.id = 4, .has_data = 0, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = COPY_STMT}, false},
        /* other types */
        {{.id = 5, .has_data = 1, .desc = "TABLE", .section = PGD_SECTION_DATA,
          .copy = COPY_STMT}, false},
        {{.id = 6, .has_data = 1, .desc = "BLOBS", .section = PGD_SECTION_DATA,
          .copy = COPY_STMT}, false},
        {{.id = 7, .has_data = 1, .desc = "TABLE DATAX", .section = PGD_SECTION_DATA,
          .copy = COPY_STMT}, false},
        /* not a COPY ... FROM stdin;\n */
        {{.id = 8, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t (a, b) TO stdout;\n"}, false},
        {{.id = 9, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t (a, b) FROM stdin;"}, false},
        {{.id = 10, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t (a, b) FROM stdin WITH (FORMAT csv);\n"}, false},
        {{.id = 11, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "INSERT INTO public.t VALUES (1) FROM stdin;\n"}, false},
        {{.id = 12, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "copy public.t FROM stdin;\n"}, false},
        {{.id = 13, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = ""}, false},
        {{.id = 14, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = NULL}, false},
        /* an extra ';': two statements; inside a quoted name it is only a name */
        {{.id = 15, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t FROM stdin; DROP TABLE x; COPY public.u FROM stdin;\n"}, false},
        {{.id = 16, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.\"a;b\" FROM stdin;\n"}, true},
        {{.id = 17, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t FROM stdin;;\n"}, false},
        /* comments, quotes and newlines that would hide another statement */
        {{.id = 21, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t FROM PROGRAM 'id'\n-- FROM stdin;\n"}, false},
        {{.id = 22, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t (a) FROM stdin WITH (FORMAT csv) -- FROM stdin;\n"}, false},
        {{.id = 23, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t /* x */ FROM stdin;\n"}, false},
        {{.id = 24, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.t (a)\n FROM stdin;\n"}, false},
        {{.id = 25, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.\"t FROM stdin;\n"}, false},
        {{.id = 26, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_DATA,
          .copy = "COPY public.\"a--b\" (\"x\"\"y\", \"c\nd\") FROM stdin;\n"}, true},
        /* outside the data section */
        {{.id = 18, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_PRE_DATA,
          .copy = COPY_STMT}, false},
        {{.id = 19, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_POST_DATA,
          .copy = COPY_STMT}, false},
        {{.id = 20, .has_data = 1, .desc = "TABLE DATA", .section = PGD_SECTION_NONE,
          .copy = COPY_STMT}, false},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct w *w = w_new();
    struct pgd_toc toc;
    struct rg_err err;

    (void)state;
    w_header(w, 14);
    w_count(w, N);
    for (size_t i = 0; i < N; i++) {
        struct spec s = cases[i].s;

        s.tag = "t";
        w_entry(w, &s);
    }
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    assert_int_equal(toc.n, N);
    for (size_t i = 0; i < N; i++) {
        const struct pgd_entry *e = pgd_toc_find(&toc, (int)cases[i].s.id);

        assert_non_null(e);
        if (pgd_entry_copyable(e) != cases[i].copyable)
            fail_msg("entry %zu: copy statement '%s': copyable %d, wanted %d", i, e->copy_stmt,
                     pgd_entry_copyable(e), cases[i].copyable);
    }
    pgd_toc_release(&toc);
    free(w);
}

static void
test_toc_find(void **state)
{
    struct w *w = std_dump(14);
    struct pgd_toc toc;
    struct rg_err err;

    (void)state;
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    for (size_t i = 0; i < STD_N; i++) {
        const struct pgd_entry *e = pgd_toc_find(&toc, (int)std_entries[i].id);

        assert_ptr_equal(e, &toc.entries[i]);
        assert_int_equal(e->id, std_entries[i].id);
    }
    assert_null(pgd_toc_find(&toc, 0));
    assert_null(pgd_toc_find(&toc, -1));
    assert_null(pgd_toc_find(&toc, 9999));
    assert_null(pgd_toc_find(&toc, INT_MAX));
    pgd_toc_release(&toc);
    assert_null(pgd_toc_find(&toc, ID_DATA)); /* released: empty */
    free(w);
}

/* A malformed dump may repeat an id: find answers the first entry with it, however the index
 * sorts (qsort is not stable; enough entries share an id here to take its unstable path). */
static void
test_toc_find_repeated_id(void **state)
{
    enum { N = 24 };
    struct w *w = w_new();
    struct pgd_toc toc;
    struct rg_err err;
    struct spec s[N];
    char tags[N][8];

    (void)state;
    w_header(w, 14);
    w_count(w, N);
    for (int i = 0; i < N; i++) {
        snprintf(tags[i], sizeof(tags[i]), "t%d", i);
        s[i] = std_entries[1];
        s[i].tag = tags[i];
        s[i].id = i % 3 == 0 ? 7 : 100 + N - i; /* id 7 at 0, 3, 6, ... */
        w_entry(w, &s[i]);
    }
    w_toc_end(w);
    assert_int_equal(pgd_toc_read(&toc, w->buf, w->len, &err), 0);
    assert_ptr_equal(pgd_toc_find(&toc, 7), &toc.entries[0]);
    assert_string_equal(pgd_toc_find(&toc, 7)->tag, "t0");
    for (int i = 0; i < N; i++)
        if (i % 3 != 0)
            assert_ptr_equal(pgd_toc_find(&toc, 100 + N - i), &toc.entries[i]);
    assert_null(pgd_toc_find(&toc, 8));
    pgd_toc_release(&toc);
    free(w);
}

static void
test_copy_end(void **state)
{
    static const struct {
        const char *s;
        bool end;
    } cases[] = {{"\\.\n", true},  {"\\.\n\n\n", true}, {"\\.\n\n", true},  {"\\.", false},
                 {"\\.x\n", false}, {"a\n", false},      {"\\.\r\n", false}, {"\\\n", false},
                 {".\\\n", false},  {"\\.\n\\.\n", false}, {"", false},     {"\\", false},
                 {"\\\\.\n", false}};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].s);
        uint8_t *p = dup_prefix((const uint8_t *)cases[i].s, n);

        if (pgd_chunk_is_copy_end(p, n) != cases[i].end)
            fail_msg("chunk %zu: wanted %d", i, cases[i].end);
        free(p);
    }
}

/* ---- a real dump: pg_dump 15 of tests/fixtures/pgdump/small.dump (see the README there) ---- */

static uint8_t *
fixture(const char *name, size_t *len)
{
    const char *src = getenv("RG_SOURCE_DIR");
    char path[PATH_MAX];
    struct rg_buf b;
    char chunk[65536];
    size_t n;
    FILE *fp;

    if (!src)
        fail_msg("RG_SOURCE_DIR is not set (run through ctest)");
    snprintf(path, sizeof(path), "%s/tests/fixtures/pgdump/%s", src, name);
    fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot read fixture '%s': %s", path, strerror(errno));
    rg_buf_init(&b, 1 << 24);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        rg_buf_add(&b, chunk, n);
    fclose(fp);
    assert_false(b.truncated);
    *len = b.len;
    /* An exact-size copy, so that ASan sees a read past the end. */
    uint8_t *p = dup_prefix((const uint8_t *)b.data, b.len);
    rg_buf_release(&b);
    return p;
}

static const struct pgd_entry *
find_desc(const struct pgd_toc *toc, const char *desc, const char *tag)
{
    for (size_t i = 0; i < toc->n; i++)
        if (strcmp(toc->entries[i].desc, desc) == 0 && strcmp(toc->entries[i].tag, tag) == 0)
            return &toc->entries[i];
    fail_msg("no %s entry '%s' in the fixture", desc, tag);
    return NULL;
}

static void
test_real_dump(void **state)
{
    static const char rows[] =
        "1\ttab\\there\\nnew line, back\\\\slash, \xc3\xbcnic\xc3\xb8" "de \xe2\x9c\x93\t"
        "\\\\x00ff5c0a\n"
        "2\t\\N\t\\N\n"
        "3\t\t\\\\x\n";
    size_t len;
    uint8_t *p = fixture("small.dump", &len);
    struct pgd_toc toc;
    struct walk wk;
    struct rg_err err;
    const struct pgd_entry *e;

    (void)state;
    rg_err_clear(&err);
    assert_int_equal(pgd_toc_read(&toc, p, len, &err), 0);
    assert_string_equal(toc.unsupported, "");
    assert_int_equal(toc.vmaj, 1);
    assert_int_equal(toc.vmin, 14);
    assert_int_equal(toc.vrev, 0);
    assert_int_equal(toc.int_size, 4);
    assert_int_equal(toc.off_size, 8);
    assert_false(toc.compressed);
    assert_string_equal(toc.encoding, "UTF8");
    assert_int_equal(toc.n, 16);
    assert_true(toc.data_start > 0 && toc.data_start < len);

    e = find_desc(&toc, "TABLE DATA", "items");
    assert_string_equal(e->nspace, "public");
    assert_string_equal(e->copy_stmt, "COPY public.items (id, note, payload) FROM stdin;\n");
    assert_int_equal(e->section, PGD_SECTION_DATA);
    assert_true(e->has_data);
    assert_true(pgd_entry_copyable(e));
    assert_ptr_equal(pgd_toc_find(&toc, e->id), e);
    e = find_desc(&toc, "BLOBS", "BLOBS");
    assert_true(e->has_data);
    assert_false(pgd_entry_copyable(e));
    e = find_desc(&toc, "INDEX", "items_note_idx");
    assert_int_equal(e->section, PGD_SECTION_POST_DATA);
    assert_false(pgd_entry_copyable(e));
    assert_false(pgd_entry_copyable(find_desc(&toc, "SEQUENCE SET", "counter")));
    assert_false(pgd_entry_copyable(find_desc(&toc, "TABLE", "items")));
    for (size_t i = 0; i < toc.n; i++)
        assert_ptr_equal(pgd_toc_find(&toc, toc.entries[i].id), &toc.entries[i]);

    walk_init(&wk);
    assert_int_equal(walk_all(&wk, &toc, p, len, &err), 0);
    assert_int_equal(wk.blocks, 2); /* the table's data, the large objects */
    assert_int_equal(wk.copy_ends, 1);
    assert_string_equal(wk.rows.data, rows);
    rg_buf_release(&wk.rows);
    pgd_toc_release(&toc);
    free(p);
}

/* Every prefix of the real dump: an answer of the reader's own, never a read past the end. */
static void
test_real_dump_prefixes(void **state)
{
    size_t len, data_start;
    uint8_t *full = fixture("small.dump", &len);
    struct pgd_toc toc;
    struct rg_err err;

    (void)state;
    assert_int_equal(pgd_toc_read(&toc, full, len, &err), 0);
    data_start = toc.data_start;
    pgd_toc_release(&toc);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = dup_prefix(full, cut);
        int rc;

        rg_err_clear(&err);
        rc = pgd_toc_read(&toc, p, cut, &err);
        if (cut < 5) {
            assert_int_equal(rc, 0);
            assert_string_equal(toc.unsupported, "not a custom-format pg_dump archive");
        } else if (cut < data_start) {
            assert_int_equal(rc, RG_EINVAL);
            assert_true(strncmp(err.msg, "pg_dump archive: ", 17) == 0);
        } else {
            struct walk wk;

            assert_int_equal(rc, 0);
            assert_int_equal(toc.n, 16);
            walk_init(&wk);
            rc = walk_all(&wk, &toc, p, cut, &err);
            if (cut == data_start)
                assert_int_equal(rc, 0);
            else
                assert_true(rc == 0 || rc == RG_EINVAL);
            rg_buf_release(&wk.rows);
        }
        pgd_toc_release(&toc);
        free(p);
    }
    free(full);
}

/* ---- the stream reader: the same walk as the cursor, whatever the read sizes ---- */

struct mem_src {
    const uint8_t *p;
    size_t len, pos, step;
};

static int
mem_read(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err)
{
    struct mem_src *m = ctx;
    size_t n = m->len - m->pos;

    (void)err;
    n = n < m->step ? n : m->step;
    n = n < cap ? n : cap;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    *got = n;
    return 0;
}

/* The loader's walk over a stream read `step` bytes at a time: copyable rows into wk, every
 * other block teed into a memory file whose bytes, after the head, land in *skel. */
static int
stream_walk(struct walk *wk, struct rg_buf *skel, const uint8_t *p, size_t len, size_t step,
            struct rg_err *err)
{
    struct mem_src m = {.p = p, .len = len, .step = step};
    struct pgd_stream st;
    struct pgd_toc toc;
    const uint8_t *data;
    size_t n;
    FILE *tmp = tmpfile();
    int fd = tmp ? fileno(tmp) : -1, type = 0, id = 0, rc;

    assert_true(fd >= 0);
    pgd_stream_init(&st, mem_read, &m, err);
    if ((rc = pgd_stream_read_toc(&st, &toc)) == 0 && !toc.unsupported[0]) {
        assert_int_equal(pgd_stream_write_head(&st, fd, toc.data_start), 0);
        while ((rc = pgd_stream_next_block(&st, &type, &id)) > 0) {
            const struct pgd_entry *e = pgd_toc_find(&toc, id);

            wk->blocks++;
            if (type == PGD_BLOCK_DATA && e && pgd_entry_copyable(e)) {
                while ((rc = pgd_stream_next_chunk(&st, &data, &n)) > 0) {
                    assert_true(n > 0);
                    wk->chunks++;
                    if (pgd_chunk_is_copy_end(data, n))
                        wk->copy_ends++;
                    else
                        rg_buf_add(&wk->rows, data, n);
                }
            } else if ((rc = pgd_stream_tee_block(&st, fd)) == 0 &&
                       (rc = pgd_stream_skip_block(&st, type)) == 0) {
                rc = pgd_stream_tee_block(&st, -1);
            }
            if (rc < 0)
                break;
        }
    }
    if (toc.unsupported[0])
        rc = 1;
    pgd_toc_release(&toc);
    pgd_stream_release(&st);
    {
        off_t end = lseek(fd, 0, SEEK_END);
        char *b = rg_malloc((size_t)end + 1);

        assert_int_equal(pread(fd, b, (size_t)end, 0), end);
        rg_buf_add(skel, b, (size_t)end);
        free(b);
    }
    fclose(tmp);
    return rc;
}

/* What the skeleton must hold: the head, then every block the loader does not take, byte for
 * byte (from the cursor's walk). */
static void
expected_skeleton(struct rg_buf *out, const uint8_t *p, size_t len)
{
    struct pgd_toc toc;
    struct pgd_cursor c;
    struct rg_err err;
    const uint8_t *data;
    size_t n, start;
    int type = 0, id = 0;

    assert_int_equal(pgd_toc_read(&toc, p, len, &err), 0);
    rg_buf_add(out, p, toc.data_start);
    pgd_cursor_init(&c, &toc, p, len);
    for (start = c.pos; pgd_next_block(&c, &type, &id, &err) > 0; start = c.pos) {
        const struct pgd_entry *e = pgd_toc_find(&toc, id);

        if (type == PGD_BLOCK_DATA && e && pgd_entry_copyable(e)) {
            while (pgd_next_chunk(&c, &data, &n, &err) > 0)
                ;
        } else {
            assert_int_equal(pgd_skip_block(&c, type, &err), 0);
            rg_buf_add(out, p + start, c.pos - start);
        }
    }
    pgd_toc_release(&toc);
}

static void
check_stream_equals_cursor(const uint8_t *p, size_t len)
{
    static const size_t steps[] = {1, 3, 7, 4096, (size_t)1 << 24};
    struct pgd_toc toc;
    struct walk want;
    struct rg_buf skel_want;
    struct rg_err err;

    assert_int_equal(pgd_toc_read(&toc, p, len, &err), 0);
    walk_init(&want);
    assert_int_equal(walk_all(&want, &toc, p, len, &err), 0);
    pgd_toc_release(&toc);
    rg_buf_init(&skel_want, 1 << 24);
    expected_skeleton(&skel_want, p, len);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct walk got;
        struct rg_buf skel;

        walk_init(&got);
        rg_buf_init(&skel, 1 << 24);
        if (stream_walk(&got, &skel, p, len, steps[i], &err) != 0)
            fail_msg("step %zu: %s", steps[i], err.msg);
        assert_int_equal(got.blocks, want.blocks);
        assert_int_equal(got.chunks, want.chunks);
        assert_int_equal(got.copy_ends, want.copy_ends);
        assert_int_equal(got.rows.len, want.rows.len);
        assert_memory_equal(got.rows.data, want.rows.data, want.rows.len);
        assert_int_equal(skel.len, skel_want.len);
        assert_memory_equal(skel.data, skel_want.data, skel.len);
        rg_buf_release(&got.rows);
        rg_buf_release(&skel);
    }
    rg_buf_release(&want.rows);
    rg_buf_release(&skel_want);
}

static void
test_stream_equals_cursor(void **state)
{
    static const int versions[] = {12, 14, 15, 16};
    size_t len;
    uint8_t *p;

    (void)state;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        struct w *w = std_dump(versions[i]);
        check_stream_equals_cursor(w->buf, w->len);
        free(w);
    }
    p = fixture("small.dump", &len);
    check_stream_equals_cursor(p, len);
    free(p);
}

/* Every prefix of a dump read as a stream ends as the cursor's walk of it ends: done, or
 * RG_EINVAL "pg_dump archive: ..."; and a prefix of the head asks for more. */
static void
test_stream_every_prefix(void **state)
{
    size_t len;
    uint8_t *full = fixture("small.dump", &len);
    struct pgd_toc toc;
    struct rg_err err;
    size_t data_start;

    (void)state;
    assert_int_equal(pgd_toc_read(&toc, full, len, &err), 0);
    data_start = toc.data_start;
    pgd_toc_release(&toc);
    for (size_t cut = 5; cut < len; cut++) {
        struct walk a, b;
        struct rg_buf skel;
        int want, got;
        bool more = false;
        uint8_t *p = dup_prefix(full, cut);

        want = pgd_toc_read_prefix(&toc, p, cut, &more, &err);
        assert_int_equal(more, cut < data_start);
        if (want == 0) {
            walk_init(&a);
            want = walk_all(&a, &toc, p, cut, &err);
            rg_buf_release(&a.rows);
        }
        pgd_toc_release(&toc);
        walk_init(&b);
        rg_buf_init(&skel, 1 << 24);
        rg_err_clear(&err);
        got = stream_walk(&b, &skel, p, cut, 5, &err);
        if (got != want)
            fail_msg("prefix of %zu bytes: stream %d, cursor %d (%s)", cut, got, want, err.msg);
        if (got < 0 && strncmp(err.msg, "pg_dump archive: ", 17) != 0)
            fail_msg("prefix of %zu bytes: %s", cut, err.msg);
        rg_buf_release(&b.rows);
        rg_buf_release(&skel);
        free(p);
    }
    free(full);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_v14),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_walk_blocks),
        cmocka_unit_test(test_empty_toc),
        cmocka_unit_test(test_encoding_odd),
        cmocka_unit_test(test_int_size_8),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_not_custom_format),
        cmocka_unit_test(test_unsupported_version),
        cmocka_unit_test(test_unsupported_format),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_every_byte_damaged),
        cmocka_unit_test(test_string_past_end),
        cmocka_unit_test(test_negative_string_length),
        cmocka_unit_test(test_entry_without_desc),
        cmocka_unit_test(test_entry_id_out_of_range),
        cmocka_unit_test(test_section_out_of_range),
        cmocka_unit_test(test_sizes_out_of_range),
        cmocka_unit_test(test_entry_count_out_of_range),
        cmocka_unit_test(test_integer_out_of_range),
        cmocka_unit_test(test_truncated_offset),
        cmocka_unit_test(test_chunk_past_end),
        cmocka_unit_test(test_negative_chunk_length),
        cmocka_unit_test(test_unknown_block_type),
        cmocka_unit_test(test_block_id_out_of_range),
        cmocka_unit_test(test_block_of_unknown_entry),
        cmocka_unit_test(test_copyable),
        cmocka_unit_test(test_toc_find),
        cmocka_unit_test(test_toc_find_repeated_id),
        cmocka_unit_test(test_copy_end),
        cmocka_unit_test(test_real_dump),
        cmocka_unit_test(test_real_dump_prefixes),
        cmocka_unit_test(test_stream_equals_cursor),
        cmocka_unit_test(test_stream_every_prefix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
