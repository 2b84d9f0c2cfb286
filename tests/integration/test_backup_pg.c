/* Integration tests of the PostgreSQL half of the backup module on the local PostgreSQL of the
 * stack: a streamed dump restored into a scratch database, plain SQL restores, verification,
 * the swap under a connected client, and passwords kept out of argv and messages. Each test
 * gets a throwaway database owned by a throwaway role; a stack that is down fails the tests. */
#define _GNU_SOURCE /* mkdtemp */

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/pg_internal.h"
#include "rollgate/backup_pg.h"

#define TIMEOUT_MS 120000

static PGconn *super; /* postgres superuser on the maintenance database */
static int pg_port;
static char role[32]; /* owns every test database */
static char password[64];
static int serial;

struct fx {
    char db[64];
    char *dsn;
    char dir[64];
};

static char *
dsn_for(const char *db)
{
    return rg_asprintf("host=127.0.0.1 port=%d dbname=%s user=%s password=%s", pg_port, db, role,
                       password);
}

static void super_sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
super_sql(const char *fmt, ...)
{
    struct rg_buf b;
    va_list ap;
    PGresult *res;

    rg_buf_init(&b, 64 * 1024);
    va_start(ap, fmt);
    rg_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    res = PQexec(super, b.data);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", b.data, PQerrorMessage(super));
    PQclear(res);
    rg_buf_release(&b);
}

/* A connection to db as the test role (as_super: as postgres). */
static PGconn *
connect_db(const char *db, bool as_super)
{
    char *conninfo = as_super ? rg_asprintf("host=127.0.0.1 port=%d dbname=%s user=postgres "
                                            "connect_timeout=5",
                                            pg_port, db)
                              : dsn_for(db);
    PGconn *c = PQconnectdb(conninfo);

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", db, PQerrorMessage(c));
    free(conninfo);
    return c;
}

