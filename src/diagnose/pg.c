/* PostgreSQL as the app sees it: client connections (by backend_type) against max_connections
 * less the reserved slots, sessions waiting on locks, queries running for over a minute; and,
 * when it refuses rollgate too, the server's own message ("too many clients already"). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dx.h"

/* The DSN diagnose uses: its own key, else the backup's (PostgreSQL), else a postgres gate's. */
static const char *
pick_dsn(const struct rg_playbook *pb)
{
    if (pb->diagnose.database)
        return pb->diagnose.database;
    if (pb->backup.database && strncmp(pb->backup.database, "sqlite:", 7) != 0)
        return pb->backup.database;
    for (size_t i = 0; i < pb->n_gates; i++)
        if (pb->gates[i].kind == RG_GATE_POSTGRES)
            return pb->gates[i].target;
    return NULL;
}

static int
int_of(PGresult *r, int row, int col)
{
    const char *v = PQgetvalue(r, row, col);
    char *end;
    long n = strtol(v ? v : "", &end, 10);

    return end == v ? 0 : (int)n;
}

/* What a failed connection says, never libpq's own text: it can quote the connection string
 * (a password in a malformed DSN). A refusal of the server's own is a finding; diagnose's own
 * problems (its credentials, a name only the app's network resolves) are notes. */
static void
classify(struct dx *dx, const char *dsn, const char *m)
{
    char *shown = rg_redact_dsn(dsn);

    if (strstr(m, "too many clients") || strstr(m, "remaining connection slots"))
        snprintf(dx->pg.error, sizeof(dx->pg.error),
                 "PostgreSQL at '%s' refused a new connection: %s", shown,
                 strstr(m, "too many clients") ? "FATAL: sorry, too many clients already"
                                               : "FATAL: remaining connection slots are "
                                                 "reserved");
    else if (strstr(m, "Connection refused") || strstr(m, "No such file or directory"))
        snprintf(dx->pg.error, sizeof(dx->pg.error),
                 "PostgreSQL at '%s' refuses connections: nothing listens there", shown);
    else if (strstr(m, "timeout expired"))
        snprintf(dx->pg.error, sizeof(dx->pg.error),
                 "PostgreSQL at '%s' did not answer within 3 s", shown);
    else if (strstr(m, "password authentication failed") || strstr(m, "no pg_hba.conf entry"))
        dx_note(dx, "PostgreSQL at '%s' refused diagnose's credentials: set diagnose.database",
                shown);
    else if (strstr(m, "could not translate host name"))
        dx_note(dx, "PostgreSQL at '%s': the host name does not resolve here (a name only the "
                    "app's network knows?): set diagnose.database",
                shown);
    else
        dx_note(dx, "PostgreSQL at '%s' not reached (libpq's message is not shown: it may "
                    "quote the connection string)", shown);
    free(shown);
}

void
dx_collect_pg(struct dx *dx)
{
    static const char *const query =
        "select current_setting('max_connections')::int,"
        " current_setting('superuser_reserved_connections')::int"
        " + coalesce((select setting::int from pg_settings"
        "             where name = 'reserved_connections'), 0),"
        " (select count(*) from pg_stat_activity where backend_type = 'client backend'),"
        " (select count(*) from pg_stat_activity where backend_type = 'client backend'"
        "    and wait_event_type = 'Lock'),"
        " (select count(*) from pg_stat_activity where backend_type = 'client backend'"
        "    and state = 'active' and now() - query_start > interval '60 seconds'),"
        " (select left(regexp_replace(query, '\\s+', ' ', 'g'), 200) from pg_stat_activity"
        "    where backend_type = 'client backend' and state = 'active'"
        "    and pid <> pg_backend_pid() order by query_start limit 1)";
    const char *dsn = pick_dsn(dx->pb);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {dsn, "3", "rollgate-diagnose", NULL};
    PGconn *conn;
    PGresult *r = NULL;

    if (!dsn)
        return;
    conn = PQconnectdbParams(keys, vals, 1);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        classify(dx, dsn, conn ? PQerrorMessage(conn) : "out of memory");
        goto out;
    }
    r = PQexec(conn, query);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char *shown = rg_redact_dsn(dsn);
        dx_note(dx, "PostgreSQL at '%s' not read: %s", shown,
                PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE)
                                                        : "no answer");
        free(shown);
        goto out;
    }
    dx->pg.seen = true;
    dx->pg.max_connections = int_of(r, 0, 0);
    dx->pg.reserved = int_of(r, 0, 1);
    dx->pg.clients = int_of(r, 0, 2);
    dx->pg.waiting = int_of(r, 0, 3);
    dx->pg.long_running = int_of(r, 0, 4);
    snprintf(dx->pg.longest, sizeof(dx->pg.longest), "%s",
             PQgetisnull(r, 0, 5) ? "" : PQgetvalue(r, 0, 5));
out:
    PQclear(r);
    PQfinish(conn);
}
