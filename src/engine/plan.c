/* The plan of a deploy: the playbook's steps laid out as engine states, the ladder's rungs each
 * followed by the deploy's own verify and settle, and where every failure leads. */
#include <stdlib.h>
#include <string.h>

#include "rollgate/engine.h"

static enum rg_state
step_state(enum rg_step_kind kind)
{
    static const enum rg_state map[] = {
        [RG_STEP_PULL] = RG_ST_PULL,       [RG_STEP_SWITCH] = RG_ST_SWITCH,
        [RG_STEP_UP] = RG_ST_UP,           [RG_STEP_EXEC] = RG_ST_EXEC,
        [RG_STEP_RESTART] = RG_ST_RESTART, [RG_STEP_VERIFY] = RG_ST_VERIFY,
        [RG_STEP_SETTLE] = RG_ST_SETTLE,
    };
    _Static_assert(sizeof(map) / sizeof(map[0]) == RG_STEP_KIND_COUNT, "step states");
    return map[kind];
}

/* Whether a state changes the target (after it, a failure has something to recover from). */
static bool
changes(enum rg_state st)
{
    return st == RG_ST_SWITCH || st == RG_ST_UP || st == RG_ST_EXEC || st == RG_ST_RESTART ||
           st == RG_ST_CANDIDATE || st == RG_ST_RESTORE;
}

/* Appends a stage; the deploy's stages before the first change are marked unchanged (a rung's
 * never are: the deploy changed the target before any rung runs). on_fail is what
 * rg_plan_stage_move answers, so the plan never holds a second copy of the table. */
static void
push_stage(struct rg_plan_stage **v, size_t *n, enum rg_state st, const struct rg_step *step,
           bool rungs_left, bool *changed)
{
    struct rg_plan_stage *s;

    *v = rg_realloc(*v, (*n + 1) * sizeof(**v));
    s = &(*v)[(*n)++];
    *s = (struct rg_plan_stage){.state = st, .step = step};
    if (changed) {
        *changed = *changed || changes(st);
        s->unchanged = !*changed;
    }
    switch (rg_plan_stage_move(s, RG_EV_FAIL)) {
    case RG_MOVE_ABORT: s->on_fail = RG_ST_ABORTED; break;
    case RG_MOVE_RECOVER: s->on_fail = rungs_left ? RG_ST_RECOVER : RG_ST_UNRECOVERED; break;
    default: s->on_fail = RG_ST_UNRECOVERED; break;
    }
}

static void
push(struct rg_plan *plan, enum rg_state st, const struct rg_step *step, bool *changed)
{
    push_stage(&plan->stages, &plan->n_stages, st, step, plan->pb->n_recover > 0, changed);
}

/* After a rung has changed the target, the deploy's checks decide whether it worked. */
static void rung_push(struct rg_plan_rung *r, enum rg_state st, const struct rg_step *step,
                      bool rungs_left);

static void
push_checks(struct rg_plan_rung *r, const struct rg_playbook *pb, bool rungs_left)
{
    bool up = false;

    /* The checks that judge a release: those after the first up (a verify before it checks
     * what the deploy needs, such as the database, before anything changed). */
    for (size_t i = 0; i < pb->n_deploy; i++) {
        const struct rg_step *s = &pb->deploy[i];
        up = up || s->kind == RG_STEP_UP;
        if (up && (s->kind == RG_STEP_VERIFY || s->kind == RG_STEP_SETTLE))
            rung_push(r, step_state(s->kind), s, rungs_left);
    }
}

static void
rung_push(struct rg_plan_rung *r, enum rg_state st, const struct rg_step *step, bool rungs_left)
{
    push_stage(&r->stages, &r->n_stages, st, step, rungs_left, NULL);
}

