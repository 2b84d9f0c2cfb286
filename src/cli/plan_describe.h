/* Private to cli: one-line, redacted descriptions of plan stages, rungs and gates. */
#ifndef ROLLGATE_CLI_PLAN_DESCRIBE_H
#define ROLLGATE_CLI_PLAN_DESCRIBE_H

#include "rollgate/engine.h"
#include "rollgate/playbook.h"

/* Each returns a newly allocated string. */
char *rg_gate_target_redacted(const struct rg_gate *g);
char *rg_gate_summary(const struct rg_gate *g);
char *rg_timing_summary(const struct rg_timing *t);
/* rung: the rung the stage belongs to, NULL for the deploy's own stages. */
char *rg_plan_stage_summary(const struct rg_plan *plan, const struct rg_plan_stage *st,
                            const struct rg_rung *rung);
char *rg_rung_summary(const struct rg_rung *r);

#endif
