/* The SQLite ledger: WAL with synchronous=FULL so a committed transition survives a crash or a
 * power cut, a versioned schema migrated in place, and one statement per call. */
#include <errno.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "ledger_internal.h"
#include "rollgate/util.h"

/* Each entry moves the schema from version i to i + 1; never edit one that has shipped. */
static const char *const migrations[] = {
    "CREATE TABLE deploys ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  target TEXT NOT NULL, kind TEXT NOT NULL, tag TEXT NOT NULL,"
    "  digest TEXT NOT NULL DEFAULT '', prev_tag TEXT NOT NULL DEFAULT '',"
    "  trigger TEXT NOT NULL, actor TEXT NOT NULL,"
    "  started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL DEFAULT 0,"
    "  outcome TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE transitions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deploy_id INTEGER NOT NULL REFERENCES deploys(id),"
    "  at_ms INTEGER NOT NULL, phase TEXT NOT NULL CHECK (phase IN ('intent', 'done')),"
    "  state TEXT NOT NULL, rung INTEGER NOT NULL, stage INTEGER NOT NULL,"
    "  event TEXT NOT NULL DEFAULT '',"
    "  detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX transitions_by_deploy ON transitions(deploy_id, id);"
    "CREATE TABLE releases ("
    "  tag TEXT PRIMARY KEY, digest TEXT NOT NULL DEFAULT '',"
    "  deploy_id INTEGER NOT NULL, good_ms INTEGER NOT NULL);",
    /* 2: backups, each with the release it belongs to. */
    "CREATE TABLE backups ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  path TEXT NOT NULL UNIQUE, tag TEXT NOT NULL DEFAULT '', digest TEXT NOT NULL DEFAULT '',"
    "  deploy_id INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    "  size INTEGER NOT NULL, verified_ms INTEGER NOT NULL DEFAULT 0,"
    "  deleted_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX backups_by_deploy ON backups(deploy_id);",
    /* 3: what a run by hand worked on (the backup taken or restored), for the history. */
    "ALTER TABLE deploys ADD COLUMN note TEXT NOT NULL DEFAULT '';",
    /* 4: every release seen serving (gated or observed) for rollback, the releases in
     * quarantine, and the commit a push deployed. */
    "CREATE TABLE serving ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tag TEXT NOT NULL, digest TEXT NOT NULL DEFAULT '',"
    "  deploy_id INTEGER NOT NULL DEFAULT 0, how TEXT NOT NULL, at_ms INTEGER NOT NULL);"
    "CREATE TABLE quarantine ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tag TEXT NOT NULL, digest TEXT NOT NULL DEFAULT '',"
    "  deploy_id INTEGER NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL,"
    "  allowed_ms INTEGER NOT NULL DEFAULT 0, allowed_by TEXT NOT NULL DEFAULT '');"
    "ALTER TABLE deploys ADD COLUMN source_commit TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE deploys ADD COLUMN log TEXT NOT NULL DEFAULT '';",
};

int
ledger_db_error(struct rg_ledger *l, struct rg_err *err, const char *what)
{
    return rg_err_set(err, RG_EDB, "ledger '%s': %s: %s", l->path, what, sqlite3_errmsg(l->db));
}

