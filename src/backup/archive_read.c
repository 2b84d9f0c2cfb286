/* Reading backups without trusting them: one pass over a rollgate tar, an Odoo zip or a plain
 * SQL file that checks every member's path, type and size, hashes the data, optionally hands it
 * to the extraction sink, and at the end holds a rollgate backup to its manifest. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup/archive_internal.h"
#include "backup/digest.h"
#include "rollgate/util.h"

#define READ_BUF 65536
#define MAX_PATH_LEN 4096

enum phase { PH_DB, PH_FS, PH_DONE };

/* Where extracted data goes; fds are -1 for what is not extracted. */
struct sink {
    int db_fd;
    const char *fs_dir; /* made on the first filestore member; NULL: the filestore is skipped */
    bool made_fs;
    int fs_fd;          /* the filestore root (fs_dir) */
    int file_fd;        /* the filestore file being written */
    mode_t file_mode;
};

struct scan {
    const char *path;                  /* the archive, for messages */
    int fd;
    struct rg_archive_limits lim;
    enum rg_archive_kind kind;
    bool gz;                           /* a .sql.gz */
    struct sink *sink;                 /* NULL when only verifying */
    struct rg_err *err;
    struct rg_archive_info *info;
    struct ar_members seen;
    char *last;                        /* the last member read, for messages */
    char *buf;
    enum phase phase;
    const char *stem;                  /* "database.dump", ".sql" or ".sqlite", once seen */
    size_t next_part;
    bool have_dump;                    /* a database member was read */
    struct ar_dbpipe *db;              /* the whole dump's checksum (and write), on a thread */
    uint64_t db_size, total;
    uint64_t fs_files, fs_size;
    bool have_fs;
    struct rg_buf manifest;
    uint64_t manifest_max;
    bool have_manifest;
};

/* What a member is to the kind of archive being read. */
enum role { R_DB, R_FS, R_MANIFEST, R_ODOO_MANIFEST };

