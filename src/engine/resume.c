/* Resume: a deploy a crash, an OOM kill or a signal left in flight. Its last ledger row says
 * where it was; every step is idempotent, so the step in flight runs again and the plan goes on
 * from there — or, when that step had failed, the ladder does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

/* What the containers (or units) look like, for the person reading the resume. */
static void
reconcile_note(struct run *r)
{
    struct rg_gate_env env = {.project = rg_driver_scope(r->driver),
                              .units = rg_driver_units(r->driver)};
    struct rg_buf seen;
    struct rg_err ignored;

    if (!env.project && !env.units)
        return;
    rg_buf_init(&seen, 8192);
    if (rg_gates_evidence(&seen, &env, &r->pb->runtime.services, 0, &ignored) == 0 &&
        seen.len)
        run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, seen.data);
    rg_buf_release(&seen);
}

/* A restore by hand that was interrupted may have stopped the serving release for its swap:
 * whatever the data now is, the release that served runs again (the next deploy or restore
 * decides about the data; nobody is helped by a target that serves nothing). */
static void
bring_back_serving(struct run *r, const struct rg_deploy_row *last)
{
    const struct rg_strv *services = &r->pb->runtime.services;
    struct rg_err err;
    char note[RG_ERR_MSG_MAX + 400];
    int running = 0;

    if (!last->tag[0] || !strstr(last->note, RG_RESTORE_STOPS_NOTE) ||
        rg_driver_running(&running, r->driver, services, &err) < 0 || running)
        return;
    if (rg_driver_up(r->driver, services, last->tag, r->o->cancel_fd, &r->evidence, &err) < 0)
        snprintf(note, sizeof(note), "release %s, stopped by the interrupted restore, could not be "
                 "brought up again: %s", last->tag, err.msg);
    else
        snprintf(note, sizeof(note), "release %s, stopped by the interrupted restore, runs again",
                 last->tag);
    run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, note);
}


/* The stage of the plan the ledger's (rung, stage) names, or NULL. */
static const struct rg_plan_stage *
planned_stage(const struct run *r, bool manual, int rung, size_t stage)
{
    if (rung > 0 && (size_t)rung <= r->plan->n_rungs)
        return stage < r->plan->rungs[rung - 1].n_stages ? &r->plan->rungs[rung - 1].stages[stage]
                                                         : NULL;
    if (rung == 0 && manual)
        return stage < r->n_manual_stages ? &r->manual_stages[stage] : NULL;
    return rung == 0 && stage < r->plan->n_stages ? &r->plan->stages[stage] : NULL;
}

