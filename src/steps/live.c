/* The one answer to "which release serves this target?", used by deploy, rollback, status,
 * backup and restore alike: the driver's configuration says which release it runs, a value that
 * is not a valid tag is not trusted (rollgate never wrote it), and the ledger says whether that
 * release is known-good and with which digest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps_internal.h"

void
rg_live_release(struct rg_live *out, struct rg_driver *d, struct rg_ledger *ledger, unsigned what)
{
    struct rg_release_row rel;
    struct rg_err err;
    char *tag = NULL, *digest = NULL;

    memset(out, 0, sizeof(*out));
    out->running = -1;
    if ((what & RG_LIVE_INSTANCES) &&
        rg_driver_running(&out->running, d, &d->pb->runtime.services, &err) < 0) {
        out->running = -1;
        snprintf(out->note, sizeof(out->note), "cannot tell what runs: %s", err.msg);
    }
    if (rg_driver_configured(&tag, d, &err) < 0) {
        if (err.code != RG_ENOENT)
            snprintf(out->note, sizeof(out->note), "%s", err.msg);
        else
            snprintf(out->absent, sizeof(out->absent), "%s", err.msg);
        goto out;
    }
    if (rg_playbook_check_tag(d->pb, tag, &err) < 0) {
        snprintf(out->note, sizeof(out->note), "the running release '%s' is not a valid tag: %s",
                 tag, err.msg);
        goto out;
    }
    snprintf(out->tag, sizeof(out->tag), "%s", tag);
    out->source = RG_LIVE_CONFIGURED;
    if (ledger && rg_ledger_release(&rel, ledger, tag, &err) == 0) {
        out->known_good = true;
        snprintf(out->digest, sizeof(out->digest), "%s", rel.digest);
    }
    if ((what & RG_LIVE_DIGEST) && rg_driver_digest(&digest, d, tag, &err) == 0)
        snprintf(out->digest, sizeof(out->digest), "%s", digest);
out:
    free(digest);
    free(tag);
}