static int
refuse(struct scan *s, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(struct scan *s, const char *member, const char *fmt, ...)
{
    char what[RG_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return rg_err_set(s->err, RG_EINVAL, "backup '%s': member '%s' %s", s->path, member, what);
}

static int
corrupt(struct scan *s, struct archive *a, const char *member)
{
    const char *msg = archive_error_string(a) ? archive_error_string(a) : "unknown error";

    if (member)
        return refuse(s, member, "is truncated or corrupt: %s", msg);
    if (s->last)
        return rg_err_set(s->err, RG_EINVAL,
                          "backup '%s' is truncated or corrupt after member '%s': %s", s->path,
                          s->last, msg);
    return rg_err_set(s->err, RG_EINVAL, "backup '%s' is truncated or corrupt: %s", s->path, msg);
}

/* ---- extraction sink ---- */

/* Opens (creating as needed, 0700) the directory rel under root, one component at a time and
 * never following a link. Returns an fd or -1 with errno. rel "" is root itself. */
static int
open_dirs(int root, const char *rel, size_t len)
{
    int cur = dup(root);
    size_t i = 0;

    while (cur >= 0 && i < len) {
        size_t j = i;
        char comp[256];
        int next;

        while (j < len && rel[j] != '/')
            j++;
        if (j - i >= sizeof(comp)) {
            close(cur);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, rel + i, j - i);
        comp[j - i] = '\0';
        /* EEXIST: made earlier for a file inside it (zips may omit directory members). */
        if (mkdirat(cur, comp, 0700) < 0 && errno != EEXIST) {
            close(cur);
            return -1;
        }
        next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(cur);
        cur = next;
        i = j + 1;
    }
    return cur;
}

static int
sink_fail(struct scan *s, const char *what, const char *member)
{
    return rg_err_sys(s->err, RG_EIO, "cannot %s '%s' from backup '%s'", what, member, s->path);
}

/* Called once a filestore member's header passed every check. rel is the path under fs_dir
 * ("" for the root). */
static int
sink_fs_begin(struct scan *s, const char *member, const char *rel, enum ar_type type,
              mode_t mode)
{
    struct sink *k = s->sink;
    const char *slash;
    int dfd;

    if (k && k->fs_fd < 0 && k->fs_dir && !k->made_fs) {
        if (mkdir(k->fs_dir, 0700) < 0)
            return errno == EEXIST ? rg_err_set(s->err, RG_EINVAL, "cannot extract to '%s': it "
                                                "already exists", k->fs_dir)
                                   : rg_err_sys(s->err, RG_EIO, "cannot create '%s'", k->fs_dir);
        k->made_fs = true;
        k->fs_fd = open(k->fs_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (k->fs_fd < 0 || fchmod(k->fs_fd, 0700) < 0)
            return rg_err_sys(s->err, RG_EIO, "cannot open '%s'", k->fs_dir);
    }
    /* fs_dir itself keeps the 0700 it was made with. */
    if (!k || k->fs_fd < 0 || rel[0] == '\0')
        return 0;
    if (type == AR_DIR) {
        dfd = open_dirs(k->fs_fd, rel, strlen(rel));
        if (dfd < 0)
            return sink_fail(s, "create directory", member);
        if (fchmod(dfd, (mode & 0755) | 0700) < 0) {
            close(dfd);
            return sink_fail(s, "create directory", member);
        }
        close(dfd);
        return 0;
    }
    slash = strrchr(rel, '/');
    dfd = open_dirs(k->fs_fd, rel, slash ? (size_t)(slash - rel) : 0);
    if (dfd < 0)
        return sink_fail(s, "create directory for", member);
    k->file_fd = openat(dfd, slash ? slash + 1 : rel,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    close(dfd);
    if (k->file_fd < 0)
        return sink_fail(s, "create", member);
    k->file_mode = (mode & 0755) | 0600;
    return 0;
}

static int
sink_fs_end(struct scan *s, const char *member)
{
    struct sink *k = s->sink;
    int rc = 0;

    if (!k || k->file_fd < 0)
        return 0;
    if (fchmod(k->file_fd, k->file_mode) < 0 || fsync(k->file_fd) < 0)
        rc = sink_fail(s, "write", member);
    close(k->file_fd);
    k->file_fd = -1;
    return rc;
}

/* ---- member checks ---- */

/* Whether a link at member pointing at target resolves outside the archive's root. Symbolic
 * links resolve from the member's directory, hard links from the root. */
static bool
link_escapes(const char *member, const char *target, bool hard)
{
    long depth = 0;
    const char *p;

    if (target[0] == '/')
        return true;
    if (!hard)
        for (p = member; *p; p++)
            if (*p == '/')
                depth++;
    for (p = target; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return true;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    return false;
}

/* The path rules every member obeys whatever the archive's kind. */
static int
check_path(struct scan *s, const char *name)
{
    const char *p = name;

    if (name[0] == '\0')
        return refuse(s, name, "is not a clean path (an empty or '.' component)");
    if (name[0] == '/')
        return refuse(s, name, "is an absolute path");
    if (strlen(name) > MAX_PATH_LEN)
        return refuse(s, name, "has a path longer than %d bytes", MAX_PATH_LEN);
    /* '..' anywhere is refused before the empty/'.' components, which are merely unclean. */
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return refuse(s, name, "escapes the archive (a '..' component)");
        p += n;
        if (*p == '/')
            p++;
    }
    for (p = name; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (e && e[1] == '\0'))
            return refuse(s, name, "is not a clean path (an empty or '.' component)");
        p += n;
        if (*p == '/')
            p++;
    }
    return 0;
}

static int
check_type(struct scan *s, struct archive_entry *e, const char *name, enum ar_type *type)
{
    const char *hard = archive_entry_hardlink(e);
    const char *sym = archive_entry_symlink(e);

    if (hard || archive_entry_filetype(e) == AE_IFLNK) {
        const char *target = hard ? hard : sym ? sym : "";
        if (link_escapes(name, target, hard != NULL))
            return refuse(s, name, "is a link to '%s' that points outside the archive", target);
        return refuse(s, name, "is a link to '%s': links are not allowed in a backup", target);
    }
    switch (archive_entry_filetype(e)) {
    case AE_IFREG: *type = AR_FILE; return 0;
    case AE_IFDIR: *type = AR_DIR; return 0;
    case AE_IFCHR:
    case AE_IFBLK: return refuse(s, name, "is a device file");
    case AE_IFIFO: return refuse(s, name, "is a fifo");
    case AE_IFSOCK: return refuse(s, name, "is a socket");
    }
    return refuse(s, name, "has an unknown type");
}

static bool
is_part(const char *name, const char **stem)
{
    *stem = ar_db_part_stem(name);
    return *stem != NULL;
}

static bool
is_filestore(const char *name)
{
    size_t n = strlen(AR_FILESTORE);

    return strncmp(name, AR_FILESTORE, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

static int
expect_file(struct scan *s, const char *name, enum ar_type type)
{
    if (type != AR_FILE)
        return refuse(s, name, "is a directory where a file is expected");
    return 0;
}

/* Where a member of a rollgate backup belongs, and whether it comes in the right order:
 * database parts numbered from 0, then the filestore, then the manifest. */
static int
classify_rollgate(struct scan *s, const char *name, enum ar_type type, enum role *role)
{
    const char *stem;
    char expected[64];

    if (s->phase == PH_DONE)
        return refuse(s, name, "comes after the manifest");
    snprintf(expected, sizeof(expected), "%s.%06zu", s->stem ? s->stem : "database.dump",
             s->next_part);
    if (strcmp(name, AR_MANIFEST_NAME) == 0) {
        if (!s->have_dump)
            return refuse(s, name, "is out of order (expected '%s')", expected);
        s->phase = PH_DONE;
        *role = R_MANIFEST;
        return expect_file(s, name, type);
    }
    if (is_part(name, &stem)) {
        if (s->phase != PH_DB || (s->stem && strcmp(stem, s->stem) != 0) ||
            s->next_part != strtoul(name + strlen(stem) + 1, NULL, 10))
            return s->phase == PH_DB
                       ? refuse(s, name, "is out of order (expected '%s')", expected)
                       : refuse(s, name, "is out of order (the database parts come first)");
        s->stem = stem;
        s->next_part++;
        s->have_dump = true;
        *role = R_DB;
        return expect_file(s, name, type);
    }
    if (is_filestore(name)) {
        if (!s->have_dump)
            return refuse(s, name, "is out of order (expected '%s')", expected);
        if (strcmp(name, AR_FILESTORE) == 0 && type != AR_DIR)
            return refuse(s, name, "is a file where a directory is expected");
        s->phase = PH_FS;
        *role = R_FS;
        return 0;
    }
    return refuse(s, name, "is not part of a rollgate backup");
}

static int
classify_odoo(struct scan *s, const char *name, enum ar_type type, enum role *role)
{
    if (strcmp(name, "dump.sql") == 0) {
        s->have_dump = true;
        *role = R_DB;
        return expect_file(s, name, type);
    }
    if (strcmp(name, AR_MANIFEST_NAME) == 0) {
        *role = R_ODOO_MANIFEST;
        return expect_file(s, name, type);
    }
    if (is_filestore(name)) {
        if (strcmp(name, AR_FILESTORE) == 0 && type != AR_DIR)
            return refuse(s, name, "is a file where a directory is expected");
        *role = R_FS;
        return 0;
    }
    return refuse(s, name, "is not part of an odoo backup");
}

/* Reads one member's data into c and *n: counts it against the limits and hands it on. */
static int
read_member_data(struct scan *s, struct archive *a, struct ar_member *mb, enum role role,
                 struct ar_sha256 *c, uint64_t *n_out)
{
    char size_buf[32];
    uint64_t n = 0;
    int rc;

    for (;;) {
        size_t cap = READ_BUF;
        char *into = s->buf;
        la_ssize_t k;

        if (role == R_DB) {
            if (!s->db && (rc = ar_dbpipe_start(&s->db, s->sink ? s->sink->db_fd : -1, s->err)) < 0)
                return rc;
            into = ar_dbpipe_slot(s->db, &cap);
        }
        k = archive_read_data(a, into, cap);
        if (k == 0)
            break;
        if (k < 0 && k != ARCHIVE_WARN)
            return corrupt(s, a, mb->path);
        if (k < 0)
            continue;
        n += (uint64_t)k;
        s->total += (uint64_t)k;
        if (n > s->lim.max_member)
            return refuse(s, mb->path, "is larger than the limit of %s",
                          ar_size_format(size_buf, sizeof(size_buf), s->lim.max_member));
        if (s->total > s->lim.max_total)
            return refuse(s, mb->path, "takes the total size past the limit of %s",
                          ar_size_format(size_buf, sizeof(size_buf), s->lim.max_total));
        ar_sha256_update(c, into, (size_t)k);
        switch (role) {
        case R_DB:
            if (ar_dbpipe_commit(s->db, (size_t)k) < 0)
                return sink_fail(s, "write", mb->path);
            break;
        case R_FS:
            if (s->sink && s->sink->file_fd >= 0 &&
                rg_fs_write_all(s->sink->file_fd, s->buf, (size_t)k, "", NULL) < 0)
                return sink_fail(s, "write", mb->path);
            break;
        case R_MANIFEST:
        case R_ODOO_MANIFEST:
            if (n > s->manifest_max)
                return refuse(s, mb->path, "is larger than the limit of %s",
                              ar_size_format(size_buf, sizeof(size_buf), s->manifest_max));
            rg_buf_add(&s->manifest, s->buf, (size_t)k);
            break;
        }
    }
    *n_out = n;
    return 0;
}

/* Reads one member's data: counts it against the limits, hashes it and hands it on. */
static int
read_member(struct scan *s, struct archive *a, struct ar_member *mb, enum role role)
{
    struct ar_sha256 c;
    uint64_t n = 0;
    int rc;

    if ((rc = ar_sha256_init(&c, s->err)) < 0)
        return rc;
    if ((rc = read_member_data(s, a, mb, role, &c, &n)) < 0) {
        ar_sha256_release(&c);
        return rc;
    }
    if ((rc = ar_sha256_final_hex(&c, mb->sha256, s->err)) < 0)
        return rc;
    mb->size = n;
    if (role == R_DB)
        s->db_size += n;
    else if (role == R_FS && mb->type == AR_FILE) {
        s->fs_files++;
        s->fs_size += n;
    }
    return rc;
}

static int
scan_member(struct scan *s, struct archive *a, struct archive_entry *e)
{
    char size_buf[32];
    const char *raw = archive_entry_pathname(e);
    struct ar_member *mb;
    enum ar_type type = AR_FILE;
    enum role role = R_DB;
    char *name = NULL;
    size_t len;
    int rc;

    if (s->kind == RG_ARCHIVE_PLAIN_SQL)
        raw = "database.sql"; /* the raw reader calls its one member "data" */
    if (!raw)
        return rg_err_set(s->err, RG_EINVAL, "backup '%s': a member after '%s' has no name",
                          s->path, s->last ? s->last : "(none)");
    name = rg_strdup(raw);
    len = strlen(name);
    /* tar and zip both end a directory's name with '/'; nothing else may. */
    if (archive_entry_filetype(e) == AE_IFDIR && len > 1 && name[len - 1] == '/')
        name[len - 1] = '\0';
    if (s->seen.n + 1 > s->lim.max_members) {
        rc = refuse(s, name, "is past the limit of %zu members", s->lim.max_members);
        goto out;
    }
    if ((rc = check_path(s, name)) < 0 || (rc = check_type(s, e, name, &type)) < 0)
        goto out;
    if (type == AR_FILE && archive_entry_size_is_set(e)) {
        uint64_t size = archive_entry_size(e) < 0 ? 0 : (uint64_t)archive_entry_size(e);
        if (size > s->lim.max_member) {
            rc = refuse(s, name, "is larger than the limit of %s",
                        ar_size_format(size_buf, sizeof(size_buf), s->lim.max_member));
            goto out;
        }
        if (size > s->lim.max_total - s->total) {
            rc = refuse(s, name, "takes the total size past the limit of %s",
                        ar_size_format(size_buf, sizeof(size_buf), s->lim.max_total));
            goto out;
        }
    }
    mb = ar_members_add(&s->seen, name, type);
    if (!mb) {
        rc = refuse(s, name, "appears twice");
        goto out;
    }
    free(s->last);
    s->last = rg_strdup(name);
    switch (s->kind) {
    case RG_ARCHIVE_ROLLGATE: rc = classify_rollgate(s, name, type, &role); break;
    case RG_ARCHIVE_ODOO_ZIP: rc = classify_odoo(s, name, type, &role); break;
    case RG_ARCHIVE_PLAIN_SQL: s->have_dump = true; break;
    }
    if (rc < 0)
        goto out;
    if (role == R_FS) {
        s->have_fs = true;
        /* "filestore" is fs_dir itself, "filestore/X" is X under it. */
        const char *rel = name + strlen(AR_FILESTORE) + (name[strlen(AR_FILESTORE)] ? 1 : 0);
        rc = sink_fs_begin(s, name, rel, type,
                           archive_entry_perm(e));
        if (rc < 0)
            goto out;
    }
    if (role == R_MANIFEST || role == R_ODOO_MANIFEST)
        s->have_manifest = true;
    if ((rc = read_member(s, a, mb, role)) < 0)
        goto out;
    if (type == AR_FILE && archive_entry_size_is_set(e) &&
        (uint64_t)archive_entry_size(e) != mb->size) {
        rc = refuse(s, name, "is truncated or corrupt: %" PRIu64 " bytes where the header says %"
                    PRId64, mb->size, (int64_t)archive_entry_size(e));
        goto out;
    }
    if (role == R_FS)
        rc = sink_fs_end(s, name);
out:
    free(name);
    return rc;
}

/* ---- after the last member ---- */

static int
mismatch(struct scan *s, const char *member, const char *what, const char *says,
         const char *has)
{
    return rg_err_set(s->err, RG_EINVAL,
                      "backup '%s': member '%s': %s mismatch: manifest says %s, archive has %s",
                      s->path, member, what, says, has);
}

static int
whole_mismatch(struct scan *s, const char *part, const char *what, const char *says,
               const char *has)
{
    return rg_err_set(s->err, RG_EINVAL, "backup '%s': %s: %s mismatch: manifest says %s, "
                      "archive has %s", s->path, part, what, says, has);
}

static const char *
u64s(char *buf, size_t size, uint64_t n, const char *unit)
{
    snprintf(buf, size, "%" PRIu64 "%s", n, unit);
    return buf;
}

static int
check_rollgate(struct scan *s, char db_sha[65])
{
    struct rg_archive_manifest *m = &s->info->manifest;
    struct ar_members listed = {0};
    const char *want_stem;
    char a[32], b[32];
    size_t i;
    int rc;

    if (!s->have_manifest) {
        rc = rg_err_set(s->err, RG_EINVAL, "backup '%s': member '%s' is missing", s->path,
                        AR_MANIFEST_NAME);
        goto out;
    }
    if ((rc = ar_manifest_parse(m, &listed, s->manifest.data ? s->manifest.data : "",
                                s->manifest.len, s->path, s->err)) < 0)
        goto out;
    for (i = 0; i < s->seen.n; i++) {
        const struct ar_member *got = &s->seen.v[i];
        const struct ar_member *want;

        if (strcmp(got->path, AR_MANIFEST_NAME) == 0)
            continue;
        want = ar_members_find(&listed, got->path);
        if (!want) {
            rc = refuse(s, got->path, "is not listed in the manifest");
            goto out;
        }
        if (want->type != got->type) {
            rc = mismatch(s, got->path, "type", want->type == AR_DIR ? "dir" : "file",
                          got->type == AR_DIR ? "dir" : "file");
            goto out;
        }
        if (got->type != AR_FILE)
            continue;
        if (want->size != got->size) {
            rc = mismatch(s, got->path, "size", u64s(a, sizeof(a), want->size, " bytes"),
                          u64s(b, sizeof(b), got->size, " bytes"));
            goto out;
        }
        if (strcmp(want->sha256, got->sha256) != 0) {
            rc = mismatch(s, got->path, "checksum", want->sha256, got->sha256);
            goto out;
        }
    }
    for (i = 0; i < listed.n; i++) {
        if (strcmp(listed.v[i].path, AR_MANIFEST_NAME) != 0 &&
            !ar_members_find(&s->seen, listed.v[i].path)) {
            rc = refuse(s, listed.v[i].path, "is listed in the manifest but missing from the "
                        "archive");
            goto out;
        }
    }
    want_stem = ar_db_stem(m->db_format);
    if (strcmp(want_stem, s->stem) != 0) {
        rc = rg_err_set(s->err, RG_EINVAL,
                        "backup '%s': the database parts are '%s.*' but the manifest says "
                        "format '%s'", s->path, s->stem, m->db_format);
        goto out;
    }
    if (m->db_parts != s->next_part) {
        rc = whole_mismatch(s, "database", "parts", u64s(a, sizeof(a), m->db_parts, ""),
                            u64s(b, sizeof(b), s->next_part, ""));
        goto out;
    }
    if (m->db_size != s->db_size) {
        rc = whole_mismatch(s, "database", "size", u64s(a, sizeof(a), m->db_size, " bytes"),
                            u64s(b, sizeof(b), s->db_size, " bytes"));
        goto out;
    }
    if (strcmp(m->db_sha256, db_sha) != 0) {
        rc = whole_mismatch(s, "database", "checksum", m->db_sha256, db_sha);
        goto out;
    }
    if (m->has_filestore != s->have_fs) {
        rc = whole_mismatch(s, "filestore", "presence", m->has_filestore ? "present" : "none",
                            s->have_fs ? "present" : "none");
        goto out;
    }
    if (m->fs_files != s->fs_files) {
        rc = whole_mismatch(s, "filestore", "files", u64s(a, sizeof(a), m->fs_files, ""),
                            u64s(b, sizeof(b), s->fs_files, ""));
        goto out;
    }
    if (m->fs_size != s->fs_size)
        rc = whole_mismatch(s, "filestore", "size", u64s(a, sizeof(a), m->fs_size, " bytes"),
                            u64s(b, sizeof(b), s->fs_size, " bytes"));
out:
    ar_members_release(&listed);
    return rc;
}

static int
finish(struct scan *s)
{
    struct rg_archive_manifest *m = &s->info->manifest;
    char db_sha[65];
    int rc = 0;

    {
        struct ar_dbpipe *db = s->db;
        s->db = NULL;
        if ((rc = ar_dbpipe_finish(db, db_sha, s->err)) == -1)
            return sink_fail(s, "write", "database");
        if (rc < 0)
            return rc;
        if (!db) {
            struct ar_sha256 empty;
            if ((rc = ar_sha256_init(&empty, s->err)) < 0 ||
                (rc = ar_sha256_final_hex(&empty, db_sha, s->err)) < 0)
                return rc;
        }
    }
    switch (s->kind) {
    case RG_ARCHIVE_ROLLGATE:
        if (!s->have_dump)
            return rg_err_set(s->err, RG_EINVAL, "backup '%s': member 'database.dump.000000' "
                              "is missing", s->path);
        if ((rc = check_rollgate(s, db_sha)) < 0)
            return rc;
        break;
    case RG_ARCHIVE_ODOO_ZIP:
        if (!s->have_dump)
            return rg_err_set(s->err, RG_EINVAL, "backup '%s': odoo zip has no member "
                              "'dump.sql'", s->path);
        if (s->have_manifest)
            ar_odoo_manifest_parse(m, s->manifest.data ? s->manifest.data : "",
                                   s->manifest.len);
        break;
    case RG_ARCHIVE_PLAIN_SQL:
        if (!s->have_dump)
            return rg_err_set(s->err, RG_EINVAL, "backup '%s' is empty", s->path);
        break;
    }
    if (s->kind != RG_ARCHIVE_ROLLGATE) {
        m->db_format = rg_strdup("plain");
        m->db_kind = rg_strdup("postgresql");
        m->db_parts = 1;
    }
    m->db_size = s->db_size;
    memcpy(m->db_sha256, db_sha, sizeof(db_sha));
    m->has_filestore = s->have_fs;
    m->fs_files = s->fs_files;
    m->fs_size = s->fs_size;
    s->info->kind = s->kind;
    s->info->members = s->seen.n;
    return 0;
}

int
ar_reader_new(struct archive **out, enum rg_archive_kind kind, bool gz, const char *path,
              struct rg_err *err)
{
    struct archive *a = archive_read_new();
    int r;

    if (!a)
        abort();
    switch (kind) {
    case RG_ARCHIVE_ROLLGATE:
        r = archive_read_support_filter_zstd(a);
        if (r == ARCHIVE_OK)
            r = archive_read_support_filter_gzip(a);
        if (r == ARCHIVE_OK)
            r = archive_read_support_format_tar(a);
        break;
    case RG_ARCHIVE_ODOO_ZIP:
        /* The seekable reader trusts the central directory and checks each CRC. */
        r = archive_read_support_format_zip_seekable(a);
        break;
    case RG_ARCHIVE_PLAIN_SQL:
    default:
        r = gz ? archive_read_support_filter_gzip(a) : ARCHIVE_OK;
        if (r == ARCHIVE_OK)
            r = archive_read_support_format_raw(a);
        break;
    }
    /* gzip through an external program is a warning; refuse it rather than spawn anything. */
    if (r != ARCHIVE_OK) {
        r = rg_err_set(err, RG_EIO, "cannot read backup '%s': %s", path,
                       archive_error_string(a) ? archive_error_string(a) : "no decoder");
        archive_read_free(a);
        *out = NULL;
        return r;
    }
    *out = a;
    return 0;
}

/* One pass over the open archive from its first byte. */
static int
scan_archive(struct scan *s)
{
    struct archive *a = NULL;
    struct archive_entry *e;
    int rc = 0, r;

    if ((rc = ar_reader_new(&a, s->kind, s->gz, s->path, s->err)) < 0)
        goto out;
    if (lseek(s->fd, 0, SEEK_SET) < 0) {
        rc = rg_err_sys(s->err, RG_EIO, "cannot read backup '%s'", s->path);
        goto out;
    }
    if (archive_read_open_fd(a, s->fd, READ_BUF) != ARCHIVE_OK) {
        rc = corrupt(s, a, NULL);
        goto out;
    }
    for (;;) {
        r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = corrupt(s, a, NULL);
            goto out;
        }
        if ((rc = scan_member(s, a, e)) < 0)
            goto out;
    }
    rc = finish(s);
out:
    archive_read_free(a);
    return rc;
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

void
ar_file_id(struct rg_archive_file_id *id, const struct stat *st)
{
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

int
ar_open_archive(int *fd_out, enum rg_archive_kind *kind, bool *gz, struct rg_archive_file_id *id,
                const char *path, struct rg_err *err)
{
    unsigned char magic[4] = {0};
    struct stat st;
    ssize_t n;
    int fd, rc = 0;

    *fd_out = -1;
    *gz = false;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot open backup '%s'",
                          path);
    if (fstat(fd, &st) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot stat backup '%s'", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = rg_err_set(err, RG_EINVAL, "backup '%s' is not a regular file", path);
        goto out;
    }
    ar_file_id(id, &st);
    n = pread(fd, magic, sizeof(magic), 0);
    if (n < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot read backup '%s'", path);
        goto out;
    }
    if (ends_with(path, ".sql")) {
        *kind = RG_ARCHIVE_PLAIN_SQL;
    } else if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        *kind = ends_with(path, ".sql.gz") ? RG_ARCHIVE_PLAIN_SQL : RG_ARCHIVE_ROLLGATE;
        *gz = *kind == RG_ARCHIVE_PLAIN_SQL;
    } else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
               magic[3] == 0xfd) {
        *kind = RG_ARCHIVE_ROLLGATE;
    } else if (n == 4 && magic[0] == 'P' && magic[1] == 'K' &&
               ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6))) {
        *kind = RG_ARCHIVE_ODOO_ZIP;
    } else {
        rc = rg_err_set(err, RG_EINVAL,
                        "backup '%s' is not a rollgate backup, an odoo zip or a .sql file", path);
        goto out;
    }
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void
scan_init(struct scan *s, const char *path, int fd, enum rg_archive_kind kind, bool gz,
          const struct rg_archive_limits *limits, struct rg_archive_info *info,
          struct rg_err *err)
{
    memset(s, 0, sizeof(*s));
    s->path = path;
    s->fd = fd;
    s->kind = kind;
    s->gz = gz;
    s->err = err;
    s->info = info;
    if (limits)
        s->lim = *limits;
    if (!s->lim.max_member)
        s->lim.max_member = RG_ARCHIVE_DEFAULT_MAX_MEMBER;
    if (!s->lim.max_total)
        s->lim.max_total = RG_ARCHIVE_DEFAULT_MAX_TOTAL;
    if (!s->lim.max_members)
        s->lim.max_members = RG_ARCHIVE_DEFAULT_MAX_MEMBERS;
    s->manifest_max = s->lim.max_member < RG_ARCHIVE_MAX_MANIFEST ? s->lim.max_member
                                                                   : RG_ARCHIVE_MAX_MANIFEST;
    rg_buf_init(&s->manifest, (size_t)s->manifest_max);
    s->buf = rg_malloc(READ_BUF);
}

static void
scan_release(struct scan *s)
{
    ar_dbpipe_finish(s->db, NULL, NULL); /* a scan that stopped early: wait for the thread */
    ar_members_release(&s->seen);
    rg_buf_release(&s->manifest);
    free(s->last);
    free(s->buf);
}

void
rg_archive_info_release(struct rg_archive_info *info)
{
    if (!info)
        return;
    rg_archive_manifest_release(&info->manifest);
    memset(info, 0, sizeof(*info));
}

/* Verifies the archive open at fd into info (zeroed first, released on error). */
static int
verify_fd(struct rg_archive_info *info, const char *path, int fd, enum rg_archive_kind kind,
          bool gz, const struct rg_archive_file_id *id, const struct rg_archive_limits *limits,
          struct sink *sink,
          struct rg_err *err)
{
    struct scan s;
    int rc;

    memset(info, 0, sizeof(*info));
    scan_init(&s, path, fd, kind, gz, limits, info, err);
    s.sink = sink;
    rc = scan_archive(&s);
    info->file_size = id->size;
    info->file_id = *id;
    scan_release(&s);
    if (rc < 0)
        rg_archive_info_release(info);
    return rc;
}

int
rg_archive_verify(struct rg_archive_info *out, const char *path,
                  const struct rg_archive_limits *limits, struct rg_err *err)
{
    enum rg_archive_kind kind;
    struct rg_archive_file_id id;
    bool gz;
    int fd = -1, rc;

    memset(out, 0, sizeof(*out));
    if ((rc = ar_open_archive(&fd, &kind, &gz, &id, path, err)) < 0)
        return rc;
    rc = verify_fd(out, path, fd, kind, gz, &id, limits, NULL, err);
    close(fd);
    return rc;
}

/* ---- extraction ---- */

/* fsyncs every directory under (and including) the one open at fd; takes fd. */
static int
fsync_tree(int fd)
{
    struct dirent *de;
    DIR *d = fdopendir(fd);
    int rc = 0;

    if (!d) {
        close(fd);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        int sub;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            rc = -1;
        else if (S_ISDIR(st.st_mode)) {
            sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0 || fsync_tree(sub) < 0)
                rc = -1;
        }
    }
    if (fsync(dirfd(d)) < 0)
        rc = -1;
    closedir(d);
    return rc;
}

static int
refuse_existing(const char *target, struct rg_err *err)
{
    struct stat st;

    if (lstat(target, &st) == 0)
        return rg_err_set(err, RG_EINVAL, "cannot extract to '%s': it already exists", target);
    return 0;
}

int
rg_archive_extract(const char *path, const char *db_path, const char *fs_dir,
                   const struct rg_archive_limits *limits, struct rg_archive_info *info_out,
                   struct rg_err *err)
{
    struct rg_archive_info second = {0};
    struct sink sink = {.db_fd = -1, .fs_fd = -1, .file_fd = -1, .fs_dir = fs_dir};
    bool made_db = false, gz;
    enum rg_archive_kind kind;
    struct rg_archive_file_id id;
    int fd = -1, rc;

    if (info_out)
        memset(info_out, 0, sizeof(*info_out));
    if ((db_path && (rc = refuse_existing(db_path, err)) < 0) ||
        (fs_dir && (rc = refuse_existing(fs_dir, err)) < 0))
        goto out;
    if ((rc = ar_open_archive(&fd, &kind, &gz, &id, path, err)) < 0)
        goto out;
    if (db_path)
        sink.db_fd = open(db_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (db_path && sink.db_fd < 0) {
        rc = errno == EEXIST
                 ? rg_err_set(err, RG_EINVAL, "cannot extract to '%s': it already exists", db_path)
                 : rg_err_sys(err, RG_EIO, "cannot create '%s'", db_path);
        goto out;
    }
    made_db = db_path != NULL;
    /* One pass: every member is checked (path, type, limits) before anything of it is written,
     * and the checksums and the manifest at the end decide; on any failure all of it goes. The
     * output is private (a new dump file, a new directory), so nothing live is touched before
     * the whole archive has been verified. */
    if ((rc = verify_fd(&second, path, fd, kind, gz, &id, limits, &sink, err)) < 0)
        goto out;
    /* The dump is not fsynced: it is read once, at once, and removed; after a crash the
     * restore starts again from the archive. The filestore becomes live data: it is. */
    if (sink.fs_fd >= 0) {
        int dup_fd = dup(sink.fs_fd);
        if (dup_fd < 0 || fsync_tree(dup_fd) < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot fsync '%s'", fs_dir);
            goto out;
        }
        if ((rc = rg_fs_fsync_parent(fs_dir, err)) < 0)
            goto out;
    }
    if (info_out) {
        *info_out = second;
        memset(&second, 0, sizeof(second));
    }
out:
    if (sink.file_fd >= 0)
        close(sink.file_fd);
    if (sink.db_fd >= 0)
        close(sink.db_fd);
    if (sink.fs_fd >= 0)
        close(sink.fs_fd);
    if (rc < 0 && made_db)
        unlink(db_path);
    if (rc < 0 && sink.made_fs)
        rg_fs_remove_tree(fs_dir, NULL); /* best effort: the extraction's error is the news */
    if (fd >= 0)
        close(fd);
    rg_archive_info_release(&second);
    return rc;
}
