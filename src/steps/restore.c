/* The restore action: the serving release's services stopped (nothing writes into the database
 * while it is swapped, nor reconnects to the restored one), then the backup restored into a
 * scratch database, verified and swapped in. */
#include <string.h>

#include "steps_internal.h"

/* After a failure that left the data as it was: what served is brought back. */
static void
bring_back(struct rg_step_ctx *ctx, struct rg_step_restore *rs)
{
    struct rg_err back;

    if (!rs->serving_tag || !rs->serving_tag[0])
        return;
    step_mark(ctx);
    if (rg_driver_up(ctx->driver, &ctx->pb->runtime.services, rs->serving_tag, ctx->cancel_fd,
                     ctx->evidence, &back) < 0) {
        rg_buf_addf(ctx->evidence, "bringing %s back up failed too: %s\n", rs->serving_tag,
                    back.msg);
        return;
    }
    rs->down = false;
}

int
rg_step_restore(struct rg_step_ctx *ctx, struct rg_step_restore *rs, struct rg_err *err)
{
    const struct rg_strv *services = &ctx->pb->runtime.services;
    struct rg_restore_opts o = {.jobs = rs->jobs};
    int rc;

    memset(&rs->result, 0, sizeof(rs->result));
    rs->down = false;
    /* A backup that cannot be restored is found out before anything is stopped. */
    if (rs->verify_first && (rc = rg_backup_verify(ctx->ledger, 0, rs->path, err)) < 0) {
        rg_err_prefix(err, "%s, nothing was changed: ", rc == RG_EINVAL ? "refused" : "failed");
        return rc;
    }
    if (rs->stop) {
        /* From here the serving release may be down, even when the stop fails half-way. */
        rs->down = true;
        if ((rc = rg_driver_stop(ctx->driver, services, ctx->evidence, err)) < 0) {
            bring_back(ctx, rs);
            return rc;
        }
    }
    rc = rg_backup_restore(&rs->result, ctx->pb, rs->path, &o, err);
    if (rc < 0 && !rs->result.changed)
        bring_back(ctx, rs); /* the data is as it was: so is what serves it */
    return rc;
}
