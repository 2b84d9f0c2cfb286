/* nginx as diagnose sees it: its error and access logs since the window began (read from their
 * end), and the rules that read them against the running services: refused, timed out, reset,
 * closed early, no live upstreams, host not found — each turned into the cause behind it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dx.h"
#include "nginx_log.h"

#define LOG_MAX_BYTES (256ull * 1024 * 1024) /* read at most this much of each log, from its end */

struct dx_nginx {
    struct rg_nginx_errsum err;
    struct rg_nginx_accsum acc;
    bool err_seen, acc_seen;
    char error_log[512], access_log[512];
};

/* A log and its first rotation, newest first. */
#define ROTATED_MAX 520 /* a path (at most 511) and ".1" */

static void
scan_paths(const char *path, char rotated[ROTATED_MAX], const char *paths[3])
{
    snprintf(rotated, ROTATED_MAX, "%s.1", path);
    paths[0] = path;
    paths[1] = rotated;
    paths[2] = NULL;
}

void
dx_collect_nginx(struct dx *dx)
{
    const struct rg_diagnose_cfg *cfg = &dx->pb->diagnose;
    struct dx_nginx *n = rg_calloc(1, sizeof(*n));
    const char *paths[3];
    char rotated[ROTATED_MAX];
    struct rg_err err;

    dx->nginx = n;
    dx_collect_nginx_conf(dx);
    snprintf(n->error_log, sizeof(n->error_log), "%s",
             cfg->error_log ? cfg->error_log
             : dx->conf_error_log[0] ? dx->conf_error_log : "/var/log/nginx/error.log");
    snprintf(n->access_log, sizeof(n->access_log), "%s",
             cfg->access_log ? cfg->access_log
             : dx->conf_access_log[0] ? dx->conf_access_log : "/var/log/nginx/access.log");
    scan_paths(n->error_log, rotated, paths);
    if (rg_nginx_errlog_scan(&n->err, paths, dx->since_ms, LOG_MAX_BYTES, &err) < 0)
        dx_note(dx, "nginx error log %s not read: %s", n->error_log, err.msg);
    else
        n->err_seen = true;
    scan_paths(n->access_log, rotated, paths);
    if (rg_nginx_access_scan(&n->acc, paths, dx->since_ms, LOG_MAX_BYTES, &err) < 0)
        dx_note(dx, "nginx access log %s not read: %s", n->access_log, err.msg);
    else
        n->acc_seen = true;
}

bool
dx_nginx_seen(const struct dx *dx)
{
    return dx->nginx && (dx->nginx->err_seen || dx->nginx->acc_seen || dx_nginx_conf_seen(dx));
}

void
dx_nginx_release(struct dx *dx)
{
    dx_nginx_conf_release(dx);
    free(dx->nginx);
    dx->nginx = NULL;
}

/* The newest example lines of one kind, into ev. */
static void
examples(struct rg_buf *ev, const struct rg_nginx_errkind_sum *k, const char *log)
{
    rg_buf_addf(ev, "%s: %llu line%s since the window began, the newest:\n", log,
                (unsigned long long)k->count, k->count == 1 ? "" : "s");
    for (int i = 0; i < k->n_examples; i++)
        rg_buf_addf(ev, "  %s\n", k->examples[i].text);
}

/* The instance whose address (container IP and private port, or published port on the host)
 * is addr ("172.18.0.3:8069", "127.0.0.1:18069"); NULL when none. *port_ok says whether the
 * port matched too (false: the host matched, the port did not). */
static const struct dx_instance *
owner_of(const struct dx *dx, const char *addr, bool *port_ok)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;

    *port_ok = false;
    snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - addr) : (int)strlen(addr), addr);
    for (size_t i = 0; i < dx->n_inst; i++) {
        const struct dx_instance *x = &dx->inst[i];
        for (size_t p = 0; p < x->n_ports; p++)
            if (x->ports[p].public_port && x->ports[p].public_port == port &&
                (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 ||
                 strcmp(host, x->ports[p].ip) == 0 || strcmp(x->ports[p].ip, "0.0.0.0") == 0)) {
                *port_ok = true;
                return x;
            }
        if (x->ip[0] && strcmp(x->ip, host) == 0) {
            for (size_t p = 0; p < x->n_ports; p++)
                *port_ok = *port_ok || x->ports[p].private_port == port;
            /* An image that exposes nothing says nothing about its port: do not accuse it. */
            *port_ok = *port_ok || x->n_ports == 0;
            return x;
        }
    }
    return NULL;
}

