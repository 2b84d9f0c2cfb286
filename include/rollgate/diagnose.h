/* Diagnose: why nginx answers 502 or 504 for a target, named from what the stack shows — nginx's
 * error and access logs, its configuration against the running services, the containers or
 * units, PostgreSQL's connections, the app's own log lines, disk space — as ranked findings,
 * each with the evidence that proves it and the runbooks' fix, concrete for this stack. */
#ifndef ROLLGATE_DIAGNOSE_H
#define ROLLGATE_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/playbook.h"
#include "rollgate/util.h"

struct rg_driver;

/* One cause, as a person reads it. */
struct rg_finding {
    char cause[48];  /* a stable name: "app-down", "upstream-port", "pg-connections", ... */
    int confidence;  /* 0-100: how sure the evidence makes it */
    char *title;     /* one line: what is wrong */
    char *evidence;  /* the lines that prove it: log lines with their time, config file:line,
                        a measured value against its limit; secrets redacted */
    char *fix;       /* what to do, for this stack */
};

struct rg_diagnosis {
    struct rg_finding *findings; /* ranked: the most likely cause first */
    size_t n;
    struct rg_strv notes; /* what could not be looked at, and why ("no error log at ...") */
    int64_t since_ms;     /* the window looked at */
    int64_t elapsed_ms;
};

struct rg_diagnose_opts {
    int64_t since_ms;    /* Unix ms: log lines from here count; 0: the last 15 minutes */
    int64_t deadline_ms; /* how long diagnose may take in all; 0: 10 s */
    /* Called once the containers or units were read (NULL: none): a caller about to change
     * them waits for it. */
    void (*collected)(void *data);
    void *collected_data;
};

/* Looks at the target of pb (through its open driver d) and fills out. Returns 0 whether or not
 * causes were found (out->n says); RG_EIO when nothing at all could be read (no containers or
 * units, no nginx log or configuration, no database): out->notes say why. */
int rg_diagnose(struct rg_diagnosis *out, const struct rg_playbook *pb, struct rg_driver *d,
                const struct rg_diagnose_opts *o, struct rg_err *err);
void rg_diagnosis_release(struct rg_diagnosis *dx);

/* The diagnosis as text (for a terminal, a run's evidence, history) and as JSON (a string). */
void rg_diagnosis_text(struct rg_buf *out, const struct rg_diagnosis *dx);
char *rg_diagnosis_json(const struct rg_diagnosis *dx);

#endif
