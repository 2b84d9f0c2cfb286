/* `rollgate attach` and `rollgate wait`: follow a run that another process does — a deploy a
 * push started in the background, a CI job's, a colleague's — from its run log and the ledger,
 * and exit with the code that run exits with. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "rollgate/ledger.h"
#include "runlog.h"

enum { WAIT_TIMEOUT };

static const struct rg_opt attach_opts[] = {{0}};
static const struct rg_opt wait_opts[] = {
    [WAIT_TIMEOUT] = {"timeout", 0, "DURATION", "give up waiting after this long (exit 6; the "
                                                "run goes on)"},
    {0},
};

struct follow {
    struct rg_ledger *ledger;
    const struct rg_playbook *pb;
    int64_t id;
    struct rg_deploy_row row;
    int64_t ended_seen; /* monotonic ms the outcome was first seen, 0 before */
};

/* The writer's last lines (outcome, summary, exit line) come just after the outcome is in the
 * ledger and the lock is released: they are waited for this long. */
#define LAST_LINES_MS 3000

/* The run goes on while its row is open and someone holds the target's lock; once it has its
 * outcome, a little longer, for the lines that follow it. */
static bool
still_running(void *data)
{
    struct follow *f = data;
    struct rg_lock_holder h;
    struct rg_err err;

    if (rg_ledger_get(&f->row, f->ledger, f->id, &err) < 0)
        return false;
    if (f->row.outcome[0]) {
        if (!f->ended_seen)
            f->ended_seen = rg_mono_ms();
        return rg_mono_ms() - f->ended_seen < LAST_LINES_MS;
    }
    return rg_lock_peek(&h, f->pb->state_dir, f->pb->name, &err) == 1;
}

/* The exit code of a run that left no exit line, from its ledger row. */
static int
exit_from_row(struct rg_cmd_ctx *ctx, const struct follow *f)
{
    enum rg_outcome outcome = RG_OUTCOME_COUNT;

    for (int o = 0; o < RG_OUTCOME_COUNT; o++)
        if (strcmp(f->row.outcome, rg_outcome_name((enum rg_outcome)o)) == 0)
            outcome = (enum rg_outcome)o;
    if (!f->row.outcome[0]) {
        fprintf(ctx->errout,
                "rollgate: %s: %s #%lld was interrupted (in %s; no process runs it): 'rollgate "
                "resume %s' finishes it\n",
                ctx->cmd->name, f->row.kind, (long long)f->id, f->row.state, ctx->args[0]);
        return RG_EXIT_UNRECOVERED;
    }
    return rg_cli_exit_for_outcome(outcome, false, strcmp(f->row.kind, "rollback") == 0);
}

/* Without a run log (a run from before logs were kept): the ledger's transitions. */
static enum rg_follow_end
follow_ledger(struct rg_cmd_ctx *ctx, struct follow *f, bool print, int64_t deadline)
{
    struct rg_transition_row t[32];
    int64_t after = 0;
    struct rg_err err;

    for (;;) {
        size_t n = 0;
        bool running = still_running(f);
        if (rg_ledger_transitions(t, 32, &n, f->ledger, f->id, after, &err) < 0)
            return RG_FOLLOW_GONE;
        for (size_t i = 0; i < n; i++) {
            after = t[i].id;
            if (print)
                fprintf(ctx->out, "[%6.1fs] %s%s%s%s\n",
                        (double)(t[i].at_ms - f->row.started_ms) / 1000.0, t[i].state,
                        strcmp(t[i].phase, "done") == 0 ? " " : "",
                        strcmp(t[i].phase, "done") == 0 ? t[i].event : "",
                        t[i].rung ? " (recover)" : "");
        }
        fflush(ctx->out);
        if (n == 32)
            continue;
        if (!running)
            return RG_FOLLOW_GONE;
        if (deadline && rg_mono_ms() >= deadline)
            return RG_FOLLOW_TIMEOUT;
        nanosleep(&(struct timespec){.tv_nsec = 200 * 1000000L}, NULL);
    }
}

/* A run handed to a worker (its log ends "exit 6"): the worker's resume names its own log in
 * the ledger once it has the target. Waits for that, or for the run's end, or the deadline. */
