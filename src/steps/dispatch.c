/* Which action each state takes. */
#include "steps_internal.h"

int
rg_step_run(struct rg_step_ctx *ctx, enum rg_state state, const struct rg_step *step,
            struct rg_err *err)
{
    switch (state) {
    case RG_ST_PULL:
        return step_pull(ctx, step, err);
    case RG_ST_SWITCH:
        return step_switch(ctx, err);
    case RG_ST_UP:
        return step_up(ctx, step, err);
    case RG_ST_EXEC:
        return step_exec(ctx, step, err);
    case RG_ST_RESTART:
        return step_restart(ctx, step, err);
    case RG_ST_VERIFY:
        return step_verify(ctx, step, err);
    case RG_ST_SETTLE:
        return step_settle(ctx, step, err);
    default:
        return rg_err_set(err, RG_EINTERNAL, "state %s has no step", rg_state_name(state));
    }
}
