/* Changing what runs: `up` on the switched release and `restart` in place. Both mark the moment
 * the target changed, from which restarts, exits and log lines count. */
#include "steps_internal.h"

int
step_up(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    step_mark(ctx);
    return rg_driver_up(ctx->driver, step_services(ctx, step), ctx->tag, ctx->cancel_fd,
                        ctx->evidence, err);
}

int
step_restart(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    step_mark(ctx);
    return rg_driver_restart(ctx->driver, step_services(ctx, step), ctx->cancel_fd, ctx->evidence,
                             err);
}
