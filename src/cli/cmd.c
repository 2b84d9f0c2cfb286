/* The command table and the dispatch: global options, command lookup, "did you mean". */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "rollgate/runtime.h"
#include "rollgate/util.h"
#include "rollgate_version.h"

const struct rg_cmd *const rg_cmd_table[] = {
    &rg_cmd_attach,
    &rg_cmd_backup,
    &rg_cmd_backups,
    &rg_cmd_check,
    &rg_cmd_completion,
    &rg_cmd_deploy,
    &rg_cmd_diagnose,
    &rg_cmd_help,
    &rg_cmd_history,
    &rg_cmd_hook,
    &rg_cmd_init,
    &rg_cmd_plan,
    &rg_cmd_release,
    &rg_cmd_restore,
    &rg_cmd_resume,
    &rg_cmd_rollback,
    &rg_cmd_status,
    &rg_cmd_validate,
    &rg_cmd_wait,
    NULL,
};

const struct rg_cmd *
rg_cmd_find(const char *name)
{
    for (size_t i = 0; rg_cmd_table[i]; i++)
        if (strcmp(rg_cmd_table[i]->name, name) == 0)
            return rg_cmd_table[i];
    return NULL;
}

int
rg_cli_usage_error(const struct rg_cmd *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("rollgate: ", stderr);
    if (cmd)
        fprintf(stderr, "%s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return RG_EXIT_USAGE;
}

const char *
rg_cli_actor(void)
{
    const char *u = getenv("USER");
    struct passwd *pw;

    if (u && *u)
        return u;
    pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

void
rg_cli_format_time(char *buf, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (!ms || !gmtime_r(&t, &tm))
        snprintf(buf, size, "-");
    else
        strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

int
rg_cli_exit_for_outcome(enum rg_outcome outcome, bool halted, bool by_hand)
{
    if (halted)
        return RG_EXIT_UNRECOVERED;
    switch (outcome) {
    case RG_OUTCOME_DEPLOYED:
    case RG_OUTCOME_BACKED_UP:
        return RG_EXIT_OK;
    case RG_OUTCOME_ROLLED_BACK:
        return by_hand ? RG_EXIT_OK : RG_EXIT_RECOVERED;
    case RG_OUTCOME_REPAIRED:
    case RG_OUTCOME_RESTORED:
        return RG_EXIT_RECOVERED;
    case RG_OUTCOME_ABORTED:
        return RG_EXIT_ABORTED;
    case RG_OUTCOME_UNRECOVERED:
    case RG_OUTCOME_COUNT:
        break;
    }
    return RG_EXIT_UNRECOVERED;
}

bool
rg_cli_is_oid(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");

    return s[n] == '\0' && (n == 40 || n == 64);
}

int
rg_cli_exit_for(int code)
{
    switch (code) {
    case RG_OK: return RG_EXIT_OK;
    case RG_EINVAL:
    case RG_ENOENT: return RG_EXIT_INVALID;
    case RG_EBUSY: return RG_EXIT_BUSY;
    case RG_ECANTCREAT: return RG_EXIT_CANTCREAT;
    case RG_ENOPERM: return RG_EXIT_NOPERM;
    default: return RG_EXIT_INTERNAL;
    }
}

static void
print_overview(FILE *out)
{
    fprintf(out,
            "usage: rollgate [-v] [--version] [--help] COMMAND [OPTIONS] [ARGS]\n"
            "\n"
            "Deploys a release by a YAML playbook, checks it with health gates and, when they\n"
            "fail, repairs, rolls back or restores by itself.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; rg_cmd_table[i]; i++)
        fprintf(out, "  %-10s %s\n", rg_cmd_table[i]->name, rg_cmd_table[i]->summary);
    fprintf(out, "\n"
                 "global options:\n"
                 "  -v, --verbose  more detail on stderr (repeat for more)\n"
                 "  -h, --help     this overview; 'rollgate help COMMAND' for one command\n"
                 "      --version  print the version\n"
                 "\n"
                 "exit codes: 0 ok, 1 recovered, 2 unrecovered, 3 aborted, 4 busy, 5 gates failed,\n"
                 "6 still running (wait), 64 usage, 65 invalid input, 70 internal, 73 cannot\n"
                 "create, 77 no permission\n"
                 "(docs/exit-codes.md)\n");
}

static int
unknown_command(const char *name)
{
    const char *names[32];
    size_t n = 0;
    const char *best;

    for (size_t i = 0; rg_cmd_table[i] && n < 32; i++)
        names[n++] = rg_cmd_table[i]->name;
    if ((best = rg_suggest(name, names, n)))
        return rg_cli_usage_error(NULL, "unknown command '%s' (did you mean '%s'?)", name, best);
    return rg_cli_usage_error(NULL, "unknown command '%s' (see 'rollgate --help')", name);
}

/* Output that could not be written is a failure: a CI log must not end silently short. */
static int
finish(int rc)
{
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == RG_EXIT_OK) {
        fprintf(stderr, "rollgate: cannot write output: %s\n", strerror(errno));
        return RG_EXIT_INTERNAL;
    }
    return rc;
}

int
rg_cli_main(int argc, char **argv)
{
    struct rg_cmd_ctx ctx = {.out = stdout, .errout = stderr};
    const struct rg_cmd *cmd;
    int i, rc;

    rg_net_init(); /* before any thread: gates probe on threads */
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_overview(stdout);
            return finish(RG_EXIT_OK);
        }
        if (strcmp(a, "--version") == 0) {
            rg_cli_print_version(stdout);
            return finish(RG_EXIT_OK);
        }
        if (strcmp(a, "--verbose") == 0) {
            ctx.verbosity++;
            continue;
        }
        if (a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
            ctx.verbosity += (int)strlen(a + 1);
            continue;
        }
        return rg_cli_usage_error(NULL, "unknown option '%s' (see 'rollgate --help')", a);
    }
    if (i == argc) {
        print_overview(stderr);
        return RG_EXIT_USAGE;
    }
    if (!(cmd = rg_cmd_find(argv[i])))
        return unknown_command(argv[i]);
    ctx.cmd = cmd;
    if (rg_opts_parse(&ctx, argc - i - 1, argv + i + 1) < 0) {
        rc = RG_EXIT_USAGE;
    } else if (ctx.optcount[RG_CLI_MAX_OPTS - 1]) { /* --help after the command */
        rg_opts_print_help(stdout, cmd);
        rc = RG_EXIT_OK;
    } else {
        rg_log_set_level(ctx.verbosity >= 3   ? RG_LOG_TRACE
                         : ctx.verbosity == 2 ? RG_LOG_DEBUG
                         : ctx.verbosity == 1 ? RG_LOG_INFO
                                              : RG_LOG_WARN);
        rc = cmd->run(&ctx);
    }
    free(ctx.args);
    return finish(rc);
}
