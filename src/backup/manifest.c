/* The manifest of a rollgate backup (JSON through jansson), the member table it lists, and
 * what rollgate reads of Odoo's own manifest. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "backup/archive_internal.h"
#include "rollgate/util.h"

/* ---- member table ---- */

static uint64_t
path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t *
slot_for(const struct ar_members *ms, const char *path)
{
    size_t mask = ms->nslots - 1, i = (size_t)path_hash(path) & mask;

    for (;; i = (i + 1) & mask) {
        size_t *slot = &ms->slots[i];
        if (*slot == 0 || strcmp(ms->v[*slot - 1].path, path) == 0)
            return slot;
    }
}

static void
reindex(struct ar_members *ms, size_t nslots)
{
    size_t i;

    free(ms->slots);
    ms->slots = rg_calloc(nslots, sizeof(*ms->slots));
    ms->nslots = nslots;
    for (i = 0; i < ms->n; i++)
        *slot_for(ms, ms->v[i].path) = i + 1;
}

void
ar_members_release(struct ar_members *ms)
{
    size_t i;

    if (!ms)
        return;
    for (i = 0; i < ms->n; i++)
        free(ms->v[i].path);
    free(ms->v);
    free(ms->slots);
    memset(ms, 0, sizeof(*ms));
}

struct ar_member *
ar_members_find(const struct ar_members *ms, const char *path)
{
    size_t *slot;

    if (ms->nslots == 0)
        return NULL;
    slot = slot_for(ms, path);
    return *slot ? &ms->v[*slot - 1] : NULL;
}

struct ar_member *
ar_members_add(struct ar_members *ms, const char *path, enum ar_type type)
{
    struct ar_member *m;
    size_t *slot;

    /* Keep the load under a half so probes stay short. */
    if ((ms->n + 1) * 2 > ms->nslots)
        reindex(ms, ms->nslots ? ms->nslots * 2 : 64);
    slot = slot_for(ms, path);
    if (*slot)
        return NULL;
    ms->v = rg_grow(ms->v, &ms->cap, ms->n + 1, sizeof(*ms->v));
    m = &ms->v[ms->n++];
    memset(m, 0, sizeof(*m));
    m->path = rg_strdup(path);
    m->type = type;
    *slot = ms->n;
    return m;
}

/* ---- database formats ---- */

static const struct {
    const char *format, *stem, *kind;
} db_formats[] = {
    {"custom", "database.dump", "postgresql"},
    {"plain", "database.sql", "postgresql"},
    {"sqlite", "database.sqlite", "sqlite"},
};

const char *
ar_db_stem(const char *format)
{
    for (size_t i = 0; format && i < sizeof(db_formats) / sizeof(db_formats[0]); i++)
        if (strcmp(format, db_formats[i].format) == 0)
            return db_formats[i].stem;
    return NULL;
}

const char *
ar_db_kind(const char *format)
{
    for (size_t i = 0; format && i < sizeof(db_formats) / sizeof(db_formats[0]); i++)
        if (strcmp(format, db_formats[i].format) == 0)
            return db_formats[i].kind;
    return NULL;
}

const char *
ar_db_part_stem(const char *name)
{
    for (size_t i = 0; i < sizeof(db_formats) / sizeof(db_formats[0]); i++) {
        const char *stem = db_formats[i].stem;
        size_t n = strlen(stem);
        if (strncmp(name, stem, n) != 0 || name[n] != '.' || strlen(name) != n + 1 + AR_PART_DIGITS)
            continue;
        for (size_t j = n + 1; j < n + 1 + AR_PART_DIGITS; j++)
            if (name[j] < '0' || name[j] > '9')
                return NULL;
        return stem;
    }
    return NULL;
}

/* ---- helpers ---- */

