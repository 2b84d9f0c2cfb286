/* Fail fast: a watch on a compose project's Docker events that stops a step the moment one of
 * its containers dies or is OOM-killed, instead of waiting for a gate's deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rollgate/runtime.h"

struct rg_container_watch {
    struct rg_docker *docker;
    struct rg_docker_events *events;
    struct rg_strv services;
    char *tag_suffix;             /* ":TAG": only containers of this release count */
    struct rg_gate_env env;
    bool fired;
    char why[RG_ERR_MSG_MAX];
    struct rg_docker_event event; /* the event that fired */
    char stopping[64][65];        /* containers stopped on purpose (compose recreating them) */
    size_t n_stopping;
};

static bool
stopping(const struct rg_container_watch *w, const char *id)
{
    for (size_t i = 0; i < w->n_stopping; i++)
        if (strcmp(w->stopping[i], id) == 0)
            return true;
    return false;
}

static bool
watched(const struct rg_container_watch *w, const struct rg_docker_event *ev)
{
    size_t il = strlen(ev->image), tl;

    if (w->services.n && !rg_strv_contains(&w->services, ev->service))
        return false;
    if (!w->tag_suffix)
        return true;
    tl = strlen(w->tag_suffix);
    return il >= tl && strcmp(ev->image + il - tl, w->tag_suffix) == 0;
}

/* Takes one event into account; true when it fires the watch. */
static bool
consider(struct rg_container_watch *w, const struct rg_docker_event *ev)
{
    if (w->fired || !watched(w, ev))
        return w->fired;
    if (ev->kind == RG_DOCKER_EV_KILL) {
        /* compose up recreating a container, or restart: its death is no crash. */
        if (!stopping(w, ev->id) && w->n_stopping < sizeof(w->stopping) / sizeof(w->stopping[0]))
            memcpy(w->stopping[w->n_stopping++], ev->id, sizeof(ev->id));
        return false;
    }
    if (ev->kind == RG_DOCKER_EV_DIE && stopping(w, ev->id))
        return false;
    if (ev->kind == RG_DOCKER_EV_OOM)
        snprintf(w->why, sizeof(w->why), "container %s of service '%s' was OOM-killed",
                 ev->name, ev->service);
    else if (ev->kind == RG_DOCKER_EV_DIE)
        snprintf(w->why, sizeof(w->why), "container %s of service '%s' exited with code %d",
                 ev->name, ev->service, ev->exit_code);
    else
        return false;
    w->event = *ev;
    w->fired = true;
    return true;
}

static int
catch_up(struct rg_container_watch *w, int64_t since_ms, int64_t until_ms, struct rg_err *err)
{
    struct rg_docker_events *past = NULL;
    struct rg_docker_event ev;
    struct rg_err why;
    int rc;

    if ((rc = rg_docker_events_open(&past, w->docker, w->env.project, since_ms, until_ms,
                                    err)) < 0)
        return rc;
    /* The daemon answers at once with what it has; a stream that stalls is not waited on. */
    while ((rc = rg_docker_events_next(&ev, past, 2000, &why)) == 1)
        consider(w, &ev);
    if (rc < 0 && rc != RG_ENOENT)
        rg_log(RG_LOG_WARN, "docker events since the step began not read: %s", why.msg);
    rg_docker_events_close(past);
    return 0;
}

int
rg_container_watch_open(struct rg_container_watch **out, const struct rg_gate_env *env,
                        const struct rg_strv *services, const char *tag, struct rg_err *err)
{
    struct rg_container_watch *w = rg_calloc(1, sizeof(*w));
    int rc;

    *out = NULL;
    w->env = *env;
    w->tag_suffix = tag ? rg_asprintf(":%s", tag) : NULL;
    for (size_t i = 0; services && i < services->n; i++)
        rg_strv_push(&w->services, services->v[i]);
    if ((rc = rg_docker_open(&w->docker, env->docker_socket, err)) < 0)
        goto out;
    /* What happened since the mark is read to its end now, so that a container that died
     * before the step began fails it before any gate can pass; the live stream goes on from
     * there. */
    if (env->mark_ms > 0) {
        int64_t now = rg_wall_ms();
        if ((rc = catch_up(w, env->mark_ms, now, err)) < 0 ||
            (rc = rg_docker_events_open(&w->events, w->docker, env->project, now, 0, err)) < 0)
            goto out;
    } else if ((rc = rg_docker_events_open(&w->events, w->docker, env->project, 0, 0, err)) < 0) {
        goto out;
    }
    *out = w;
    w = NULL;
out:
    rg_container_watch_close(w);
    return rc;
}

void
rg_container_watch_close(struct rg_container_watch *w)
{
    if (!w)
        return;
    rg_docker_events_close(w->events);
    rg_docker_close(w->docker);
    rg_strv_release(&w->services);
    free(w->tag_suffix);
    free(w);
}


bool
rg_container_watch_check(char *why, size_t size, void *data)
{
    struct rg_container_watch *w = data;
    struct rg_docker_event ev;
    struct rg_err err;
    int rc;

    if (!w->fired && w->events) {
        /* Drain what has arrived without waiting: the poller calls this between probes. */
        while ((rc = rg_docker_events_next(&ev, w->events, 0, &err)) == 1)
            if (consider(w, &ev))
                break;
        if (rc < 0) {
            /* Without events the gates still see the container (restart counts, state): say
             * so once and keep going rather than fail a healthy release. */
            rg_log(RG_LOG_WARN, "container watch stopped: %s", err.msg);
            rg_docker_events_close(w->events);
            w->events = NULL;
        }
    }
    if (w->fired)
        snprintf(why, size, "%s", w->why);
    return w->fired;
}

const struct rg_docker_event *
rg_container_watch_event(const struct rg_container_watch *w)
{
    return w->fired ? &w->event : NULL;
}
