/* Backups and restore of a target's data: the database (PostgreSQL: pg_dump, custom format,
 * streamed into the archive; SQLite: a copy through SQLite's online backup) and the filestore,
 * kept as one archive per backup and recorded in the ledger with the release they belong to; a
 * restore goes into a scratch database (PostgreSQL) or a copy next to the live file (SQLite), is
 * verified, and is swapped in by renames, keeping what it replaced. The pieces are in
 * backup_archive.h (the archive format), backup_pg.h (PostgreSQL) and below (SQLite). */
#ifndef ROLLGATE_BACKUP_H
#define ROLLGATE_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/ledger.h"
#include "rollgate/playbook.h"
#include "rollgate/util.h"

#define RG_BACKUP_DEFAULT_TIMEOUT_MS (6 * 60 * 60 * 1000) /* a dump or a restore: 6 h */

/* backup.database of a SQLite database: "sqlite://" and the file's absolute path. */
#define RG_BACKUP_SQLITE_PREFIX "sqlite://"

/* Takes a backup of the playbook's database and filestore into backup.dir as the data of
 * release tag (digest may be NULL; tag NULL or "": taken by hand with no release serving),
 * records it in the ledger against deploy_id (0: by hand), then applies retention (see
 * rg_backup_prune). *out describes the backup. Nothing is left behind on failure. */
int rg_backup_take(struct rg_backup_row *out, struct rg_ledger *l, const struct rg_playbook *pb,
                   const char *tag, const char *digest, int64_t deploy_id, struct rg_err *err);

/* Retention: keeps the newest backup.keep backups and, whatever their age, the newest backup of
 * the release serving now (live_tag) and of the previous known-good release; removes the
 * archives of the others and marks them deleted in the ledger. The removed paths are appended to
 * removed (may be NULL). */
int rg_backup_prune(struct rg_strv *removed, struct rg_ledger *l, const struct rg_playbook *pb,
                    const char *live_tag, struct rg_err *err);

/* Checks every checksum and the structure of a backup (rg_archive_verify) and records the check
 * in the ledger when id > 0. */
int rg_backup_verify(struct rg_ledger *l, int64_t id, const char *path, struct rg_err *err);

struct rg_restore_opts {
    int jobs;           /* pg_restore --jobs; 0: 2 */
    int64_t timeout_ms; /* 0: RG_BACKUP_DEFAULT_TIMEOUT_MS */
};

struct rg_restore_result {
    char kind[16]; /* rollgate, odoo-zip, plain-sql */
    char tag[136]; /* the release the backup belongs to ("" when it does not say) */
    char digest[200];
    /* The live database, now holding the restored data (SQLite: the file's path). */
    char database[1024];
    /* The database it replaced, kept: "<db>_pre_restore_<time>" (PostgreSQL) or the file
     * "<path>.pre_restore_<time>", with its -wal, -shm and -journal files likewise (SQLite). */
    char replaced_db[1024];
    char replaced_fs[1024]; /* the filestore it replaced, kept ("" when none was swapped) */
    uint64_t db_size;       /* bytes of the dump restored */
    int64_t elapsed_ms;
    bool changed; /* the live database was swapped (also when a later step failed) */
};

/* Restores the backup at path into the playbook's database (and filestore, when both the
 * playbook and the backup have one): verifies the whole archive before anything is changed,
 * extracts it next to its destinations, restores into a scratch database, runs
 * backup.verify_query there, then swaps the scratch database in by renames (connections to the
 * live one blocked and ended first) and the filestore likewise. The live database is never
 * dropped: it is kept under res->replaced_db, as the filestore is under res->replaced_fs.
 *
 * A SQLite database (backup.database "sqlite:///path") is restored from a backup of format
 * "sqlite" only: the file is extracted next to the live one as "<path>.restoring_<time>",
 * must pass rg_backup_sqlite_check (integrity_check, then backup.verify_query), and is swapped
 * in by rg_backup_sqlite_swap. The services using it must be stopped (the restore step does).
 * Besides the archive's own errors and those of the check and the swap: RG_EINVAL "backup 'P'
 * holds a PostgreSQL dump (format 'F'), not a SQLite database" (for a PostgreSQL target:
 * "backup 'P' holds a SQLite database, not a PostgreSQL dump"), RG_ENOENT "SQLite database 'D'
 * does not exist (check backup.database)". Until the live database is changed, every error is
 * prefixed "refused, nothing was changed: " (RG_EINVAL) or "failed, nothing was changed: ";
 * res->changed tells whether it was, and the message then says what state things are in. */
