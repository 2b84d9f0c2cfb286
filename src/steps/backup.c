/* The backup action: the data of the release serving now, archived before anything changes (a
 * deploy's BACKUP stage) or by hand, recorded with that release and its digest. */
#include "steps_internal.h"

int
rg_step_backup(struct rg_backup_row *out, struct rg_step_ctx *ctx, const char *serving_tag,
               int64_t deploy_id, struct rg_err *err)
{
    struct rg_release_row rel;
    struct rg_err ignored;
    const char *digest = NULL;

    /* The data belongs to the release serving now: the one a restore brings back with it. */
    if (serving_tag && serving_tag[0] &&
        rg_ledger_release(&rel, ctx->ledger, serving_tag, &ignored) == 0 && rel.digest[0])
        digest = rel.digest;
    return rg_backup_take(out, ctx->ledger, ctx->pb, serving_tag ? serving_tag : "", digest,
                          deploy_id, err);
}