int
run_resume(struct run *r, bool *resumed, struct rg_err *err)
{
    struct rg_deploy_row last;
    struct rg_transition_row t;
    enum rg_state st;
    enum rg_move mv;
    char note[RG_ERR_MSG_MAX];
    bool manual, in_flight;
    size_t from;
    int rung, rc;

    *resumed = false;
    if ((rc = rg_ledger_last(&last, r->ledger, err)) == RG_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (last.outcome[0])
        return 0; /* finished: nothing in flight */
    *resumed = true;
    r->deploy_id = last.id;
    r->res->deploy_id = last.id;
    snprintf(r->kind, sizeof(r->kind), "%s", last.kind);
    snprintf(r->tag, sizeof(r->tag), "%s", last.tag);
    snprintf(r->prev_tag, sizeof(r->prev_tag), "%s", last.prev_tag);
    snprintf(r->digest, sizeof(r->digest), "%s", last.digest);
    /* What served before the deploy, as when it began: the driver keeps it (never pruned). */
    rg_driver_remember(r->driver, r->prev_tag, &r->pb->runtime.services);
    snprintf(r->res->tag, sizeof(r->res->tag), "%s", last.tag);
    r->sc.tag = r->tag;
    manual = strcmp(last.kind, "deploy") != 0;
    if ((rc = rg_lock_set_deploy(r->lock, r->deploy_id, last.trigger, err)) < 0)
        return rc;
    /* `resume` (a worker a stopped CI job handed the run to, or a person) goes on in its own
     * log: attach follows the run there. */
    if (r->o->kind == RG_RUN_RESUME && r->o->log_path &&
        rg_ledger_set_log(r->ledger, r->deploy_id, r->o->log_path, err) < 0)
        rg_log(RG_LOG_WARN, "%s", err->msg);
    /* A backup or restore by hand is not run again on its own: the person who started it
     * decides, after looking at what it left (a restore may or may not have swapped). */
    if (strcmp(last.kind, "backup") == 0 || strcmp(last.kind, "restore") == 0) {
        if (strcmp(last.kind, "restore") == 0)
            bring_back_serving(r, &last);
        snprintf(note, sizeof(note),
                 "the %s #%lld started by hand was interrupted; run it again "
                 "if it is still wanted",
                 last.kind, (long long)last.id);
        run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, note);
        run_finish(r,
                   strcmp(last.kind, "backup") == 0 ? RG_OUTCOME_ABORTED : RG_OUTCOME_UNRECOVERED,
                   strcmp(last.kind, "backup") == 0
                       ? "interrupted: no backup was recorded"
                       : "interrupted: check the database (its replaced copy is kept if the "
                         "swap happened) and restore again");
        return 0;
    }
    if ((rc = rg_plan_build(&r->plan, r->pb, r->tag, err)) < 0)
        return rc;
    if (manual)
        run_build_rollback(r);
    if ((rc = rg_ledger_in_flight(&t, r->ledger, r->deploy_id, err)) < 0)
        return rc;
    in_flight = rc == 1;
    snprintf(note, sizeof(note), "resuming %s #%lld of %s, interrupted %s %s%s", last.kind,
             (long long)last.id, last.tag, in_flight ? "during" : "after",
             t.state[0] ? t.state : "its start", t.rung ? " (recover)" : "");
    run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, note);
    reconcile_note(r);

    rung = t.rung;
    from = (size_t)t.stage;
    st = rg_state_from_name(t.state);
    if (!t.state[0] || in_flight) {
        /* Nothing recorded yet, or a step in flight: (re)run it; every step is idempotent. */
        mv = RG_MOVE_NEXT;
    } else {
        enum rg_event ev = strcmp(t.event, "ok") == 0        ? RG_EV_OK
                           : strcmp(t.event, "timeout") == 0 ? RG_EV_TIMEOUT
                           : strcmp(t.event, "cancel") == 0  ? RG_EV_CANCEL
                                                             : RG_EV_FAIL;
        const struct rg_plan_stage *stage = planned_stage(r, manual, rung, from);
        mv = st == RG_ST_COUNT ? RG_MOVE_INVALID
             : stage && stage->state == st ? rg_plan_stage_move(stage, ev)
                                           : rg_engine_move(st, ev);
        if (mv == RG_MOVE_NEXT)
            from++;
        if (mv == RG_MOVE_HALT)
            mv = RG_MOVE_NEXT; /* interrupted by a signal: that step runs again */
    }
    /* Inside a rollback rung past its preparation, the release it returns to is the same one
     * the ledger still names as previous: the rung has not marked anything yet. A restore rung
     * finds the same backup again (that of this deploy, or the newest). */
    if (rung > 0 && mv == RG_MOVE_NEXT && from > 0) {
        const struct rg_rung *rg = &r->pb->recover[rung - 1];
        if (rg->kind == RG_RUNG_ROLLBACK) {
            if ((rc = run_rollback_target(r, rg->to, r->rung_tag, sizeof(r->rung_tag), err)) < 0)
                return rc;
            r->sc.tag = r->rung_tag;
        } else if (rg->kind == RG_RUNG_RESTORE && (rc = run_restore_target(r, rg->to, err)) < 0) {
            return rc;
        }
    }
    switch (mv) {
    case RG_MOVE_NEXT: run_continue(r, rung, from, manual); return 0;
    case RG_MOVE_ABORT: run_abort(r, st, t.detail); return 0;
    case RG_MOVE_RECOVER:
        if (manual) {
            run_finish(r, RG_OUTCOME_UNRECOVERED, t.detail);
            return 0;
        }
        run_continue(r, rung + 1, 0, false);
        return 0;
    default:
        run_finish(r, RG_OUTCOME_UNRECOVERED,
                   "the ledger's last transition is not one rollgate "
                   "writes; inspect it with 'rollgate history'");
        return 0;
    }
}
