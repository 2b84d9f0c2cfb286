/* The ledger's memory of releases: what served (so that a rollback by hand goes to the release
 * before the one serving, even one that served before rollgate's first deploy), and what may
 * not serve again — a release that failed its gates, or that a person rolled back from, stays
 * refused by every trigger, under any tag, until `rollgate release allow`. */
#include <stdio.h>
#include <string.h>

#include "run_internal.h"

int
run_check_quarantine(struct run *r, const char *tag, const char *digest, struct rg_err *err)
{
    struct rg_quarantine_row q;
    int rc = rg_ledger_quarantined(&q, r->ledger, tag, digest, err);

    if (rc <= 0)
        return rc;
    if (strcmp(q.tag, tag) == 0)
        return rg_err_set(err, RG_EINVAL,
                          "release %s is in quarantine: %s; deploy it again only after "
                          "'rollgate release allow %s %s'",
                          tag, q.reason, r->pb->path, tag);
    return rg_err_set(err, RG_EINVAL,
                      "release %s is the image of %s (%s), in quarantine: %s; deploy it only "
                      "after 'rollgate release allow %s %s'",
                      tag, q.tag, digest, q.reason, r->pb->path, q.tag);
}

static const char *
serving_how(enum rg_outcome outcome)
{
    switch (outcome) {
    case RG_OUTCOME_DEPLOYED: return "deployed";
    case RG_OUTCOME_ROLLED_BACK: return "rolled_back";
    case RG_OUTCOME_REPAIRED: return "repaired";
    case RG_OUTCOME_RESTORED: return "restored";
    default: return NULL;
    }
}

static void
quarantine(struct run *r, const char *tag, const char *digest, const char *reason)
{
    struct rg_quarantine_row q;
    struct rg_err err;
    char note[700];

    /* Once is enough: the first reason is the one a person needs. */
    if (rg_ledger_quarantined(&q, r->ledger, tag, digest, &err) != 0)
        return;
    if (rg_ledger_quarantine(r->ledger, tag, digest, r->deploy_id, reason, &err) < 0) {
        rg_log(RG_LOG_ERROR, "%s", err.msg);
        return;
    }
    snprintf(note, sizeof(note),
             "release %s is in quarantine: no trigger deploys it again until 'rollgate release "
             "allow %s %s'",
             tag, r->pb->path, tag);
    run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, note);
}

void
run_record_serving(struct run *r, enum rg_outcome outcome, const char *live_tag)
{
    const char *how = serving_how(outcome);
    const char *digest = "";
    struct rg_err err;
    char reason[512];

    if (how && live_tag && live_tag[0]) {
        if (strcmp(live_tag, r->tag) == 0)
            digest = r->digest;
        else if (strcmp(live_tag, r->rung_tag) == 0)
            digest = r->rung_digest;
        if (rg_ledger_serving_add(r->ledger, live_tag, digest, r->deploy_id, how, &err) < 0)
            rg_log(RG_LOG_WARN, "%s", err.msg);
    }
    if (strcmp(r->kind, "deploy") == 0 && r->gates_failed && outcome != RG_OUTCOME_DEPLOYED &&
        outcome != RG_OUTCOME_REPAIRED && r->tag[0]) {
        snprintf(reason, sizeof(reason), "it failed its gates in deploy #%lld (%s)",
                 (long long)r->deploy_id, rg_outcome_name(outcome));
        quarantine(r, r->tag, r->digest, reason);
    }
    /* A person who rolls back from a release that passed its gates has seen it fail. */
    if (strcmp(r->kind, "rollback") == 0 && outcome == RG_OUTCOME_ROLLED_BACK && r->prev_tag[0] &&
        strcmp(r->prev_tag, r->tag) != 0) {
        snprintf(reason, sizeof(reason), "%s rolled back from it in rollback #%lld",
                 r->o->actor ? r->o->actor : "someone", (long long)r->deploy_id);
        quarantine(r, r->prev_tag, r->prev_digest, reason);
    }
}
