/* The unit gate: a systemd service is loaded, active and running, and has not restarted since
 * the mark taken when the step began. A restart is told by the main pid, the invocation id and
 * NRestarts all compared with the mark, never NRestarts with 0: a manual restart resets it, an
 * automatic one during a crash loop keeps counting. A unit in `failed`, or one that restarted
 * more than allowed, fails at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rollgate/runtime.h"

struct unit_ctx {
    const struct rg_gate *spec;
    struct rg_gate_env env;
    struct rg_unit_state mark; /* at prepare; mark.load[0] == 0 without a mark */
};

static void
unit_free(void *ctx)
{
    struct unit_ctx *u = ctx;

    if (!u)
        return;
    rg_unit_state_release(&u->mark);
    free(u);
}

static int
unit_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
             struct rg_err *err)
{
    struct unit_ctx *u = rg_calloc(1, sizeof(*u));
    struct rg_err ignored;

    *ctx_out = NULL;
    if (!env->units) {
        unit_free(u);
        return rg_err_set(err, RG_EINVAL, "unit gate '%s' needs a systemd target", spec->name);
    }
    u->spec = spec;
    u->env = *env;
    /* Without a mark (rollgate check) the unit is judged as it is now. A mark that cannot be
     * read leaves the gate without one: the state alone still judges. */
    if (env->mark_ms > 0 && rg_unit_show(&u->mark, env->units, spec->target, -1, &ignored) < 0)
        memset(&u->mark, 0, sizeof(u->mark));
    *ctx_out = u;
    return 0;
}

/* How many times the unit started since the mark: automatic restarts counted by NRestarts,
 * and one more for a start NRestarts does not count (a manual restart, which resets it). */
int64_t
gate_unit_restarts(const struct rg_unit_state *mark, const struct rg_unit_state *now)
{
    int64_t n;

    if (!mark->load[0])
        return 0;
    n = now->n_restarts >= mark->n_restarts ? now->n_restarts - mark->n_restarts
                                            : now->n_restarts + 1;
    if (n == 0 && mark->invocation[0] && now->invocation[0] &&
        strcmp(mark->invocation, now->invocation) != 0)
        n = 1;
    if (n == 0 && mark->main_pid > 0 && now->main_pid > 0 && mark->main_pid != now->main_pid)
        n = 1;
    return n;
}

static int
unit_probe(struct rg_verdict *out, void *ctx, struct rg_err *err)
{
    struct unit_ctx *u = ctx;
    const struct rg_gate *g = u->spec;
    struct rg_unit_state now;
    int64_t start = rg_mono_ms(), restarts;
    char state[256];

    (void)err;
    memset(out, 0, sizeof(*out));
    if (rg_unit_show(&now, u->env.units, g->target, -1, err) < 0) {
        gate_verdict(out, RG_VERDICT_RETRY, "%s", err->msg);
        return 0;
    }
    out->latency_ms = rg_mono_ms() - start;
    rg_unit_describe(state, sizeof(state), &now);
    restarts = gate_unit_restarts(&u->mark, &now);
    if (strcmp(now.load, "loaded") != 0)
        gate_verdict(out, RG_VERDICT_FAIL, "%s is %s", g->target, now.load);
    else if (restarts > g->max_restarts)
        gate_verdict(out, RG_VERDICT_FAIL, "%s restarted %lld time%s since the step began "
                     "(allowed %d)", g->target, (long long)restarts, restarts == 1 ? "" : "s",
                     g->max_restarts);
    else if (strcmp(now.active, "failed") == 0)
        gate_verdict(out, RG_VERDICT_FAIL, "%s failed (%s)", g->target, now.result);
    else if (strcmp(now.sub, "auto-restart") == 0 && restarts + 1 > g->max_restarts)
        /* Its main process ended and systemd will start it again: one restart more than
         * allowed, already. */
        gate_verdict(out, RG_VERDICT_FAIL, "%s: main process exited, restart pending (%s)",
                     g->target, now.result);
    else if (strcmp(now.active, "inactive") == 0)
        gate_verdict(out, RG_VERDICT_FAIL, "%s is inactive (%s): it stopped", g->target,
                     now.sub);
    else if (strcmp(now.active, "active") != 0 || strcmp(now.sub, "running") != 0)
        gate_verdict(out, RG_VERDICT_RETRY, "%s is %s (%s)", g->target, now.active, now.sub);
    else
        gate_verdict(out, RG_VERDICT_PASS, "%s running, main pid %lld", g->target,
                     (long long)now.main_pid);
    if (out->kind != RG_VERDICT_PASS)
        gate_evidence(out, "unit %s: %s", g->target, state);
    rg_unit_state_release(&now);
    return 0;
}

const struct rg_gate_ops rg_gate_unit_ops = {
    .kind = RG_GATE_UNIT,
    .prepare = unit_prepare,
    .probe = unit_probe,
    .free = unit_free,
};
