/* The executor: runs a deploy's plan under the target's lock, writing every state's intent to
 * the ledger before acting and its outcome after. One function changes state (enter); the
 * transition table decides where an event leads. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "run_internal.h"

#define EVIDENCE_MAX (16 * 1024)

void
run_report(struct run *r, enum rg_report_kind kind, enum rg_state st, enum rg_event ev,
           const char *message)
{
    struct rg_report rep = {
        .kind = kind,
        .deploy_id = r->deploy_id,
        .state = st,
        .event = ev,
        .rung = r->rung,
        .rung_kind = r->rung ? rg_rung_kind_name(r->pb->recover[r->rung - 1].kind) : NULL,
        .tag = r->sc.tag ? r->sc.tag : r->tag,
        .outcome = r->res->outcome,
        .message = message,
        .elapsed_ms = rg_mono_ms() - r->started,
        .changed = r->changed,
        .step = kind == RG_REPORT_STATE || kind == RG_REPORT_RESULT ? r->step : NULL,
    };

    if (r->o->report)
        r->o->report(&rep, r->o->report_data);
}

enum rg_cancel_kind
run_cancel_kind(const struct run *r)
{
    return r->o->cancel_kind ? r->o->cancel_kind(r->o->cancel_data) : RG_CANCEL_STOP;
}

static void
on_gate(const struct rg_gate_result *g, void *data)
{
    struct run *r = data;
    struct rg_report rep = {
        .kind = RG_REPORT_GATE,
        .deploy_id = r->deploy_id,
        .state = r->state,
        .rung = r->rung,
        .rung_kind = r->rung ? rg_rung_kind_name(r->pb->recover[r->rung - 1].kind) : NULL,
        .gate = g,
        .step = r->step,
        .elapsed_ms = rg_mono_ms() - r->started,
        .deadline_ms = g->gate->timing.within_ms,
        .changed = r->changed,
    };

    if (r->o->report)
        r->o->report(&rep, r->o->report_data);
}

/* Resume is tested at every transition: a kill point right after each state's intent. */
static void
test_kill_point(const struct run *r, enum rg_state st)
{
    char want[64];

    if (!getenv("ROLLGATE_TEST_KILL_AT"))
        return;
    if (r->rung)
        snprintf(want, sizeof(want), "%s:%d", rg_state_name(st), r->rung);
    else
        snprintf(want, sizeof(want), "%s", rg_state_name(st));
    rg_test_kill_point(want);
}

/* The one state setter: the intent goes to the ledger, a line to the caller, then the state
 * changes. */
static int
enter(struct run *r, enum rg_state st, int stage, struct rg_err *err)
{
    int rc;

    if ((rc = rg_ledger_intent(r->ledger, r->deploy_id, rg_state_name(st), r->rung, stage,
                               r->sc.tag, err)) < 0)
        return rc;
    rg_log(RG_LOG_INFO, "deploy #%lld: %s%s", (long long)r->deploy_id, rg_state_name(st),
           r->rung ? " (recover)" : "");
    r->state = st;
    rg_lock_set_state(r->lock, rg_state_name(st));
    run_report(r, RG_REPORT_STATE, st, RG_EV_OK, NULL);
    test_kill_point(r, st);
    return 0;
}

static enum rg_event
event_of(int rc)
{
    switch (rc) {
    case 0: return RG_EV_OK;
    case RG_ETIMEOUT: return RG_EV_TIMEOUT;
    case RG_ECANCELED: return RG_EV_CANCEL;
    default: return RG_EV_FAIL;
    }
}

static bool
cancel_requested(const struct run *r)
{
    struct timespec zero = {0};
    fd_set fds;

    if (r->o->cancel_fd < 0)
        return false;
    /* Called off: the ladder that brings the service back is let finish. */
    if (r->rung > 0 && run_cancel_kind(r) == RG_CANCEL_RECOVER)
        return false;
    FD_ZERO(&fds);
    FD_SET(r->o->cancel_fd, &fds);
    return pselect(r->o->cancel_fd + 1, &fds, NULL, NULL, &zero, NULL) > 0;
}

