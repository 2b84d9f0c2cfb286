/* `rollgate help [COMMAND]`. */
#include <string.h>

#include "cmd.h"
#include "rollgate/util.h"

enum { HELP_MAN };

static const struct rg_opt help_opts[] = {
    [HELP_MAN] = {"man", 0, NULL, "print the manual page (troff) made from this help"},
    {0},
};

static int
cmd_help(struct rg_cmd_ctx *ctx)
{
    const struct rg_cmd *cmd;

    if (ctx->optcount[HELP_MAN]) {
        rg_cli_print_man(ctx->out);
        return RG_EXIT_OK;
    }
    if (ctx->nargs == 0) {
        fprintf(ctx->out, "commands:\n");
        for (size_t i = 0; rg_cmd_table[i]; i++)
            fprintf(ctx->out, "  %-10s %s\n", rg_cmd_table[i]->name, rg_cmd_table[i]->summary);
        fprintf(ctx->out, "\n'rollgate help COMMAND' shows one command in full.\n");
        return RG_EXIT_OK;
    }
    if (!(cmd = rg_cmd_find(ctx->args[0]))) {
        const char *names[32];
        size_t n = 0;
        const char *best;
        for (size_t i = 0; rg_cmd_table[i] && n < 32; i++)
            names[n++] = rg_cmd_table[i]->name;
        if ((best = rg_suggest(ctx->args[0], names, n)))
            return rg_cli_usage_error(ctx->cmd, "unknown command '%s' (did you mean '%s'?)",
                                      ctx->args[0], best);
        return rg_cli_usage_error(ctx->cmd, "unknown command '%s'", ctx->args[0]);
    }
    rg_opts_print_help(ctx->out, cmd);
    return RG_EXIT_OK;
}

const struct rg_cmd rg_cmd_help = {
    .name = "help",
    .summary = "show the commands, or one command in full",
    .usage = "[--man] [COMMAND]",
    .opts = help_opts,
    .min_args = 0,
    .max_args = 1,
    .run = cmd_help,
};
