/* The switch strategy's actions: the new release started beside the serving one, the proxy's
 * upstream file moved to it in one checked reload, the release before removed after a drain.
 * Instances are told apart by the release they run, so every action can run again after a crash
 * and find what the last run left. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/proxy.h"
#include "steps_internal.h"

#define PROXY_TIMEOUT_MS (30 * 1000)

static const struct rg_strv *
services(const struct rg_step_ctx *ctx)
{
    return &ctx->pb->runtime.services;
}

/* Of the n instances v, those of tag that run, into hosts and ids (either may be NULL); returns
 * how many. */
static int
collect(const struct rg_instance *v, size_t n, const char *tag, struct rg_strv *hosts,
        struct rg_strv *ids)
{
    int count = 0;

    for (size_t i = 0; i < n; i++) {
        if (!v[i].running || strcmp(v[i].tag, tag) != 0)
            continue;
        count++;
        if (hosts && v[i].ip[0]) {
            char *e = rg_asprintf("%s=%s", v[i].service, v[i].ip);
            rg_strv_push(hosts, e);
            free(e);
        }
        if (ids)
            rg_strv_push(ids, v[i].id);
    }
    return count;
}

int
rg_step_instances_of(struct rg_step_ctx *ctx, const char *tag, struct rg_strv *hosts,
                     struct rg_strv *ids, struct rg_err *err)
{
    struct rg_instance *v = NULL;
    size_t n = 0;
    int rc;

    if ((rc = rg_driver_instances(&v, &n, ctx->driver, services(ctx), err)) < 0)
        return rc;
    rc = collect(v, n, tag, hosts, ids);
    free(v);
    return rc;
}

