/* `rollgate release allow|list`: the releases in quarantine — refused by every trigger, under
 * any tag, since they failed their gates or a person rolled back from them — and lifting one. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "rollgate/ledger.h"

static const struct rg_opt release_opts[] = {{0}};

static int
list(struct rg_cmd_ctx *ctx, struct rg_ledger *l, const struct rg_playbook *pb)
{
    struct rg_quarantine_row *q = NULL;
    struct rg_err err;
    size_t n = 0;

    if (l && rg_ledger_quarantine_list(&q, &n, l, &err) < 0) {
        fprintf(ctx->errout, "rollgate: release: %s\n", err.msg);
        return RG_EXIT_INTERNAL;
    }
    if (n == 0)
        fprintf(ctx->out, "no release of '%s' is in quarantine\n", pb->name);
    for (size_t i = 0; i < n; i++) {
        char when[32];
        rg_cli_format_time(when, sizeof(when), q[i].at_ms);
        fprintf(ctx->out, "%s  %s  since %s UTC  %s\n", q[i].tag,
                q[i].digest[0] ? q[i].digest : "(digest unknown)", when, q[i].reason);
    }
    free(q);
    return RG_EXIT_OK;
}

static int
allow(struct rg_cmd_ctx *ctx, struct rg_ledger *l, const struct rg_playbook *pb, const char *tag)
{
    struct rg_err err;
    size_t n = 0;

    if (rg_playbook_check_tag(pb, tag, &err) < 0) {
        fprintf(ctx->errout, "rollgate: release: %s\n", err.msg);
        return RG_EXIT_INVALID;
    }
    if (l && rg_ledger_allow(&n, l, tag, rg_cli_actor(), &err) < 0) {
        fprintf(ctx->errout, "rollgate: release: %s\n", err.msg);
        return RG_EXIT_INTERNAL;
    }
    /* Nothing lifted is not a success: the person may have mistyped the tag. */
    if (n == 0) {
        fprintf(ctx->errout,
                "rollgate: release: %s is not in quarantine on '%s' ('rollgate release list %s' "
                "shows what is)\n",
                tag, pb->name, ctx->args[1]);
        return RG_EXIT_INVALID;
    }
    fprintf(ctx->out, "release %s may be deployed again on '%s' (allowed by %s)\n", tag, pb->name,
            rg_cli_actor());
    return RG_EXIT_OK;
}

static int
cmd_release(struct rg_cmd_ctx *ctx)
{
    const char *sub = ctx->args[0];
    struct rg_playbook *pb = NULL;
    struct rg_ledger *l = NULL;
    struct rg_err err;
    int rc;

    if (strcmp(sub, "allow") != 0 && strcmp(sub, "list") != 0)
        return rg_cli_usage_error(ctx->cmd, "unknown action '%s': allow or list", sub);
    if (strcmp(sub, "allow") == 0 && ctx->nargs != 3)
        return rg_cli_usage_error(ctx->cmd, "usage: rollgate release allow PLAYBOOK TAG");
    if (strcmp(sub, "list") == 0 && ctx->nargs != 2)
        return rg_cli_usage_error(ctx->cmd, "usage: rollgate release list PLAYBOOK");
    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[1])) != 0)
        return rc;
    rc = rg_ledger_open_existing(&l, pb->state_dir, pb->name, &err);
    if (rc < 0 && rc != RG_ENOENT) {
        fprintf(ctx->errout, "rollgate: release: %s\n", err.msg);
        rg_playbook_free(pb);
        return rg_cli_exit_for(rc);
    }
    rc = strcmp(sub, "list") == 0 ? list(ctx, l, pb) : allow(ctx, l, pb, ctx->args[2]);
    rg_ledger_close(l);
    rg_playbook_free(pb);
    return rc;
}

const struct rg_cmd rg_cmd_release = {
    .name = "release",
    .summary = "list the releases in quarantine, or allow one to be deployed again",
    .usage = "list PLAYBOOK | allow PLAYBOOK TAG",
    .description =
        "A release that failed its gates, or that a person rolled back from, is in\n"
        "quarantine: deploy, rollback, the git hook and CI jobs refuse it, by tag and by\n"
        "image digest (the same image under a new tag too), naming the run that put it\n"
        "there. 'allow' lifts that (recorded with who did it). Exit: 0, 65 when the tag is\n"
        "not in quarantine.\n",
    .opts = release_opts,
    .min_args = 2,
    .max_args = 3,
    .run = cmd_release,
};
