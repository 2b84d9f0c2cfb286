/* The container gate: every container of a compose service is running (or healthy), was not
 * OOM-killed, and has not restarted more than allowed since the step began. */
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rollgate/runtime.h"

struct baseline {
    char *id;
    int restarts;
};

struct container_ctx {
    const struct rg_gate *spec;
    struct rg_gate_env env;
    struct rg_docker *docker;
    struct baseline *base;  /* restart counts when the step began, by container id */
    size_t n_base;
};

static void
container_free(void *ctx)
{
    struct container_ctx *c = ctx;

    if (!c)
        return;
    for (size_t i = 0; i < c->n_base; i++)
        free(c->base[i].id);
    free(c->base);
    rg_docker_close(c->docker);
    free(c);
}

static int
container_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
                  struct rg_err *err)
{
    struct container_ctx *c = rg_calloc(1, sizeof(*c));
    struct rg_container *list = NULL;
    size_t n = 0;
    int rc;

    *ctx_out = NULL;
    c->spec = spec;
    c->env = *env;
    if (!env->project) {
        rc = rg_err_set(err, RG_EINVAL, "container gate '%s' needs a compose project",
                        spec->name);
        goto out;
    }
    if ((rc = rg_docker_open(&c->docker, env->docker_socket, err)) < 0)
        goto out;
    /* Without a mark the whole life of each container counts: no baseline. */
    if (env->mark_ms > 0) {
        if ((rc = rg_docker_list(&list, &n, c->docker, env->project, spec->target, err)) < 0)
            goto out;
        c->base = rg_calloc(n + 1, sizeof(*c->base));
        for (size_t i = 0; i < n; i++) {
            struct rg_container one;
            if (rg_docker_inspect(&one, c->docker, list[i].id, err) < 0)
                continue; /* gone in between: it has no baseline then */
            c->base[c->n_base].id = rg_strdup(one.id);
            c->base[c->n_base++].restarts = one.restart_count;
            rg_container_release(&one);
        }
    }
    *ctx_out = c;
    c = NULL;
out:
    rg_containers_free(list, n);
    container_free(c);
    return rc;
}

static int
baseline_of(const struct container_ctx *c, const char *id)
{
    for (size_t i = 0; i < c->n_base; i++)
        if (strcmp(c->base[i].id, id) == 0)
            return c->base[i].restarts;
    return 0; /* a container created after the mark started from zero */
}

static void
describe(struct rg_verdict *out, const struct rg_container *k, int restarts, bool marked)
{
    gate_evidence(out, "%scontainer %s: %s, exit code %d, %d restart%s%s%s",
                  out->evidence[0] ? "\n" : "", k->name, k->status, k->exit_code, restarts,
                  restarts == 1 ? "" : "s", marked ? " since the step began" : "",
                  k->oom_killed ? ", OOM-killed" : "");
    if (k->health)
        gate_evidence(out, ", health %s", k->health);
    if (k->health_output && k->health_output[0])
        gate_evidence_excerpt(out, "last health check", k->health_output,
                              strlen(k->health_output), 300);
}

static int
container_probe(struct rg_verdict *out, void *ctx, struct rg_err *err)
{
    struct container_ctx *c = ctx;
    const struct rg_gate *g = c->spec;
    struct rg_container *list = NULL;
    int64_t start = rg_mono_ms();
    size_t n = 0, ready = 0;
    enum rg_verdict_kind worst = RG_VERDICT_PASS;
    char first_problem[512] = "";
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = rg_docker_list(&list, &n, c->docker, c->env.project, g->target, err)) < 0) {
        gate_verdict(out, RG_VERDICT_RETRY, "%s", err->msg);
        rc = 0;
        goto out;
    }
    n = gate_keep_only(list, n, &c->env);
    if (n == 0) {
        gate_verdict(out, RG_VERDICT_RETRY, "no container of service '%s' in project '%s'",
                     g->target, c->env.project);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct rg_container k;
        enum rg_verdict_kind v = RG_VERDICT_PASS;
        const char *problem = NULL;
        char buf[160];
        int restarts;

        if (list[i].restarting) {
            /* Inspect would wait for the container's lock, which Docker holds while it
             * restarts it (hundreds of ms in a crash loop): the list says enough. The restart
             * count is judged on a probe that finds it running; the event watch has usually
             * failed the step before that. */
            worst = worst == RG_VERDICT_FAIL ? worst : RG_VERDICT_RETRY;
            gate_evidence(out, "%scontainer %s: restarting", out->evidence[0] ? "\n" : "",
                          list[i].name);
            if (!first_problem[0])
                snprintf(first_problem, sizeof(first_problem), "%s is restarting",
                         list[i].name);
            continue;
        }
        if (rg_docker_inspect(&k, c->docker, list[i].id, err) < 0) {
            worst = worst == RG_VERDICT_FAIL ? worst : RG_VERDICT_RETRY;
            continue;
        }
        restarts = k.restart_count - baseline_of(c, k.id);
        if (k.oom_killed) {
            v = RG_VERDICT_FAIL;
            problem = "was OOM-killed";
        } else if (restarts > g->max_restarts) {
            v = RG_VERDICT_FAIL;
            snprintf(buf, sizeof(buf), "restarted %d time%s (allowed %d)", restarts,
                     restarts == 1 ? "" : "s", g->max_restarts);
            problem = buf;
        } else if (strcmp(k.status, "exited") == 0 || strcmp(k.status, "dead") == 0) {
            /* Under a restart policy Docker says "restarting"; "exited" is for good. */
            v = RG_VERDICT_FAIL;
            snprintf(buf, sizeof(buf), "exited with code %d", k.exit_code);
            problem = buf;
        } else if (!k.running || k.restarting) {
            v = RG_VERDICT_RETRY;
            snprintf(buf, sizeof(buf), "is %s", k.status);
            problem = buf;
        } else if (g->state == RG_CONTAINER_HEALTHY && !k.health) {
            v = RG_VERDICT_FAIL;
            problem = "has no healthcheck, so it can never be healthy";
        } else if (g->state == RG_CONTAINER_HEALTHY && strcmp(k.health, "healthy") != 0) {
            v = RG_VERDICT_RETRY;
            snprintf(buf, sizeof(buf), "is %s", k.health);
            problem = buf;
        }
        if (v == RG_VERDICT_PASS)
            ready++;
        else
            describe(out, &k, restarts, c->env.mark_ms > 0);
        if (problem && !first_problem[0])
            snprintf(first_problem, sizeof(first_problem), "%s %s", k.name, problem);
        if (v == RG_VERDICT_FAIL || (v == RG_VERDICT_RETRY && worst == RG_VERDICT_PASS))
            worst = v;
        rg_container_release(&k);
    }
    out->latency_ms = rg_mono_ms() - start;
    if (worst == RG_VERDICT_PASS)
        gate_verdict(out, RG_VERDICT_PASS, "%zu container%s %s", ready, ready == 1 ? "" : "s",
                     g->state == RG_CONTAINER_HEALTHY ? "healthy" : "running");
    else
        gate_verdict(out, worst, "%s", first_problem[0] ? first_problem : "cannot inspect");
out:
    rg_containers_free(list, n);
    return rc;
}

const struct rg_gate_ops rg_gate_container_ops = {
    .kind = RG_GATE_CONTAINER,
    .prepare = container_prepare,
    .probe = container_probe,
    .free = container_free,
};