static void
db_sql(const char *db, bool as_super, const char *sql)
{
    PGconn *c = connect_db(db, as_super);
    PGresult *res = PQexec(c, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s on %s: %s", sql, db, PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
}

/* The first value of a query as postgres on the maintenance database; newly allocated. */
static char *
super_value(const char *sql, const char *param)
{
    const char *params[1] = {param};
    PGresult *res = PQexecParams(super, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    char *v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        fail_msg("%s: %s", sql, PQerrorMessage(super));
    v = rg_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* How many databases have names starting with prefix. */
static long
count_dbs(const char *prefix)
{
    char *like = rg_asprintf("%s%%", prefix);
    char *v = super_value("select count(*) from pg_database where datname like $1", like);
    long n = strtol(v, NULL, 10);

    free(v);
    free(like);
    return n;
}

static char *
checksum(const char *db)
{
    char *dsn = dsn_for(db), *sum = NULL;
    struct rg_err err;

    if (rg_pg_content_checksum(&sum, dsn, &err) < 0)
        fail_msg("checksum of %s: %s", db, err.msg);
    free(dsn);
    return sum;
}

static int
group_setup(void **state)
{
    const char *port = getenv("ROLLGATE_PG_PORT");
    char *conninfo;
    PGresult *res;

    (void)state;
    if (!port)
        fail_msg("ROLLGATE_PG_PORT is not set: run the integration tests through "
                 "scripts/test.sh, or after eval \"$(scripts/stack.sh env)\"");
    pg_port = (int)strtol(port, NULL, 10);
    conninfo = rg_asprintf("host=127.0.0.1 port=%d dbname=postgres user=postgres "
                           "connect_timeout=5",
                           pg_port);
    super = PQconnectdb(conninfo);
    free(conninfo);
    if (PQstatus(super) != CONNECTION_OK)
        fail_msg("the stack's PostgreSQL on 127.0.0.1:%d is not reachable (%s); start it with "
                 "scripts/stack.sh up",
                 pg_port, PQerrorMessage(super));
    snprintf(role, sizeof(role), "rgt_%d", (int)getpid());
    snprintf(password, sizeof(password), "S3cret-pw-%d-zq", (int)getpid());
    res = PQexec(super, "set client_min_messages = warning");
    PQclear(res);
    super_sql("drop role if exists %s", role);
    super_sql("create role %s login createdb password '%s'", role, password);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (!super)
        return 0;
    super_sql("drop role if exists %s_gone", role);
    super_sql("drop role if exists %s", role);
    PQfinish(super);
    super = NULL;
    return 0;
}

/* A database owned by the role: three tables in two schemas, text that needs quoting. */
static int
setup(void **state)
{
    struct fx *f = rg_calloc(1, sizeof(*f));

    snprintf(f->db, sizeof(f->db), "%s_%d", role, ++serial);
    snprintf(f->dir, sizeof(f->dir), "/tmp/rgt-pg-XXXXXX");
    if (!mkdtemp(f->dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    super_sql("create database %s owner %s", f->db, role);
    db_sql(f->db, false,
           "create table items(id int primary key, name text not null, price numeric(10,2));"
           "insert into items select g, 'item ' || g, g * 1.25 from generate_series(1, 500) g;"
           "create table notes(id serial primary key, body text, day date default '2024-01-01');"
           "insert into notes(body) values ('héllo wörld'), ('quote '' and \\ backslash'), (null);"
           "create schema extra;"
           "create table extra.\"Odd Name\"(\"a b\" text, n int);"
           "insert into extra.\"Odd Name\" values ('x', 1), ('y', 2);");
    f->dsn = dsn_for(f->db);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char *like = rg_asprintf("%s%%", f->db);
    PGresult *res;

    /* The test database and whatever was made of it (scratch, pre_restore); test-owned. */
    res = PQexecParams(super, "select datname from pg_database where datname like $1", 1, NULL,
                       (const char *const[]){like}, NULL, NULL, 0);
    for (int i = 0; i < PQntuples(res); i++)
        super_sql("drop database if exists \"%s\" with (force)", PQgetvalue(res, i, 0));
    PQclear(res);
    /* Everything a test left in its directory (dumps, the restore's work file), then it. */
    struct rg_err rm_err;
    if (rg_fs_remove_tree(f->dir, &rm_err) < 0)
        print_message("teardown: %s\n", rm_err.msg);
    free(like);
    free(f->dsn);
    free(f);
    return 0;
}

/* Streams a dump of dsn through rg_pg_dump_start into path. */
static void
dump_to(const char *dsn, const char *path)
{
    struct rg_pg_dump *d = NULL;
    struct rg_err err;
    char buf[65536];
    ssize_t n;
    int fd = -1, out;

    if (rg_pg_dump_start(&d, &fd, dsn, TIMEOUT_MS, &err) < 0)
        fail_msg("dump start: %s", err.msg);
    out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out >= 0);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    assert_int_equal(close(out), 0);
    if (rg_pg_dump_finish(d, &err) < 0)
        fail_msg("dump finish: %s", err.msg);
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static char *
read_text(const char *path)
{
    struct rg_buf b;
    char buf[4096];
    size_t n;
    FILE *fp = fopen(path, "r");

    assert_non_null(fp);
    rg_buf_init(&b, 1024 * 1024);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        rg_buf_add(&b, buf, n);
    fclose(fp);
    return rg_buf_detach(&b);
}

static bool
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Quoting: what libpq escapes comes back quoted; what it refuses (bytes that are not UTF-8 on a
 * UTF-8 connection, no connection) is RG_EDB, never an abort. */
static void
test_quote_errors(void **state)
{
    char *conninfo = rg_asprintf("host=127.0.0.1 port=%d dbname=postgres user=postgres "
                                 "connect_timeout=5 client_encoding=UTF8",
                                 pg_port);
    PGconn *conn = PQconnectdb(conninfo);
    char *q = NULL;
    struct rg_err err;

    (void)state;
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_int_equal(pg_ident(&q, conn, "Odd \"Name\"", &err), 0);
    assert_string_equal(q, "\"Odd \"\"Name\"\"\"");
    free(q);
    assert_int_equal(pg_literal(&q, conn, "it's", &err), 0);
    assert_string_equal(q, "'it''s'");
    free(q);
    assert_int_equal(pg_ident(&q, conn, "bad\xff\xfename", &err), RG_EDB);
    assert_null(q);
    assert_true(starts_with(err.msg, "cannot quote an identifier: "));
    assert_int_equal(pg_literal(&q, conn, "bad\xc3", &err), RG_EDB);
    assert_null(q);
    assert_true(starts_with(err.msg, "cannot quote a literal: "));
    assert_int_equal(pg_ident(&q, NULL, "x", &err), RG_EDB);
    assert_null(q);
    PQfinish(conn);
    free(conninfo);
}

static void
test_server_version_and_name(void **state)
{
    struct fx *f = *state;
    char *v = NULL, *name = NULL, *want, *uri;
    struct rg_err err;
    int num = PQserverVersion(super);

    assert_int_equal(rg_pg_server_version(&v, f->dsn, &err), 0);
    want = rg_asprintf("%d.%d", num / 10000, num % 10000);
    assert_string_equal(v, want);
    assert_true(starts_with(v, "15."));
    assert_int_equal(rg_pg_dbname(&name, f->dsn, &err), 0);
    assert_string_equal(name, f->db);
    free(name);
    uri = rg_asprintf("postgresql://%s:%s@127.0.0.1:%d/%s", role, password, pg_port, f->db);
    assert_int_equal(rg_pg_dbname(&name, uri, &err), 0);
    assert_string_equal(name, f->db);
    free(name);
    free(uri);
    free(want);
    free(v);
}

/* Unreachable servers and malformed strings are errors that never show the password. */
static void
test_connection_errors(void **state)
{
    struct fx *f = *state;
    char *v = (char *)"x", *dsn;
    struct rg_err err;

    (void)f;
    dsn = rg_asprintf("host=127.0.0.1 port=1 dbname=x user=%s password=%s connect_timeout=2", role,
                      password);
    assert_int_equal(rg_pg_server_version(&v, dsn, &err), RG_EDB);
    assert_null(v);
    assert_true(starts_with(err.msg, "cannot connect to database 'x': "));
    assert_null(strstr(err.msg, password));
    free(dsn);
    dsn = rg_asprintf("host=127.0.0.1 %s", password); /* a password without its key */
    assert_int_equal(rg_pg_server_version(&v, dsn, &err), RG_EINVAL);
    assert_true(starts_with(err.msg, "invalid database connection string: "));
    assert_null(strstr(err.msg, password));
    free(dsn);
    assert_int_equal(rg_pg_dbname(&v, "", &err), RG_EINVAL);
}

/* The streamed custom dump restores into a scratch database with the same content, owner,
 * encoding and locale; the live database is untouched. */
static void
test_dump_restore_custom(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *scratch = NULL, *prefix;
    char *before = checksum(f->db), *after, *restored, *q;
    char *live_props, *scratch_props;
    struct rg_err err;

    dump_to(f->dsn, path);
    assert_int_equal(rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_CUSTOM, 2,
                                           "select count(*) = 500 from items", TIMEOUT_MS, &err),
                     0);
    prefix = rg_asprintf("%s_rg_scratch_", f->db);
    assert_true(starts_with(scratch, prefix));
    assert_int_equal(strlen(scratch), strlen(prefix) + 14);
    restored = checksum(scratch);
    after = checksum(f->db);
    assert_string_equal(restored, before);
    assert_string_equal(after, before);
    assert_true(starts_with(before, "3 tables, 505 rows, md5 "));
    q = "select pg_encoding_to_char(encoding) || datcollate || datctype || "
        "pg_get_userbyid(datdba) || datallowconn from pg_database where datname = $1";
    live_props = super_value(q, f->db);
    scratch_props = super_value(q, scratch);
    assert_string_equal(scratch_props, live_props);
    free(live_props);
    free(scratch_props);
    /* Owners kept: the role exists. */
    {
        PGconn *c = connect_db(scratch, false);
        PGresult *res = PQexec(c, "select string_agg(distinct tableowner, ',') from pg_tables "
                                  "where schemaname in ('public', 'extra')");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), role);
        PQclear(res);
        PQfinish(c);
    }
    free(prefix);
    free(before);
    free(after);
    free(restored);
    free(scratch);
    free(path);
}

/* A dump naming an owner role that no longer exists restores without owners. */
static void
test_restore_missing_owner(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *scratch = NULL, *before = checksum(f->db);
    char *restored, *sql;
    struct rg_err err;
    PGconn *c;
    PGresult *res;

    super_sql("create role %s_gone", role);
    sql = rg_asprintf("alter table notes owner to %s_gone", role);
    db_sql(f->db, true, sql);
    free(sql);
    /* Dumped as postgres: the role may not read a table it does not own. */
    sql = rg_asprintf("host=127.0.0.1 port=%d dbname=%s user=postgres", pg_port, f->db);
    dump_to(sql, path);
    free(sql);
    sql = rg_asprintf("reassign owned by %s_gone to %s", role, role);
    db_sql(f->db, true, sql);
    free(sql);
    super_sql("drop role %s_gone", role);

    assert_int_equal(
        rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_CUSTOM, 1, NULL, TIMEOUT_MS, &err), 0);
    restored = checksum(scratch);
    assert_string_equal(restored, before);
    c = connect_db(scratch, false);
    res = PQexec(c, "select tableowner from pg_tables where tablename = 'notes'");
    assert_string_equal(PQgetvalue(res, 0, 0), role);
    PQclear(res);
    PQfinish(c);
    free(restored);
    free(before);
    free(scratch);
    free(path);
}

/* Plain SQL: a good file restores in one transaction; the first failing statement stops a bad
 * one, with psql's exact error, and no scratch database is left. */
static void
test_plain_restore(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/x.sql", f->dir), *scratch = NULL, *prefix;
    struct rg_err err;

    prefix = rg_asprintf("%s_rg_scratch_", f->db);
    write_text(path,
               "create table t(x int);\n"
               "insert into t values (1), (2);\n"
               "select * from no_such_table;\n"
               "insert into t values (3);\n",
               0644);
    assert_int_equal(
        rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_PLAIN, 4, NULL, TIMEOUT_MS, &err),
        RG_EDB);
    assert_null(scratch);
    assert_non_null(strstr(err.msg, "failed (exited with 3)"));
    assert_non_null(strstr(err.msg, "x.sql:3: ERROR:  relation \"no_such_table\" does not exist"));
    assert_int_equal(count_dbs(prefix), 0);

    write_text(path,
               "create table t(x int);\n"
               "insert into t values (1), (2), (3);\n",
               0644);
    assert_int_equal(rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_PLAIN, 1,
                                           "select sum(x) = 6 from t", TIMEOUT_MS, &err),
                     0);
    assert_true(starts_with(scratch, prefix));
    assert_int_equal(count_dbs(prefix), 1);
    free(scratch);
    free(prefix);
    free(path);
}

