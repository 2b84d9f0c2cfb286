/* Restoring a backup without ever losing the live data. PostgreSQL: the archive is verified
 * whole before anything is created (pass 1, which also extracts the filestore to a private
 * directory), then read again to stream the dump into a scratch database that must pass the
 * playbook's verification query (pass 2). SQLite: the archive is verified while the database is
 * extracted beside the live file, and the copy must pass integrity_check and the verification
 * query. Only then are the database and the extracted filestore swapped in by renames. What
 * they replace is kept, named after the moment of the restore. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rollgate/backup.h"
#include "rollgate/backup_archive.h"
#include "rollgate/backup_pg.h"
#include "rollgate/util.h"

static void
stamp_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y%m%d%H%M%S", &tm);
}

/* A sibling of path (same directory, so on the same filesystem: renames stay atomic). */
static char *
sibling(const char *path, const char *fmt_suffix, const char *stamp)
{
    return rg_asprintf("%s%s%s", path, fmt_suffix, stamp);
}

/* The filestore swap: live → kept, extracted → live; on a failure of the second rename the first
 * is undone. A live filestore that does not exist yet is simply created by the rename. */
static int
swap_filestore(char *kept_out, size_t kept_size, const char *live, const char *extracted,
               const char *stamp, struct rg_err *err)
{
    char *kept = sibling(live, ".pre_restore_", stamp);
    struct stat st;
    bool had_live = lstat(live, &st) == 0;
    int rc = 0;

    kept_out[0] = '\0';
    if (had_live && !S_ISDIR(st.st_mode)) {
        rc = rg_err_set(err, RG_EINVAL, "filestore '%s' is not a directory", live);
        goto out;
    }
    if (had_live && rename(live, kept) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot move filestore '%s' aside to '%s'", live, kept);
        goto out;
    }
    if (rename(extracted, live) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot move the restored filestore into '%s'", live);
        if (had_live && rename(kept, live) < 0)
            rg_err_prefix(err, "and cannot move '%s' back (do it by hand): ", kept);
        goto out;
    }
    if (had_live)
        snprintf(kept_out, kept_size, "%s", kept);
out:
    free(kept);
    return rc;
}

/* What the verified archive says of itself; a rollgate backup must be the target's own. */
static int
describe(struct rg_restore_result *res, const struct rg_archive_info *info,
         const struct rg_playbook *pb, const char *path, struct rg_err *err)
{
    snprintf(res->kind, sizeof(res->kind), "%s",
             info->kind == RG_ARCHIVE_ROLLGATE ? "rollgate"
             : info->kind == RG_ARCHIVE_ODOO_ZIP ? "odoo-zip" : "plain-sql");
    snprintf(res->tag, sizeof(res->tag), "%s", info->manifest.tag ? info->manifest.tag : "");
    snprintf(res->digest, sizeof(res->digest), "%s",
             info->manifest.digest ? info->manifest.digest : "");
    res->db_size = info->manifest.db_size;
    if (info->kind == RG_ARCHIVE_ROLLGATE && info->manifest.target &&
        strcmp(info->manifest.target, pb->name) != 0)
        return rg_err_set(err, RG_EINVAL, "backup '%s' belongs to target '%s', not '%s'", path,
                          info->manifest.target, pb->name);
    return 0;
}

/* After the database swap: the extracted filestore, when the backup had one. */
static int
restore_filestore(struct rg_restore_result *res, const struct rg_backup *cfg, const char *fs_tmp,
                  const struct rg_archive_info *info, const char *stamp, struct rg_err *err)
{
    struct stat st;
    int rc;

    if (!fs_tmp || !info->manifest.has_filestore || lstat(fs_tmp, &st) < 0)
        return 0;
    if ((rc = swap_filestore(res->replaced_fs, sizeof(res->replaced_fs), cfg->filestore, fs_tmp,
                             stamp, err)) < 0)
        rg_err_prefix(err, "database '%s' was restored (the replaced one is kept as '%s'), "
                      "but the filestore was not: ", res->database, res->replaced_db);
    return rc;
}

