/* Private to steps: one function per step kind. */
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
/* Records now as the moment the target changed. */
void step_mark(struct rg_step_ctx *ctx);
/* The services a step acts on: its own, else the playbook's. */
const struct rg_strv *step_services(const struct rg_step_ctx *ctx, const struct rg_step *step);

#endif
