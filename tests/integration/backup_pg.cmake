# The PostgreSQL half of the backup module against the stack's PostgreSQL. live.c needs the
# runtime; the test's fixtures use libpq directly.
rg_integration_test(backup_pg rg_backup rg_runtime PkgConfig::LIBPQ)
