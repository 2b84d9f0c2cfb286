/* Private to cli: the command entry, the option table and the context a command runs with. */
#ifndef ROLLGATE_CLI_CMD_H
#define ROLLGATE_CLI_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rollgate/cli.h"
#include "rollgate/err.h"
#include "rollgate/playbook.h"

#define RG_CLI_MAX_OPTS 16
#define RG_CLI_MAX_REPEAT 8 /* values kept of an option given several times (--report) */

/* One option; a command's options are a {0}-terminated array whose index is the option id. */
struct rg_opt {
    const char *name;   /* long name without "--" */
    char short_name;    /* 0: none */
    const char *arg;    /* placeholder of the value ("TAG"), NULL for a flag */
    const char *help;
};

struct rg_cmd_ctx;

struct rg_cmd {
    const char *name;
    const char *summary;     /* one line for the command list */
    const char *usage;       /* arguments after the command name */
    const char *description; /* paragraphs for `help COMMAND` */
    const struct rg_opt *opts;
    int min_args;
    int max_args;            /* -1: any number */
    int (*run)(struct rg_cmd_ctx *ctx);
};

struct rg_cmd_ctx {
    const struct rg_cmd *cmd;
    const char *optval[RG_CLI_MAX_OPTS]; /* the last value given, or "" for a flag */
    int optcount[RG_CLI_MAX_OPTS];
    /* Every value given, in order (the first RG_CLI_MAX_REPEAT; a further one is refused). */
    const char *optall[RG_CLI_MAX_OPTS][RG_CLI_MAX_REPEAT];
    char **args;
    int nargs;
    int verbosity;
    FILE *out;
    FILE *errout;
};

/* The sorted table of commands, NULL-terminated. */
extern const struct rg_cmd *const rg_cmd_table[];
const struct rg_cmd *rg_cmd_find(const char *name);

extern const struct rg_cmd rg_cmd_attach;
extern const struct rg_cmd rg_cmd_backup;
extern const struct rg_cmd rg_cmd_backups;
extern const struct rg_cmd rg_cmd_check;
extern const struct rg_cmd rg_cmd_completion;
extern const struct rg_cmd rg_cmd_deploy;
extern const struct rg_cmd rg_cmd_diagnose;
extern const struct rg_cmd rg_cmd_history;
extern const struct rg_cmd rg_cmd_hook;
extern const struct rg_cmd rg_cmd_init;
extern const struct rg_cmd rg_cmd_restore;
extern const struct rg_cmd rg_cmd_resume;
extern const struct rg_cmd rg_cmd_rollback;
extern const struct rg_cmd rg_cmd_status;
extern const struct rg_cmd rg_cmd_help;
extern const struct rg_cmd rg_cmd_plan;
extern const struct rg_cmd rg_cmd_validate;
extern const struct rg_cmd rg_cmd_release;
extern const struct rg_cmd rg_cmd_wait;

/* --version: release, commit, build and the libraries' versions. */
void rg_cli_print_version(FILE *out);
/* The manual page, troff, from the command table (help --man). */
void rg_cli_print_man(FILE *out);

/* Parses argv (after the command name) against cmd's options into ctx. On a usage problem
 * prints one line naming it and returns -1. */
int rg_opts_parse(struct rg_cmd_ctx *ctx, int argc, char **argv);
/* Prints the full help of a command (usage, description, options). */
void rg_opts_print_help(FILE *out, const struct rg_cmd *cmd);
/* Prints "rollgate: <cmd>: message" and returns RG_EXIT_USAGE. */
int rg_cli_usage_error(const struct rg_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Loads a playbook, printing every diagnostic to errout. Returns 0 or an exit code. */
int rg_cli_load_playbook(struct rg_playbook **out, struct rg_cmd_ctx *ctx, const char *path);
/* The same with the caller's diagnostics (not printed) and options: validate --json and
 * --no-env. Returns 0 or RG_EXIT_INVALID; *err says why it failed. */
int rg_cli_load_playbook_diags(struct rg_playbook **out, struct rg_diags *diags,
                               struct rg_err *err, const char *path, bool placeholders);
void rg_cli_print_diags(FILE *out, const struct rg_diags *diags);
/* Who runs this, for the ledger and the lock: $USER, else the account name. */
const char *rg_cli_actor(void);
/* A Unix-ms time as "YYYY-MM-DD HH:MM:SS" (UTC), or "-" for 0. */
void rg_cli_format_time(char *buf, size_t size, int64_t ms);
/* The exit code of a run's outcome (docs/exit-codes.md): halted is a run stopped in flight;
 * by_hand is a rollback asked for by a person (rolled back is then a success). */
int rg_cli_exit_for_outcome(enum rg_outcome outcome, bool halted, bool by_hand);
/* 40 (SHA-1) or 64 (SHA-256) lower-case hex digits. */
bool rg_cli_is_oid(const char *s);
/* Maps an rg_err code to an exit code for errors outside a deploy. */
int rg_cli_exit_for(int code);

struct rg_plan;
void rg_plan_print_text(FILE *out, const struct rg_plan *plan);
/* Prints the plan as one JSON document; returns 0 or -1 when it cannot be built. */
int rg_plan_print_json(FILE *out, const struct rg_plan *plan);

#endif
