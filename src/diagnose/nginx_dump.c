/* nginx's configuration as it is in force: `nginx -T` (or the playbook's command for it), parsed,
 * and checked against the stack: the addresses it sends requests to against where the services
 * listen, Odoo's real-time channel (/websocket, /longpolling) and its headers, proxy timeouts
 * against the app's own limit, the proxy headers Odoo's proxy_mode needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dx.h"
#include "nginx_conf.h"
#include "rollgate/spawn.h"

#define DUMP_TIMEOUT_MS 10000
#define DUMP_MAX (16 * 1024 * 1024)

struct dx_conf {
    struct rg_nginx_conf *conf;
    char *emerg; /* nginx -T's own error line when it refused the configuration */
};

/* diagnose.nginx_config; else the proxy's test command with -t made -T; else nginx -T. */
static void
dump_argv(struct rg_strv *argv, const struct rg_playbook *pb)
{
    const struct rg_strv *test = &pb->proxy.test;

    if (pb->diagnose.nginx_config.n) {
        for (size_t i = 0; i < pb->diagnose.nginx_config.n; i++)
            rg_strv_push(argv, pb->diagnose.nginx_config.v[i]);
        return;
    }
    if (test->n && strcmp(test->v[test->n - 1], "-t") == 0) {
        for (size_t i = 0; i + 1 < test->n; i++)
            rg_strv_push(argv, test->v[i]);
        rg_strv_push(argv, "-T");
        return;
    }
    rg_strv_push(argv, "nginx");
    rg_strv_push(argv, "-T");
}

/* The first log of kind that is a file (not stderr, syslog or off). */
static void
conf_log(char *out, size_t size, const struct rg_nginx_conf *conf, enum rg_nginx_log_kind kind)
{
    for (size_t i = 0; i < conf->n_logs; i++) {
        const struct rg_nginx_log *l = conf->logs[i];
        if (l->kind == kind && !l->off && l->path && l->path[0] == '/') {
            snprintf(out, size, "%s", l->path);
            return;
        }
    }
}

void
dx_collect_nginx_conf(struct dx *dx)
{
    struct dx_conf *c = rg_calloc(1, sizeof(*c));
    struct rg_strv argv = {0};
    struct rg_spawn_result res;
    struct rg_err err;
    char how[128];

    dx->conf = c;
    dump_argv(&argv, dx->pb);
    /* What is left of diagnose's deadline, at most DUMP_TIMEOUT_MS, at least a second. */
    int64_t left = dx->deadline - rg_mono_ms();
    struct rg_spawn_opts o = {.argv = (const char *const *)argv.v,
                              .timeout_ms = left > DUMP_TIMEOUT_MS ? DUMP_TIMEOUT_MS
                                            : left < 1000         ? 1000
                                                                  : left,
                              .max_output = DUMP_MAX,
                              .cancel_fd = -1};
    if (rg_spawn_run(&res, &o, &err) < 0) {
        dx_note(dx, "nginx's configuration not read (%s): %s", argv.v[0], err.msg);
        goto out;
    }
    if (res.exit_code != 0) {
        /* "nginx: [emerg] host not found in upstream "odoo:8069" in /etc/nginx/x.conf:3" */
        const char *e = res.err.data ? strstr(res.err.data, "[emerg]") : NULL;
        size_t n = e ? strcspn(e, "\n") : 0;
        if (e)
            c->emerg = rg_strndup(e, n);
        else
            dx_note(dx, "nginx's configuration not read: %s %s: %.200s", argv.v[0],
                    rg_spawn_describe(how, sizeof(how), &res), res.err.data ? res.err.data : "");
    } else if (rg_nginx_conf_parse(&c->conf, res.out.data ? res.out.data : "", res.out.len,
                                   &err) < 0) {
        dx_note(dx, "nginx's configuration not understood: %s", err.msg);
    } else {
        conf_log(dx->conf_error_log, sizeof(dx->conf_error_log), c->conf, RG_NGINX_LOG_ERROR);
        conf_log(dx->conf_access_log, sizeof(dx->conf_access_log), c->conf,
                 RG_NGINX_LOG_ACCESS);
    }
    rg_spawn_result_release(&res);
out:
    rg_strv_release(&argv);
}

bool
dx_nginx_conf_seen(const struct dx *dx)
{
    return dx->conf && (dx->conf->conf || dx->conf->emerg);
}

void
dx_nginx_conf_release(struct dx *dx)
{
    if (!dx->conf)
        return;
    rg_nginx_conf_free(dx->conf->conf);
    free(dx->conf->emerg);
    free(dx->conf);
    dx->conf = NULL;
}

