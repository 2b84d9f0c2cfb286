/* Backup archives: writing rollgate backups (pax tar + zstd, manifest last) from a pg_dump pipe
 * or a copy of a SQLite database, and a filestore, and verifying or extracting rollgate backups, Odoo zips and plain SQL files
 * without trusting anything inside them. */
#ifndef ROLLGATE_BACKUP_ARCHIVE_H
#define ROLLGATE_BACKUP_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"

/* The database dump is cut into members of at most this many bytes, each buffered in memory
 * once (a tar header carries the size before the data, and the dump is never spooled to disk). */
#define RG_ARCHIVE_PART_SIZE ((size_t)32 * 1024 * 1024)
/* The one manifest format this rollgate writes and reads. */
#define RG_ARCHIVE_FORMAT "rollgate-backup"
#define RG_ARCHIVE_VERSION 1

/* What a backup says about itself. Every string is owned by the struct (release frees them). */
struct rg_archive_manifest {
    char *target, *tag, *digest; /* digest may be NULL */
    char *db_name, *server_version;
    char *db_format;  /* "custom" (pg_dump -Fc) or "plain" (SQL text); "sqlite" (the database
                       * file as SQLite's online backup copied it) */
    char *db_kind;    /* "postgresql" or "sqlite", from the format (manifest "database.kind";
                       * read as "postgresql" from backups written before it existed) */
    char *created_at; /* RFC 3339 UTC, "2026-11-21T10:00:00Z" */
    char *rollgate_version;
    int version;        /* manifest version, RG_ARCHIVE_VERSION */
    uint64_t db_size;   /* bytes of the whole dump */
    char db_sha256[65]; /* lowercase hex of the whole dump */
    size_t db_parts;
    bool has_filestore;
    uint64_t fs_files, fs_size; /* regular files in the filestore and their bytes */
};

/* Frees the strings of m and zeroes it; m itself is the caller's. NULL is accepted. */
void rg_archive_manifest_release(struct rg_archive_manifest *m);

/* ---- writing ---------------------------------------------------------------------------------
 * Order: open, add_database (once, required), add_filestore (at most once, optional), commit,
 * free. Members land in that order and manifest.json is the last member. Until commit the data
 * is in "<final path>.partial"; freeing an uncommitted writer removes it.
 *
 * Memory: one RG_ARCHIVE_PART_SIZE buffer while add_database runs (freed after), 64 KiB for
 * file copies, and one small record per member for the manifest. */
struct rg_archive_writer;

/* Starts a backup at path (normally "<name>.tar.zst"). When the zstd filter is unavailable at
 * run time the backup is gzip-compressed and a ".tar.zst" suffix becomes ".tar.gz": ask
 * rg_archive_writer_path() for the name really used. Creates "<final>.partial" with O_EXCL.
 * Errors: RG_EINVAL "backup '<final>' already exists" (never overwritten),
 * RG_EIO "cannot create '<final>.partial': <strerror>" (EEXIST: another backup is running or
 * one was interrupted), RG_EIO for libarchive setup failures. */
int rg_archive_writer_open(struct rg_archive_writer **out, const char *path, struct rg_err *err);

/* The final path of the backup (borrowed from w). */
const char *rg_archive_writer_path(const struct rg_archive_writer *w);

/* Reads fd to EOF into members database.dump.NNNNNN (db_format "custom"), database.sql.NNNNNN
 * ("plain") or database.sqlite.NNNNNN ("sqlite") of at most RG_ARCHIVE_PART_SIZE bytes each; at
 * least one part is written. fd is borrowed (not closed) and is normally the read end of a pipe
 * from pg_dump, or a SQLite copy opened read-only; a non-blocking fd is waited on with poll().
 * EOF only means the writer closed the pipe: the caller must check pg_dump's exit status before
 * commit and free the writer without committing if it failed. The manifest's database.kind
 * follows from the format ("postgresql" or "sqlite").
 * Errors: RG_EINVAL "unknown database format '<x>' (use 'custom', 'plain' or 'sqlite')" and
 * "the database was already added"; RG_EIO "cannot read the database dump: <strerror>" and
 * "cannot write backup '<final>': <libarchive message>". After an error the writer can only be
 * freed. */
int rg_archive_writer_add_database(struct rg_archive_writer *w, int fd, const char *db_format,
                                   struct rg_err *err);

/* Adds the tree under dir as "filestore" and "filestore/<relative path>" members: directories
 * and regular files only, walked with openat/fdopendir and O_NOFOLLOW so nothing outside dir is
 * followed. Errors: RG_EINVAL "cannot back up '<path>': it is a symbolic link (a filestore may
 * hold only directories and regular files)" (likewise "a device file", "a fifo", "a socket"),
 * "cannot back up '<path>': it changed while being read", "filestore '<dir>' is nested deeper
 * than 128 directories", "the filestore was already added" or "the filestore must be added
 * after the database"; RG_ENOENT/RG_EIO "cannot open '<path>': <strerror>"; RG_EIO for write
 * failures. After an error the writer can only be freed. */
