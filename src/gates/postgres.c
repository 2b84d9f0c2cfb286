/* The postgres gate: the server accepts connections (PQping, as pg_isready), optionally a query
 * returns true, and optionally the connections in use stay under a share of max_connections. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"

struct pg_ctx {
    const struct rg_gate *spec;
    char timeout[24];
    char *dsn_shown;
};

static int
pg_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
           struct rg_err *err)
{
    struct pg_ctx *p = rg_calloc(1, sizeof(*p));
    int64_t secs = (spec->timing.timeout_ms + 999) / 1000;

    (void)env;
    (void)err;
    p->spec = spec;
    /* libpq's connect_timeout is whole seconds; below 2 it is raised to 2 anyway. */
    snprintf(p->timeout, sizeof(p->timeout), "%lld", (long long)(secs < 2 ? 2 : secs));
    p->dsn_shown = rg_redact_dsn(spec->target);
    *ctx_out = p;
    return 0;
}

static void
pg_free(void *ctx)
{
    struct pg_ctx *p = ctx;

    if (!p)
        return;
    free(p->dsn_shown);
    free(p);
}

/* One line of libpq's message, without its trailing newline. */
static void
pq_message(char *out, size_t size, PGconn *conn)
{
    const char *m = conn ? PQerrorMessage(conn) : "out of memory";
    size_t n = strcspn(m, "\n");

    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), m);
}

static int
pg_probe(struct rg_verdict *out, void *ctx, struct rg_err *err)
{
    struct pg_ctx *p = ctx;
    const struct rg_gate *g = p->spec;
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {g->target, p->timeout, "rollgate-gate", NULL};
    int64_t start = rg_mono_ms();
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char why[256];

    (void)err;
    memset(out, 0, sizeof(*out));
    switch (PQpingParams(keys, vals, 1)) {
    case PQPING_OK:
        break;
    case PQPING_REJECT:
        gate_verdict(out, RG_VERDICT_RETRY, "server rejects connections (starting or stopping)");
        goto done;
    case PQPING_NO_RESPONSE:
        gate_verdict(out, RG_VERDICT_RETRY, "no response from the server");
        gate_evidence(out, "no response from '%s'", p->dsn_shown);
        goto done;
    case PQPING_NO_ATTEMPT:
        gate_verdict(out, RG_VERDICT_FAIL, "invalid connection parameters");
        gate_evidence(out, "libpq refused the connection string '%s'", p->dsn_shown);
        goto done;
    }
    if (!g->query && g->max_connections_used < 0) {
        out->latency_ms = rg_mono_ms() - start;
        gate_verdict(out, RG_VERDICT_PASS, "accepting connections (%lldms)",
                     (long long)out->latency_ms);
        goto done;
    }
    conn = PQconnectdbParams(keys, vals, 1);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        pq_message(why, sizeof(why), conn);
        gate_verdict(out, RG_VERDICT_RETRY, "cannot connect: %s", why);
        gate_evidence(out, "connect to '%s': %s", p->dsn_shown, why);
        goto done;
    }
    if (g->query) {
        res = PQexec(conn, g->query);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            pq_message(why, sizeof(why), conn);
            gate_verdict(out, RG_VERDICT_RETRY, "query failed: %s", why);
            gate_evidence(out, "query '%s' failed: %s", g->query, why);
            goto done;
        }
        if (PQntuples(res) < 1 || PQnfields(res) < 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
            gate_verdict(out, RG_VERDICT_RETRY, "query returned %s, not true",
                         PQntuples(res) ? PQgetvalue(res, 0, 0) : "no rows");
            gate_evidence(out, "query '%s' returned %s", g->query,
                          PQntuples(res) ? PQgetvalue(res, 0, 0) : "no rows");
            goto done;
        }
        PQclear(res);
        res = NULL;
    }
    if (g->max_connections_used >= 0) {
        long used, max, all;
        /* Only client backends take the slots a client can get: PostgreSQL's own processes
         * (checkpointer, walwriter, autovacuum, ...) are rows of pg_stat_activity too, and the
         * slots reserved for superusers (and, from 16, for pg_use_reserved_connections) are
         * not for the application. */
        res = PQexec(conn, "select (select count(*) from pg_stat_activity "
                           "where backend_type = 'client backend'), "
                           "current_setting('max_connections')::int "
                           "- current_setting('superuser_reserved_connections')::int "
                           "- coalesce(current_setting('reserved_connections', true)::int, 0), "
                           "current_setting('max_connections')::int");
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            pq_message(why, sizeof(why), conn);
            gate_verdict(out, RG_VERDICT_RETRY, "cannot count connections: %s", why);
            goto done;
        }
        used = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        max = strtol(PQgetvalue(res, 0, 1), NULL, 10);
        all = strtol(PQgetvalue(res, 0, 2), NULL, 10);
        if (max <= 0 || used * 10000 / max >= g->max_connections_used) {
            gate_verdict(out, RG_VERDICT_RETRY,
                         "%ld of %ld client connections in use, limit %d.%02d%%", used, max,
                         g->max_connections_used / 100, g->max_connections_used % 100);
            gate_evidence(out,
                          "%ld client backends of the %ld slots clients can get "
                          "(max_connections %ld minus the reserved ones) in use (%ld%%); the "
                          "limit is %d.%02d%%",
                          used, max, all, max > 0 ? used * 100 / max : 0,
                          g->max_connections_used / 100, g->max_connections_used % 100);
            goto done;
        }
        out->latency_ms = rg_mono_ms() - start;
        gate_verdict(out, RG_VERDICT_PASS, "%ld of %ld client connections in use (%lldms)", used,
                     max, (long long)out->latency_ms);
        goto done;
    }
    out->latency_ms = rg_mono_ms() - start;
    gate_verdict(out, RG_VERDICT_PASS, "query true (%lldms)", (long long)out->latency_ms);
done:
    if (!out->latency_ms)
        out->latency_ms = rg_mono_ms() - start;
    PQclear(res);
    PQfinish(conn);
    return 0;
}

const struct rg_gate_ops rg_gate_postgres_ops = {
    .kind = RG_GATE_POSTGRES,
    .prepare = pg_prepare,
    .probe = pg_probe,
    .free = pg_free,
};
