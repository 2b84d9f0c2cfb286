/* `rollgate deploy`, `rollgate rollback` and `rollgate resume`: one engine run each, with the
 * same lock, progress output and exit codes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "progress.h"
#include "runlog.h"
#include "rollgate/engine.h"
#include "signals.h"

/* The options every run command shares; each command's table lists those it takes. */
struct run_args {
    const char *tag;
    bool json;
    const char *wait;
    const char *actor;
    const char *trigger;
    const char *log;
    const char *commit;
    bool force;
    bool takeover;
};

/* The first six are shared by deploy and rollback, at the same index. */
enum { OPT_TAG, OPT_JSON, OPT_WAIT, OPT_ACTOR, OPT_TRIGGER, OPT_LOG, OPT_COMMIT = 6 };
enum { OPT_FORCE = 6, OPT_TAKEOVER = 7 };
enum { RESUME_JSON, RESUME_WAIT, RESUME_ACTOR, RESUME_LOG };

#define LOG_HELP "keep the run's output in FILE (default: under the state directory's logs/)"

static const struct rg_opt deploy_opts[] = {
    [OPT_TAG] = {"tag", 't', "TAG", "the release to deploy (checked against tag_pattern)"},
    [OPT_JSON] = {"json", 0, NULL, "print one JSON event per line (for CI)"},
    [OPT_WAIT] = {"wait", 0, "DURATION", "wait this long for another deploy of the target to end "
                                         "(default: fail at once with exit 4)"},
    [OPT_ACTOR] = {"actor", 0, "NAME", "who triggers this, for the ledger (default: $USER)"},
    [OPT_TRIGGER] = {"trigger", 0, "KIND", "cli, hook or ci, for the ledger (default: cli)"},
    [OPT_LOG] = {"log", 0, "FILE", LOG_HELP},
    [OPT_COMMIT] = {"commit", 0, "OID", "the git commit this release comes from, for the ledger "
                                        "(the git hook sets it)"},
    {0},
};

static const struct rg_opt rollback_opts[] = {
    [OPT_TAG] = {"to", 0, "TAG", "the release to return to, one seen serving here (default: the "
                                 "one that served before the serving one)"},
    [OPT_JSON] = {"json", 0, NULL, "print one JSON event per line"},
    [OPT_WAIT] = {"wait", 0, "DURATION", "wait this long for a running deploy to end"},
    [OPT_ACTOR] = {"actor", 0, "NAME", "who does it, for the ledger (default: $USER)"},
    [OPT_TRIGGER] = {"trigger", 0, "KIND", "cli, hook or ci (default: cli)"},
    [OPT_LOG] = {"log", 0, "FILE", LOG_HELP},
    [OPT_FORCE] = {"force", 0, NULL, "allow a tag never seen serving on this target"},
    [OPT_TAKEOVER] = {"takeover", 0, NULL, "stop a deploy that holds the target (SIGTERM), wait "
                                           "for it to halt safely, then roll back"},
    {0},
};

static const struct rg_opt resume_opts[] = {
    [RESUME_JSON] = {"json", 0, NULL, "print one JSON event per line"},
    [RESUME_WAIT] = {"wait", 0, "DURATION", "wait this long for the lock"},
    [RESUME_ACTOR] = {"actor", 0, "NAME", "who does it (default: $USER)"},
    [RESUME_LOG] = {"log", 0, "FILE", LOG_HELP},
    {0},
};

static int
run_command(struct rg_cmd_ctx *ctx, enum rg_run_kind kind, const struct run_args *a)
{
    struct rg_playbook *pb = NULL;
    struct rg_run_result res;
    struct rg_progress prog;
    struct rg_runlog log;
    struct rg_run_opts o = {.kind = kind, .cancel_fd = -1};
    struct rg_err err;
    char *log_path = NULL;
    int rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        return rc;
    if (kind == RG_RUN_DEPLOY && !a->tag) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--tag is required; usage: rollgate %s %s",
                                  ctx->cmd->name, ctx->cmd->usage);
    }
    if (a->wait && rg_duration_parse(&o.lock_wait_ms, a->wait, &err) < 0) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--wait: %s", err.msg);
    }
    if (a->trigger && strcmp(a->trigger, "cli") != 0 && strcmp(a->trigger, "hook") != 0 &&
        strcmp(a->trigger, "ci") != 0) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--trigger must be cli, hook or ci, not '%s'",
                                  a->trigger);
    }
    if (a->commit && !rg_cli_is_oid(a->commit)) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--commit must be 40 or 64 hex digits, not '%s'",
                                  a->commit);
    }
    o.tag = a->tag;
    o.force = a->force;
    o.takeover = a->takeover;
    o.commit = a->commit;
    o.actor = a->actor ? a->actor : rg_cli_actor();
    o.trigger = a->trigger ? a->trigger : "cli";
    o.cancel_fd = rg_signals_install();
    rg_progress_init(&prog, ctx->out, a->json, pb->name);
    /* Kept absolute in the ledger: attach may run from another directory. */
    if (a->log && a->log[0] != '/') {
        char cwd[4096];
        log_path = getcwd(cwd, sizeof(cwd)) ? rg_asprintf("%s/%s", cwd, a->log)
                                            : rg_strdup(a->log);
    } else {
        log_path = a->log ? rg_strdup(a->log) : rg_runlog_default_path(pb->state_dir, pb->name);
    }
    rg_runlog_init(&log, log_path, pb->name, &prog);
    o.log_path = log_path;
    o.report = rg_runlog_report;
    o.report_data = &log;

    rc = rg_engine_run(&res, pb, &o, &err);
    if (rc < 0) {
        fprintf(ctx->errout, "rollgate: %s: %s\n", ctx->cmd->name, err.msg);
        rc = rg_cli_exit_for(rc);
    } else if (kind == RG_RUN_RESUME && res.nothing_to_do) {
        fprintf(ctx->out, "nothing to resume: the last deploy of '%s' finished\n", pb->name);
        rc = RG_EXIT_OK;
    } else {
        rc = rg_cli_exit_for_outcome(res.outcome, res.halted, kind == RG_RUN_ROLLBACK);
        if (!prog.json) {
            if (res.halted)
                fprintf(ctx->out, "deploy #%lld interrupted: run 'rollgate resume %s'\n",
                        (long long)res.deploy_id, ctx->args[0]);
            else
                fprintf(ctx->out, "%s #%lld: %s; serving %s (exit %d)\n",
                        kind == RG_RUN_ROLLBACK ? "rollback" : "deploy",
                        (long long)res.deploy_id, rg_outcome_name(res.outcome),
                        res.live_tag[0] ? res.live_tag : "?", rc);
        }
    }
    fflush(ctx->out);
    fflush(ctx->errout);
    rg_runlog_finish(&log, rc);
    free(log_path);
    rg_playbook_free(pb);
    return rc;
}

