/* Putting a restored SQLite database in place: the copy checked (integrity_check, the playbook's
 * verification query) before anything live is touched, then swapped in by renames that keep the
 * replaced file with its -wal, -shm and -journal, undone when one fails half-way. */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rollgate/backup.h"
#include "rollgate/util.h"

/* What SQLite keeps beside a database. A -wal or a hot -journal left at the live name would be
 * applied to the restored file when it is next opened, so every one goes with the replaced
 * file, and the -wal before the others (it holds committed data). */
static const char *const sidecars[] = {"-wal", "-shm", "-journal"};
#define N_SIDECARS (sizeof(sidecars) / sizeof(sidecars[0]))

/* ---- the check ---- */

/* One integrity_check row for a message: its lines joined with "; ". */
static void
one_line(char *out, size_t size, const unsigned char *text)
{
    size_t i = 0;

    for (const unsigned char *p = text ? text : (const unsigned char *)""; *p && i + 3 < size;
         p++) {
        if (*p == '\n') {
            out[i++] = ';';
            out[i++] = ' ';
        } else {
            out[i++] = (char)*p;
        }
    }
    out[i] = '\0';
}

static int
integrity(sqlite3 *db, const char *path, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    char first[256] = "";
    size_t rows = 0;
    bool ok = false;
    int src, rc = 0;

    src = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(st, 0);
        if (rows++ == 0) {
            ok = text && strcmp((const char *)text, "ok") == 0;
            one_line(first, sizeof(first), text);
        } else {
            ok = false;
        }
        src = SQLITE_OK;
    }
    /* A file that is no database, or so damaged that the check cannot run, errors instead. */
    if (src != SQLITE_DONE)
        rc = rg_err_set(err, RG_EINVAL, "the restored copy '%s' fails SQLite's integrity check: %s",
                        path, sqlite3_errmsg(db));
    else if (!ok && rows > 1)
        rc = rg_err_set(err, RG_EINVAL,
                        "the restored copy '%s' fails SQLite's integrity check: %s (and %zu more)",
                        path, first, rows - 1);
    else if (!ok)
        rc = rg_err_set(err, RG_EINVAL, "the restored copy '%s' fails SQLite's integrity check: %s",
                        path, rows ? first : "no answer");
    sqlite3_finalize(st);
    return rc;
}

static bool
word_is(const unsigned char *s, const char *a, const char *b, const char *c)
{
    return s && (strcasecmp((const char *)s, a) == 0 || strcasecmp((const char *)s, b) == 0 ||
                 strcasecmp((const char *)s, c) == 0);
}

static int
verify(sqlite3 *db, const char *path, const char *query, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int src, rc = 0;

    src = sqlite3_prepare_v2(db, query, -1, &st, &tail);
    if (src == SQLITE_OK && !st)
        return rg_err_set(err, RG_EDB, "verification query failed on the restored copy '%s': "
                          "it is empty", path);
    while (src == SQLITE_OK && tail && isspace((unsigned char)*tail))
        tail++;
    if (src == SQLITE_OK && tail && *tail && *tail != ';') {
        rc = rg_err_set(err, RG_EDB, "verification query failed on the restored copy '%s': "
                        "it must be one statement", path);
        goto out;
    }
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = rg_err_set(err, RG_EDB, "verification query failed on the restored copy '%s': %s",
                        path, sqlite3_errmsg(db));
    } else if (src == SQLITE_DONE || sqlite3_column_count(st) < 1) {
        rc = rg_err_set(err, RG_EDB, "verification query returned no rows on the restored copy "
                        "'%s'", path);
    } else {
        const unsigned char *text = sqlite3_column_text(st, 0);
        switch (sqlite3_column_type(st, 0)) {
        case SQLITE_NULL:
            rc = rg_err_set(err, RG_EDB, "verification query returned null on the restored "
                            "copy '%s'", path);
            break;
        case SQLITE_INTEGER:
        case SQLITE_FLOAT:
            if (sqlite3_column_double(st, 0) == 0.0)
                rc = rg_err_set(err, RG_EDB, "verification query returned false on the "
                                "restored copy '%s'", path);
            break;
        default:
            if (word_is(text, "f", "false", "0"))
                rc = rg_err_set(err, RG_EDB, "verification query returned false on the "
                                "restored copy '%s'", path);
            else if (!word_is(text, "t", "true", "1"))
                rc = rg_err_set(err, RG_EDB, "verification query returned '%.64s', not true, "
                                "on the restored copy '%s'", text ? (const char *)text : "",
                                path);
        }
    }
