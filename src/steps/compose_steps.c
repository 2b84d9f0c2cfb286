/* The steps that act through compose: pull, the tag switch, up, exec and restart. Each one is
 * idempotent, so a resumed deploy can run the step that was in flight again. */
#include <stdlib.h>
#include <string.h>

#include "rollgate/spawn.h"
#include "rollgate/steps.h"
#include "steps_internal.h"

#define PULL_TIMEOUT_MS (10 * 60 * 1000)
#define UP_TIMEOUT_MS (5 * 60 * 1000)
#define RESTART_TIMEOUT_MS (2 * 60 * 1000)

static const struct rg_strv *
services_of(const struct rg_step_ctx *ctx, const struct rg_step *step)
{
    return step && step->services.n ? &step->services : &ctx->pb->runtime.services;
}

static int
need_compose(const struct rg_step_ctx *ctx, const char *what, struct rg_err *err)
{
    if (ctx->compose)
        return 0;
    return rg_err_set(err, RG_ERUNTIME, "%s: the %s driver cannot do this yet (only compose "
                                        "is implemented)",
                      what, rg_driver_name(ctx->pb->runtime.driver));
}

int
step_pull(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    int rc;

    if ((rc = need_compose(ctx, "pull", err)) < 0)
        return rc;
    return rg_compose_pull(ctx->compose, services_of(ctx, step), ctx->pb->runtime.tag_var,
                           ctx->tag, PULL_TIMEOUT_MS, ctx->cancel_fd, ctx->evidence, err);
}

int
step_switch(struct rg_step_ctx *ctx, struct rg_err *err)
{
    const struct rg_runtime *rt = &ctx->pb->runtime;

    rg_buf_addf(ctx->evidence, "%s=%s in %s\n", rt->tag_var, ctx->tag, rt->env_file);
    return rg_envfile_set(rt->env_file, rt->tag_var, ctx->tag, err);
}

int
step_up(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    int rc;

    const struct rg_strv *services = services_of(ctx, step);
    struct rg_err fast;

    if ((rc = need_compose(ctx, "up", err)) < 0)
        return rc;
    step_snapshot_take(ctx, services);
    step_mark(ctx);
    rc = step_snapshot_restore(ctx, services, &fast);
    if (rc < 0 && rc != RG_ENOENT) {
        rg_log(RG_LOG_WARN, "bringing back %s directly failed, compose will: %s", ctx->tag,
               fast.msg);
        rg_buf_addf(ctx->evidence, "direct switch failed: %s\n", fast.msg);
    }
    if (rc < 0)
        rc = rg_compose_up(ctx->compose, services, UP_TIMEOUT_MS, ctx->cancel_fd, ctx->evidence,
                           err);
    if (rc == 0)
        step_announce(ctx, services);
    return rc;
}

int
step_restart(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    int rc;

    if ((rc = need_compose(ctx, "restart", err)) < 0)
        return rc;
    step_mark(ctx);
    return rg_compose_restart(ctx->compose, services_of(ctx, step), RESTART_TIMEOUT_MS,
                              ctx->cancel_fd, ctx->evidence, err);
}

int
step_exec(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    struct rg_spawn_result res;
    int rc;

    if ((rc = need_compose(ctx, "exec", err)) < 0)
        return rc;
    rc = rg_compose_exec(&res, ctx->compose, step->services.v[0], &step->argv, step->timeout_ms,
                         ctx->cancel_fd, err);
    if (res.out.len)
        rg_buf_addf(ctx->evidence, "stdout (tail):\n%s\n", res.out.data);
    if (res.err.len)
        rg_buf_addf(ctx->evidence, "stderr (tail):\n%s\n", res.err.data);
    rg_spawn_result_release(&res);
    return rc;
}
