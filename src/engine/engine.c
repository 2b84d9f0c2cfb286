/* rg_engine_run: what happens before the first state — the tag checked, the lock taken, the
 * running release read, a deploy a crash left in flight finished first — and then the run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run_internal.h"

/* "<lead> deploy #N by ACTOR (TRIGGER), in STATE since WHEN, pid P<tail>" */
static void
lock_note(struct run *r, const char *lead, const struct rg_lock_holder *h, const char *tail)
{
    char when[64] = "an unknown time", *msg;
    time_t t = (time_t)(h->since_ms / 1000);
    struct tm tm;

    if (h->since_ms && gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    msg = rg_asprintf("%s deploy #%lld by %s (%s), in %s since %s, pid %d%s", lead,
                      (long long)h->deploy_id, h->actor[0] ? h->actor : "?",
                      h->trigger[0] ? h->trigger : "cli", h->state[0] ? h->state : "PREFLIGHT",
                      when, h->pid, tail);
    run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, msg);
    free(msg);
}

/* --takeover: the holder is asked to stop as a signal from its terminal would (before the
 * switch it aborts, after it halts between steps, in flight), and the lock is waited for. */
static int
take_over(struct run *r, const struct rg_lock_holder *h, struct rg_err *err)
{
    const struct rg_playbook *pb = r->pb;
    struct rg_lock_holder again;
    int64_t wait = r->o->lock_wait_ms > 0 ? r->o->lock_wait_ms : 120000;
    int rc;

    if (h->pid <= 1 || h->pid == (int)getpid() || kill(h->pid, 0) < 0)
        return rg_err_set(err, RG_EBUSY,
                          "cannot take over the lock of '%s': its record names no live process "
                          "(pid %d); try again in a moment",
                          pb->name, h->pid);
    /* Announced first: a deploy queued behind the holder must not get the lock before us. */
    if ((rc = rg_lock_announce_takeover(pb->state_dir, pb->name, true, err)) < 0)
        return rc;
    lock_note(r, "--takeover: stopping", h, ": SIGTERM sent, waiting for it to stop safely");
    if (kill(h->pid, SIGTERM) < 0 && errno != ESRCH) {
        rc = rg_err_sys(err, RG_EBUSY, "cannot signal pid %d holding '%s'", h->pid, pb->name);
    } else if ((rc = rg_lock_take(&r->lock, &again, pb->state_dir, pb->name,
                                  r->o->actor ? r->o->actor : "?", wait, err)) < 0) {
        rc = rg_err_set(err, RG_EBUSY,
                        "--takeover: pid %d was sent SIGTERM but still holds '%s' after the "
                        "wait; it stops at its next safe point (its deploy then stays in flight): "
                        "run the rollback again",
                        h->pid, pb->name);
    } else {
        r->taken_over = *h;
    }
    rg_lock_announce_takeover(pb->state_dir, pb->name, false, NULL);
    return rc;
}

static int
lock_target(struct run *r, struct rg_err *err)
{
    const struct rg_playbook *pb = r->pb;
    const char *actor = r->o->actor ? r->o->actor : "?";
    struct rg_lock_holder holder;
    int rc;

    rc = rg_lock_take(&r->lock, &holder, pb->state_dir, pb->name, actor, 0, err);
    if (rc == RG_EBUSY && r->o->takeover)
        return take_over(r, &holder, err);
    if (rc == RG_EBUSY && r->o->lock_wait_ms > 0) {
        char *msg = rg_asprintf("waiting for the lock: %s", err->msg);
        run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, msg);
        free(msg);
        rc = rg_lock_take(&r->lock, &holder, pb->state_dir, pb->name, actor, r->o->lock_wait_ms,
                          err);
    }
    if (rc == 0 && holder.stale)
        lock_note(r, "the lock was left by", &holder,
                  ", which no longer runs (killed?): taken over");
    return rc;
}

