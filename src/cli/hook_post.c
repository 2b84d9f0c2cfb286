/* `rollgate hook post-receive`: the push is in; for each target, the newest pushed tag that
 * matches its refs is deployed by a detached worker (it survives the pusher's disconnect),
 * under the target's lock, as trigger `hook` with the pusher as actor and the commit in the
 * ledger. The hook then shows the run's log to the pusher line by line until the run ends —
 * unless the push said rollgate.wait=false — and says what it skipped and why. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "hook.h"
#include "rollgate/spawn.h"
#include "rollgate/util.h"
#include "runlog.h"


/* The pushed ref a target deploys: the newest tag (version order) among those it matches. */
static const struct rg_git_update *
pick(struct rg_cmd_ctx *ctx, const struct rg_git_target *t, const struct rg_git_update *u,
     size_t n)
{
    const struct rg_git_update *best = NULL;

    for (size_t i = 0; i < n; i++) {
        const char *tag = hook_tag_of(u[i].ref);
        if (!rg_git_ref_matches(t->ref, u[i].ref))
            continue;
        if (!tag || u[i].deleted) {
            fprintf(ctx->out, "rollgate: %s: skipped %s: %s\n", t->name, u[i].ref,
                    u[i].deleted ? "a deletion deploys nothing" : "not a tag");
            continue;
        }
        if (best && strverscmp(tag, hook_tag_of(best->ref)) <= 0) {
            fprintf(ctx->out, "rollgate: %s: skipped %s: %s in the same push is newer\n",
                    t->name, tag, hook_tag_of(best->ref));
            continue;
        }
        if (best)
            fprintf(ctx->out, "rollgate: %s: skipped %s: %s in the same push is newer\n",
                    t->name, hook_tag_of(best->ref), tag);
        best = &u[i];
    }
    return best;
}

struct worker {
    int pid;
};

static bool
worker_alive(void *data)
{
    const struct worker *w = data;

    return kill(w->pid, 0) == 0 || errno == EPERM;
}

/* The deploy id from the run's first line ("deploy #12 of 'web': v3"), waiting up to 10 s:
 * for rollgate.wait=false, so that the pusher can be told what to attach to. */
static long long
deploy_id_of(const char *log, const char *tag, struct worker *w)
{
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(log, "re");
        char line[512];
        long long id = 0;
        if (f) {
            /* Its own start line: a deploy left in flight is resumed (and named) first. */
            while (fgets(line, sizeof(line), f)) {
                char *colon = strstr(line, "': ");
                long long n;
                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, "deploy #", 8) != 0 || (n = strtoll(line + 8, NULL, 10)) <= 0 ||
                    !colon || strcmp(colon + 3, tag) != 0)
                    continue;
                id = n;
            }
            fclose(f);
        }
        if (id > 0)
            return id;
        if (!worker_alive(w))
            return 0;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
    }
    return 0;
}

