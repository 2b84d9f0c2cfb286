/* The data half of a release: the backup taken before a deploy changes anything, and the last
 * rung of the ladder, which restores that backup together with the release it belongs to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/backup.h"
#include "run_internal.h"

int
run_backup(struct run *r, struct rg_err *err)
{
    struct rg_backup_row b;
    struct rg_release_row rel;
    struct rg_err ignored;
    const char *digest = NULL;
    char note[1400];
    int rc;

    /* The data belongs to the release serving now: the one a restore brings back with it. */
    if (r->prev_tag[0] && rg_ledger_release(&rel, r->ledger, r->prev_tag, &ignored) == 0 &&
        rel.digest[0])
        digest = rel.digest;
    if ((rc = rg_backup_take(&b, r->ledger, r->pb, r->prev_tag, digest, r->deploy_id, err)) < 0)
        return rc;
    snprintf(note, sizeof(note), "backup #%lld of release %s: %s (%lld bytes)", (long long)b.id,
             b.tag[0] ? b.tag : "(none)", b.path, (long long)b.size);
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
        return rg_err_set(err, RG_ENOENT, "backup #%lld was taken with no release serving, so "
                          "there is no release to bring back with its data", (long long)b->id);
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
    return run_ensure_image(r, r->rung_tag, r->rung_digest, sizeof(r->rung_digest), err);
}

/* The failed release must not write into the database while it is swapped, nor reconnect to
 * the restored one: its containers go first (the rung's UP brings the backup's release up). */
static int
stop_release(struct run *r, struct rg_err *err)
{
    const struct rg_strv *services = &r->pb->runtime.services;
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    int rc;

    if (!r->project)
        return 0;
    if ((rc = rg_docker_open(&d, NULL, err)) < 0 ||
        (rc = rg_docker_list(&list, &n, d, r->project, NULL, err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (services->n && !rg_strv_contains(services, list[i].service ? list[i].service : ""))
            continue;
        if ((rc = rg_docker_remove(d, list[i].id, err)) < 0)
            goto out;
        rg_buf_addf(&r->evidence, "removed container %s (%s) before the restore\n",
                    list[i].name, list[i].image ? list[i].image : "?");
    }
out:
    rg_containers_free(list, n);
    rg_docker_close(d);
    return rc;
}

int
run_restore(struct run *r, struct rg_err *err)
{
    struct rg_restore_result res;
    char note[1600];
    int rc;

    if (!r->rung_backup.id)
        return rg_err_set(err, RG_EINTERNAL, "restore without a backup chosen");
    if ((rc = stop_release(r, err)) < 0 ||
        (rc = rg_backup_restore(&res, r->pb, r->rung_backup.path, NULL, err)) < 0)
        return rc;
    snprintf(note, sizeof(note), "restored backup #%lld into '%s' in %.1fs; kept the replaced "
             "database as '%s'%s%s", (long long)r->rung_backup.id, res.database,
             (double)res.elapsed_ms / 1000.0, res.replaced_db,
             res.replaced_fs[0] ? " and the filestore as " : "", res.replaced_fs);
    run_report(r, RG_REPORT_NOTE, RG_ST_RESTORE, RG_EV_OK, note);
    return 0;
}
