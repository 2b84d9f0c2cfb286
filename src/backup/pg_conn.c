/* PostgreSQL plumbing of the backup module: DSNs parsed by libpq with the password held apart,
 * connections, the pg_* tools' runs, names of the databases rollgate creates; and the small
 * read-only operations (server version, database name, content checksum). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/pg_internal.h"

enum { NAME_MAX_BYTES = 63 }; /* NAMEDATALEN - 1: longer names are cut by the server */

static bool
has_key(const struct pg_dsn *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0)
            return true;
    return false;
}

static const char *
get_key(const struct pg_dsn *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0)
            return d->vals[i];
    return NULL;
}

/* libpq quotes pieces of a malformed string in its message (`missing "=" after "…"`), and in
 * a malformed string nobody can tell which piece is the password: quoted text is hidden, and the
 * string itself is not shown. */
static int
parse_error(struct rg_err *err, const char *msg)
{
    struct rg_buf b;
    bool quoted = false;
    int rc;

    rg_buf_init(&b, RG_ERR_MSG_MAX);
    for (const char *p = msg ? msg : "out of memory"; *p && *p != '\n'; p++) {
        if (*p == '"') {
            rg_buf_adds(&b, quoted ? "\"" : "\"***");
            quoted = !quoted;
        } else if (!quoted) {
            rg_buf_add(&b, p, 1);
        }
    }
    rc = rg_err_set(err, RG_EINVAL, "invalid database connection string: %s", b.data ? b.data : "");
    rg_buf_release(&b);
    return rc;
}

int
pg_dsn_parse(struct pg_dsn *d, const char *dsn, struct rg_err *err)
{
    PQconninfoOption *opts = NULL;
    char *msg = NULL;
    const char *db;
    size_t cap = 0, vcap = 0;
    int rc = 0;

    memset(d, 0, sizeof(*d));
    d->shown = rg_redact_dsn(dsn ? dsn : "");
    if (!dsn || !dsn[0]) {
        rc = rg_err_set(err, RG_EINVAL, "empty database connection string");
        goto out;
    }
    opts = PQconninfoParse(dsn, &msg);
    if (!opts) {
        rc = parse_error(err, msg);
        goto out;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            d->password = rg_strdup(o->val);
            continue;
        }
        d->keys = rg_grow(d->keys, &cap, d->n + 2, sizeof(*d->keys));
        d->vals = rg_grow(d->vals, &vcap, d->n + 2, sizeof(*d->vals));
        d->keys[d->n] = rg_strdup(o->keyword);
        d->vals[d->n] = rg_strdup(o->val);
        d->n++;
        d->keys[d->n] = d->vals[d->n] = NULL;
    }
    /* libpq's own defaults: PGDATABASE, then the user name. */
    if (!(db = get_key(d, "dbname")) || !db[0])
        db = getenv("PGDATABASE");
    if (!db || !db[0])
        db = get_key(d, "user");
    if (!db || !db[0])
        db = getenv("PGUSER");
    if (!db || !db[0]) {
        rc = rg_err_set(err, RG_EINVAL, "database connection string '%s' names no database",
                        d->shown);
        goto out;
    }
    d->dbname = rg_strdup(db);
out:
    if (opts) {
        /* The parsed options hold the password too. */
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (o->val && strcmp(o->keyword, "password") == 0)
                rg_wipe(o->val, strlen(o->val));
        PQconninfoFree(opts);
    }
    PQfreemem(msg);
    if (rc < 0)
        pg_scrub_err(rc, err, d);
    return rc;
}

void
pg_dsn_release(struct pg_dsn *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->keys[i]);
        free(d->vals[i]);
    }
    free(d->keys);
    free(d->vals);
    if (d->password)
        rg_wipe(d->password, strlen(d->password));
    free(d->password);
    free(d->dbname);
    free(d->shown);
    memset(d, 0, sizeof(*d));
}

void
pg_message(char *out, size_t size, PGconn *conn)
{
    const char *m = conn ? PQerrorMessage(conn) : "out of memory";
    size_t n;

    /* libpq prefixes some messages with "connection to server … failed: " on a line of its
     * own in older versions; the first non-empty line says what went wrong. */
    while (*m == '\n')
        m++;
    n = strcspn(m, "\n");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), m);
}

