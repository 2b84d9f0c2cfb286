/* Private to ledger: the handle and the statement helpers its files share. */
#ifndef ROLLGATE_LEDGER_INTERNAL_H
#define ROLLGATE_LEDGER_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>

#include "rollgate/ledger.h"

struct rg_ledger {
    sqlite3 *db;
    char *path;
    char *target;
};

/* A condition on a row's tag and digest columns: no quarantine in force names either. */
#define LEDGER_NOT_QUARANTINED                                                                     \
    "tag NOT IN (SELECT tag FROM quarantine WHERE allowed_ms = 0) AND (digest = '' OR digest "     \
    "NOT IN (SELECT digest FROM quarantine WHERE allowed_ms = 0 AND digest != ''))"

/* Prepares sql, binds the arguments described by types ('i' int64, 't' text), steps it once.
 * Returns 1 with *st_out holding the row (finalize it), 0 when there was no row, or an error. */
int ledger_run(sqlite3_stmt **st_out, struct rg_ledger *l, const char *sql, const char *types,
               struct rg_err *err, ...);
int ledger_db_error(struct rg_ledger *l, struct rg_err *err, const char *what);
void ledger_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col);

#endif