/* The stages the engine acts on itself, or through a step with the run's data: PREFLIGHT (the
 * tag and the lock were checked before the run was recorded; under switch, the proxy is
 * checked here), BACKUP, RESTORE, RECOVER (prepare a rung), COMMIT
 * (the release is known-good), and the stages a rung or a manual run adds without a playbook
 * step: PULL (make sure the release is present), SWITCH and UP. */
static int
engine_action(struct run *r, const struct rg_plan_stage *stage, struct rg_err *err)
{
    switch (stage->state) {
    case RG_ST_PREFLIGHT:
        return r->pb->strategy == RG_STRATEGY_SWITCH ? rg_step_proxy_ready(&r->sc, err) : 0;
    case RG_ST_BACKUP: return run_backup(r, err);
    case RG_ST_RESTORE: return run_restore(r, err);
    case RG_ST_RECOVER: {
        const struct rg_rung *rung = &r->pb->recover[r->rung - 1];
        int rc;
        if (rung->kind == RG_RUNG_REPAIR) {
            r->sc.tag = r->tag; /* repaired in place: the same release */
            return 0;
        }
        if (rung->kind == RG_RUNG_RESTORE)
            return run_prepare_restore(r, rung->to, err);
        if ((rc = run_rollback_target(r, rung->to, r->rung_tag, sizeof(r->rung_tag), err)) < 0)
            return rc;
        r->sc.tag = r->rung_tag;
        rg_buf_addf(&r->evidence, "rolling back to %s\n", r->rung_tag);
        return rg_step_ensure(&r->sc, r->rung_tag, r->rung_digest, sizeof(r->rung_digest), err);
    }
    case RG_ST_PULL: return rg_step_ensure(&r->sc, r->sc.tag, r->digest, sizeof(r->digest), err);
    case RG_ST_SWITCH: return rg_step_run(&r->sc, RG_STEP_SWITCH, NULL, err);
    case RG_ST_UP:
        /* Behind a proxy, going back means pointing it at the release's instances. */
        if (r->pb->strategy == RG_STRATEGY_SWITCH)
            return rg_step_switch_to(&r->sc, r->sc.tag, err);
        return rg_step_run(&r->sc, RG_STEP_UP, NULL, err);
    case RG_ST_CANDIDATE: return rg_step_candidate(&r->sc, r->sc.tag, err);
    case RG_ST_PROXY: return rg_step_proxy(&r->sc, r->sc.tag, r->prev_tag, err);
    case RG_ST_RETIRE: return rg_step_retire(&r->sc, r->sc.tag, r->pb->proxy.drain_ms, err);
    case RG_ST_COMMIT:
        return rg_ledger_mark_good(r->ledger, r->sc.tag,
                                   strcmp(r->sc.tag, r->tag) == 0 ? r->digest : r->rung_digest,
                                   r->deploy_id, err);
    default: return rg_err_set(err, RG_EINTERNAL, "no action for %s", rg_state_name(stage->state));
    }
}

/* Under the switch strategy, verify and settle (and the probe of a candidate) judge exactly
 * the instances of the release being moved to, by their addresses: the release before still
 * runs beside them until it is retired. */
