/* `exec`: a command in a service (a repair such as Odoo's module-registry rebuild); its output
 * is the evidence. */
#include "rollgate/spawn.h"
#include "steps_internal.h"

int
step_exec(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    struct rg_spawn_result res;
    int rc;

    rc = rg_driver_exec(&res, ctx->driver, step->services.v[0], &step->argv, step->timeout_ms,
                        ctx->cancel_fd, err);
    if (res.out.len)
        rg_buf_addf(ctx->evidence, "stdout (tail):\n%s\n", res.out.data);
    if (res.err.len)
        rg_buf_addf(ctx->evidence, "stderr (tail):\n%s\n", res.err.data);
    rg_spawn_result_release(&res);
    return rc;
}