static int
deploy(struct rg_cmd_ctx *ctx, struct rg_git_repo *repo, const struct rg_git_target *t,
       const struct rg_git_update *u, const struct hook_push_opts *po)
{
    const char *tag = hook_tag_of(u->ref);
    struct rg_playbook *pb = NULL;
    struct rg_git_pushed pushed;
    struct worker w = {0};
    struct rg_err err;
    char actor[96], self[4096], *pbfile = NULL, *log = NULL, **env = NULL;
    int code = 0, fd = -1, rc = RG_EXIT_INVALID;

    if (rg_git_resolve(&pushed, repo, u->new_oid, u->ref, &err) < 0 ||
        hook_write_playbook(&pbfile, repo, pushed.commit, t, &err) < 0) {
        fprintf(ctx->errout, "rollgate: %s: %s\n", t->name, err.msg);
        goto out;
    }
    /* The real environment now: the deploy needs its secrets. */
    if (rg_cli_load_playbook(&pb, ctx, pbfile) != 0)
        goto out;
    if (!hook_self_path(self, sizeof(self))) {
        fprintf(ctx->errout, "rollgate: %s: cannot find rollgate's own path\n", t->name);
        rc = RG_EXIT_INTERNAL;
        goto out;
    }
    if (po->plan) {
        const char *argv[] = {self, "plan", pbfile, "--tag", tag, NULL};
        struct rg_spawn_opts so = {.argv = argv, .timeout_ms = 30000, .cancel_fd = -1,
                                   .env = (const char *const *)(env = rg_worker_env())};
        struct rg_spawn_result res;
        fprintf(ctx->out, "rollgate: %s: rollgate.plan: the plan of %s, nothing deployed\n",
                t->name, tag);
        if (rg_spawn_run(&res, &so, &err) < 0) {
            fprintf(ctx->errout, "rollgate: %s: %s\n", t->name, err.msg);
            rc = RG_EXIT_INTERNAL;
        } else {
            fputs(res.out.data ? res.out.data : "", ctx->out);
            fputs(res.err.data ? res.err.data : "", ctx->errout);
            rc = res.exit_code;
        }
        rg_spawn_result_release(&res);
        goto out;
    }
    hook_actor(actor, sizeof(actor));
    log = rg_runlog_default_path(pb->state_dir, pb->name);
    {
        char *dir = rg_strdup(log);
        *strrchr(dir, '/') = '\0';
        if (rg_fs_make_dir(pb->state_dir, 0750, "state directory", &err) < 0 ||
            rg_fs_make_dir(dir, 0750, "log directory", &err) < 0) {
            fprintf(ctx->errout, "rollgate: %s: %s\n", t->name, err.msg);
            free(dir);
            rc = rg_cli_exit_for(err.code);
            goto out;
        }
        free(dir);
    }
    if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640)) < 0) {
        fprintf(ctx->errout, "rollgate: %s: cannot create the run log '%s': %s\n", t->name, log,
                strerror(errno));
        rc = RG_EXIT_CANTCREAT;
        goto out;
    }
    {
        const char *argv[] = {self, "deploy", pbfile, "--tag", tag, "--trigger", "hook",
                              "--actor", actor, "--commit", pushed.commit, "--log", log,
                              t->wait ? "--wait" : NULL, t->wait ? t->wait_for : NULL, NULL};
        env = rg_worker_env();
        if (rg_spawn_detached(&w.pid, argv, (const char *const *)env, fd, &err) < 0) {
            fprintf(ctx->errout, "rollgate: %s: %s\n", t->name, err.msg);
            rc = RG_EXIT_INTERNAL;
            goto out;
        }
    }
    close(fd);
    fd = -1;
    fprintf(ctx->out, "rollgate: %s: deploying %s (commit %.12s) for %s; log %s\n", t->name, tag,
            pushed.commit, actor, log);
    fflush(ctx->out);
    if (!po->wait) {
        long long id = deploy_id_of(log, tag, &w);
        if (id > 0)
            fprintf(ctx->out,
                    "rollgate: %s: deploy #%lld goes on in the background; follow it: "
                    "rollgate attach %s %lld (or: rollgate wait %s %lld)\n",
                    t->name, id, pbfile, id, pbfile, id);
        else
            fprintf(ctx->out, "rollgate: %s: the deploy goes on in the background (waiting for "
                              "the target, or already ended); its log: %s\n",
                    t->name, log);
        rc = 0;
        goto out;
    }
    switch (rg_runlog_follow(ctx->out, log, worker_alive, &w, 0, &code, &err)) {
    case RG_FOLLOW_EXIT:
        fprintf(ctx->out, "rollgate: %s: %s ended with exit %d\n", t->name, tag, code);
        rc = code;
        break;
    case RG_FOLLOW_CLOSED:
        /* The pusher went away; the deploy goes on, and the next target's waits for it. */
        rg_runlog_follow(NULL, log, worker_alive, &w, 0, &code, &err);
        rc = 0;
        break;
    default:
        fprintf(ctx->out, "rollgate: %s: the deploy's process ended without an outcome: "
                          "'rollgate status %s'\n", t->name, pbfile);
        rc = RG_EXIT_UNRECOVERED;
        break;
    }
out:
    if (fd >= 0)
        close(fd);
    fflush(ctx->out);
    free(env);
    free(log);
    free(pbfile);
    rg_playbook_free(pb);
    return rc;
}

int
hook_post_receive(struct rg_cmd_ctx *ctx)
{
    struct hook_push p;
    struct rg_err err;
    int rc = RG_EXIT_OK;

    /* The pusher may go away (Ctrl-C, a dropped connection): the deploy must not. */
    signal(SIGPIPE, SIG_IGN);
    if (hook_push_read(&p, &err) < 0) {
        fprintf(ctx->errout, "rollgate: nothing deployed: %s\n", err.msg);
        rc = RG_EXIT_INVALID;
        goto out;
    }
    for (size_t k = 0; k < p.n_targets; k++) {
        const struct rg_git_update *u = pick(ctx, &p.targets[k], p.updates, p.n_updates);
        int r;
        if (!u)
            continue;
        r = deploy(ctx, p.repo, &p.targets[k], u, &p.opts);
        if (r > rc)
            rc = r;
    }
out:
    fflush(ctx->out);
    hook_push_release(&p);
    return rc;
}
