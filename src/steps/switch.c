/* The tag switch: the target is told which release to run (the compose driver writes the env
 * file atomically, keeping its other lines); nothing restarts until `up`. */
#include "steps_internal.h"

int
step_switch(struct rg_step_ctx *ctx, struct rg_err *err)
{
    return rg_driver_switch(ctx->driver, ctx->tag, ctx->evidence, err);
}
