/* `rollgate hook pre-receive`: before git accepts a push, each ref that would deploy is
 * checked — the playbook at the pushed commit (read from the quarantined objects, never from a
 * working tree) validated, the tag checked against the playbook's rules and the target's tag
 * policy, a deployed tag kept from being moved or deleted, a release in quarantine refused.
 * Read-only: no ref, no object, no ledger row is written (git forbids ref updates while the
 * push is quarantined; libgit2 would not stop us, so this file never asks for one). */
#include <stdlib.h>
#include <string.h>

#include "hook.h"
#include "rollgate/ledger.h"

/* Whether tag ever served on the playbook's target (known-good or seen serving), read-only. */
static bool
deployed(const struct rg_playbook *pb, const char *tag, int64_t *deploy_id)
{
    struct rg_ledger *l = NULL;
    struct rg_release_row rel;
    struct rg_serving_row seen;
    struct rg_err err;
    bool yes = false;

    *deploy_id = 0;
    if (rg_ledger_open_readonly(&l, pb->state_dir, pb->name, &err) < 0)
        return false;
    if (rg_ledger_release(&rel, l, tag, &err) == 0) {
        yes = true;
        *deploy_id = rel.deploy_id;
    } else if (rg_ledger_seen_serving(&seen, l, tag, &err) == 1) {
        yes = true;
        *deploy_id = seen.deploy_id;
    }
    rg_ledger_close(l);
    return yes;
}

static bool
quarantined(const struct rg_playbook *pb, const char *tag, struct rg_quarantine_row *q)
{
    struct rg_ledger *l = NULL;
    struct rg_err err;
    bool yes;

    if (rg_ledger_open_readonly(&l, pb->state_dir, pb->name, &err) < 0)
        return false;
    yes = rg_ledger_quarantined(q, l, tag, "", &err) == 1;
    rg_ledger_close(l);
    return yes;
}

/* A tag being moved or deleted: whether it deployed is asked of the ledger its old commit's
 * playbook names (the new commit's could name another target). 1 deployed (said on errout),
 * 0 not, -1 when it cannot be told (said too: a protection that cannot be checked refuses). */
static int
protected_tag(struct rg_cmd_ctx *ctx, struct rg_git_repo *repo, const struct rg_git_target *t,
              const struct rg_git_update *u, const char *tag, const char *what)
{
    struct rg_playbook *pb = NULL;
    struct rg_git_pushed old;
    struct rg_err err;
    int64_t id;
    int rc = 0;

    if (rg_git_resolve(&old, repo, u->old_oid, u->ref, &err) < 0 ||
        hook_load_playbook(&pb, ctx->errout, repo, old.commit, t, true) != 0) {
        fprintf(ctx->errout,
                "rollgate: refused: cannot tell whether tag %s deployed (its playbook at the old "
                "commit cannot be read), so it may not be %s (rollgate.%s.protect); an "
                "administrator can change it in the repository itself\n",
                tag, what, t->name);
        rc = -1;
    } else if (deployed(pb, tag, &id)) {
        fprintf(ctx->errout,
                "rollgate: refused: tag %s deployed on '%s' (deploy #%lld) and may not be %s "
                "(rollgate.%s.protect)%s\n",
                tag, pb->name, (long long)id, what, t->name,
                strcmp(what, "moved") == 0 ? "; push a new tag" : "");
        rc = 1;
    }
    rg_playbook_free(pb);
    return rc;
}

static const char *
kind_name(enum rg_git_tag_kind k)
{
    return k == RG_GIT_SIGNED ? "signed" : k == RG_GIT_ANNOTATED ? "annotated" : "lightweight";
}

/* One ref of one target: 0 when it may go in, 1 when it is refused (said on errout). */
static int
check_ref(struct rg_cmd_ctx *ctx, struct rg_git_repo *repo, const struct rg_git_target *t,
          const struct rg_git_update *u)
{
    const char *tag = hook_tag_of(u->ref);
    struct rg_playbook *pb = NULL;
    struct rg_git_pushed pushed;
    struct rg_quarantine_row q;
    struct rg_err err;
    int refused = 0;

    if (!tag) {
        fprintf(ctx->out, "rollgate: %s: %s is not a tag: deploys nothing\n", t->name, u->ref);
        return 0;
    }
    if (u->deleted) {
        if (t->protect && protected_tag(ctx, repo, t, u, tag, "deleted") != 0)
            return 1;
        fprintf(ctx->out, "rollgate: %s: deleting tag %s deploys nothing\n", t->name, tag);
        return 0;
    }
    if (rg_git_resolve(&pushed, repo, u->new_oid, u->ref, &err) < 0) {
        fprintf(ctx->errout, "rollgate: refused: %s\n", err.msg);
        return 1;
    }
    if (t->tags != RG_GIT_NOT_A_TAG && pushed.kind < t->tags) {
        fprintf(ctx->errout,
                "rollgate: refused: tag %s is %s; target '%s' deploys %s tags only "
                "(rollgate.%s.tags)\n",
                tag, kind_name(pushed.kind), t->name, kind_name(t->tags), t->name);
        return 1;
    }
    if (hook_load_playbook(&pb, ctx->errout, repo, pushed.commit, t, true) != 0) {
        fprintf(ctx->errout, "rollgate: refused: %s at %.12s is not a valid playbook\n",
                t->playbook, pushed.commit);
        return 1;
    }
    if (rg_playbook_check_tag(pb, tag, &err) < 0) {
        fprintf(ctx->errout, "rollgate: refused: %s\n", err.msg);
        refused = 1;
    } else if (!u->created && t->protect && protected_tag(ctx, repo, t, u, tag, "moved") != 0) {
        refused = 1;
    } else if (quarantined(pb, tag, &q)) {
        fprintf(ctx->errout,
                "rollgate: refused: release %s is in quarantine on '%s': %s; 'rollgate release "
                "allow' lifts it\n",
                tag, pb->name, q.reason);
        refused = 1;
    } else {
        fprintf(ctx->out, "rollgate: %s: %s at %.12s: %s valid, deploys once the push is in\n",
                t->name, tag, pushed.commit, t->playbook);
    }
    rg_playbook_free(pb);
    return refused;
}

int
hook_pre_receive(struct rg_cmd_ctx *ctx)
{
    struct hook_push p;
    struct rg_err err;
    int refused = 0, rc = RG_EXIT_INVALID;

    if (hook_push_read(&p, &err) < 0) {
        fprintf(ctx->errout, "rollgate: refused: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < p.n_updates; i++)
        for (size_t k = 0; k < p.n_targets; k++)
            if (rg_git_ref_matches(p.targets[k].ref, p.updates[i].ref))
                refused += check_ref(ctx, p.repo, &p.targets[k], &p.updates[i]);
    rc = refused ? RG_EXIT_INVALID : RG_EXIT_OK;
out:
    fflush(ctx->out);
    hook_push_release(&p);
    return rc;
}