static enum rg_follow_end
await_worker(struct follow *f, const char *followed, int64_t deadline)
{
    int64_t free_since = 0;
    struct rg_err err;

    for (;;) {
        struct rg_lock_holder h;
        if (rg_ledger_get(&f->row, f->ledger, f->id, &err) < 0 || f->row.outcome[0])
            return RG_FOLLOW_GONE;
        if (f->row.log[0] && strcmp(f->row.log, followed) != 0)
            return RG_FOLLOW_EXIT;
        if (deadline && rg_mono_ms() >= deadline)
            return RG_FOLLOW_TIMEOUT;
        /* Nobody holds the target for a while: no worker took it (killed before?). */
        if (rg_lock_peek(&h, f->pb->state_dir, f->pb->name, &err) == 1)
            free_since = 0;
        else if (!free_since)
            free_since = rg_mono_ms();
        else if (rg_mono_ms() - free_since > 5000)
            return RG_FOLLOW_GONE;
        nanosleep(&(struct timespec){.tv_nsec = 200 * 1000000L}, NULL);
    }
}

/* A worker that waits for the target before it has a deploy id: followed by its log file. */
struct follow_file {
    const struct rg_playbook *pb;
    const char *path;
    int64_t idle_since; /* monotonic ms since when nothing showed a writer, 0: it did */
};

/* Alive while the target is held (by the deploy it waits for, then by itself) or its log was
 * written lately; the moment between the holder's release and the worker's take is let pass. */
static bool
file_writer_alive(void *data)
{
    struct follow_file *ff = data;
    struct rg_lock_holder h;
    struct rg_err err;
    struct stat st;

    if (rg_lock_peek(&h, ff->pb->state_dir, ff->pb->name, &err) == 1 ||
        (stat(ff->path, &st) == 0 && rg_wall_ms() - (int64_t)st.st_mtime * 1000 < 10000)) {
        ff->idle_since = 0;
        return true;
    }
    if (!ff->idle_since)
        ff->idle_since = rg_mono_ms();
    return rg_mono_ms() - ff->idle_since < 5000;
}

static int
follow_file(struct rg_cmd_ctx *ctx, bool print, int64_t deadline)
{
    struct rg_playbook *pb = NULL;
    struct follow_file ff = {.path = ctx->args[1]};
    struct rg_err err;
    int code = RG_EXIT_INTERNAL, rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        return rc;
    ff.pb = pb;
    if (access(ff.path, R_OK) != 0) {
        fprintf(ctx->errout, "rollgate: %s: cannot read the run log '%s': %s\n", ctx->cmd->name,
                ff.path, strerror(errno));
        rg_playbook_free(pb);
        return RG_EXIT_INVALID;
    }
    switch (rg_runlog_follow(print ? ctx->out : NULL, ff.path, file_writer_alive, &ff, deadline,
                             &code, &err)) {
    case RG_FOLLOW_EXIT: rc = code; break;
    case RG_FOLLOW_CLOSED: rc = RG_EXIT_OK; break;
    case RG_FOLLOW_TIMEOUT:
        fprintf(ctx->errout, "rollgate: %s: the run of '%s' still goes on after %s\n",
                ctx->cmd->name, ff.path, ctx->optval[WAIT_TIMEOUT]);
        rc = RG_EXIT_STILL_RUNNING;
        break;
    default:
        fprintf(ctx->errout, "rollgate: %s: the process writing '%s' is gone without an exit "
                             "line: 'rollgate history %s' shows where it stopped\n",
                ctx->cmd->name, ff.path, ctx->args[0]);
        rc = RG_EXIT_UNRECOVERED;
    }
    if (!print && rc != RG_EXIT_STILL_RUNNING)
        fprintf(ctx->out, "the run of '%s' (exit %d)\n", ff.path, rc);
    rg_playbook_free(pb);
    return rc;
}

