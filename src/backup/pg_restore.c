/* Restoring a dump into a scratch database beside the live one: created from template0 like the
 * live one, filled by pg_restore or psql (stopping at the first error), checked by the
 * playbook's verification query, and dropped again when anything fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/pg_internal.h"
#include "backup/pgdump_format.h"

/* What the scratch database copies of the live one. */
struct live_db {
    PGresult *res; /* encoding, collate, ctype, owner[, locprovider, icu locale] */
    bool icu;
};

static int
live_read(struct live_db *l, PGconn *conn, const char *name, struct rg_err *err)
{
    const char *params[1] = {name};
    /* ICU as a database's locale provider is new in 15. */
    bool v15 = PQserverVersion(conn) >= 150000;
    const char *sql = v15 ? "select pg_encoding_to_char(encoding), datcollate, datctype, "
                            "pg_get_userbyid(datdba), datlocprovider, daticulocale "
                            "from pg_database where datname = $1"
                          : "select pg_encoding_to_char(encoding), datcollate, datctype, "
                            "pg_get_userbyid(datdba) from pg_database where datname = $1";
    int rc;

    if ((rc = pg_exec(&l->res, conn, sql, 1, params, "cannot read the live database", err)) < 0)
        return rc;
    if (PQntuples(l->res) != 1)
        return rg_err_set(err, RG_ENOENT, "database '%s' does not exist", name);
    l->icu = v15 && strcmp(PQgetvalue(l->res, 0, 4), "i") == 0 && !PQgetisnull(l->res, 0, 5);
    return 0;
}

static int
scratch_create(PGconn *conn, const char *scratch, const struct live_db *l, struct rg_err *err)
{
    char *name = NULL, *enc = NULL, *coll = NULL, *ctype = NULL, *owner = NULL, *icu = NULL;
    char *sql = NULL, *what = NULL;
    int rc;

    if ((rc = pg_ident(&name, conn, scratch, err)) < 0 ||
        (rc = pg_literal(&enc, conn, PQgetvalue(l->res, 0, 0), err)) < 0 ||
        (rc = pg_literal(&coll, conn, PQgetvalue(l->res, 0, 1), err)) < 0 ||
        (rc = pg_literal(&ctype, conn, PQgetvalue(l->res, 0, 2), err)) < 0 ||
        (rc = pg_ident(&owner, conn, PQgetvalue(l->res, 0, 3), err)) < 0 ||
        (l->icu && (rc = pg_literal(&icu, conn, PQgetvalue(l->res, 0, 5), err)) < 0))
        goto out;
    sql = rg_asprintf("create database %s with template template0 encoding %s lc_collate %s "
                      "lc_ctype %s owner %s%s%s",
                      name, enc, coll, ctype, owner, icu ? " locale_provider icu icu_locale " : "",
                      icu ? icu : "");
    what = rg_asprintf("cannot create scratch database '%s'", scratch);
    rc = pg_exec(NULL, conn, sql, 0, NULL, what, err);
out:
    free(what);
    free(sql);
    free(name);
    free(enc);
    free(coll);
    free(ctype);
    free(owner);
    free(icu);
    return rc;
}

/* Drops rollgate's own scratch database; FORCE (13 and later) ends what a killed pg_restore
 * may have left connected. */
static int
scratch_drop(PGconn *conn, const char *scratch, struct rg_err *err)
{
    char *name = NULL, *sql = NULL;
    int rc;

    if ((rc = pg_ident(&name, conn, scratch, err)) < 0)
        goto out;
    sql = rg_asprintf("drop database if exists %s%s", name,
                      PQserverVersion(conn) >= 130000 ? " with (force)" : "");
    rc = pg_exec(NULL, conn, sql, 0, NULL, "cannot drop the scratch database", err);
out:
    free(sql);
    free(name);
    return rc;
}

/* `pg_restore --list` of the dump: a line per entry, "id; tableoid oid TYPE schema name owner". */
static int
dump_listing(char **out, const struct pg_dsn *d, const char *dump_path, int64_t timeout_ms,
             struct rg_err *err)
{
    const char *const argv[] = {"pg_restore", "--list", dump_path, NULL};
    char *what = rg_asprintf("listing of '%s'", dump_path);
    int rc = pg_tool_run(argv, d, timeout_ms, what, out, err);

