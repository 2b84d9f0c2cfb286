/* Private to steps: one function per action. */
#ifndef ROLLGATE_STEPS_INTERNAL_H
#define ROLLGATE_STEPS_INTERNAL_H

#include "rollgate/steps.h"

int step_pull(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err);
int step_switch(struct rg_step_ctx *ctx, struct rg_err *err);
int step_up(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err);
int step_restart(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err);
int step_exec(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err);
int step_verify(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err);
int step_settle(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err);
/* Describes the containers of ctx->before->tag, once, before the first `up` away from it. */
void step_snapshot_take(struct rg_step_ctx *ctx, const struct rg_strv *services);
/* Makes the described containers again when ctx->tag is their release: 0 when done, RG_ENOENT
 * when there is nothing to make (compose must), another code when it failed. */
int step_snapshot_restore(struct rg_step_ctx *ctx, const struct rg_strv *services,
                          struct rg_err *err);
/* Tells the host the addresses of the services' running containers. */
void step_announce(const struct rg_step_ctx *ctx, const struct rg_strv *services);
/* Records now as the moment the target changed. */
void step_mark(struct rg_step_ctx *ctx);

#endif
