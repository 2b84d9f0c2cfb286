/* Copying a live SQLite database for a backup: SQLite's online backup API inside one read
 * transaction of a read-only connection, so the copy is one consistent state of the database
 * while the application keeps writing (WAL), and the application's files are never written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rollgate/backup.h"
#include "rollgate/util.h"

/* Pages per backup step: 4 MiB at the default page size, so the deadline is looked at often. */
#define PAGES_PER_STEP 1024
/* Pause while the source is busy (a writer holds a lock SQLite must wait for). */
#define BUSY_SLEEP_MS 50

int
rg_backup_sqlite_path(const char **path_out, const char *database, struct rg_err *err)
{
    size_t n = strlen(RG_BACKUP_SQLITE_PREFIX);
    const char *p;

    *path_out = NULL;
    if (strncmp(database, "sqlite:", 7) != 0)
        return 0;
    p = database + n;
    /* The loader checks the same (and that the path is clean); a value from the environment
     * reaches this point unchecked only when the playbook was loaded with placeholders. */
    if (strncmp(database, RG_BACKUP_SQLITE_PREFIX, n) != 0 || p[0] != '/' || !p[1] ||
        p[strlen(p) - 1] == '/')
        return rg_err_set(err, RG_EINVAL,
                          "backup database '%s' is not 'sqlite://' followed by an absolute path "
                          "(like 'sqlite:///srv/app/data/app.db')",
                          database);
    *path_out = p;
    return 0;
}

const char *
rg_backup_sqlite_version(void)
{
    return sqlite3_libversion();
}

/* dst and what SQLite may have made beside it; best effort on a path that is already failing. */
static void
remove_copy(const char *dst)
{
    static const char *const sidecars[] = {"-journal", "-wal", "-shm"};

    unlink(dst);
    for (size_t i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
        char *p = rg_asprintf("%s%s", dst, sidecars[i]);
        unlink(p);
        free(p);
    }
}

static int
db_error(struct rg_err *err, sqlite3 *db, const char *src)
{
    return rg_err_set(err, RG_EDB, "cannot copy SQLite database '%s': %s", src,
                      db ? sqlite3_errmsg(db) : "out of memory");
}

/* Steps the backup to its end: page batches, sleeping while the source is busy or locked. */
static int
run_backup(sqlite3_backup *b, const char *src, int64_t timeout_ms, struct rg_err *err)
{
    int64_t deadline = rg_mono_ms() + timeout_ms;

    for (;;) {
        int rc = sqlite3_backup_step(b, PAGES_PER_STEP);

        if (rc == SQLITE_DONE)
            return 0;
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            return rg_err_set(err, RG_EDB, "cannot copy SQLite database '%s': %s", src,
                              sqlite3_errstr(rc));
        if (rg_mono_ms() >= deadline)
            return rg_err_set(err, RG_ETIMEOUT,
                              "SQLite database '%s' stayed busy for %lld ms: the copy was "
                              "abandoned",
                              src, (long long)timeout_ms);
        if (rc != SQLITE_OK)
            sqlite3_sleep(BUSY_SLEEP_MS);
    }
}

/* A reader of a WAL database creates its -wal and -shm when none are there. Made by rollgate
 * running as root, they would be root's, and the app (another user) could no longer write its
 * own database: they get the database file's owner, as if the app had made them. */
static void
give_sidecars(const char *db, const struct stat *owner)
{
    static const char *const sidecars[] = {"-wal", "-shm"};

    for (size_t i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
        char *path = rg_asprintf("%s%s", db, sidecars[i]);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (st.st_uid != owner->st_uid || st.st_gid != owner->st_gid) &&
            lchown(path, owner->st_uid, owner->st_gid) < 0)
            rg_log(RG_LOG_WARN, "cannot give %s to the database's owner (uid %u): %s", path,
                   (unsigned)owner->st_uid, strerror(errno));
        free(path);
    }
}

int
rg_backup_sqlite_copy(const char *src, const char *dst, int64_t timeout_ms, struct rg_err *err)
{
    sqlite3 *s = NULL, *d = NULL;
    sqlite3_backup *b = NULL;
    struct stat st;
    bool made = false, in_txn = false;
    int fd, rc = 0;

    if (timeout_ms <= 0)
        timeout_ms = RG_BACKUP_DEFAULT_TIMEOUT_MS;
    if (stat(src, &st) < 0) {
        if (errno == ENOENT)
            return rg_err_set(err, RG_ENOENT, "SQLite database '%s' does not exist", src);
        return rg_err_sys(err, RG_EIO, "cannot read SQLite database '%s'", src);
    }
    if (!S_ISREG(st.st_mode))
        return rg_err_set(err, RG_EINVAL, "SQLite database '%s' is not a regular file", src);
    /* Made here, O_EXCL: SQLite would open an existing file and copy over it. */
    fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return rg_err_sys(err, RG_EIO, "cannot create '%s'", dst);
    close(fd);
    made = true;

    if (sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = rg_err_set(err, RG_EDB, "cannot open SQLite database '%s': %s", src,
                        s ? sqlite3_errmsg(s) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(s, RG_BACKUP_SQLITE_BUSY_MS);
    /* One read transaction for the whole copy: every step reads the same snapshot, so a write
     * by the application between two steps can neither make the copy inconsistent nor restart
     * it (the backup API restarts when the source changes under it, which a steadily writing
     * application would make endless). Reading the schema takes the snapshot. */
    if (sqlite3_exec(s, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
        SQLITE_OK) {
        rc = db_error(err, s, src);
        goto out;
    }
    in_txn = true;
    if (sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = rg_err_set(err, RG_EIO, "cannot open the copy '%s': %s", dst,
                        d ? sqlite3_errmsg(d) : "out of memory");
        goto out;
    }
    if (!(b = sqlite3_backup_init(d, "main", s, "main"))) {
        rc = rg_err_set(err, RG_EDB, "cannot copy SQLite database '%s': %s", src,
                        sqlite3_errmsg(d));
        goto out;
    }
    rc = run_backup(b, src, timeout_ms, err);
    /* finish writes nothing more; its code repeats the last step's error, if any. */
    if (sqlite3_backup_finish(b) != SQLITE_OK && rc == 0)
        rc = rg_err_set(err, RG_EIO, "cannot write the copy '%s': %s", dst, sqlite3_errmsg(d));
    b = NULL;
out:
    if (b)
        sqlite3_backup_finish(b);
    if (in_txn)
        sqlite3_exec(s, "COMMIT", NULL, NULL, NULL);
    if (d && sqlite3_close(d) != SQLITE_OK && rc == 0)
        rc = rg_err_set(err, RG_EIO, "cannot close the copy '%s': %s", dst, sqlite3_errmsg(d));
    sqlite3_close(s);
    give_sidecars(src, &st);
    if (rc < 0 && made)
        remove_copy(dst);
    return rc;
}