static int
target_checks(struct run *r, enum rg_state st, struct rg_err *err)
{
    int rc;

    rg_strv_release(&r->hosts);
    rg_strv_release(&r->ids);
    r->sc.hosts = r->sc.only_ids = NULL;
    r->sc.probe = st == RG_ST_PROBE;
    if (r->pb->strategy != RG_STRATEGY_SWITCH ||
        (st != RG_ST_PROBE && st != RG_ST_VERIFY && st != RG_ST_SETTLE))
        return 0;
    if ((rc = rg_step_instances_of(&r->sc, r->sc.tag, &r->hosts, &r->ids, err)) < 0)
        return rc;
    r->sc.hosts = &r->hosts;
    r->sc.only_ids = &r->ids;
    /* A service of the release with no running container (one that keeps exiting is between
     * two restarts) has nothing to judge: a gate naming it would be skipped, or would reach
     * nothing until its deadline. */
    for (size_t i = 0; i < r->pb->runtime.services.n; i++) {
        const char *svc = r->pb->runtime.services.v[i];
        bool seen = false;
        for (size_t k = 0; k < r->hosts.n && !seen; k++)
            seen = strncmp(r->hosts.v[k], svc, strlen(svc)) == 0 &&
                   r->hosts.v[k][strlen(svc)] == '=';
        if (!seen) {
            rg_step_container_evidence(&r->sc);
            return rg_err_set(err, RG_EGATE, "no container of service '%s' of release %s is "
                              "running (it exited, or keeps exiting and restarting)", svc,
                              r->sc.tag);
        }
    }
    return 0;
}

/* Records the digest of the release once it is pulled: what a later rollback pins. */
static void
record_digest(struct run *r)
{
    struct rg_err err;

    rg_step_digest(&r->sc, r->tag, r->digest, sizeof(r->digest));
    if (r->digest[0] && rg_ledger_set_digest(r->ledger, r->deploy_id, r->digest, &err) < 0)
        rg_log(RG_LOG_WARN, "%s", err.msg);
}

/* Runs one stage: intent, action, outcome. Returns the event. */
static enum rg_event
run_stage(struct run *r, const struct rg_plan_stage *stage, int index)
{
    struct rg_err err;
    enum rg_event ev;
    int rc;

    rg_err_clear(&err);
    rg_buf_reset(&r->evidence);
    r->cancel_before_stage = false;
    if (cancel_requested(r) && run_cancel_kind(r) == RG_CANCEL_SUSPEND) {
        /* Handed over before it began: nothing of this stage is recorded. */
        r->res->suspended = true;
        snprintf(r->last_error, sizeof(r->last_error), "handed over before %s",
                 rg_state_name(stage->state));
        return RG_EV_CANCEL;
    }
    if (cancel_requested(r)) {
        snprintf(r->last_error, sizeof(r->last_error), "interrupted before %s",
                 rg_state_name(stage->state));
        r->cancel_before_stage = true;
        r->last_code = RG_ECANCELED;
        snprintf(r->res->cause, sizeof(r->res->cause), "%s", r->last_error);
        return RG_EV_CANCEL;
    }
    r->changed = rg_plan_stage_move(stage, RG_EV_CANCEL) == RG_MOVE_HALT;
    r->step = stage->step;
    if ((rc = enter(r, stage->state, index, &err)) < 0) {
        snprintf(r->last_error, sizeof(r->last_error), "%s", err.msg);
        r->last_code = err.code;
        snprintf(r->res->cause, sizeof(r->res->cause), "%s", err.msg);
        return RG_EV_FAIL;
    }
    if ((rc = target_checks(r, stage->state, &err)) < 0)
        ; /* the instances to judge could not be listed: the stage fails */
    else if (stage->step && stage->state != RG_ST_CANDIDATE)
        rc = rg_step_run(&r->sc, stage->step->kind, stage->step, &err);
    else
        rc = engine_action(r, stage, &err);
    if (rc == 0 && stage->state == RG_ST_PULL && stage->step) {
        record_digest(r);
        rc = run_check_quarantine(r, r->tag, r->digest, &err);
    } else if (rc == 0 && stage->state == RG_ST_PULL && r->rung == 0 && r->digest[0] &&
               rg_ledger_set_digest(r->ledger, r->deploy_id, r->digest, &err) < 0) {
        /* A rollback by hand made its release present: its row names the digest too. */
        rg_log(RG_LOG_WARN, "%s", err.msg);
        rg_err_clear(&err);
    }
    ev = event_of(rc);
    if (rc < 0 && r->rung == 0 && strcmp(r->kind, "deploy") == 0 &&
        (stage->state == RG_ST_PROBE || stage->state == RG_ST_VERIFY ||
         stage->state == RG_ST_SETTLE) && ev != RG_EV_CANCEL) {
        r->gates_failed = true;
        run_diagnose_start(r);
    }
    if (rc < 0) {
        snprintf(r->last_error, sizeof(r->last_error), "%s: %s", rg_state_name(stage->state),
                 err.msg);
        r->last_code = err.code;
        snprintf(r->res->cause, sizeof(r->res->cause), "%s", err.msg);
    }
    /* The why first, then what the step saw (gate evidence begins with the why already). */
    char *said = NULL, *shown = NULL;
    if (rc < 0 && r->evidence.len &&
        strncmp(r->evidence.data, err.msg, strlen(err.msg)) == 0) {
        said = rg_strdup(r->evidence.data);
        shown = rg_strdup(r->evidence.data);
    } else if (rc < 0) {
        said = rg_asprintf("%s%s%s", err.msg, r->evidence.len ? "\n" : "",
                           r->evidence.len ? r->evidence.data : "");
        shown = rg_asprintf("%s%s%s", r->last_error, r->evidence.len ? "\n" : "",
                            r->evidence.len ? r->evidence.data : "");
    }
    /* Handed over in the middle of the step: its intent stays in flight, so that the worker's
     * resume runs it again, as after a crash. */
    if (ev == RG_EV_CANCEL && run_cancel_kind(r) == RG_CANCEL_SUSPEND) {
        r->res->suspended = true;
        run_report(r, RG_REPORT_RESULT, stage->state, ev, shown);
        free(said);
        free(shown);
        return ev;
    }
    /* The outcome is recorded even when the run stops here: it is what resume reads. */
    if (rg_ledger_done(r->ledger, r->deploy_id, rg_state_name(stage->state), r->rung, index,
                       rg_event_name(ev), said, &err) < 0)
        rg_log(RG_LOG_ERROR, "cannot record the outcome of %s: %s", rg_state_name(stage->state),
               err.msg);
    run_report(r, RG_REPORT_RESULT, stage->state, ev, shown);
    free(said);
    free(shown);
    return ev;
}