int rg_backup_restore(struct rg_restore_result *res, const struct rg_playbook *pb, const char *path,
                      const struct rg_restore_opts *o, struct rg_err *err);

/* ---- SQLite ----------------------------------------------------------------------------------
 * A SQLite target's database is one file (with its -wal and -shm while in use, or a -journal
 * after a crash in the middle of a rollback-journal transaction). */

/* Milliseconds a SQLite connection of rollgate waits on a lock before it answers busy. */
#define RG_BACKUP_SQLITE_BUSY_MS 5000

/* The file a backup.database names: *path_out points into database past "sqlite://"
 * (borrowed), or is NULL when database is not a SQLite one (a PostgreSQL connection string).
 * RG_EINVAL "backup database 'D' is not 'sqlite://' followed by an absolute path (like
 * 'sqlite:///srv/app/data/app.db')" when it starts "sqlite:" but is not of that form. */
int rg_backup_sqlite_path(const char **path_out, const char *database, struct rg_err *err);

/* The version of the SQLite library linked in ("3.40.1"): what wrote a copy. Static string. */
const char *rg_backup_sqlite_version(void);

/* Copies the database at src into a new file dst (created 0600, must not exist) through
 * SQLite's online backup API, consistent while applications keep writing: src is opened
 * read-only with a busy timeout and read inside one read transaction (in WAL mode writers go
 * on meanwhile; in rollback-journal mode their commits wait for it), copied in steps of pages,
 * sleeping between steps while it is busy or locked, until timeout_ms (0: the default backup
 * timeout) has passed. On failure dst is removed. Errors: RG_ENOENT "SQLite database 'S' does
 * not exist", RG_EINVAL "'S' is not a regular file", RG_EDB "cannot copy SQLite database 'S':
 * <sqlite3_errmsg>" (a file that is not a database: "file is not a database"), RG_ETIMEOUT
 * "SQLite database 'S' stayed busy for T ms: the copy was abandoned", RG_EIO for dst. */
int rg_backup_sqlite_copy(const char *src, const char *dst, int64_t timeout_ms,
                          struct rg_err *err);

/* Checks a restored copy before it goes live (it is opened read-write, but query_only: nothing
 * is written to it): `PRAGMA integrity_check` must answer exactly one row "ok", then
 * verify_query (NULL: none; one statement) must return a row whose first column is true (a
 * non-zero number, or 't'/'true'/'1' in any case). Any -wal or -shm file the check made is gone
 * afterwards. Errors, P being path: RG_EINVAL "the restored copy 'P' fails SQLite's integrity
 * check: <first problem> (and N more)" (or ": <sqlite3_errmsg>" when the check cannot run, as
 * for "file is not a database"); RG_EIO "cannot open the restored copy 'P': <sqlite3_errmsg>";
 * RG_EDB "verification query failed on the restored copy 'P': <sqlite3_errmsg>" (or ": it is
 * empty", ": it must be one statement"), "verification query returned no rows on the restored
 * copy 'P'" (likewise "returned null", "returned false"), "verification query returned 'X', not
 * true, on the restored copy 'P'". */
int rg_backup_sqlite_check(const char *path, const char *verify_query, struct rg_err *err);

/* Puts the file restored in place of the live database without deleting anything: restored
 * gets live's owner and mode and is fsynced; live's -wal, -shm and -journal files (those
 * present) and then live itself are renamed to "<live>.pre_restore_<stamp>" (plus the same
 * suffix), so that no old write-ahead log or journal can ever be applied to the restored file;
 * restored is renamed to live (never replacing a file), and the directory fsynced. A live file
 * that does not exist is refused (RG_ENOENT), as is a kept name that already exists (RG_EINVAL).
 * On success *kept_out (newly allocated) names the replaced file. When a rename fails, those
 * done are undone in reverse order: *changed_out stays false and the message ends "(database
 * 'L' was left as it was)"; if undoing fails too, *changed_out is true and the message says
 * which files are where and which `mv` commands put the live database back. */
int rg_backup_sqlite_swap(char **kept_out, bool *changed_out, const char *live,
                          const char *restored, const char *stamp, struct rg_err *err);

#endif