    free(what);
    return rc;
}

/* Whether every role that owns something in the dump's listing exists. The owner is last and
 * empty (a trailing space) for entries without one. An owner that cannot be told apart (a name
 * with spaces) counts as missing, which only costs the owners. */
static int
owners_exist(bool *out, PGconn *conn, char *list, struct rg_err *err)
{
    struct rg_strv seen = {0};
    PGresult *res = NULL;
    int rc = 0;

    *out = true;
    for (char *line = list; line && *line && *out;) {
        char *end = line + strcspn(line, "\n"), *owner;
        char saved = *end;
        *end = '\0';
        if (line[0] >= '0' && line[0] <= '9' && strchr(line, ';') && end > line && end[-1] != ' ' &&
            (owner = strrchr(line, ' ')) && !rg_strv_contains(&seen, owner + 1)) {
            const char *params[1] = {owner + 1};
            rg_strv_push(&seen, owner + 1);
            if ((rc = pg_exec(&res, conn, "select 1 from pg_roles where rolname = $1", 1, params,
                              "cannot look up roles", err)) < 0) {
                *end = saved;
                break;
            }
            *out = PQntuples(res) == 1;
            PQclear(res);
            res = NULL;
        }
        *end = saved;
        line = *end ? end + 1 : end;
    }
    rg_strv_release(&seen);
    return rc;
}

/* One pg_restore run into the scratch database: a section (NULL: all), a listing of the entries
 * to restore (NULL: all), and parallel jobs. */
static int
run_pg_restore(const struct pg_dsn *d, const char *scratch, const char *dump_path,
               const char *section, const char *list_path, int jobs, bool owners,
               int64_t deadline, struct rg_err *err)
{
    struct rg_strv argv = {0};
    char *conninfo = pg_tool_conninfo(d, scratch);
    char *jobs_arg = rg_asprintf("--jobs=%d", jobs < 1 ? 1 : jobs);
    char *section_arg = section ? rg_asprintf("--section=%s", section) : NULL;
    char *what = section ? rg_asprintf("restore of the %s of '%s' into '%s'", section, dump_path,
                                       scratch)
                         : rg_asprintf("restore of '%s' into '%s'", dump_path, scratch);
    int64_t left = deadline - rg_mono_ms();
    int rc;

    rg_strv_push(&argv, "pg_restore");
    /* Parallel workers open the file themselves: a dump pg_dump wrote to a pipe has no data
     * offsets, and 15's pg_restore then finds each worker's blocks by skipping through the file
     * from where that worker last was. It works, at the cost of a skim per worker. */
    rg_strv_push(&argv, jobs_arg);
    if (section_arg)
        rg_strv_push(&argv, section_arg);
    if (list_path) {
        rg_strv_push(&argv, "--use-list");
        rg_strv_push(&argv, list_path);
    }
    rg_strv_push(&argv, "--exit-on-error");
    rg_strv_push(&argv, "--no-password");
    if (!owners)
        rg_strv_push(&argv, "--no-owner");
    rg_strv_push(&argv, "-d");
    rg_strv_push(&argv, conninfo);
    rg_strv_push(&argv, dump_path);
    rc = pg_tool_run((const char *const *)argv.v, d, left > 0 ? left : 1, what, NULL, err);
    rg_strv_release(&argv);
    free(conninfo);
    free(jobs_arg);
    free(section_arg);
    free(what);
    return rc;
}

/* The listing with the entries rollgate loaded itself commented out, written next to the dump
 * for `pg_restore --use-list`. NULL (nothing to write) when no other data entry is left. */
