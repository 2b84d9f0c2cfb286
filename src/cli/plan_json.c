/* The plan as one JSON document, for CI and for tools that draw it. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "plan_describe.h"

static json_t *
strv_json(const struct rg_strv *sv)
{
    json_t *a = json_array();

    for (size_t i = 0; i < sv->n; i++)
        json_array_append_new(a, json_string(sv->v[i]));
    return a;
}

/* Takes ownership of s. */
static json_t *
owned_string(char *s)
{
    json_t *j = json_string(s);

    free(s);
    return j ? j : json_null();
}

static json_t *
ints_json(const int *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* A header whose value is a credential: shown as ***, as the text plan does. */
static bool
secret_header(const char *name)
{
    static const char *const words[] = {"auth", "cookie", "token", "key", "secret", "password"};
    char lower[128];
    size_t n = 0;

    for (; name[n] && n + 1 < sizeof(lower); n++)
        lower[n] = (char)tolower((unsigned char)name[n]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(lower, words[i]))
            return true;
    return false;
}

static json_t *
gate_json(const struct rg_gate *g)
{
    json_t *o = json_object();

    json_object_set_new(o, "name", json_string(g->name));
    json_object_set_new(o, "kind", json_string(rg_gate_kind_name(g->kind)));
    json_object_set_new(o, "target", owned_string(rg_gate_target_redacted(g)));
    json_object_set_new(o, "summary", owned_string(rg_gate_summary(g)));
    json_object_set_new(o, "every_ms", json_integer(g->timing.every_ms));
    json_object_set_new(o, "within_ms", json_integer(g->timing.within_ms));
    json_object_set_new(o, "need", json_integer(g->timing.need));
    json_object_set_new(o, "timeout_ms", json_integer(g->timing.timeout_ms));
    if (g->kind == RG_GATE_COMMAND)
        json_object_set_new(o, "argv", strv_json(&g->argv));
    if (g->n_expect)
        json_object_set_new(o, "expect", ints_json(g->expect, g->n_expect));
    if (g->kind == RG_GATE_HTTP || g->kind == RG_GATE_WEBSOCKET) {
        json_object_set_new(o, "fail_on", ints_json(g->fail_on, g->n_fail_on));
        json_object_set_new(o, "body", g->body ? json_string(g->body) : json_null());
        json_object_set_new(o, "max_latency_ms", g->max_latency_ms ? json_integer(g->max_latency_ms)
                                                                  : json_null());
        json_object_set_new(o, "tls_verify", json_boolean(g->tls_verify));
        json_t *h = json_object();
        for (size_t i = 0; i < g->n_headers; i++)
            json_object_set_new(h, g->headers[i].key,
                                json_string(secret_header(g->headers[i].key)
                                                ? "***"
                                                : g->headers[i].value));
        json_object_set_new(o, "headers", h);
    }
    if (g->kind == RG_GATE_POSTGRES) {
        json_object_set_new(o, "query", g->query ? json_string(g->query) : json_null());
        json_object_set_new(o, "max_connections_used_percent",
                            g->max_connections_used >= 0
                                ? json_real(g->max_connections_used / 100.0)
                                : json_null());
    }
    if (g->kind == RG_GATE_CONTAINER) {
        json_object_set_new(o, "state", json_string(g->state == RG_CONTAINER_HEALTHY ? "healthy"
                                                                                     : "running"));
        json_object_set_new(o, "max_restarts", json_integer(g->max_restarts));
    }
    if (g->kind == RG_GATE_LOGS)
        json_object_set_new(o, "pattern", json_string(g->pattern));
    if (g->kind == RG_GATE_LOGS && g->file)
        json_object_set_new(o, "file", json_string(g->file));
    if (g->kind == RG_GATE_UNIT)
        json_object_set_new(o, "max_restarts", json_integer(g->max_restarts));
    return o;
}

static json_t *
timing_json(const struct rg_timing *t)
{
    json_t *o = json_object();

    json_object_set_new(o, "every_ms", json_integer(t->every_ms));
    json_object_set_new(o, "within_ms", json_integer(t->within_ms));
    json_object_set_new(o, "need", json_integer(t->need));
    json_object_set_new(o, "timeout_ms", json_integer(t->timeout_ms));
    return o;
}

static json_t *
stage_json(const struct rg_plan *plan, const struct rg_plan_stage *st,
           const struct rg_rung *rung)
{
    json_t *o = json_object();

    json_object_set_new(o, "state", json_string(rg_state_name(st->state)));
    json_object_set_new(o, "summary", owned_string(rg_plan_stage_summary(plan, st, rung)));
    json_object_set_new(o, "on_fail", json_string(rg_state_name(st->on_fail)));
    if (st->step) {
        json_object_set_new(o, "step", json_string(rg_step_kind_name(st->step->kind)));
        json_object_set_new(o, "line", json_integer(st->step->line));
        if (st->step->gates.n)
            json_object_set_new(o, "gates", strv_json(&st->step->gates));
        if (st->step->services.n)
            json_object_set_new(o, "services", strv_json(&st->step->services));
        if (st->step->argv.n)
            json_object_set_new(o, "argv", strv_json(&st->step->argv));
        if (st->state == RG_ST_SETTLE) {
            json_object_set_new(o, "for_ms", json_integer(st->step->for_ms));
            json_object_set_new(o, "watch", strv_json(&st->step->watch));
        }
        if (st->state == RG_ST_EXEC)
            json_object_set_new(o, "timeout_ms", json_integer(st->step->timeout_ms));
    }
    return o;
}

int
rg_plan_print_json(FILE *out, const struct rg_plan *plan)
{
    const struct rg_playbook *pb = plan->pb;
    json_t *root = json_object(), *arr, *o;
    int rc;

    json_object_set_new(root, "playbook", json_string(pb->path));
    json_object_set_new(root, "target", json_string(pb->name));
    json_object_set_new(root, "tag", plan->tag ? json_string(plan->tag) : json_null());
    o = json_object();
    json_object_set_new(o, "image", pb->release.image ? json_string(pb->release.image)
                                                      : json_null());
    json_object_set_new(o, "tag_pattern", json_string(pb->release.tag_pattern));
    if (pb->release.git)
        json_object_set_new(o, "git", json_string(pb->release.git));
    if (pb->release.uploads)
        json_object_set_new(o, "uploads", json_string(pb->release.uploads));
    json_object_set_new(root, "release", o);
    o = json_object();
    json_object_set_new(o, "driver", json_string(rg_driver_name(pb->runtime.driver)));
    if (pb->runtime.project_dir)
        json_object_set_new(o, "project_dir", json_string(pb->runtime.project_dir));
    if (pb->runtime.unit)
        json_object_set_new(o, "unit", json_string(pb->runtime.unit));
    json_object_set_new(o, "project_name", pb->runtime.project_name
                                               ? json_string(pb->runtime.project_name)
                                               : json_null());
    json_object_set_new(o, "env_file", pb->runtime.env_file ? json_string(pb->runtime.env_file)
                                                            : json_null());
    json_object_set_new(o, "tag_var", pb->runtime.tag_var ? json_string(pb->runtime.tag_var)
                                                          : json_null());
    if (pb->runtime.root) {
        json_object_set_new(o, "root", json_string(pb->runtime.root));
        json_object_set_new(o, "keep", json_integer(pb->runtime.keep));
    }
    if (pb->runtime.command_prefix.n)
        json_object_set_new(o, "command_prefix", strv_json(&pb->runtime.command_prefix));
    json_object_set_new(o, "services", strv_json(&pb->runtime.services));
    json_object_set_new(root, "runtime", o);
    json_object_set_new(root, "strategy", json_string(rg_strategy_name(pb->strategy)));
    if (pb->proxy.enabled) {
        o = json_object();
        json_object_set_new(o, "upstream_file", json_string(pb->proxy.upstream_file));
        json_object_set_new(o, "test", strv_json(&pb->proxy.test));
        json_object_set_new(o, "reload", strv_json(&pb->proxy.reload));
        json_object_set_new(o, "drain_ms", json_integer(pb->proxy.drain_ms));
        json_t *u = json_object();
        for (size_t i = 0; i < pb->proxy.n_upstreams; i++) {
            json_t *one = json_object();
            json_object_set_new(one, "service", json_string(pb->proxy.upstreams[i].service));
            json_object_set_new(one, "port", json_integer(pb->proxy.upstreams[i].port));
            json_object_set_new(u, pb->proxy.upstreams[i].name, one);
        }
        json_object_set_new(o, "upstreams", u);
        json_object_set_new(root, "proxy", o);
    }
    json_object_set_new(root, "state_dir", json_string(pb->state_dir));
    json_object_set_new(root, "current", plan->current ? json_string(plan->current)
                                                       : json_null());
    json_object_set_new(root, "defaults", timing_json(&pb->defaults));
    if (pb->backup.enabled) {
        o = json_object();
        json_object_set_new(o, "before_deploy", json_boolean(pb->backup.before_deploy));
        json_object_set_new(o, "database", owned_string(rg_redact_dsn(pb->backup.database)));
        json_object_set_new(o, "filestore", pb->backup.filestore
                                                ? json_string(pb->backup.filestore)
                                                : json_null());
        json_object_set_new(o, "dir", json_string(pb->backup.dir));
        json_object_set_new(o, "keep", json_integer(pb->backup.keep));
        json_object_set_new(o, "verify_query", pb->backup.verify_query
                                                   ? json_string(pb->backup.verify_query)
                                                   : json_null());
        json_object_set_new(root, "backup", o);
    }

    o = json_object();
    for (size_t i = 0; i < pb->n_gates; i++)
        json_object_set_new(o, pb->gates[i].name, gate_json(&pb->gates[i]));
    json_object_set_new(root, "gates", o);

    arr = json_array();
    for (size_t i = 0; i < plan->n_stages; i++)
        json_array_append_new(arr, stage_json(plan, &plan->stages[i], NULL));
    json_object_set_new(root, "deploy", arr);

    arr = json_array();
    for (size_t r = 0; r < plan->n_rungs; r++) {
        const struct rg_plan_rung *pr = &plan->rungs[r];
        json_t *rung = json_object(), *stages = json_array();
        json_object_set_new(rung, "rung", json_string(rg_rung_kind_name(pr->rung->kind)));
        json_object_set_new(rung, "summary", owned_string(rg_rung_summary(pr->rung)));
        if (pr->rung->to)
            json_object_set_new(rung, "to", json_string(pr->rung->to));
        for (size_t i = 0; i < pr->n_stages; i++)
            json_array_append_new(stages, stage_json(plan, &pr->stages[i], pr->rung));
        json_object_set_new(rung, "stages", stages);
        json_object_set_new(rung, "on_fail", json_string(r + 1 < plan->n_rungs
                                                             ? "RECOVER"
                                                             : "UNRECOVERED"));
        json_array_append_new(arr, rung);
    }
    json_object_set_new(root, "recover", arr);

    o = json_object();
    json_object_set_new(o, "deployed", json_integer(RG_EXIT_OK));
    json_object_set_new(o, "recovered", json_integer(RG_EXIT_RECOVERED));
    json_object_set_new(o, "unrecovered", json_integer(RG_EXIT_UNRECOVERED));
    json_object_set_new(o, "aborted", json_integer(RG_EXIT_ABORTED));
    json_object_set_new(root, "exit_codes", o);

    arr = json_array();
    for (size_t i = 0; i < pb->n_notify; i++) {
        const struct rg_notify *n = &pb->notify[i];
        json_t *on = json_array();
        o = json_object();
        json_object_set_new(o, "webhook", n->webhook[0] ? owned_string(rg_redact_url(n->webhook))
                                                        : json_null());
        for (int k = 0; k < RG_OUTCOME_COUNT; k++)
            if (n->on & (1u << k))
                json_array_append_new(on, json_string(rg_outcome_name((enum rg_outcome)k)));
        json_object_set_new(o, "on", on);
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "notify", arr);

    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    return rc == 0 ? 0 : -1;
}