int
pg_connect(PGconn **out, const struct pg_dsn *d, const char *dbname, struct rg_err *err)
{
    const char **keys = rg_calloc(d->n + 5, sizeof(*keys));
    const char **vals = rg_calloc(d->n + 5, sizeof(*vals));
    char timeout[16], why[400];
    const char *db = dbname ? dbname : d->dbname;
    PGconn *conn = NULL;
    size_t n = 0;
    int rc = 0;

    *out = NULL;
    snprintf(timeout, sizeof(timeout), "%d", RG_PG_CONNECT_TIMEOUT_S);
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->keys[i], "dbname") == 0 || strcmp(d->keys[i], "application_name") == 0)
            continue;
        keys[n] = d->keys[i];
        vals[n++] = d->vals[i];
    }
    keys[n] = "dbname";
    vals[n++] = db;
    if (!has_key(d, "connect_timeout")) {
        keys[n] = "connect_timeout";
        vals[n++] = timeout;
    }
    keys[n] = "application_name";
    vals[n++] = "rollgate-backup";
    if (d->password) {
        keys[n] = "password";
        vals[n++] = d->password;
    }
    conn = PQconnectdbParams(keys, vals, 0);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        pg_message(why, sizeof(why), conn);
        rc = rg_err_set(err, RG_EDB, "cannot connect to database '%s': %s", db, why);
        pg_scrub_err(rc, err, d);
        PQfinish(conn);
        goto out;
    }
    *out = conn;
out:
    free(keys);
    free(vals);
    return rc;
}

/* Appends key='value' with libpq's quoting (backslash before ' and \). */
static void
conninfo_add(struct rg_buf *b, const char *key, const char *val)
{
    if (b->len)
        rg_buf_adds(b, " ");
    rg_buf_addf(b, "%s='", key);
    for (const char *p = val; *p; p++) {
        if (*p == '\'' || *p == '\\')
            rg_buf_adds(b, "\\");
        rg_buf_add(b, p, 1);
    }
    rg_buf_adds(b, "'");
}

char *
pg_tool_conninfo(const struct pg_dsn *d, const char *dbname)
{
    struct rg_buf b;
    char timeout[16];

    rg_buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->keys[i], "dbname") == 0)
            continue;
        conninfo_add(&b, d->keys[i], d->vals[i]);
    }
    conninfo_add(&b, "dbname", dbname ? dbname : d->dbname);
    if (!has_key(d, "connect_timeout")) {
        snprintf(timeout, sizeof(timeout), "%d", RG_PG_CONNECT_TIMEOUT_S);
        conninfo_add(&b, "connect_timeout", timeout);
    }
    return rg_buf_detach(&b);
}

char *
pg_env_password(const struct pg_dsn *d)
{
    return d->password ? rg_asprintf("PGPASSWORD=%s", d->password) : NULL;
}

void
pg_env_free(char *kv)
{
    if (kv)
        rg_wipe(kv, strlen(kv));
    free(kv);
}

void
pg_scrub(char *s, const struct pg_dsn *d)
{
    size_t plen;
    char *p;

    /* A one-character password would turn every message into asterisks; it is kept out of
     * argv all the same. The mask is never longer than the password, so s never grows. */
    if (!s || !d || !d->password || (plen = strlen(d->password)) < 2)
        return;
    while ((p = strstr(s, d->password))) {
        size_t mlen = plen >= 3 ? 3 : 2;
        memmove(p + mlen, p + plen, strlen(p + plen) + 1);
        memset(p, '*', mlen);
        s = p + mlen;
    }
}

int
pg_scrub_err(int rc, struct rg_err *err, const struct pg_dsn *d)
{
    if (rc < 0 && err)
        pg_scrub(err->msg, d);
    return rc;
}

