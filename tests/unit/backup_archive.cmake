# Unit tests of the backup archives; libarchive is linked too, to build hostile archives.
rg_unit_test(backup_archive rg_backup PkgConfig::LIBARCHIVE Threads::Threads)
set_tests_properties(unit_backup_archive PROPERTIES TIMEOUT 120)