static int
open_target(struct run *r, struct rg_err *err)
{
    const struct rg_playbook *pb = r->pb;
    int rc;

    /* A driver that cannot run this playbook is refused before anything is created. The lock
     * comes before the ledger: creating or migrating it is then never raced by another
     * trigger of the same target (they wait, or are told busy). */
    if ((rc = rg_driver_open(&r->driver, pb, r->o->driver, err)) < 0 ||
        (rc = lock_target(r, err)) < 0 ||
        (rc = rg_ledger_open(&r->ledger, pb->state_dir, pb->name, err)) < 0)
        return rc;
    /* A missing tool is found before a run is recorded, not at its first step. A backup acts
     * on the database alone; a restore needs the tools only when a release runs (below). */
    if (r->o->kind != RG_RUN_BACKUP && r->o->kind != RG_RUN_RESTORE &&
        (rc = rg_driver_prepare(r->driver, err)) < 0)
        return rc;
    r->sc.driver = r->driver;
    r->sc.ledger = r->ledger;
    return 0;
}

/* The deploy --takeover stopped: halted in flight, it is closed rather than resumed (the
 * person taking over means to replace it), and the reason is in both runs' rows. */
static void
close_taken_over(struct run *r)
{
    struct rg_deploy_row last;
    struct rg_err err;
    char *why;

    if (!r->taken_over.pid || rg_ledger_last(&last, r->ledger, &err) < 0 || last.outcome[0] ||
        last.id != r->taken_over.deploy_id)
        return;
    why = rg_asprintf("stopped in %s by --takeover of %s", last.state,
                      r->o->actor ? r->o->actor : "?");
    if (rg_ledger_finish(r->ledger, last.id, "unrecovered", why, &err) < 0)
        rg_log(RG_LOG_ERROR, "%s", err.msg);
    free(why);
}

/* The release serving now ("" when there is none yet): rg_live_release's answer. */
static void
read_live_tag(struct run *r)
{
    struct rg_live live;

    rg_live_release(&live, r->driver, r->ledger, RG_LIVE_DIGEST);
    if (live.note[0])
        rg_log(RG_LOG_WARN, "%s", live.note);
    snprintf(r->prev_tag, sizeof(r->prev_tag), "%s", live.tag);
    snprintf(r->prev_digest, sizeof(r->prev_digest), "%s", live.digest);
}

static int
begin(struct run *r, const char *kind, struct rg_err *err)
{
    int rc;

    snprintf(r->kind, sizeof(r->kind), "%s", kind);
    rg_driver_remember(r->driver, r->prev_tag, &r->pb->runtime.services);
    if ((rc = rg_ledger_begin(&r->deploy_id, r->ledger, kind, r->tag, r->prev_tag,
                              r->o->trigger ? r->o->trigger : "cli",
                              r->o->actor ? r->o->actor : "?", err)) < 0 ||
        (rc = rg_lock_set_deploy(r->lock, r->deploy_id, r->o->trigger, err)) < 0 ||
        (r->o->commit &&
         (rc = rg_ledger_set_commit(r->ledger, r->deploy_id, r->o->commit, err)) < 0) ||
        (r->o->log_path &&
         (rc = rg_ledger_set_log(r->ledger, r->deploy_id, r->o->log_path, err)) < 0))
        return rc;
    /* What serves now is a release to go back to, even one rollgate never deployed. */
    if (rg_ledger_serving_add(r->ledger, r->prev_tag, r->prev_digest, 0, "observed", err) < 0)
        rg_log(RG_LOG_WARN, "%s", err->msg);
    if (r->taken_over.pid) {
        char *note = rg_asprintf("took over from deploy #%lld by %s (%s, in %s)",
                                 (long long)r->taken_over.deploy_id, r->taken_over.actor,
                                 r->taken_over.trigger[0] ? r->taken_over.trigger : "cli",
                                 r->taken_over.state[0] ? r->taken_over.state : "PREFLIGHT");
        if (rg_ledger_set_note(r->ledger, r->deploy_id, note, err) < 0)
            rg_log(RG_LOG_WARN, "%s", err->msg);
        free(note);
    }
    r->res->deploy_id = r->deploy_id;
    snprintf(r->res->tag, sizeof(r->res->tag), "%s", r->tag);
    run_report(r, RG_REPORT_START, RG_ST_PREFLIGHT, RG_EV_OK, kind);
    return 0;
}

