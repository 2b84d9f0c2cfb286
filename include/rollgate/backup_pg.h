/* The PostgreSQL half of the backup module: a streamed pg_dump, a restore into a scratch
 * database that is verified before anything live is touched, a swap that keeps the replaced
 * database, and a content checksum. DSNs are libpq connection strings and carry passwords: these
 * never reach argv (the pg_* tools get PGPASSWORD in their environment) nor any error message. */
#ifndef ROLLGATE_BACKUP_PG_H
#define ROLLGATE_BACKUP_PG_H

#include <stdint.h>

#include "rollgate/err.h"

/* Seconds libpq and the pg_* tools wait for a connection unless the DSN says otherwise. */
#define RG_PG_CONNECT_TIMEOUT_S 10

/* The server's version as "15.18" (major.minor), newly allocated in *out. RG_EINVAL for a DSN
 * libpq cannot parse, RG_EDB when the server cannot be reached. */
int rg_pg_server_version(char **out, const char *dsn, struct rg_err *err);

/* The database a DSN names (dbname, else PGDATABASE, else the user as libpq defaults), newly
 * allocated in *out. RG_EINVAL for a DSN libpq cannot parse or that names no database. */
int rg_pg_dbname(char **out, const char *dsn, struct rg_err *err);

struct rg_pg_dump;

/* Starts `pg_dump --format=custom --compress=0 --no-password -d <dsn without password>` (the
 * archive compresses) and sets *fd_out to the read end of its stdout, owned by *out: read it to
 * end of file, then call rg_pg_dump_finish (or rg_pg_dump_abandon on an error path). The deadline
 * timeout_ms counts from the start and covers the whole dump. Errors: RG_EINVAL (bad DSN or
 * timeout), RG_ENOENT (no pg_dump in PATH), RG_EIO. A dump written to a pipe has no data offsets
 * in its table of contents: pg_restore --jobs still works on it from a regular file, but each
 * worker skims the file to find its blocks (see rg_pg_restore_scratch). */
int rg_pg_dump_start(struct rg_pg_dump **out, int *fd_out, const char *dsn, int64_t timeout_ms,
                     struct rg_err *err);

/* Waits for pg_dump and frees d. RG_EDB with the tail of pg_dump's stderr when it exited
 * non-zero or was killed, RG_ETIMEOUT when the deadline passed, RG_EIO when waiting failed. */
int rg_pg_dump_finish(struct rg_pg_dump *d, struct rg_err *err);

/* Kills pg_dump's process group, reaps it and frees d. Accepts NULL. */
void rg_pg_dump_abandon(struct rg_pg_dump *d);

enum rg_pg_format { RG_PG_CUSTOM, RG_PG_PLAIN };

/* Restores dump_path into a new database `<db>_rg_scratch_<YYYYmmddHHMMSS>` (UTC; the live name
 * is shortened to fit 63 bytes, and `_2`, `_3`… added when the name is taken), created from
 * template0 with the live database's encoding, collation, ctype (and ICU locale) and owner.
 * Custom format: `pg_restore --jobs=<jobs> --exit-on-error`, keeping the dump's owners when every
 * role it names exists and otherwise with --no-owner (objects then belong to the DSN's user).
 * Plain SQL: `psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f`. Then verify_query (NULL:
 * none) runs on the scratch database and must return one row whose first column is true. The
 * live database is only read. On success *scratch_out gets the scratch name (newly allocated).
 * On failure the scratch database is dropped and: RG_ENOENT (live database or dump file
 * missing), RG_EDB with the tool's stderr tail or "verification query returned false", or the
 * query's error, RG_ETIMEOUT (the tool's deadline timeout_ms passed), RG_EINVAL, RG_EIO. */
int rg_pg_restore_scratch(char **scratch_out, const char *dsn, const char *dump_path,
                          enum rg_pg_format format, int jobs, const char *verify_query,
                          int64_t timeout_ms, struct rg_err *err);

/* A dump read once, in order: read puts up to cap bytes into buf and sets *got (0 at the end),
 * or returns <0 with err set. */
struct rg_pg_dump_reader {
    int (*read)(void *ctx, void *buf, size_t cap, size_t *got, struct rg_err *err);
    void *ctx;
};

/* rg_pg_restore_scratch with the dump read from src (a backup archive being decompressed)
 * instead of a file. Table rows go from the stream straight into the scratch database; what
 * pg_restore or psql needs as a file is written to work_path (created 0600, must not exist;
 * the caller removes it): for the custom format with jobs > 1 only the dump's head and the
 * data blocks rollgate does not load itself (large objects, unusual tables), otherwise the
 * whole dump. Errors as rg_pg_restore_scratch, and src's own. */
int rg_pg_restore_scratch_stream(char **scratch_out, const char *dsn,
                                 const struct rg_pg_dump_reader *src, const char *work_path,
                                 enum rg_pg_format format, int jobs, const char *verify_query,
                                 int64_t timeout_ms, struct rg_err *err);

/* Puts scratch in place of the DSN's database without dropping anything: connections to the live
 * database are refused (ALLOW_CONNECTIONS false), its sessions terminated (again, for up to 10 s,
 * since applications reconnect), it is renamed to `<live>_pre_restore_<YYYYmmddHHMMSS>`, scratch
 * is renamed to the live name, and both allow connections again. If a step fails after the live
 * database was renamed, it is renamed back and allows connections again before the error is
 * returned. On success *replaced_out gets the kept database's name (newly allocated). Errors:
 * RG_ENOENT (live or scratch database missing), RG_EBUSY (sessions kept the live database busy),
 * RG_EDB, RG_EINVAL. */
int rg_pg_swap(char **replaced_out, const char *dsn, const char *scratch, struct rg_err *err);

/* A checksum of a database's content, for tests and restore reports: for every user table in
 * (schema, name) order its row count and the md5 of its rows as text in byte order, all combined
 * into "<n> tables, <rows> rows, md5 <hex>" (newly allocated). Reads every row. RG_EINVAL,
 * RG_EDB. */
int rg_pg_content_checksum(char **out, const char *dsn, struct rg_err *err);

#endif
