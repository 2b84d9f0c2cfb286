# The PostgreSQL half of the backup module: streamed pg_dump, restore into a scratch database,
# swap, content checksum.
list(APPEND RG_BACKUP_SOURCES
    src/backup/pg_conn.c src/backup/pg_dump.c src/backup/pg_restore.c src/backup/pg_swap.c
    src/backup/pgdump_format.c src/backup/pg_load.c)
