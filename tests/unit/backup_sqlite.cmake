# Unit tests of SQLite backups: real database files in a temporary directory, a writer thread.
rg_unit_test(backup_sqlite rg_backup PkgConfig::SQLITE3 Threads::Threads)
set_tests_properties(unit_backup_sqlite PROPERTIES TIMEOUT 120)
