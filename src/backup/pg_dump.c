/* A streamed pg_dump: custom format, uncompressed (the archive compresses), its stdout handed to
 * the caller through spawn's started child; the password travels in PGPASSWORD only. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "backup/pg_internal.h"

struct rg_pg_dump {
    struct rg_spawn_child *child;
    struct pg_dsn dsn;
};

void
pg_dump_argv(struct rg_strv *argv, const struct pg_dsn *d)
{
    char *conninfo = pg_tool_conninfo(d, NULL);

    rg_strv_push(argv, "pg_dump");
    rg_strv_push(argv, "--format=custom");
    rg_strv_push(argv, "--compress=0");
    rg_strv_push(argv, "--no-password");
    rg_strv_push(argv, "-d");
    rg_strv_push(argv, conninfo);
    free(conninfo);
}

static void
dump_free(struct rg_pg_dump *d)
{
    if (!d)
        return;
    pg_dsn_release(&d->dsn);
    free(d);
}

int
rg_pg_dump_start(struct rg_pg_dump **out, int *fd_out, const char *dsn, int64_t timeout_ms,
                 struct rg_err *err)
{
    struct rg_pg_dump *d = rg_calloc(1, sizeof(*d));
    struct rg_strv argv = {0};
    char *pw = NULL;
    const char *extra[2] = {NULL, NULL};
    struct rg_spawn_opts o = {.timeout_ms = timeout_ms, .max_output = 16 * 1024, .cancel_fd = -1};
    int rc;

    assert(out && fd_out);
    *out = NULL;
    *fd_out = -1;
    if ((rc = pg_dsn_parse(&d->dsn, dsn, err)) < 0)
        goto out;
    pg_dump_argv(&argv, &d->dsn);
    pw = pg_env_password(&d->dsn);
    extra[0] = pw;
    o.argv = (const char *const *)argv.v;
    o.env_extra = extra;
    if ((rc = rg_spawn_start(&d->child, fd_out, &o, err)) < 0) {
        rg_err_prefix(err, "pg_dump of database '%s': ", d->dsn.dbname);
        pg_scrub_err(rc, err, &d->dsn);
        goto out;
    }
    *out = d;
    d = NULL;
out:
    dump_free(d);
    rg_strv_release(&argv);
    pg_env_free(pw);
    return rc;
}

int
rg_pg_dump_finish(struct rg_pg_dump *d, struct rg_err *err)
{
    struct rg_spawn_result res;
    char *what;
    int rc;

    assert(d);
    what = rg_asprintf("pg_dump of database '%s'", d->dsn.dbname);
    if ((rc = rg_spawn_finish(d->child, &res, err)) < 0)
        rg_err_prefix(err, "%s: ", what);
    else if (res.exit_code != 0 || res.signal || res.timed_out)
        rc = pg_tool_error(&res, what, err);
    d->child = NULL;
    pg_scrub_err(rc, err, &d->dsn);
    rg_spawn_result_release(&res);
    free(what);
    dump_free(d);
    return rc;
}

void
rg_pg_dump_abandon(struct rg_pg_dump *d)
{
    if (!d)
        return;
    rg_spawn_abandon(d->child);
    dump_free(d);
}