/* Where the services really listen, for a message: "odoo-1 at 172.18.0.3 (8069, 8072)". */
static void
where_services_are(struct rg_buf *b, const struct dx *dx)
{
    for (size_t i = 0; i < dx->n_inst; i++) {
        const struct dx_instance *x = &dx->inst[i];
        if (!x->running)
            continue;
        rg_buf_addf(b, "%s%s at %s", b->len ? ", " : "", x->name, x->ip[0] ? x->ip : "?");
        for (size_t p = 0; p < x->n_ports; p++)
            rg_buf_addf(b, "%s%d%s%d", p ? "," : " (", x->ports[p].private_port,
                        x->ports[p].public_port ? "->host " : "",
                        x->ports[p].public_port ? x->ports[p].public_port : 0);
        if (x->n_ports)
            rg_buf_adds(b, ")");
    }
}

static bool
any_down(const struct dx *dx)
{
    for (size_t i = 0; i < dx->n_inst; i++)
        if (dx_instance_down(dx, &dx->inst[i]))
            return true;
    return false;
}

/* Refused or unreachable: the address nginx uses against where the services are. */
static void
rule_address(struct dx *dx, enum rg_nginx_kind kind)
{
    const struct dx_nginx *n = dx->nginx;
    const struct rg_nginx_errkind_sum *k = &n->err.kinds[kind];
    struct rg_buf ev, where;
    bool ours = false;

    if (!k->count)
        return;
    rg_buf_init(&ev, 32 * 1024);
    rg_buf_init(&where, 4096);
    examples(&ev, k, n->error_log);
    where_services_are(&where, dx);
    for (int u = 0; u < n->err.n_upstreams; u++) {
        const struct rg_nginx_err_upstream *up = &n->err.upstreams[u];
        const struct dx_instance *x;
        bool port_ok;
        if (!up->per_kind[kind] || !up->addr[0] || strchr(up->addr, '/') ||
            !dx_nginx_conf_serves(dx, up->addr))
            continue; /* another site of a shared nginx */
        ours = true;
        x = owner_of(dx, up->addr, &port_ok);
        if (x && dx_instance_down(dx, x))
            continue; /* the service is down: app-down says it */
        if (x && !port_ok) {
            dx_add(dx, "upstream-port", 90, ev.data,
                   "point nginx's upstream at the port the app listens on (Odoo: 8069 for "
                   "/, 8072 for /websocket and /longpolling), test (nginx -t) and reload",
                   "nginx sends requests to %s, but nothing of %s listens on that port (%s)",
                   up->addr, x->name, where.data ? where.data : "");
        } else if (!x && (strncmp(up->addr, "127.0.0.1:", 10) == 0 ||
                          strncmp(up->addr, "localhost:", 10) == 0)) {
            if (dx->inst_seen && where.len && rg_driver_scope(dx->driver))
                dx_add(dx, "upstream-port", 85, ev.data,
                       "proxy to the host port the service publishes (or publish the app's "
                       "port there: ports: [\"127.0.0.1:PORT:8069\"]), then nginx -t and "
                       "reload",
                       "nginx sends requests to %s, a port no container of the target "
                       "publishes (%s)",
                       up->addr, where.data);
        } else if (!x && dx->inst_seen && where.len && rg_driver_scope(dx->driver)) {
            dx_add(dx, "upstream-stale", 85, ev.data,
                   "point nginx at the service's current address and reload it; after a "
                   "container is recreated its address changes: publish a host port and proxy "
                   "to 127.0.0.1:PORT, or resolve the name at request time (resolver "
                   "127.0.0.11 valid=10s; set $app http://SERVICE:PORT; proxy_pass $app;)",
                   "nginx sends requests to %s, an address no running container has (the app "
                   "is at %s): a stale upstream",
                   up->addr, where.data);
        }
    }
    if (kind == RG_NGINX_KIND_REFUSED && !any_down(dx) && (ours || !n->err.n_upstreams))
        dx_add(dx, "upstream-refused", 55, ev.data,
               "make sure the app listens where nginx connects (host, port, 0.0.0.0 rather "
               "than 127.0.0.1 inside a container), and that it is up: check its logs",
               "the upstream refuses nginx's connections: nothing listens there");
    rg_buf_release(&where);
    rg_buf_release(&ev);
}

