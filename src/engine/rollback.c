/* The rollback: which release a rollback rung or a rollback by hand returns to, and the stages
 * of a rollback by hand (its PULL makes sure the release is present before anything is
 * switched: a rollback that has to pull a missing image can leave nothing running). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

int
run_rollback_target(struct run *r, const char *to, char *tag_out, size_t size, struct rg_err *err)
{
    struct rg_release_row rel;
    int rc;

    tag_out[0] = '\0';
    if (to && strcmp(to, "previous") != 0) {
        snprintf(tag_out, size, "%s", to);
        return 0;
    }
    /* The last release that passed its gates, other than the one being left. */
    if ((rc = rg_ledger_previous_good(&rel, r->ledger, r->tag, err)) == 0) {
        snprintf(tag_out, size, "%s", rel.tag);
        return 0;
    }
    if (rc != RG_ENOENT)
        return rc;
    /* A target deployed by hand before rollgate: what served before this deploy worked. */
    if (r->prev_tag[0] && strcmp(r->prev_tag, r->tag) != 0) {
        snprintf(tag_out, size, "%s", r->prev_tag);
        return 0;
    }
    return rg_err_set(err, RG_ENOENT,
                      "no previous release of '%s' to roll back to (no "
                      "known-good release in the ledger, and none served "
                      "before this deploy)",
                      r->pb->name);
}

/* Under the switch strategy a rollback by hand goes the way a deploy does: the release it goes
 * back to starts beside the serving one and is probed alone before nginx moves, so a release
 * that no longer works (pruned data, a changed database) is refused with nothing changed. The
 * deploy's own stages, without its backup; the release is made present by digest, not pulled. */
static void
build_switch_rollback(struct run *r)
{
    size_t n = 0;

    r->manual_stages = rg_calloc(r->plan->n_stages + 1, sizeof(*r->manual_stages));
    for (size_t i = 0; i < r->plan->n_stages; i++) {
        struct rg_plan_stage st = r->plan->stages[i];
        if (st.state == RG_ST_BACKUP)
            continue;
        if (st.state == RG_ST_PULL)
            st.step = NULL;
        r->manual_stages[n++] = st;
    }
    r->n_manual_stages = n;
}

void
run_build_rollback(struct run *r)
{
    const struct rg_playbook *pb = r->pb;
    size_t n = 0;

    if (pb->strategy == RG_STRATEGY_SWITCH && r->plan) {
        build_switch_rollback(r);
        return;
    }

    r->manual_stages = rg_calloc(pb->n_deploy + 5, sizeof(*r->manual_stages));
    static const enum rg_state head[] = {RG_ST_PREFLIGHT, RG_ST_PULL, RG_ST_SWITCH, RG_ST_UP};

    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        r->manual_stages[n++] =
            (struct rg_plan_stage){head[i], NULL, rg_engine_fail_state(head[i], false), false};
    bool up = false;
    for (size_t i = 0; i < pb->n_deploy; i++)
        if ((up = up || pb->deploy[i].kind == RG_STEP_UP) &&
            (pb->deploy[i].kind == RG_STEP_VERIFY || pb->deploy[i].kind == RG_STEP_SETTLE)) {
            enum rg_state st = pb->deploy[i].kind == RG_STEP_VERIFY ? RG_ST_VERIFY : RG_ST_SETTLE;
            r->manual_stages[n++] =
                (struct rg_plan_stage){st, &pb->deploy[i], rg_engine_fail_state(st, false), false};
        }
    r->manual_stages[n++] =
        (struct rg_plan_stage){RG_ST_COMMIT, NULL, rg_engine_fail_state(RG_ST_COMMIT, false), false};
    r->n_manual_stages = n;
}
