/* `rollgate deploy`, `rollgate rollback` and `rollgate resume`: one engine run each, with the
 * same lock, progress output and exit codes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ci_report.h"
#include "cmd.h"
#include "handoff.h"
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
    const char *const *reports;
    size_t n_reports;
    const char *wait_timeout;
    bool cancel_on_timeout;
};

/* The first six are shared by deploy and rollback, at the same index; the three CI options
 * follow each command's own (at ci_base). */
enum { OPT_TAG, OPT_JSON, OPT_WAIT, OPT_ACTOR, OPT_TRIGGER, OPT_LOG, OPT_COMMIT = 6 };
enum { OPT_FORCE = 6, OPT_TAKEOVER = 7 };
enum { RESUME_JSON, RESUME_WAIT, RESUME_ACTOR, RESUME_LOG };
enum { CI_REPORT, CI_WAIT_TIMEOUT, CI_CANCEL_ON_TIMEOUT };
enum { DEPLOY_CI = 7, ROLLBACK_CI = 8, RESUME_CI = 4 };

#define LOG_HELP "keep the run's output in FILE (default: under the state directory's logs/)"
#define CI_OPTS                                                                                   \
    {"report", 0, "FORMAT", RG_CI_REPORT_HELP},                                                   \
    {"wait-timeout", 0, "DURATION",                                                               \
     "stop waiting after this long, the lock included: exit 6 with the 'rollgate attach' line; "  \
     "the run goes on in a worker"},                                                              \
    {"cancel-on-timeout", 0, NULL,                                                                \
     "at --wait-timeout, call the run off instead: abort before the switch, roll back after it"}

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
    CI_OPTS,
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
    CI_OPTS,
    {0},
};

static const struct rg_opt resume_opts[] = {
    [RESUME_JSON] = {"json", 0, NULL, "print one JSON event per line"},
    [RESUME_WAIT] = {"wait", 0, "DURATION", "wait this long for the lock"},
    [RESUME_ACTOR] = {"actor", 0, "NAME", "who does it (default: $USER)"},
    [RESUME_LOG] = {"log", 0, "FILE", LOG_HELP},
    CI_OPTS,
    {0},
};

/* Everything a run's reports go to: the CI reports, the watcher, the run log (and through it
 * the terminal or JSON). */
struct sinks {
    struct rg_ci_report *ci;
    struct rg_handoff *handoff;
    struct rg_runlog *log;
};

static void
report_all(const struct rg_report *r, void *data)
{
    struct sinks *s = data;

    rg_handoff_note(s->handoff, r);
    rg_ci_report_event(s->ci, r); /* a group opens before the stage's lines */
    rg_runlog_report(r, s->log);
}

/* --wait-timeout passed while another deploy held the lock: the deploy goes on waiting for
 * the rest of --wait in a worker, or (--cancel-on-timeout, or no --wait left) it is given up. */
static int
queue_in_worker(struct rg_cmd_ctx *ctx, enum rg_run_kind kind, const struct run_args *a,
                struct rg_handoff *h, int64_t wait_ms, const char *busy)
{
    char left[32], d[32], *abs = realpath(ctx->args[0], NULL);
    const char *args[24];
    size_t n = 0;
    int pid;

    rg_duration_format(d, sizeof(d), h->timeout_ms);
    /* A takeover is a person's emergency, now or never: it is not queued. */
    if (a->cancel_on_timeout || a->takeover || wait_ms <= h->timeout_ms) {
        fprintf(ctx->errout, "rollgate: %s: --wait-timeout %s passed waiting for the target: %s; "
                             "nothing was started\n", ctx->cmd->name, d, busy);
        free(abs);
        return RG_EXIT_BUSY;
    }
    rg_duration_format(left, sizeof(left), wait_ms - h->timeout_ms);
    args[n++] = ctx->cmd->name; /* deploy, rollback or resume */
    args[n++] = abs ? abs : ctx->args[0];
    if (a->tag) {
        args[n++] = kind == RG_RUN_ROLLBACK ? "--to" : "--tag";
        args[n++] = a->tag;
    }
    args[n++] = "--wait";
    args[n++] = left;
    args[n++] = "--actor";
    args[n++] = h->actor;
    if (kind != RG_RUN_RESUME) {
        args[n++] = "--trigger";
        args[n++] = a->trigger ? a->trigger : "cli";
    }
    if (a->commit) {
        args[n++] = "--commit";
        args[n++] = a->commit;
    }
    if (a->force)
        args[n++] = "--force";
    args[n++] = "--log";
    args[n++] = h->worker_log;
    args[n++] = "--report";
    args[n++] = "none";
    args[n] = NULL;
    pid = rg_handoff_spawn(h, args, h->worker_log);
    free(abs);
    if (pid < 0)
        return RG_EXIT_INTERNAL;
    fprintf(ctx->errout,
            "rollgate: %s: --wait-timeout %s passed waiting for the target (%s); the %s goes on "
            "waiting in a worker (pid %d) for up to %s more; follow it: rollgate attach %s %s\n",
            ctx->cmd->name, d, busy, args[0], pid, left, ctx->args[0], h->worker_log);
    return RG_EXIT_STILL_RUNNING;
}