out:
    sqlite3_finalize(st);
    return rc;
}

int
rg_backup_sqlite_check(const char *path, const char *verify_query, struct rg_err *err)
{
    sqlite3 *db = NULL;
    int rc = 0;

    /* Read-write so that a copy in WAL mode opens without a -wal beside it; query_only keeps
     * the check (and a careless verification query) from changing it. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = rg_err_set(err, RG_EIO, "cannot open the restored copy '%s': %s", path,
                        db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, RG_BACKUP_SQLITE_BUSY_MS);
    if (sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        rc = rg_err_set(err, RG_EDB, "cannot open the restored copy '%s': %s", path,
                        sqlite3_errmsg(db));
        goto out;
    }
    if ((rc = integrity(db, path, err)) < 0)
        goto out;
    if (verify_query)
        rc = verify(db, path, verify_query, err);
out:
    sqlite3_close(db);
    /* The last connection removes them when it can; nothing was written, so they hold nothing
     * and must not travel with the copy (nor stay behind when it is removed). */
    for (size_t i = 0; i < 2; i++) {
        char *p = rg_asprintf("%s%s", path, sidecars[i]);
        unlink(p);
        free(p);
    }
    return rc;
}

/* ---- the swap ---- */

struct move {
    char *from, *to;
    bool done;
};

/* Renames without ever replacing: renameat2(RENAME_NOREPLACE), or link+unlink where the file
 * system does not support the flag. -1 with errno. */
static int
rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (link(from, to) < 0)
        return -1;
    unlink(from);
    return 0;
}

/* The restored file gets what the application expects of the live one: its owner and mode.
 * fsynced, since it is about to become the only copy under the live name. */
static int
adopt(const char *restored, const char *live, const struct stat *lst, struct rg_err *err)
{
    struct stat st;
    int fd = open(restored, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return rg_err_sys(err, RG_EIO, "cannot open the restored copy '%s'", restored);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = rg_err_set(err, RG_EINVAL, "the restored copy '%s' is not a regular file", restored);
        goto out;
    }
    if ((st.st_uid != lst->st_uid || st.st_gid != lst->st_gid) &&
        fchown(fd, lst->st_uid, lst->st_gid) < 0) {
        rc = rg_err_sys(err, errno == EPERM ? RG_ENOPERM : RG_EIO,
                        "cannot give the restored copy '%s' the owner of '%s' (uid %u, gid %u): "
                        "restore as root or as that user",
                        restored, live, (unsigned)lst->st_uid, (unsigned)lst->st_gid);
        goto out;
    }
    if (fchmod(fd, lst->st_mode & 07777) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot give the restored copy '%s' the mode of '%s'",
                        restored, live);
        goto out;
    }
    if (fsync(fd) < 0)
        rc = rg_err_sys(err, RG_EIO, "cannot fsync the restored copy '%s'", restored);
out:
    close(fd);
    return rc;
}

/* Undoes the moves done, newest first. Returns 0 when all went back; otherwise the message
 * names what could not, with the commands that finish the job by hand. */
