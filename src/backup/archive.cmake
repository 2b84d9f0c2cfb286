# The archive half of the backup module: writing, verifying and extracting backups.
list(APPEND RG_BACKUP_SOURCES
    src/backup/archive_write.c src/backup/archive_read.c src/backup/manifest.c
    src/backup/sha256.c)
