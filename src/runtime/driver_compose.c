/* The compose driver: a docker compose project whose env file holds the release tag. Tools run
 * through compose (v1 or v2) with an argv and a deadline; what needs no compose run (image
 * digests, stopping containers, going back to the containers that served before) goes through
 * the Engine API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose_internal.h"
#include "rollgate/driver.h"
#include "rollgate/runtime.h"
#include "rollgate/spawn.h"

#define PULL_TIMEOUT_MS (10 * 60 * 1000)
#define UP_TIMEOUT_MS (5 * 60 * 1000)
#define RESTART_TIMEOUT_MS (2 * 60 * 1000)

struct compose_target {
    const struct rg_playbook *pb;
    struct rg_compose *compose; /* opened at the first compose run: finding compose runs it */
    char *project;
    struct compose_snapshot before;
};

static int
target_open(void **ctx_out, const struct rg_playbook *pb, struct rg_err *err)
{
    struct compose_target *t = rg_calloc(1, sizeof(*t));

    (void)err;
    t->pb = pb;
    t->project = rg_compose_project_name(pb->runtime.project_name, pb->runtime.project_dir);
    *ctx_out = t;
    return 0;
}

static void
target_close(void *ctx)
{
    struct compose_target *t = ctx;

    if (!t)
        return;
    rg_compose_close(t->compose);
    compose_snapshot_release(&t->before);
    free(t->project);
    free(t);
}

static int
need_compose(struct compose_target *t, struct rg_err *err)
{
    const struct rg_runtime *rt = &t->pb->runtime;
    struct rg_compose_spec spec = {
        .project_name = rt->project_name,
        .project_dir = rt->project_dir,
        .compose_file = rt->compose_file,
        .env_file = rt->env_file,
    };

    return t->compose ? 0 : rg_compose_open(&t->compose, &spec, err);
}

static int
target_prepare(void *ctx, struct rg_err *err)
{
    return need_compose(ctx, err);
}

static const char *
target_scope(void *ctx)
{
    return ((struct compose_target *)ctx)->project;
}

static int
target_configured(char **tag_out, void *ctx, struct rg_err *err)
{
    const struct rg_runtime *rt = &((struct compose_target *)ctx)->pb->runtime;

    return rg_envfile_get(tag_out, rt->env_file, rt->tag_var, err);
}

/* The project's containers of services (all when empty), every state, on a connection the
 * caller closes (*d_out) and in an array it frees with rg_containers_free(*out, *n). */
static int
list_services(struct rg_docker **d_out, struct rg_container **out, size_t *n,
              const struct compose_target *t, const struct rg_strv *services, struct rg_err *err)
{
    size_t kept = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = rg_docker_open(d_out, NULL, err)) < 0 ||
        (rc = rg_docker_list(out, n, *d_out, t->project, NULL, err)) < 0)
        return rc;
    for (size_t i = 0; i < *n; i++) {
        struct rg_container *c = &(*out)[i];
        if (services->n && !rg_strv_contains(services, c->service ? c->service : "")) {
            rg_container_release(c);
            continue;
        }
        if (kept != i)
            (*out)[kept] = *c;
        kept++;
    }
    *n = kept;
    return 0;
}

static int
target_running(int *n_out, void *ctx, const struct rg_strv *services, struct rg_err *err)
{
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    int rc;

    *n_out = 0;
    if ((rc = list_services(&d, &list, &n, ctx, services, err)) == 0)
        for (size_t i = 0; i < n; i++)
            if (list[i].running || list[i].restarting)
                (*n_out)++;
    rg_containers_free(list, n);
    rg_docker_close(d);
    return rc;
}

static int
target_digest(char **digest_out, void *ctx, const char *tag, struct rg_err *err)
{
    const char *repo = ((struct compose_target *)ctx)->pb->release.image;
    struct rg_docker *d = NULL;
    char *ref = rg_asprintf("%s:%s", repo, tag);
    int rc;

    if ((rc = rg_docker_open(&d, NULL, err)) == 0)
        rc = rg_docker_image_digest(digest_out, d, ref, repo, err);
    rg_docker_close(d);
    free(ref);
    return rc;
}

/* Pulls through the Engine API: a rollback must not depend on the compose file's other
 * services or on compose's own pull policy. */