const char *
ar_size_format(char *buf, size_t size, uint64_t n)
{
    static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
    int i;

    for (i = 0; i < 4; i++) {
        uint64_t unit = (uint64_t)1 << (10 * (4 - i));
        if (n >= unit && n % unit == 0) {
            snprintf(buf, size, "%" PRIu64 " %s", n / unit, units[i]);
            return buf;
        }
    }
    snprintf(buf, size, "%" PRIu64 " bytes", n);
    return buf;
}

char *
ar_now_rfc3339(void)
{
    char buf[32];
    time_t now = time(NULL);
    struct tm tm;

    if (!gmtime_r(&now, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return rg_strdup("1970-01-01T00:00:00Z");
    return rg_strdup(buf);
}

void
rg_archive_manifest_release(struct rg_archive_manifest *m)
{
    if (!m)
        return;
    free(m->target);
    free(m->tag);
    free(m->digest);
    free(m->db_name);
    free(m->server_version);
    free(m->db_format);
    free(m->db_kind);
    free(m->created_at);
    free(m->rollgate_version);
    memset(m, 0, sizeof(*m));
}

/* ---- writing ---- */

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void
set_new(json_t *obj, const char *key, json_t *value)
{
    /* A NULL value means jansson could not allocate (or a string was not UTF-8). */
    if (!value || json_object_set_new(obj, key, value) != 0) {
        fprintf(stderr, "rollgate: cannot build the manifest field '%s'\n", key);
        abort();
    }
}

char *
ar_manifest_format(const struct rg_archive_manifest *m, const struct ar_members *ms)
{
    json_t *root = json_object(), *rel = json_object(), *db = json_object();
    json_t *members = json_array(), *fs;
    char *text, *out;
    size_t i;

    set_new(root, "format", json_string(RG_ARCHIVE_FORMAT));
    set_new(root, "version", json_integer(RG_ARCHIVE_VERSION));
    set_new(root, "rollgate_version", str_or_null(m->rollgate_version));
    set_new(root, "created_at", str_or_null(m->created_at));
    set_new(root, "target", str_or_null(m->target));
    set_new(rel, "tag", str_or_null(m->tag));
    set_new(rel, "digest", str_or_null(m->digest));
    set_new(root, "release", rel);
    set_new(db, "name", str_or_null(m->db_name));
    set_new(db, "server_version", str_or_null(m->server_version));
    set_new(db, "kind", str_or_null(ar_db_kind(m->db_format)));
    set_new(db, "format", str_or_null(m->db_format));
    set_new(db, "parts", json_integer((json_int_t)m->db_parts));
    set_new(db, "size", json_integer((json_int_t)m->db_size));
    set_new(db, "sha256", json_string(m->db_sha256));
    set_new(root, "database", db);
    if (m->has_filestore) {
        fs = json_object();
        set_new(fs, "files", json_integer((json_int_t)m->fs_files));
        set_new(fs, "size", json_integer((json_int_t)m->fs_size));
    } else {
        fs = json_null();
    }
    set_new(root, "filestore", fs);
    for (i = 0; i < ms->n; i++) {
        const struct ar_member *mb = &ms->v[i];
        json_t *o = json_object();
        set_new(o, "path", json_string(mb->path));
        set_new(o, "type", json_string(mb->type == AR_DIR ? "dir" : "file"));
        if (mb->type == AR_FILE) {
            set_new(o, "size", json_integer((json_int_t)mb->size));
            set_new(o, "sha256", json_string(mb->sha256));
        }
        if (json_array_append_new(members, o) != 0)
            abort();
    }
    set_new(root, "members", members);
    /* Compact: a million filestore members must stay well under RG_ARCHIVE_MAX_MANIFEST. */
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        abort();
    out = rg_asprintf("%s\n", text);
    free(text);
    return out;
}

/* ---- reading ---- */

struct mctx {
    const char *archive;
    struct rg_err *err;
};

static int
bad_field(struct mctx *c, const char *field, const char *what)
{
    return rg_err_set(c->err, RG_EINVAL, "backup '%s': manifest field '%s' %s", c->archive,
                      field, what);
}

/* A string field: required, or nullable (absent and null give NULL). */
static int
get_str(struct mctx *c, json_t *obj, const char *key, const char *field, bool nullable,
        char **out)
{
    json_t *v = json_object_get(obj, key);

    if (nullable && (!v || json_is_null(v)))
        return 0;
    if (!json_is_string(v))
        return bad_field(c, field, "is missing or has the wrong type");
    *out = rg_strdup(json_string_value(v));
    return 0;
}

static int
get_u64(struct mctx *c, json_t *obj, const char *key, const char *field, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v))
        return bad_field(c, field, "is missing or has the wrong type");
    if (json_integer_value(v) < 0)
        return bad_field(c, field, "has a bad value");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static bool
is_sha256_hex(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

static int
get_sha(struct mctx *c, json_t *obj, const char *field, char out[65])
{
    json_t *v = json_object_get(obj, "sha256");

    if (!json_is_string(v))
        return bad_field(c, field, "is missing or has the wrong type");
    if (!is_sha256_hex(json_string_value(v)))
        return bad_field(c, field, "has a bad value");
    memcpy(out, json_string_value(v), 65);
    return 0;
}

static int
parse_members(struct mctx *c, json_t *arr, struct ar_members *ms)
{
    size_t i;
    json_t *o;

    if (!json_is_array(arr))
        return bad_field(c, "members", "is missing or has the wrong type");
    json_array_foreach(arr, i, o) {
        json_t *path = json_object_get(o, "path"), *type = json_object_get(o, "type");
        struct ar_member *mb;
        enum ar_type t;
        int rc;

        if (!json_is_string(path))
            return bad_field(c, "members[].path", "is missing or has the wrong type");
        if (json_is_string(type) && strcmp(json_string_value(type), "file") == 0)
            t = AR_FILE;
        else if (json_is_string(type) && strcmp(json_string_value(type), "dir") == 0)
            t = AR_DIR;
        else
            return bad_field(c, "members[].type", "is missing or has the wrong type");
        mb = ar_members_add(ms, json_string_value(path), t);
        if (!mb)
            return rg_err_set(c->err, RG_EINVAL, "backup '%s': manifest lists member '%s' twice",
                              c->archive, json_string_value(path));
        if (t == AR_FILE &&
            ((rc = get_u64(c, o, "size", "members[].size", &mb->size)) < 0 ||
             (rc = get_sha(c, o, "members[].sha256", mb->sha256)) < 0))
            return rc;
    }
    return 0;
}

int
ar_manifest_parse(struct rg_archive_manifest *m, struct ar_members *ms, const char *text,
                  size_t len, const char *archive, struct rg_err *err)
{
    struct mctx c = {archive, err};
    json_t *root = NULL, *v, *rel, *db, *fs;
    json_error_t jerr;
    uint64_t parts;
    int rc;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        if (root)
            rc = rg_err_set(err, RG_EINVAL,
                            "backup '%s': member '%s' is not valid JSON: not an object",
                            archive, AR_MANIFEST_NAME);
        else
            rc = rg_err_set(err, RG_EINVAL,
                            "backup '%s': member '%s' is not valid JSON: %s (line %d, column %d)",
                            archive, AR_MANIFEST_NAME, jerr.text, jerr.line, jerr.column);
        goto out;
    }
    v = json_object_get(root, "format");
    if (!json_is_string(v)) {
        rc = bad_field(&c, "format", "is missing or has the wrong type");
        goto out;
    }
    if (strcmp(json_string_value(v), RG_ARCHIVE_FORMAT) != 0) {
        rc = rg_err_set(err, RG_EINVAL,
                        "backup '%s': unknown manifest format '%s' (this rollgate reads '%s')",
                        archive, json_string_value(v), RG_ARCHIVE_FORMAT);
        goto out;
    }
    v = json_object_get(root, "version");
    if (!json_is_integer(v)) {
        rc = bad_field(&c, "version", "is missing or has the wrong type");
        goto out;
    }
    if (json_integer_value(v) != RG_ARCHIVE_VERSION) {
        rc = rg_err_set(err, RG_EINVAL,
                        "backup '%s': unknown manifest version %" JSON_INTEGER_FORMAT
                        " (this rollgate reads version %d)",
                        archive, json_integer_value(v), RG_ARCHIVE_VERSION);
        goto out;
    }
    m->version = RG_ARCHIVE_VERSION;
    rel = json_object_get(root, "release");
    db = json_object_get(root, "database");
    fs = json_object_get(root, "filestore");
    if ((rc = get_str(&c, root, "rollgate_version", "rollgate_version", false,
                      &m->rollgate_version)) < 0 ||
        (rc = get_str(&c, root, "created_at", "created_at", false, &m->created_at)) < 0 ||
        (rc = get_str(&c, root, "target", "target", false, &m->target)) < 0)
        goto out;
    if (!json_is_object(rel)) {
        rc = bad_field(&c, "release", "is missing or has the wrong type");
        goto out;
    }
    if ((rc = get_str(&c, rel, "tag", "release.tag", false, &m->tag)) < 0 ||
        (rc = get_str(&c, rel, "digest", "release.digest", true, &m->digest)) < 0)
        goto out;
    if (!json_is_object(db)) {
        rc = bad_field(&c, "database", "is missing or has the wrong type");
        goto out;
    }
    if ((rc = get_str(&c, db, "name", "database.name", false, &m->db_name)) < 0 ||
        (rc = get_str(&c, db, "server_version", "database.server_version", true,
                      &m->server_version)) < 0 ||
        (rc = get_str(&c, db, "format", "database.format", false, &m->db_format)) < 0 ||
        (rc = get_u64(&c, db, "parts", "database.parts", &parts)) < 0 ||
        (rc = get_u64(&c, db, "size", "database.size", &m->db_size)) < 0 ||
        (rc = get_sha(&c, db, "database.sha256", m->db_sha256)) < 0)
        goto out;
    if (!ar_db_stem(m->db_format)) {
        rc = bad_field(&c, "database.format", "has a bad value");
        goto out;
    }
    /* Backups written before SQLite was supported have no kind: theirs is PostgreSQL. */
    if ((rc = get_str(&c, db, "kind", "database.kind", true, &m->db_kind)) < 0)
        goto out;
    if (!m->db_kind)
        m->db_kind = rg_strdup("postgresql");
    if (strcmp(m->db_kind, ar_db_kind(m->db_format)) != 0) {
        rc = bad_field(&c, "database.kind", "has a bad value");
        goto out;
    }
    if (parts == 0 || parts > AR_MAX_PARTS) {
        rc = bad_field(&c, "database.parts", "has a bad value");
        goto out;
    }
    m->db_parts = (size_t)parts;
    if (json_is_object(fs)) {
        m->has_filestore = true;
        if ((rc = get_u64(&c, fs, "files", "filestore.files", &m->fs_files)) < 0 ||
            (rc = get_u64(&c, fs, "size", "filestore.size", &m->fs_size)) < 0)
            goto out;
    } else if (!json_is_null(fs)) {
        rc = bad_field(&c, "filestore", "is missing or has the wrong type");
        goto out;
    }
    rc = parse_members(&c, json_object_get(root, "members"), ms);
out:
    json_decref(root);
    return rc;
}

void
ar_odoo_manifest_parse(struct rg_archive_manifest *m, const char *text, size_t len)
{
    json_t *root = json_loadb(text, len, 0, NULL), *v;

    if (!json_is_object(root))
        goto out;
    v = json_object_get(root, "db_name");
    if (json_is_string(v) && !m->db_name)
        m->db_name = rg_strdup(json_string_value(v));
    v = json_object_get(root, "pg_version");
    if (json_is_string(v) && !m->server_version)
        m->server_version = rg_strdup(json_string_value(v));
out:
    json_decref(root);
}