/* A verification query that is false, fails or returns nothing drops the scratch database. */
static void
test_verify_fails(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *scratch = NULL, *prefix;
    struct rg_err err;

    prefix = rg_asprintf("%s_rg_scratch_", f->db);
    dump_to(f->dsn, path);
    assert_int_equal(rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_CUSTOM, 2,
                                           "select count(*) = 1 from items", TIMEOUT_MS, &err),
                     RG_EDB);
    assert_null(scratch);
    assert_true(starts_with(err.msg, "verification query returned false on '"));
    assert_int_equal(count_dbs(prefix), 0);
    assert_int_equal(rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_CUSTOM, 2,
                                           "select nonsense from items", TIMEOUT_MS, &err),
                     RG_EDB);
    assert_non_null(strstr(err.msg, "verification query failed on '"));
    assert_non_null(strstr(err.msg, "column \"nonsense\" does not exist"));
    assert_int_equal(rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_CUSTOM, 2,
                                           "select true where false", TIMEOUT_MS, &err),
                     RG_EDB);
    assert_true(starts_with(err.msg, "verification query returned no rows"));
    assert_int_equal(count_dbs(prefix), 0);
    free(prefix);
    free(path);
}

/* Missing things: the live database, the dump file; a dump of a missing database fails with
 * pg_dump's own words. */
