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
        const char *m = conn ? PQerrorMessage(conn) : "out of memory";
        /* libpq's message may span lines ("connection to server ... failed: FATAL: ..."). */
        char *one = rg_strdup(m);
        for (char *p = one; *p; p++)
            if (*p == '\n')
                *p = ' ';
        snprintf(dx->pg.error, sizeof(dx->pg.error), "%s", one);
        free(one);
        goto out;
    }
    r = PQexec(conn, query);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char *shown = rg_redact_dsn(dsn);
        dx_note(dx, "PostgreSQL at '%s' not read: %s", shown, PQerrorMessage(conn));
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