/* Every instance (running or not) of a release other than keep, or only of drop when given. */
static int
remove_others(struct rg_step_ctx *ctx, const char *keep, const char *drop, struct rg_err *err)
{
    struct rg_instance *v = NULL;
    struct rg_strv ids = {0};
    size_t n = 0;
    int rc;

    if ((rc = rg_driver_instances(&v, &n, ctx->driver, services(ctx), err)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (keep ? strcmp(v[i].tag, keep) != 0 : strcmp(v[i].tag, drop) == 0)
            rg_strv_push(&ids, v[i].id);
    if (ids.n)
        rc = rg_driver_remove(ctx->driver, &ids, ctx->evidence, err);
    rg_strv_release(&ids);
    free(v);
    return rc;
}

int
rg_step_candidate(struct rg_step_ctx *ctx, const char *tag, struct rg_err *err)
{
    int rc;

    if ((rc = rg_step_instances_of(ctx, tag, NULL, NULL, err)) < 0)
        return rc;
    if (rc > 0) {
        rg_buf_addf(ctx->evidence, "release %s already runs beside the serving one\n", tag);
        return 0;
    }
    step_mark(ctx);
    if ((rc = rg_driver_candidate(ctx->driver, services(ctx), tag, ctx->cancel_fd,
                                  ctx->evidence, err)) < 0)
        return rc;
    if ((rc = rg_step_instances_of(ctx, tag, NULL, NULL, err)) < 0)
        return rc;
    return rc > 0 ? 0
                  : rg_err_set(err, RG_ERUNTIME, "release %s did not start beside the serving "
                                                 "one: no instance of it runs", tag);
}

/* Adds, for each upstream, the addresses of its service among hosts ("service=ip"), with
 * suffix after each. */
static void
add_servers(struct rg_strv *servers, const struct rg_proxy *p, const struct rg_strv *hosts,
            const char *suffix)
{
    for (size_t i = 0; i < p->n_upstreams; i++) {
        size_t sl = strlen(p->upstreams[i].service);
        for (size_t k = 0; k < hosts->n; k++)
            if (strncmp(hosts->v[k], p->upstreams[i].service, sl) == 0 &&
                hosts->v[k][sl] == '=') {
                char *addr =
                    rg_asprintf("%s:%d%s", hosts->v[k] + sl + 1, p->upstreams[i].port, suffix);
                rg_strv_push(&servers[i], addr);
                free(addr);
            }
    }
}

/* The upstream file's text for tag's instances, and backup_tag's as nginx backup servers when
 * given: while the new release settles, a request it fails to take (refused, reset: nginx's
 * proxy_next_upstream) goes to the release before instead of becoming a 502. */
static int
render_for(char **text_out, struct rg_step_ctx *ctx, const char *tag, const char *backup_tag,
           struct rg_err *err)
{
    const struct rg_proxy *p = &ctx->pb->proxy;
    struct rg_strv hosts = {0}, back = {0};
    struct rg_strv *servers = rg_calloc(p->n_upstreams + 1, sizeof(*servers));
    struct rg_instance *v = NULL;
    size_t n = 0;
    int rc;

    *text_out = NULL;
    if ((rc = rg_driver_instances(&v, &n, ctx->driver, services(ctx), err)) < 0)
        goto out;
    collect(v, n, tag, &hosts, NULL);
    if (backup_tag && backup_tag[0] && strcmp(backup_tag, tag) != 0)
        collect(v, n, backup_tag, &back, NULL);
    add_servers(servers, p, &hosts, "");
    add_servers(servers, p, &back, " backup");
    /* Only backups would leave nothing to serve: nginx refuses that, and so does rollgate. */
    for (size_t i = 0; i < p->n_upstreams; i++)
        if (servers[i].n && strstr(servers[i].v[0], " backup"))
            rg_strv_release(&servers[i]);
    rc = rg_proxy_render(text_out, p, servers, tag, err);
out:
    for (size_t i = 0; i < p->n_upstreams; i++)
        rg_strv_release(&servers[i]);
    free(servers);
    rg_strv_release(&hosts);
    rg_strv_release(&back);
    free(v);
    return rc;
}

static char *
record_path(const struct rg_step_ctx *ctx)
{
    return rg_asprintf("%s/%s.upstreams", ctx->pb->state_dir, ctx->pb->name);
}

/* The proxy moved to tag's instances (backup_tag's behind them, or NULL); nothing changes
 * when nginx refuses. */
static int
point_proxy(struct rg_step_ctx *ctx, const char *tag, const char *backup_tag, struct rg_err *err)
{
    char *text = NULL, *record = record_path(ctx);
    int rc;

    if ((rc = rg_proxy_check_owned(&ctx->pb->proxy, record, err)) == 0 &&
        (rc = render_for(&text, ctx, tag, backup_tag, err)) == 0)
        rc = rg_proxy_apply(&ctx->pb->proxy, record, text, PROXY_TIMEOUT_MS, ctx->evidence, err);
    free(text);
    free(record);
    return rc;
}

int
rg_step_proxy_ready(struct rg_step_ctx *ctx, struct rg_err *err)
{
    char *record = record_path(ctx);
    int rc = rg_proxy_ready(&ctx->pb->proxy, record, PROXY_TIMEOUT_MS, ctx->evidence, err);

    free(record);
    return rc;
}

int
rg_step_proxy(struct rg_step_ctx *ctx, const char *tag, const char *back_tag, struct rg_err *err)
{
    struct rg_err back;
    int rc;

    if ((rc = point_proxy(ctx, tag, back_tag, err)) < 0)
        return rc;
    step_mark(ctx);
    if ((rc = rg_driver_switch(ctx->driver, tag, ctx->evidence, err)) == 0)
        return 0;
    /* Traffic must not stay on a release the target does not record as its own. */
    if (back_tag && back_tag[0] && point_proxy(ctx, back_tag, NULL, &back) < 0)
        rg_buf_addf(ctx->evidence, "switching the proxy back to %s failed too: %s\n", back_tag,
                    back.msg);
    return rc;
}

/* Waits ms, or less when a signal asks to stop. */
static void
drain(const struct rg_step_ctx *ctx, int64_t ms)
{
    struct pollfd p = {.fd = ctx->cancel_fd, .events = POLLIN};

    if (ms > 0)
        poll(ctx->cancel_fd >= 0 ? &p : NULL, ctx->cancel_fd >= 0 ? 1 : 0, (int)ms);
}

int
rg_step_retire(struct rg_step_ctx *ctx, const char *tag, int64_t drain_ms, struct rg_err *err)
{
    struct rg_err why;
    int rc;

    /* The release before stops being the backup first; requests it accepted until this
     * reload finish during the drain. */
    if ((rc = point_proxy(ctx, tag, NULL, err)) < 0)
        return rc;
    drain(ctx, drain_ms);
    if (remove_others(ctx, tag, NULL, &why) < 0)
        rg_buf_addf(ctx->evidence, "warning: the release before could not be removed: %s\n",
                    why.msg);
    return 0;
}

int
rg_step_switch_to(struct rg_step_ctx *ctx, const char *tag, struct rg_err *err)
{
    int rc;

    if ((rc = rg_step_candidate(ctx, tag, err)) < 0 ||
        (rc = point_proxy(ctx, tag, NULL, err)) < 0)
        return rc;
    rg_buf_addf(ctx->evidence, "the proxy serves %s\n", tag);
    return remove_others(ctx, tag, NULL, err);
}

int
rg_step_reject(struct rg_step_ctx *ctx, const char *tag, struct rg_err *err)
{
    return remove_others(ctx, NULL, tag, err);
}
