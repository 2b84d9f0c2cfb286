/* The systemd driver: one service unit that runs root/current, a link to root/releases/<tag>
 * (or, without a root, a unit that reads the tag from an env file). A deploy makes the release
 * present (from git or an upload), switches the link in one rename, and restarts the unit;
 * `systemctl restart` answers 0 even for a release that crashes at once, so the unit gate
 * decides, not its exit code. Every systemctl, journalctl and systemd-run goes through the
 * playbook's command prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/driver.h"
#include "rollgate/runtime.h"
#include "rollgate/spawn.h"

#define CONTROL_TIMEOUT_MS (2 * 60 * 1000)

struct systemd_target {
    const struct rg_playbook *pb;
    char *serving; /* the release that served when the run began: never pruned */
};

static int
target_open(void **ctx_out, const struct rg_playbook *pb, struct rg_err *err)
{
    struct systemd_target *t = rg_calloc(1, sizeof(*t));

    (void)err;
    t->pb = pb;
    *ctx_out = t;
    return 0;
}

static void
target_close(void *ctx)
{
    struct systemd_target *t = ctx;

    if (!t)
        return;
    free(t->serving);
    free(t);
}

static const struct rg_runtime *
rt_of(void *ctx)
{
    return &((struct systemd_target *)ctx)->pb->runtime;
}

static int
target_prepare(void *ctx, struct rg_err *err)
{
    const struct rg_runtime *rt = rt_of(ctx);
    struct rg_unit_state st;
    int rc;

    if ((rc = rg_unit_show(&st, &rt->command_prefix, rt->unit, -1, err)) < 0)
        return rc;
    if (strcmp(st.load, "loaded") != 0)
        rc = rg_err_set(err, RG_EINVAL,
                        "unit %s is not loaded (LoadState=%s): install it and run systemctl "
                        "daemon-reload first",
                        rt->unit, st.load);
    rg_unit_state_release(&st);
    return rc;
}

static const struct rg_strv *
target_units(void *ctx)
{
    return &rt_of(ctx)->command_prefix;
}

static int
target_configured(char **tag_out, void *ctx, struct rg_err *err)
{
    const struct rg_runtime *rt = rt_of(ctx);

    if (rt->root)
        return rg_releases_current(tag_out, rt->root, err);
    return rg_envfile_get(tag_out, rt->env_file, rt->tag_var, err);
}

static int
target_running(int *n_out, void *ctx, const struct rg_strv *services, struct rg_err *err)
{
    const struct rg_runtime *rt = rt_of(ctx);
    struct rg_unit_state st;
    int rc;

    (void)services;
    *n_out = 0;
    if ((rc = rg_unit_show(&st, &rt->command_prefix, rt->unit, -1, err)) < 0)
        return rc;
    *n_out = strcmp(st.active, "active") == 0 && st.main_pid > 0;
    rg_unit_state_release(&st);
    return 0;
}

static int
target_digest(char **digest_out, void *ctx, const char *tag, struct rg_err *err)
{
    const struct rg_runtime *rt = rt_of(ctx);

    if (!rt->root) {
        /* The unit's own files are the release: the tag is all there is to pin. */
        *digest_out = rg_asprintf("tag:%s", tag);
        return 0;
    }
    return rg_releases_pin(digest_out, rt->root, tag, err);
}

static int
target_fetch(void *ctx, const char *tag, int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    const struct systemd_target *t = ctx;
    const struct rg_runtime *rt = &t->pb->runtime;

    (void)cancel_fd;
    if (!rt->root)
        return 0;
    return rg_releases_fetch(rt->root, t->pb->release.git, t->pb->release.uploads, tag, log, err);
}

static int
target_pull(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
            struct rg_buf *log, struct rg_err *err)
{
    (void)services;
    return target_fetch(ctx, tag, cancel_fd, log, err);
}

static int
target_switch(void *ctx, const char *tag, struct rg_buf *log, struct rg_err *err)
{
    struct systemd_target *t = ctx;
    const struct rg_runtime *rt = &t->pb->runtime;
    struct rg_strv protect = {0};
    char *was = NULL;
    int rc;

    if (!rt->root)
        return rg_envfile_set(rt->env_file, rt->tag_var, tag, err);
    /* Present first: a tag that is not there changes nothing. */
    if ((rc = target_fetch(ctx, tag, -1, log, err)) < 0)
        return rc;
    /* Whatever the link points at now is kept too (a rung switching back, a resumed run). */
    if (rg_releases_current(&was, rt->root, err) == 0) {
        rg_strv_push(&protect, was);
        free(was);
    }
    if ((rc = rg_releases_switch(rt->root, tag, err)) < 0) {
        rg_strv_release(&protect);
        return rc;
    }
    if (log)
        rg_buf_addf(log, "%s/current -> releases/%s\n", rt->root, tag);
    if (rt->env_file && (rc = rg_envfile_set(rt->env_file, rt->tag_var, tag, err)) < 0) {
        rg_strv_release(&protect);
        return rc;
    }
    rg_strv_push(&protect, tag);
    if (t->serving)
        rg_strv_push(&protect, t->serving);
    /* Pruning is housekeeping: a failure is logged, never a failed deploy. */
    (void)rg_releases_prune(rt->root, rt->keep, &protect, log, err);
    rg_strv_release(&protect);
    return 0;
}

static void
target_remember(void *ctx, const char *serving_tag, const struct rg_strv *services)
{
    struct systemd_target *t = ctx;

    (void)services;
    free(t->serving);
    t->serving = serving_tag && serving_tag[0] ? rg_strdup(serving_tag) : NULL;
}

static int
control(void *ctx, const char *verb, int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    const struct rg_runtime *rt = rt_of(ctx);

    return rg_unit_control(&rt->command_prefix, verb, rt->unit, CONTROL_TIMEOUT_MS, cancel_fd,
                           log, err);
}

static int
target_up(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
          struct rg_buf *log, struct rg_err *err)
{
    (void)services;
    (void)tag;
    return control(ctx, "restart", cancel_fd, log, err);
}

static int
target_stop(void *ctx, const struct rg_strv *services, struct rg_buf *log, struct rg_err *err)
{
    (void)services;
    return control(ctx, "stop", -1, log, err);
}

static int
target_restart(void *ctx, const struct rg_strv *services, int cancel_fd, struct rg_buf *log,
               struct rg_err *err)
{
    (void)services;
    return control(ctx, "restart", cancel_fd, log, err);
}

static int
target_exec(struct rg_spawn_result *res, void *ctx, const char *service,
            const struct rg_strv *argv, int64_t timeout_ms, int cancel_fd, struct rg_err *err)
{
    const struct rg_runtime *rt = rt_of(ctx);

    (void)service; /* the loader allows only the unit */
    return rg_unit_exec(res, &rt->command_prefix, rt->unit, argv, timeout_ms, cancel_fd, err);
}

const struct rg_driver_ops rg_driver_systemd = {
    .name = "systemd",
    .caps = RG_DRIVER_CAN_PULL | RG_DRIVER_CAN_EXEC | RG_DRIVER_CAN_RESTART | RG_DRIVER_CAN_STOP |
            RG_DRIVER_UNITS,
    .open = target_open,
    .close = target_close,
    .prepare = target_prepare,
    .units = target_units,
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
};
