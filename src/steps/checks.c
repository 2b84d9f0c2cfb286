/* verify and settle: the gates that decide whether a release (or a rung) works. A container of
 * the release dying or being OOM-killed ends either at once, through the Docker event watch of
 * the driver's container scope (drivers without containers have none). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "steps_internal.h"

#define EVIDENCE_LOG_LINES 15

void
step_mark(struct rg_step_ctx *ctx)
{
    ctx->mark_ms = rg_wall_ms();
}

static const struct rg_gate **
gates_of(const struct rg_step_ctx *ctx, const struct rg_strv *names)
{
    const struct rg_gate **v = rg_calloc(names->n + 1, sizeof(*v));

    /* The loader checked every name: the lookups cannot fail. */
    for (size_t i = 0; i < names->n; i++)
        v[i] = rg_playbook_gate(ctx->pb, names->v[i]);
    return v;
}

/* Why the step failed, the failed gates' verdicts (not those merely stopped because of it),
 * then what the containers look like. */
static void
record_failure(struct rg_step_ctx *ctx, const struct rg_gate_result *r, size_t n,
               const struct rg_gate_env *env, const struct rg_strv *services,
               const struct rg_err *why)
{
    struct rg_err ignored;

    rg_buf_addf(ctx->evidence, "%s\n", why->msg);
    for (size_t i = 0; i < n; i++) {
        if (r[i].outcome != RG_VERDICT_FAIL)
            continue;
        rg_buf_addf(ctx->evidence, "gate %s: %s%s\n", r[i].gate->name, r[i].last.summary,
                    r[i].timed_out ? " (deadline passed)" : "");
        if (r[i].last.evidence[0])
            rg_buf_addf(ctx->evidence, "  %s\n", r[i].last.evidence);
    }
    rg_gates_evidence(ctx->evidence, env, services, EVIDENCE_LOG_LINES, &ignored);
}

void
rg_step_container_evidence(struct rg_step_ctx *ctx)
{
    struct rg_gate_env env = {.project = rg_driver_scope(ctx->driver),
                              .units = rg_driver_units(ctx->driver),
                              .mark_ms = ctx->mark_ms};
    struct rg_err ignored;

    rg_gates_evidence(ctx->evidence, &env, &ctx->pb->runtime.services, EVIDENCE_LOG_LINES,
                      &ignored);
}

int
step_verify(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    const struct rg_gate **gates = gates_of(ctx, &step->gates);
    struct rg_gate_result *results = rg_calloc(step->gates.n + 1, sizeof(*results));
    struct rg_gate_env env = {.project = rg_driver_scope(ctx->driver),
                              .units = rg_driver_units(ctx->driver),
                              .mark_ms = ctx->mark_ms,
                              .hosts = ctx->hosts,
                              .only_ids = ctx->only_ids};
    size_t n = step->gates.n;
    struct rg_poll_opts po = {.stop_on_fail = true,
                              .cancel_fd = ctx->cancel_fd,
                              .progress = ctx->on_gate,
                              .progress_data = ctx->on_gate_data};
    struct rg_container_watch *w = NULL;
    struct rg_unit_watch *uw = NULL;
    struct rg_err werr;
    int rc;

    /* Events since the target changed: a crash between `up` and now still counts. */
    if (env.project &&
        rg_container_watch_open(&w, &env, &ctx->pb->runtime.services, ctx->tag, &werr) == 0) {
        po.watch = rg_container_watch_check;
        po.watch_data = w;
    } else if (env.project) {
        rg_log(RG_LOG_WARN, "verify without Docker events (slower to see a crash): %s", werr.msg);
    } else if (env.units &&
               rg_unit_watch_open(&uw, &env, &ctx->pb->runtime.services, &werr) == 0) {
        po.watch = rg_unit_watch_check;
        po.watch_data = uw;
    }
    if (ctx->probe) {
        /* A candidate is judged by the gates that reach it; the others (through the proxy)
         * judge it after the switch. */
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if (rg_gate_reaches(gates[i], &env))
                gates[kept++] = gates[i];
            else
                rg_buf_addf(ctx->evidence, "gate %s does not reach the candidate: it judges "
                            "the release after the switch\n", gates[i]->name);
        n = kept;
        if (!n) {
            rc = rg_err_set(err, RG_EINVAL, "no gate of this verify reaches the candidate: "
                            "name the service as a gate's host (http://SERVICE:PORT/...) or "
                            "add a container gate");
            goto out;
        }
    }
    rc = rg_gates_poll(results, gates, n, &env, &po, err);
    if (rc < 0 && rc != RG_ECANCELED)
        record_failure(ctx, results, n, &env, &ctx->pb->runtime.services, err);
out:
    rg_container_watch_close(w);
    rg_unit_watch_close(uw);
    free(results);
    free(gates);
    return rc;
}

int
step_settle(struct rg_step_ctx *ctx, const struct rg_step *step, struct rg_err *err)
{
    const struct rg_gate **gates = gates_of(ctx, &step->gates);
    struct rg_gate_env env = {.project = rg_driver_scope(ctx->driver),
                              .units = rg_driver_units(ctx->driver),
                              .hosts = ctx->hosts,
                              .only_ids = ctx->only_ids};
    struct rg_settle_opts so = {.window_ms = step->for_ms,
                                .cancel_fd = ctx->cancel_fd,
                                .tag = ctx->tag,
                                .progress = ctx->on_gate,
                                .progress_data = ctx->on_gate_data};
    struct rg_settle_result sr;
    int rc;

    /* The window starts now; anything from here on counts. */
    step_mark(ctx);
    env.mark_ms = ctx->mark_ms;
    rc = rg_gates_settle(&sr, gates, step->gates.n, &step->watch, &env, &so, err);
    if (rc < 0 && rc != RG_ECANCELED)
        record_failure(ctx, sr.results, sr.n, &env, &step->watch, err);
    rg_settle_result_release(&sr);
    free(gates);
    return rc;
}
