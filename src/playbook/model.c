/* The model's lifetime, lookups and names, and the check of tags that come from outside. */
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TAG_MAX 128

static void
free_secret(char *s)
{
    if (s)
        rg_wipe(s, strlen(s));
    free(s);
}

static void
gate_release(struct rg_gate *g)
{
    free(g->name);
    if (g->kind == RG_GATE_POSTGRES)
        free_secret(g->target);
    else
        free(g->target);
    rg_strv_release(&g->argv);
    free(g->expect);
    free(g->fail_on);
    free(g->body);
    for (size_t i = 0; i < g->n_headers; i++) {
        free(g->headers[i].key);
        free_secret(g->headers[i].value); /* Authorization headers carry tokens */
    }
    free(g->headers);
    free(g->query);
    free(g->pattern);
    free(g->file);
}

void
rg_playbook_free(struct rg_playbook *pb)
{
    if (!pb)
        return;
    free(pb->path);
    free(pb->dir);
    free(pb->name);
    free(pb->state_dir);
    free(pb->runtime.project_dir);
    free(pb->runtime.compose_file);
    free(pb->runtime.project_name);
    free(pb->runtime.env_file);
    free(pb->runtime.tag_var);
    rg_strv_release(&pb->runtime.services);
    free(pb->runtime.unit);
    free(pb->runtime.root);
    rg_strv_release(&pb->runtime.command_prefix);
    free(pb->proxy.upstream_file);
    rg_strv_release(&pb->proxy.test);
    rg_strv_release(&pb->proxy.reload);
    for (size_t i = 0; i < pb->proxy.n_upstreams; i++) {
        free(pb->proxy.upstreams[i].name);
        free(pb->proxy.upstreams[i].service);
    }
    free(pb->proxy.upstreams);
    free(pb->release.image);
    free(pb->release.tag_pattern);
    free(pb->release.git);
    rg_strv_release(&pb->diagnose.nginx_config);
    free(pb->diagnose.error_log);
    free(pb->diagnose.access_log);
    free(pb->diagnose.app_log);
    free_secret(pb->diagnose.database);
    rg_strv_release(&pb->diagnose.disks);
    free(pb->release.uploads);
    for (size_t i = 0; i < pb->n_gates; i++)
        gate_release(&pb->gates[i]);
    free(pb->gates);
    free_secret(pb->backup.database);
    free(pb->backup.filestore);
    free(pb->backup.dir);
    free(pb->backup.verify_query);
    for (size_t i = 0; i < pb->n_deploy; i++)
        pb_step_release(&pb->deploy[i]);
    free(pb->deploy);
    for (size_t i = 0; i < pb->n_recover; i++) {
        for (size_t j = 0; j < pb->recover[i].n_steps; j++)
            pb_step_release(&pb->recover[i].steps[j]);
        free(pb->recover[i].steps);
        free(pb->recover[i].to);
    }
    free(pb->recover);
    for (size_t i = 0; i < pb->n_notify; i++)
        free_secret(pb->notify[i].webhook);
    free(pb->notify);
    free(pb);
}

const struct rg_gate *
rg_playbook_gate(const struct rg_playbook *pb, const char *name)
{
    for (size_t i = 0; i < pb->n_gates; i++)
        if (strcmp(pb->gates[i].name, name) == 0)
            return &pb->gates[i];
    return NULL;
}

int
rg_playbook_check_tag(const struct rg_playbook *pb, const char *tag, struct rg_err *err)
{
    size_t len = strlen(tag);
    regex_t rx;
    int rc;

    /* Docker's tag grammar first: this is what keeps a tag safe in a file, an argv or a URL. */
    if (len == 0)
        return rg_err_set(err, RG_EINVAL, "empty tag");
    if (len > TAG_MAX)
        return rg_err_set(err, RG_EINVAL, "tag is %zu characters long, more than %d", len,
                          TAG_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)tag[i];
        if (!(isalnum(ch) || ch == '_' || (i > 0 && (ch == '.' || ch == '-'))) || ch > 127)
            return rg_err_set(err, RG_EINVAL,
                              "invalid tag '%.*s': a tag is letters, digits, '_', '.' and '-', "
                              "not starting with '.' or '-'",
                              (int)(len > 64 ? 64 : len), tag);
    }
    if ((rc = rg_regex_compile(&rx, pb->release.tag_pattern, REG_EXTENDED | REG_NOSUB, err)) < 0)
        return rc;
    rc = regexec(&rx, tag, 0, NULL, 0);
    regfree(&rx);
    if (rc != 0)
        return rg_err_set(err, RG_EINVAL, "tag '%s' does not match the playbook's tag_pattern "
                                          "'%s'", tag, pb->release.tag_pattern);
    return 0;
}

