/* What the archive writer, reader and manifest code share: the member table with its path
 * index, the manifest's JSON form, and small formatting helpers. */
#ifndef ROLLGATE_BACKUP_ARCHIVE_INTERNAL_H
#define ROLLGATE_BACKUP_ARCHIVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/backup_archive.h"
#include "rollgate/err.h"

#define AR_MANIFEST_NAME "manifest.json"
#define AR_FILESTORE "filestore"
#define AR_PART_DIGITS 6
#define AR_MAX_PARTS 999999

enum ar_type { AR_FILE, AR_DIR };

struct ar_member {
    char *path;            /* as in the archive, without a directory's trailing '/' */
    enum ar_type type;
    uint64_t size;         /* files only */
    char sha256[65];       /* files only */
};

/* Members in archive order with an open-addressing index by path (duplicates are refused). */
struct ar_members {
    struct ar_member *v;
    size_t n, cap;
    size_t *slots;         /* index + 1 into v; 0 is empty */
    size_t nslots;         /* a power of two */
};

void ar_members_release(struct ar_members *ms);
/* Appends a copy of path; returns the new member, or NULL when path is already there. */
struct ar_member *ar_members_add(struct ar_members *ms, const char *path, enum ar_type type);
struct ar_member *ar_members_find(const struct ar_members *ms, const char *path);

/* The database formats a rollgate backup holds: "custom" (pg_dump -Fc) and "plain" (SQL text)
 * of PostgreSQL, "sqlite" (a SQLite database file). ar_db_stem gives the stem of the part
 * members ("database.dump", "database.sql", "database.sqlite"; NULL for an unknown format),
 * ar_db_kind the database kind the manifest names ("postgresql" or "sqlite"; NULL likewise). */
const char *ar_db_stem(const char *format);
const char *ar_db_kind(const char *format);
/* The part stem that name ("<stem>.NNNNNN") starts with, or NULL when it is no part. */
const char *ar_db_part_stem(const char *name);

/* manifest.json of a rollgate backup, members in order. Newly allocated. */
char *ar_manifest_format(const struct rg_archive_manifest *m, const struct ar_members *ms);
/* Parses and checks the shape of a rollgate manifest into m and ms; messages start with
 * "backup '<archive>': ". m and ms are released by the caller whatever the result. */
int ar_manifest_parse(struct rg_archive_manifest *m, struct ar_members *ms, const char *text,
                      size_t len, const char *archive, struct rg_err *err);
/* Reads db_name and pg_version from Odoo's manifest.json when they are there; never fails. */
void ar_odoo_manifest_parse(struct rg_archive_manifest *m, const char *text, size_t len);

/* "64 GiB", "32 MiB", "1000 bytes": a size for messages. */
const char *ar_size_format(char *buf, size_t size, uint64_t n);
/* The current time as RFC 3339 UTC ("2026-11-21T10:00:00Z"). Newly allocated. */
char *ar_now_rfc3339(void);

/* ---- reading (archive_read.c) ---- */
struct archive;
struct stat;
/* Opens the archive read-only and tells its kind from its first bytes (and, for SQL, its
 * name); *id says which file it is, as it was when opened. */
int ar_open_archive(int *fd_out, enum rg_archive_kind *kind, bool *gz,
                    struct rg_archive_file_id *id, const char *path, struct rg_err *err);
void ar_file_id(struct rg_archive_file_id *id, const struct stat *st);
/* A libarchive reader for the kind (RG_EIO when a decoder is missing). */
int ar_reader_new(struct archive **out, enum rg_archive_kind kind, bool gz, const char *path,
                  struct rg_err *err);

/* ---- the database dump's checksum and write, on their own thread (archive_dbpipe.c) ---- */
struct ar_dbpipe;
/* Starts the thread into *out; fd is the dump file to write, or -1 to only checksum.
 * RG_EINTERNAL when the checksum cannot be set up. */
int ar_dbpipe_start(struct ar_dbpipe **out, int fd, struct rg_err *err);
/* A buffer of *cap bytes for the next piece (waits while every slot is in use). */
void *ar_dbpipe_slot(struct ar_dbpipe *p, size_t *cap);
/* Hands the slot over with len bytes in it. -1 with errno when an earlier write failed. */
int ar_dbpipe_commit(struct ar_dbpipe *p, size_t len);
/* Waits for the thread to take every slot, writes the whole dump's checksum to hex (may be
 * NULL) and frees p (NULL accepted). -1 with errno when a write failed (err untouched);
 * RG_EINTERNAL in err when the checksum failed. */
int ar_dbpipe_finish(struct ar_dbpipe *p, char hex[65], struct rg_err *err);

#endif