static void
test_missing(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *scratch = NULL;
    char *nodb = rg_asprintf("%s_nothere", f->db), *dsn = dsn_for(nodb);
    struct rg_pg_dump *d = NULL;
    struct rg_err err;
    char buf[256];
    int fd = -1;

    assert_int_equal(
        rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_CUSTOM, 1, NULL, TIMEOUT_MS, &err),
        RG_ENOENT);
    assert_true(starts_with(err.msg, "cannot read dump '"));
    dump_to(f->dsn, path);
    assert_int_equal(
        rg_pg_restore_scratch(&scratch, dsn, path, RG_PG_CUSTOM, 1, NULL, TIMEOUT_MS, &err),
        RG_ENOENT);
    assert_null(scratch);
    assert_true(strstr(err.msg, "does not exist") != NULL);

    assert_int_equal(rg_pg_dump_start(&d, &fd, dsn, TIMEOUT_MS, &err), 0);
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    assert_int_equal(rg_pg_dump_finish(d, &err), RG_EDB);
    assert_true(starts_with(err.msg, "pg_dump of database '"));
    assert_non_null(strstr(err.msg, "failed (exited with 1)"));
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_null(strstr(err.msg, password));

    /* Abandoning a running dump leaves nothing behind (and accepts NULL). */
    assert_int_equal(rg_pg_dump_start(&d, &fd, f->dsn, TIMEOUT_MS, &err), 0);
    rg_pg_dump_abandon(d);
    rg_pg_dump_abandon(NULL);
    free(dsn);
    free(nodb);
    free(path);
}

/* The swap under a client holding a session on the live database: the session is ended, the
 * restored content becomes live, the old database is kept and both accept connections. */
static void
test_swap(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *scratch = NULL, *replaced = NULL, *prefix;
    char *original = checksum(f->db), *modified, *now_live, *kept, *allow;
    struct rg_err err;
    PGconn *client;
    PGresult *res;

    dump_to(f->dsn, path);
    db_sql(f->db, false,
           "insert into items select g, 'late ' || g, 0 "
           "from generate_series(501, 600) g; delete from notes where id = 1");
    modified = checksum(f->db);
    assert_string_not_equal(modified, original);
    assert_int_equal(rg_pg_restore_scratch(&scratch, f->dsn, path, RG_PG_CUSTOM, 2,
                                           "select count(*) = 500 from items", TIMEOUT_MS, &err),
                     0);
    client = connect_db(f->db, false);
    res = PQexec(client, "select 1");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);

    assert_int_equal(rg_pg_swap(&replaced, f->dsn, scratch, &err), 0);
    prefix = rg_asprintf("%s_pre_restore_", f->db);
    assert_true(starts_with(replaced, prefix));
    /* The client's session was ended. */
    res = PQexec(client, "select 1");
    assert_int_not_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    PQfinish(client);

    now_live = checksum(f->db);
    kept = checksum(replaced);
    assert_string_equal(now_live, original);
    assert_string_equal(kept, modified);
    allow = super_value("select datallowconn::text from pg_database where datname = $1", f->db);
    assert_string_equal(allow, "true");
    free(allow);
    allow = super_value("select datallowconn::text from pg_database where datname = $1", replaced);
    assert_string_equal(allow, "true");
    free(allow);
    {
        char *scratch_gone =
            super_value("select count(*) from pg_database where datname = $1", scratch);
        assert_string_equal(scratch_gone, "0");
        free(scratch_gone);
    }
    free(prefix);
    free(kept);
    free(now_live);
    free(modified);
    free(original);
    free(replaced);
    free(scratch);
    free(path);
}

