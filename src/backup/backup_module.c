/* The backup module's library target; its halves (archive.cmake, pg.cmake) add the sources. */
const char rg_backup_module_name[] = "backup";