static int
start_deploy(struct run *r, struct rg_err *err)
{
    int rc;

    if ((rc = rg_plan_build(&r->plan, r->pb, r->tag, err)) < 0 ||
        (rc = run_check_quarantine(r, r->tag, "", err)) < 0 || (rc = begin(r, "deploy", err)) < 0)
        return rc;
    r->sc.tag = r->tag;
    run_continue(r, 0, 0, false);
    return 0;
}

static int
start_rollback(struct run *r, struct rg_err *err)
{
    struct rg_release_row rel;
    int rc;

    if ((rc = rg_plan_build(&r->plan, r->pb, NULL, err)) < 0)
        return rc;
    if (r->o->tag) {
        struct rg_serving_row seen;
        if ((rc = rg_playbook_check_tag(r->pb, r->o->tag, err)) < 0)
            return rc;
        if (strcmp(r->o->tag, r->prev_tag) == 0)
            return rg_err_set(err, RG_ENOENT, "'%s' already runs %s: nothing to roll back to",
                              r->pb->name, r->o->tag);
        /* Any release seen serving here will do: gated, or observed before rollgate. */
        if (!r->o->force && rg_ledger_release(&rel, r->ledger, r->o->tag, err) < 0 &&
            rg_ledger_seen_serving(&seen, r->ledger, r->o->tag, err) <= 0)
            return rg_err_set(err, RG_EINVAL,
                              "release '%s' never served on '%s' (it never passed its gates "
                              "here, and was never seen serving); roll back to it anyway with "
                              "--force",
                              r->o->tag, r->pb->name);
        if ((rc = run_check_quarantine(r, r->o->tag, "", err)) < 0)
            return rc;
        snprintf(r->tag, sizeof(r->tag), "%s", r->o->tag);
    } else {
        /* The release before the one serving now, as `docker service rollback` and `kubectl
         * rollout undo` go: the serving one may have passed its gates and still be bad in
         * production. Ledgers from before the serving records fall back to known-good ones. */
        struct rg_serving_row before;
        rc = rg_ledger_serving_before(&before, r->ledger, r->prev_tag, err);
        if (rc == RG_ENOENT && (rc = rg_ledger_previous_good(&rel, r->ledger, r->prev_tag,
                                                             err)) == 0)
            snprintf(before.tag, sizeof(before.tag), "%s", rel.tag);
        if (rc == RG_ENOENT)
            return rg_err_set(err, RG_ENOENT,
                              "no release served on '%s' before %s (none recorded, or each one is "
                              "in quarantine): name one with --to",
                              r->pb->name, r->prev_tag[0] ? r->prev_tag : "the current one");
        if (rc < 0)
            return rc;
        snprintf(r->tag, sizeof(r->tag), "%s", before.tag);
    }
    run_build_rollback(r);
    if ((rc = begin(r, "rollback", err)) < 0)
        return rc;
    r->sc.tag = r->tag;
    run_continue(r, 0, 0, true);
    return 0;
}

