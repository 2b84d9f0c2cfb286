/* The data half of a release: the backup taken before a deploy changes anything, the last rung
 * of the ladder, which restores that backup together with the release it belongs to, and a
 * restore by hand under the serving release. The choices are made here; the steps act. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

int
run_backup(struct run *r, struct rg_err *err)
{
    struct rg_backup_row *b = &r->res->backup;
    char note[1400];
    int rc;

    if ((rc = rg_step_backup(b, &r->sc, r->prev_tag, strcmp(r->kind, "backup") == 0 ? 0 : r->deploy_id,
                             err)) < 0)
        return rc;
    snprintf(note, sizeof(note), "backup #%lld of release %s: %s (%lld bytes)", (long long)b->id,
             b->tag[0] ? b->tag : "(none)", b->path, (long long)b->size);
    if (strcmp(r->kind, "backup") == 0 && rg_ledger_set_note(r->ledger, r->deploy_id, note, err) < 0)
        rg_log(RG_LOG_WARN, "%s", err->msg);
    run_report(r, RG_REPORT_NOTE, RG_ST_BACKUP, RG_EV_OK, note);
    return 0;
}

int
run_restore_target(struct run *r, const char *from, struct rg_err *err)
{
    struct rg_backup_row *b = &r->rung_backup;
    int rc;

    if (!from || strcmp(from, "before_deploy") == 0)
        rc = rg_ledger_backup_of_deploy(b, r->ledger, r->deploy_id, err);
    else
        rc = rg_ledger_backup_latest(b, r->ledger, NULL, err);
    if (rc < 0)
        return rc;
    if (!b->tag[0])
        return rg_err_set(err, RG_ENOENT,
                          "backup #%lld was taken with no release serving, so "
                          "there is no release to bring back with its data",
                          (long long)b->id);
    snprintf(r->rung_tag, sizeof(r->rung_tag), "%s", b->tag);
    r->sc.tag = r->rung_tag;
    return 0;
}

int
run_prepare_restore(struct run *r, const char *from, struct rg_err *err)
{
    int rc;

    if ((rc = run_restore_target(r, from, err)) < 0)
        return rc;
    rg_buf_addf(&r->evidence, "restoring backup #%lld (%s) with release %s\n",
                (long long)r->rung_backup.id, r->rung_backup.path, r->rung_tag);
    /* A backup that cannot be restored is found out before the failed release is stopped. */
    if ((rc = rg_backup_verify(r->ledger, r->rung_backup.id, r->rung_backup.path, err)) < 0)
        return rc;
    return rg_step_ensure(&r->sc, r->rung_tag, r->rung_digest, sizeof(r->rung_digest), err);
}

int
run_restore(struct run *r, struct rg_err *err)
{
    /* The run's own kind: a deploy resumed under `rollgate restore` is still a deploy. */
    bool manual = strcmp(r->kind, "restore") == 0;
    struct rg_step_restore rs = {
        .path = manual ? r->o->backup_path : r->rung_backup.path,
        .jobs = r->o->restore_jobs,
        /* By hand nothing has failed yet: a serving release is stopped only for a backup that
         * checks out, and comes back up when the restore changes nothing. The rung verified
         * its backup while preparing, and the release it stops has failed. */
        .verify_first = manual && r->serving_running,
        .serving_tag = manual && r->serving_running ? r->prev_tag : NULL,
        .stop = !manual || r->serving_running,
    };
    const struct rg_restore_result *res = &rs.result;
    char note[4096]; /* paths: a SQLite file and its kept copy, each up to 1 KiB */
    int rc;

    if (!manual && !r->rung_backup.id)
        return rg_err_set(err, RG_EINTERNAL, "restore without a backup chosen");
    rc = rg_step_restore(&r->sc, &rs, err);
    r->res->restored = rs.result;
    r->data_changed = rs.result.changed;
    r->release_down = manual && rs.down;
    if (rc < 0)
        return rc;
    if (manual)
        snprintf(note, sizeof(note),
                 "restored %s into '%s' in %.1fs; kept the replaced "
                 "database as '%s'%s%s",
                 rs.path, res->database, (double)res->elapsed_ms / 1000.0, res->replaced_db,
                 res->replaced_fs[0] ? " and the filestore as " : "", res->replaced_fs);
    else
        snprintf(note, sizeof(note),
                 "restored backup #%lld into '%s' in %.1fs; kept the "
                 "replaced database as '%s'%s%s",
                 (long long)r->rung_backup.id, res->database, (double)res->elapsed_ms / 1000.0,
                 res->replaced_db, res->replaced_fs[0] ? " and the filestore as " : "",
                 res->replaced_fs);
    run_report(r, RG_REPORT_NOTE, RG_ST_RESTORE, RG_EV_OK, note);
    return 0;
}
