/* `rollgate validate FILE...`: load every playbook and report every problem of each. */
#include "cmd.h"

static int
cmd_validate(struct rg_cmd_ctx *ctx)
{
    int worst = RG_EXIT_OK;

    for (int i = 0; i < ctx->nargs; i++) {
        struct rg_playbook *pb = NULL;
        int rc = rg_cli_load_playbook(&pb, ctx, ctx->args[i]);
        size_t steps = 0;

        if (rc) {
            if (rc > worst)
                worst = rc;
            continue;
        }
        for (size_t k = 0; k < pb->n_deploy; k++)
            steps += !pb->deploy[k].implicit;
        fprintf(ctx->out, "%s: ok (target '%s', %s driver, %zu gate%s, %zu deploy step%s, "
                          "%zu recover rung%s)\n",
                ctx->args[i], pb->name, rg_driver_name(pb->runtime.driver), pb->n_gates,
                pb->n_gates == 1 ? "" : "s", steps, steps == 1 ? "" : "s",
                pb->n_recover, pb->n_recover == 1 ? "" : "s");
        rg_playbook_free(pb);
    }
    return worst;
}

const struct rg_cmd rg_cmd_validate = {
    .name = "validate",
    .summary = "check playbooks and report every problem with file:line:column",
    .usage = "PLAYBOOK...",
    .description =
        "Loads each playbook as a deploy would: YAML syntax, keys and types, durations,\n"
        "regular expressions, gate references, the order of deploy steps and the recover\n"
        "ladder, and ${VAR} references to the environment. Nothing is contacted.\n"
        "Exits 0 when every file is valid, 65 when any is not.\n",
    .min_args = 1,
    .max_args = -1,
    .run = cmd_validate,
};
