/* Fail fast for systemd units, as the Docker event watch does for containers: between probes,
 * the watched units are read again, and a unit that failed, or restarted since the watch
 * opened (with the step), stops the step at once instead of waiting for a gate's deadline.
 * Restarts are counted against the reading taken when the watch opened, never against 0: a
 * manual restart resets NRestarts, but one during an auto-restart keeps it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rollgate/runtime.h"

#define WATCH_EVERY_MS 500

struct rg_unit_watch {
    struct rg_gate_env env;
    struct rg_strv units;
    struct rg_unit_state *mark; /* one per unit, read when the watch opened */
    int64_t next_ms;
    bool fired;
    char why[RG_ERR_MSG_MAX];
};

int
rg_unit_watch_open(struct rg_unit_watch **out, const struct rg_gate_env *env,
                   const struct rg_strv *units, struct rg_err *err)
{
    struct rg_unit_watch *w = rg_calloc(1, sizeof(*w));

    (void)err;
    w->env = *env;
    for (size_t i = 0; units && i < units->n; i++)
        rg_strv_push(&w->units, units->v[i]);
    w->mark = rg_calloc(w->units.n + 1, sizeof(*w->mark));
    for (size_t i = 0; i < w->units.n; i++) {
        struct rg_err ignored;
        if (rg_unit_show(&w->mark[i], env->units, w->units.v[i], -1, &ignored) < 0)
            memset(&w->mark[i], 0, sizeof(w->mark[i]));
    }
    *out = w;
    return 0;
}

void
rg_unit_watch_close(struct rg_unit_watch *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->units.n; i++)
        rg_unit_state_release(&w->mark[i]);
    free(w->mark);
    rg_strv_release(&w->units);
    free(w);
}

/* Why unit now ended the watch, or false. */
static bool
broke(char *why, size_t size, const char *unit, const struct rg_unit_state *mark,
      const struct rg_unit_state *now)
{
    char state[256];

    rg_unit_describe(state, sizeof(state), now);
    if (strcmp(now->active, "failed") == 0) {
        snprintf(why, size, "unit %s failed: %s", unit, state);
        return true;
    }
    if (strcmp(now->sub, "auto-restart") == 0) {
        snprintf(why, size, "unit %s: main process exited, restart pending: %s", unit, state);
        return true;
    }
    if (gate_unit_restarts(mark, now) > 0) {
        snprintf(why, size, "unit %s restarted since the step began: %s", unit, state);
        return true;
    }
    return false;
}

bool
rg_unit_watch_check(char *why, size_t size, void *data)
{
    struct rg_unit_watch *w = data;
    int64_t now_ms = rg_mono_ms();

    if (!w->fired && now_ms >= w->next_ms) {
        w->next_ms = now_ms + WATCH_EVERY_MS;
        for (size_t i = 0; i < w->units.n && !w->fired; i++) {
            struct rg_unit_state now;
            struct rg_err ignored;
            if (rg_unit_show(&now, w->env.units, w->units.v[i], -1, &ignored) < 0)
                continue; /* the unit gates say what cannot be read */
            w->fired = broke(w->why, sizeof(w->why), w->units.v[i], &w->mark[i], &now);
            rg_unit_state_release(&now);
        }
    }
    if (w->fired)
        snprintf(why, size, "%s", w->why);
    return w->fired;
}