size_t
run_stages(struct run *r, const struct rg_plan_stage *stages, size_t n, size_t from,
           enum rg_move *move_out)
{
    for (size_t i = from; i < n; i++) {
        enum rg_event ev = run_stage(r, &stages[i], (int)i);
        enum rg_move mv = rg_plan_stage_move(&stages[i], ev);

        if (r->res->suspended) {
            *move_out = RG_MOVE_HALT;
            return i;
        }

        /* A signal noticed before a stage began is the previous stage's: before any change it
         * aborts, after one it halts for resume. */
        if (ev == RG_EV_CANCEL && r->cancel_before_stage)
            mv = i > 0     ? rg_plan_stage_move(&stages[i - 1], ev)
                 : r->rung ? RG_MOVE_HALT
                           : RG_MOVE_ABORT;
        /* Called off after the switch: the ladder brings back what served. */
        if (ev == RG_EV_CANCEL && mv == RG_MOVE_HALT && r->rung == 0 &&
            run_cancel_kind(r) == RG_CANCEL_RECOVER) {
            mv = RG_MOVE_RECOVER;
            snprintf(r->last_error, sizeof(r->last_error), "called off in %s",
                     rg_state_name(stages[i].state));
        }
        if (mv != RG_MOVE_NEXT) {
            *move_out = mv;
            return i;
        }
    }
    *move_out = RG_MOVE_NEXT;
    return n;
}

