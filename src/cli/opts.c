/* Option parsing from each command's table, and the --help it prints. Every command also takes
 * -h/--help and -v/--verbose. */
#include <stdarg.h>
#include <string.h>

#include "cmd.h"
#include "rollgate/util.h"

#define HELP_SLOT (RG_CLI_MAX_OPTS - 1)

static int
find_long(const struct rg_opt *opts, const char *name, size_t len)
{
    for (int i = 0; opts && opts[i].name; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return i;
    return -1;
}

static int
find_short(const struct rg_opt *opts, char c)
{
    for (int i = 0; opts && opts[i].name; i++)
        if (opts[i].short_name == c)
            return i;
    return -1;
}

/* An option another command has, given to one that calls it differently: the answer names
 * this command's own. */
static const struct {
    const char *cmd, *name, *instead, *owner;
    char short_name;
} elsewhere[] = {
    {"rollback", "tag", "--to TAG", "deploy", 't'},
};

static int
other_commands_option(const struct rg_cmd *cmd, const char *name, char short_name)
{
    for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++) {
        if (strcmp(cmd->name, elsewhere[i].cmd) != 0)
            continue;
        if (name && strcmp(name, elsewhere[i].name) == 0) {
            rg_cli_usage_error(cmd, "unknown option '--%s': %s takes %s (--%s is %s's)", name,
                               cmd->name, elsewhere[i].instead, name, elsewhere[i].owner);
            return -1;
        }
        if (!name && short_name == elsewhere[i].short_name) {
            rg_cli_usage_error(cmd, "unknown option '-%c': %s takes %s (-%c is %s's --%s)",
                               short_name, cmd->name, elsewhere[i].instead, short_name,
                               elsewhere[i].owner, elsewhere[i].name);
            return -1;
        }
    }
    return 0;
}

static int
unknown_long(const struct rg_cmd *cmd, const char *arg, size_t len)
{
    const char *names[RG_CLI_MAX_OPTS + 2];
    char word[64];
    size_t n = 0;
    const char *best;

    snprintf(word, sizeof(word), "%.*s", (int)len, arg);
    for (int i = 0; cmd->opts && cmd->opts[i].name; i++)
        names[n++] = cmd->opts[i].name;
    names[n++] = "help";
    names[n++] = "verbose";
    /* Options that were renamed so that one name means one thing everywhere. */
    static const struct {
        const char *cmd, *old, *now, *why;
    } renamed[] = {
        {"check", "wait", "poll",
         "--wait is how long deploy, rollback and resume wait for the lock"},
    };
    for (size_t i = 0; i < sizeof(renamed) / sizeof(renamed[0]); i++)
        if (strcmp(cmd->name, renamed[i].cmd) == 0 && strcmp(word, renamed[i].old) == 0) {
            rg_cli_usage_error(cmd, "unknown option '--%s': it is --%s now (%s)", word,
                               renamed[i].now, renamed[i].why);
            return -1;
        }
    if (other_commands_option(cmd, word, 0) < 0)
        return -1;
    if ((best = rg_suggest(word, names, n)))
        rg_cli_usage_error(cmd, "unknown option '--%s' (did you mean '--%s'?)", word, best);
    else
        rg_cli_usage_error(cmd, "unknown option '--%s' (see 'rollgate help %s')", word,
                           cmd->name);
    return -1;
}

/* Counts an option given and keeps its value among the others given. */
static int
keep_value(struct rg_cmd_ctx *ctx, int id)
{
    if (ctx->optcount[id] >= RG_CLI_MAX_REPEAT) {
        rg_cli_usage_error(ctx->cmd, "option '--%s' is given more than %d times",
                           ctx->cmd->opts[id].name, RG_CLI_MAX_REPEAT);
        return -1;
    }
    ctx->optall[id][ctx->optcount[id]++] = ctx->optval[id];
    return 0;
}

int
rg_opts_parse(struct rg_cmd_ctx *ctx, int argc, char **argv)
{
    const struct rg_cmd *cmd = ctx->cmd;
    const struct rg_opt *opts = cmd->opts;
    bool only_args = false;

    ctx->args = rg_calloc((size_t)argc + 1, sizeof(*ctx->args));
    ctx->nargs = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int id;

        if (only_args || a[0] != '-' || a[1] == '\0') {
            ctx->args[ctx->nargs++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);

            if (len == 4 && strncmp(name, "help", 4) == 0) {
                ctx->optcount[HELP_SLOT]++;
                continue;
            }
            if (len == 7 && strncmp(name, "verbose", 7) == 0) {
                ctx->verbosity++;
                continue;
            }
            if ((id = find_long(opts, name, len)) < 0)
                return unknown_long(cmd, name, len);
            if (!opts[id].arg) {
                if (eq) {
                    rg_cli_usage_error(cmd, "option '--%s' takes no value", opts[id].name);
                    return -1;
                }
                ctx->optval[id] = "";
            } else if (eq) {
                ctx->optval[id] = eq + 1;
            } else if (i + 1 < argc) {
                ctx->optval[id] = argv[++i];
            } else {
                rg_cli_usage_error(cmd, "option '--%s' needs a value (%s)", opts[id].name,
                                   opts[id].arg);
                return -1;
            }
            if (keep_value(ctx, id) < 0)
                return -1;
            continue;
        }
        /* One or more short options: -v, -vv, -n 5, -n5. */
        for (const char *p = a + 1; *p; p++) {
            if (*p == 'h') {
                ctx->optcount[HELP_SLOT]++;
                continue;
            }
            if (*p == 'v') {
                ctx->verbosity++;
                continue;
            }
            if ((id = find_short(opts, *p)) < 0 && other_commands_option(cmd, NULL, *p) < 0)
                return -1;
            if (id < 0) {
                rg_cli_usage_error(cmd, "unknown option '-%c' (see 'rollgate help %s')", *p,
                                   cmd->name);
                return -1;
            }
            if (!opts[id].arg) {
                ctx->optval[id] = "";
                ctx->optcount[id]++;
                continue;
            }
            if (p[1]) {
                ctx->optval[id] = p + 1;
            } else if (i + 1 < argc) {
                ctx->optval[id] = argv[++i];
            } else {
                rg_cli_usage_error(cmd, "option '-%c' needs a value (%s)", *p, opts[id].arg);
                return -1;
            }
            if (keep_value(ctx, id) < 0)
                return -1;
            break;
        }
    }
    if (ctx->optcount[HELP_SLOT])
        return 0;
    if (ctx->nargs < cmd->min_args || (cmd->max_args >= 0 && ctx->nargs > cmd->max_args)) {
        rg_cli_usage_error(cmd, "%s arguments; usage: rollgate %s %s",
                           ctx->nargs < cmd->min_args ? "missing" : "too many", cmd->name,
                           cmd->usage);
        return -1;
    }
    return 0;
}

void
rg_opts_print_help(FILE *out, const struct rg_cmd *cmd)
{
    fprintf(out, "usage: rollgate %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->description)
        fprintf(out, "\n%s", cmd->description);
    fprintf(out, "\noptions:\n");
    for (int i = 0; cmd->opts && cmd->opts[i].name; i++) {
        char left[64];
        const struct rg_opt *o = &cmd->opts[i];
        if (o->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(out, "  %-22s %s\n", left, o->help);
    }
    fprintf(out, "  %-22s %s\n", "-v, --verbose", "more detail on stderr");
    fprintf(out, "  %-22s %s\n", "-h, --help", "this help");
}