static int
rest_of_data_list(char **path_out, const char *dump_path, const char *list,
                  const struct pgd_toc *toc, const bool *loaded, struct rg_err *err)
{
    bool rest = false;
    struct rg_buf b;
    FILE *f;
    int rc = 0;

    *path_out = NULL;
    for (size_t i = 0; i < toc->n; i++)
        rest |= toc->entries[i].section == PGD_SECTION_DATA && !loaded[i];
    if (!rest)
        return 0;
    rg_buf_init(&b, strlen(list) + toc->n + 16);
    for (const char *line = list; *line;) {
        size_t n = strcspn(line, "\n");
        char *end;
        long id = strtol(line, &end, 10);
        const struct pgd_entry *e = end != line && *end == ';' ? pgd_toc_find(toc, (int)id) : NULL;

        if (e && loaded[e - toc->entries])
            rg_buf_adds(&b, ";");
        rg_buf_add(&b, line, n);
        rg_buf_adds(&b, "\n");
        line += n + (line[n] == '\n');
    }
    *path_out = rg_asprintf("%s.list", dump_path);
    if (!(f = fopen(*path_out, "wx")) || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot write the restore listing '%s'", *path_out);
        free(*path_out);
        *path_out = NULL;
    }
    rg_buf_release(&b);
    return rc;
}

/* A dump file read as a stream. */
struct dump_file {
    const char *path;
    int fd;
};

/* Where the dump comes from: read once, in order; as a file too when it is one. */
struct dump_in {
    pgd_read_fn read;
    void *ctx;
    const char *file; /* the dump itself as a file, or NULL: streamed */
    const char *work; /* streamed: where to write what pg_restore or psql needs as a file */
};

/* A new private file at path for what pg_restore or psql will read. */
static int
work_create(int *fd, const char *path, struct rg_err *err)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0)
        return rg_err_sys(err, RG_EIO, "cannot create '%s'", path);
    return 0;
}

static int
work_close(int *fd, const char *path, struct rg_err *err)
{
    int rc = *fd >= 0 && close(*fd) < 0 ? rg_err_sys(err, RG_EIO, "cannot write '%s'", path) : 0;

    *fd = -1;
    return rc;
}

/* Why a custom-format dump goes whole to pg_restore, or NULL when it is loaded in steps. */
static const char *
whole_reason(const struct pgd_toc *toc, int jobs)
{
    bool any = false;

    for (size_t i = 0; i < toc->n; i++)
        any |= pgd_entry_copyable(&toc->entries[i]);
    if (jobs < 2)
        return "one job has nothing to split";
    if (toc->unsupported[0])
        return toc->unsupported;
    if (toc->compressed)
        return "its data is compressed";
    return any ? NULL : "no table data";
}

/* A custom-format dump. Most go in four steps: schema (pg_restore --section=pre-data), table
 * data (rollgate, over `jobs` connections, big tables split among them, straight from the
 * stream), the rest of the data (sequences, large objects: pg_restore from a skeleton of the
 * dump that holds only its head and the blocks rollgate did not load), then indexes and
 * constraints (pg_restore --jobs). A dump this reader cannot walk goes whole to pg_restore. */
static int
restore_custom(PGconn *conn, const struct pg_dsn *d, const char *scratch,
               const struct dump_in *in, int jobs, int64_t timeout_ms, struct rg_err *err)
{
    int64_t deadline = rg_mono_ms() + timeout_ms, t0 = rg_mono_ms();
    const char *path = in->file ? in->file : in->work, *why;
    struct pgd_stream st;
    struct pgd_toc toc = {0};
    char *list = NULL, *list_path = NULL;
    bool owners = true, *loaded = NULL;
    int fd = -1, rc;

    pgd_stream_init(&st, in->read, in->ctx, err);
    if ((rc = pgd_stream_read_toc(&st, &toc)) < 0)
        goto out;
    why = whole_reason(&toc, jobs);
    if (why && jobs > 1)
        rg_log(RG_LOG_INFO, "restore: dump left whole to pg_restore (%s)", why);
    if (!in->file && ((rc = work_create(&fd, in->work, err)) < 0 ||
                      (rc = why ? pgd_stream_copy_all(&st, fd)
                                : pgd_stream_write_head(&st, fd, toc.data_start)) < 0))
        goto out;
    if (why && (rc = work_close(&fd, path, err)) < 0)
        goto out;
    if ((rc = dump_listing(&list, d, path, timeout_ms, err)) < 0 ||
        (rc = owners_exist(&owners, conn, list, err)) < 0)
        goto out;
    if (why) {
        rc = run_pg_restore(d, scratch, path, NULL, NULL, jobs, owners, deadline, err);
        goto out;
    }
    loaded = rg_calloc(toc.n, sizeof(*loaded));
    if ((rc = run_pg_restore(d, scratch, path, "pre-data", NULL, 1, owners, deadline, err)) < 0 ||
        (rc = pg_load_tables(d, scratch, &toc, &st, fd, jobs, deadline - rg_mono_ms(), loaded,
                             err)) < 0 ||
        (rc = work_close(&fd, path, err)) < 0)
        goto out;
    rg_log(RG_LOG_INFO, "restore: schema and table data loaded over %d connections after %lld ms",
           jobs, (long long)(rg_mono_ms() - t0));
    if ((rc = rest_of_data_list(&list_path, path, list, &toc, loaded, err)) < 0 ||
        (list_path &&
         (rc = run_pg_restore(d, scratch, path, "data", list_path, 1, owners, deadline, err)) <
             0) ||
        (rc = run_pg_restore(d, scratch, path, "post-data", NULL, jobs, owners, deadline, err)) <
            0)
        goto out;
out:
    if (fd >= 0)
        close(fd);
    if (list_path)
        unlink(list_path);
    pgd_stream_release(&st);
    pgd_toc_release(&toc);
    free(loaded);
    free(list_path);
    free(list);
    return rc;
}