static bool
is_ip(const char *h)
{
    size_t dots = 0;

    for (const char *p = h; *p; p++) {
        if (*p == '.')
            dots++;
        else if (*p < '0' || *p > '9')
            return false;
    }
    return dots == 3;
}

/* One address the server that fronts the target sends requests to. */
struct dx_target {
    const char *host;
    int port;
    const char *upstream; /* NULL for a literal proxy_pass */
    struct rg_nginx_where where;
};

/* The addresses the locations of srv proxy to (each once): the upstream blocks' servers and
 * literal addresses. Other sites of a shared nginx are not this target's business. */
static size_t
server_targets(struct dx_target *out, size_t max, const struct rg_nginx_server *srv)
{
    size_t n = 0;

    for (size_t i = 0; i < srv->n_all_locations; i++) {
        const struct rg_nginx_pass *p = &srv->all_locations[i]->pass;
        if (p->kind == RG_NGINX_PASS_UPSTREAM && p->upstream) {
            for (size_t k = 0; k < p->upstream->n_servers && n < max; k++) {
                const struct rg_nginx_upstream_server *u = &p->upstream->servers[k];
                bool seen = false;
                if (u->is_unix || u->down)
                    continue;
                for (size_t j = 0; j < n && !seen; j++)
                    seen = out[j].port == u->port && strcmp(out[j].host, u->host) == 0;
                if (!seen)
                    out[n++] = (struct dx_target){u->host, u->port, p->upstream->name, u->where};
            }
        } else if (p->kind == RG_NGINX_PASS_ADDRESS && p->host && n < max) {
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = out[j].port == p->port && strcmp(out[j].host, p->host) == 0;
            if (!seen)
                out[n++] = (struct dx_target){p->host, p->port, NULL, p->where};
        }
    }
    return n;
}

bool
dx_nginx_conf_serves(const struct dx *dx, const char *addr)
{
    const struct rg_nginx_server *srv;
    struct dx_target t[64];
    char one[160];
    size_t n;

    if (!dx->conf || !dx->conf->conf || !(srv = rg_nginx_conf_server(dx->conf->conf, 0, NULL)))
        return true; /* nothing to tell by: every address counts */
    n = server_targets(t, sizeof(t) / sizeof(t[0]), srv);
    for (size_t i = 0; i < n; i++) {
        snprintf(one, sizeof(one), "%s:%d", t[i].host, t[i].port);
        if (strcmp(one, addr) == 0)
            return true;
    }
    return false;
}


/* The addresses nginx is configured to use against where the services listen. */
static void
rule_targets(struct dx *dx, const struct rg_nginx_server *srv)
{
    struct dx_target t[64];
    size_t n;
    bool any_running = false;

    for (size_t i = 0; i < dx->n_inst; i++)
        any_running = any_running || dx->inst[i].running;
    if (!rg_driver_scope(dx->driver) || !any_running)
        return; /* units listen where their host does; nothing runs: app-down says it */
    n = server_targets(t, sizeof(t) / sizeof(t[0]), srv);
    for (size_t i = 0; i < n; i++) {
        char addr[160], ev[512];
        const struct dx_instance *x = NULL;
        bool port_ok = false, local;
        if (!is_ip(t[i].host))
            continue;
        local = strcmp(t[i].host, "127.0.0.1") == 0;
        snprintf(addr, sizeof(addr), "%s:%d", t[i].host, t[i].port);
        for (size_t k = 0; k < dx->n_inst && !x; k++) {
            const struct dx_instance *c = &dx->inst[k];
            for (size_t p = 0; p < c->n_ports; p++)
                if ((local && c->ports[p].public_port == t[i].port) ||
                    (!local && strcmp(c->ip, t[i].host) == 0 &&
                     c->ports[p].private_port == t[i].port))
                    x = c, port_ok = true;
            if (!x && !local && strcmp(c->ip, t[i].host) == 0)
                x = c, port_ok = c->n_ports == 0;
        }
        snprintf(ev, sizeof(ev), "%s:%d: nginx sends requests to %s%s%s%s",
                 t[i].where.file ? t[i].where.file : "?", t[i].where.line, addr,
                 t[i].upstream ? " (upstream " : "", t[i].upstream ? t[i].upstream : "",
                 t[i].upstream ? ")" : "");
        if (x && !port_ok)
            dx_add(dx, "upstream-port", 85, ev,
                   "write the port the app listens on in that line (Odoo: 8069, and 8072 for "
                   "/websocket and /longpolling), then nginx -t and reload",
                   "nginx is configured to send requests to %s, a port %s does not listen on",
                   addr, x->name);
        else if (!x && !local)
            dx_add(dx, "upstream-stale", 80, ev,
                   "point that line at the service's current address and reload; after a "
                   "recreate the address changes: publish a host port and proxy to "
                   "127.0.0.1:PORT, or resolve the name per request (resolver 127.0.0.11; set "
                   "$app http://SERVICE:PORT; proxy_pass $app;)",
                   "nginx is configured to send requests to %s, an address no running "
                   "container of the target has", addr);
        else if (!x && local)
            dx_add(dx, "upstream-port", 70, ev,
                   "publish the app's port on 127.0.0.1 (ports: [\"127.0.0.1:PORT:8069\"]) or "
                   "proxy to the port it publishes, then nginx -t and reload",
                   "nginx is configured to send requests to %s, but no container of the "
                   "target publishes that port", addr);
    }
}