static int
exec_sql(struct rg_ledger *l, const char *sql, const char *what, struct rg_err *err)
{
    char *msg = NULL;

    if (sqlite3_exec(l->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rg_err_set(err, RG_EDB, "ledger '%s': %s: %s", l->path, what, msg ? msg : "?");
        sqlite3_free(msg);
        return RG_EDB;
    }
    return 0;
}

static int
read_version(struct rg_ledger *l, int *version, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;

    *version = 0;
    if (sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return ledger_db_error(l, err, "cannot read the schema version");
    if (sqlite3_step(st) == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* Several triggers (a push, a CI job, a person) may open a new or old ledger at the same
 * moment: each step re-reads the version inside its write transaction, so the second opener
 * sees the first one's work instead of creating the same table again. */
static int
migrate(struct rg_ledger *l, struct rg_err *err)
{
    int version = 0, rc;
    size_t target = sizeof(migrations) / sizeof(migrations[0]);

    if ((rc = read_version(l, &version, err)) < 0)
        return rc;
    if (version > (int)target)
        return rg_err_set(err, RG_EDB,
                          "ledger '%s' has schema %d, newer than this rollgate's %zu; use a "
                          "newer rollgate",
                          l->path, version, target);
    while ((size_t)version < target) {
        char pragma[64];
        if ((rc = exec_sql(l, "BEGIN IMMEDIATE", "cannot begin a migration", err)) < 0)
            return rc;
        if ((rc = read_version(l, &version, err)) < 0) {
            exec_sql(l, "ROLLBACK", "rollback", NULL);
            return rc;
        }
        if ((size_t)version >= target) {
            exec_sql(l, "ROLLBACK", "rollback", NULL);
            break;
        }
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
        if ((rc = exec_sql(l, migrations[version], "cannot migrate the schema", err)) < 0 ||
            (rc = exec_sql(l, pragma, "cannot record the schema version", err)) < 0) {
            exec_sql(l, "ROLLBACK", "rollback", NULL);
            return rc;
        }
        if ((rc = exec_sql(l, "COMMIT", "cannot commit a migration", err)) < 0)
            return rc;
        version++;
    }
    return 0;
}

static int
open_at(struct rg_ledger **out, const char *state_dir, const char *target, bool create,
        bool readonly, struct rg_err *err)
{
    struct rg_ledger *l = rg_calloc(1, sizeof(*l));
    int rc;

    *out = NULL;
    l->path = rg_asprintf("%s/%s.db", state_dir, target);
    l->target = rg_strdup(target);
    if (!create && access(l->path, F_OK) < 0) {
        rc = rg_err_set(err, RG_ENOENT, "no ledger '%s': nothing was deployed by rollgate yet",
                        l->path);
        goto out;
    }
    if (create && (rc = rg_fs_make_dir(state_dir, 0750, "state directory", err)) < 0)
        goto out;
    if (readonly) {
        if (sqlite3_open_v2(l->path, &l->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) !=
            SQLITE_OK) {
            rc = rg_err_set(err, RG_EDB, "cannot open ledger '%s': %s", l->path,
                            l->db ? sqlite3_errmsg(l->db) : "out of memory");
            goto out;
        }
        sqlite3_busy_timeout(l->db, 10000);
        *out = l;
        return 0;
    }
    /* SQLite writes a journal beside the file: both need the directory writable. */
    if (access(state_dir, W_OK) < 0 || (access(l->path, F_OK) == 0 && access(l->path, W_OK) < 0)) {
        rc = rg_err_set(err, RG_ENOPERM,
                        "cannot write the ledger '%s' (%s): run rollgate as the user that owns "
                        "the state directory '%s'",
                        l->path, strerror(errno), state_dir);
        goto out;
    }
    if (sqlite3_open_v2(l->path, &l->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        rc = rg_err_set(err, RG_EDB, "cannot open ledger '%s': %s", l->path,
                        l->db ? sqlite3_errmsg(l->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(l->db, 10000);
    if ((rc = exec_sql(l, "PRAGMA journal_mode = WAL", "cannot use WAL", err)) < 0 ||
        (rc = exec_sql(l, "PRAGMA synchronous = FULL", "cannot set synchronous", err)) < 0 ||
        (rc = exec_sql(l, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", err)) < 0 ||
        (rc = migrate(l, err)) < 0)
        goto out;
    *out = l;
    l = NULL;
out:
    rg_ledger_close(l);
    return rc;
}

int
rg_ledger_open(struct rg_ledger **out, const char *state_dir, const char *target,
               struct rg_err *err)
{
    return open_at(out, state_dir, target, true, false, err);
}

int
rg_ledger_open_existing(struct rg_ledger **out, const char *state_dir, const char *target,
                        struct rg_err *err)
{
    return open_at(out, state_dir, target, false, false, err);
}

int
rg_ledger_open_readonly(struct rg_ledger **out, const char *state_dir, const char *target,
                        struct rg_err *err)
{
    return open_at(out, state_dir, target, false, true, err);
}

void
rg_ledger_close(struct rg_ledger *l)
{
    if (!l)
        return;
    sqlite3_close(l->db);
    free(l->path);
    free(l->target);
    free(l);
}

/* Prepares sql, binds the arguments described by types ('i' int64, 't' text), steps it once.
 * SQLITE_DONE and SQLITE_ROW are both success; *st_out keeps the statement for rows. */
int
ledger_run(sqlite3_stmt **st_out, struct rg_ledger *l, const char *sql, const char *types,
           struct rg_err *err, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int rc = 0, s;

    if (st_out)
        *st_out = NULL;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        return ledger_db_error(l, err, "cannot prepare a statement");
    va_start(ap, err);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 'i')
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    va_end(ap);
    s = sqlite3_step(st);
    if (s != SQLITE_DONE && s != SQLITE_ROW) {
        rc = ledger_db_error(l, err, "cannot write");
        sqlite3_finalize(st);
        return rc;
    }
    if (st_out && s == SQLITE_ROW)
        *st_out = st;
    else
        sqlite3_finalize(st);
    return s == SQLITE_ROW ? 1 : 0;
}

int
rg_ledger_begin(int64_t *id_out, struct rg_ledger *l, const char *kind, const char *tag,
                const char *prev_tag, const char *trigger, const char *actor, struct rg_err *err)
{
    int rc =
        ledger_run(NULL, l,
                   "INSERT INTO deploys (target, kind, tag, prev_tag, trigger, actor, started_ms) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "tttttti", err, l->target, kind, tag, prev_tag ? prev_tag : "", trigger, actor,
                   rg_wall_ms());

    *id_out = 0;
    if (rc < 0)
        return rc;
    *id_out = sqlite3_last_insert_rowid(l->db);
    return 0;
}

/* The transition row and the deploy's current state change together or not at all. */
static int
transition(struct rg_ledger *l, int64_t deploy_id, const char *phase, const char *state, int rung,
           int stage, const char *event, const char *detail, struct rg_err *err)
{
    int rc;

    if ((rc = exec_sql(l, "BEGIN IMMEDIATE", "cannot begin", err)) < 0)
        return rc;
    if ((rc = ledger_run(
             NULL, l,
             "INSERT INTO transitions (deploy_id, at_ms, phase, state, rung, stage, event, "
             "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             "iittiitt", err, deploy_id, rg_wall_ms(), phase, state, (int64_t)rung, (int64_t)stage,
             event, detail ? detail : "")) < 0 ||
        (rc = ledger_run(NULL, l, "UPDATE deploys SET state = ? WHERE id = ?", "ti", err, state,
                         deploy_id)) < 0) {
        exec_sql(l, "ROLLBACK", "rollback", NULL);
        return rc;
    }
    return exec_sql(l, "COMMIT", "cannot commit a transition", err);
}

int
rg_ledger_intent(struct rg_ledger *l, int64_t deploy_id, const char *state, int rung, int stage,
                 const char *detail, struct rg_err *err)
{
    return transition(l, deploy_id, "intent", state, rung, stage, "", detail, err);
}

int
rg_ledger_done(struct rg_ledger *l, int64_t deploy_id, const char *state, int rung, int stage,
               const char *event, const char *detail, struct rg_err *err)
{
    return transition(l, deploy_id, "done", state, rung, stage, event, detail, err);
}

int
rg_ledger_set_digest(struct rg_ledger *l, int64_t deploy_id, const char *digest, struct rg_err *err)
{
    int rc = ledger_run(NULL, l, "UPDATE deploys SET digest = ? WHERE id = ?", "ti", err, digest,
                        deploy_id);
    return rc < 0 ? rc : 0;
}

int
rg_ledger_set_note(struct rg_ledger *l, int64_t deploy_id, const char *note, struct rg_err *err)
{
    int rc =
        ledger_run(NULL, l, "UPDATE deploys SET note = ? WHERE id = ?", "ti", err, note, deploy_id);
    return rc < 0 ? rc : 0;
}

int
rg_ledger_finish(struct rg_ledger *l, int64_t deploy_id, const char *outcome, const char *error,
                 struct rg_err *err)
{
    int rc =
        ledger_run(NULL, l, "UPDATE deploys SET outcome = ?, ended_ms = ?, error = ? WHERE id = ?",
                   "titi", err, outcome, rg_wall_ms(), error ? error : "", deploy_id);
    return rc < 0 ? rc : 0;
}

int
rg_ledger_mark_good(struct rg_ledger *l, const char *tag, const char *digest, int64_t deploy_id,
                    struct rg_err *err)
{
    int rc =
        ledger_run(NULL, l,
                   "INSERT INTO releases (tag, digest, deploy_id, good_ms) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT(tag) DO UPDATE SET digest = excluded.digest, "
                   "deploy_id = excluded.deploy_id, good_ms = excluded.good_ms",
                   "ttii", err, tag, digest ? digest : "", deploy_id, rg_wall_ms());
    return rc < 0 ? rc : 0;
}

void
ledger_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = snprintf(dst, size, "%s", t ? (const char *)t : "");
    (void)n; /* rows were written by rollgate within these sizes; a cut is only cosmetic */
}

static void
release_row(struct rg_release_row *r, sqlite3_stmt *st)
{
    ledger_copy_text(r->tag, sizeof(r->tag), st, 0);
    ledger_copy_text(r->digest, sizeof(r->digest), st, 1);
    r->deploy_id = sqlite3_column_int64(st, 2);
    r->good_ms = sqlite3_column_int64(st, 3);
}

int
rg_ledger_previous_good(struct rg_release_row *out, struct rg_ledger *l, const char *except_tag,
                        struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ledger_run(&st, l,
                        "SELECT tag, digest, deploy_id, good_ms FROM releases WHERE tag != ? "
                        "AND " LEDGER_NOT_QUARANTINED " "
                        "ORDER BY good_ms DESC, deploy_id DESC LIMIT 1",
                        "t", err, except_tag ? except_tag : "");

    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    if (rc == 0)
        return rg_err_set(err, RG_ENOENT, "target '%s' has no known-good release%s%s%s", l->target,
                          except_tag ? " other than '" : "", except_tag ? except_tag : "",
                          except_tag ? "'" : "");
    release_row(out, st);
    sqlite3_finalize(st);
    return 0;
}

int
rg_ledger_release(struct rg_release_row *out, struct rg_ledger *l, const char *tag,
                  struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc =
        ledger_run(&st, l, "SELECT tag, digest, deploy_id, good_ms FROM releases WHERE tag = ?",
                   "t", err, tag);

    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    if (rc == 0)
        return rg_err_set(err, RG_ENOENT, "release '%s' of target '%s' never passed its gates", tag,
                          l->target);
    release_row(out, st);
    sqlite3_finalize(st);
    return 0;
}

#define DEPLOY_COLUMNS                                                                             \
    "id, target, kind, tag, digest, prev_tag, trigger, actor, started_ms, ended_ms, outcome, "     \
    "state, error, note, source_commit, log"

static void
deploy_row(struct rg_deploy_row *d, sqlite3_stmt *st)
{
    d->id = sqlite3_column_int64(st, 0);
    ledger_copy_text(d->target, sizeof(d->target), st, 1);
    ledger_copy_text(d->kind, sizeof(d->kind), st, 2);
    ledger_copy_text(d->tag, sizeof(d->tag), st, 3);
    ledger_copy_text(d->digest, sizeof(d->digest), st, 4);
    ledger_copy_text(d->prev_tag, sizeof(d->prev_tag), st, 5);
    ledger_copy_text(d->trigger, sizeof(d->trigger), st, 6);
    ledger_copy_text(d->actor, sizeof(d->actor), st, 7);
    d->started_ms = sqlite3_column_int64(st, 8);
    d->ended_ms = sqlite3_column_int64(st, 9);
    ledger_copy_text(d->outcome, sizeof(d->outcome), st, 10);
    ledger_copy_text(d->state, sizeof(d->state), st, 11);
    ledger_copy_text(d->error, sizeof(d->error), st, 12);
    ledger_copy_text(d->note, sizeof(d->note), st, 13);
    ledger_copy_text(d->commit, sizeof(d->commit), st, 14);
    ledger_copy_text(d->log, sizeof(d->log), st, 15);
}

int
rg_ledger_set_log(struct rg_ledger *l, int64_t deploy_id, const char *path, struct rg_err *err)
{
    int rc = ledger_run(NULL, l, "UPDATE deploys SET log = ? WHERE id = ?", "ti", err, path,
                        deploy_id);
    return rc < 0 ? rc : 0;
}

int
rg_ledger_get(struct rg_deploy_row *out, struct rg_ledger *l, int64_t id, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ledger_run(&st, l, "SELECT " DEPLOY_COLUMNS " FROM deploys WHERE id = ?", "i", err,
                        id);

    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    if (rc == 0)
        return rg_err_set(err, RG_ENOENT, "target '%s' has no deploy #%lld", l->target,
                          (long long)id);
    deploy_row(out, st);
    sqlite3_finalize(st);
    return 0;
}

int
rg_ledger_set_commit(struct rg_ledger *l, int64_t deploy_id, const char *commit,
                     struct rg_err *err)
{
    int rc = ledger_run(NULL, l, "UPDATE deploys SET source_commit = ? WHERE id = ?", "ti", err,
                        commit, deploy_id);
    return rc < 0 ? rc : 0;
}

int
rg_ledger_history(struct rg_deploy_row *out, size_t max, size_t *n, struct rg_ledger *l,
                  struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int s;

    *n = 0;
    if (sqlite3_prepare_v2(l->db, "SELECT " DEPLOY_COLUMNS " FROM deploys ORDER BY id DESC LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_error(l, err, "cannot read the history");
    sqlite3_bind_int64(st, 1, (int64_t)max);
    while (*n < max && (s = sqlite3_step(st)) == SQLITE_ROW)
        deploy_row(&out[(*n)++], st);
    sqlite3_finalize(st);
    return 0;
}

int
rg_ledger_last(struct rg_deploy_row *out, struct rg_ledger *l, struct rg_err *err)
{
    size_t n;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = rg_ledger_history(out, 1, &n, l, err)) < 0)
        return rc;
    if (n == 0)
        return rg_err_set(err, RG_ENOENT, "target '%s' has never been deployed", l->target);
    return 0;
}

static void
transition_row(struct rg_transition_row *t, sqlite3_stmt *st)
{
    t->id = sqlite3_column_int64(st, 0);
    t->deploy_id = sqlite3_column_int64(st, 1);
    t->at_ms = sqlite3_column_int64(st, 2);
    ledger_copy_text(t->phase, sizeof(t->phase), st, 3);
    ledger_copy_text(t->state, sizeof(t->state), st, 4);
    t->rung = sqlite3_column_int(st, 5);
    ledger_copy_text(t->event, sizeof(t->event), st, 6);
    ledger_copy_text(t->detail, sizeof(t->detail), st, 7);
    t->stage = sqlite3_column_int(st, 8);
}

int
rg_ledger_in_flight(struct rg_transition_row *out, struct rg_ledger *l, int64_t deploy_id,
                    struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ledger_run(&st, l,
                        "SELECT id, deploy_id, at_ms, phase, state, rung, event, detail, stage "
                        "FROM transitions WHERE deploy_id = ? ORDER BY id DESC LIMIT 1",
                        "i", err, deploy_id);

    memset(out, 0, sizeof(*out));
    if (rc <= 0)
        return rc;
    transition_row(out, st);
    sqlite3_finalize(st);
    return strcmp(out->phase, "intent") == 0 ? 1 : 0;
}

int
rg_ledger_transitions(struct rg_transition_row *out, size_t max, size_t *n, struct rg_ledger *l,
                      int64_t deploy_id, int64_t after_id, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;

    *n = 0;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT id, deploy_id, at_ms, phase, state, rung, event, detail, stage "
                           "FROM transitions WHERE deploy_id = ? AND id > ? ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_error(l, err, "cannot read the transitions");
    sqlite3_bind_int64(st, 1, deploy_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, (int64_t)max);
    while (*n < max && sqlite3_step(st) == SQLITE_ROW)
        transition_row(&out[(*n)++], st);
    sqlite3_finalize(st);
    return 0;
}