/* A swap with a missing scratch database changes nothing. */
static void
test_swap_missing_scratch(void **state)
{
    struct fx *f = *state;
    char *replaced = NULL, *allow, *missing = rg_asprintf("%s_rg_scratch_x", f->db);
    struct rg_err err;

    assert_int_equal(rg_pg_swap(&replaced, f->dsn, missing, &err), RG_ENOENT);
    assert_null(replaced);
    assert_true(starts_with(err.msg, "scratch database '"));
    allow = super_value("select datallowconn::text from pg_database where datname = $1", f->db);
    assert_string_equal(allow, "true");
    free(allow);
    assert_int_equal(rg_pg_swap(&replaced, f->dsn, f->db, &err), RG_EINVAL);
    free(missing);
}

/* A step failing after the live database was renamed is undone: here the scratch database
 * belongs to postgres, so the role may not rename it. The live database keeps its name and
 * content, allows connections again, and no pre_restore copy remains. */
static void
test_swap_undone(void **state)
{
    struct fx *f = *state;
    char *replaced = NULL, *allow, *before = checksum(f->db), *after, *prefix;
    char *foreign = rg_asprintf("%s_rg_scratch_foreign", f->db);
    struct rg_err err;

    super_sql("create database %s owner postgres", foreign);
    assert_int_equal(rg_pg_swap(&replaced, f->dsn, foreign, &err), RG_EDB);
    assert_null(replaced);
    assert_non_null(strstr(err.msg, "must be owner of database"));
    assert_non_null(strstr(err.msg, "was left as it was"));
    allow = super_value("select datallowconn::text from pg_database where datname = $1", f->db);
    assert_string_equal(allow, "true");
    after = checksum(f->db);
    assert_string_equal(after, before);
    prefix = rg_asprintf("%s_pre_restore_", f->db);
    assert_int_equal(count_dbs(prefix), 0);
    free(prefix);
    free(after);
    free(allow);
    free(before);
    free(foreign);
}

/* The password reaches a pg tool only through PGPASSWORD: a fake pg_dump first in PATH records
 * its argv and environment and prints the password to stderr, which the error must not show. */
static void
test_password_not_in_argv_or_errors(void **state)
{
    struct fx *f = *state;
    char *fake = rg_asprintf("%s/pg_dump", f->dir), *argv_path = rg_asprintf("%s/argv", f->dir);
    char *env_path = rg_asprintf("%s/env", f->dir), *script, *text, *path_env;
    const char *old_path = getenv("PATH");
    char *saved = rg_strdup(old_path ? old_path : "/usr/bin:/bin");
    struct rg_pg_dump *d = NULL;
    struct rg_strv argv = {0};
    struct pg_dsn dsn;
    struct rg_err err;
    char buf[64];
    int fd = -1;

    script = rg_asprintf("#!/bin/sh\n"
                         "printf '%%s\\n' \"$0\" \"$@\" > '%s'\n"
                         "printf 'PGPASSWORD=%%s\\n' \"$PGPASSWORD\" > '%s'\n"
                         "echo \"pg_dump: error: fake failure, password was $PGPASSWORD\" >&2\n"
                         "exit 2\n",
                         argv_path, env_path);
    write_text(fake, script, 0755);
    path_env = rg_asprintf("%s:%s", f->dir, saved);
    setenv("PATH", path_env, 1);
    assert_int_equal(rg_pg_dump_start(&d, &fd, f->dsn, TIMEOUT_MS, &err), 0);
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    assert_int_equal(rg_pg_dump_finish(d, &err), RG_EDB);
    setenv("PATH", saved, 1);
    assert_non_null(strstr(err.msg, "fake failure, password was ***"));
    assert_null(strstr(err.msg, password));

    text = read_text(argv_path);
    assert_null(strstr(text, password));
    assert_null(strstr(text, "password="));
    assert_null(strstr(text, "password'"));
    assert_non_null(strstr(text, "--no-password\n-d\n"));
    assert_non_null(strstr(text, "dbname='"));
    assert_non_null(strstr(text, "connect_timeout='10'"));
    free(text);
    text = read_text(env_path);
    assert_non_null(strstr(text, password));
    free(text);

    /* The argv rg_pg_dump_start builds, directly. */
    assert_int_equal(pg_dsn_parse(&dsn, f->dsn, &err), 0);
    pg_dump_argv(&argv, &dsn);
    for (size_t i = 0; i < argv.n; i++)
        assert_null(strstr(argv.v[i], password));
    assert_string_equal(argv.v[0], "pg_dump");
    assert_string_equal(argv.v[1], "--format=custom");
    assert_string_equal(argv.v[2], "--compress=0");
    rg_strv_release(&argv);
    pg_dsn_release(&dsn);

    free(path_env);
    free(saved);
    free(script);
    free(env_path);
    free(argv_path);
    free(fake);
}

