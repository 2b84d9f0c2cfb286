/* Stability: for a window, the watched services' containers (or systemd units) keep running
 * without a restart and the listed gates keep passing. A die or OOM event ends it at once; a
 * unit's exit is seen by its unit check within a second. */
#include <stdlib.h>
#include <string.h>

#include "gate.h"

void
rg_settle_result_release(struct rg_settle_result *r)
{
    for (size_t i = 0; i < r->n_synthetic; i++)
        free(r->synthetic[i].name);
    free(r->synthetic);
    free(r->results);
    memset(r, 0, sizeof(*r));
}

int
rg_gates_settle(struct rg_settle_result *out, const struct rg_gate *const *gates, size_t n,
                const struct rg_strv *watch, const struct rg_gate_env *env,
                const struct rg_settle_opts *so, struct rg_err *err)
{
    struct rg_container_watch *w = NULL;
    struct rg_unit_watch *uw = NULL;
    const struct rg_gate **all = NULL;
    struct rg_poll_opts po = {.stop_on_fail = true,
                              .cancel_fd = so->cancel_fd,
                              .settle_ms = so->window_ms,
                              .progress = so->progress,
                              .progress_data = so->progress_data};
    size_t total;
    int rc;

    memset(out, 0, sizeof(*out));
    /* Each watched service gets a container check: running, no restart since the mark. A
     * target without containers (no project) has only the listed gates to watch. */
    out->synthetic = rg_calloc(watch->n + 1, sizeof(*out->synthetic));
    for (size_t i = 0; (env->project || env->units) && i < watch->n; i++) {
        struct rg_gate *g = &out->synthetic[out->n_synthetic++];
        g->name = rg_asprintf("stable:%s", watch->v[i]);
        g->kind = env->project ? RG_GATE_CONTAINER : RG_GATE_UNIT;
        g->target = watch->v[i];
        g->state = RG_CONTAINER_RUNNING;
        g->max_restarts = 0;
        g->max_connections_used = -1;
        g->timing.every_ms = so->every_ms > 0 ? so->every_ms : 1000;
        g->timing.within_ms = so->window_ms;
        g->timing.timeout_ms = 5000;
        g->timing.need = 1;
    }
    total = n + out->n_synthetic;
    all = rg_calloc(total + 1, sizeof(*all));
    for (size_t i = 0; i < n; i++)
        all[i] = gates[i];
    for (size_t i = 0; i < out->n_synthetic; i++)
        all[n + i] = &out->synthetic[i];
    out->results = rg_calloc(total + 1, sizeof(*out->results));
    out->n = total;
    if (env->project && (rc = rg_container_watch_open(&w, env, watch, so->tag, err)) == 0) {
        po.watch = rg_container_watch_check;
        po.watch_data = w;
    } else if (env->project) {
        /* Restart counts still catch a crash, a poll later: go on without events. */
        rg_log(RG_LOG_WARN, "settle without Docker events: %s", err->msg);
    }
    if (env->units && watch->n && rg_unit_watch_open(&uw, env, watch, err) == 0) {
        po.watch = rg_unit_watch_check;
        po.watch_data = uw;
    }
    rc = rg_gates_poll(out->results, all, total, env, &po, err);
    rg_unit_watch_close(uw);
    if (w && rg_container_watch_event(w)) {
        out->event = *rg_container_watch_event(w);
        out->fired = true;
    }
    rg_container_watch_close(w);
    free(all);
    return rc;
}
