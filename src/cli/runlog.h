/* Private to cli: the run log — a run's output kept in a file under the state directory (or
 * where --log says), recorded in the ledger, ended by a line "rollgate: exit N"; and following
 * one, for `attach`, `wait` and the git hook that streams a deploy to its pusher. */
#ifndef ROLLGATE_CLI_RUNLOG_H
#define ROLLGATE_CLI_RUNLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "progress.h"
#include "rollgate/err.h"

#define RG_RUNLOG_EXIT_PREFIX "rollgate: exit "

struct rg_runlog {
    char *path;
    FILE *file;             /* opened at the run's start; NULL before, or when stdout is it */
    bool is_stdout;         /* a worker's stdout is the log itself: nothing to copy */
    struct rg_progress log; /* the plain-text progress written to file */
    struct rg_progress *shown; /* what the caller shows (terminal or JSON) */
};

/* <state_dir>/logs/<target>-<UTC time>-<pid>.log, to free(). */
char *rg_runlog_default_path(const char *state_dir, const char *target);
/* A run log at path (kept), copying what shown prints. Nothing is created until the run
 * starts (a run refused at the lock leaves no file). */
void rg_runlog_init(struct rg_runlog *rl, const char *path, const char *target,
                    struct rg_progress *shown);
/* An engine report callback (data: struct rg_runlog). */
void rg_runlog_report(const struct rg_report *r, void *data);
/* Ends the log with "rollgate: exit N" (and stdout too, when it is the log) and closes it. */
void rg_runlog_finish(struct rg_runlog *rl, int exit_code);

enum rg_follow_end {
    RG_FOLLOW_EXIT,     /* the log's exit line was read: *exit_code holds it */
    RG_FOLLOW_GONE,     /* the writer is gone without an exit line (killed) */
    RG_FOLLOW_TIMEOUT,  /* the deadline passed first */
    RG_FOLLOW_CLOSED,   /* out could not be written (the reader went away: EPIPE) */
};

/* Follows the log at path from its start: each complete line is written to out (when not
 * NULL; control characters other than tab removed, so that no escape reaches a terminal
 * through git's sideband) until the exit line. alive(data) is asked when the file has nothing
 * new: false means the writer is gone. deadline_ms 0: none (monotonic ms otherwise). */
enum rg_follow_end rg_runlog_follow(FILE *out, const char *path, bool (*alive)(void *data),
                                    void *data, int64_t deadline_ms, int *exit_code,
                                    struct rg_err *err);

#endif