/* ---- table data loaded over several connections (pg_load.c) ---- */

/* Everything a restore must bring back besides plain rows: a table big enough to be split
 * among connections (about 20 MB of rows with tabs, newlines, backslashes, non-ASCII text, NULLs
 * and bytea), a sequence position, a large object, a partitioned table, a foreign key, a
 * generated column, row-level security, a comment and an empty table. */
static void
add_restore_zoo(const char *db)
{
    db_sql(db, false,
           "create table big(id bigint primary key, t text, b bytea, n numeric, ts timestamptz);"
           "insert into big select g, case when g % 7 = 0 then null else 'row ' || g || "
           "  E'\\ttab\\nnewline \\\\ back ' || repeat('é', g % 5) end,"
           "  case when g % 11 = 0 then null else decode(md5(g::text), 'hex') end, g / 3.0,"
           "  timestamptz '2026-01-01' + g * interval '1 minute' from generate_series(1, 150000) g;"
           "create sequence counter; select setval('counter', 777);"
           "create table parted(k int, v text) partition by range (k);"
           "create table parted_a partition of parted for values from (0) to (100);"
           "create table parted_b partition of parted for values from (100) to (200);"
           "insert into parted select g, 'p' || g from generate_series(0, 199) g;"
           "create table child(id int primary key, item int references items(id));"
           "insert into child select g, g from generate_series(1, 50) g;"
           "create table gen(a int, b int generated always as (a * 2) stored);"
           "insert into gen(a) select generate_series(1, 10);"
           "create table secret(id int, who text); alter table secret enable row level security;"
           "create policy only_me on secret using (who = current_user);"
           "insert into secret values (1, 'nobody'), (2, 'nobody');"
           "create table empty(x int);"
           "comment on table big is 'the big one';"
           "select lo_from_bytea(0, '\\x0102030405'::bytea);");
}

/* What add_restore_zoo made, beyond the rows rg_pg_content_checksum covers. */
static char *
zoo_facts(const char *db)
{
    PGconn *c = connect_db(db, true);
    PGresult *res = PQexec(c,
        "select (select last_value from counter) || ' lo ' ||"
        " (select string_agg(md5(lo_get(oid)), ',' order by oid) from pg_largeobject_metadata) ||"
        " ' parted ' || (select count(*) from parted_a) || '+' ||"
        " (select count(*) from parted_b) ||"
        " ' gen ' || (select sum(b) from gen) || ' rls ' ||"
        " (select relrowsecurity from pg_class where relname = 'secret') || ' policies ' ||"
        " (select count(*) from pg_policies) || ' fk ' ||"
        " (select count(*) from pg_constraint where contype = 'f') || ' comment ' ||"
        " obj_description('big'::regclass) || ' indexes ' ||"
        " (select count(*) from pg_indexes where schemaname = 'public') || ' big ' ||"
        " (select count(*) || '/' || md5(string_agg(big::text, '|' order by id)) from big)");
    char *v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("facts of %s: %s", db, PQerrorMessage(c));
    v = rg_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    return v;
}

/* rg_pg_restore_scratch with rollgate's info log caught: *log_out gets what it logged. */
static int
restore_logged(char **scratch, char **log_out, const char *dsn, const char *path, int jobs,
               struct rg_err *err)
{
    char logpath[] = "/tmp/rgt-pg-log-XXXXXX";
    int fd = mkstemp(logpath), saved = dup(2), rc;
    enum rg_log_level level = rg_log_get_level();

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    assert_true(dup2(fd, 2) >= 0);
    rg_log_set_level(RG_LOG_INFO);
    rc = rg_pg_restore_scratch(scratch, dsn, path, RG_PG_CUSTOM, jobs, NULL, TIMEOUT_MS, err);
    fflush(stderr);
    rg_log_set_level(level);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    close(fd);
    *log_out = read_text(logpath);
    unlink(logpath);
    return rc;
}

/* Loaded over three connections, the restore equals the live database and pg_restore's own
 * restore of the same dump: every row, sequence, large object, partition, constraint, policy and
 * comment. */