int
pg_exec(PGresult **out, PGconn *conn, const char *sql, int nparams, const char *const *params,
        const char *what, struct rg_err *err)
{
    PGresult *res;
    ExecStatusType st;
    char why[400];

    if (out)
        *out = NULL;
    res = nparams > 0 ? PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
                      : PQexec(conn, sql);
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_message(why, sizeof(why), conn);
        PQclear(res);
        return rg_err_set(err, RG_EDB, "%s: %s", what, why);
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

/* libpq's quoted string q, moved into rg_ memory; NULL q is RG_EDB with libpq's reason (a
 * string invalid in the connection's encoding, out of memory). */
static int
quoted(char **out, char *q, PGconn *conn, const char *what, struct rg_err *err)
{
    char why[256];

    *out = NULL;
    if (!q) {
        pg_message(why, sizeof(why), conn);
        return rg_err_set(err, RG_EDB, "cannot quote %s: %s", what, why);
    }
    *out = rg_strdup(q);
    PQfreemem(q);
    return 0;
}

int
pg_ident(char **out, PGconn *conn, const char *name, struct rg_err *err)
{
    return quoted(out, PQescapeIdentifier(conn, name, strlen(name)), conn, "an identifier", err);
}

int
pg_literal(char **out, PGconn *conn, const char *s, struct rg_err *err)
{
    return quoted(out, PQescapeLiteral(conn, s, strlen(s)), conn, "a literal", err);
}

/* The length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t max)
{
    size_t len = strlen(s);

    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

int
pg_unique_dbname(char **out, PGconn *conn, const char *base, const char *suffix, struct rg_err *err)
{
    char stamp[32], tail[64];
    char *name = NULL;
    PGresult *res = NULL;
    struct tm tm;
    time_t now = time(NULL);
    int rc = 0;

    *out = NULL;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    for (int i = 1; i < 100; i++) {
        const char *params[1];
        size_t keep;

        if (i == 1)
            snprintf(tail, sizeof(tail), "%s%s", suffix, stamp);
        else
            snprintf(tail, sizeof(tail), "%s%s_%d", suffix, stamp, i);
        keep = utf8_cut(base, NAME_MAX_BYTES - strlen(tail));
        free(name);
        name = rg_asprintf("%.*s%s", (int)keep, base, tail);
        params[0] = name;
        if ((rc = pg_exec(&res, conn, "select 1 from pg_database where datname = $1", 1, params,
                          "cannot list databases", err)) < 0)
            goto out;
        if (PQntuples(res) == 0) {
            *out = name;
            name = NULL;
            goto out;
        }
        PQclear(res);
        res = NULL;
    }
    rc = rg_err_set(err, RG_EDB, "cannot find a free database name for '%s%s%s'", base, suffix,
                    stamp);
out:
    PQclear(res);
    free(name);
    return rc;
}

int
pg_tool_error(const struct rg_spawn_result *res, const char *what, struct rg_err *err)
{
    char how[128];
    struct rg_buf tail;
    const char *p;
    int code = res->timed_out ? RG_ETIMEOUT : RG_EDB;
    int rc;

    rg_spawn_describe(how, sizeof(how), res);
    /* One line: the tool's lines joined with "; ", blank ones and trailing space dropped. */
    rg_buf_init(&tail, RG_ERR_MSG_MAX);
    for (p = res->err.data ? res->err.data : ""; *p;) {
        size_t n = strcspn(p, "\n");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\r' || p[m - 1] == '\t'))
            m--;
        if (m > 0) {
            if (tail.len)
                rg_buf_adds(&tail, "; ");
            rg_buf_add(&tail, p, m);
        }
        p += n;
        if (*p)
            p++;
    }
    if (tail.len)
        rc = rg_err_set(err, code, "%s failed (%s): %s", what, how, tail.data);
    else
        rc = rg_err_set(err, code, "%s failed (%s)", what, how);
    rg_buf_release(&tail);
    return rc;
}

int
pg_tool_run(const char *const *argv, const struct pg_dsn *d, int64_t timeout_ms, const char *what,
            char **stdout_out, struct rg_err *err)
{
    struct rg_spawn_result res;
    char *pw = pg_env_password(d);
    const char *extra[2] = {pw, NULL};
    struct rg_spawn_opts o = {
        .argv = argv,
        .env_extra = extra,
        .timeout_ms = timeout_ms,
        .max_output = stdout_out ? 4 * 1024 * 1024 : 16 * 1024,
        .cancel_fd = -1,
    };
    int rc;

    if (stdout_out)
        *stdout_out = NULL;
    if ((rc = rg_spawn_run(&res, &o, err)) < 0) {
        rg_err_prefix(err, "%s: ", what);
        goto out;
    }
    if (res.exit_code != 0 || res.timed_out || res.signal) {
        rc = pg_tool_error(&res, what, err);
        goto out;
    }
    if (stdout_out)
        *stdout_out = rg_buf_detach(&res.out);
out:
    rg_spawn_result_release(&res);
    pg_env_free(pw);
    return pg_scrub_err(rc, err, d);
}