int rg_archive_writer_add_filestore(struct rg_archive_writer *w, const char *dir,
                                    struct rg_err *err);

/* Writes manifest.json (the sizes, checksums and member list are the writer's own; m gives
 * target, tag, digest, db_name, server_version and created_at, which defaults to now when
 * NULL), closes the archive (checking archive_write_close, which flushes the last block),
 * fsyncs the file, renames "<final>.partial" to the final path without ever replacing an
 * existing file, and fsyncs the directory. *size_out (may be NULL) gets the file's size.
 * Errors: RG_EINVAL "the database was never added", "manifest field 'target' is missing",
 * "backup '<final>' already exists"; RG_EIO for write, fsync or rename failures. */
int rg_archive_writer_commit(struct rg_archive_writer *w, const struct rg_archive_manifest *m,
                             uint64_t *size_out, struct rg_err *err);

/* Frees w; without a successful commit removes "<final>.partial". NULL is accepted. */
void rg_archive_writer_free(struct rg_archive_writer *w);

/* ---- reading --------------------------------------------------------------------------------- */
enum rg_archive_kind {
    RG_ARCHIVE_ROLLGATE,  /* tar.zst (or tar.gz) written by rg_archive_writer_* */
    RG_ARCHIVE_ODOO_ZIP,  /* Odoo's zip: dump.sql, filestore/..., manifest.json */
    RG_ARCHIVE_PLAIN_SQL, /* a file ending ".sql" or ".sql.gz": one member "database.sql" */
};

/* Defaults for a field left 0. */
#define RG_ARCHIVE_DEFAULT_MAX_MEMBER ((uint64_t)64 << 30) /* 64 GiB, uncompressed */
#define RG_ARCHIVE_DEFAULT_MAX_TOTAL ((uint64_t)256 << 30) /* 256 GiB, all members */
#define RG_ARCHIVE_DEFAULT_MAX_MEMBERS ((size_t)1000000)
/* manifest.json is held in memory: never more than this (nor than max_member). */
#define RG_ARCHIVE_MAX_MANIFEST ((uint64_t)256 << 20)

struct rg_archive_limits {
    uint64_t max_member; /* uncompressed bytes of one member */
    uint64_t max_total;  /* uncompressed bytes of all members (decompression bombs) */
    size_t max_members;
};

/* Which file an archive is, and its state: a file changed in any way since (written, truncated,
 * replaced) has another size, modification or change time, or inode. */
struct rg_archive_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
};

struct rg_archive_info {
    enum rg_archive_kind kind;
    /* For a rollgate backup: the manifest (checked against the archive). For an Odoo zip:
     * db_format "plain", db_kind "postgresql", db_name and server_version from Odoo's
     * manifest.json when present (db_name/pg_version), tag, target, digest, created_at NULL.
     * For a plain SQL file: db_format "plain", db_kind "postgresql", everything else NULL. In every kind db_size, db_sha256, db_parts,
     * has_filestore, fs_files and fs_size are what the archive holds. */
    struct rg_archive_manifest manifest;
    uint64_t file_size;                /* bytes of the archive file */
    struct rg_archive_file_id file_id; /* the file as it was when verification began */
    size_t members;                    /* members read, manifest.json included */
};

/* Frees what info holds and zeroes it. NULL is accepted. */
void rg_archive_info_release(struct rg_archive_info *info);

