/* Getting a release onto the target before anything switches: the playbook's `pull` step, and
 * making sure a release a rung or a rollback returns to is present (a rollback that has to pull
 * a missing image after the switch could leave nothing running). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps_internal.h"

int
step_pull(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    return rg_driver_pull(ctx->driver, step_services(ctx, step), ctx->tag, ctx->cancel_fd,
                          ctx->evidence, err);
}

void
rg_step_digest(struct rg_step_ctx *ctx, const char *tag, char *digest_out, size_t size)
{
    struct rg_err err;
    char *digest = NULL;
    int rc;

    digest_out[0] = '\0';
    if ((rc = rg_driver_digest(&digest, ctx->driver, tag, &err)) == 0)
        snprintf(digest_out, size, "%s", digest);
    else if (rg_driver_pins_digest(ctx->driver))
        rg_log(RG_LOG_WARN, "no digest for %s: %s", tag, err.msg);
    free(digest);
}

int
rg_step_ensure(struct rg_step_ctx *ctx, const char *tag, char *digest_out, size_t size,
               struct rg_err *err)
{
    struct rg_release_row rel;
    struct rg_err ignored;
    char *digest = NULL;
    int rc;

    digest_out[0] = '\0';
    if (!rg_driver_pins_digest(ctx->driver))
        return rg_driver_fetch(ctx->driver, tag, ctx->cancel_fd, ctx->evidence, err);
    /* One lookup when the release is present (the usual case: a rollback's rung races the
     * restart policy of the failed container, and each lookup costs a daemon round trip). */
    rc = rg_driver_digest(&digest, ctx->driver, tag, err);
    if (rc == RG_ENOENT) {
        /* The emergency case: the registry may be what is down. */
        if ((rc = rg_driver_fetch(ctx->driver, tag, ctx->cancel_fd, ctx->evidence, err)) < 0)
            rg_err_prefix(err, "release %s is not on this host, and fetching it failed: ", tag);
        else
            rc = rg_driver_digest(&digest, ctx->driver, tag, err);
    }
    if (rc < 0)
        goto out;
    /* The digest the release passed its gates with: a moved tag is a different release. */
    if (ctx->ledger && rg_ledger_release(&rel, ctx->ledger, tag, &ignored) == 0 && rel.digest[0] &&
        strcmp(rel.digest, digest) != 0)
        rg_buf_addf(ctx->evidence,
                    "warning: %s now points to %s, not %s it was known-good "
                    "with\n",
                    tag, digest, rel.digest);
    rg_buf_addf(ctx->evidence, "release %s is on the host (%s)\n", tag, digest);
    snprintf(digest_out, size, "%s", digest);
out:
    free(digest);
    return rc;
}
