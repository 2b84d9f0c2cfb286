/* pg_dump's custom format, read from memory with every length checked against what is there.
 * Layout (archive versions 1.12 to 1.16, PostgreSQL 10 to 17):
 *   "PGDMP" vmaj vmin vrev int_size off_size format
 *   compression (an int before 1.15, an algorithm byte since), 7 ints of creation time,
 *   3 strings (database, server version, pg_dump version), an int count of TOC entries,
 *   each entry a run of ints and strings ending in a data offset;
 *   then the data blocks: a type byte and a dump id, then length-prefixed chunks up to a zero.
 * An int is a sign byte and int_size bytes, least significant first; a string is an int length
 * (-1 for none) and that many bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/pgdump_format.h"
#include "rollgate/util.h"

enum { FORMAT_CUSTOM = 1, MAX_INT_SIZE = 8 };

#define VERSION(a, b, c) (((a) << 16) | ((b) << 8) | (c))

struct rd {
    const uint8_t *p;
    size_t len, pos;
    int int_size, off_size;
    bool short_input; /* a read failed only because the bytes ended: more input may parse */
    struct rg_err *err;
};

static int
bad(struct rd *r, const char *what)
{
    return rg_err_set(r->err, RG_EINVAL, "pg_dump archive: %s at offset %zu", what, r->pos);
}

static int
short_input(struct rd *r, const char *what)
{
    r->short_input = true;
    return bad(r, what);
}

static int
rd_byte(struct rd *r, int *out)
{
    if (r->pos >= r->len)
        return short_input(r, "truncated");
    *out = r->p[r->pos++];
    return 0;
}