static int
follow_run(struct rg_cmd_ctx *ctx, bool print, int64_t timeout_ms)
{
    struct rg_playbook *pb = NULL;
    struct follow f = {0};
    struct rg_err err;
    long long id;
    int64_t deadline = timeout_ms ? rg_mono_ms() + timeout_ms : 0;
    enum rg_follow_end end;
    int code = RG_EXIT_INTERNAL, rc;

    if (strchr(ctx->args[1], '/'))
        return follow_file(ctx, print, deadline);
    if (rg_int_parse(&id, ctx->args[1], 1, INT64_MAX, &err) < 0)
        return rg_cli_usage_error(ctx->cmd, "ID: %s (the deploy's number, as 'rollgate history' "
                                            "shows it)", err.msg);
    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        return rc;
    f.pb = pb;
    f.id = id;
    if ((rc = rg_ledger_open_existing(&f.ledger, pb->state_dir, pb->name, &err)) < 0 ||
        (rc = rg_ledger_get(&f.row, f.ledger, id, &err)) < 0) {
        fprintf(ctx->errout, "rollgate: %s: %s\n", ctx->cmd->name, err.msg);
        rc = rg_cli_exit_for(rc);
        goto out;
    }
    /* The run log begins with the run's own first line; the ledger's transitions need one. */
    if (f.row.log[0] && access(f.row.log, R_OK) == 0) {
        char followed[sizeof(f.row.log)];
        for (;;) {
            snprintf(followed, sizeof(followed), "%s", f.row.log);
            end = rg_runlog_follow(print ? ctx->out : NULL, followed, still_running, &f,
                                   deadline, &code, &err);
            if (end != RG_FOLLOW_EXIT || code != RG_EXIT_STILL_RUNNING)
                break;
            /* Handed over: the run goes on in a worker's log. */
            if ((end = await_worker(&f, followed, deadline)) != RG_FOLLOW_EXIT)
                break;
            if (print)
                fprintf(ctx->out, "rollgate: the run goes on in %s\n", f.row.log);
        }
    } else {
        if (print)
            fprintf(ctx->out, "%s #%lld of '%s': %s (%s by %s)\n", f.row.kind, id, pb->name,
                    f.row.tag, f.row.trigger, f.row.actor);
        end = follow_ledger(ctx, &f, print, deadline);
    }
    switch (end) {
    case RG_FOLLOW_EXIT: rc = code; break;
    case RG_FOLLOW_CLOSED: rc = RG_EXIT_OK; break; /* the reader went away */
    case RG_FOLLOW_TIMEOUT:
        fprintf(ctx->errout,
                "rollgate: %s: %s #%lld still runs after %s (it goes on); follow it with "
                "'rollgate attach %s %lld'\n",
                ctx->cmd->name, f.row.kind, id, ctx->optval[WAIT_TIMEOUT], ctx->args[0], id);
        rc = RG_EXIT_STILL_RUNNING;
        break;
    case RG_FOLLOW_GONE:
        if (rg_ledger_get(&f.row, f.ledger, id, &err) < 0) {
            fprintf(ctx->errout, "rollgate: %s: %s\n", ctx->cmd->name, err.msg);
            rc = rg_cli_exit_for(err.code);
            break;
        }
        rc = exit_from_row(ctx, &f);
        break;
    }
    if (!print && rc != RG_EXIT_STILL_RUNNING && rg_ledger_get(&f.row, f.ledger, id, &err) < 0)
        f.row.outcome[0] = '\0';
    if (!print && rc != RG_EXIT_STILL_RUNNING)
        fprintf(ctx->out, "%s #%lld of '%s': %s (exit %d)\n", f.row.kind, id, pb->name,
                f.row.outcome[0] ? f.row.outcome : "no outcome", rc);
out:
    rg_ledger_close(f.ledger);
    rg_playbook_free(pb);
    return rc;
}

static int
cmd_attach(struct rg_cmd_ctx *ctx)
{
    return follow_run(ctx, true, 0);
}

static int
cmd_wait(struct rg_cmd_ctx *ctx)
{
    int64_t timeout = 0;
    struct rg_err err;

    if (ctx->optval[WAIT_TIMEOUT] && rg_duration_parse(&timeout, ctx->optval[WAIT_TIMEOUT], &err) < 0)
        return rg_cli_usage_error(ctx->cmd, "--timeout: %s", err.msg);
    return follow_run(ctx, false, timeout);
}

#define FOLLOW_WHY                                                                                 \
    "Deploy ids are per target (the playbook names it). Works for any trigger: a push, a\n"       \
    "CI job, a person. A run handed to a worker is followed into the worker's log. LOG (a\n"    \
    "path, with a /) follows a worker still waiting for the target, as --wait-timeout\n"        \
    "names it."

const struct rg_cmd rg_cmd_attach = {
    .name = "attach",
    .summary = "follow a running or finished deploy's output; exit with its exit code",
    .usage = "PLAYBOOK ID|LOG",
    .description = "Prints the run's output from its run log as it is written (or its ledger\n"
                   "transitions, for a run without one) until the run ends, then exits with\n"
                   "the code the run exits with (0, 1, 2, 3, 4 as deploy does).\n" FOLLOW_WHY
                   "A run whose\nprocess is gone without an outcome exits 2: resume it.\n",
    .opts = attach_opts,
    .min_args = 2,
    .max_args = 2,
    .run = cmd_attach,
};

const struct rg_cmd rg_cmd_wait = {
    .name = "wait",
    .summary = "wait for a deploy to end and exit with its exit code",
    .usage = "[--timeout DURATION] PLAYBOOK ID|LOG",
    .description = "As attach, printing one line at the end instead of the output. With\n"
                   "--timeout, exits 6 when the run still goes on after it.\n" FOLLOW_WHY
                   "\n",
    .opts = wait_opts,
    .min_args = 2,
    .max_args = 2,
    .run = cmd_wait,
};
