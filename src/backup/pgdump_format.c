/* pg_dump's custom format, read from memory with every length checked against what is there.
 * Layout (archive versions 1.12 to 1.16, PostgreSQL 10 to 17):
 *   "PGDMP" vmaj vmin vrev int_size off_size format
 *   compression (an int before 1.15, an algorithm byte since), 7 ints of creation time,
 *   3 strings (database, server version, pg_dump version), an int count of TOC entries,
 *   each entry a run of ints and strings ending in a data offset;
 *   then the data blocks: a type byte and a dump id, then length-prefixed chunks up to a zero.
 * An int is a sign byte and int_size bytes, least significant first; a string is an int length
 * (-1 for none) and that many bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/pgdump_format.h"
#include "rollgate/util.h"

enum { FORMAT_CUSTOM = 1, MAX_INT_SIZE = 8 };

#define VERSION(a, b, c) (((a) << 16) | ((b) << 8) | (c))

struct rd {
    const uint8_t *p;
    size_t len, pos;
    int int_size, off_size;
    struct rg_err *err;
};

static int
bad(struct rd *r, const char *what)
{
    return rg_err_set(r->err, RG_EINVAL, "pg_dump archive: %s at offset %zu", what, r->pos);
}

static int
rd_byte(struct rd *r, int *out)
{
    if (r->pos >= r->len)
        return bad(r, "truncated");
    *out = r->p[r->pos++];
    return 0;
}

static int
rd_int(struct rd *r, int64_t *out)
{
    uint64_t v = 0;
    int sign;

    if (r->pos >= r->len || r->len - r->pos < (size_t)r->int_size + 1)
        return bad(r, "truncated integer");
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
        return bad(r, "string runs past the end");
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
        return bad(r, "truncated data offset");
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
    struct rd r = {.p = p, .len = len, .err = err};
    int64_t count;
    int version = 0, rc;

    memset(t, 0, sizeof(*t));
    if ((rc = read_header(t, &r, &version)) != 0)
        return rc < 0 ? rc : 0;
    if ((rc = rd_int(&r, &count)) < 0)
        goto fail;
    /* An entry takes well over 16 bytes: a count past that is damage, not a big dump. */
    if (count < 0 || (uint64_t)count > (len - r.pos) / 16) {
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
