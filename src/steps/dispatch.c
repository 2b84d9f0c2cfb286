/* Which action each step kind takes. */
#include "steps_internal.h"

const struct rg_strv *
step_services(const struct rg_step_ctx *ctx, const struct rg_step *step)
{
    return step && step->services.n ? &step->services : &ctx->pb->runtime.services;
}

int
rg_step_run(struct rg_step_ctx *ctx, enum rg_step_kind kind, const struct rg_step *step,
            struct rg_err *err)
{
    static int (*const run[])(struct rg_step_ctx *, const struct rg_step *, struct rg_err *) = {
        [RG_STEP_PULL] = step_pull,     [RG_STEP_UP] = step_up,
        [RG_STEP_EXEC] = step_exec,     [RG_STEP_RESTART] = step_restart,
        [RG_STEP_VERIFY] = step_verify, [RG_STEP_SETTLE] = step_settle,
    };

    if (kind == RG_STEP_SWITCH)
        return step_switch(ctx, err);
    if ((unsigned)kind >= sizeof(run) / sizeof(run[0]) || !run[kind] ||
        ((kind == RG_STEP_EXEC || kind == RG_STEP_VERIFY || kind == RG_STEP_SETTLE) && !step))
        return rg_err_set(err, RG_EINTERNAL, "step '%s' cannot run without its parameters",
                          rg_step_kind_name(kind));
    return run[kind](ctx, step, err);
}
