/* rg_engine_run: what happens before the first state — the tag checked, the lock taken, the
 * running release read, a deploy a crash left in flight finished first — and then the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

static int
open_target(struct run *r, struct rg_err *err)
{
    const struct rg_playbook *pb = r->pb;
    struct rg_lock_holder holder;
    int rc;

    /* A driver that cannot run this playbook is refused before anything is created. */
    if ((rc = rg_driver_open(&r->driver, pb, r->o->driver, err)) < 0 ||
        (rc = rg_ledger_open(&r->ledger, pb->state_dir, pb->name, err)) < 0 ||
        (rc = rg_lock_take(&r->lock, &holder, pb->state_dir, pb->name,
                           r->o->actor ? r->o->actor : "?", r->o->lock_wait_ms, err)) < 0)
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

/* The release serving now ("" when there is none yet): rg_live_release's answer. */
static void
read_live_tag(struct run *r)
{
    struct rg_live live;

    rg_live_release(&live, r->driver, r->ledger, 0);
    if (live.note[0])
        rg_log(RG_LOG_WARN, "%s", live.note);
    snprintf(r->prev_tag, sizeof(r->prev_tag), "%s", live.tag);
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
        (rc = rg_lock_set_deploy(r->lock, r->deploy_id, err)) < 0)
        return rc;
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
        (rc = begin(r, "deploy", err)) < 0)
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
        if ((rc = rg_playbook_check_tag(r->pb, r->o->tag, err)) < 0)
            return rc;
        if (!r->o->force && rg_ledger_release(&rel, r->ledger, r->o->tag, err) < 0)
            return rg_err_set(err, RG_EINVAL,
                              "release '%s' never passed its gates on '%s'; roll back to it "
                              "anyway with --force",
                              r->o->tag, r->pb->name);
        snprintf(r->tag, sizeof(r->tag), "%s", r->o->tag);
    } else {
        /* The newest known-good release other than the one serving now. run_rollback_target
         * excludes r->tag, so it must hold the serving release while the answer goes to a
         * buffer of its own (writing the answer into r->tag cleared it first, excluded nothing
         * and answered the serving release itself). */
        char target[sizeof(r->tag)];
        snprintf(r->tag, sizeof(r->tag), "%s", r->prev_tag);
        if ((rc = run_rollback_target(r, "previous", target, sizeof(target), err)) < 0)
            return rc;
        snprintf(r->tag, sizeof(r->tag), "%s", target);
        if (strcmp(r->tag, r->prev_tag) == 0)
            return rg_err_set(err, RG_ENOENT,
                              "'%s' already runs %s, its last known-good "
                              "release; name another with --to",
                              r->pb->name, r->tag);
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
