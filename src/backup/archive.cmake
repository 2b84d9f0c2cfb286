# The archive half of the backup module: writing, verifying and extracting backups.
list(APPEND RG_BACKUP_SOURCES
    src/backup/archive_write.c src/backup/archive_read.c src/backup/manifest.c
    src/backup/sha256.c src/backup/archive_dbpipe.c src/backup/archive_dbstream.c)
# Every byte of every backup goes through SHA-256 three or four times (write, verify, extract):
# optimise it even in a build without a build type.
set_source_files_properties(src/backup/sha256.c PROPERTIES COMPILE_OPTIONS -O2)