static int
read_dump(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err)
{
    return rg_archive_dbstream_read(ctx, buf, cap, got, err);
}

static int
restore_pg(struct rg_restore_result *res, const struct rg_playbook *pb, const char *path,
           const struct rg_restore_opts *o, const char *stamp, int64_t start, struct rg_err *err)
{
    const struct rg_backup *cfg = &pb->backup;
    struct rg_archive_info info = {0};
    char *work = NULL, *dump = NULL, *fs_tmp = NULL, *scratch = NULL;
    char *replaced = NULL, *dbname = NULL;
    int64_t timeout;
    struct rg_archive_dbstream *stream = NULL;
    struct rg_pg_dump_reader src;
    int jobs, rc;

    jobs = o && o->jobs > 0 ? o->jobs : 2;
    timeout = o && o->timeout_ms > 0 ? o->timeout_ms : RG_BACKUP_DEFAULT_TIMEOUT_MS;
    if ((rc = rg_pg_dbname(&dbname, cfg->database, err)) < 0)
        goto out;
    work = rg_asprintf("%s/.restore-%s", cfg->dir, stamp);
    if (mkdir(work, 0700) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot create work directory '%s'", work);
        free(work);
        work = NULL;
        goto out;
    }
    dump = rg_asprintf("%s/database", work);
    if (cfg->filestore)
        fs_tmp = sibling(cfg->filestore, ".restoring_", stamp);
    /* Pass 1: the whole archive verified (and the filestore extracted to a private directory,
     * removed again on any failure); the dump is only hashed. */
    if ((rc = rg_archive_extract(path, NULL, fs_tmp, NULL, &info, err)) < 0)
        goto out;
    rg_log(RG_LOG_INFO, "restore: archive verified and extracted in %lld ms",
           (long long)(rg_mono_ms() - start));
    if ((rc = describe(res, &info, pb, path, err)) < 0)
        goto out;
    /* The manifest's kind is "postgresql" or "sqlite" (checked against its format). */
    if (strcmp(info.manifest.db_kind, "sqlite") == 0) {
        rc = rg_err_set(err, RG_EINVAL, "backup '%s' holds a SQLite database, not a PostgreSQL "
                        "dump", path);
        goto out;
    }
    /* Pass 2: the dump read again from the unchanged archive, its rows straight into the
     * scratch database. */
    if ((rc = rg_archive_dbstream_open(&stream, path, &info, err)) < 0)
        goto out;
    src = (struct rg_pg_dump_reader){.read = read_dump, .ctx = stream};
    rc = rg_pg_restore_scratch_stream(&scratch, cfg->database, &src, dump,
                                      strcmp(info.manifest.db_format, "custom") == 0
                                          ? RG_PG_CUSTOM : RG_PG_PLAIN,
                                      jobs, cfg->verify_query, timeout, err);
    rg_archive_dbstream_close(stream);
    if (rc < 0)
        goto out;
    rg_log(RG_LOG_INFO, "restore: scratch database '%s' restored and verified after %lld ms",
           scratch, (long long)(rg_mono_ms() - start));
    /* The dump is no longer needed: free its space before the swap. */
    unlink(dump);
    if ((rc = rg_pg_swap(&replaced, cfg->database, scratch, err)) < 0)
        goto out;
    res->changed = true;
    snprintf(res->database, sizeof(res->database), "%s", dbname);
    snprintf(res->replaced_db, sizeof(res->replaced_db), "%s", replaced);
    rc = restore_filestore(res, cfg, fs_tmp, &info, stamp, err);
out:
    if (dump)
        unlink(dump);
    if (work)
        rmdir(work);
    /* Only ever a directory rg_archive_extract created and filled; best effort, since the
     * restore's own error (or success) is what the caller needs. */
    if (fs_tmp)
        rg_fs_remove_tree(fs_tmp, NULL);
    rg_archive_info_release(&info);
    free(work);
    free(dump);
    free(fs_tmp);
    free(scratch);
    free(replaced);
    free(dbname);
    return rc;
}