static void
test_parallel_load_equals_pg_restore(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *one = NULL, *three = NULL, *log1, *log3;
    char *live_sum, *live_facts, *s1, *s3, *f1, *f3;
    struct rg_err err;

    add_restore_zoo(f->db);
    live_sum = checksum(f->db);
    live_facts = zoo_facts(f->db);
    dump_to(f->dsn, path);
    if (restore_logged(&one, &log1, f->dsn, path, 1, &err) < 0)
        fail_msg("restore with one job: %s", err.msg);
    if (restore_logged(&three, &log3, f->dsn, path, 3, &err) < 0)
        fail_msg("restore with three jobs: %s", err.msg);
    /* One job is pg_restore alone; three load the tables themselves. */
    assert_null(strstr(log1, "table data loaded"));
    if (!strstr(log3, "restore: schema and table data loaded over 3 connections"))
        fail_msg("three jobs did not load the tables over three connections; log: %s", log3);
    s1 = checksum(one);
    s3 = checksum(three);
    f1 = zoo_facts(one);
    f3 = zoo_facts(three);
    assert_string_equal(s1, live_sum);
    assert_string_equal(s3, live_sum);
    assert_string_equal(f1, live_facts);
    assert_string_equal(f3, live_facts);
    assert_non_null(strstr(live_facts, "777 lo 7cfdd07889b3295d6a550914ab35e068 parted 100+100 "
                                       "gen 110 rls true policies 1 fk 1 comment the big one "
                                       "indexes 4 big 150000/"));
    free(live_sum);
    free(live_facts);
    free(s1);
    free(s3);
    free(f1);
    free(f3);
    free(log1);
    free(log3);
    free(one);
    free(three);
    free(path);
}

/* The loading sessions set xmloption content as pg_restore does: xml values that are fragments
 * load even where the role defaults to document. */
static void
test_parallel_load_xml_fragment(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *three = NULL, *log3 = NULL, *live, *got;
    struct rg_err err;
    int rc;

    db_sql(f->db, false,
           "create table docs(id int primary key, x xml);"
           "insert into docs select g, ('text and <a>an element</a> ' || g)::xml from "
           "generate_series(1, 100) g;");
    live = checksum(f->db);
    dump_to(f->dsn, path);
    super_sql("alter role %s set xmloption = document", role);
    rc = restore_logged(&three, &log3, f->dsn, path, 3, &err);
    super_sql("alter role %s reset xmloption", role);
    if (rc < 0)
        fail_msg("restore with three jobs: %s", err.msg);
    if (!strstr(log3, "restore: schema and table data loaded over 3 connections"))
        fail_msg("three jobs did not load the tables over three connections; log: %s", log3);
    got = checksum(three);
    assert_string_equal(got, live);
    free(got);
    free(live);
    free(log3);
    free(three);
    free(path);
}

