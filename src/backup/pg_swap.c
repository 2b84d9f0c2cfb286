/* Swapping a restored scratch database in for the live one by renames, so the replaced database
 * is kept (a swap back is instant) and nothing is ever dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/pg_internal.h"

enum {
    BUSY_MS = 10000, /* how long sessions that reconnect may keep a database busy */
    RETRY_MS = 100,
};

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* Runs sql; on failure RG_EDB "<what>: <message>" and the SQLSTATE in state ("" when none). */
static int
exec_state(PGconn *conn, const char *sql, char state[6], const char *what, struct rg_err *err)
{
    PGresult *res = PQexec(conn, sql);
    const char *s;
    char why[400];
    int rc = 0;

    state[0] = '\0';
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(state, 6, "%s", s ? s : "");
        pg_message(why, sizeof(why), conn);
        rc = rg_err_set(err, RG_EDB, "%s: %s", what, why);
    }
    PQclear(res);
    return rc;
}

static int
allow_connections(PGconn *conn, const char *db, bool allow, struct rg_err *err)
{
    char *name = NULL, *sql = NULL, *what = NULL, state[6];
    int rc;

    if ((rc = pg_ident(&name, conn, db, err)) < 0)
        goto out;
    sql =
        rg_asprintf("alter database %s with allow_connections %s", name, allow ? "true" : "false");
    what = rg_asprintf("cannot %s connections to database '%s'", allow ? "allow" : "refuse", db);
    rc = exec_state(conn, sql, state, what, err);
out:
    free(what);
    free(sql);
    free(name);
    return rc;
}

/* Renames from to to, terminating from's sessions first and again for as long as they come back
 * (an application reconnects at once; a database refusing connections still lets sessions
 * that were half-way through connecting in). RG_EBUSY when they keep it busy past deadline. */
static int
rename_db(PGconn *conn, const char *from, const char *to, int64_t deadline, struct rg_err *err)
{
    char *qfrom = NULL, *qto = NULL, *rename = NULL, *what = NULL;
    const char *params[1] = {from};
    char state[6];
    int rc;

    if ((rc = pg_ident(&qfrom, conn, from, err)) < 0 || (rc = pg_ident(&qto, conn, to, err)) < 0)
        goto out;
    rename = rg_asprintf("alter database %s rename to %s", qfrom, qto);
    what = rg_asprintf("cannot rename database '%s' to '%s'", from, to);
    for (;;) {
        if ((rc = pg_exec(NULL, conn,
                          "select pg_terminate_backend(pid) from pg_stat_activity "
                          "where datname = $1 and pid <> pg_backend_pid()",
                          1, params, "cannot end the sessions of a database", err)) < 0)
            break;
        if ((rc = exec_state(conn, rename, state, what, err)) == 0)
            break;
        /* 55006 object_in_use: "database … is being accessed by other users" */
        if (strcmp(state, "55006") != 0)
            break;
        if (rg_mono_ms() >= deadline) {
            rc = rg_err_set(err, RG_EBUSY,
                            "database '%s' is still in use after %ds of ending its sessions", from,
                            BUSY_MS / 1000);
            break;
        }
        sleep_ms(RETRY_MS);
    }
out:
    free(what);
    free(rename);
    free(qto);
    free(qfrom);
    return rc;
}

static int
check_exists(PGconn *conn, const char *db, const char *role, struct rg_err *err)
{
    const char *params[1] = {db};
    PGresult *res = NULL;
    int rc;

    if ((rc = pg_exec(&res, conn, "select 1 from pg_database where datname = $1", 1, params,
                      "cannot list databases", err)) < 0)
        return rc;
    if (PQntuples(res) != 1)
        rc = rg_err_set(err, RG_ENOENT, "%s database '%s' does not exist", role, db);
    PQclear(res);
    return rc;
}

int
rg_pg_swap(char **replaced_out, const char *dsn, const char *scratch, struct rg_err *err)
{
    struct pg_dsn d;
    PGconn *conn = NULL;
    char *kept = NULL;
    const char *live;
    bool refused = false, renamed = false;
    int64_t deadline;
    int rc;

    *replaced_out = NULL;
    if ((rc = pg_dsn_parse(&d, dsn, err)) < 0)
        goto out;
    live = d.dbname;
    if (strcmp(live, scratch) == 0) {
        rc = rg_err_set(err, RG_EINVAL, "cannot swap database '%s' with itself", live);
        goto out;
    }
    if ((rc = pg_connect(&conn, &d, "postgres", err)) < 0 ||
        (rc = check_exists(conn, live, "live", err)) < 0 ||
        (rc = check_exists(conn, scratch, "scratch", err)) < 0 ||
        (rc = pg_unique_dbname(&kept, conn, live, "_pre_restore_", err)) < 0)
        goto out;

    /* No new sessions from here: applications reconnect as soon as theirs are ended. */
    if ((rc = allow_connections(conn, live, false, err)) < 0)
        goto out;
    refused = true;
    deadline = rg_mono_ms() + BUSY_MS;
    if ((rc = rename_db(conn, live, kept, deadline, err)) < 0)
        goto out;
    renamed = true;
    if ((rc = rename_db(conn, scratch, live, rg_mono_ms() + BUSY_MS, err)) < 0)
        goto out;
    renamed = false; /* done: the live name is taken by the restored database */
    if ((rc = allow_connections(conn, live, true, err)) < 0 ||
        (rc = allow_connections(conn, kept, true, err)) < 0) {
        rg_err_prefix(err, "database '%s' was swapped in (the old one kept as '%s'), but ", live,
                      kept);
        refused = false;
        goto out;
    }
    refused = false;
    *replaced_out = kept;
    kept = NULL;
out:
    if (rc < 0 && (renamed || refused)) {
        /* Undo what was done, so the live database is as before; say so either way. */
        struct rg_err uerr;
        int urc = 0;

        if (renamed)
            urc = rename_db(conn, kept, live, rg_mono_ms() + BUSY_MS, &uerr);
        if (urc == 0)
            urc = allow_connections(conn, live, true, &uerr);
        if (err) {
            struct rg_err first = *err;
            if (urc == 0)
                rg_err_set(err, first.code, "%s (database '%s' was left as it was)", first.msg,
                           live);
            else
                rg_err_set(err, first.code, "%s; undoing it failed too: %s", first.msg, uerr.msg);
        }
    }
    pg_scrub_err(rc, err, &d);
    PQfinish(conn);
    free(kept);
    pg_dsn_release(&d);
    return rc;
}