void
dx_rules_nginx(struct dx *dx)
{
    const struct dx_nginx *n = dx->nginx;
    const struct rg_nginx_errsum *e = &n->err;
    struct rg_buf ev;

    if (!n->err_seen)
        return;
    rg_buf_init(&ev, 32 * 1024);
    /* A service down explains refused connections and no live upstreams: say so there. */
    if (any_down(dx) && (e->kinds[RG_NGINX_KIND_REFUSED].count ||
                         e->kinds[RG_NGINX_KIND_NO_LIVE_UPSTREAMS].count ||
                         e->kinds[RG_NGINX_KIND_PREMATURE_CLOSE].count)) {
        for (size_t i = 0; i < dx->out->n; i++)
            if (strcmp(dx->out->findings[i].cause, "app-down") == 0) {
                rg_buf_reset(&ev);
                rg_buf_adds(&ev, dx->out->findings[i].evidence);
                examples(&ev, &e->kinds[e->kinds[RG_NGINX_KIND_REFUSED].count
                                            ? RG_NGINX_KIND_REFUSED
                                            : e->kinds[RG_NGINX_KIND_NO_LIVE_UPSTREAMS].count
                                                  ? RG_NGINX_KIND_NO_LIVE_UPSTREAMS
                                                  : RG_NGINX_KIND_PREMATURE_CLOSE],
                         n->error_log);
                free(dx->out->findings[i].evidence);
                dx->out->findings[i].evidence = rg_strdup(ev.data);
                dx->out->findings[i].confidence = 95;
            }
    }
    rule_address(dx, RG_NGINX_KIND_REFUSED);
    rule_address(dx, RG_NGINX_KIND_TIMEOUT_CONNECT);
    rule_address(dx, RG_NGINX_KIND_NO_ROUTE);
    if (e->kinds[RG_NGINX_KIND_HOST_NOT_FOUND].count || e->missing_host[0]) {
        rg_buf_reset(&ev);
        examples(&ev, &e->kinds[RG_NGINX_KIND_HOST_NOT_FOUND], n->error_log);
        dx_add(dx, "upstream-host-not-found", 90, ev.data,
               "a compose service name resolves only inside its compose network: proxy to "
               "127.0.0.1:PUBLISHED_PORT from nginx on the host, or run nginx in the same "
               "network; then nginx -t and reload",
               "nginx cannot resolve the upstream host '%s'%s%s", e->missing_host,
               e->missing_host_at[0] ? ", " : "", e->missing_host_at);
    }
    if (e->kinds[RG_NGINX_KIND_TIMEOUT_HEADER].count) {
        rg_buf_reset(&ev);
        examples(&ev, &e->kinds[RG_NGINX_KIND_TIMEOUT_HEADER], n->error_log);
        if (n->acc_seen && n->acc.p99_ms >= 0)
            rg_buf_addf(&ev, "%s: %llu requests, p50 %lld ms, p99 %lld ms, slowest %lld ms\n",
                        n->access_log, (unsigned long long)n->acc.requests,
                        /* the histogram's bucket bound may pass the slowest request */
                        (long long)(n->acc.p50_ms < n->acc.max_ms ? n->acc.p50_ms : n->acc.max_ms),
                        (long long)(n->acc.p99_ms < n->acc.max_ms ? n->acc.p99_ms : n->acc.max_ms),
                        (long long)n->acc.max_ms);
        dx_add(dx, "upstream-timeout", 75, ev.data,
               "find the slow requests (the access log's request time) and make them faster, "
               "or raise proxy_read_timeout in the location (and the app's own limit: Odoo "
               "limit_time_real, gunicorn --timeout) above them; if every worker is busy, add "
               "workers",
               "the app does not answer nginx in time: nginx gives up reading its response "
               "header (504)");
    }
    if (e->kinds[RG_NGINX_KIND_RESET].count || e->kinds[RG_NGINX_KIND_PREMATURE_CLOSE].count) {
        rg_buf_reset(&ev);
        if (e->kinds[RG_NGINX_KIND_PREMATURE_CLOSE].count)
            examples(&ev, &e->kinds[RG_NGINX_KIND_PREMATURE_CLOSE], n->error_log);
        if (e->kinds[RG_NGINX_KIND_RESET].count)
            examples(&ev, &e->kinds[RG_NGINX_KIND_RESET], n->error_log);
        dx_add(dx, "upstream-closed", 60, ev.data,
               "the app's worker ended mid-request: look for it being killed (memory limit, "
               "worker timeout) in the app's log; also check nginx speaks HTTP to the app's "
               "HTTP port",
               "the app closes connections before answering (502): its workers die "
               "mid-request");
    }
    if (e->kinds[RG_NGINX_KIND_NO_LIVE_UPSTREAMS].count && !any_down(dx)) {
        rg_buf_reset(&ev);
        examples(&ev, &e->kinds[RG_NGINX_KIND_NO_LIVE_UPSTREAMS], n->error_log);
        dx_add(dx, "no-live-upstreams", 70, ev.data,
               "every server of the upstream failed recently and nginx stopped trying (max_fails"
               "/fail_timeout): fix why they fail (the findings above), or reload nginx to "
               "forget the failures",
               "nginx has marked every server of the upstream down");
    }
    rg_buf_release(&ev);
}