static int
rd_int(struct rd *r, int64_t *out)
{
    uint64_t v = 0;
    int sign;

    if (r->pos >= r->len || r->len - r->pos < (size_t)r->int_size + 1)
        return short_input(r, "truncated integer");
    sign = r->p[r->pos++];
    for (int i = 0; i < r->int_size; i++)
        v |= (uint64_t)r->p[r->pos++] << (8 * i);
    /* Lengths, counts and ids: anything past 2^62 is damage, not data. */
    if (v > (UINT64_C(1) << 62))
        return bad(r, "integer out of range");
    *out = sign ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* A string; *out NULL for pg_dump's "no string" (length -1). */
static int
rd_str(struct rd *r, char **out)
{
    int64_t n;
    int rc;

    *out = NULL;
    if ((rc = rd_int(r, &n)) < 0)
        return rc;
    if (n == -1)
        return 0;
    if (n < 0)
        return bad(r, "negative string length");
    if ((uint64_t)n > r->len - r->pos)
        return short_input(r, "string runs past the end");
    *out = rg_strndup((const char *)r->p + r->pos, (size_t)n);
    r->pos += (size_t)n;
    return 0;
}

static int
rd_skip_str(struct rd *r)
{
    char *s = NULL;
    int rc = rd_str(r, &s);

    free(s);
    return rc;
}

/* The custom format's data offset: a flag byte and off_size bytes. */
static int
rd_offset(struct rd *r)
{
    if (r->pos >= r->len || r->len - r->pos < (size_t)r->off_size + 1)
        return short_input(r, "truncated data offset");
    r->pos += (size_t)r->off_size + 1;
    return 0;
}

static int
read_header(struct pgd_toc *t, struct rd *r, int *version)
{
    int vmaj = 0, vmin = 0, vrev = 0, isz = 0, osz = 0, fmt = 0, rc, algo = 0;
    int64_t v;

    if (r->len < 5 || memcmp(r->p, "PGDMP", 5) != 0) {
        snprintf(t->unsupported, sizeof(t->unsupported), "not a custom-format pg_dump archive");
        return 1;
    }
    r->pos = 5;
    if ((rc = rd_byte(r, &vmaj)) < 0 || (rc = rd_byte(r, &vmin)) < 0 ||
        (rc = rd_byte(r, &vrev)) < 0)
        return rc;
    t->vmaj = vmaj;
    t->vmin = vmin;
    t->vrev = vrev;
    *version = VERSION(vmaj, vmin, vrev);
    if (*version < VERSION(1, 12, 0) || *version >= VERSION(1, 17, 0)) {
        snprintf(t->unsupported, sizeof(t->unsupported), "archive version %d.%d.%d", vmaj, vmin,
                 vrev);
        return 1;
    }
    if ((rc = rd_byte(r, &isz)) < 0 || (rc = rd_byte(r, &osz)) < 0 || (rc = rd_byte(r, &fmt)) < 0)
        return rc;
    if (isz < 1 || isz > MAX_INT_SIZE || osz < 1 || osz > MAX_INT_SIZE)
        return bad(r, "integer or offset size out of range");
    if (fmt != FORMAT_CUSTOM) {
        snprintf(t->unsupported, sizeof(t->unsupported), "archive format %d, not custom", fmt);
        return 1;
    }
    r->int_size = t->int_size = isz;
    r->off_size = t->off_size = osz;
    if (*version >= VERSION(1, 15, 0)) {
        if ((rc = rd_byte(r, &algo)) < 0)
            return rc;
        t->compressed = algo != 0;
    } else {
        if ((rc = rd_int(r, &v)) < 0)
            return rc;
        t->compressed = v != 0;
    }
    for (int i = 0; i < 7; i++) /* creation time */
        if ((rc = rd_int(r, &v)) < 0)
            return rc;
    for (int i = 0; i < 3; i++) /* database, server version, pg_dump version */
        if ((rc = rd_skip_str(r)) < 0)
            return rc;
    return 0;
}

/* The encoding name out of the ENCODING entry's "SET client_encoding = 'NAME';". Names are
 * letters, digits and underscores; anything else is ignored (the server's default is used). */
static void
take_encoding(struct pgd_toc *t, const char *defn)
{
    const char *q = defn ? strchr(defn, '\'') : NULL;
    size_t n;

    if (!q)
        return;
    n = strspn(q + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    if (n == 0 || n >= sizeof(t->encoding) || q[1 + n] != '\'')
        return;
    memcpy(t->encoding, q + 1, n);
    t->encoding[n] = '\0';
}

static int
read_entry(struct pgd_toc *t, struct pgd_entry *e, struct rd *r, int version)
{
    char *defn = NULL, *s = NULL;
    int64_t v;
    int rc;

    if ((rc = rd_int(r, &v)) < 0)
        goto out;
    if (v <= 0 || v > INT32_MAX) {
        rc = bad(r, "entry id out of range");
        goto out;
    }
    e->id = (int)v;
    if ((rc = rd_int(r, &v)) < 0)
        goto out;
    e->has_data = v != 0;
    if ((rc = rd_skip_str(r)) < 0 || (rc = rd_skip_str(r)) < 0 || /* table oid, oid */
        (rc = rd_str(r, &e->tag)) < 0 || (rc = rd_str(r, &e->desc)) < 0 ||
        (rc = rd_int(r, &v)) < 0)
        goto out;
    if (v < PGD_SECTION_NONE || v > PGD_SECTION_POST_DATA) {
        rc = bad(r, "section out of range");
        goto out;
    }
    e->section = (int)v;
    if ((rc = rd_str(r, &defn)) < 0 || (rc = rd_skip_str(r)) < 0 || /* drop statement */
        (rc = rd_str(r, &e->copy_stmt)) < 0 || (rc = rd_str(r, &e->nspace)) < 0 ||
        (rc = rd_skip_str(r)) < 0) /* tablespace */
        goto out;
    if (version >= VERSION(1, 14, 0) && (rc = rd_skip_str(r)) < 0) /* table access method */
        goto out;
    if (version >= VERSION(1, 16, 0) && (rc = rd_int(r, &v)) < 0) /* relkind */
        goto out;
    if ((rc = rd_skip_str(r)) < 0 || (rc = rd_skip_str(r)) < 0) /* owner, "with oids" */
        goto out;
    for (;;) { /* dependencies, up to a missing string */
        if ((rc = rd_str(r, &s)) < 0)
            goto out;
        if (!s)
            break;
        free(s);
        s = NULL;
    }
    if ((rc = rd_offset(r)) < 0)
        goto out;
    if (!e->desc || !e->tag) {
        rc = bad(r, "entry without a type or name");
        goto out;
    }
    if (!e->nspace)
        e->nspace = rg_strdup("");
    if (!e->copy_stmt)
        e->copy_stmt = rg_strdup("");
    if (strcmp(e->desc, "ENCODING") == 0)
        take_encoding(t, defn);
    else if (strcmp(e->desc, "STDSTRINGS") == 0)
        t->std_strings_off = defn && strstr(defn, "'off'") != NULL;
out:
    free(defn);
    free(s);
    return rc;
}

static int
cmp_id(const void *a, const void *b)
{
    const struct pgd_entry *x = *(const struct pgd_entry *const *)a;
    const struct pgd_entry *y = *(const struct pgd_entry *const *)b;

    /* Ties broken by position: qsort is not stable, and find answers the first entry with an
     * id when a (malformed) dump repeats one. */
    if (x->id != y->id)
        return (x->id > y->id) - (x->id < y->id);
    return (x > y) - (x < y);
}

int
pgd_toc_read(struct pgd_toc *t, const uint8_t *p, size_t len, struct rg_err *err)
{
    return pgd_toc_read_prefix(t, p, len, NULL, err);
}

int
pgd_toc_read_prefix(struct pgd_toc *t, const uint8_t *p, size_t len, bool *need_more,
                    struct rg_err *err)
{
    struct rd r = {.p = p, .len = len, .err = err};
    int64_t count;
    int version = 0, rc;

    memset(t, 0, sizeof(*t));
    if (need_more)
        *need_more = false;
    if ((rc = read_header(t, &r, &version)) != 0) {
        if (rc < 0 && need_more)
            *need_more = r.short_input;
        return rc < 0 ? rc : 0;
    }
    if ((rc = rd_int(&r, &count)) < 0)
        goto fail;
    /* An entry takes well over 16 bytes: a count past that is damage, not a big dump. */
    if (count < 0 || (uint64_t)count > (len - r.pos) / 16) {
        r.short_input = count >= 0;
        rc = bad(&r, "entry count out of range");
        goto fail;
    }
    t->entries = rg_calloc((size_t)count ? (size_t)count : 1, sizeof(*t->entries));
    for (int64_t i = 0; i < count; i++) {
        t->n++;
        if ((rc = read_entry(t, &t->entries[i], &r, version)) < 0)
            goto fail;
    }
    t->data_start = r.pos;
    t->by_id = rg_calloc(t->n ? t->n : 1, sizeof(*t->by_id));
    for (size_t i = 0; i < t->n; i++)
        t->by_id[i] = &t->entries[i];
    qsort(t->by_id, t->n, sizeof(*t->by_id), cmp_id);
    return 0;
fail:
    if (need_more)
        *need_more = r.short_input;
    pgd_toc_release(t);
    return rc;
}

void
pgd_toc_release(struct pgd_toc *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->entries[i].desc);
        free(t->entries[i].tag);
        free(t->entries[i].nspace);
        free(t->entries[i].copy_stmt);
    }
    free(t->entries);
    free(t->by_id);
    t->entries = NULL;
    t->by_id = NULL;
    t->n = 0;
}