static int
run_command(struct rg_cmd_ctx *ctx, enum rg_run_kind kind, const struct run_args *a)
{
    struct rg_playbook *pb = NULL;
    struct rg_run_result res;
    struct rg_progress prog;
    struct rg_runlog log;
    struct rg_run_opts o = {.kind = kind, .cancel_fd = -1};
    struct rg_handoff h = {0};
    struct rg_ci_report *ci = NULL;
    struct sinks sinks = {.handoff = &h, .log = &log};
    struct rg_err err;
    char *log_path = NULL, *note = NULL;
    const char *outcome;
    int64_t wait_ms = 0;
    int rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        return rc;
    if (kind == RG_RUN_DEPLOY && !a->tag) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--tag is required; usage: rollgate %s %s",
                                  ctx->cmd->name, ctx->cmd->usage);
    }
    if (a->wait && rg_duration_parse(&wait_ms, a->wait, &err) < 0) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--wait: %s", err.msg);
    }
    if (a->wait_timeout && rg_duration_parse(&h.timeout_ms, a->wait_timeout, &err) < 0) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--wait-timeout: %s", err.msg);
    }
    if (a->wait_timeout && h.timeout_ms <= 0) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--wait-timeout must be more than 0");
    }
    if (a->cancel_on_timeout && !a->wait_timeout) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "--cancel-on-timeout needs --wait-timeout");
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
    if (rg_ci_report_open(&ci, a->reports, a->n_reports, ctx->cmd->name, pb, ctx->out,
                          ctx->errout, a->json, &err) < 0) {
        rg_playbook_free(pb);
        return rg_cli_usage_error(ctx->cmd, "%s", err.msg);
    }
    sinks.ci = ci;
    o.tag = a->tag;
    o.force = a->force;
    o.takeover = a->takeover;
    o.commit = a->commit;
    o.actor = a->actor ? a->actor : rg_cli_actor();
    o.trigger = a->trigger ? a->trigger : "cli";
    /* The lock is part of what the job waits for. */
    o.lock_wait_ms = h.timeout_ms && (!wait_ms || wait_ms > h.timeout_ms) ? h.timeout_ms
                                                                          : wait_ms;
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
    h.playbook = ctx->args[0];
    h.target = pb->name;
    h.state_dir = pb->state_dir;
    h.actor = o.actor;
    h.log_path = log_path;
    h.cancel_on_timeout = a->cancel_on_timeout;
    h.errout = ctx->errout;
    o.cancel_fd = rg_handoff_start(&h, rg_signals_install());
    o.cancel_kind = rg_handoff_cancel_kind;
    o.cancel_data = &h;
    o.report = report_all;
    o.report_data = &sinks;

    rc = rg_engine_run(&res, pb, &o, &err);
    rg_handoff_stop(&h);
    if (rc < 0 && res.halted && res.suspended) {
        /* The run a crash had left in flight, finished first, was handed over in its turn. */
        int pid = rg_handoff_spawn_resume(&h);
        rc = pid > 0 ? RG_EXIT_STILL_RUNNING : RG_EXIT_UNRECOVERED;
        outcome = "handed_over";
        note = rg_asprintf("the interrupted run #%lld it finished first was handed to a worker "
                           "(pid %d): rollgate attach %s %lld; this %s was not started",
                           (long long)res.deploy_id, pid,
                           ctx->args[0], (long long)res.deploy_id, ctx->cmd->name);
        fprintf(ctx->errout, "rollgate: %s: %s\n", ctx->cmd->name, note);
    } else if (rc == RG_EBUSY && h.timeout_ms && o.lock_wait_ms == h.timeout_ms &&
               !res.deploy_id) {
        rc = queue_in_worker(ctx, kind, a, &h, wait_ms, err.msg);
        outcome = rc == RG_EXIT_STILL_RUNNING ? "queued" : "busy";
        note = rg_asprintf("--wait-timeout passed waiting for the target: %s", err.msg);
    } else if (rc < 0) {
        fprintf(ctx->errout, "rollgate: %s: %s\n", ctx->cmd->name, err.msg);
        rc = rg_cli_exit_for(rc);
        outcome = "error";
        note = rg_strdup(err.msg);
    } else if (kind == RG_RUN_RESUME && res.nothing_to_do) {
        fprintf(ctx->out, "nothing to resume: the last deploy of '%s' finished\n", pb->name);
        rc = RG_EXIT_OK;
        outcome = "nothing_to_do";
    } else if (res.halted && !atomic_load(&h.takeover)) {
        /* Stopped in flight: a worker finishes it (started by the watcher already, or now for
         * a stop that raced the switch). */
        int pid = rg_handoff_spawn_resume(&h);
        rc = pid > 0 ? RG_EXIT_STILL_RUNNING : RG_EXIT_UNRECOVERED;
        outcome = "handed_over";
        note = pid > 0 ? rg_asprintf("handed to a worker (pid %d, log %s) that finishes or rolls "
                                     "back #%lld: rollgate attach %s %lld", pid, h.worker_log,
                                     (long long)res.deploy_id, ctx->args[0],
                                     (long long)res.deploy_id)
                       : rg_asprintf("stopped in flight: 'rollgate resume %s' finishes it",
                                     ctx->args[0]);
        if (!prog.json)
            fprintf(ctx->out, "%s #%lld %s\n", kind == RG_RUN_ROLLBACK ? "rollback" : "deploy",
                    (long long)res.deploy_id, note);
    } else {
        rc = rg_cli_exit_for_outcome(res.outcome, res.halted, kind == RG_RUN_ROLLBACK);
        outcome = res.halted ? "interrupted" : rg_outcome_name(res.outcome);
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
    if (rg_ci_report_finish(ci, res.deploy_id, res.tag[0] ? res.tag : a->tag, res.live_tag,
                            outcome, rc, note) < 0 && rc == RG_EXIT_OK)
        rc = RG_EXIT_CANTCREAT;
    fflush(ctx->out);
    rg_runlog_finish(&log, rc);
    rg_handoff_release(&h);
    rg_ci_report_free(ci);
    free(note);
    free(log_path);
    rg_playbook_free(pb);
    return rc;
}

