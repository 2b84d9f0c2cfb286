/* `rollgate check PLAYBOOK [GATE...]`: probe the target's gates now and print what each saw. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ci_report.h"
#include "cmd.h"
#include "rollgate/driver.h"
#include "rollgate/gates.h"
#include "rollgate/runtime.h"

enum { OPT_POLL, OPT_JSON, OPT_REPORT };

static const struct rg_opt check_opts[] = {
    [OPT_POLL] = {"poll", 'p', NULL, "poll each gate until it passes or its 'within' deadline"},
    [OPT_JSON] = {"json", 0, NULL, "print one JSON document instead of the table"},
    [OPT_REPORT] = {"report", 0, "FORMAT", RG_CI_REPORT_HELP},
    {0},
};

static int
select_gates(const struct rg_gate ***out, size_t *n, struct rg_cmd_ctx *ctx,
             const struct rg_playbook *pb)
{
    const struct rg_gate **v = rg_calloc(pb->n_gates + (size_t)ctx->nargs + 1, sizeof(*v));

    *n = 0;
    if (ctx->nargs == 1) {
        for (size_t i = 0; i < pb->n_gates; i++)
            v[(*n)++] = &pb->gates[i];
    }
    for (int a = 1; a < ctx->nargs; a++) {
        const struct rg_gate *g = rg_playbook_gate(pb, ctx->args[a]);
        if (!g) {
            const char **names = rg_calloc(pb->n_gates + 1, sizeof(*names));
            const char *best;
            for (size_t i = 0; i < pb->n_gates; i++)
                names[i] = pb->gates[i].name;
            best = rg_suggest(ctx->args[a], names, pb->n_gates);
            if (best)
                fprintf(ctx->errout, "rollgate: check: unknown gate '%s' (did you mean '%s'?)\n",
                        ctx->args[a], best);
            else
                fprintf(ctx->errout,
                        "rollgate: check: unknown gate '%s' (the playbook has: ", ctx->args[a]);
            for (size_t i = 0; !best && i < pb->n_gates; i++)
                fprintf(ctx->errout, "%s%s", i ? ", " : "", names[i]);
            if (!best)
                fprintf(ctx->errout, ")\n");
            free(names);
            free(v);
            return RG_EXIT_USAGE;
        }
        v[(*n)++] = g;
    }
    *out = v;
    return 0;
}

static void
print_table(FILE *out, const struct rg_gate_result *r, size_t n)
{
    fprintf(out, "%-14s %-7s %9s  %s\n", "GATE", "VERDICT", "LATENCY", "EVIDENCE");
    for (size_t i = 0; i < n; i++) {
        const struct rg_verdict *v = &r[i].last;
        char lat[32];
        snprintf(lat, sizeof(lat), "%lldms", (long long)v->latency_ms);
        fprintf(out, "%-14s %-7s %9s  %s\n", r[i].gate->name,
                r[i].outcome == RG_VERDICT_PASS ? "pass" : "FAIL", lat, v->summary);
        if (r[i].outcome != RG_VERDICT_PASS && v->evidence[0]) {
            for (const char *p = v->evidence; *p;) {
                size_t l = strcspn(p, "\n");
                fprintf(out, "%-14s %-7s %9s    %.*s\n", "", "", "", (int)l, p);
                p += l + (p[l] == '\n');
            }
        }
    }
}

static int
print_json(FILE *out, const struct rg_playbook *pb, const struct rg_gate_result *r, size_t n,
           bool all_pass)
{
    json_t *root = json_object(), *arr = json_array();
    int rc;

    json_object_set_new(root, "target", json_string(pb->name));
    json_object_set_new(root, "passed", json_boolean(all_pass));
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "gate", json_string(r[i].gate->name));
        json_object_set_new(o, "kind", json_string(rg_gate_kind_name(r[i].gate->kind)));
        json_object_set_new(o, "verdict",
                            json_string(r[i].outcome == RG_VERDICT_PASS ? "pass" : "fail"));
        json_object_set_new(o, "timed_out", json_boolean(r[i].timed_out));
        json_object_set_new(o, "probes", json_integer(r[i].probes));
        json_object_set_new(o, "latency_ms", json_integer(r[i].last.latency_ms));
        json_object_set_new(o, "elapsed_ms", json_integer(r[i].elapsed_ms));
        json_object_set_new(o, "summary", json_string(r[i].last.summary));
        json_object_set_new(o, "evidence", json_string(r[i].last.evidence));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "gates", arr);
    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    return rc;
}

/* When something fails, what the target's containers look like is the first thing to read. */
static void
print_containers(FILE *out, const struct rg_gate_env *env, const struct rg_strv *services)
{
    struct rg_buf ev;
    struct rg_err err;

    rg_buf_init(&ev, 64 * 1024);
    if (rg_gates_evidence(&ev, env, services, 10, &err) == 0 && ev.len)
        fprintf(out, "\n%s", ev.data);
    else if (ev.len == 0 && env->project)
        fprintf(out, "\nno container of project '%s'%s%s\n", env->project, err.msg[0] ? ": " : "",
                err.msg);
    rg_buf_release(&ev);
}

