/* Private to cli: the reports a CI job reads — a JUnit file, GitHub Actions workflow commands,
 * step summary and outputs, GitLab collapsible sections — built from the engine's reports of a
 * deploy, rollback or resume, or from the verdicts of `check`. */
#ifndef ROLLGATE_CLI_CI_REPORT_H
#define ROLLGATE_CLI_CI_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rollgate/engine.h"
#include "rollgate/err.h"
#include "rollgate/playbook.h"

/* One verdict or stage, as a test case. */
enum rg_ci_case_kind {
    RG_CI_PASS,
    RG_CI_FAILURE, /* a gate that failed, or a stage failed by its gates */
    RG_CI_ERROR,   /* a stage that failed on its own: a tool or rollgate fault */
    RG_CI_SKIPPED, /* a rung of the ladder never reached */
};

struct rg_ci_case {
    enum rg_ci_case_kind kind;
    char *classname; /* "target/STATE", "target/rung 1 rollback/VERIFY" */
    char *name;      /* the gate, or the stage's state */
    int64_t time_ms;
    char *message; /* one line; NULL when it passed */
    char *text;    /* evidence; NULL when none */
    const struct rg_gate *gate; /* borrowed from the playbook; NULL for a stage */
    int line, column; /* in the playbook: the gate's, or the stage's step's; 0 when none (a
                         step the plan made is freed with it: its place is copied) */
};

struct rg_ci_step {
    int64_t at_ms;
    char *what; /* "VERIFY failed", "rung 1: rollback" */
};

/* What a run looked like, for the writers. */
struct rg_ci_run {
    const char *command; /* deploy, rollback, resume, check */
    const char *target;
    const char *playbook; /* the path as given */
    int64_t deploy_id;
    char tag[136];
    char serving[136];
    char rolled_back_to[136];
    char outcome[32];
    int exit_code;
    int64_t started_unix_ms;
    int64_t elapsed_ms;
    struct rg_ci_case *cases;
    size_t n_cases, cap_cases;
    struct rg_ci_step *steps;
    size_t n_steps, cap_steps;
    char *note; /* how the run ended when that needs words (handed to a worker, timed out) */
    /* the stage being run, for its case */
    enum rg_state cur_state;
    int cur_rung;
    int64_t cur_started_ms;
    int max_rung; /* the highest rung reached */
};

struct rg_ci_report;

#define RG_CI_REPORT_HELP                                                                         \
    "junit=PATH, github or gitlab (several: repeat it); github and gitlab are on by "          \
    "themselves under GITHUB_ACTIONS=true / GITLAB_CI=true; none: no report"

/* Parses the --report values (junit=PATH, github, gitlab, none) and adds github or gitlab when
 * the CI's variables say so (GITHUB_ACTIONS=true, GITLAB_CI=true) and none is not given.
 * Workflow commands and sections go to out (errout when out carries JSON). RG_EINVAL names a
 * bad value. *out_rep is NULL when no report is wanted. */
int rg_ci_report_open(struct rg_ci_report **out_rep, const char *const *specs, size_t n,
                      const char *command, const struct rg_playbook *pb, FILE *out, FILE *errout,
                      bool json, struct rg_err *err);
/* An engine report: recorded, and the live part (groups, sections) written. */
void rg_ci_report_event(struct rg_ci_report *c, const struct rg_report *r);
/* check: one gate's verdict, outside any run. */
void rg_ci_report_gate(struct rg_ci_report *c, const struct rg_gate_result *g);
/* The run's end: writes the files (JUnit, step summary, outputs) and the annotations. serving
 * and note may be NULL. Returns 0, or -1 when a file could not be written (said on errout). */
int rg_ci_report_finish(struct rg_ci_report *c, int64_t deploy_id, const char *tag,
                        const char *serving, const char *outcome, int exit_code,
                        const char *note);
void rg_ci_report_free(struct rg_ci_report *c);

/* ---- the writers, and their escaping (ci_escape.c), exposed for tests ---- */

/* Writes a JUnit XML document of run to f. */
void rg_ci_write_junit(FILE *f, const struct rg_ci_run *run);
/* Writes the Markdown summary of run to f. */
void rg_ci_write_summary(FILE *f, const struct rg_ci_run *run);
/* Appends name=value to a $GITHUB_OUTPUT file, in the delimiter form when value spans lines. */
void rg_ci_write_output(FILE *f, const char *name, const char *value);
/* Writes the ::error commands of run's failed cases (at most max, then one that says how many
 * more) to f. file is the playbook as the workflow's workspace names it. */
void rg_ci_write_annotations(FILE *f, const struct rg_ci_run *run, const char *file, int max);

/* XML text or attribute: & < > " ' escaped, control characters other than tab and newline
 * removed (XML 1.0 cannot carry them), invalid UTF-8 replaced. */
void rg_ci_xml_escape(FILE *f, const char *s);
/* Workflow command data: % \r \n escaped as %25 %0D %0A. */
void rg_ci_gh_data(FILE *f, const char *s);
/* Workflow command property: as data, and : , as %3A %2C. */
void rg_ci_gh_property(FILE *f, const char *s);
/* A random token (prefix and 24 hex digits) into buf: delimiters, stop-commands tokens. */
void rg_ci_random_token(char *buf, size_t size, const char *prefix);
/* The playbook path a workflow's annotations name: relative to $GITHUB_WORKSPACE when it lies
 * under it, else as given. To free(). */
char *rg_ci_workspace_path(const char *playbook, const char *workspace);

#endif