static int
target_fetch(void *ctx, const char *tag, int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    const char *repo = ((struct compose_target *)ctx)->pb->release.image;
    struct rg_docker *d = NULL;
    char *digest = NULL;
    int rc;

    (void)cancel_fd;
    if ((rc = target_digest(&digest, ctx, tag, err)) != RG_ENOENT)
        goto out;
    rg_buf_addf(log, "image %s:%s is not on the host: pulling it\n", repo, tag);
    if ((rc = rg_docker_open(&d, NULL, err)) == 0)
        rc = rg_docker_pull(d, repo, tag, PULL_TIMEOUT_MS, err);
out:
    free(digest);
    rg_docker_close(d);
    return rc;
}

static int
target_pull(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
            struct rg_buf *log, struct rg_err *err)
{
    struct compose_target *t = ctx;
    int rc;

    if ((rc = need_compose(t, err)) < 0)
        return rc;
    return rg_compose_pull(t->compose, services, t->pb->runtime.tag_var, tag, PULL_TIMEOUT_MS,
                           cancel_fd, log, err);
}

static int
target_switch(void *ctx, const char *tag, struct rg_buf *log, struct rg_err *err)
{
    const struct rg_runtime *rt = &((struct compose_target *)ctx)->pb->runtime;

    rg_buf_addf(log, "%s=%s in %s\n", rt->tag_var, tag, rt->env_file);
    return rg_envfile_set(rt->env_file, rt->tag_var, tag, err);
}

static void
target_remember(void *ctx, const char *serving_tag, const struct rg_strv *services)
{
    struct compose_target *t = ctx;

    (void)services;
    compose_snapshot_release(&t->before);
    if (serving_tag && serving_tag[0])
        t->before.tag = rg_strdup(serving_tag);
}

static int
target_up(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
          struct rg_buf *log, struct rg_err *err)
{
    struct compose_target *t = ctx;
    struct rg_err fast;
    int rc;

    compose_snapshot_take(&t->before, t->project, services, tag);
    rc = compose_snapshot_restore(&t->before, t->project, services, tag, log, &fast);
    if (rc < 0 && rc != RG_ENOENT) {
        rg_log(RG_LOG_WARN, "bringing back %s directly failed, compose will: %s", tag, fast.msg);
        rg_buf_addf(log, "direct switch failed: %s\n", fast.msg);
    }
    if (rc < 0 && (rc = need_compose(t, err)) == 0)
        rc = rg_compose_up(t->compose, services, UP_TIMEOUT_MS, cancel_fd, log, err);
    if (rc == 0)
        compose_announce(t->project, services);
    return rc;
}

/* Removes (not merely stops) the services' containers: whatever brings the release back makes
 * them again, and a stopped container of a failed release is not one to restart by mistake. */
