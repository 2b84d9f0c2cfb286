/* The command gate: an argv (never a shell) that must exit 0 within the timeout. */
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rollgate/spawn.h"

#define OUTPUT_KEEP 4096

static int
command_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
                struct rg_err *err)
{
    (void)env;
    (void)err;
    *ctx_out = (void *)spec; /* nothing to prepare: the spec is the state */
    return 0;
}

static int
command_probe(struct rg_verdict *out, void *ctx, struct rg_err *err)
{
    const struct rg_gate *g = ctx;
    struct rg_spawn_opts o = {
        .argv = (const char *const *)g->argv.v,
        .timeout_ms = g->timing.timeout_ms,
        .grace_ms = 500,
        .max_output = OUTPUT_KEEP,
        .cancel_fd = -1,
    };
    struct rg_spawn_result res;
    char how[128];
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = rg_spawn_run(&res, &o, err)) < 0) {
        /* A missing program will not appear by retrying: the playbook names the wrong one. */
        gate_verdict(out, RG_VERDICT_FAIL, "%s", err->msg);
        gate_evidence(out, "%s", err->msg);
        rg_spawn_result_release(&res);
        return 0;
    }
    out->latency_ms = res.elapsed_ms;
    rg_spawn_describe(how, sizeof(how), &res);
    if (!res.timed_out && res.exit_code == 0)
        gate_verdict(out, RG_VERDICT_PASS, "%s in %lldms", how, (long long)res.elapsed_ms);
    else
        gate_verdict(out, RG_VERDICT_RETRY, "%s", how);
    if (res.exit_code != 0 || res.timed_out) {
        gate_evidence(out, "%s: %s", g->argv.v[0], how);
        if (res.err.len)
            gate_evidence_excerpt(out, "stderr", res.err.data, res.err.len, 600);
        if (res.out.len)
            gate_evidence_excerpt(out, "stdout", res.out.data, res.out.len, 300);
    }
    rg_spawn_result_release(&res);
    return 0;
}

static void
command_free(void *ctx)
{
    (void)ctx; /* borrowed spec */
}

const struct rg_gate_ops rg_gate_command_ops = {
    .kind = RG_GATE_COMMAND,
    .prepare = command_prepare,
    .probe = command_probe,
    .free = command_free,
};
