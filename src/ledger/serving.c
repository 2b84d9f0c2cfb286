/* What served on a target and what may not serve again. The serving records are what a
 * rollback by hand goes back through (the release before the one serving, including one that
 * served before rollgate's first deploy); a quarantine names a release, by digest and by tag,
 * that failed its gates or that a person rolled back from, so that no trigger deploys it again
 * (under any tag) until someone allows it. */
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "rollgate/util.h"

static void
serving_row(struct rg_serving_row *r, sqlite3_stmt *st)
{
    r->id = sqlite3_column_int64(st, 0);
    ledger_copy_text(r->tag, sizeof(r->tag), st, 1);
    ledger_copy_text(r->digest, sizeof(r->digest), st, 2);
    r->deploy_id = sqlite3_column_int64(st, 3);
    ledger_copy_text(r->how, sizeof(r->how), st, 4);
    r->at_ms = sqlite3_column_int64(st, 5);
}

#define SERVING_COLUMNS "id, tag, digest, deploy_id, how, at_ms"

int
rg_ledger_serving_add(struct rg_ledger *l, const char *tag, const char *digest, int64_t deploy_id,
                      const char *how, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    struct rg_serving_row last;
    int rc;

    if (!tag || !tag[0])
        return 0;
    rc = ledger_run(&st, l, "SELECT " SERVING_COLUMNS " FROM serving ORDER BY id DESC LIMIT 1", "",
                    err);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        serving_row(&last, st);
        sqlite3_finalize(st);
        /* The same release still serving: a record with the digest learnt since is kept. */
        if (strcmp(last.tag, tag) == 0 && (!digest || !digest[0] || strcmp(last.digest, digest) == 0))
            return 0;
    }
    rc = ledger_run(NULL, l,
                    "INSERT INTO serving (tag, digest, deploy_id, how, at_ms) VALUES (?, ?, ?, ?, ?)",
                    "ttiti", err, tag, digest ? digest : "", deploy_id, how, rg_wall_ms());
    return rc < 0 ? rc : 0;
}

int
rg_ledger_serving_before(struct rg_serving_row *out, struct rg_ledger *l, const char *current,
                         struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ledger_run(&st, l,
                        "SELECT " SERVING_COLUMNS " FROM serving WHERE tag != ? AND "
                        LEDGER_NOT_QUARANTINED " ORDER BY id DESC LIMIT 1",
                        "t", err, current ? current : "");

    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    if (rc == 0)
        return rg_err_set(err, RG_ENOENT,
                          "no release served on '%s' before %s (none recorded, or every one is in "
                          "quarantine)",
                          l->target, current && current[0] ? current : "the current one");
    serving_row(out, st);
    sqlite3_finalize(st);
    return 0;
}

int
rg_ledger_seen_serving(struct rg_serving_row *out, struct rg_ledger *l, const char *tag,
                       struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ledger_run(&st, l,
                        "SELECT " SERVING_COLUMNS " FROM serving WHERE tag = ? ORDER BY id DESC "
                        "LIMIT 1",
                        "t", err, tag);

    memset(out, 0, sizeof(*out));
    if (rc <= 0)
        return rc;
    serving_row(out, st);
    sqlite3_finalize(st);
    return 1;
}

#define QUARANTINE_COLUMNS "id, tag, digest, deploy_id, reason, at_ms"

static void
quarantine_row(struct rg_quarantine_row *q, sqlite3_stmt *st)
{
    q->id = sqlite3_column_int64(st, 0);
    ledger_copy_text(q->tag, sizeof(q->tag), st, 1);
    ledger_copy_text(q->digest, sizeof(q->digest), st, 2);
    q->deploy_id = sqlite3_column_int64(st, 3);
    ledger_copy_text(q->reason, sizeof(q->reason), st, 4);
    q->at_ms = sqlite3_column_int64(st, 5);
}

int
rg_ledger_quarantine(struct rg_ledger *l, const char *tag, const char *digest, int64_t deploy_id,
                     const char *reason, struct rg_err *err)
{
    int rc = ledger_run(NULL, l,
                        "INSERT INTO quarantine (tag, digest, deploy_id, reason, at_ms) "
                        "VALUES (?, ?, ?, ?, ?)",
                        "ttiti", err, tag, digest ? digest : "", deploy_id, reason, rg_wall_ms());
    return rc < 0 ? rc : 0;
}

int
rg_ledger_quarantined(struct rg_quarantine_row *out, struct rg_ledger *l, const char *tag,
                      const char *digest, struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ledger_run(&st, l,
                        "SELECT " QUARANTINE_COLUMNS " FROM quarantine WHERE allowed_ms = 0 AND "
                        "(tag = ? OR (? != '' AND digest = ?)) ORDER BY id DESC LIMIT 1",
                        "ttt", err, tag ? tag : "", digest ? digest : "", digest ? digest : "");

    memset(out, 0, sizeof(*out));
    if (rc <= 0)
        return rc;
    quarantine_row(out, st);
    sqlite3_finalize(st);
    return 1;
}

int
rg_ledger_allow(size_t *n, struct rg_ledger *l, const char *tag, const char *actor,
                struct rg_err *err)
{
    int rc = ledger_run(NULL, l,
                        "UPDATE quarantine SET allowed_ms = ?, allowed_by = ? WHERE allowed_ms = 0 "
                        "AND (tag = ? OR (digest != '' AND digest IN (SELECT digest FROM "
                        "quarantine WHERE tag = ? AND digest != '')))",
                        "ittt", err, rg_wall_ms(), actor, tag, tag);

    *n = 0;
    if (rc < 0)
        return rc;
    *n = (size_t)sqlite3_changes(l->db);
    return 0;
}

int
rg_ledger_quarantine_list(struct rg_quarantine_row **out, size_t *n, struct rg_ledger *l,
                          struct rg_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 8;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT " QUARANTINE_COLUMNS " FROM quarantine WHERE allowed_ms = 0 "
                           "ORDER BY id DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_error(l, err, "cannot read the quarantine");
    *out = rg_calloc(cap, sizeof(**out));
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap *= 2;
            *out = rg_realloc(*out, cap * sizeof(**out));
        }
        quarantine_row(&(*out)[(*n)++], st);
    }
    sqlite3_finalize(st);
    return 0;
}