static void
plan_rung(struct rg_plan_rung *r, const struct rg_playbook *pb, const struct rg_rung *rung,
          bool rungs_left)
{
    r->rung = rung;
    rung_push(r, RG_ST_RECOVER, NULL, rungs_left);
    switch (rung->kind) {
    case RG_RUNG_REPAIR:
        for (size_t i = 0; i < rung->n_steps; i++)
            rung_push(r, step_state(rung->steps[i].kind), &rung->steps[i], rungs_left);
        break;
    case RG_RUNG_RESTORE:
        /* The restored data goes with the release it belongs to. */
        rung_push(r, RG_ST_RESTORE, NULL, rungs_left);
        rung_push(r, RG_ST_SWITCH, NULL, rungs_left);
        rung_push(r, RG_ST_UP, NULL, rungs_left);
        break;
    case RG_RUNG_ROLLBACK:
        rung_push(r, RG_ST_SWITCH, NULL, rungs_left);
        rung_push(r, RG_ST_UP, NULL, rungs_left);
        break;
    case RG_RUNG_KIND_COUNT: break;
    }
    push_checks(r, pb, rungs_left);
    rung_push(r, RG_ST_COMMIT, NULL, rungs_left);
}

/* The switch strategy: `up` starts a candidate beside the serving release, the verify after it
 * judges the candidate alone (PROBE), the proxy moves (PROXY), the same verify runs again
 * through the proxy, settle watches real traffic, and the release before is removed (RETIRE).
 * The tag switch is part of PROXY. */
static void
plan_switch(struct rg_plan *plan, const struct rg_playbook *pb, bool *changed)
{
    bool probed = false, started = false;

    for (size_t i = 0; i < pb->n_deploy; i++) {
        const struct rg_step *s = &pb->deploy[i];
        enum rg_state st = step_state(s->kind);
        if (s->kind == RG_STEP_SWITCH)
            continue;
        if (s->kind == RG_STEP_UP) {
            st = RG_ST_CANDIDATE;
            started = true;
        } else if (s->kind == RG_STEP_VERIFY && started && !probed) {
            push(plan, RG_ST_PROBE, s, changed);
            push(plan, RG_ST_PROXY, NULL, changed);
            probed = true;
        }
        push(plan, st, s, changed);
    }
    push(plan, RG_ST_RETIRE, NULL, changed);
}

int
rg_plan_build(struct rg_plan **out, const struct rg_playbook *pb, const char *tag,
              struct rg_err *err)
{
    struct rg_plan *plan = NULL;
    int rc = 0;

    *out = NULL;
    if (tag && (rc = rg_playbook_check_tag(pb, tag, err)) < 0)
        return rc;
    plan = rg_calloc(1, sizeof(*plan));
    plan->pb = pb;
    plan->tag = tag ? rg_strdup(tag) : NULL;
    /* Where each failure leads is the transition table's answer, never a second copy of it. */
    bool changed = false;
    push(plan, RG_ST_PREFLIGHT, NULL, &changed);
    if (pb->backup.enabled && pb->backup.before_deploy)
        push(plan, RG_ST_BACKUP, NULL, &changed);
    if (pb->strategy == RG_STRATEGY_SWITCH) {
        plan_switch(plan, pb, &changed);
    } else {
        for (size_t i = 0; i < pb->n_deploy; i++)
            push(plan, step_state(pb->deploy[i].kind), &pb->deploy[i], &changed);
    }
    push(plan, RG_ST_COMMIT, NULL, &changed);
    plan->rungs = rg_calloc(pb->n_recover ? pb->n_recover : 1, sizeof(*plan->rungs));
    for (size_t i = 0; i < pb->n_recover; i++)
        plan_rung(&plan->rungs[plan->n_rungs++], pb, &pb->recover[i], i + 1 < pb->n_recover);
    *out = plan;
    return 0;
}

void
rg_plan_free(struct rg_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->n_rungs; i++)
        free(plan->rungs[i].stages);
    free(plan->rungs);
    free(plan->stages);
    free(plan->tag);
    free(plan->current);
    free(plan->current_note);
    free(plan);
}