static int
target_stop(void *ctx, const struct rg_strv *services, struct rg_buf *log, struct rg_err *err)
{
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    int rc;

    if ((rc = list_services(&d, &list, &n, ctx, services, err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((rc = rg_docker_remove(d, list[i].id, err)) < 0)
            goto out;
        rg_buf_addf(log, "removed container %s (%s)\n", list[i].name,
                    list[i].image ? list[i].image : "?");
    }
out:
    rg_containers_free(list, n);
    rg_docker_close(d);
    return rc;
}

static int
target_restart(void *ctx, const struct rg_strv *services, int cancel_fd, struct rg_buf *log,
               struct rg_err *err)
{
    struct compose_target *t = ctx;
    int rc;

    if ((rc = need_compose(t, err)) < 0)
        return rc;
    return rg_compose_restart(t->compose, services, RESTART_TIMEOUT_MS, cancel_fd, log, err);
}

static int
target_exec(struct rg_spawn_result *res, void *ctx, const char *service, const struct rg_strv *argv,
            int64_t timeout_ms, int cancel_fd, struct rg_err *err)
{
    struct compose_target *t = ctx;
    int rc;

    if ((rc = need_compose(t, err)) < 0) {
        memset(res, 0, sizeof(*res));
        return rc;
    }
    return rg_compose_exec(res, t->compose, service, argv, timeout_ms, cancel_fd, err);
}

/* The release a container runs: the tag of the image reference it was created from, when that
 * is the playbook's release image. */
static void
tag_of(char *out, size_t size, const char *repo, const char *image)
{
    size_t rl = repo ? strlen(repo) : 0;

    out[0] = '\0';
    if (image && rl && strncmp(image, repo, rl) == 0 && image[rl] == ':')
        snprintf(out, size, "%s", image + rl + 1);
}

static int
target_instances(struct rg_instance **out, size_t *n_out, void *ctx,
                 const struct rg_strv *services, struct rg_err *err)
{
    struct compose_target *t = ctx;
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    if ((rc = list_services(&d, &list, &n, t, services, err)) < 0)
        goto out;
    *out = rg_calloc(n + 1, sizeof(**out));
    for (size_t i = 0; i < n; i++) {
        struct rg_instance *in = &(*out)[*n_out];
        snprintf(in->id, sizeof(in->id), "%s", list[i].id);
        snprintf(in->service, sizeof(in->service), "%s", list[i].service ? list[i].service : "");
        snprintf(in->ip, sizeof(in->ip), "%s", list[i].ip ? list[i].ip : "");
        tag_of(in->tag, sizeof(in->tag), t->pb->release.image, list[i].image);
        if (!in->tag[0]) {
            /* A tag re-pointed to another image since the container was made: the list then
             * names the image by id, while inspect keeps the reference it was created from. */
            struct rg_container one;
            struct rg_err ignored;
            if (rg_docker_inspect(&one, d, list[i].id, &ignored) == 0) {
                tag_of(in->tag, sizeof(in->tag), t->pb->release.image, one.image);
                rg_container_release(&one);
            }
        }
        in->running = list[i].running || list[i].restarting; /* a crash loop is present */
        (*n_out)++;
    }
out:
    rg_containers_free(list, n);
    rg_docker_close(d);
    return rc;
}

/* One more container per service, on the new tag, beside those that run: compose's own scale,
 * so that the candidate is compose's container with the new configuration (after the switch
 * `up -d` finds it up to date). */
static int
target_candidate(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
                 struct rg_buf *log, struct rg_err *err)
{
    struct compose_target *t = ctx;
    struct rg_instance *v = NULL;
    size_t n = 0;
    int *counts = rg_calloc(services->n + 1, sizeof(*counts)), rc;

    if ((rc = need_compose(t, err)) < 0 || (rc = target_instances(&v, &n, t, services, err)) < 0)
        goto out;
    for (size_t i = 0; i < services->n; i++) {
        counts[i] = 1;
        for (size_t k = 0; k < n; k++)
            if (v[k].running && strcmp(v[k].service, services->v[i]) == 0)
                counts[i]++;
    }
    rc = rg_compose_scale_up(t->compose, services, counts, t->pb->runtime.tag_var, tag,
                             UP_TIMEOUT_MS, cancel_fd, log, err);
    if (rc == 0)
        compose_announce(t->project, services);
    else if (strstr(err->msg, "port is already allocated") ||
             (log->data && strstr(log->data, "port is already allocated")))
        /* The one misconfiguration that makes every switched deploy fail: say what to do. */
        rg_err_prefix(err, "a service publishes a fixed host port, which the serving container "
                           "holds: remove its `ports:` (nginx reaches the containers by their "
                           "address under strategy switch, docs/switch.md); ");
out:
    free(counts);
    free(v);
    return rc;
}

static int
target_remove(void *ctx, const struct rg_strv *ids, struct rg_buf *log, struct rg_err *err)
{
    struct rg_docker *d = NULL;
    int rc;

    (void)ctx;
    if ((rc = rg_docker_open(&d, NULL, err)) < 0)
        return rc;
    for (size_t i = 0; i < ids->n && rc == 0; i++)
        if ((rc = rg_docker_remove(d, ids->v[i], err)) == 0)
            rg_buf_addf(log, "removed container %.12s\n", ids->v[i]);
    rg_docker_close(d);
    return rc;
}

const struct rg_driver_ops rg_driver_compose = {
    .name = "compose",
    .caps = RG_DRIVER_CAN_PULL | RG_DRIVER_CAN_EXEC | RG_DRIVER_CAN_RESTART | RG_DRIVER_CAN_STOP |
            RG_DRIVER_CONTAINERS | RG_DRIVER_CANDIDATES,
    .open = target_open,
    .close = target_close,
    .prepare = target_prepare,
    .scope = target_scope,
    .configured = target_configured,
    .running = target_running,
    .digest = target_digest,
    .fetch = target_fetch,
    .pull = target_pull,
    .switch_to = target_switch,
    .remember = target_remember,
    .up = target_up,
    .stop = target_stop,
    .restart = target_restart,
    .exec = target_exec,
    .instances = target_instances,
    .candidate = target_candidate,
    .remove = target_remove,
};