/* Reads the whole file once, detects its kind (by content: zstd/gzip tar, zip; by name: ".sql",
 * ".sql.gz") and checks every member; a rollgate backup is also checked against its manifest.
 * Changes nothing anywhere. On success *out is filled (release it); on error it is zeroed.
 *
 * Errors are RG_EINVAL (RG_ENOENT/RG_EIO when the file cannot be opened or read) with one of
 * these messages, where P is the archive path and M the member:
 *   backup 'P': member 'M' is an absolute path
 *   backup 'P': member 'M' escapes the archive (a '..' component)
 *   backup 'P': member 'M' is not a clean path (an empty or '.' component)
 *   backup 'P': member 'M' is a link to 'T' that points outside the archive
 *   backup 'P': member 'M' is a link to 'T': links are not allowed in a backup
 *   backup 'P': member 'M' is a device file     (also: is a fifo, is a socket, has an unknown type)
 *   backup 'P': member 'M' is larger than the limit of N    (N like "64 GiB" or "1000 bytes")
 *   backup 'P': member 'M' takes the total size past the limit of N
 *   backup 'P': member 'M' is past the limit of N members
 *   backup 'P': member 'M' appears twice
 *   backup 'P': member 'M' is not part of a rollgate backup   (or: of an odoo backup)
 *   backup 'P': member 'M' is a directory where a file is expected   (and the reverse)
 *   backup 'P': member 'M' is out of order (expected 'E')   (or: the database parts come first)
 *   backup 'P': member 'M' comes after the manifest
 *   backup 'P': member 'M' is not listed in the manifest
 *   backup 'P': member 'M' is listed in the manifest but missing from the archive
 *   backup 'P': member 'M': size mismatch: manifest says A bytes, archive has B bytes
 *   backup 'P': member 'M': checksum mismatch: manifest says X, archive has Y
 *   backup 'P': member 'M': type mismatch: manifest says dir, archive has file
 *   backup 'P': member 'M' is truncated or corrupt: <libarchive message>
 *   backup 'P' is truncated or corrupt after member 'M': <libarchive message>
 *       (or "backup 'P' is truncated or corrupt: <message>" before the first member)
 *   backup 'P': member 'manifest.json' is missing
 *   backup 'P': member 'manifest.json' is not valid JSON: <jansson text> (line L, column C)
 *   backup 'P': unknown manifest format 'F' (this rollgate reads 'rollgate-backup')
 *   backup 'P': unknown manifest version V (this rollgate reads version 1)
 *   backup 'P': manifest field 'F' is missing or has the wrong type  (or: has a bad value)
 *   backup 'P': manifest lists member 'M' twice
 *   backup 'P': database: checksum mismatch / size mismatch / parts mismatch (manifest says…)
 *   backup 'P': filestore: files mismatch / size mismatch (manifest says …, archive has …)
 *   backup 'P': the database parts are 'database.sql.*' but the manifest says format 'custom'
 *   backup 'P': manifest field 'database.kind' has a bad value   (a kind its format is not of)
 *   backup 'P': odoo zip has no member 'dump.sql'
 *   backup 'P' is not a rollgate backup, an odoo zip or a .sql file
 *   backup 'P' is not a regular file */
int rg_archive_verify(struct rg_archive_info *out, const char *path,
                      const struct rg_archive_limits *limits, struct rg_err *err);

/* Extracts path while verifying it, in one pass (as rg_archive_verify checks it): the database
 * dump (or SQLite file), its parts concatenated, into db_path (created O_EXCL|O_NOFOLLOW, mode
 * 0600, a regular file because pg_restore --jobs needs one); the filestore into fs_dir (must not exist; created
 * 0700 on the first filestore member; directories 0700 | (mode & 0755), files
 * 0600 | (mode & 0755), each created with openat(..., O_CREAT|O_EXCL|O_NOFOLLOW)). Every member
 * passes its path, type and limit checks before any byte of it is written, and nothing is
 * written anywhere but db_path and fs_dir; the checksums and the manifest are checked at the
 * end, and on any failure everything created is removed and the error returned: the verify
 * errors above, RG_EINVAL "cannot extract to 'X': it already exists", RG_EIO for write
 * failures. So a caller that only uses the output after success has verified the whole archive
 * before using any of it. For a rollgate backup "filestore/X" becomes fs_dir/X; for an Odoo zip
 * likewise. fs_dir may be NULL to skip the filestore, db_path NULL to verify the dump without
 * writing it (rg_archive_dbstream_open reads it again). On success the filestore and its parent
 * are fsynced; the dump file is not (it is a working copy read once). info_out (may be NULL)
 * gets what rg_archive_verify gives. */
int rg_archive_extract(const char *path, const char *db_path, const char *fs_dir,
                       const struct rg_archive_limits *limits, struct rg_archive_info *info_out,
                       struct rg_err *err);

/* The database dump of an archive that rg_archive_extract or rg_archive_verify has verified,
 * read a second time as a stream (its parts in order), so that a restore need not write it to
 * disk first. The file must still be the one verified (info->file_id: same inode, size,
 * modification and change time) when the stream opens and when it ends; the bytes are checked
 * again against the verified size, and the members read must be the database's.
 * Errors: RG_EINVAL "backup 'P' changed after it was verified: restore it again", "backup 'P'
 * is truncated or corrupt: <libarchive message>", "backup 'P': the database has A bytes now,
 * B when it was verified"; RG_EIO. */
struct rg_archive_dbstream;
int rg_archive_dbstream_open(struct rg_archive_dbstream **out, const char *path,
                             const struct rg_archive_info *verified, struct rg_err *err);
/* Up to cap bytes of the dump into buf; *got 0 at its end, after the checks above. */
int rg_archive_dbstream_read(struct rg_archive_dbstream *s, void *buf, size_t cap, size_t *got,
                             struct rg_err *err);
/* Frees s (NULL accepted). */
void rg_archive_dbstream_close(struct rg_archive_dbstream *s);

#endif