int
rg_pg_dbname(char **out, const char *dsn, struct rg_err *err)
{
    struct pg_dsn d;
    int rc;

    *out = NULL;
    if ((rc = pg_dsn_parse(&d, dsn, err)) == 0)
        *out = rg_strdup(d.dbname);
    pg_dsn_release(&d);
    return rc;
}

int
rg_pg_server_version(char **out, const char *dsn, struct rg_err *err)
{
    struct pg_dsn d;
    PGconn *conn = NULL;
    int rc, v;

    *out = NULL;
    if ((rc = pg_dsn_parse(&d, dsn, err)) < 0 || (rc = pg_connect(&conn, &d, NULL, err)) < 0)
        goto out;
    v = PQserverVersion(conn);
    /* 10 and later: major * 10000 + minor; before: major * 10000 + minor * 100 + patch. */
    if (v >= 100000)
        *out = rg_asprintf("%d.%d", v / 10000, v % 10000);
    else
        *out = rg_asprintf("%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
out:
    PQfinish(conn);
    pg_dsn_release(&d);
    return rc;
}

int
rg_pg_content_checksum(char **out, const char *dsn, struct rg_err *err)
{
    static const char tables_sql[] =
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')"
        " and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp\\_%'"
        " order by n.nspname collate \"C\", c.relname collate \"C\"";
    struct pg_dsn d;
    PGconn *conn = NULL;
    PGresult *tables = NULL, *res = NULL;
    struct rg_buf all;
    char *schema = NULL, *table = NULL, *sql = NULL;
    long long rows = 0;
    int rc;

    *out = NULL;
    rg_buf_init(&all, SIZE_MAX / 4);
    if ((rc = pg_dsn_parse(&d, dsn, err)) < 0 || (rc = pg_connect(&conn, &d, NULL, err)) < 0 ||
        (rc = pg_exec(NULL, conn, "begin isolation level repeatable read read only", 0, NULL,
                      "cannot start a transaction", err)) < 0 ||
        (rc = pg_exec(&tables, conn, tables_sql, 0, NULL, "cannot list tables", err)) < 0)
        goto out;
    for (int i = 0; i < PQntuples(tables); i++) {
        long long count;

        if ((rc = pg_ident(&schema, conn, PQgetvalue(tables, i, 0), err)) < 0 ||
            (rc = pg_ident(&table, conn, PQgetvalue(tables, i, 1), err)) < 0)
            goto out;
        /* row(r.*) is the whole row whatever its columns are called; byte order, so the
         * database's collation does not matter. */
        sql = rg_asprintf("select count(*), coalesce(md5(string_agg(row(r.*)::text, E'\\n' "
                          "order by row(r.*)::text collate \"C\")), '') from %s.%s r",
                          schema, table);
        if ((rc = pg_exec(&res, conn, sql, 0, NULL, "cannot read a table", err)) < 0) {
            rg_err_prefix(err, "%s.%s: ", schema, table);
            goto out;
        }
        count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rows += count;
        rg_buf_addf(&all, "%s.%s %lld %s\n", schema, table, count, PQgetvalue(res, 0, 1));
        PQclear(res);
        res = NULL;
        free(schema);
        free(table);
        free(sql);
        schema = table = sql = NULL;
    }
    {
        const char *params[1] = {all.data ? all.data : ""};
        if ((rc = pg_exec(&res, conn, "select md5($1)", 1, params, "cannot compute md5", err)) < 0)
            goto out;
    }
    *out =
        rg_asprintf("%d tables, %lld rows, md5 %s", PQntuples(tables), rows, PQgetvalue(res, 0, 0));
out:
    PQclear(res);
    PQclear(tables);
    PQfinish(conn);
    free(schema);
    free(table);
    free(sql);
    rg_buf_release(&all);
    pg_dsn_release(&d);
    return rc;
}
