/* Which release a rollback returns to, and making sure its image is on the host before anything
 * is switched: a rollback that has to pull a missing image can leave nothing running. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

#define PULL_TIMEOUT_MS (10 * 60 * 1000)

int
run_rollback_target(struct run *r, const char *to, char *tag_out, size_t size,
                    struct rg_err *err)
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
    return rg_err_set(err, RG_ENOENT, "no previous release of '%s' to roll back to (no "
                                      "known-good release in the ledger, and none served "
                                      "before this deploy)", r->pb->name);
}

int
run_ensure_image(struct run *r, const char *tag, char *digest_out, size_t size,
                 struct rg_err *err)
{
    const char *repo = r->pb->release.image;
    struct rg_release_row rel;
    struct rg_docker *d = NULL;
    char *ref = NULL, *digest = NULL;
    int rc;

    if (digest_out)
        digest_out[0] = '\0';
    if (!repo)
        return 0; /* no image: the systemd driver's releases live on disk */
    if ((rc = rg_docker_open(&d, NULL, err)) < 0)
        return rc;
    ref = rg_asprintf("%s:%s", repo, tag);
    if ((rc = rg_docker_image_digest(&digest, d, ref, repo, err)) == RG_ENOENT) {
        rg_buf_addf(&r->evidence, "image %s is not on the host: pulling it\n", ref);
        if ((rc = rg_docker_pull(d, repo, tag, PULL_TIMEOUT_MS, err)) < 0)
            goto out;
        rc = rg_docker_image_digest(&digest, d, ref, repo, err);
    }
    if (rc < 0)
        goto out;
    /* The digest the release passed its gates with: a moved tag is a different release. */
    if (rg_ledger_release(&rel, r->ledger, tag, err) == 0 && rel.digest[0] &&
        strcmp(rel.digest, digest) != 0)
        rg_buf_addf(&r->evidence,
                    "warning: %s now points to %s, not %s it was known-good with\n", ref,
                    digest, rel.digest);
    rg_buf_addf(&r->evidence, "image %s is on the host (%s)\n", ref, digest);
    if (digest_out)
        snprintf(digest_out, size, "%s", digest);
    rc = 0;
out:
    free(digest);
    free(ref);
    rg_docker_close(d);
    return rc;
}

void
run_build_rollback(struct run *r)
{
    const struct rg_playbook *pb = r->pb;
    size_t n = 0;

    r->rollback_stages = rg_calloc(pb->n_deploy + 5, sizeof(*r->rollback_stages));
    r->rollback_stages[n++] = (struct rg_plan_stage){RG_ST_PREFLIGHT, NULL, RG_ST_ABORTED};
    r->rollback_stages[n++] = (struct rg_plan_stage){RG_ST_PULL, NULL, RG_ST_ABORTED};
    r->rollback_stages[n++] = (struct rg_plan_stage){RG_ST_SWITCH, NULL, RG_ST_UNRECOVERED};
    r->rollback_stages[n++] = (struct rg_plan_stage){RG_ST_UP, NULL, RG_ST_UNRECOVERED};
    for (size_t i = 0; i < pb->n_deploy; i++)
        if (pb->deploy[i].kind == RG_STEP_VERIFY || pb->deploy[i].kind == RG_STEP_SETTLE)
            r->rollback_stages[n++] = (struct rg_plan_stage){
                pb->deploy[i].kind == RG_STEP_VERIFY ? RG_ST_VERIFY : RG_ST_SETTLE,
                &pb->deploy[i], RG_ST_UNRECOVERED};
    r->rollback_stages[n++] = (struct rg_plan_stage){RG_ST_COMMIT, NULL, RG_ST_UNRECOVERED};
    r->n_rollback_stages = n;
}