const struct pgd_entry *
pgd_toc_find(const struct pgd_toc *t, int id)
{
    size_t lo = 0, hi = t->n;

    /* A data walk looks up every block: binary search in the index for the leftmost entry. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->by_id[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->by_id[lo]->id == id ? t->by_id[lo] : NULL;
}

/* Whether s is one COPY statement and nothing else: outside double-quoted names no quote, no
 * comment, no newline and no ';' but the final " FROM stdin;\n". pg_load.c runs it as it is. */
static bool
single_copy_from_stdin(const char *s)
{
    static const char tail[] = " FROM stdin;\n";
    size_t n = strlen(s), body = n - (sizeof(tail) - 1);
    bool quoted = false;

    if (n < 5 + sizeof(tail) - 1 || strncmp(s, "COPY ", 5) != 0 || strcmp(s + body, tail) != 0)
        return false;
    for (size_t i = 5; i < body; i++) {
        if (s[i] == '"') {
            quoted = !quoted; /* a doubled quote inside a name toggles twice */
            continue;
        }
        if (quoted)
            continue;
        if (s[i] == '\'' || s[i] == ';' || s[i] == '\n' || s[i] == '\r' ||
            (s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*'))
            return false;
    }
    return !quoted;
}

bool
pgd_entry_copyable(const struct pgd_entry *e)
{
    return e->has_data && e->section == PGD_SECTION_DATA && strcmp(e->desc, "TABLE DATA") == 0 &&
           single_copy_from_stdin(e->copy_stmt);
}

void
pgd_cursor_init(struct pgd_cursor *c, const struct pgd_toc *t, const uint8_t *p, size_t len)
{
    c->p = p;
    c->len = len;
    c->pos = t->data_start;
    c->int_size = t->int_size;
}

static int
cursor_int(struct pgd_cursor *c, int64_t *out, struct rg_err *err)
{
    struct rd r = {.p = c->p, .len = c->len, .pos = c->pos, .int_size = c->int_size, .err = err};
    int rc = rd_int(&r, out);

    c->pos = r.pos;
    return rc;
}

int
pgd_next_block(struct pgd_cursor *c, int *type, int *id, struct rg_err *err)
{
    int64_t v;
    int rc;

    if (c->pos == c->len)
        return 0;
    *type = c->p[c->pos++];
    if ((rc = cursor_int(c, &v, err)) < 0)
        return rc;
    if (v <= 0 || v > INT32_MAX)
        return rg_err_set(err, RG_EINVAL, "pg_dump archive: block id out of range at offset %zu",
                          c->pos);
    *id = (int)v;
    return 1;
}

int
pgd_next_chunk(struct pgd_cursor *c, const uint8_t **data, size_t *n, struct rg_err *err)
{
    int64_t v;
    int rc;

    if ((rc = cursor_int(c, &v, err)) < 0)
        return rc;
    if (v == 0)
        return 0;
    if (v < 0)
        return rg_err_set(err, RG_EINVAL, "pg_dump archive: negative chunk length at offset %zu",
                          c->pos);
    if ((uint64_t)v > c->len - c->pos)
        return rg_err_set(err, RG_EINVAL, "pg_dump archive: chunk runs past the end at offset %zu",
                          c->pos);
    *data = c->p + c->pos;
    *n = (size_t)v;
    c->pos += (size_t)v;
    return 1;
}

static int
skip_chunks(struct pgd_cursor *c, struct rg_err *err)
{
    const uint8_t *data;
    size_t n;
    int rc;

    while ((rc = pgd_next_chunk(c, &data, &n, err)) > 0)
        ;
    return rc;
}

int
pgd_skip_block(struct pgd_cursor *c, int type, struct rg_err *err)
{
    int64_t oid;
    int rc;

    if (type == PGD_BLOCK_DATA)
        return skip_chunks(c, err);
    if (type != PGD_BLOCK_BLOBS)
        return rg_err_set(err, RG_EINVAL, "pg_dump archive: unknown block type %d at offset %zu",
                          type, c->pos);
    /* Large objects: an oid and its chunks, up to an oid of 0. */
    for (;;) {
        if ((rc = cursor_int(c, &oid, err)) < 0)
            return rc;
        if (oid == 0)
            return 0;
        if ((rc = skip_chunks(c, err)) < 0)
            return rc;
    }
}

bool
pgd_chunk_is_copy_end(const uint8_t *data, size_t n)
{
    if (n < 3 || data[0] != '\\' || data[1] != '.')
        return false;
    for (size_t i = 2; i < n; i++)
        if (data[i] != '\n')
            return false;
    return true;
}

/* ---- the same walk over a stream ---- */

enum { STREAM_START = 4 << 20, TOC_MAX = 1 << 30 };

static int
stream_bad(struct pgd_stream *s, const char *what)
{
    return rg_err_set(s->err, RG_EINVAL, "pg_dump archive: %s at offset %llu", what,
                      (unsigned long long)(s->base + s->pos));
}

static int write_all(struct pgd_stream *s, int fd, const uint8_t *p, size_t n);

/* Writes what the tee has not written yet, up to pos. */
static int
tee_flush(struct pgd_stream *s)
{
    size_t from = s->tee_from;

    if (s->tee_fd < 0 || from >= s->pos)
        return 0;
    s->tee_from = s->pos;
    return write_all(s, s->tee_fd, s->buf + from, s->pos - from);
}

void
pgd_stream_init(struct pgd_stream *s, pgd_read_fn read, void *ctx, struct rg_err *err)
{
    memset(s, 0, sizeof(*s));
    s->read = read;
    s->ctx = ctx;
    s->err = err;
    s->tee_fd = -1;
    s->cap = STREAM_START;
    s->buf = rg_malloc(s->cap);
}

void
pgd_stream_release(struct pgd_stream *s)
{
    free(s->buf);
    s->buf = NULL;
}

/* At least n bytes from pos in the window: 1, or 0 when the input ends before, <0 on a read
 * error. The window is compacted (teed bytes written first) and grown as needed. */
static int
stream_fill(struct pgd_stream *s, size_t n)
{
    while (s->end - s->pos < n) {
        size_t got = 0;
        int rc;

        if (s->eof)
            return 0;
        if (s->pos > 0 && s->pos + n > s->cap) {
            if ((rc = tee_flush(s)) < 0)
                return rc;
            memmove(s->buf, s->buf + s->pos, s->end - s->pos);
            s->base += s->pos;
            s->end -= s->pos;
            s->tee_from -= s->tee_from >= s->pos ? s->pos : s->tee_from;
            s->pos = 0;
        }
        if (n > s->cap) {
            s->cap = n;
            s->buf = rg_realloc(s->buf, s->cap);
        }
        if ((rc = s->read(s->ctx, s->buf + s->end, s->cap - s->end, &got, s->err)) < 0)
            return rc;
        if (got == 0)
            s->eof = true;
        s->end += got;
    }
    return 1;
}

int
pgd_stream_read_toc(struct pgd_stream *s, struct pgd_toc *toc)
{
    bool more;
    int rc;

    /* The header and the table of contents are parsed whole from the start of the window,
     * which grows until they fit. */
    for (size_t want = STREAM_START;; want *= 2) {
        if ((rc = stream_fill(s, want)) < 0)
            return rc;
        rc = pgd_toc_read_prefix(toc, s->buf, s->end, &more, s->err);
        if (rc == 0 || !more || s->eof)
            break;
        if (want >= TOC_MAX)
            return rg_err_set(s->err, RG_EINVAL, "pg_dump archive: table of contents larger "
                              "than 1 GiB");
    }
    if (rc == 0 && !toc->unsupported[0]) {
        s->int_size = toc->int_size;
        s->pos = toc->data_start;
    }
    return rc;
}

static int
stream_int(struct pgd_stream *s, int64_t *out)
{
    struct rg_err ignored;
    int rc = stream_fill(s, (size_t)s->int_size + 1);
    /* After the fill: it may have moved the window. */
    struct rd r = {.p = s->buf, .len = s->end, .pos = s->pos, .int_size = s->int_size,
                   .err = &ignored};

    if (rc < 0)
        return rc;
    if (rc == 0)
        return stream_bad(s, "truncated integer");
    if (rd_int(&r, out) < 0)
        return stream_bad(s, "integer out of range");
    s->pos = r.pos;
    return 0;
}

int
pgd_stream_next_block(struct pgd_stream *s, int *type, int *id)
{
    int64_t v;
    int rc;

    if ((rc = stream_fill(s, 1)) <= 0)
        return rc;
    /* The header is kept as read, for a tee that starts with the block. */
    s->hdr[0] = s->buf[s->pos++];
    *type = s->hdr[0];
    if ((rc = stream_int(s, &v)) < 0)
        return rc;
    if (v <= 0 || v > INT32_MAX)
        return stream_bad(s, "block id out of range");
    memcpy(s->hdr + 1, s->buf + s->pos - (size_t)s->int_size - 1, (size_t)s->int_size + 1);
    s->hdr_len = (size_t)s->int_size + 2;
    *id = (int)v;
    return 1;
}

int
pgd_stream_next_chunk(struct pgd_stream *s, const uint8_t **data, size_t *n)
{
    int64_t v;
    int rc;

    if ((rc = stream_int(s, &v)) < 0)
        return rc;
    if (v == 0)
        return 0;
    if (v < 0)
        return stream_bad(s, "negative chunk length");
    if ((uint64_t)v > SIZE_MAX / 2 || (rc = stream_fill(s, (size_t)v)) == 0)
        return stream_bad(s, "chunk runs past the end");
    if (rc < 0)
        return rc;
    *data = s->buf + s->pos;
    *n = (size_t)v;
    s->pos += (size_t)v;
    return 1;
}

static int
stream_skip_chunks(struct pgd_stream *s)
{
    const uint8_t *data;
    size_t n;
    int rc;

    while ((rc = pgd_stream_next_chunk(s, &data, &n)) > 0)
        ;
    return rc;
}

int
pgd_stream_skip_block(struct pgd_stream *s, int type)
{
    int64_t oid;
    int rc;

    if (type == PGD_BLOCK_DATA)
        return stream_skip_chunks(s);
    if (type != PGD_BLOCK_BLOBS)
        return rg_err_set(s->err, RG_EINVAL, "pg_dump archive: unknown block type %d at offset "
                          "%llu", type, (unsigned long long)(s->base + s->pos));
    for (;;) {
        if ((rc = stream_int(s, &oid)) < 0)
            return rc;
        if (oid == 0)
            return 0;
        if ((rc = stream_skip_chunks(s)) < 0)
            return rc;
    }
}

static int
write_all(struct pgd_stream *s, int fd, const uint8_t *p, size_t n)
{
    if (rg_fs_write_all(fd, p, n, "", NULL) < 0)
        return rg_err_sys(s->err, RG_EIO, "cannot write the dump's skeleton");
    return 0;
}

int
pgd_stream_tee_block(struct pgd_stream *s, int fd)
{
    int rc = tee_flush(s);

    s->tee_fd = fd;
    s->tee_from = s->pos;
    if (rc == 0 && fd >= 0)
        rc = write_all(s, fd, s->hdr, s->hdr_len);
    return rc;
}

int
pgd_stream_write_head(struct pgd_stream *s, int fd, size_t len)
{
    if (s->base != 0 || len > s->end)
        return rg_err_set(s->err, RG_EINTERNAL, "the dump's start is no longer in the window");
    return write_all(s, fd, s->buf, len);
}

int
pgd_stream_copy_all(struct pgd_stream *s, int fd)
{
    int rc;

    if ((rc = pgd_stream_write_head(s, fd, s->end)) < 0)
        return rc;
    for (;;) {
        s->base += s->end;
        s->pos = s->end = 0;
        if ((rc = stream_fill(s, 1)) <= 0)
            return rc;
        if ((rc = write_all(s, fd, s->buf, s->end)) < 0)
            return rc;
    }
}
