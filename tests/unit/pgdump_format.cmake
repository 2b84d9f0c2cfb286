# Unit tests of the reader of pg_dump's custom format (hand-built dumps and a real one).
rg_unit_test(pgdump_format rg_backup)
set_tests_properties(unit_pgdump_format PROPERTIES TIMEOUT 300)
