/* `rollgate plan PLAYBOOK [--tag T] [--json]`: the states a deploy would go through. */
#include "cmd.h"
#include "rollgate/driver.h"
#include "rollgate/engine.h"
#include "rollgate/steps.h"
#include "rollgate/util.h"

enum { OPT_TAG, OPT_JSON };

static const struct rg_opt plan_opts[] = {
    [OPT_TAG] = {"tag", 't', "TAG", "plan a deploy of this release tag (checked against "
                                    "tag_pattern)"},
    [OPT_JSON] = {"json", 0, NULL, "print the plan as one JSON document"},
    {0},
};

static int
cmd_plan(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    struct rg_plan *plan = NULL;
    struct rg_err err;
    int rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        goto out;
    if (rg_plan_build(&plan, pb, ctx->optval[OPT_TAG], &err) < 0) {
        fprintf(ctx->errout, "rollgate: plan: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    /* The release that serves now, read where the driver keeps it (the env file); a target
     * that cannot be read (another machine's paths) only loses this line. */
    struct rg_driver *drv = NULL;
    if (rg_driver_open(&drv, pb, NULL, &err) == 0) {
        struct rg_live lv;
        rg_live_release(&lv, drv, NULL, 0);
        if (lv.tag[0])
            plan->current = rg_strdup(lv.tag);
        else
            plan->current_note = rg_strdup(lv.absent[0] ? lv.absent : lv.note);
        rg_driver_close(drv);
    }
    if (ctx->optcount[OPT_JSON]) {
        if (rg_plan_print_json(ctx->out, plan) < 0) {
            fprintf(ctx->errout, "rollgate: plan: cannot encode the plan as JSON\n");
            rc = RG_EXIT_INTERNAL;
        }
    } else {
        rg_plan_print_text(ctx->out, plan);
    }
out:
    rg_plan_free(plan);
    rg_playbook_free(pb);
    return rc;
}

const struct rg_cmd rg_cmd_plan = {
    .name = "plan",
    .summary = "show the states a deploy would go through, its gates and its recover ladder",
    .usage = "[--tag TAG] [--json] PLAYBOOK",
    .description =
        "Shows, without contacting anything, what 'rollgate deploy' would do: the release\n"
        "that serves now (read from the env file) and the one it would deploy, every state in\n"
        "order with its gates (every, within, need, timeout), where a failure leads, and each\n"
        "rung of the recover ladder followed by the checks that judge it. Secrets in\n"
        "connection strings and webhook URLs are redacted.\n",
    .opts = plan_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_plan,
};