static void
ci_args(struct run_args *a, const struct rg_cmd_ctx *ctx, int base)
{
    a->reports = ctx->optall[base + CI_REPORT];
    a->n_reports = (size_t)ctx->optcount[base + CI_REPORT];
    a->wait_timeout = ctx->optval[base + CI_WAIT_TIMEOUT];
    a->cancel_on_timeout = ctx->optcount[base + CI_CANCEL_ON_TIMEOUT] > 0;
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
    int ci = DEPLOY_CI;

    if (ctx->cmd == &rg_cmd_rollback) {
        a.force = ctx->optcount[OPT_FORCE] > 0;
        a.takeover = ctx->optcount[OPT_TAKEOVER] > 0;
        ci = ROLLBACK_CI;
    } else {
        a.commit = ctx->optval[OPT_COMMIT];
    }
    ci_args(&a, ctx, ci);
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
    ci_args(&a, ctx, RESUME_CI);
    return run_command(ctx, RG_RUN_RESUME, &a);
}

const struct rg_cmd rg_cmd_deploy = {
    .name = "deploy",
    .summary = "deploy a release; on failure repair, roll back or restore by the playbook",
    .usage = "--tag TAG [--json] [--wait DURATION] [--actor NAME] [--trigger cli|hook|ci] "
             "[--log FILE] [--commit OID] [--report FORMAT]... [--wait-timeout DURATION "
             "[--cancel-on-timeout]] PLAYBOOK",
    .description =
        "Runs the playbook's plan ('rollgate plan' shows it) under the target's lock: pull,\n"
        "switch the tag, bring the services up, pass the verify gates, stay stable for the\n"
        "settle window, mark the release known-good. Nothing changes before the pull works.\n"
        "After a failure past the switch, the recover ladder runs, each rung judged by the\n"
        "same gates. Every transition is in the ledger first. A deploy left in flight by a\n"
        "crash is finished first. A release in quarantine (it failed its gates, or a person\n"
        "rolled back from it) is refused, under any tag, until 'rollgate release allow'.\n"
        "The output is kept in a run log ('rollgate attach' follows it).\n"
        "SIGINT or SIGTERM before the switch aborts with nothing changed; after it the run is\n"
        "handed to a detached worker that finishes it or rolls back (exit 6). --report writes\n"
        "JUnit, GitHub or GitLab reports; --wait-timeout bounds the job's wait (exit 6, the\n"
        "deploy goes on; docs/ci-and-hooks.md). Exit: 0 deployed, 1 recovered,\n"
        "2 unrecovered, 3 aborted (nothing changed), 4 busy, 6 still running (handed to a\n"
        "worker), 65 invalid tag or playbook, or a release in quarantine.\n",
    .opts = deploy_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_deploy,
};

const struct rg_cmd rg_cmd_rollback = {
    .name = "rollback",
    .summary = "return a target to a known-good release, through the same lock and gates",
    .usage = "[--to TAG] [--force] [--takeover] [--json] [--wait DURATION] [--actor NAME] "
             "[--trigger cli|hook|ci] [--log FILE] [--report FORMAT]... [--wait-timeout DURATION "
             "[--cancel-on-timeout]] PLAYBOOK",
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
    .usage = "[--json] [--wait DURATION] [--actor NAME] [--log FILE] [--report FORMAT]... "
             "[--wait-timeout DURATION [--cancel-on-timeout]] PLAYBOOK",
    .description =
        "Reads the last intent in the ledger: a step in flight runs again (every step is\n"
        "idempotent) and the plan goes on; a step that had failed leads to the recover ladder.\n"
        "Exits as the deploy would have; 0 with a note when nothing is in flight.\n",
    .opts = resume_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_resume,
};
