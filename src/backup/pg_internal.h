/* Shared by the PostgreSQL half of the backup module: a parsed DSN that keeps its password apart,
 * connections, the pg_* tools' argv and environment, and scrubbing of secrets from messages. */
#ifndef ROLLGATE_BACKUP_PG_INTERNAL_H
#define ROLLGATE_BACKUP_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "rollgate/backup_pg.h"
#include "rollgate/spawn.h"
#include "rollgate/util.h"

/* A DSN as libpq parsed it. The password is held apart (wiped on release), so nothing built from
 * keys/vals can carry it. */
struct pg_dsn {
    char **keys; /* every option the DSN set, except password; NULL-terminated */
    char **vals;
    size_t n;
    char *password; /* NULL: none */
    char *dbname;   /* what the DSN connects to (see rg_pg_dbname) */
    char *shown;    /* the DSN redacted, for messages */
};

int pg_dsn_parse(struct pg_dsn *d, const char *dsn, struct rg_err *err);
void pg_dsn_release(struct pg_dsn *d);

/* A connection to dbname (NULL: the DSN's own) with the DSN's other options, a connect_timeout
 * when it sets none, and application_name rollgate-backup. RG_EDB naming the database. */
int pg_connect(PGconn **out, const struct pg_dsn *d, const char *dbname, struct rg_err *err);

/* A key='value' connection string for a pg_* tool's -d: the DSN's options without password,
 * dbname replaced when dbname is non-NULL, connect_timeout added when missing. Newly allocated. */
char *pg_tool_conninfo(const struct pg_dsn *d, const char *dbname);

/* "PGPASSWORD=<password>" for env_extra, or NULL without a password. Wipe with pg_env_free. */
char *pg_env_password(const struct pg_dsn *d);
void pg_env_free(char *kv);

/* Replaces every occurrence of the DSN's password in s with "***" (in place). */
void pg_scrub(char *s, const struct pg_dsn *d);
/* Scrubs err->msg when rc < 0; returns rc. */
int pg_scrub_err(int rc, struct rg_err *err, const struct pg_dsn *d);

/* Runs a query expected to succeed; on failure RG_EDB "<what>: <libpq's first line>". *out
 * (may be NULL to discard) gets the result, which the caller PQclear()s. */
int pg_exec(PGresult **out, PGconn *conn, const char *sql, int nparams, const char *const *params,
            const char *what, struct rg_err *err);

/* The first line of libpq's last error on conn. */
void pg_message(char *out, size_t size, PGconn *conn);

/* Runs a pg_* tool (argv[0] found in PATH) with the DSN's password in its environment and
 * turns a failure into RG_EDB "<what> failed (<how it ended>): <stderr tail>" or RG_ETIMEOUT. */
int pg_tool_run(const char *const *argv, const struct pg_dsn *d, int64_t timeout_ms,
                const char *what, char **stdout_out, struct rg_err *err);

/* Formats a failed tool's end and stderr tail into err (RG_EDB, or RG_ETIMEOUT). */
int pg_tool_error(const struct rg_spawn_result *res, const char *what, struct rg_err *err);

/* The argv of `pg_dump --format=custom --compress=0 --no-password -d <conninfo>`, for
 * rg_pg_dump_start and its tests. */
void pg_dump_argv(struct rg_strv *argv, const struct pg_dsn *d);

/* `<base><suffix><YYYYmmddHHMMSS>` in UTC, base shortened (on a UTF-8 boundary) so the name
 * fits 63 bytes; then `_2`, `_3`… until no database of that name exists on conn. */
int pg_unique_dbname(char **out, PGconn *conn, const char *base, const char *suffix,
                     struct rg_err *err);

/* Quotes an identifier for SQL (PQescapeIdentifier) into *out, newly allocated (rg_ memory).
 * RG_EDB "cannot quote an identifier: <libpq's reason>" when libpq refuses (a name that is not
 * valid in the connection's encoding, out of memory); *out is then NULL. */
int pg_ident(char **out, PGconn *conn, const char *name, struct rg_err *err);
/* Quotes a literal for SQL (PQescapeLiteral) into *out, as pg_ident does; RG_EDB
 * "cannot quote a literal: …". */
int pg_literal(char **out, PGconn *conn, const char *s, struct rg_err *err);

struct pgd_toc;
struct pgd_stream;

/* Loads every table of a custom-format dump that COPY can load (pgd_entry_copyable) into the
 * existing database dbname over `jobs` connections at once, big tables split among them;
 * toc was read from the stream in, which is then read to its end. Every other data block is
 * copied as it is to tee_fd (-1: none): after the dump's head, that makes the skeleton dump
 * pg_restore restores the rest from. loaded[i] (toc->n of them) says which entries it took.
 * On failure some rows may be in; the caller drops the database. */
int pg_load_tables(const struct pg_dsn *d, const char *dbname, const struct pgd_toc *toc,
                   struct pgd_stream *in, int tee_fd, int jobs, int64_t timeout_ms,
                   bool *loaded, struct rg_err *err);

#endif