enum rg_outcome
run_ladder(struct run *r, int first, size_t from, bool *halted)
{
    *halted = false;
    /* Called off (--cancel-on-timeout): the rungs' steps and gates are not cut short. */
    if (run_cancel_kind(r) == RG_CANCEL_RECOVER)
        r->sc.cancel_fd = -1;
    for (int i = first; i <= (int)r->plan->n_rungs; i++, from = 0) {
        const struct rg_plan_rung *pr = &r->plan->rungs[i - 1];
        enum rg_move mv;

        r->rung = i;
        run_report(r, RG_REPORT_RUNG, RG_ST_RECOVER, RG_EV_OK, rg_rung_kind_name(pr->rung->kind));
        run_stages(r, pr->stages, pr->n_stages, from, &mv);
        if (mv == RG_MOVE_NEXT) {
            switch (pr->rung->kind) {
            case RG_RUNG_REPAIR: return RG_OUTCOME_REPAIRED;
            case RG_RUNG_ROLLBACK: return RG_OUTCOME_ROLLED_BACK;
            default: return RG_OUTCOME_RESTORED;
            }
        }
        if (mv == RG_MOVE_HALT) {
            *halted = true;
            return RG_OUTCOME_UNRECOVERED;
        }
    }
    return RG_OUTCOME_UNRECOVERED;
}

void
run_finish(struct run *r, enum rg_outcome outcome, const char *error)
{
    struct rg_err err;
    struct rg_live live;
    char *dx = run_diagnose_finish(r), *noted = NULL;

    r->res->outcome = outcome;
    r->res->restarted = outcome == RG_OUTCOME_RESTORED && r->serving_running;
    if (dx) {
        /* The causes go with the outcome's note: history and the notification show them. */
        run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, dx);
        noted = error ? rg_asprintf("%s\n%s", error, dx) : rg_strdup(dx);
    }
    if (rg_ledger_finish(r->ledger, r->deploy_id, rg_outcome_name(outcome),
                         outcome == RG_OUTCOME_DEPLOYED ? NULL : noted ? noted : error,
                         &err) < 0)
        rg_log(RG_LOG_ERROR, "%s", err.msg);
    if (error)
        snprintf(r->res->error, sizeof(r->res->error), "%s", error);
    rg_live_release(&live, r->driver, NULL, 0);
    snprintf(r->res->live_tag, sizeof(r->res->live_tag), "%s", live.tag);
    run_record_serving(r, outcome, live.tag);
    r->res->error_code = error ? (r->last_code ? r->last_code : RG_EINTERNAL) : 0;
    run_report(r, RG_REPORT_OUTCOME, RG_ST_COUNT, RG_EV_OK, error);
    run_notify(r, outcome, noted ? noted : error);
    free(noted);
    free(dx);
}

void
run_abort(struct run *r, enum rg_state st, const char *why)
{
    struct rg_err err;
    char *msg;

    if (r->pb->strategy != RG_STRATEGY_SWITCH ||
        (st != RG_ST_CANDIDATE && st != RG_ST_PROBE && st != RG_ST_PROXY) || !r->tag[0] ||
        strcmp(r->tag, r->prev_tag) == 0) {
        run_finish(r, RG_OUTCOME_ABORTED, why);
        return;
    }
    /* The proxy never moved (or moved back): users saw only the release that served. */
    rg_buf_reset(&r->evidence);
    if (rg_step_reject(&r->sc, r->tag, &err) < 0)
        msg = rg_asprintf("rejected before the switch: %s; removing the candidate failed: %s",
                          why, err.msg);
    else
        msg = rg_asprintf("rejected before the switch: %s; the candidate was removed, users "
                          "never saw it", why);
    run_report(r, RG_REPORT_NOTE, st, RG_EV_FAIL, msg);
    run_finish(r, RG_OUTCOME_ABORTED, msg);
    free(msg);
}