/* A backup or a restore by hand: the same lock, ledger rows and reports as a deploy. */
static int
start_manual(struct run *r, struct rg_err *err)
{
    bool backup = r->o->kind == RG_RUN_BACKUP;
    int rc;

    if (!r->pb->backup.enabled)
        return rg_err_set(err, RG_EINVAL,
                          "playbook '%s' has no 'backup' section (database and "
                          "dir)",
                          r->pb->path);
    if (!backup && !r->o->backup_path)
        return rg_err_set(err, RG_EINVAL, "a restore needs a backup");
    /* The release serving stays the one serving: the data is what changes. Only instances that
     * run are stopped for the swap and brought back after it. */
    snprintf(r->tag, sizeof(r->tag), "%s", r->prev_tag);
    if (!backup && r->prev_tag[0]) {
        struct rg_live live;
        rg_live_release(&live, r->driver, r->ledger, RG_LIVE_INSTANCES);
        /* Not knowing what runs is no licence to swap the database under it: stop what may
         * run (a stop that fails aborts with nothing changed). */
        if (live.running < 0)
            rg_log(RG_LOG_WARN, "%s", live.note);
        r->serving_running = live.running != 0;
        if (r->serving_running && (rc = rg_driver_prepare(r->driver, err)) < 0)
            return rc;
    }
    if (backup)
        run_build_backup(r);
    else
        run_build_restore(r);
    if ((rc = begin(r, backup ? "backup" : "restore", err)) < 0)
        return rc;
    if (!backup) {
        /* The note also tells a later resume whether this run stops the serving release. */
        char *note = r->serving_running
                         ? rg_asprintf("restore of %s; %s " RG_RESTORE_STOPS_NOTE,
                                       r->o->backup_path, r->prev_tag)
                         : rg_asprintf("restore of %s", r->o->backup_path);
        struct rg_err nerr;
        /* The run is recorded already: a note that cannot be written must not leave it open. */
        if (rg_ledger_set_note(r->ledger, r->deploy_id, note, &nerr) < 0)
            rg_log(RG_LOG_WARN, "%s", nerr.msg);
        free(note);
    }
    r->sc.tag = r->tag;
    run_continue(r, 0, 0, true);
    return 0;
}

int
rg_engine_run(struct rg_run_result *out, const struct rg_playbook *pb,
              const struct rg_run_opts *opts, struct rg_err *err)
{
    struct run r;
    bool resumed = false;
    int rc;

    run_init(&r, pb, opts, out);
    /* A tag from outside is checked before anything is opened, locked or written. */
    if (opts->kind == RG_RUN_DEPLOY) {
        if (!opts->tag)
            return rg_err_set(err, RG_EINVAL, "a deploy needs a tag");
        if ((rc = rg_playbook_check_tag(pb, opts->tag, err)) < 0)
            goto out;
    }
    if ((rc = open_target(&r, err)) < 0)
        goto out;
    close_taken_over(&r);
    /* Whatever a crash left in flight is finished first, under the same lock. */
    if ((rc = run_resume(&r, &resumed, err)) < 0)
        goto out;
    if (opts->kind == RG_RUN_RESUME) {
        out->nothing_to_do = !resumed;
        goto out;
    }
    if (resumed && (out->halted || out->outcome == RG_OUTCOME_UNRECOVERED)) {
        rc = rg_err_set(err, RG_EBUSY,
                        "the interrupted deploy #%lld did not finish cleanly "
                        "(%s); not starting the %s: look at 'rollgate history' first",
                        (long long)out->deploy_id, rg_outcome_name(out->outcome),
                        opts->kind == RG_RUN_BACKUP    ? "backup"
                        : opts->kind == RG_RUN_RESTORE ? "restore"
                        : opts->kind == RG_RUN_ROLLBACK ? "rollback"
                                                        : "deploy");
        goto out;
    }
    if (resumed)
        run_reset(&r); /* the same lock goes on to the new deploy */
    read_live_tag(&r);
    if (opts->kind == RG_RUN_DEPLOY) {
        snprintf(r.tag, sizeof(r.tag), "%s", opts->tag);
        rc = start_deploy(&r, err);
    } else if (opts->kind == RG_RUN_ROLLBACK) {
        rc = start_rollback(&r, err);
    } else {
        rc = start_manual(&r, err);
    }
out:
    run_release(&r);
    return rc;
}
