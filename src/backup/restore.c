/* Restoring a backup without ever losing the live data: the archive is verified whole before
 * anything is created (pass 1, which also extracts the filestore to a private directory), then
 * read again to stream the dump into a scratch database that must pass the playbook's
 * verification query (pass 2), and only then are the scratch database and the extracted
 * filestore swapped in by renames. What they replace is kept, named after the moment of the
 * restore. */
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

static int
read_dump(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err)
{
    return rg_archive_dbstream_read(ctx, buf, cap, got, err);
}

int
rg_backup_restore(struct rg_restore_result *res, const struct rg_playbook *pb, const char *path,
                  const struct rg_restore_opts *o, struct rg_err *err)
{
    const struct rg_backup *cfg = &pb->backup;
    struct rg_archive_info info = {0};
    char stamp[32], *work = NULL, *dump = NULL, *fs_tmp = NULL, *scratch = NULL;
    char *replaced = NULL, *dbname = NULL;
    int64_t start = rg_mono_ms(), timeout;
    struct rg_archive_dbstream *stream = NULL;
    struct rg_pg_dump_reader src;
    int jobs, rc;
    bool swapped_db = false;

    memset(res, 0, sizeof(*res));
    if (!cfg->enabled || !cfg->database || !cfg->dir)
        return rg_err_set(err, RG_EINVAL, "playbook '%s' has no 'backup' section with "
                          "'database' and 'dir'", pb->name);
    jobs = o && o->jobs > 0 ? o->jobs : 2;
    timeout = o && o->timeout_ms > 0 ? o->timeout_ms : RG_BACKUP_DEFAULT_TIMEOUT_MS;
    stamp_now(stamp, sizeof(stamp));
    if ((rc = rg_pg_dbname(&dbname, cfg->database, err)) < 0)
        goto out;
    work = rg_asprintf("%s/.restore-%s", cfg->dir, stamp);
    if (mkdir(work, 0700) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot create work directory '%s'", work);
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
    snprintf(res->kind, sizeof(res->kind), "%s",
             info.kind == RG_ARCHIVE_ROLLGATE ? "rollgate"
             : info.kind == RG_ARCHIVE_ODOO_ZIP ? "odoo-zip" : "plain-sql");
    snprintf(res->tag, sizeof(res->tag), "%s", info.manifest.tag ? info.manifest.tag : "");
    snprintf(res->digest, sizeof(res->digest), "%s",
             info.manifest.digest ? info.manifest.digest : "");
    res->db_size = info.manifest.db_size;
    if (info.kind == RG_ARCHIVE_ROLLGATE && info.manifest.target &&
        strcmp(info.manifest.target, pb->name) != 0) {
        rc = rg_err_set(err, RG_EINVAL, "backup '%s' belongs to target '%s', not '%s'", path,
                        info.manifest.target, pb->name);
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
    swapped_db = true;
    res->changed = true;
    snprintf(res->database, sizeof(res->database), "%s", dbname);
    snprintf(res->replaced_db, sizeof(res->replaced_db), "%s", replaced);
    if (fs_tmp && info.manifest.has_filestore) {
        struct stat st;
        if (lstat(fs_tmp, &st) == 0 &&
            (rc = swap_filestore(res->replaced_fs, sizeof(res->replaced_fs), cfg->filestore,
                                 fs_tmp, stamp, err)) < 0) {
            rg_err_prefix(err, "database '%s' was restored (the replaced one is kept as '%s'), "
                          "but the filestore was not: ", dbname, replaced);
            goto out;
        }
    }
out:
    /* The archive errors name the backup themselves; say whether anything changed. */
    if (rc < 0 && !swapped_db)
        rg_err_prefix(err, "%s, nothing was changed: ",
                      rc == RG_EINVAL ? "refused" : "failed");
    if (dump)
        unlink(dump);
    if (work)
        rmdir(work);
    /* Only ever a directory rg_archive_extract created and filled; best effort, since the
     * restore's own error (or success) is what the caller needs. */
    if (fs_tmp)
        rg_fs_remove_tree(fs_tmp, NULL);
    res->elapsed_ms = rg_mono_ms() - start;
    rg_archive_info_release(&info);
    free(work);
    free(dump);
    free(fs_tmp);
    free(scratch);
    free(replaced);
    free(dbname);
    return rc;
}