/* After the plan of a deploy (or a manual rollback) stopped at `stage` with `mv`. */
static void
conclude(struct run *r, enum rg_move mv, bool manual)
{
    enum rg_outcome outcome;
    bool halted = false;
    char why[RG_ERR_MSG_MAX + 64];

    snprintf(why, sizeof(why), "%s", r->last_error);
    switch (mv) {
    case RG_MOVE_NEXT:
        run_finish(r, manual ? run_manual_outcome(r, true) : RG_OUTCOME_DEPLOYED, NULL);
        return;
    case RG_MOVE_ABORT: run_abort(r, r->state, why); return;
    case RG_MOVE_HALT:
        r->res->halted = true;
        snprintf(r->res->error, sizeof(r->res->error), "%s", why);
        run_report(r, RG_REPORT_NOTE, r->state, RG_EV_CANCEL,
                   r->res->suspended
                       ? "handed over: the step stays in flight for the 'rollgate resume' that "
                         "takes it over"
                       : "interrupted: the deploy stays in flight; run 'rollgate resume' to "
                         "finish it");
        return;
    case RG_MOVE_RECOVER:
        if (manual) {
            run_finish(r, run_manual_outcome(r, false), why);
            return;
        }
        outcome = run_ladder(r, 1, 0, &halted);
        if (halted) {
            r->res->halted = true;
            snprintf(r->res->error, sizeof(r->res->error), "%s", r->last_error);
            return;
        }
        run_finish(r, outcome, why);
        return;
    case RG_MOVE_INVALID: break;
    }
    run_finish(r, RG_OUTCOME_UNRECOVERED, "internal: invalid transition");
}

void
run_continue(struct run *r, int rung, size_t from, bool manual)
{
    enum rg_move mv;
    bool halted;

    if (rung > 0) {
        enum rg_outcome outcome = run_ladder(r, rung, from, &halted);
        char why[RG_ERR_MSG_MAX + 64];
        if (halted) {
            r->res->halted = true;
            snprintf(r->res->error, sizeof(r->res->error), "%s", r->last_error);
            return;
        }
        snprintf(why, sizeof(why), "%s", r->last_error);
        run_finish(r, outcome, outcome == RG_OUTCOME_UNRECOVERED ? why : NULL);
        return;
    }
    if (manual)
        run_stages(r, r->manual_stages, r->n_manual_stages, from, &mv);
    else
        run_stages(r, r->plan->stages, r->plan->n_stages, from, &mv);
    conclude(r, mv, manual);
}

void
run_init(struct run *r, const struct rg_playbook *pb, const struct rg_run_opts *o,
         struct rg_run_result *res)
{
    memset(r, 0, sizeof(*r));
    memset(res, 0, sizeof(*res));
    r->pb = pb;
    r->o = o;
    r->res = res;
    r->started = rg_mono_ms();
    rg_buf_init(&r->evidence, EVIDENCE_MAX);
    r->sc.pb = pb;
    r->sc.cancel_fd = o->cancel_fd;
    r->sc.on_gate = on_gate;
    r->sc.on_gate_data = r;
    r->sc.evidence = &r->evidence;
}

void
run_reset(struct run *r)
{
    free(run_diagnose_finish(r));
    rg_plan_free(r->plan);
    r->plan = NULL;
    free(r->manual_stages);
    r->manual_stages = NULL;
    r->n_manual_stages = 0;
    r->deploy_id = 0;
    r->rung = 0;
    r->changed = false;
    r->step = NULL;
    r->gates_failed = false;
    r->tag[0] = r->prev_tag[0] = r->prev_digest[0] = r->digest[0] = '\0';
    r->rung_tag[0] = r->rung_digest[0] = '\0';
    memset(&r->rung_backup, 0, sizeof(r->rung_backup));
    r->last_error[0] = '\0';
    r->sc.tag = NULL;
    r->last_code = 0;
    r->data_changed = false;
    r->serving_running = false;
    r->release_down = false;
    memset(r->res, 0, sizeof(*r->res));
    rg_buf_reset(&r->evidence);
}

void
run_release(struct run *r)
{
    /* A run that halted (a signal during the ladder) never reached run_finish: its diagnosis
     * is waited for here, before the playbook it reads goes away. */
    free(run_diagnose_finish(r));
    rg_plan_free(r->plan);
    free(r->manual_stages);
    rg_driver_close(r->driver);
    rg_strv_release(&r->hosts);
    rg_strv_release(&r->ids);
    rg_ledger_close(r->ledger);
    rg_lock_release(r->lock);
    rg_buf_release(&r->evidence);
}
