/* Taking a backup: pg_dump's output goes straight into the archive (no copy of the dump on
 * disk), or a SQLite database is copied by SQLite's online backup into a temporary file that
 * is archived and removed; the filestore after it, the manifest last; then the ledger learns
 * which release the data belongs to, and retention removes what is no longer needed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rollgate/backup.h"
#include "rollgate/backup_archive.h"
#include "rollgate/backup_pg.h"

/* Milliseconds in the name: two backups in one second (a backup by hand, then a deploy's) must
 * not collide, as the writer never replaces a file. */
static void
utc_stamp(char *buf, size_t size)
{
    int64_t ms = rg_wall_ms();
    time_t now = (time_t)(ms / 1000);
    struct tm tm;
    char sec[24];

    gmtime_r(&now, &tm);
    strftime(sec, sizeof(sec), "%Y%m%dT%H%M%S", &tm);
    snprintf(buf, size, "%s.%03dZ", sec, (int)(ms % 1000));
}

static int
ensure_dir(const char *dir, struct rg_err *err)
{
    struct stat st;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return rg_err_sys(err, RG_EIO, "cannot create backup directory '%s'", dir);
    if (stat(dir, &st) < 0)
        return rg_err_sys(err, RG_EIO, "cannot read backup directory '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return rg_err_set(err, RG_EINVAL, "backup directory '%s' is not a directory", dir);
    return 0;
}

/* PostgreSQL: pg_dump's output streamed into the archive. */
static int
add_pg(struct rg_archive_writer *w, struct rg_archive_manifest *m, const char *dsn,
       struct rg_err *err)
{
    struct rg_pg_dump *dump = NULL;
    int fd = -1, rc;

    if ((rc = rg_pg_server_version(&m->server_version, dsn, err)) < 0 ||
        (rc = rg_pg_dbname(&m->db_name, dsn, err)) < 0 ||
        (rc = rg_pg_dump_start(&dump, &fd, dsn, RG_BACKUP_DEFAULT_TIMEOUT_MS, err)) < 0)
        return rc;
    if ((rc = rg_archive_writer_add_database(w, fd, "custom", err)) < 0) {
        rg_pg_dump_abandon(dump);
        return rc;
    }
    return rg_pg_dump_finish(dump, err);
}

/* SQLite: a consistent copy into a hidden file beside the archives (the same file system, and
 * a directory rollgate owns), archived, then removed whatever happened. */
static int
add_sqlite(struct rg_archive_writer *w, struct rg_archive_manifest *m, const char *db,
           const char *dir, const char *stamp, struct rg_err *err)
{
    const char *base = strrchr(db, '/') + 1;
    char *copy = rg_asprintf("%s/.%s-%s.sqlite-copy", dir, base, stamp);
    int fd = -1, rc;

    m->db_name = rg_strdup(base);
    m->server_version = rg_strdup(rg_backup_sqlite_version());
    if ((rc = rg_backup_sqlite_copy(db, copy, RG_BACKUP_DEFAULT_TIMEOUT_MS, err)) < 0)
        goto out;
    if ((fd = open(copy, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot open the copy '%s'", copy);
        unlink(copy);
        goto out;
    }
    unlink(copy); /* the open descriptor is all the archive needs */
    rc = rg_archive_writer_add_database(w, fd, "sqlite", err);
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

int
rg_backup_take(struct rg_backup_row *out, struct rg_ledger *l, const struct rg_playbook *pb,
               const char *tag, const char *digest, int64_t deploy_id, struct rg_err *err)
{
    const struct rg_backup *cfg = &pb->backup;
    struct rg_archive_writer *w = NULL;
    struct rg_archive_manifest m = {0};
    const char *sqlite = NULL;
    char stamp[32], *path = NULL;
    uint64_t size = 0;
    int64_t id;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!cfg->enabled || !cfg->database || !cfg->dir)
        return rg_err_set(err, RG_EINVAL, "playbook '%s' has no 'backup' section with "
                          "'database' and 'dir'", pb->name);
    if ((rc = rg_backup_sqlite_path(&sqlite, cfg->database, err)) < 0 ||
        (rc = ensure_dir(cfg->dir, err)) < 0)
        goto out;
    utc_stamp(stamp, sizeof(stamp));
    path = rg_asprintf("%s/%s-%s-%s.tar.zst", cfg->dir, pb->name, stamp,
                       tag && tag[0] ? tag : "manual");
    if ((rc = rg_archive_writer_open(&w, path, err)) < 0)
        goto out;
    rc = sqlite ? add_sqlite(w, &m, sqlite, cfg->dir, stamp, err)
                : add_pg(w, &m, cfg->database, err);
    if (rc < 0)
        goto out;
    if (cfg->filestore && (rc = rg_archive_writer_add_filestore(w, cfg->filestore, err)) < 0)
        goto out;
    m.target = pb->name;
    m.tag = (char *)(tag ? tag : "");
    m.digest = (char *)digest;
    if ((rc = rg_archive_writer_commit(w, &m, &size, err)) < 0)
        goto out;
    snprintf(out->path, sizeof(out->path), "%s", rg_archive_writer_path(w));
    snprintf(out->tag, sizeof(out->tag), "%s", tag ? tag : "");
    snprintf(out->digest, sizeof(out->digest), "%s", digest ? digest : "");
    out->deploy_id = deploy_id;
    out->created_ms = rg_wall_ms();
    out->size = (int64_t)size;
    if ((rc = rg_ledger_backup_add(&id, l, out, err)) < 0) {
        /* An archive the ledger does not know would never be found again or pruned. */
        unlink(out->path);
        goto out;
    }
    out->id = id;
    rc = rg_backup_prune(NULL, l, pb, tag, err);
    if (rc < 0) {
        /* The backup is good; only the clean-up failed. */
        rg_log(RG_LOG_WARN, "backup #%lld taken, but retention failed: %s", (long long)id,
               err->msg);
        rc = 0;
    }
out:
    if (rc < 0)
        rg_err_prefix(err, "backup of '%s': ", pb->name);
    rg_archive_writer_free(w);
    free(path);
    free(m.server_version);
    free(m.db_name);
    return rc;
}

int
rg_backup_prune(struct rg_strv *removed, struct rg_ledger *l, const struct rg_playbook *pb,
                const char *live_tag, struct rg_err *err)
{
    struct rg_backup_row *v = NULL, keep_live, keep_prev;
    struct rg_release_row prev;
    struct rg_err ignored;
    size_t n = 0;
    int rc, keep = pb->backup.keep > 0 ? pb->backup.keep : 1;
    bool have_live, have_prev;

    if ((rc = rg_ledger_backups(&v, &n, l, err)) < 0)
        return rc;
    have_live = live_tag && live_tag[0] &&
                rg_ledger_backup_latest(&keep_live, l, live_tag, &ignored) == 0;
    have_prev = rg_ledger_previous_good(&prev, l, live_tag, &ignored) == 0 &&
                rg_ledger_backup_latest(&keep_prev, l, prev.tag, &ignored) == 0;
    for (size_t i = (size_t)keep; i < n; i++) {
        if ((have_live && v[i].id == keep_live.id) || (have_prev && v[i].id == keep_prev.id))
            continue;
        if (unlink(v[i].path) < 0 && errno != ENOENT) {
            rc = rg_err_sys(err, RG_EIO, "cannot remove old backup '%s'", v[i].path);
            break;
        }
        if ((rc = rg_ledger_backup_deleted(l, v[i].id, err)) < 0)
            break;
        if (removed)
            rg_strv_push(removed, v[i].path);
    }
    free(v);
    return rc;
}

int
rg_backup_verify(struct rg_ledger *l, int64_t id, const char *path, struct rg_err *err)
{
    struct rg_archive_info info;
    int rc;

    if ((rc = rg_archive_verify(&info, path, NULL, err)) < 0)
        return rc;
    rg_archive_info_release(&info);
    if (l && id > 0)
        rc = rg_ledger_backup_verified(l, id, err);
    return rc;
}
