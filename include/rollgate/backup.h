/* Backups and restore of a target's data: the database (pg_dump, custom format, streamed into
 * the archive) and the filestore, kept as one archive per backup and recorded in the ledger
 * with the release they belong to; a restore goes into a scratch database, is verified, and is
 * swapped in by renames, keeping what it replaced. The pieces are in backup_archive.h (the
 * archive format) and backup_pg.h (PostgreSQL). */
#ifndef ROLLGATE_BACKUP_H
#define ROLLGATE_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/ledger.h"
#include "rollgate/playbook.h"
#include "rollgate/util.h"

#define RG_BACKUP_DEFAULT_TIMEOUT_MS (6 * 60 * 60 * 1000) /* a dump or a restore: 6 h */

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
    char database[128];     /* the live database, now holding the restored data */
    char replaced_db[192];  /* the database it replaced, kept: "<db>_pre_restore_<time>" */
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
 * dropped: it is kept under res->replaced_db, as the filestore is under res->replaced_fs. */
int rg_backup_restore(struct rg_restore_result *res, const struct rg_playbook *pb, const char *path,
                      const struct rg_restore_opts *o, struct rg_err *err);

#endif