static int
restore_sqlite(struct rg_restore_result *res, const struct rg_playbook *pb, const char *path,
               const char *live, const char *stamp, int64_t start, struct rg_err *err)
{
    const struct rg_backup *cfg = &pb->backup;
    struct rg_archive_info info = {0};
    char *copy = sibling(live, ".restoring_", stamp), *fs_tmp = NULL, *kept = NULL;
    struct stat st;
    bool changed = false;
    int rc;

    /* A restore replaces the live file; a path that names none is more likely a mistake in the
     * playbook than a new host (and the restore step has a running service to stop). */
    if (lstat(live, &st) < 0) {
        rc = errno == ENOENT
                 ? rg_err_set(err, RG_ENOENT, "SQLite database '%s' does not exist (check "
                              "backup.database)", live)
                 : rg_err_sys(err, RG_EIO, "cannot read SQLite database '%s'", live);
        goto out;
    }
    if (cfg->filestore)
        fs_tmp = sibling(cfg->filestore, ".restoring_", stamp);
    /* The whole archive verified while the database is extracted beside the live file (the
     * same file system, so the swap is renames) and the filestore beside its own; on any
     * failure nothing extracted is left. */
    if ((rc = rg_archive_extract(path, copy, fs_tmp, NULL, &info, err)) < 0)
        goto out;
    rg_log(RG_LOG_INFO, "restore: archive verified and extracted in %lld ms",
           (long long)(rg_mono_ms() - start));
    if ((rc = describe(res, &info, pb, path, err)) < 0)
        goto out;
    if (strcmp(info.manifest.db_kind, "sqlite") != 0) {
        rc = rg_err_set(err, RG_EINVAL, "backup '%s' holds a PostgreSQL dump (format '%s'), not "
                        "a SQLite database", path, info.manifest.db_format);
        goto out;
    }
    if ((rc = rg_backup_sqlite_check(copy, cfg->verify_query, err)) < 0)
        goto out;
    rg_log(RG_LOG_INFO, "restore: '%s' checked after %lld ms", copy,
           (long long)(rg_mono_ms() - start));
    rc = rg_backup_sqlite_swap(&kept, &changed, live, copy, stamp, err);
    res->changed = changed;
    if (rc < 0)
        goto out;
    snprintf(res->database, sizeof(res->database), "%s", live);
    snprintf(res->replaced_db, sizeof(res->replaced_db), "%s", kept);
    rc = restore_filestore(res, cfg, fs_tmp, &info, stamp, err);
out:
    /* Gone already when it was swapped in. */
    unlink(copy);
    if (fs_tmp)
        rg_fs_remove_tree(fs_tmp, NULL);
    rg_archive_info_release(&info);
    free(copy);
    free(fs_tmp);
    free(kept);
    return rc;
}

int
rg_backup_restore(struct rg_restore_result *res, const struct rg_playbook *pb, const char *path,
                  const struct rg_restore_opts *o, struct rg_err *err)
{
    const struct rg_backup *cfg = &pb->backup;
    const char *sqlite = NULL;
    int64_t start = rg_mono_ms();
    char stamp[32];
    int rc;

    memset(res, 0, sizeof(*res));
    if (!cfg->enabled || !cfg->database || !cfg->dir)
        return rg_err_set(err, RG_EINVAL, "playbook '%s' has no 'backup' section with "
                          "'database' and 'dir'", pb->name);
    stamp_now(stamp, sizeof(stamp));
    if ((rc = rg_backup_sqlite_path(&sqlite, cfg->database, err)) == 0)
        rc = sqlite ? restore_sqlite(res, pb, path, sqlite, stamp, start, err)
                    : restore_pg(res, pb, path, o, stamp, start, err);
    /* The archive errors name the backup themselves; say whether anything changed. */
    if (rc < 0 && !res->changed)
        rg_err_prefix(err, "%s, nothing was changed: ",
                      rc == RG_EINVAL ? "refused" : "failed");
    res->elapsed_ms = rg_mono_ms() - start;
    return rc;
}
