/* Unit tests of SQLite backups on real database files: a backup taken while another connection
 * writes (WAL) is consistent and restores; a copy failing integrity_check or the verification
 * query is refused with the live database untouched; the swap keeps the replaced file with its
 * -wal, -shm and -journal; bad playbook inputs with their exact messages. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "rollgate/backup.h"
#include "rollgate/backup_archive.h"
#include "rollgate/ledger.h"
#include "rollgate/playbook.h"
#include "rollgate/util.h"

#define INITIAL_ROWS 20000

struct fx {
    char *dir;     /* fresh temp dir per test */
    char *app;     /* dir/app: the live database's directory */
    char *live;    /* dir/app/app.db */
    char *backups; /* dir/backups */
    char *state;   /* dir/state: the ledger */
    struct rg_playbook pb;
    struct rg_ledger *ledger;
};

/* ---- helpers ---- */

static char *
tpath(const char *dir, const char *name)
{
    return rg_asprintf("%s/%s", dir, name);
}

static void
rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        if ((d = opendir(path)) != NULL) {
            while ((de = readdir(d)) != NULL) {
                char *sub;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                    continue;
                sub = tpath(path, de->d_name);
                rm_rf(sub);
                free(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static bool
exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* The names in dir, sorted, joined with ' ' (newly allocated). */
static char *
listing(const char *dir)
{
    struct dirent **v = NULL;
    struct rg_buf b;
    int n = scandir(dir, &v, NULL, alphasort);

    assert_true(n >= 0);
    rg_buf_init(&b, 1 << 20);
    rg_buf_adds(&b, "");
    for (int i = 0; i < n; i++) {
        if (strcmp(v[i]->d_name, ".") != 0 && strcmp(v[i]->d_name, "..") != 0)
            rg_buf_addf(&b, "%s%s", b.len ? " " : "", v[i]->d_name);
        free(v[i]);
    }
    free(v);
    return rg_buf_detach(&b);
}

static void
assert_listing(const char *dir, const char *want)
{
    char *got = listing(dir);

    assert_string_equal(got, want);
    free(got);
}

static char *
slurp(const char *path, size_t *len)
{
    struct rg_buf b;
    struct rg_err err;

    rg_buf_init(&b, (size_t)1 << 30);
    assert_int_equal(rg_fs_read_file(&b, path, &err), 0);
    *len = b.len;
    if (!b.data)
        return rg_strdup("");
    return rg_buf_detach(&b);
}

static void
spill(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(rg_fs_write_all(fd, data, len, path, NULL), 0);
    close(fd);
}

static void
assert_same_file(const char *path, const char *want, size_t want_len)
{
    size_t len;
    char *got = slurp(path, &len);

    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, len);
    free(got);
}

static void
exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static sqlite3 *
open_db(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t
query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* rows rows of ~1 KiB in t, and c.n counting them: every transaction of the writer changes
 * both, so a copy where they disagree is torn. */
static void
make_db(const char *path, int rows, bool wal)
{
    sqlite3 *db = open_db(path);
    char *fill;

    if (wal)
        exec_sql(db, "PRAGMA journal_mode=WAL");
    exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB); CREATE TABLE c(n INTEGER);"
                 "BEGIN");
    fill = rg_asprintf("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
                       "WHERE i < %d) INSERT INTO t(v) SELECT randomblob(1000) FROM s",
                       rows);
    exec_sql(db, fill);
    free(fill);
    exec_sql(db, "INSERT INTO c SELECT count(*) FROM t; COMMIT");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int
setup(void **state)
{
    struct fx *fx = rg_calloc(1, sizeof(*fx));
    char tmpl[] = "/tmp/rg-sqlite-XXXXXX";
    struct rg_err err;

    assert_non_null(mkdtemp(tmpl));
    fx->dir = rg_strdup(tmpl);
    fx->app = tpath(fx->dir, "app");
    fx->live = tpath(fx->app, "app.db");
    fx->backups = tpath(fx->dir, "backups");
    fx->state = tpath(fx->dir, "state");
    assert_int_equal(mkdir(fx->app, 0755), 0);
    fx->pb.name = rg_strdup("app");
    fx->pb.backup.enabled = true;
    fx->pb.backup.database = rg_asprintf("sqlite://%s", fx->live);
    fx->pb.backup.dir = rg_strdup(fx->backups);
    fx->pb.backup.keep = 5;
    assert_int_equal(rg_ledger_open(&fx->ledger, fx->state, "app", &err), 0);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;

    rg_ledger_close(fx->ledger);
    rm_rf(fx->dir);
    free(fx->pb.name);
    free(fx->pb.backup.database);
    free(fx->pb.backup.dir);
    free(fx->pb.backup.filestore);
    free(fx->dir);
    free(fx->app);
    free(fx->live);
    free(fx->backups);
    free(fx->state);
    free(fx);
    return 0;
}

/* A backup of the live database as it is, through the public entry point. */
static void
take(struct fx *fx, struct rg_backup_row *row)
{
    struct rg_err err;

    if (rg_backup_take(row, fx->ledger, &fx->pb, "v1", NULL, 0, &err) < 0)
        fail_msg("take: %s", err.msg);
}

/* Archives the file at db as a SQLite backup of target 'app' (what take writes). */
static char *
archive_file(struct fx *fx, const char *db, const char *name)
{
    struct rg_archive_manifest m = {.target = "app", .tag = "v1", .db_name = "app.db"};
    struct rg_archive_writer *w = NULL;
    struct rg_err err;
    char *path = tpath(fx->dir, name), *final;
    int fd = open(db, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(rg_archive_writer_open(&w, path, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "sqlite", &err), 0);
    assert_int_equal(rg_archive_writer_commit(w, &m, NULL, &err), 0);
    final = rg_strdup(rg_archive_writer_path(w));
    rg_archive_writer_free(w);
    close(fd);
    free(path);
    return final;
}

static void
assert_prefix_suffix(const char *got, const char *prefix, const char *suffix)
{
    size_t n = strlen(got), p = strlen(prefix), s = strlen(suffix);

    if (n < p + s || strncmp(got, prefix, p) != 0 || strcmp(got + n - s, suffix) != 0)
        fail_msg("got '%s', want '%s…%s'", got, prefix, suffix);
}

/* ---- the path of backup.database ---- */

static void
test_sqlite_path(void **state)
{
    const char *p = (const char *)1;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_backup_sqlite_path(&p, "sqlite:///srv/app/data/app.db", &err), 0);
    assert_string_equal(p, "/srv/app/data/app.db");
    assert_int_equal(rg_backup_sqlite_path(&p, "postgresql://app@db/app", &err), 0);
    assert_null(p);
    assert_int_equal(rg_backup_sqlite_path(&p, "dbname=app", &err), 0);
    assert_null(p);
    assert_int_equal(rg_backup_sqlite_path(&p, "sqlite://data/app.db", &err), RG_EINVAL);
    assert_null(p);
    assert_string_equal(err.msg, "backup database 'sqlite://data/app.db' is not 'sqlite://' "
                                 "followed by an absolute path (like "
                                 "'sqlite:///srv/app/data/app.db')");
    assert_int_equal(rg_backup_sqlite_path(&p, "sqlite:/srv/app.db", &err), RG_EINVAL);
    assert_int_equal(rg_backup_sqlite_path(&p, "sqlite:///srv/", &err), RG_EINVAL);
    assert_int_equal(rg_backup_sqlite_path(&p, "sqlite:///", &err), RG_EINVAL);
}

/* ---- a backup while the application writes ---- */

struct writer {
    const char *path;
    atomic_bool stop;
    atomic_long commits;
    char failure[256];
};

static void *
writer_main(void *arg)
{
    struct writer *wr = arg;
    sqlite3 *db = NULL;
    char *msg = NULL;

    if (sqlite3_open_v2(wr->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(wr->failure, sizeof(wr->failure), "open: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    while (!atomic_load(&wr->stop)) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO t(v) VALUES (randomblob(1000));"
                             "UPDATE c SET n = n + 1; COMMIT",
                         NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(wr->failure, sizeof(wr->failure), "write: %s", msg ? msg : "?");
            sqlite3_free(msg);
            break;
        }
        atomic_fetch_add(&wr->commits, 1);
    }
    sqlite3_close(db);
    return NULL;
}

static void
test_backup_while_writing_restores(void **state)
{
    struct fx *fx = *state;
    struct writer wr = {.path = fx->live};
    struct rg_backup_row row, *rows = NULL;
    struct rg_restore_result res;
    struct rg_archive_info info;
    struct rg_err err;
    pthread_t th;
    long before, after;
    int64_t restored_rows, live_rows;
    size_t n;
    char *kept, *want;
    sqlite3 *db;

    make_db(fx->live, INITIAL_ROWS, true);
    assert_int_equal(pthread_create(&th, NULL, writer_main, &wr), 0);
    while (atomic_load(&wr.commits) < 50 && !wr.failure[0])
        usleep(1000);
    before = atomic_load(&wr.commits);
    take(fx, &row);
    after = atomic_load(&wr.commits);
    atomic_store(&wr.stop, true);
    pthread_join(th, NULL);
    assert_string_equal(wr.failure, "");
    /* The application was never blocked by the backup. */
    assert_true(after > before);

    /* Recorded like a PostgreSQL backup, in the same archive format. */
    assert_int_equal(rg_ledger_backups(&rows, &n, fx->ledger, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].path, row.path);
    assert_string_equal(rows[0].tag, "v1");
    free(rows);
    assert_int_equal(rg_backup_verify(fx->ledger, row.id, row.path, &err), 0);
    assert_int_equal(rg_archive_verify(&info, row.path, NULL, &err), 0);
    assert_int_equal(info.kind, RG_ARCHIVE_ROLLGATE);
    assert_string_equal(info.manifest.db_kind, "sqlite");
    assert_string_equal(info.manifest.db_format, "sqlite");
    assert_string_equal(info.manifest.db_name, "app.db");
    assert_string_equal(info.manifest.server_version, sqlite3_libversion());
    assert_string_equal(info.manifest.target, "app");
    rg_archive_info_release(&info);
    /* No copy left beside the archives. */
    want = rg_strdup(strrchr(row.path, '/') + 1);
    assert_listing(fx->backups, want);
    free(want);

    db = open_db(fx->live);
    live_rows = query_int(db, "SELECT count(*) FROM t");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* The copy is one state of the database: c.n agrees with the rows (the verification query
     * checks it on the restored copy, before the swap). */
    fx->pb.backup.verify_query = "SELECT (SELECT n FROM c) = (SELECT count(*) FROM t)";
    if (rg_backup_restore(&res, &fx->pb, row.path, NULL, &err) < 0)
        fail_msg("restore: %s", err.msg);
    fx->pb.backup.verify_query = NULL;
    assert_true(res.changed);
    assert_string_equal(res.kind, "rollgate");
    assert_string_equal(res.tag, "v1");
    assert_string_equal(res.database, fx->live);
    kept = rg_asprintf("%s.pre_restore_", fx->live);
    assert_int_equal(strncmp(res.replaced_db, kept, strlen(kept)), 0);
    assert_int_equal(strlen(res.replaced_db), strlen(kept) + 14);
    free(kept);

    db = open_db(fx->live);
    assert_int_equal(query_int(db, "SELECT count(*) = 1 FROM pragma_integrity_check "
                                   "WHERE integrity_check = 'ok'"), 1);
    restored_rows = query_int(db, "SELECT count(*) FROM t");
    assert_int_equal(query_int(db, "SELECT n FROM c"), restored_rows);
    assert_true(restored_rows >= INITIAL_ROWS + before);
    assert_true(restored_rows <= INITIAL_ROWS + after);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    /* The replaced database is kept whole. */
    db = open_db(res.replaced_db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), live_rows);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    want = rg_asprintf("app.db %s", strrchr(res.replaced_db, '/') + 1);
    assert_listing(fx->app, want);
    free(want);
}

/* ---- refusals that leave the live database untouched ---- */

static void
test_integrity_failure_refuses(void **state)
{
    struct fx *fx = *state;
    struct rg_restore_result res;
    struct rg_err err;
    char *bad = tpath(fx->dir, "bad.db"), *archive, *live, *prefix;
    size_t live_len;
    sqlite3 *db;

    make_db(fx->live, 100, true);
    live = slurp(fx->live, &live_len);
    /* An index whose declared order is not the order it holds: integrity_check reports every
     * row, where an ordinary query would not notice. */
    db = open_db(bad);
    exec_sql(db, "CREATE TABLE t(x); CREATE INDEX i ON t(x);"
                 "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500)"
                 "INSERT INTO t SELECT i FROM s;"
                 "PRAGMA writable_schema=ON;"
                 "UPDATE sqlite_master SET sql = 'CREATE INDEX i ON t(x DESC)' WHERE name = 'i';"
                 "PRAGMA writable_schema=OFF");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    archive = archive_file(fx, bad, "bad.tar.zst");

    assert_int_equal(rg_backup_restore(&res, &fx->pb, archive, NULL, &err), RG_EINVAL);
    prefix = rg_asprintf("refused, nothing was changed: the restored copy '%s.restoring_",
                         fx->live);
    assert_prefix_suffix(err.msg, prefix,
                         "' fails SQLite's integrity check: row 1 missing from index i "
                         "(and 99 more)");
    assert_false(res.changed);
    assert_same_file(fx->live, live, live_len);
    assert_listing(fx->app, "app.db");
    free(prefix);
    free(archive);
    free(live);
    free(bad);
}

static void
test_not_a_database_refused(void **state)
{
    struct fx *fx = *state;
    struct rg_restore_result res;
    struct rg_err err;
    char *junk = tpath(fx->dir, "junk"), *archive, *prefix;

    make_db(fx->live, 10, false);
    spill(junk, "this is not a database, but long enough to look at its header.......\n"
                "................................................................\n", 134);
    archive = archive_file(fx, junk, "junk.tar.zst");
    assert_int_equal(rg_backup_restore(&res, &fx->pb, archive, NULL, &err), RG_EINVAL);
    prefix = rg_asprintf("refused, nothing was changed: the restored copy '%s.restoring_",
                         fx->live);
    assert_prefix_suffix(err.msg, prefix,
                         "' fails SQLite's integrity check: file is not a database");
    assert_listing(fx->app, "app.db");
    free(prefix);
    free(archive);
    free(junk);
}

static void
test_verify_query_false_refuses(void **state)
{
    struct fx *fx = *state;
    struct rg_backup_row row;
    struct rg_restore_result res;
    struct rg_err err;
    char *live, *prefix, *files;
    size_t live_len;

    make_db(fx->live, 100, true);
    take(fx, &row);
    live = slurp(fx->live, &live_len);
    /* A read-only reader of a WAL database leaves the (empty) -wal and the -shm, as SQLite's
     * readers do: they are the application's to reuse. */
    files = listing(fx->app);
    assert_string_equal(files, "app.db app.db-shm app.db-wal");
    fx->pb.backup.verify_query = "SELECT count(*) = 0 FROM t";
    assert_int_equal(rg_backup_restore(&res, &fx->pb, row.path, NULL, &err), RG_EDB);
    prefix = rg_asprintf("failed, nothing was changed: verification query returned false on "
                         "the restored copy '%s.restoring_", fx->live);
    assert_prefix_suffix(err.msg, prefix, "'");
    free(prefix);
    /* A query that writes is stopped: the copy is only read. */
    fx->pb.backup.verify_query = "DELETE FROM t";
    assert_int_equal(rg_backup_restore(&res, &fx->pb, row.path, NULL, &err), RG_EDB);
    prefix = rg_asprintf("failed, nothing was changed: verification query failed on the "
                         "restored copy '%s.restoring_", fx->live);
    assert_prefix_suffix(err.msg, prefix, "': attempt to write a readonly database");
    free(prefix);
    fx->pb.backup.verify_query = "SELECT 'maybe'";
    assert_int_equal(rg_backup_restore(&res, &fx->pb, row.path, NULL, &err), RG_EDB);
    prefix = rg_asprintf("failed, nothing was changed: verification query returned 'maybe', "
                         "not true, on the restored copy '%s.restoring_", fx->live);
    assert_prefix_suffix(err.msg, prefix, "'");
    free(prefix);
    fx->pb.backup.verify_query = NULL;
    assert_false(res.changed);
    assert_same_file(fx->live, live, live_len);
    assert_listing(fx->app, files);
    free(files);
    free(live);
}

static void
test_kind_mismatch_refused(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_manifest m = {.target = "app", .tag = "v1", .db_name = "app"};
    struct rg_archive_writer *w = NULL;
    struct rg_backup_row row;
    struct rg_restore_result res;
    struct rg_err err;
    char *dump = tpath(fx->dir, "pg.dump"), *pg = tpath(fx->dir, "pg.tar.zst"), *want;
    int fd;

    make_db(fx->live, 10, false);
    /* A PostgreSQL backup restored into a SQLite target. */
    spill(dump, "PGDMP not really", 16);
    fd = open(dump, O_RDONLY);
    assert_int_equal(rg_archive_writer_open(&w, pg, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "custom", &err), 0);
    assert_int_equal(rg_archive_writer_commit(w, &m, NULL, &err), 0);
    free(pg);
    pg = rg_strdup(rg_archive_writer_path(w));
    rg_archive_writer_free(w);
    close(fd);
    assert_int_equal(rg_backup_restore(&res, &fx->pb, pg, NULL, &err), RG_EINVAL);
    want = rg_asprintf("refused, nothing was changed: backup '%s' holds a PostgreSQL dump "
                       "(format 'custom'), not a SQLite database", pg);
    assert_string_equal(err.msg, want);
    free(want);
    assert_listing(fx->app, "app.db");

    /* A SQLite backup restored into a PostgreSQL target: refused before any connection. */
    take(fx, &row);
    free(fx->pb.backup.database);
    fx->pb.backup.database = rg_strdup("host=/nonexistent dbname=app");
    assert_int_equal(rg_backup_restore(&res, &fx->pb, row.path, NULL, &err), RG_EINVAL);
    want = rg_asprintf("refused, nothing was changed: backup '%s' holds a SQLite database, "
                       "not a PostgreSQL dump", row.path);
    assert_string_equal(err.msg, want);
    free(want);
    free(dump);
    free(pg);
}

static void
test_restore_needs_live_file(void **state)
{
    struct fx *fx = *state;
    struct rg_backup_row row;
    struct rg_restore_result res;
    struct rg_err err;
    char *want;

    make_db(fx->live, 10, false);
    take(fx, &row);
    assert_int_equal(unlink(fx->live), 0);
    assert_int_equal(rg_backup_restore(&res, &fx->pb, row.path, NULL, &err), RG_ENOENT);
    want = rg_asprintf("failed, nothing was changed: SQLite database '%s' does not exist "
                       "(check backup.database)", fx->live);
    assert_string_equal(err.msg, want);
    assert_listing(fx->app, "");
    free(want);
}

/* ---- taking a backup that cannot be taken leaves nothing ---- */

static void
test_take_failures_leave_nothing(void **state)
{
    struct fx *fx = *state;
    struct rg_backup_row row, *rows = NULL;
    struct rg_err err;
    size_t n;
    char *want;

    assert_int_equal(rg_backup_take(&row, fx->ledger, &fx->pb, "v1", NULL, 0, &err), RG_ENOENT);
    want = rg_asprintf("backup of 'app': SQLite database '%s' does not exist", fx->live);
    assert_string_equal(err.msg, want);
    free(want);
    assert_listing(fx->backups, "");

    spill(fx->live, "SQLite format 2\0 but nothing more of one.........................."
                    "................................................................", 130);
    assert_int_equal(rg_backup_take(&row, fx->ledger, &fx->pb, "v1", NULL, 0, &err), RG_EDB);
    want = rg_asprintf("backup of 'app': cannot copy SQLite database '%s': file is not a "
                       "database", fx->live);
    assert_string_equal(err.msg, want);
    free(want);
    assert_listing(fx->backups, "");
    assert_int_equal(rg_ledger_backups(&rows, &n, fx->ledger, &err), 0);
    assert_int_equal(n, 0);
    free(rows);
}

/* ---- the swap ---- */

/* An application that died with its write-ahead log unmerged: the -wal (and -shm) go with the
 * replaced file, byte for byte, and open with it; the restored file starts without them. */
static void
test_swap_keeps_wal_and_shm(void **state)
{
    struct fx *fx = *state;
    struct rg_backup_row row;
    struct rg_restore_result res;
    struct rg_err err;
    char *wal = rg_asprintf("%s-wal", fx->live), *shm = rg_asprintf("%s-shm", fx->live);
    char *dbb, *walb, *shmb, *kept_wal, *kept_shm, *want;
    size_t dbl, wall, shml;
    sqlite3 *db;

    make_db(fx->live, 100, true);
    take(fx, &row);
    db = open_db(fx->live);
    exec_sql(db, "PRAGMA wal_autocheckpoint=0; INSERT INTO t(v) SELECT v FROM t LIMIT 10;"
                 "UPDATE c SET n = n + 10");
    dbb = slurp(fx->live, &dbl);
    walb = slurp(wal, &wall);
    shmb = slurp(shm, &shml);
    assert_true(wall > 0);
    assert_int_equal(sqlite3_close(db), SQLITE_OK); /* merges and removes the log... */
    spill(fx->live, dbb, dbl);                      /* ...which a crash would have left */
    spill(wal, walb, wall);
    spill(shm, shmb, shml);

    if (rg_backup_restore(&res, &fx->pb, row.path, NULL, &err) < 0)
        fail_msg("restore: %s", err.msg);
    kept_wal = rg_asprintf("%s-wal", res.replaced_db);
    kept_shm = rg_asprintf("%s-shm", res.replaced_db);
    assert_same_file(res.replaced_db, dbb, dbl);
    assert_same_file(kept_wal, walb, wall);
    assert_same_file(kept_shm, shmb, shml);
    assert_false(exists(wal));
    assert_false(exists(shm));
    want = rg_asprintf("app.db %s %s %s", strrchr(res.replaced_db, '/') + 1,
                       strrchr(kept_shm, '/') + 1, strrchr(kept_wal, '/') + 1);
    assert_listing(fx->app, want);
    free(want);

    db = open_db(fx->live);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 100);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    /* The kept database is what the application had committed, log included. */
    db = open_db(res.replaced_db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 110);
    assert_int_equal(query_int(db, "SELECT n FROM c"), 110);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    free(kept_wal);
    free(kept_shm);
    free(dbb);
    free(walb);
    free(shmb);
    free(wal);
    free(shm);
}

/* rg_backup_sqlite_swap on its own: a hot -journal goes too; owner and mode are the live
 * file's. */
static void
test_swap_journal_and_mode(void **state)
{
    struct fx *fx = *state;
    char *journal = rg_asprintf("%s-journal", fx->live), *restored = tpath(fx->app, "new");
    char *kept = NULL, *want, *body;
    size_t len;
    bool changed = true;
    struct rg_err err;
    struct stat st;

    make_db(fx->live, 10, false);
    assert_int_equal(chmod(fx->live, 0640), 0);
    spill(journal, "journal", 7);
    make_db(restored, 20, false);
    body = slurp(restored, &len);
    assert_int_equal(rg_backup_sqlite_swap(&kept, &changed, fx->live, restored,
                                           "20260101000000", &err), 0);
    assert_true(changed);
    want = rg_asprintf("%s.pre_restore_20260101000000", fx->live);
    assert_string_equal(kept, want);
    free(want);
    assert_listing(fx->app, "app.db app.db.pre_restore_20260101000000 "
                            "app.db.pre_restore_20260101000000-journal");
    assert_same_file(fx->live, body, len);
    assert_int_equal(stat(fx->live, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    free(kept);
    free(body);
    free(journal);
    free(restored);
}

static void
test_swap_refusals(void **state)
{
    struct fx *fx = *state;
    char *restored = tpath(fx->app, "new"), *kept = NULL, *taken, *want;
    bool changed = true;
    struct rg_err err;

    make_db(restored, 5, false);
    assert_int_equal(rg_backup_sqlite_swap(&kept, &changed, fx->live, restored, "1", &err),
                     RG_ENOENT);
    want = rg_asprintf("SQLite database '%s' does not exist", fx->live);
    assert_string_equal(err.msg, want);
    free(want);
    assert_false(changed);
    assert_null(kept);

    make_db(fx->live, 5, false);
    taken = rg_asprintf("%s.pre_restore_1", fx->live);
    spill(taken, "x", 1);
    assert_int_equal(rg_backup_sqlite_swap(&kept, &changed, fx->live, restored, "1", &err),
                     RG_EINVAL);
    want = rg_asprintf("'%s' already exists: a restore in the same second? restore again", taken);
    assert_string_equal(err.msg, want);
    free(want);
    assert_false(changed);
    assert_listing(fx->app, "app.db app.db.pre_restore_1 new");
    free(taken);
    free(restored);
}

/* The last rename failing (the restored copy on another file system): every move is undone
 * and the message says so. */
static void
test_swap_undone_when_last_rename_fails(void **state)
{
    struct fx *fx = *state;
    char other[] = "/dev/shm/rg-sqlite-XXXXXX";
    char *wal = rg_asprintf("%s-wal", fx->live), *shm = rg_asprintf("%s-shm", fx->live);
    char *restored, *kept = NULL, *want, *body;
    struct stat a, b;
    bool changed = true;
    struct rg_err err;
    size_t len;

    if (!mkdtemp(other))
        fail_msg("cannot make a directory in /dev/shm (the other file system this test needs)");
    restored = tpath(other, "new");
    assert_int_equal(stat(fx->app, &a), 0);
    assert_int_equal(stat(other, &b), 0);
    if (a.st_dev == b.st_dev) {
        rmdir(other);
        fail_msg("/dev/shm is on the file system of /tmp: a rename across file systems cannot "
                 "be made to fail here");
    }
    make_db(fx->live, 5, false);
    body = slurp(fx->live, &len);
    spill(wal, "w", 1);
    spill(shm, "s", 1);
    make_db(restored, 5, false);
    assert_int_equal(rg_backup_sqlite_swap(&kept, &changed, fx->live, restored, "1", &err),
                     RG_EIO);
    want = rg_asprintf("cannot move the restored copy '%s' to '%s': %s (database '%s' was left "
                       "as it was)", restored, fx->live, strerror(EXDEV), fx->live);
    assert_string_equal(err.msg, want);
    free(want);
    assert_false(changed);
    assert_null(kept);
    assert_listing(fx->app, "app.db app.db-shm app.db-wal");
    assert_same_file(fx->live, body, len);
    assert_same_file(wal, "w", 1);
    assert_same_file(shm, "s", 1);
    assert_true(exists(restored));
    unlink(restored);
    rmdir(other);
    free(body);
    free(restored);
    free(wal);
    free(shm);
}

/* ---- the playbook ---- */

#define HEAD                                                                                       \
    "version: 1\n"                                                                                 \
    "name: t\n"                                                                                    \
    "runtime: {driver: compose, project_dir: /srv/t, tag_var: TAG, services: [app]}\n"             \
    "release: {image: reg/t, tag_pattern: '^v[0-9]+$'}\n"                                          \
    "gates:\n"                                                                                     \
    "  health: {http: \"http://127.0.0.1:1/health\"}\n"                                            \
    "deploy: [pull, up, {verify: [health]}]\n"

/* Loads HEAD + backup and returns the first diagnostic ("" when it loaded), newly allocated. */
static char *
load_backup(const char *backup, struct rg_playbook **pb_out)
{
    struct rg_load_opts opts = {.base_dir = "/base"};
    struct rg_playbook *pb = NULL;
    struct rg_diags diags;
    struct rg_err err;
    char *yaml = rg_asprintf("%s%s", HEAD, backup), *out;
    int rc;

    rg_diags_init(&diags);
    rc = rg_playbook_load_buffer(&pb, &diags, "t.yml", yaml, strlen(yaml), &opts, &err);
    out = diags.n ? rg_diag_format(&diags.v[0]) : rg_strdup(rc < 0 ? err.msg : "");
    rg_diags_release(&diags);
    free(yaml);
    if (pb_out)
        *pb_out = pb;
    else
        rg_playbook_free(pb);
    return out;
}

static void
assert_backup_diag(const char *backup, const char *want)
{
    char *got = load_backup(backup, NULL);

    assert_string_equal(got, want);
    free(got);
}

static void
test_playbook_inputs(void **state)
{
    struct rg_playbook *pb = NULL;
    char *got;

    (void)state;
    got = load_backup("backup: {database: 'sqlite:///srv/app/data/app.db', dir: /b, keep: 3, "
                      "before_deploy: true, filestore: /srv/app/media}\n",
                      &pb);
    assert_string_equal(got, "");
    free(got);
    assert_non_null(pb);
    assert_string_equal(pb->backup.database, "sqlite:///srv/app/data/app.db");
    assert_string_equal(pb->backup.filestore, "/srv/app/media");
    assert_int_equal(pb->backup.keep, 3);
    assert_true(pb->backup.before_deploy);
    rg_playbook_free(pb);

    assert_backup_diag("backup: {database: 'sqlite://data/app.db', dir: /b}\n",
                       "t.yml:8:20: backup.database: backup database 'sqlite://data/app.db' is "
                       "not 'sqlite://' followed by an absolute path (like "
                       "'sqlite:///srv/app/data/app.db')");
    assert_backup_diag("backup: {database: 'sqlite:app.db', dir: /b}\n",
                       "t.yml:8:20: backup.database: backup database 'sqlite:app.db' is not "
                       "'sqlite://' followed by an absolute path (like "
                       "'sqlite:///srv/app/data/app.db')");
    assert_backup_diag("backup: {database: 'sqlite:///srv/app/', dir: /b}\n",
                       "t.yml:8:20: backup.database: backup database 'sqlite:///srv/app/' is "
                       "not 'sqlite://' followed by an absolute path (like "
                       "'sqlite:///srv/app/data/app.db')");
    assert_backup_diag("backup: {database: 'sqlite:////srv/app.db', dir: /b}\n",
                       "t.yml:8:20: backup.database: SQLite database path '//srv/app.db' is not "
                       "clean (an empty, '.' or '..' component)");
    assert_backup_diag("backup: {database: 'sqlite:///srv/../app.db', dir: /b}\n",
                       "t.yml:8:20: backup.database: SQLite database path '/srv/../app.db' is "
                       "not clean (an empty, '.' or '..' component)");
    assert_backup_diag("backup: {database: /srv/app/data/app.db, dir: /b}\n",
                       "t.yml:8:20: backup.database: '/srv/app/data/app.db' is neither a "
                       "PostgreSQL connection string nor a SQLite URL: write "
                       "'sqlite:///srv/app/data/app.db' for a SQLite database");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_path),
        cmocka_unit_test_setup_teardown(test_backup_while_writing_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integrity_failure_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_query_false_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kind_mismatch_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_needs_live_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_failures_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_keeps_wal_and_shm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_journal_and_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_undone_when_last_rename_fails, setup,
                                        teardown),
        cmocka_unit_test(test_playbook_inputs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
