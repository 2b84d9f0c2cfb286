/* The gate kinds by playbook key, and the verdict helpers every kind shares. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gate.h"

const struct rg_gate_ops *
rg_gate_ops_find(enum rg_gate_kind kind)
{
    static const struct rg_gate_ops *const ops[] = {
        [RG_GATE_HTTP] = &rg_gate_http_ops,       [RG_GATE_WEBSOCKET] = &rg_gate_websocket_ops,
        [RG_GATE_TCP] = &rg_gate_tcp_ops,         [RG_GATE_POSTGRES] = &rg_gate_postgres_ops,
        [RG_GATE_COMMAND] = &rg_gate_command_ops, [RG_GATE_CONTAINER] = &rg_gate_container_ops,
        [RG_GATE_LOGS] = &rg_gate_logs_ops,       [RG_GATE_UNIT] = &rg_gate_unit_ops,
    };
    _Static_assert(sizeof(ops) / sizeof(ops[0]) == RG_GATE_KIND_COUNT, "a gate kind lacks ops");
    return (unsigned)kind < RG_GATE_KIND_COUNT ? ops[kind] : NULL;
}

bool
rg_gate_reaches(const struct rg_gate *g, const struct rg_gate_env *env)
{
    char host[256], addrs[1024];
    CURLU *u;
    char *h = NULL;
    bool named = false;

    switch (g->kind) {
    case RG_GATE_CONTAINER:
    case RG_GATE_LOGS:
    case RG_GATE_UNIT:
        return true;
    case RG_GATE_TCP: {
        const char *colon = strrchr(g->target, ':');
        snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - g->target) : 0, g->target);
        return rg_gate_env_lookup(addrs, sizeof(addrs), env, host);
    }
    case RG_GATE_HTTP:
    case RG_GATE_WEBSOCKET:
        if (!(u = curl_url()))
            return false;
        if (curl_url_set(u, CURLUPART_URL, g->target, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
            named = rg_gate_env_lookup(addrs, sizeof(addrs), env, h);
        curl_free(h);
        curl_url_cleanup(u);
        return named;
    default:
        return false; /* a database or a command says nothing about one release's instances */
    }
}

size_t
gate_keep_only(struct rg_container *list, size_t n, const struct rg_gate_env *env)
{
    size_t kept = 0;

    if (!env->only_ids)
        return n;
    for (size_t i = 0; i < n; i++) {
        if (!rg_strv_contains(env->only_ids, list[i].id)) {
            rg_container_release(&list[i]);
            continue;
        }
        if (kept != i)
            list[kept] = list[i];
        kept++;
    }
    for (size_t i = kept; i < n; i++)
        memset(&list[i], 0, sizeof(list[i]));
    return kept;
}

bool
rg_gate_env_lookup(char *out, size_t size, const struct rg_gate_env *env, const char *host)
{
    size_t hl = strlen(host), used = 0;

    out[0] = '\0';
    for (size_t i = 0; env && env->hosts && i < env->hosts->n; i++) {
        const char *e = env->hosts->v[i];
        if (strncmp(e, host, hl) != 0 || e[hl] != '=')
            continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? "," : "", e + hl + 1);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return used > 0;
}

const char *
rg_verdict_name(enum rg_verdict_kind kind)
{
    switch (kind) {
    case RG_VERDICT_PASS: return "pass";
    case RG_VERDICT_RETRY: return "retry";
    case RG_VERDICT_FAIL: return "fail";
    }
    return "?";
}

void
gate_verdict(struct rg_verdict *v, enum rg_verdict_kind kind, const char *fmt, ...)
{
    va_list ap;
    int n;

    v->kind = kind;
    va_start(ap, fmt);
    n = vsnprintf(v->summary, sizeof(v->summary), fmt, ap);
    va_end(ap);
    (void)n; /* a summary is one line: cutting it is fine */
}

void
gate_evidence(struct rg_verdict *v, const char *fmt, ...)
{
    size_t len = strlen(v->evidence);
    va_list ap;

    if (len >= sizeof(v->evidence) - 1)
        return;
    va_start(ap, fmt);
    vsnprintf(v->evidence + len, sizeof(v->evidence) - len, fmt, ap);
    va_end(ap);
}

void
gate_evidence_excerpt(struct rg_verdict *v, const char *label, const char *text, size_t len,
                      size_t max)
{
    size_t at = strlen(v->evidence);
    bool cut = len > max;

    if (cut)
        len = max;
    gate_evidence(v, "%s%s: ", at ? "\n" : "", label);
    at = strlen(v->evidence);
    for (size_t i = 0; i < len && at < sizeof(v->evidence) - 4; i++) {
        unsigned char ch = (unsigned char)text[i];
        v->evidence[at++] = (ch < 0x20 && ch != '\n') || ch == 0x7f ? ' ' : (char)ch;
    }
    v->evidence[at] = '\0';
    if (cut)
        gate_evidence(v, "...");
}
