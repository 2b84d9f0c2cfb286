/* Going back fast: the containers of the release that served before a deploy are described
 * (inspect) before the deploy's `up` replaces them, and an `up` back to that release makes them
 * again through the Engine API. Any doubt (a container on several networks, a tag pushed again,
 * a daemon error) falls back to compose, which is slower but always right. After every `up` the
 * host learns the new containers' addresses at once (see rg_net_neigh_announce). */
#include <stdlib.h>
#include <string.h>

#include "compose_internal.h"

void
compose_snapshot_release(struct compose_snapshot *s)
{
    if (!s)
        return;
    free(s->tag);
    rg_strv_release(&s->service);
    rg_strv_release(&s->inspect);
    memset(s, 0, sizeof(*s));
}

static bool
runs_tag(const struct rg_container *c, const char *tag)
{
    size_t il = c->image ? strlen(c->image) : 0, tl = strlen(tag);

    return il > tl && c->image[il - tl - 1] == ':' && strcmp(c->image + il - tl, tag) == 0;
}

static bool
in_scope(const struct rg_container *c, const struct rg_strv *services)
{
    return !services->n || rg_strv_contains(services, c->service ? c->service : "");
}

void
compose_snapshot_take(struct compose_snapshot *s, const char *project,
                      const struct rg_strv *services, const char *tag)
{
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    struct rg_err err;

    if (!s->tag || s->taken || !project || strcmp(tag, s->tag) == 0)
        return;
    s->taken = true;
    if (rg_docker_open(&d, NULL, &err) < 0 || rg_docker_list(&list, &n, d, project, NULL, &err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        char *doc = NULL;
        if (!in_scope(&list[i], services) || !runs_tag(&list[i], s->tag))
            continue;
        if (!list[i].running) {
            /* A release that was not all running is not one to bring back as it was. */
            rg_err_set(&err, RG_ERUNTIME, "container %s is %s", list[i].name, list[i].status);
            goto fail;
        }
        if (rg_docker_inspect_raw(&doc, d, list[i].id, &err) < 0)
            goto fail;
        rg_strv_push(&s->service, list[i].service ? list[i].service : "");
        rg_strv_push(&s->inspect, doc);
        free(doc);
    }
    for (size_t i = 0; i < services->n; i++)
        if (!rg_strv_contains(&s->service, services->v[i])) {
            rg_err_set(&err, RG_ENOENT, "service '%s' has no container of %s", services->v[i],
                       s->tag);
            goto fail;
        }
    goto out;
fail:
    rg_log(RG_LOG_DEBUG, "no snapshot of release %s (a rollback to it will use compose): %s",
           s->tag, err.msg);
    rg_strv_release(&s->service);
    rg_strv_release(&s->inspect);
out:
    rg_containers_free(list, n);
    rg_docker_close(d);
}

int
compose_snapshot_restore(const struct compose_snapshot *s, const char *project,
                         const struct rg_strv *services, const char *tag, struct rg_buf *log,
                         struct rg_err *err)
{
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    int rc;

    if (!s->tag || !s->inspect.n || !project || strcmp(tag, s->tag) != 0)
        return RG_ENOENT;
    if ((rc = rg_docker_open(&d, NULL, err)) < 0 ||
        (rc = rg_docker_list(&list, &n, d, project, NULL, err)) < 0)
        goto out;
    /* Every container of the services being brought back goes: the release that replaced
     * them, however many of its containers there are. */
    for (size_t i = 0; i < n; i++) {
        if (!rg_strv_contains(&s->service, list[i].service ? list[i].service : "") ||
            !in_scope(&list[i], services))
            continue;
        if ((rc = rg_docker_remove(d, list[i].id, err)) < 0)
            goto out;
        rg_buf_addf(log, "removed container %s (%s)\n", list[i].name,
                    list[i].image ? list[i].image : "?");
    }
    for (size_t i = 0; i < s->inspect.n; i++) {
        char *id = NULL;
        if ((rc = rg_docker_create_like(&id, d, s->inspect.v[i], err)) < 0 ||
            (rc = rg_docker_start(d, id, err)) < 0) {
            if (id)
                rg_docker_remove(d, id, &(struct rg_err){0});
            free(id);
            goto out;
        }
        rg_buf_addf(log,
                    "started container %.12s of service '%s' as it was before "
                    "the deploy\n",
                    id, s->service.v[i]);
        free(id);
    }
out:
    rg_containers_free(list, n);
    rg_docker_close(d);
    return rc;
}

void
compose_announce(const char *project, const struct rg_strv *services)
{
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    struct rg_err err;

    if (!project || rg_docker_open(&d, NULL, &err) < 0 ||
        rg_docker_list(&list, &n, d, project, NULL, &err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!list[i].running || !list[i].ip || !list[i].mac || !in_scope(&list[i], services))
            continue;
        if (rg_net_neigh_announce(list[i].ip, list[i].mac, &err) < 0)
            rg_log(RG_LOG_DEBUG, "container %s: %s", list[i].name, err.msg);
    }
out:
    rg_containers_free(list, n);
    rg_docker_close(d);
}
