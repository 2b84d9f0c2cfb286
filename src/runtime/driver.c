/* The driver registry and the calls through it: the engine and the steps reach a target only
 * here. An operation a driver lacks answers with a message naming the driver and the action. */
#include <stdlib.h>
#include <string.h>

#include "rollgate/driver.h"
#include "rollgate/spawn.h"

/* One row per playbook driver name; NULL: the name is known but not implemented yet. */
static const struct rg_driver_ops *const registry[RG_DRIVER_COUNT] = {
    [RG_DRIVER_COMPOSE] = &rg_driver_compose,
    [RG_DRIVER_SYSTEMD] = &rg_driver_systemd,
};

const struct rg_driver_ops *
rg_driver_lookup(enum rg_runtime_driver kind)
{
    return (unsigned)kind < RG_DRIVER_COUNT ? registry[kind] : NULL;
}

unsigned
rg_driver_caps(enum rg_runtime_driver kind)
{
    const struct rg_driver_ops *ops = rg_driver_lookup(kind);

    return ops ? ops->caps | RG_DRIVER_IMPLEMENTED : 0;
}

int
rg_driver_open(struct rg_driver **out, const struct rg_playbook *pb,
               const struct rg_driver_ops *ops, struct rg_err *err)
{
    struct rg_driver *d;
    int rc;

    *out = NULL;
    if (!ops && !(ops = rg_driver_lookup(pb->runtime.driver)))
        return rg_err_set(err, RG_EINVAL,
                          "the %s driver is not implemented",
                          rg_driver_name(pb->runtime.driver));
    d = rg_calloc(1, sizeof(*d));
    d->ops = ops;
    d->pb = pb;
    if ((rc = ops->open(&d->ctx, pb, err)) < 0) {
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void
rg_driver_close(struct rg_driver *d)
{
    if (!d)
        return;
    d->ops->close(d->ctx);
    free(d);
}

const char *
rg_driver_scope(const struct rg_driver *d)
{
    return d && d->ops->scope ? d->ops->scope(d->ctx) : NULL;
}

const struct rg_strv *
rg_driver_units(const struct rg_driver *d)
{
    return d && d->ops->units ? d->ops->units(d->ctx) : NULL;
}

static int
cannot(const struct rg_driver *d, const char *what, struct rg_err *err)
{
    return rg_err_set(err, RG_EINVAL, "the %s driver cannot %s", d->ops->name, what);
}

int
rg_driver_prepare(struct rg_driver *d, struct rg_err *err)
{
    return d->ops->prepare ? d->ops->prepare(d->ctx, err) : 0;
}

bool
rg_driver_pins_digest(const struct rg_driver *d)
{
    return d->ops->digest != NULL;
}

int
rg_driver_configured(char **tag_out, struct rg_driver *d, struct rg_err *err)
{
    *tag_out = NULL;
    if (!d->ops->configured)
        return cannot(d, "say which release it runs", err);
    return d->ops->configured(tag_out, d->ctx, err);
}

int
rg_driver_running(int *n_out, struct rg_driver *d, const struct rg_strv *services,
                  struct rg_err *err)
{
    *n_out = 0;
    if (!d->ops->running)
        return cannot(d, "say what runs", err);
    return d->ops->running(n_out, d->ctx, services, err);
}

int
rg_driver_digest(char **digest_out, struct rg_driver *d, const char *tag, struct rg_err *err)
{
    *digest_out = NULL;
    if (!d->ops->digest)
        return rg_err_set(err, RG_ENOENT, "the %s driver pins no digest", d->ops->name);
    return d->ops->digest(digest_out, d->ctx, tag, err);
}

int
rg_driver_fetch(struct rg_driver *d, const char *tag, int cancel_fd, struct rg_buf *log,
                struct rg_err *err)
{
    if (!d->ops->fetch)
        return 0; /* its releases are always present */
    return d->ops->fetch(d->ctx, tag, cancel_fd, log, err);
}

int
rg_driver_pull(struct rg_driver *d, const struct rg_strv *services, const char *tag, int cancel_fd,
               struct rg_buf *log, struct rg_err *err)
{
    if (!d->ops->pull)
        return cannot(d, "pull", err);
    return d->ops->pull(d->ctx, services, tag, cancel_fd, log, err);
}

int
rg_driver_switch(struct rg_driver *d, const char *tag, struct rg_buf *log, struct rg_err *err)
{
    if (!d->ops->switch_to)
        return cannot(d, "switch releases", err);
    return d->ops->switch_to(d->ctx, tag, log, err);
}

void
rg_driver_remember(struct rg_driver *d, const char *serving_tag, const struct rg_strv *services)
{
    if (d->ops->remember)
        d->ops->remember(d->ctx, serving_tag, services);
}

int
rg_driver_up(struct rg_driver *d, const struct rg_strv *services, const char *tag, int cancel_fd,
             struct rg_buf *log, struct rg_err *err)
{
    if (!d->ops->up)
        return cannot(d, "bring services up", err);
    return d->ops->up(d->ctx, services, tag, cancel_fd, log, err);
}

int
rg_driver_stop(struct rg_driver *d, const struct rg_strv *services, struct rg_buf *log,
               struct rg_err *err)
{
    if (!d->ops->stop)
        return cannot(d, "stop services", err);
    return d->ops->stop(d->ctx, services, log, err);
}

int
rg_driver_restart(struct rg_driver *d, const struct rg_strv *services, int cancel_fd,
                  struct rg_buf *log, struct rg_err *err)
{
    if (!d->ops->restart)
        return cannot(d, "restart services", err);
    return d->ops->restart(d->ctx, services, cancel_fd, log, err);
}

int
rg_driver_instances(struct rg_instance **out, size_t *n, struct rg_driver *d,
                    const struct rg_strv *services, struct rg_err *err)
{
    *out = NULL;
    *n = 0;
    if (!d->ops->instances)
        return cannot(d, "list its instances", err);
    return d->ops->instances(out, n, d->ctx, services, err);
}

int
rg_driver_candidate(struct rg_driver *d, const struct rg_strv *services, const char *tag,
                    int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    if (!d->ops->candidate)
        return cannot(d, "start a release beside the serving one", err);
    return d->ops->candidate(d->ctx, services, tag, cancel_fd, log, err);
}

int
rg_driver_remove(struct rg_driver *d, const struct rg_strv *ids, struct rg_buf *log,
                 struct rg_err *err)
{
    if (!d->ops->remove)
        return cannot(d, "remove instances", err);
    return d->ops->remove(d->ctx, ids, log, err);
}

int
rg_driver_exec(struct rg_spawn_result *res, struct rg_driver *d, const char *service,
               const struct rg_strv *argv, int64_t timeout_ms, int cancel_fd, struct rg_err *err)
{
    if (!d->ops->exec) {
        memset(res, 0, sizeof(*res));
        return cannot(d, "exec in a service", err);
    }
    return d->ops->exec(res, d->ctx, service, argv, timeout_ms, cancel_fd, err);
}