/* deploy and rollback share their option table's layout (rollback adds --force). */
static struct run_args
shared_args(const struct rg_cmd_ctx *ctx)
{
    struct run_args a = {
        .tag = ctx->optval[OPT_TAG],
        .json = ctx->optcount[OPT_JSON] > 0,
        .wait = ctx->optval[OPT_WAIT],
        .actor = ctx->optval[OPT_ACTOR],
        .trigger = ctx->optval[OPT_TRIGGER],
        .log = ctx->optval[OPT_LOG],
    };
    if (ctx->cmd == &rg_cmd_rollback) {
        a.force = ctx->optcount[OPT_FORCE] > 0;
        a.takeover = ctx->optcount[OPT_TAKEOVER] > 0;
    } else {
        a.commit = ctx->optval[OPT_COMMIT];
    }
    return a;
}

static int
cmd_deploy(struct rg_cmd_ctx *ctx)
{
    struct run_args a = shared_args(ctx);

    return run_command(ctx, RG_RUN_DEPLOY, &a);
}

static int
cmd_rollback(struct rg_cmd_ctx *ctx)
{
    struct run_args a = shared_args(ctx);

    return run_command(ctx, RG_RUN_ROLLBACK, &a);
}

static int
cmd_resume(struct rg_cmd_ctx *ctx)
{
    struct run_args a = {
        .json = ctx->optcount[RESUME_JSON] > 0,
        .wait = ctx->optval[RESUME_WAIT],
        .actor = ctx->optval[RESUME_ACTOR],
        .log = ctx->optval[RESUME_LOG],
    };
    return run_command(ctx, RG_RUN_RESUME, &a);
}

const struct rg_cmd rg_cmd_deploy = {
    .name = "deploy",
    .summary = "deploy a release; on failure repair, roll back or restore by the playbook",
    .usage = "--tag TAG [--json] [--wait DURATION] [--actor NAME] [--trigger cli|hook|ci] "
             "[--log FILE] [--commit OID] PLAYBOOK",
    .description =
        "Runs the playbook's plan ('rollgate plan' shows it) under the target's lock: pull,\n"
        "switch the tag, bring the services up, pass the verify gates, stay stable for the\n"
        "settle window, mark the release known-good. Nothing changes before the pull works.\n"
        "After a failure past the switch, the recover ladder runs, each rung judged by the\n"
        "same gates. Every transition is in the ledger first. A deploy left in flight by a\n"
        "crash is finished first. A release in quarantine (it failed its gates, or a person\n"
        "rolled back from it) is refused, under any tag, until 'rollgate release allow'.\n"
        "The output is kept in a run log ('rollgate attach' follows it). Exit: 0 deployed,\n"
        "1 recovered, 2 unrecovered, 3 aborted (nothing changed), 4 busy, 65 invalid tag or\n"
        "playbook, or a release in quarantine.\n",
    .opts = deploy_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_deploy,
};

const struct rg_cmd rg_cmd_rollback = {
    .name = "rollback",
    .summary = "return a target to a known-good release, through the same lock and gates",
    .usage = "[--to TAG] [--force] [--takeover] [--json] [--wait DURATION] [--actor NAME] "
             "[--trigger cli|hook|ci] [--log FILE] PLAYBOOK",
    .description =
        "For the emergency by hand: goes back to the release that served before the one\n"
        "serving now (also one that served before rollgate's first deploy), or --to TAG, any\n"
        "release seen serving here. Its image is used from the host when it is there (the\n"
        "registry may be down), brought up and judged by the deploy's verify and settle.\n"
        "The release rolled back from goes into quarantine. A tag never seen serving here\n"
        "needs --force; a deploy holding the target is stopped first with --takeover.\n"
        "Exit: 0 rolled back, 2 the rollback failed, 3 nothing changed, 4 busy, 65 nothing\n"
        "to roll back to, an unknown tag or one in quarantine.\n",
    .opts = rollback_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_rollback,
};

const struct rg_cmd rg_cmd_resume = {
    .name = "resume",
    .summary = "finish or recover a deploy a crash or a signal left in flight",
    .usage = "[--json] [--wait DURATION] [--actor NAME] [--log FILE] PLAYBOOK",
    .description =
        "Reads the last intent in the ledger: a step in flight runs again (every step is\n"
        "idempotent) and the plan goes on; a step that had failed leads to the recover ladder.\n"
        "Exits as the deploy would have; 0 with a note when nothing is in flight.\n",
    .opts = resume_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_resume,
};
