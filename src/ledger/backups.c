/* The backups of a target in its ledger: which archive holds the data of which release, and
 * whether it was checked since it was written. */
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "rollgate/util.h"

#define BACKUP_COLUMNS "id, path, tag, digest, deploy_id, created_ms, size, verified_ms, deleted_ms"

static void
backup_row(struct rg_backup_row *b, sqlite3_stmt *st)
{
    b->id = sqlite3_column_int64(st, 0);
    ledger_copy_text(b->path, sizeof(b->path), st, 1);
    ledger_copy_text(b->tag, sizeof(b->tag), st, 2);
    ledger_copy_text(b->digest, sizeof(b->digest), st, 3);
    b->deploy_id = sqlite3_column_int64(st, 4);
    b->created_ms = sqlite3_column_int64(st, 5);
    b->size = sqlite3_column_int64(st, 6);
    b->verified_ms = sqlite3_column_int64(st, 7);
    b->deleted_ms = sqlite3_column_int64(st, 8);
}

int
rg_ledger_backup_add(int64_t *id_out, struct rg_ledger *l, const struct rg_backup_row *row,
                     struct rg_err *err)
{
    int rc = ledger_run(NULL, l,
                        "INSERT INTO backups (path, tag, digest, deploy_id, created_ms, size, "
                        "verified_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        "tttiiii", err, row->path, row->tag, row->digest, row->deploy_id,
                        row->created_ms, row->size, row->verified_ms);

    *id_out = 0;
    if (rc < 0)
        return rc;
    *id_out = sqlite3_last_insert_rowid(l->db);
    return 0;
}

/* One row of a query with one int or text argument. */
static int
one(struct rg_backup_row *out, struct rg_ledger *l, const char *where, const char *types,
    struct rg_err *err, int64_t i, const char *t)
{
    sqlite3_stmt *st = NULL;
    char *sql = rg_asprintf("SELECT " BACKUP_COLUMNS " FROM backups WHERE deleted_ms = 0 AND "
                            "%s ORDER BY created_ms DESC, id DESC LIMIT 1", where);
    int rc;

    memset(out, 0, sizeof(*out));
    if (types[0] == 'i')
        rc = ledger_run(&st, l, sql, types, err, i);
    else if (types[0] == 't')
        rc = ledger_run(&st, l, sql, types, err, t);
    else
        rc = ledger_run(&st, l, sql, "", err);
    free(sql);
    if (rc <= 0)
        return rc < 0 ? rc : RG_ENOENT;
    backup_row(out, st);
    sqlite3_finalize(st);
    return 0;
}

int
rg_ledger_backup_get(struct rg_backup_row *out, struct rg_ledger *l, int64_t id,
                     struct rg_err *err)
{
    int rc = one(out, l, "id = ?", "i", err, id, NULL);

    if (rc == RG_ENOENT)
        return rg_err_set(err, RG_ENOENT, "target '%s' has no backup #%lld (see 'rollgate "
                          "backups')", l->target, (long long)id);
    return rc;
}

int
rg_ledger_backup_of_deploy(struct rg_backup_row *out, struct rg_ledger *l, int64_t deploy_id,
                           struct rg_err *err)
{
    int rc = one(out, l, "deploy_id = ?", "i", err, deploy_id, NULL);

    if (rc == RG_ENOENT)
        return rg_err_set(err, RG_ENOENT, "no backup was taken before deploy #%lld of '%s'",
                          (long long)deploy_id, l->target);
    return rc;
}

int
rg_ledger_backup_latest(struct rg_backup_row *out, struct rg_ledger *l, const char *tag,
                        struct rg_err *err)
{
    int rc = tag ? one(out, l, "tag = ?", "t", err, 0, tag) : one(out, l, "1", "", err, 0, NULL);

    if (rc == RG_ENOENT)
        return tag ? rg_err_set(err, RG_ENOENT, "target '%s' has no backup of release '%s'",
                                l->target, tag)
                   : rg_err_set(err, RG_ENOENT, "target '%s' has no backup yet (take one with "
                                "'rollgate backup')", l->target);
    return rc;
}

int
rg_ledger_backups(struct rg_backup_row **out, size_t *n, struct rg_ledger *l, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    struct rg_backup_row *v = NULL;
    size_t cap = 0, count = 0;
    int s;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT " BACKUP_COLUMNS " FROM backups WHERE deleted_ms = 0 "
                           "ORDER BY created_ms DESC, id DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_error(l, err, "cannot prepare a statement");
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        v = rg_grow(v, &cap, count + 1, sizeof(*v));
        memset(&v[count], 0, sizeof(v[count]));
        backup_row(&v[count++], st);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) {
        free(v);
        return ledger_db_error(l, err, "cannot read the backups");
    }
    *out = v;
    *n = count;
    return 0;
}

int
rg_ledger_backup_verified(struct rg_ledger *l, int64_t id, struct rg_err *err)
{
    int rc = ledger_run(NULL, l, "UPDATE backups SET verified_ms = ? WHERE id = ?", "ii", err,
                        rg_wall_ms(), id);
    return rc < 0 ? rc : 0;
}

int
rg_ledger_backup_deleted(struct rg_ledger *l, int64_t id, struct rg_err *err)
{
    int rc = ledger_run(NULL, l, "UPDATE backups SET deleted_ms = ? WHERE id = ?", "ii", err,
                        rg_wall_ms(), id);
    return rc < 0 ? rc : 0;
}