static int
undo(struct move *mv, size_t n, const char *live, struct rg_err *err)
{
    struct rg_err first = *err;
    char cmds[RG_ERR_MSG_MAX] = "", why[128] = "";
    size_t len = 0;
    bool failed = false, any = false;

    for (size_t i = 0; i < n; i++)
        any = any || mv[i].done;
    if (!any)
        return 0; /* nothing was moved: the message stands as it is */
    for (size_t i = n; i-- > 0;) {
        if (!mv[i].done)
            continue;
        if (rename_noreplace(mv[i].to, mv[i].from) == 0) {
            mv[i].done = false;
            continue;
        }
        if (!failed)
            snprintf(why, sizeof(why), "%s", strerror(errno));
        failed = true;
        if (len < sizeof(cmds)) {
            int k = snprintf(cmds + len, sizeof(cmds) - len, "%smv '%s' '%s'", len ? "; " : "",
                             mv[i].to, mv[i].from);
            len += k > 0 ? (size_t)k : 0;
        }
    }
    if (!failed) {
        rg_err_set(err, first.code, "%s (database '%s' was left as it was)", first.msg, live);
        return 0;
    }
    rg_err_set(err, first.code,
               "%s; undoing it failed too (%s), so '%s' is not the database it was: put it "
               "back by hand before starting the service: %s",
               first.msg, why, live, cmds);
    return -1;
}

int
rg_backup_sqlite_swap(char **kept_out, bool *changed_out, const char *live, const char *restored,
                      const char *stamp, struct rg_err *err)
{
    struct move mv[N_SIDECARS + 1] = {{0}};
    char *kept = rg_asprintf("%s.pre_restore_%s", live, stamp);
    struct rg_err local;
    struct stat lst, st;
    size_t n = 0;
    int rc = 0;

    *kept_out = NULL;
    *changed_out = false;
    if (!err)
        err = &local; /* undo builds on the message */
    if (lstat(live, &lst) < 0) {
        rc = errno == ENOENT
                 ? rg_err_set(err, RG_ENOENT, "SQLite database '%s' does not exist", live)
                 : rg_err_sys(err, RG_EIO, "cannot read SQLite database '%s'", live);
        goto out;
    }
    if (!S_ISREG(lst.st_mode)) {
        rc = rg_err_set(err, RG_EINVAL, "SQLite database '%s' is not a regular file", live);
        goto out;
    }
    for (size_t i = 0; i < N_SIDECARS; i++) {
        char *from = rg_asprintf("%s%s", live, sidecars[i]);
        if (lstat(from, &st) < 0) {
            free(from);
            continue;
        }
        mv[n].from = from;
        mv[n++].to = rg_asprintf("%s%s", kept, sidecars[i]);
        if (!S_ISREG(st.st_mode)) {
            rc = rg_err_set(err, RG_EINVAL, "'%s' is not a regular file", from);
            goto out;
        }
    }
    mv[n].from = rg_strdup(live);
    mv[n++].to = rg_strdup(kept);
    for (size_t i = 0; i < n; i++) {
        if (lstat(mv[i].to, &st) == 0) {
            rc = rg_err_set(err, RG_EINVAL, "'%s' already exists: a restore in the same second? "
                            "restore again", mv[i].to);
            goto out;
        }
    }
    if ((rc = adopt(restored, live, &lst, err)) < 0)
        goto out;

    for (size_t i = 0; i < n; i++) {
        if (rename_noreplace(mv[i].from, mv[i].to) < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot move '%s' aside to '%s'", mv[i].from, mv[i].to);
            goto out;
        }
        mv[i].done = true;
    }
    /* Only the application could have made one since: it is not stopped. */
    for (size_t i = 0; i < N_SIDECARS; i++) {
        char *p = rg_asprintf("%s%s", live, sidecars[i]);
        bool there = lstat(p, &st) == 0;
        if (there)
            rc = rg_err_set(err, RG_EBUSY, "'%s' appeared while the database was moved aside: "
                            "is the service still running?", p);
        free(p);
        if (there)
            goto out;
    }
    if (rename_noreplace(restored, live) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot move the restored copy '%s' to '%s'", restored, live);
        goto out;
    }
    *changed_out = true;
    if (rg_fs_fsync_parent(live, err) < 0)
        rg_log(RG_LOG_WARN, "restore: '%s' is in place, but %s", live, err->msg);
    rg_err_clear(err);
    *kept_out = kept;
    kept = NULL;
out:
    if (rc < 0 && undo(mv, n, live, err) < 0)
        *changed_out = true;
    for (size_t i = 0; i < n; i++) {
        free(mv[i].from);
        free(mv[i].to);
    }
    free(kept);
    return rc;
}
