/* Private to cli: progress output of a run. */
#ifndef ROLLGATE_CLI_PROGRESS_H
#define ROLLGATE_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "rollgate/engine.h"

struct rg_progress {
    FILE *out;
    bool json;        /* one JSON event per line */
    bool tty;         /* a live line for gates being waited on */
    bool live_shown;
    int64_t state_started;
    const char *target;
};

void rg_progress_init(struct rg_progress *p, FILE *out, bool json, const char *target);
/* An engine report callback (data: struct rg_progress). */
void rg_progress_report(const struct rg_report *r, void *data);

#endif
