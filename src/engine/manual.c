/* Backups and restores by hand as engine runs: the target's lock, a ledger row with who, when,
 * which backup and the outcome, and for a restore the serving release stopped for the swap and
 * brought up again through the deploy's own gates. */
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

static void
push(struct run *r, enum rg_state st, const struct rg_step *step)
{
    r->manual_stages[r->n_manual_stages++] =
        (struct rg_plan_stage){st, step, rg_engine_fail_state(st, false), false};
}

void
run_build_backup(struct run *r)
{
    r->manual_stages = rg_calloc(2, sizeof(*r->manual_stages));
    push(r, RG_ST_PREFLIGHT, NULL);
    push(r, RG_ST_BACKUP, NULL);
}

void
run_build_restore(struct run *r)
{
    const struct rg_playbook *pb = r->pb;

    r->manual_stages = rg_calloc(pb->n_deploy + 3, sizeof(*r->manual_stages));
    push(r, RG_ST_PREFLIGHT, NULL);
    push(r, RG_ST_RESTORE, NULL);
    if (!r->serving_running)
        return; /* nothing runs: nothing to stop, bring back or check */
    push(r, RG_ST_UP, NULL);
    for (size_t i = 0; i < pb->n_deploy; i++)
        if (pb->deploy[i].kind == RG_STEP_VERIFY || pb->deploy[i].kind == RG_STEP_SETTLE)
            push(r, pb->deploy[i].kind == RG_STEP_VERIFY ? RG_ST_VERIFY : RG_ST_SETTLE,
                 &pb->deploy[i]);
}

enum rg_outcome
run_manual_outcome(const struct run *r, bool ok)
{
    if (strcmp(r->kind, "backup") == 0)
        return ok ? RG_OUTCOME_BACKED_UP : RG_OUTCOME_ABORTED;
    if (strcmp(r->kind, "restore") == 0)
        /* "aborted" promises that the release serves as before: not so when the data was
         * swapped, or the release is left stopped. */
        return ok                                   ? RG_OUTCOME_RESTORED
               : r->data_changed || r->release_down ? RG_OUTCOME_UNRECOVERED
                                                    : RG_OUTCOME_ABORTED;
    return ok ? RG_OUTCOME_ROLLED_BACK : RG_OUTCOME_UNRECOVERED;
}