/* psql reads a file: a streamed plain dump is written out first. */
static int
spool(const struct dump_in *in, struct rg_err *err)
{
    size_t cap = 1 << 20, got;
    char *buf = rg_malloc(cap);
    int fd = -1, rc;

    if ((rc = work_create(&fd, in->work, err)) < 0)
        goto out;
    while ((rc = in->read(in->ctx, buf, cap, &got, err)) == 0 && got > 0) {
        for (size_t off = 0; off < got;) {
            ssize_t k = write(fd, buf + off, got - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                rc = rg_err_sys(err, RG_EIO, "cannot write '%s'", in->work);
                goto out;
            }
            off += (size_t)k;
        }
    }
    if (rc == 0)
        rc = work_close(&fd, in->work, err);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

static int
restore_plain(const struct pg_dsn *d, const char *scratch, const char *dump_path,
              int64_t timeout_ms, struct rg_err *err)
{
    char *conninfo = pg_tool_conninfo(d, scratch);
    char *what = rg_asprintf("restore of '%s' into '%s'", dump_path, scratch);
    /* Without ON_ERROR_STOP psql goes on after a failed statement and exits 0. */
    const char *const argv[] = {
        "psql",          "-X", "-q",      "-v", "ON_ERROR_STOP=1", "--single-transaction",
        "--no-password", "-f", dump_path, "-d", conninfo,          NULL};
    int rc = pg_tool_run(argv, d, timeout_ms, what, NULL, err);

    free(conninfo);
    free(what);
    return rc;
}

static int
verify(const struct pg_dsn *d, const char *scratch, const char *query, int64_t timeout_ms,
       struct rg_err *err)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char *set = NULL;
    char why[400];
    int rc;

    if ((rc = pg_connect(&conn, d, scratch, err)) < 0)
        goto out;
    set = rg_asprintf("set statement_timeout = %lld", (long long)timeout_ms);
    if ((rc = pg_exec(NULL, conn, set, 0, NULL, "cannot set a statement timeout", err)) < 0)
        goto out;
    res = PQexec(conn, query);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_message(why, sizeof(why), conn);
        rc = rg_err_set(err, RG_EDB, "verification query failed on '%s': %s", scratch, why);
    } else if (PQntuples(res) < 1 || PQnfields(res) < 1) {
        rc = rg_err_set(err, RG_EDB, "verification query returned no rows on '%s'", scratch);
    } else if (PQgetisnull(res, 0, 0)) {
        rc = rg_err_set(err, RG_EDB, "verification query returned null on '%s'", scratch);
    } else if (strcmp(PQgetvalue(res, 0, 0), "f") == 0) {
        rc = rg_err_set(err, RG_EDB, "verification query returned false on '%s'", scratch);
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        rc = rg_err_set(err, RG_EDB, "verification query returned '%.64s', not true, on '%s'",
                        PQgetvalue(res, 0, 0), scratch);
    }