const char *
rg_gate_kind_name(enum rg_gate_kind kind)
{
    static const char *const names[] = {
        [RG_GATE_HTTP] = "http",       [RG_GATE_WEBSOCKET] = "websocket",
        [RG_GATE_TCP] = "tcp",         [RG_GATE_POSTGRES] = "postgres",
        [RG_GATE_COMMAND] = "command", [RG_GATE_CONTAINER] = "container",
        [RG_GATE_LOGS] = "logs",       [RG_GATE_UNIT] = "unit",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_GATE_KIND_COUNT, "gate kind names");
    return (unsigned)kind < RG_GATE_KIND_COUNT ? names[kind] : "?";
}

const char *
rg_step_kind_name(enum rg_step_kind kind)
{
    static const char *const names[] = {
        [RG_STEP_PULL] = "pull",       [RG_STEP_SWITCH] = "switch",
        [RG_STEP_UP] = "up",           [RG_STEP_EXEC] = "exec",
        [RG_STEP_RESTART] = "restart", [RG_STEP_VERIFY] = "verify",
        [RG_STEP_SETTLE] = "settle",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_STEP_KIND_COUNT, "step kind names");
    return (unsigned)kind < RG_STEP_KIND_COUNT ? names[kind] : "?";
}

const char *
rg_rung_kind_name(enum rg_rung_kind kind)
{
    static const char *const names[] = {
        [RG_RUNG_REPAIR] = "repair", [RG_RUNG_ROLLBACK] = "rollback",
        [RG_RUNG_RESTORE] = "restore",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_RUNG_KIND_COUNT, "rung kind names");
    return (unsigned)kind < RG_RUNG_KIND_COUNT ? names[kind] : "?";
}

const char *
rg_outcome_name(enum rg_outcome outcome)
{
    static const char *const names[] = {
        [RG_OUTCOME_DEPLOYED] = "deployed",       [RG_OUTCOME_REPAIRED] = "repaired",
        [RG_OUTCOME_ROLLED_BACK] = "rolled_back", [RG_OUTCOME_RESTORED] = "restored",
        [RG_OUTCOME_UNRECOVERED] = "unrecovered", [RG_OUTCOME_ABORTED] = "aborted",
        [RG_OUTCOME_BACKED_UP] = "backed_up",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_OUTCOME_COUNT, "outcome names");
    return (unsigned)outcome < RG_OUTCOME_COUNT ? names[outcome] : "?";
}

const char *
rg_driver_name(enum rg_runtime_driver driver)
{
    static const char *const names[] = {
        [RG_DRIVER_COMPOSE] = "compose",
        [RG_DRIVER_SYSTEMD] = "systemd",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_DRIVER_COUNT, "driver names");
    return (unsigned)driver < RG_DRIVER_COUNT ? names[driver] : "?";
}

const char *
rg_strategy_name(enum rg_strategy strategy)
{
    static const char *const names[] = {
        [RG_STRATEGY_REPLACE] = "replace",
        [RG_STRATEGY_SWITCH] = "switch",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_STRATEGY_COUNT, "strategy names");
    return (unsigned)strategy < RG_STRATEGY_COUNT ? names[strategy] : "?";
}

const struct rg_upstream *
rg_playbook_upstream(const struct rg_playbook *pb, const char *name)
{
    for (size_t i = 0; i < pb->proxy.n_upstreams; i++)
        if (strcmp(pb->proxy.upstreams[i].name, name) == 0)
            return &pb->proxy.upstreams[i];
    return NULL;
}