/* "service=ip" for every running container of the playbook's services, whatever release. */
static int
service_hosts(struct rg_strv *hosts, struct rg_driver *drv, const struct rg_playbook *pb,
              struct rg_err *err)
{
    struct rg_instance *v = NULL;
    size_t n = 0;
    char entry[256];
    int rc;

    if ((rc = rg_driver_instances(&v, &n, drv, &pb->runtime.services, err)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].running || !v[i].ip[0])
            continue;
        snprintf(entry, sizeof(entry), "%s=%s", v[i].service, v[i].ip);
        rg_strv_push(hosts, entry);
    }
    free(v);
    return 0;
}

static int
cmd_check(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    const struct rg_gate **gates = NULL;
    struct rg_gate_result *results = NULL;
    struct rg_driver *drv = NULL;
    struct rg_strv hosts = {0};
    struct rg_ci_report *ci = NULL;
    const char *project = NULL;
    struct rg_err err;
    size_t n = 0;
    int rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0 ||
        (rc = select_gates(&gates, &n, ctx, pb)) != 0)
        goto out;
    if (rg_ci_report_open(&ci, ctx->optall[OPT_REPORT], (size_t)ctx->optcount[OPT_REPORT],
                          "check", pb, ctx->out, ctx->errout, ctx->optcount[OPT_JSON] > 0,
                          &err) < 0) {
        rc = rg_cli_usage_error(ctx->cmd, "%s", err.msg);
        goto out;
    }
    if (rg_driver_open(&drv, pb, NULL, &err) < 0) {
        fprintf(ctx->errout, "rollgate: check: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    project = rg_driver_scope(drv);
    struct rg_gate_env env = {.project = project, .units = rg_driver_units(drv), .mark_ms = 0};
    if (pb->strategy == RG_STRATEGY_SWITCH) {
        /* Under switch a gate names a service to reach its containers (docs/switch.md). */
        if ((rc = service_hosts(&hosts, drv, pb, &err)) < 0) {
            fprintf(ctx->errout, "rollgate: check: %s\n", err.msg);
            rc = rg_cli_exit_for(rc);
            goto out;
        }
        env.hosts = &hosts;
    }
    struct rg_poll_opts po = {.once = !ctx->optcount[OPT_POLL], .cancel_fd = -1};
    results = rg_calloc(n + 1, sizeof(*results));
    rc = rg_gates_poll(results, gates, n, &env, &po, &err);
    if (rc < 0 && rc != RG_EGATE) {
        fprintf(ctx->errout, "rollgate: check: %s\n", err.msg);
        rc = rg_cli_exit_for(rc);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        rg_ci_report_gate(ci, &results[i]);
    if (ctx->optcount[OPT_JSON]) {
        if (print_json(ctx->out, pb, results, n, rc == 0) < 0) {
            rc = RG_EXIT_INTERNAL;
            goto out;
        }
    } else {
        print_table(ctx->out, results, n);
        if (rc == RG_EGATE && (project || env.units))
            print_containers(ctx->out, &env, &pb->runtime.services);
    }
    rc = rc == 0 ? RG_EXIT_OK : RG_EXIT_GATES;
    if (rg_ci_report_finish(ci, 0, NULL, NULL, rc == RG_EXIT_OK ? "passed" : "failed", rc,
                            NULL) < 0 && rc == RG_EXIT_OK)
        rc = RG_EXIT_CANTCREAT;
out:
    rg_ci_report_free(ci);
    free(results);
    free(gates);
    rg_strv_release(&hosts);
    rg_driver_close(drv);
    rg_playbook_free(pb);
    return rc;
}

const struct rg_cmd rg_cmd_check = {
    .name = "check",
    .summary = "probe the target's gates now and show each verdict with its evidence",
    .usage = "[--poll] [--json] [--report FORMAT]... PLAYBOOK [GATE...]",
    .description =
        "Probes the named gates (all when none is named) of the running target, concurrently,\n"
        "once each; with --poll each gate is polled by its every/within/need settings.\n"
        "Nothing is changed. Container restarts and log lines count over each container's\n"
        "whole life. Exits 0 when every gate passes, 5 when any does not.\n"
        "--report junit=PATH, github or gitlab report the verdicts to a CI\n"
        "(docs/ci-and-hooks.md).\n",
    .opts = check_opts,
    .min_args = 1,
    .max_args = -1,
    .run = cmd_check,
};