out:
    PQclear(res);
    PQfinish(conn);
    free(set);
    return rc;
}

static int
restore_scratch(char **scratch_out, const char *dsn, const struct dump_in *in,
                enum rg_pg_format format, int jobs, const char *verify_query, int64_t timeout_ms,
                struct rg_err *err)
{
    struct pg_dsn d;
    struct live_db live = {0};
    PGconn *conn = NULL;
    char *scratch = NULL;
    bool created = false;
    int rc;

    *scratch_out = NULL;
    if ((rc = pg_dsn_parse(&d, dsn, err)) < 0)
        goto out;
    if (timeout_ms <= 0) {
        rc = rg_err_set(err, RG_EINVAL, "restore timeout must be positive");
        goto out;
    }
    if ((rc = pg_connect(&conn, &d, "postgres", err)) < 0 ||
        (rc = live_read(&live, conn, d.dbname, err)) < 0 ||
        (rc = pg_unique_dbname(&scratch, conn, d.dbname, "_rg_scratch_", err)) < 0 ||
        (rc = scratch_create(conn, scratch, &live, err)) < 0)
        goto out;
    created = true;
    if (format == RG_PG_CUSTOM)
        rc = restore_custom(conn, &d, scratch, in, jobs, timeout_ms, err);
    else if (in->file || (rc = spool(in, err)) == 0)
        rc = restore_plain(&d, scratch, in->file ? in->file : in->work, timeout_ms, err);
    if (rc == 0 && verify_query)
        rc = verify(&d, scratch, verify_query, timeout_ms, err);
    if (rc < 0)
        goto out;
    *scratch_out = scratch;
    scratch = NULL;
out:
    if (rc < 0 && created) {
        struct rg_err derr;
        /* The restore's error is the one to report; a failed drop is added to it. A long
         * restore may have outlived the idle maintenance connection. */
        if (PQstatus(conn) != CONNECTION_OK)
            PQreset(conn);
        if (scratch_drop(conn, scratch, &derr) < 0 && err) {
            struct rg_err first = *err;
            rg_err_set(err, first.code, "%s; scratch database '%s' was left behind: %s", first.msg,
                       scratch, derr.msg);
        }
    }
    pg_scrub_err(rc, err, &d);
    PQclear(live.res);
    PQfinish(conn);
    free(scratch);
    pg_dsn_release(&d);
    return rc;
}

static int
read_fd(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err)
{
    const struct dump_file *f = ctx;
    ssize_t k;

    do
        k = read(f->fd, buf, cap);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return rg_err_sys(err, RG_EIO, "cannot read dump '%s'", f->path);
    *got = (size_t)k;
    return 0;
}

int
rg_pg_restore_scratch(char **scratch_out, const char *dsn, const char *dump_path,
                      enum rg_pg_format format, int jobs, const char *verify_query,
                      int64_t timeout_ms, struct rg_err *err)
{
    struct dump_file f = {.path = dump_path};
    struct dump_in in = {.read = read_fd, .ctx = &f, .file = dump_path};
    struct stat st;
    int rc;

    *scratch_out = NULL;
    f.fd = open(dump_path, O_RDONLY | O_CLOEXEC);
    if (f.fd < 0 || fstat(f.fd, &st) < 0) {
        rc = rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot read dump '%s'",
                        dump_path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = rg_err_set(err, RG_EINVAL, "dump '%s' is not a regular file", dump_path);
    } else {
        posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        rc = restore_scratch(scratch_out, dsn, &in, format, jobs, verify_query, timeout_ms, err);
    }
    if (f.fd >= 0)
        close(f.fd);
    return rc;
}

int
rg_pg_restore_scratch_stream(char **scratch_out, const char *dsn,
                             const struct rg_pg_dump_reader *src, const char *work_path,
                             enum rg_pg_format format, int jobs, const char *verify_query,
                             int64_t timeout_ms, struct rg_err *err)
{
    struct dump_in in = {.read = src->read, .ctx = src->ctx, .work = work_path};

    *scratch_out = NULL;
    return restore_scratch(scratch_out, dsn, &in, format, jobs, verify_query, timeout_ms, err);
}