/* Replaces the first occurrence of `from` in the file with `to` (same length). */
static void
patch_file(const char *path, const char *from, const char *to)
{
    FILE *fp = fopen(path, "r+b");
    size_t n = strlen(from), have = 0;
    char *buf;
    struct stat st;

    assert_int_equal(strlen(to), n);
    assert_non_null(fp);
    assert_int_equal(fstat(fileno(fp), &st), 0);
    buf = rg_malloc((size_t)st.st_size);
    have = fread(buf, 1, (size_t)st.st_size, fp);
    assert_int_equal(have, (size_t)st.st_size);
    char *at = memmem(buf, have, from, n);
    if (!at)
        fail_msg("'%s' not in %s", from, path);
    assert_int_equal(fseek(fp, at - buf, SEEK_SET), 0);
    assert_int_equal(fwrite(to, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    free(buf);
}

/* A row the server rejects in the middle of a split table: the restore fails with the server's
 * words and the table named, the scratch database is dropped and the live one is unchanged. */
static void
test_parallel_load_bad_row(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *scratch = NULL, *before, *after, *log;
    char *prefix = rg_asprintf("%s_rg_scratch_", f->db);
    struct rg_err err;

    add_restore_zoo(f->db);
    before = checksum(f->db);
    dump_to(f->dsn, path);
    /* The tab between id and t of row 100001 becomes a space: "100001 row…" is no bigint. */
    patch_file(path, "100001\trow 100001", "100001 row 100001");
    assert_int_equal(restore_logged(&scratch, &log, f->dsn, path, 2, &err), RG_EDB);
    assert_null(scratch);
    if (!starts_with(err.msg, "loading failed for public.big in '") ||
        !strstr(err.msg, "invalid input syntax for type bigint: \"100001 row 100001"))
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(count_dbs(prefix), 0);
    after = checksum(f->db);
    assert_string_equal(after, before);
    free(before);
    free(after);
    free(log);
    free(prefix);
    free(path);
}

/* A dump cut off in the middle of a table's rows (an archive's checksums catch this first; the
 * loader must too): RG_EINVAL naming where, nothing left behind. */
static void
test_parallel_load_truncated(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *scratch = NULL, *log;
    char *prefix = rg_asprintf("%s_rg_scratch_", f->db);
    struct rg_err err;
    struct stat st;

    add_restore_zoo(f->db);
    dump_to(f->dsn, path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    assert_int_equal(restore_logged(&scratch, &log, f->dsn, path, 2, &err), RG_EINVAL);
    assert_null(scratch);
    if (!starts_with(err.msg, "pg_dump archive: chunk runs past the end at offset ") &&
        !starts_with(err.msg, "pg_dump archive: truncated integer at offset "))
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(count_dbs(prefix), 0);
    free(log);
    free(prefix);
    free(path);
}

/* A dump file handed over as a stream, in pieces of awkward sizes (1 byte, then 4093, then 1…)
 * so that every window of the reader starts and ends in the middle of something. */
struct piecewise {
    int fd;
    int turn;
    int reads;
};

static int
read_piecewise(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err)
{
    struct piecewise *p = ctx;
    size_t want = p->turn++ % 2 ? 4093 : 1;
    ssize_t k = read(p->fd, buf, want < cap ? want : cap);

    if (k < 0)
        return rg_err_sys(err, RG_EIO, "test stream");
    p->reads++;
    *got = (size_t)k;
    return 0;
}

static int
restore_streamed(char **scratch, const struct fx *f, const char *dump, const char *work,
                 enum rg_pg_format format, int jobs, const char *query, struct rg_err *err)
{
    struct piecewise p = {.fd = open(dump, O_RDONLY | O_CLOEXEC)};
    struct rg_pg_dump_reader src = {.read = read_piecewise, .ctx = &p};
    int rc;

    assert_true(p.fd >= 0);
    rc = rg_pg_restore_scratch_stream(scratch, f->dsn, &src, work, format, jobs, query,
                                      TIMEOUT_MS, err);
    close(p.fd);
    assert_true(p.reads > 2);
    return rc;
}

static off_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Streamed (as a restore reads a backup: the dump never written whole), the restore equals the
 * live database: the rows come from the stream, and pg_restore restores the rest (sequence,
 * large object, policies, indexes) from a skeleton holding only the dump's head and the blocks
 * rollgate did not load. With one job the whole dump is written out for pg_restore instead. */
static void
test_streamed_restore_equals_live(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/dump", f->dir), *work = rg_asprintf("%s/work", f->dir);
    char *two = NULL, *one = NULL, *live_sum, *live_facts, *s, *facts;
    struct rg_err err;

    add_restore_zoo(f->db);
    live_sum = checksum(f->db);
    live_facts = zoo_facts(f->db);
    dump_to(f->dsn, path);
    if (restore_streamed(&two, f, path, work, RG_PG_CUSTOM, 2, "select count(*) = 150000 from big",
                         &err) < 0)
        fail_msg("streamed restore with two jobs: %s", err.msg);
    /* The skeleton: the big table's rows are not in it. */
    if (file_size(work) * 4 > file_size(path))
        fail_msg("skeleton of %lld bytes for a dump of %lld", (long long)file_size(work),
                 (long long)file_size(path));
    s = checksum(two);
    facts = zoo_facts(two);
    assert_string_equal(s, live_sum);
    assert_string_equal(facts, live_facts);
    free(s);
    free(facts);
    assert_int_equal(unlink(work), 0);
    if (restore_streamed(&one, f, path, work, RG_PG_CUSTOM, 1, NULL, &err) < 0)
        fail_msg("streamed restore with one job: %s", err.msg);
    assert_int_equal(file_size(work), file_size(path));
    s = checksum(one);
    assert_string_equal(s, live_sum);
    free(s);
    /* The work file is never overwritten. */
    free(two);
    two = NULL;
    assert_int_equal(restore_streamed(&two, f, path, work, RG_PG_CUSTOM, 2, NULL, &err), RG_EIO);
    assert_null(two);
    if (!starts_with(err.msg, "cannot create '") || !strstr(err.msg, "File exists"))
        fail_msg("unexpected error: %s", err.msg);
    free(live_sum);
    free(live_facts);
    free(one);
    free(two);
    free(path);
    free(work);
}

/* A plain SQL dump streamed is written out for psql, and psql's errors come through. */
static void
test_streamed_plain_restore(void **state)
{
    struct fx *f = *state;
    char *path = rg_asprintf("%s/x.sql", f->dir), *work = rg_asprintf("%s/work", f->dir);
    char *scratch = NULL;
    struct rg_err err;

    write_text(path, "create table t(x int);\ninsert into t values (1), (2), (3);\n", 0644);
    assert_int_equal(restore_streamed(&scratch, f, path, work, RG_PG_PLAIN, 2,
                                      "select sum(x) = 6 from t", &err),
                     0);
    assert_int_equal(file_size(work), file_size(path));
    free(scratch);
    scratch = NULL;
    assert_int_equal(unlink(work), 0);
    write_text(path, "create table t(x int);\nselect * from no_such_table;\n", 0644);
    assert_int_equal(restore_streamed(&scratch, f, path, work, RG_PG_PLAIN, 2, NULL, &err),
                     RG_EDB);
    assert_null(scratch);
    if (!strstr(err.msg, "work:2: ERROR:  relation \"no_such_table\" does not exist"))
        fail_msg("unexpected error: %s", err.msg);
    free(path);
    free(work);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_errors),
        cmocka_unit_test_setup_teardown(test_server_version_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_restore_custom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_missing_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_missing_scratch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_not_in_argv_or_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_load_equals_pg_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_load_xml_fragment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_load_bad_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_load_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_restore_equals_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_plain_restore, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