static void
add_problems(struct dx *dx, struct rg_nginx_problems *p, const char *cause, int confidence,
             const char *title)
{
    struct rg_buf ev, fix;

    if (!p->n)
        return;
    rg_buf_init(&ev, 16 * 1024);
    rg_buf_init(&fix, 16 * 1024);
    for (size_t i = 0; i < p->n; i++) {
        rg_buf_addf(&ev, "%s:%d: %s\n", p->v[i].where.file ? p->v[i].where.file : "?",
                    p->v[i].where.line, p->v[i].message);
        if (p->v[i].fix && !strstr(fix.data ? fix.data : "", p->v[i].fix))
            rg_buf_addf(&fix, "%s%s", fix.len ? "\n" : "", p->v[i].fix);
    }
    dx_add(dx, cause, confidence, ev.data, fix.data, "%s", title);
    rg_buf_release(&ev);
    rg_buf_release(&fix);
    rg_nginx_problems_release(p);
}

/* An Odoo with a gevent (longpolling/websocket) port: 8072 among the services' ports or the
 * proxy's upstreams. A threaded Odoo (workers = 0) serves /websocket on 8069 itself. */
static bool
has_gevent_port(const struct dx *dx)
{
    for (size_t i = 0; i < dx->n_inst; i++)
        for (size_t p = 0; p < dx->inst[i].n_ports; p++)
            if (dx->inst[i].ports[p].private_port == 8072)
                return true;
    for (size_t i = 0; i < dx->pb->proxy.n_upstreams; i++)
        if (dx->pb->proxy.upstreams[i].port == 8072)
            return true;
    return false;
}

void
dx_rules_nginx_conf(struct dx *dx)
{
    struct rg_nginx_problems p = {0};
    const struct rg_nginx_server *srv;
    char what[64];

    if (dx->conf && dx->conf->emerg && strstr(dx->conf->emerg, "host not found")) {
        dx_add(dx, "upstream-host-not-found", 90, dx->conf->emerg,
               "a compose service name resolves only inside its compose network: proxy to "
               "127.0.0.1:PUBLISHED_PORT from nginx on the host, or run nginx in that network; "
               "then nginx -t and reload",
               "nginx refuses its configuration: an upstream host does not resolve");
    } else if (dx->conf && dx->conf->emerg) {
        dx_add(dx, "nginx-config", 70, dx->conf->emerg, "fix the line named, then nginx -t",
               "nginx refuses its own configuration (nginx -T fails)");
    }
    if (!dx->conf || !dx->conf->conf)
        return;
    if (!(srv = rg_nginx_conf_server(dx->conf->conf, 0, NULL)))
        return;
    rule_targets(dx, srv);
    if (has_gevent_port(dx)) {
        if (rg_nginx_check_websocket(&p, dx->conf->conf, srv, 0, 8072))
            add_problems(dx, &p, "websocket-misrouted", 80,
                         "Odoo's real-time channel (/websocket, /longpolling) is not routed to "
                         "its gevent port with upgrade headers: 502 and a stuck UI there");
        /* Missing proxy headers make wrong links and client addresses, not 502s: a note. */
        if (rg_nginx_check_proxy_headers(&p, dx->conf->conf, srv, NULL)) {
            for (size_t i = 0; i < p.n; i++)
                dx_note(dx, "%s:%d: %s", p.v[i].where.file ? p.v[i].where.file : "?",
                        p.v[i].where.line, p.v[i].message);
            rg_nginx_problems_release(&p);
        }
    }
    if (dx->pb->diagnose.app_timeout_ms > 0) {
        snprintf(what, sizeof(what), "the app's own limit of %lld s",
                 (long long)(dx->pb->diagnose.app_timeout_ms / 1000));
        if (rg_nginx_check_timeouts(&p, dx->conf->conf, srv, NULL,
                                    dx->pb->diagnose.app_timeout_ms, what))
            add_problems(dx, &p, "proxy-timeout", 65,
                         "nginx gives up on a request before the app's own limit: slow "
                         "requests end in 504 although the app would finish them");
    }
}
