/* Unit tests of diagnose's reader of `nginx -T` output and its checks. The dumps in
 * tests/fixtures/nginx-T were recorded with nginx 1.22 (`nginx -T -c /tmp/rgnx/CASE/nginx.conf`
 * on configurations written for the purpose) but for odoo-unbalanced.txt, edited by hand from
 * odoo-good.txt because nginx refuses to dump a configuration it cannot parse. Small dumps
 * written here cover the error paths and the corners of the syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diagnose/nginx_conf.h"
#include "rollgate/util.h"

#define ODOO "/tmp/rgnx/odoo-good/conf.d/odoo.conf"
#define MATCH "/tmp/rgnx/matching/conf.d/matching.conf"
#define DASH "/tmp/rgnx/fastapi-nextjs/conf.d/dashboard.conf"
#define QUOT "/tmp/rgnx/quoting/conf.d/quoting.conf"

static struct rg_nginx_conf *
load(const char *fixture)
{
    struct rg_nginx_conf *conf = NULL;
    struct rg_buf b;
    struct rg_err err;
    char path[4096];
    const char *src = getenv("RG_SOURCE_DIR");

    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/tests/fixtures/nginx-T/%s", src, fixture);
    rg_buf_init(&b, 1024 * 1024);
    assert_int_equal(rg_fs_read_file(&b, path, &err), 0);
    if (rg_nginx_conf_parse(&conf, b.data, b.len, &err) < 0)
        fail_msg("%s: %s", fixture, err.msg);
    rg_buf_release(&b);
    return conf;
}

/* Parses text given without its NUL, so a read past the end shows under ASan. */
static int
parse_text(struct rg_nginx_conf **conf, const char *text, struct rg_err *err)
{
    size_t n = strlen(text);
    char *copy = rg_malloc(n ? n : 1);
    int rc;

    memcpy(copy, text, n);
    rc = rg_nginx_conf_parse(conf, copy, n, err);
    free(copy);
    return rc;
}

static struct rg_nginx_conf *
parse_ok(const char *text)
{
    struct rg_nginx_conf *conf = NULL;
    struct rg_err err;

    if (parse_text(&conf, text, &err) < 0)
        fail_msg("%s", err.msg);
    return conf;
}

static void
parse_fails(const char *text, const char *msg)
{
    struct rg_nginx_conf *conf = NULL;
    struct rg_err err;

    rg_err_clear(&err);
    assert_int_equal(parse_text(&conf, text, &err), RG_EINVAL);
    assert_null(conf);
    if (!strstr(err.msg, msg))
        fail_msg("expected '%s' in '%s'", msg, err.msg);
}

static void
assert_where(struct rg_nginx_where w, const char *file, int line)
{
    assert_non_null(w.file);
    assert_string_equal(w.file, file);
    assert_int_equal(w.line, line);
}

static void
assert_contains(const char *s, const char *part)
{
    assert_non_null(s);
    if (!strstr(s, part))
        fail_msg("expected '%s' in '%s'", part, s);
}

static const struct rg_nginx_location *
loc_at(const struct rg_nginx_server *srv, const char *uri)
{
    const struct rg_nginx_location *loc = rg_nginx_server_location(srv, uri);

    assert_non_null(loc);
    return loc;
}

static const struct rg_nginx_server *
default_server(const struct rg_nginx_conf *conf)
{
    const struct rg_nginx_server *srv = rg_nginx_conf_server(conf, 0, NULL);

    assert_non_null(srv);
    return srv;
}

/* ---- files, includes, the model ---- */

static void
test_files_and_includes(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");

    (void)state;
    assert_int_equal(conf->n_files, 4);
    assert_string_equal(conf->files[0], "/tmp/rgnx/odoo-good/nginx.conf");
    assert_string_equal(conf->files[2], ODOO);
    /* proxy_params is included by a relative name inside the server block */
    assert_string_equal(conf->files[3], "/tmp/rgnx/odoo-good/proxy_params");
    assert_int_equal(conf->n_upstreams, 2);
    assert_int_equal(conf->n_servers, 1);
    assert_int_equal(conf->n_maps, 1);
    assert_int_equal(conf->n_resolvers, 0);
    rg_nginx_conf_free(conf);
}

static void
test_upstreams(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    const struct rg_nginx_upstream *u = rg_nginx_conf_upstream(conf, "odoo");
    const struct rg_nginx_upstream *lp = rg_nginx_conf_upstream(conf, "odoo-longpolling");

    (void)state;
    assert_non_null(u);
    assert_where(u->where, ODOO, 2);
    assert_int_equal(u->keepalive, 16);
    assert_int_equal(u->n_servers, 1);
    assert_string_equal(u->servers[0].addr, "127.0.0.1:8069");
    assert_string_equal(u->servers[0].host, "127.0.0.1");
    assert_int_equal(u->servers[0].port, 8069);
    assert_int_equal(u->servers[0].max_fails, 3);
    assert_int_equal(u->servers[0].fail_timeout_ms, 30000);
    assert_int_equal(u->servers[0].weight, 1);
    assert_false(u->servers[0].backup);
    assert_where(u->servers[0].where, ODOO, 3);
    assert_non_null(lp);
    assert_int_equal(lp->keepalive, 0);
    assert_int_equal(lp->servers[0].port, 8072);
    assert_int_equal(lp->servers[0].max_fails, 1);
    assert_int_equal(lp->servers[0].fail_timeout_ms, 10000);
    assert_null(rg_nginx_conf_upstream(conf, "nope"));
    rg_nginx_conf_free(conf);
}

static void
test_upstream_params_and_quoted_name(void **state)
{
    struct rg_nginx_conf *conf = load("quoting.txt");
    const struct rg_nginx_upstream *u = rg_nginx_conf_upstream(conf, "app");

    (void)state;
    assert_non_null(u);
    assert_int_equal(u->n_servers, 2);
    assert_int_equal(u->servers[0].weight, 5);
    assert_true(u->servers[0].backup);
    assert_true(u->servers[1].is_unix);
    assert_string_equal(u->servers[1].host, "/run/app.sock");
    assert_int_equal(u->servers[1].port, 0);
    assert_true(u->servers[1].down);
    rg_nginx_conf_free(conf);
}

static void
test_server_listen_and_names(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    const struct rg_nginx_server *srv = default_server(conf);

    (void)state;
    assert_where(srv->where, ODOO, 16);
    assert_int_equal(srv->n_listens, 2);
    assert_int_equal(srv->listens[0].port, 80);
    assert_null(srv->listens[0].host);
    assert_true(srv->listens[0].default_server);
    assert_string_equal(srv->listens[1].host, "::");
    assert_int_equal(srv->listens[1].port, 80);
    assert_int_equal(srv->n_names, 1);
    assert_string_equal(srv->names[0], "erp.example.com");
    assert_int_equal(srv->n_locations, 4);
    assert_int_equal(srv->n_all_locations, 4);
    rg_nginx_conf_free(conf);
}

static void
test_listen_forms(void **state)
{
    struct rg_nginx_conf *conf = parse_ok(
        "# configuration file /e/n.conf:\n"
        "http { server { listen 8080; listen *:81; listen [::1]:8443 ssl http2;\n"
        "listen unix:/run/nginx.sock; listen localhost; listen 10.0.0.1:82 default; } }\n");
    const struct rg_nginx_server *srv = conf->servers[0];

    (void)state;
    assert_int_equal(srv->n_listens, 6);
    assert_int_equal(srv->listens[0].port, 8080);
    assert_string_equal(srv->listens[1].host, "*");
    assert_int_equal(srv->listens[1].port, 81);
    assert_string_equal(srv->listens[2].host, "::1");
    assert_int_equal(srv->listens[2].port, 8443);
    assert_true(srv->listens[2].ssl);
    assert_true(srv->listens[2].http2);
    assert_int_equal(srv->listens[3].port, 0);
    assert_string_equal(srv->listens[3].host, "/run/nginx.sock");
    assert_string_equal(srv->listens[4].host, "localhost");
    assert_int_equal(srv->listens[4].port, 80);
    assert_true(srv->listens[5].default_server);
    assert_where(srv->listens[5].where, "/e/n.conf", 2);
    rg_nginx_conf_free(conf);
}

static void
test_locations_and_inheritance(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    const struct rg_nginx_server *srv = default_server(conf);
    const struct rg_nginx_location *root = loc_at(srv, "/web/login");
    const struct rg_nginx_location *ws = loc_at(srv, "/websocket");
    const struct rg_nginx_location *lp = loc_at(srv, "/longpolling/poll");
    const struct rg_nginx_header *h;

    (void)state;
    assert_string_equal(root->path, "/");
    assert_int_equal(root->match, RG_NGINX_MATCH_PREFIX);
    assert_where(root->where, ODOO, 56);
    /* the server's timeouts, body size and headers (from the included proxy_params) */
    assert_int_equal(root->proxy.read_timeout.ms, 720000);
    assert_where(root->proxy.read_timeout.where, ODOO, 25);
    assert_int_equal(root->proxy.send_timeout.ms, 600000);
    assert_int_equal(root->proxy.client_max_body_size.bytes, 100 * 1024 * 1024);
    assert_string_equal(root->proxy.http_version, "1.0");
    assert_null(root->proxy.http_version_where.file);
    assert_int_equal(root->proxy.n_headers, 5);
    assert_where(root->proxy.headers_where, "/tmp/rgnx/odoo-good/proxy_params", 1);
    assert_null(root->proxy.shadowed_where.file);
    h = rg_nginx_proxy_header(&root->proxy, "x-forwarded-proto");
    assert_non_null(h);
    assert_string_equal(h->value, "$scheme");
    assert_where(h->where, "/tmp/rgnx/odoo-good/proxy_params", 4);
    assert_null(rg_nginx_proxy_header(&root->proxy, "Upgrade"));
    /* /websocket sets its own list and timeout: the server's list is hidden, not merged */
    assert_int_equal(ws->proxy.read_timeout.ms, 86400000);
    assert_where(ws->proxy.read_timeout.where, ODOO, 43);
    assert_string_equal(ws->proxy.http_version, "1.1");
    assert_int_equal(ws->proxy.n_headers, 7);
    assert_where(ws->proxy.headers_where, ODOO, 36);
    assert_where(ws->proxy.shadowed_where, "/tmp/rgnx/odoo-good/proxy_params", 1);
    /* /longpolling sets none: the server's whole list */
    assert_int_equal(lp->proxy.n_headers, 5);
    assert_int_equal(lp->proxy.read_timeout.ms, 720000);
    rg_nginx_conf_free(conf);
}

static void
test_directive_after_nested_block_still_inherited(void **state)
{
    /* nginx merges a block's settings into its nested blocks wherever they are written */
    struct rg_nginx_conf *conf = parse_ok(
        "# configuration file /e/n.conf:\n"
        "http {\n"
        "  server { location / { proxy_pass http://127.0.0.1:1; } proxy_read_timeout 5m; }\n"
        "  proxy_connect_timeout 2s;\n"
        "  proxy_set_header X-A a;\n"
        "}\n");
    const struct rg_nginx_location *loc = loc_at(conf->servers[0], "/");

    (void)state;
    assert_int_equal(loc->proxy.read_timeout.ms, 300000);
    assert_where(loc->proxy.read_timeout.where, "/e/n.conf", 2);
    assert_int_equal(loc->proxy.connect_timeout.ms, 2000);
    assert_int_equal(loc->proxy.send_timeout.ms, 60000);
    assert_null(loc->proxy.send_timeout.where.file);
    assert_non_null(rg_nginx_proxy_header(&loc->proxy, "X-A"));
    assert_true(loc->proxy.buffering);
    rg_nginx_conf_free(conf);
}

static void
test_pass_kinds(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    struct rg_nginx_conf *dash = load("fastapi-nextjs.txt");
    struct rg_nginx_conf *q = load("quoting.txt");
    const struct rg_nginx_location *l;

    (void)state;
    l = loc_at(default_server(conf), "/");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_UPSTREAM);
    assert_ptr_equal(l->pass.upstream, rg_nginx_conf_upstream(conf, "odoo"));
    assert_where(l->pass.where, ODOO, 58);
    l = loc_at(default_server(conf), "/websocket");
    assert_ptr_equal(l->pass.upstream, rg_nginx_conf_upstream(conf, "odoo-longpolling"));

    l = loc_at(default_server(dash), "/api/users");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_ADDRESS);
    assert_string_equal(l->pass.host, "localhost");
    assert_int_equal(l->pass.port, 8002);
    assert_string_equal(l->pass.uri, "/");
    assert_string_equal(l->pass.scheme, "http");

    l = loc_at(q->servers[0], "/var");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_VARIABLE);
    assert_string_equal(l->pass.url, "http://$up");
    l = loc_at(q->servers[0], "/hash#tag");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_UPSTREAM);
    l = loc_at(q->servers[0], "/semi");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_NONE);
    assert_string_equal(l->handler, "return");
    rg_nginx_conf_free(conf);
    rg_nginx_conf_free(dash);
    rg_nginx_conf_free(q);
}

static void
test_pass_forms(void **state)
{
    struct rg_nginx_conf *conf =
        parse_ok("# configuration file /e/n.conf:\n"
                 "http { server {\n"
                 "location /a { proxy_pass https://backend.example.com; }\n"
                 "location /b { proxy_pass http://unix:/run/app.sock:/x/; }\n"
                 "location /c { proxy_pass http://[::1]:9000; }\n"
                 "location /d { proxy_pass http://Later; }\n"
                 "}\n"
                 "upstream later { server 10.0.0.5:7000; }\n"
                 "}\n");
    const struct rg_nginx_server *srv = conf->servers[0];
    const struct rg_nginx_location *l;

    (void)state;
    l = loc_at(srv, "/a");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_ADDRESS);
    assert_int_equal(l->pass.port, 443);
    assert_null(l->pass.uri);
    l = loc_at(srv, "/b");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_UNIX);
    assert_string_equal(l->pass.host, "/run/app.sock");
    assert_string_equal(l->pass.uri, "/x/");
    l = loc_at(srv, "/c");
    assert_string_equal(l->pass.host, "::1");
    assert_int_equal(l->pass.port, 9000);
    /* an upstream defined after its use, named in another case */
    l = loc_at(srv, "/d");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_UPSTREAM);
    assert_string_equal(l->pass.upstream->name, "later");
    rg_nginx_conf_free(conf);
}

static void
test_logs(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    struct rg_nginx_conf *dash = load("fastapi-nextjs.txt");
    const struct rg_nginx_server *srv = default_server(conf);
    const struct rg_nginx_server *ds = default_server(dash);

    (void)state;
    assert_int_equal(conf->n_logs, 4);
    assert_int_equal(conf->logs[0]->kind, RG_NGINX_LOG_ERROR);
    assert_int_equal(conf->logs[0]->ctx, RG_NGINX_CTX_MAIN);
    assert_string_equal(conf->logs[0]->level, "warn");
    assert_string_equal(conf->logs[1]->path, "/tmp/rgnx/log/access.log");
    assert_int_equal(conf->logs[1]->ctx, RG_NGINX_CTX_HTTP);
    /* the server's own logs replace http's */
    assert_int_equal(srv->n_access_logs, 1);
    assert_string_equal(srv->access_logs[0]->path, "/tmp/rgnx/log/odoo.access.log");
    assert_where(srv->access_logs[0]->where, ODOO, 21);
    assert_non_null(srv->access_logs[0]->format);
    assert_true(srv->access_logs[0]->format->fields & RG_NGINX_FIELD_UPSTREAM_RESPONSE_TIME);
    assert_int_equal(srv->n_error_logs, 1);
    assert_string_equal(srv->error_logs[0]->path, "/tmp/rgnx/log/odoo.error.log");
    assert_string_equal(srv->error_logs[0]->level, "error");
    /* a server without its own: http's access log, main's error log; `access_log off` */
    assert_int_equal(ds->n_access_logs, 1);
    assert_string_equal(ds->access_logs[0]->path, "/tmp/rgnx/log/access.log");
    assert_int_equal(ds->n_error_logs, 1);
    assert_string_equal(ds->error_logs[0]->path, "/tmp/rgnx/log/error.log");
    assert_true(dash->logs[2]->off);
    assert_int_equal(dash->logs[2]->ctx, RG_NGINX_CTX_LOCATION);
    assert_null(dash->logs[2]->format);
    rg_nginx_conf_free(conf);
    rg_nginx_conf_free(dash);
}

static void
test_log_formats(void **state)
{
    struct rg_nginx_conf *conf = load("quoting.txt");
    const struct rg_nginx_log_format *f = rg_nginx_conf_log_format(conf, "json");
    const struct rg_nginx_log_format *ut = rg_nginx_conf_log_format(conf, "upstream_time");
    const struct rg_nginx_log_format *c = rg_nginx_conf_log_format(conf, "combined");

    (void)state;
    assert_non_null(f);
    assert_string_equal(f->escape, "json");
    assert_string_equal(f->format, "{\"time\":\"$time_iso8601\",\"status\":$status,"
                                   "\"upstream\":\"${upstream_addr}\",\"rt\":$request_time}");
    assert_int_equal(f->fields, RG_NGINX_FIELD_STATUS | RG_NGINX_FIELD_UPSTREAM_ADDR |
                                    RG_NGINX_FIELD_REQUEST_TIME);
    assert_where(f->where, "/tmp/rgnx/quoting/nginx.conf", 22);
    assert_non_null(ut);
    assert_string_equal(ut->escape, "default");
    assert_int_equal(ut->fields, RG_NGINX_FIELD_STATUS | RG_NGINX_FIELD_REQUEST_TIME |
                                     RG_NGINX_FIELD_UPSTREAM_ADDR | RG_NGINX_FIELD_UPSTREAM_STATUS |
                                     RG_NGINX_FIELD_UPSTREAM_RESPONSE_TIME |
                                     RG_NGINX_FIELD_UPSTREAM_CONNECT_TIME |
                                     RG_NGINX_FIELD_UPSTREAM_HEADER_TIME);
    assert_non_null(c);
    assert_null(c->where.file);
    assert_int_equal(c->fields, RG_NGINX_FIELD_STATUS);
    assert_null(rg_nginx_conf_log_format(conf, "nope"));
    /* the access log names json, with buffer= and flush= after it */
    assert_ptr_equal(conf->servers[0]->access_logs[0]->format, f);
    assert_int_equal(rg_nginx_format_fields("$upstream_bytes_received $request_timex"),
                     RG_NGINX_FIELD_UPSTREAM_OTHER);
    rg_nginx_conf_free(conf);
}

static void
test_maps_and_resolvers(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    struct rg_nginx_conf *dash = load("fastapi-nextjs.txt");
    const struct rg_nginx_map *m = conf->maps[0];

    (void)state;
    assert_string_equal(m->source, "$http_upgrade");
    assert_string_equal(m->variable, "$connection_upgrade");
    assert_string_equal(m->default_value, "upgrade");
    assert_int_equal(m->n, 1);
    assert_string_equal(m->keys[0], "");
    assert_string_equal(m->values[0], "close");
    assert_where(m->where, ODOO, 11);
    assert_int_equal(dash->n_resolvers, 1);
    assert_int_equal(dash->resolvers[0]->n_addrs, 1);
    assert_string_equal(dash->resolvers[0]->addrs[0], "127.0.0.53");
    assert_int_equal(dash->resolvers[0]->ctx, RG_NGINX_CTX_HTTP);
    rg_nginx_conf_free(conf);
    rg_nginx_conf_free(dash);
}

/* ---- the syntax ---- */

static void
test_quoting_fixture(void **state)
{
    struct rg_nginx_conf *conf = load("quoting.txt");
    const struct rg_nginx_server *srv = conf->servers[0];
    const struct rg_nginx_location *l;

    (void)state;
    assert_int_equal(srv->n_names, 2);
    assert_string_equal(srv->names[0], "quoted.example.com");
    assert_string_equal(srv->names[1], "single.example.com");
    assert_string_equal(srv->listens[0].host, "127.0.0.1");
    assert_int_equal(srv->listens[0].port, 8081);
    assert_int_equal(srv->n_locations, 5);
    l = loc_at(srv, "/semi");
    assert_int_equal(l->match, RG_NGINX_MATCH_EXACT);
    assert_where(l->where, QUOT, 6);
    l = loc_at(srv, "/hash#tag");
    assert_string_equal(l->path, "/hash#tag");
    l = loc_at(srv, "/var");
    assert_string_equal(rg_nginx_proxy_header(&l->proxy, "X-Path")->value, "${uri}x");
    /* a directive over three lines is where its name is */
    l = loc_at(srv, "/multi");
    assert_where(l->where, QUOT, 14);
    assert_where(l->pass.where, QUOT, 17);
    assert_int_equal(l->pass.port, 9001);
    rg_nginx_conf_free(conf);
}

static void
test_escapes(void **state)
{
    struct rg_nginx_conf *conf = parse_ok("# configuration file /e/n.conf:\n"
                                          "http { server { location / {\n"
                                          "proxy_set_header X-A \"a;b{c}#d \\\"e\\\" \\\\f\";\n"
                                          "proxy_set_header X-B 'it\\'s\\ta\\n';\n"
                                          "proxy_set_header X-C a\\;b\\x;\n"
                                          "proxy_set_header X-D \"\";\n"
                                          "proxy_set_header X-E \"two\n lines\";\n"
                                          "proxy_set_header X-F ${a}}b;\n"
                                          "proxy_pass http://127.0.0.1:1; } } }\n");
    const struct rg_nginx_proxy *p = &loc_at(conf->servers[0], "/")->proxy;

    (void)state;
    assert_string_equal(rg_nginx_proxy_header(p, "X-A")->value, "a;b{c}#d \"e\" \\f");
    assert_string_equal(rg_nginx_proxy_header(p, "X-B")->value, "it's\ta\n");
    /* nginx keeps the backslash of pairs it does not unescape */
    assert_string_equal(rg_nginx_proxy_header(p, "X-C")->value, "a\\;b\\x");
    assert_string_equal(rg_nginx_proxy_header(p, "X-D")->value, "");
    assert_string_equal(rg_nginx_proxy_header(p, "X-E")->value, "two\n lines");
    assert_where(rg_nginx_proxy_header(p, "X-F")->where, "/e/n.conf", 8);
    assert_string_equal(rg_nginx_proxy_header(p, "X-F")->value, "${a}}b");
    rg_nginx_conf_free(conf);
}

static void
test_unbalanced_fixture(void **state)
{
    struct rg_nginx_conf *conf = NULL;
    struct rg_buf b;
    struct rg_err err;
    char path[4096];

    (void)state;
    snprintf(path, sizeof(path), "%s/tests/fixtures/nginx-T/odoo-unbalanced.txt",
             getenv("RG_SOURCE_DIR"));
    rg_buf_init(&b, 1024 * 1024);
    assert_int_equal(rg_fs_read_file(&b, path, &err), 0);
    assert_int_equal(rg_nginx_conf_parse(&conf, b.data, b.len, &err), RG_EINVAL);
    assert_null(conf);
    assert_contains(err.msg, "the block 'server' opened at "
                             "/tmp/rgnx/odoo-unbalanced/conf.d/odoo.conf:16 has no '}'");
    assert_contains(err.msg, "/tmp/rgnx/odoo-unbalanced/conf.d/odoo.conf:62: unexpected end of "
                             "file");
    rg_buf_release(&b);
}

static void
test_syntax_errors(void **state)
{
    (void)state;
    parse_fails("# configuration file /e/n.conf:\nhttp {\n  server_name \"abc;\n}\n",
                "/e/n.conf:4: unexpected end of file in the string quoted at line 2");
    parse_fails("# configuration file /e/n.conf:\nhttp {\n server { listen 80 }\n}\n",
                "/e/n.conf:2: unexpected '}': the directive 'listen' at line 2 has no ';'");
    parse_fails("# configuration file /e/n.conf:\nhttp { }\n}\n",
                "/e/n.conf:2: unexpected '}': no block is open here");
    parse_fails("# configuration file /e/n.conf:\nhttp { ; }\n", "/e/n.conf:1: unexpected ';'");
    parse_fails("# configuration file /e/n.conf:\n{ }\n", "/e/n.conf:1: unexpected '{'");
    parse_fails("# configuration file /e/n.conf:\nhttp { server_name \"a\"b; }\n",
                "/e/n.conf:1: unexpected 'b' after a quoted string");
    parse_fails("# configuration file /e/n.conf:\nhttp { server {}\n",
                "the block 'http' opened at /e/n.conf:1 has no '}'");
    parse_fails("# configuration file /e/n.conf:\nuser www-data\n",
                "/e/n.conf:2: unexpected end of file: the directive 'user' at line 1 has no ';'");
    /* an included file must be balanced on its own, as nginx reads each file apart */
    parse_fails("# configuration file /e/n.conf:\nhttp { include /e/a.conf; }\n"
                "# configuration file /e/a.conf:\nserver {\n",
                "/e/a.conf:2: unexpected end of file: the block 'server' opened at /e/a.conf:1");
    parse_fails("# configuration file /e/n.conf:\nhttp { include /e/a.conf; }\n"
                "# configuration file /e/a.conf:\n}\n",
                "/e/a.conf:1: unexpected '}': no block is open here");
}

static void
test_value_errors(void **state)
{
    (void)state;
    parse_fails("# configuration file /e/n.conf:\nhttp {\nproxy_read_timeout 5x;\n}\n",
                "/e/n.conf:2: proxy_read_timeout: '5x' is not an nginx time");
    parse_fails("# configuration file /e/n.conf:\nhttp { proxy_read_timeout 1s 2s; }\n",
                "/e/n.conf:1: wrong number of values for 'proxy_read_timeout'");
    parse_fails("# configuration file /e/n.conf:\nhttp { client_max_body_size 1.5m; }\n",
                "client_max_body_size: '1.5m' is not an nginx size");
    parse_fails("# configuration file /e/n.conf:\nhttp { proxy_buffering maybe; }\n",
                "'proxy_buffering' takes on or off, not 'maybe'");
    parse_fails("# configuration file /e/n.conf:\nhttp { proxy_http_version 2; }\n",
                "proxy_http_version takes 1.0 or 1.1");
    parse_fails("# configuration file /e/n.conf:\nhttp { server { location ! /x { } } }\n",
                "/e/n.conf:1: invalid location modifier '!'");
    parse_fails("# configuration file /e/n.conf:\nhttp { server { location { } } }\n",
                "wrong number of values for 'location'");
    parse_fails("# configuration file /e/n.conf:\nhttp { server { location / {\n"
                "proxy_pass 127.0.0.1:8069; } } }\n",
                "/e/n.conf:2: proxy_pass '127.0.0.1:8069' has no http:// or https://");
    parse_fails("# configuration file /e/n.conf:\nhttp { upstream u { server 10.0.0.1:99999; } }\n",
                "invalid server address '10.0.0.1:99999'");
    parse_fails("# configuration file /e/n.conf:\nhttp { upstream u { server a max_fails=x; } }\n",
                "invalid server parameter 'max_fails=x'");
    parse_fails("# configuration file /e/n.conf:\nhttp { upstream u { keepalive lots; } }\n",
                "keepalive takes a number, not 'lots'");
    parse_fails("# configuration file /e/n.conf:\nhttp { server { listen [::1; } }\n",
                "invalid listen address '[::1'");
}

static void
test_dump_errors(void **state)
{
    (void)state;
    parse_fails("http { server { listen 80; } }\n", "not the output of 'nginx -T'");
    parse_fails("", "not the output of 'nginx -T'");
    parse_fails("# configuration file /e/n.conf:\nhttp { include /e/missing.conf; }\n",
                "/e/n.conf:1: include '/e/missing.conf': the file is not in the dump");
    parse_fails("# configuration file /e/n.conf:\nhttp { include a b; }\n",
                "'include' takes one file name");
    parse_fails("# configuration file /e/n.conf:\ninclude /e/n.conf;\n",
                "includes nested deeper than");
}

static void
test_include_order_and_relative(void **state)
{
    /* glob matches in sorted order whatever the dump's order; a relative name starts at the
     * main file's directory; a file included twice is listed once and read twice */
    struct rg_nginx_conf *conf =
        parse_ok("nginx: the configuration file /e/n.conf syntax is ok\n"
                 "nginx: configuration file /e/n.conf test is successful\n"
                 "# configuration file /e/n.conf:\n"
                 "http { include conf.d/*.conf; server { include p; }\n"
                 "server { include /e/p; } }\n\n"
                 "# configuration file /e/conf.d/b.conf:\nupstream b { server 127.0.0.1:2; }\n\n"
                 "# configuration file /e/conf.d/a.conf:\nupstream a { server 127.0.0.1:1; }\n\n"
                 "# configuration file /e/conf.d/sub/c.conf:\nupstream c { server 127.0.0.1:3; }\n"
                 "\n# configuration file /e/p:\nproxy_read_timeout 7s;\n\n");

    (void)state;
    assert_int_equal(conf->n_files, 5);
    assert_int_equal(conf->n_upstreams, 2);
    assert_string_equal(conf->upstreams[0]->name, "a");
    assert_string_equal(conf->upstreams[1]->name, "b");
    assert_where(conf->upstreams[1]->servers[0].where, "/e/conf.d/b.conf", 1);
    assert_int_equal(conf->n_servers, 2);
    assert_int_equal(conf->servers[0]->proxy.read_timeout.ms, 7000);
    assert_where(conf->servers[1]->proxy.read_timeout.where, "/e/p", 1);
    rg_nginx_conf_free(conf);
}

static void
test_if_condition_quotes(void **state)
{
    /* nginx takes the ')' right after a closing quote */
    struct rg_nginx_conf *conf = parse_ok("# configuration file /e/n.conf:\n"
                                          "http { server { location / {\n"
                                          "if ($request_method = \"POST\") { return 405; }\n"
                                          "if ($http_x = 'a b'){ return 403; }\n"
                                          "proxy_pass http://127.0.0.1:1; } } }\n");

    (void)state;
    assert_int_equal(loc_at(conf->servers[0], "/")->pass.port, 1);
    rg_nginx_conf_free(conf);
}

static void
test_crlf_dump(void **state)
{
    struct rg_nginx_conf *conf =
        parse_ok("# configuration file /e/n.conf:\r\nhttp {\r\n  include /e/a.conf;\r\n}\r\n"
                 "\r\n# configuration file /e/a.conf:\r\nupstream a { server 127.0.0.1:1; }\r\n");

    (void)state;
    assert_string_equal(conf->files[1], "/e/a.conf");
    assert_int_equal(conf->n_upstreams, 1);
    assert_where(conf->upstreams[0]->where, "/e/a.conf", 1);
    rg_nginx_conf_free(conf);
}

static void
test_unmodelled_blocks(void **state)
{
    /* stream's upstreams and servers are not http's; an if block's contents are not kept */
    struct rg_nginx_conf *conf =
        parse_ok("# configuration file /e/n.conf:\n"
                 "stream { upstream db { server 127.0.0.1:5432; } server { listen 5433; "
                 "proxy_pass db; } }\n"
                 "http { server { location / { if ($x) { proxy_pass http://127.0.0.1:1; }\n"
                 "proxy_read_timeout 9s; } } }\n");
    const struct rg_nginx_location *l;

    (void)state;
    assert_int_equal(conf->n_upstreams, 0);
    assert_int_equal(conf->n_servers, 1);
    l = loc_at(conf->servers[0], "/");
    assert_int_equal(l->pass.kind, RG_NGINX_PASS_NONE);
    assert_int_equal(l->proxy.read_timeout.ms, 9000);
    rg_nginx_conf_free(conf);
}

static void
test_time_and_size(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } times[] = {{"60s", 60000},      {"500ms", 500},   {"5m", 300000},     {"90", 90000},
                 {"1h 30m", 5400000}, {"1d", 86400000}, {"2w", 1209600000}, {"0", 0},
                 {"1m30s", 90000}};
    static const char *bad_times[] = {"", "s", "5x", "-1", "1.5s", "ms"};
    struct rg_err err;
    int64_t v;

    (void)state;
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        assert_int_equal(rg_nginx_time_parse(&v, times[i].s, &err), 0);
        assert_int_equal(v, times[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
        assert_int_equal(rg_nginx_time_parse(&v, bad_times[i], &err), RG_EINVAL);
    assert_contains(err.msg, "'ms' is not an nginx time");
    assert_int_equal(rg_nginx_size_parse(&v, "1m", &err), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(rg_nginx_size_parse(&v, "512k", &err), 0);
    assert_int_equal(v, 524288);
    assert_int_equal(rg_nginx_size_parse(&v, "10G", &err), 0);
    assert_int_equal(v, INT64_C(10737418240));
    assert_int_equal(rg_nginx_size_parse(&v, "0", &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rg_nginx_size_parse(&v, "m", &err), RG_EINVAL);
    assert_int_equal(rg_nginx_size_parse(&v, "", &err), RG_EINVAL);
    assert_int_equal(rg_nginx_size_parse(&v, "-1k", &err), RG_EINVAL);
    assert_contains(err.msg, "'-1k' is not an nginx size");
}

/* ---- lookups ---- */

static void
test_location_matching(void **state)
{
    static const struct {
        const char *uri;
        int line; /* of the location in matching.conf */
    } cases[] = {
        {"/", 9},                         /* = / before the prefix / */
        {"/?a=1", 9},                     /* the query string is not matched */
        {"/index.html", 10},              /* longest prefix */
        {"/static/x.php", 11},            /* ^~ stops the regexes */
        {"/a/b.php", 12},                 /* a regex before a shorter prefix */
        {"/IMG.JPEG", 13},                /* ~* ignores case */
        {"/img.PHP", 10},                 /* ~ does not */
        {"/documents/x", 14},             /* prefix */
        {"/documents/a.php", 12},         /* regex beats a plain prefix */
        {"/documents/private/x", 16},     /* nested prefix */
        {"/documents/private/x.php", 12}, /* the regexes come after nested prefixes */
        {"/web/image/42", 18},            /* (?:...) and \d translated */
        {"/web/image/x", 10},
        {"/own/thing", 19},
        {"/@fallback", 10}, /* named locations never match */
    };
    struct rg_nginx_conf *conf = load("matching.txt");
    const struct rg_nginx_server *srv = default_server(conf);

    (void)state;
    assert_int_equal(srv->n_locations, 9);
    assert_int_equal(srv->n_all_locations, 10);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rg_nginx_location *l = rg_nginx_server_location(srv, cases[i].uri);

        if (!l || l->where.line != cases[i].line)
            fail_msg("'%s': expected the location at line %d, got %d", cases[i].uri, cases[i].line,
                     l ? l->where.line : -1);
    }
    assert_int_equal(loc_at(srv, "/a/b.php")->match, RG_NGINX_MATCH_REGEX);
    assert_string_equal(loc_at(srv, "/a/b.php")->path, "\\.php$");
    assert_int_equal(loc_at(srv, "/static/")->match, RG_NGINX_MATCH_NOREGEX);
    assert_int_equal(srv->all_locations[9]->match, RG_NGINX_MATCH_NAMED);
    assert_string_equal(srv->all_locations[9]->path, "@fallback");
    assert_ptr_equal(loc_at(srv, "/documents/private/")->parent, loc_at(srv, "/documents/"));
    rg_nginx_conf_free(conf);
}

static void
test_no_location_matches(void **state)
{
    struct rg_nginx_conf *conf =
        parse_ok("# configuration file /e/n.conf:\n"
                 "http { server { location /api/ { proxy_pass http://127.0.0.1:1; }\n"
                 "location ~ ([ { } } }\n");

    (void)state;
    /* a regex that does not compile never matches */
    assert_null(rg_nginx_server_location(conf->servers[0], "/web"));
    assert_null(rg_nginx_conf_server(conf, 8080, NULL));
    rg_nginx_conf_free(conf);
}

static void
test_header_inheritance(void **state)
{
    struct rg_nginx_conf *conf = load("matching.txt");
    const struct rg_nginx_server *srv = default_server(conf);
    const struct rg_nginx_location *own = loc_at(srv, "/own"), *doc;

    (void)state;
    assert_int_equal(own->proxy.n_headers, 1);
    assert_non_null(rg_nginx_proxy_header(&own->proxy, "Host"));
    assert_null(rg_nginx_proxy_header(&own->proxy, "X-Forwarded-For"));
    assert_where(own->proxy.headers_where, MATCH, 20);
    assert_where(own->proxy.shadowed_where, MATCH, 4);
    /* a nested location without its own list gets its parent's, the server's */
    doc = loc_at(srv, "/documents/private/x");
    assert_int_equal(doc->proxy.n_headers, 4);
    assert_where(doc->proxy.headers_where, MATCH, 4);
    rg_nginx_conf_free(conf);
}

static void
test_server_selection(void **state)
{
    struct rg_nginx_conf *conf = load("fastapi-nextjs.txt");
    const struct rg_nginx_server *dash = conf->servers[0], *wild = conf->servers[1],
                                 *catchall = conf->servers[2];

    (void)state;
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "dashboard.example.com"), dash);
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "WWW.Dashboard.example.com:80"), dash);
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "other.org"), dash);
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, NULL), dash);
    assert_ptr_equal(rg_nginx_conf_server(conf, 8080, "a.example.com"), wild);
    assert_ptr_equal(rg_nginx_conf_server(conf, 8080, "example.com"), catchall);
    assert_ptr_equal(rg_nginx_conf_server(conf, 8080, NULL), catchall);
    assert_null(rg_nginx_conf_server(conf, 9999, NULL));
    /* no port, no host: the server users reach, not the 444 catch-all on 8080 */
    assert_ptr_equal(rg_nginx_conf_server(conf, 0, NULL), dash);
    assert_ptr_equal(rg_nginx_conf_server(conf, 0, "x.example.com"), wild);
    rg_nginx_conf_free(conf);
}

static void
test_server_name_forms(void **state)
{
    struct rg_nginx_conf *conf = parse_ok("# configuration file /e/n.conf:\n"
                                          "http {\n"
                                          "server { server_name .example.org; }\n"
                                          "server { server_name www.example.*; }\n"
                                          "server { server_name ~^api\\d+\\.example\\.net$; }\n"
                                          "server { server_name *.b.example.org; }\n"
                                          "server { listen 81; }\n"
                                          "}\n");

    (void)state;
    /* a server without listen is on port 80 */
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "example.org"), conf->servers[0]);
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "a.example.org"), conf->servers[0]);
    /* the longest leading wildcard wins */
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "x.b.example.org"), conf->servers[3]);
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "www.example.com"), conf->servers[1]);
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "api12.example.net"), conf->servers[2]);
    assert_ptr_equal(rg_nginx_conf_server(conf, 80, "nothing"), conf->servers[0]);
    assert_ptr_equal(rg_nginx_conf_server(conf, 81, NULL), conf->servers[4]);
    /* none proxies: the first server */
    assert_ptr_equal(rg_nginx_conf_server(conf, 0, NULL), conf->servers[0]);
    rg_nginx_conf_free(conf);
}

/* ---- checks ---- */

static void
test_check_good_odoo(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    const struct rg_nginx_server *srv = default_server(conf);
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_websocket(&p, conf, srv, 16, 8072), 0);
    assert_int_equal(rg_nginx_check_websocket(&p, conf, srv, 0, 8072), 0);
    assert_int_equal(rg_nginx_check_websocket(&p, conf, srv, 15, 8072), 0);
    assert_int_equal(rg_nginx_check_timeouts(&p, conf, srv, NULL, 120000, "limit_time_real = 120"),
                     0);
    assert_int_equal(rg_nginx_check_proxy_headers(&p, conf, srv, NULL), 0);
    assert_int_equal(p.n, 0);
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_check_websocket_to_8069(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-ws-8069.txt");
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 16, 8072), 1);
    assert_where(p.v[0].where, "/tmp/rgnx/odoo-ws-8069/conf.d/odoo.conf", 34);
    assert_contains(p.v[0].message, "location '/websocket' is proxied at "
                                    "/tmp/rgnx/odoo-ws-8069/conf.d/odoo.conf:34 to upstream "
                                    "'odoo' (127.0.0.1:8069), the same as '/'");
    assert_contains(p.v[0].message, "gevent port 8072");
    assert_string_equal(p.v[0].fix, "proxy_pass http://odoo-longpolling;");
    rg_nginx_problems_release(&p);
    assert_int_equal(p.n, 0);
    /* the version unknown: /websocket and /longpolling both have locations, both checked */
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 0, 8072), 1);
    assert_where(p.v[0].where, "/tmp/rgnx/odoo-ws-8069/conf.d/odoo.conf", 34);
    /* Odoo 15: only /longpolling matters, and it is right */
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 15, 8072), 0);
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_check_websocket_no_upgrade(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-no-upgrade.txt");
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 16, 8072), 1);
    assert_where(p.v[0].where, "/tmp/rgnx/odoo-no-upgrade/conf.d/odoo.conf", 33);
    assert_contains(p.v[0].message, "cannot upgrade '/websocket' to a WebSocket: HTTP/1.0 to "
                                    "the upstream (nginx's default), Upgrade header not passed, "
                                    "Connection 'close' (nginx's default)");
    assert_string_equal(p.v[0].fix, "proxy_http_version 1.1;\n"
                                    "proxy_set_header Upgrade $http_upgrade;\n"
                                    "proxy_set_header Connection \"upgrade\";\n");
    /* Odoo 15 and older: /longpolling is plain HTTP, routed right here */
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 15, 8072), 0);
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_check_websocket_missing(void **state)
{
    struct rg_nginx_conf *conf = parse_ok("# configuration file /e/n.conf:\n"
                                          "http { server { listen 80;\n"
                                          "location / { proxy_pass http://127.0.0.1:8069; } } }\n");
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 0, 8072), 1);
    assert_where(p.v[0].where, "/e/n.conf", 1);
    assert_contains(p.v[0].message, "the server at /e/n.conf:1 has no location for '/websocket' "
                                    "(Odoo 16+) nor '/longpolling' (Odoo 15 and older): it goes "
                                    "where '/' goes, '127.0.0.1:8069', not to Odoo's gevent "
                                    "port 8072");
    assert_contains(p.v[0].fix, "location /websocket {\n    proxy_pass http://127.0.0.1:8072;\n"
                                "    proxy_http_version 1.1;\n");
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 14, 8072), 1);
    assert_contains(p.v[1].message, "no location for '/longpolling': it goes");
    assert_null(strstr(p.v[1].fix, "Upgrade"));
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_check_websocket_port_and_map(void **state)
{
    struct rg_nginx_conf *conf = parse_ok(
        "# configuration file /e/n.conf:\n"
        "http {\n"
        "map $http_upgrade $conn { default close; }\n"
        "upstream gevent { server 10.0.0.2:8072; }\n"
        "upstream other { server 10.0.0.2:9000; }\n"
        "server { listen 80;\n"
        "location / { proxy_pass http://10.0.0.2:8069; }\n"
        "location /websocket { proxy_pass http://other; proxy_http_version 1.1;\n"
        "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $conn; }\n"
        "location /ws2 { proxy_pass http://gevent; proxy_http_version 1.1;\n"
        "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $http_connection; }\n"
        "location /ws3 { proxy_set_header Connection $undefined; }\n"
        "} }\n");
    const struct rg_nginx_server *srv = default_server(conf);
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_websocket(&p, conf, srv, 16, 8072), 2);
    assert_contains(p.v[0].message, "location '/websocket' is proxied at /e/n.conf:7 to upstream "
                                    "'other' (10.0.0.2:9000), not to Odoo's gevent port 8072");
    assert_string_equal(p.v[0].fix, "proxy_pass http://gevent;");
    assert_contains(p.v[1].message, "Connection '$conn' (no map gives \"upgrade\")");
    assert_null(strstr(p.v[1].message, "HTTP/1.0"));
    /* gevent_port 0: ports are not compared */
    rg_nginx_problems_release(&p);
    assert_int_equal(rg_nginx_check_websocket(&p, conf, srv, 16, 0), 1);
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_check_websocket_hidden_headers(void **state)
{
    /* the classic: a location adds one header and loses the server's Upgrade/Connection */
    struct rg_nginx_conf *conf =
        parse_ok("# configuration file /e/n.conf:\n"
                 "http { server {\n"
                 "proxy_http_version 1.1;\n"
                 "proxy_set_header Upgrade $http_upgrade;\n"
                 "proxy_set_header Connection upgrade;\n"
                 "location / { proxy_pass http://127.0.0.1:8069; }\n"
                 "location /websocket { proxy_pass http://127.0.0.1:8072;\n"
                 "proxy_set_header Host $host; }\n"
                 "location /nopass { }\n"
                 "} }\n");
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 16, 8072), 1);
    assert_contains(p.v[0].message, "Upgrade header not passed, Connection 'close' (nginx's "
                                    "default); its proxy_set_header at /e/n.conf:7 hides the "
                                    "ones at /e/n.conf:3");
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);

    conf = parse_ok("# configuration file /e/n.conf:\n"
                    "http { server { location / { proxy_pass http://127.0.0.1:8069; }\n"
                    "location /longpolling { root /srv; } } }\n");
    assert_int_equal(rg_nginx_check_websocket(&p, conf, default_server(conf), 15, 8072), 1);
    assert_contains(p.v[0].message, "location '/longpolling' at /e/n.conf:2 serves "
                                    "'/longpolling' without proxy_pass");
    assert_string_equal(p.v[0].fix, "proxy_pass http://127.0.0.1:8072;");
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_check_timeouts_short(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-timeout-30s.txt");
    struct rg_nginx_problems p = {0};
    const char *file = "/tmp/rgnx/odoo-timeout-30s/conf.d/odoo.conf";

    (void)state;
    /* "/" and the static location take 30s from the same line: one problem naming both;
     * /websocket and /longpolling go to another upstream */
    assert_int_equal(rg_nginx_check_timeouts(&p, conf, default_server(conf), NULL, 120000,
                                             "limit_time_real = 120"),
                     1);
    assert_where(p.v[0].where, file, 25);
    assert_contains(p.v[0].message, "proxy_read_timeout is 30s (/tmp/rgnx/odoo-timeout-30s/"
                                    "conf.d/odoo.conf:25) for location '~* /web/static/', '/', "
                                    "shorter than limit_time_real = 120 (2m)");
    assert_contains(p.v[0].message, "504");
    assert_string_equal(p.v[0].fix, "proxy_read_timeout 150s;  # at /tmp/rgnx/odoo-timeout-30s/"
                                    "conf.d/odoo.conf:25");
    /* the limit is under 30s: nothing */
    assert_int_equal(rg_nginx_check_timeouts(&p, conf, default_server(conf), "/", 20000, "x"), 0);
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_check_timeouts_default_and_uri(void **state)
{
    struct rg_nginx_conf *conf = parse_ok("# configuration file /e/n.conf:\n"
                                          "http { server {\n"
                                          "location / { proxy_pass http://127.0.0.1:8000; } } }\n");
    struct rg_nginx_conf *dash = load("fastapi-nextjs.txt");
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_timeouts(&p, conf, default_server(conf), NULL, 90000,
                                             "gunicorn --timeout 90"),
                     1);
    assert_where(p.v[0].where, "/e/n.conf", 1);
    assert_contains(p.v[0].message, "proxy_read_timeout is 1m (nginx's default) for location "
                                    "'/', shorter than gunicorn --timeout 90 (1m30s)");
    assert_string_equal(p.v[0].fix, "proxy_read_timeout 120s;  # in the server block at "
                                    "/e/n.conf:1");
    /* FastAPI: /api/ has 30s of its own; http's 120s covers the Next.js locations */
    assert_int_equal(rg_nginx_check_timeouts(&p, dash, default_server(dash), "/api/x", 90000,
                                             "gunicorn --timeout 90"),
                     1);
    assert_where(p.v[1].where, DASH, 10);
    assert_int_equal(rg_nginx_check_timeouts(&p, dash, default_server(dash), "/", 90000, "x"), 0);
    rg_nginx_problems_release(&p);
    /* a location that does not proxy: nothing to compare */
    assert_int_equal(rg_nginx_check_timeouts(&p, dash, dash->servers[1], "/", 90000, "x"), 0);
    rg_nginx_conf_free(conf);
    rg_nginx_conf_free(dash);
}

static void
test_check_proxy_headers(void **state)
{
    struct rg_nginx_conf *dash = load("fastapi-nextjs.txt");
    struct rg_nginx_conf *match = load("matching.txt");
    const struct rg_nginx_server *srv = default_server(dash);
    struct rg_nginx_problems p = {0};

    (void)state;
    /* "/" inherits http's Host and X-Forwarded-For only */
    assert_int_equal(rg_nginx_check_proxy_headers(&p, dash, srv, NULL), 1);
    assert_where(p.v[0].where, "/tmp/rgnx/fastapi-nextjs/nginx.conf", 22);
    assert_contains(p.v[0].message, "location '/' at " DASH ":18 does not send X-Forwarded-Host, "
                                    "X-Forwarded-Proto, X-Real-IP to the upstream");
    assert_string_equal(p.v[0].fix, "proxy_set_header X-Forwarded-Host $host;\n"
                                    "proxy_set_header X-Forwarded-Proto $scheme;\n"
                                    "proxy_set_header X-Real-IP $remote_addr;\n");
    /* /api/ sets one of its own and loses http's */
    assert_int_equal(rg_nginx_check_proxy_headers(&p, dash, srv, "/api/v1"), 1);
    assert_where(p.v[1].where, DASH, 9);
    assert_contains(p.v[1].message, "does not send X-Forwarded-Host, X-Forwarded-For, X-Real-IP "
                                    "to the upstream: its own proxy_set_header at " DASH ":9 "
                                    "hides those set at /tmp/rgnx/fastapi-nextjs/nginx.conf:22");
    rg_nginx_problems_release(&p);
    assert_int_equal(rg_nginx_check_proxy_headers(&p, match, default_server(match), "/x"), 0);
    assert_int_equal(rg_nginx_check_proxy_headers(&p, match, default_server(match), "/own"), 1);
    assert_contains(p.v[0].message, "hides those set at " MATCH ":4");
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(dash);
    rg_nginx_conf_free(match);
}

static void
test_check_proxy_headers_empty_value(void **state)
{
    /* proxy_set_header NAME "" means nginx does not send it */
    struct rg_nginx_conf *conf = parse_ok(
        "# configuration file /e/n.conf:\n"
        "http { server { location / { proxy_pass http://127.0.0.1:1;\n"
        "proxy_set_header X-Forwarded-Host $host; proxy_set_header X-Forwarded-For \"\";\n"
        "proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Real-IP $remote_addr;\n"
        "} location /static { root /srv; } } }\n");
    struct rg_nginx_problems p = {0};

    (void)state;
    assert_int_equal(rg_nginx_check_proxy_headers(&p, conf, conf->servers[0], "/"), 1);
    assert_contains(p.v[0].message, "does not send X-Forwarded-For to the upstream");
    /* not proxied: no headers needed */
    assert_int_equal(rg_nginx_check_proxy_headers(&p, conf, conf->servers[0], "/static/a"), 0);
    rg_nginx_problems_release(&p);
    rg_nginx_conf_free(conf);
}

static void
test_targets(void **state)
{
    struct rg_nginx_conf *conf = load("odoo-good.txt");
    struct rg_nginx_conf *dash = load("fastapi-nextjs.txt");
    struct rg_nginx_conf *q = load("quoting.txt");
    struct rg_nginx_target *t = NULL;
    size_t n = 0;

    (void)state;
    rg_nginx_conf_targets(&t, &n, conf);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].upstream, "odoo");
    assert_string_equal(t[0].host, "127.0.0.1");
    assert_int_equal(t[0].port, 8069);
    assert_where(t[0].where, ODOO, 3);
    assert_string_equal(t[1].upstream, "odoo-longpolling");
    assert_int_equal(t[1].port, 8072);
    free(t);

    /* literal addresses, each once */
    rg_nginx_conf_targets(&t, &n, dash);
    assert_int_equal(n, 2);
    assert_null(t[0].upstream);
    assert_string_equal(t[0].host, "localhost");
    assert_int_equal(t[0].port, 8002);
    assert_where(t[0].where, DASH, 7);
    assert_string_equal(t[1].host, "127.0.0.1");
    assert_int_equal(t[1].port, 3000);
    free(t);

    /* backup and down kept; a socket; a variable target cannot be listed */
    rg_nginx_conf_targets(&t, &n, q);
    assert_int_equal(n, 3);
    assert_true(t[0].backup);
    assert_true(t[1].is_unix);
    assert_true(t[1].down);
    assert_int_equal(t[2].port, 9001);
    free(t);

    rg_nginx_conf_free(q);
    q = parse_ok("# configuration file /e/n.conf:\nevents {}\n");
    rg_nginx_conf_targets(&t, &n, q);
    assert_null(t);
    assert_int_equal(n, 0);
    rg_nginx_conf_free(q);
    rg_nginx_conf_free(conf);
    rg_nginx_conf_free(dash);
}

static void
test_free_null(void **state)
{
    struct rg_nginx_problems p = {0};

    (void)state;
    rg_nginx_conf_free(NULL);
    rg_nginx_problems_release(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_and_includes),
        cmocka_unit_test(test_upstreams),
        cmocka_unit_test(test_upstream_params_and_quoted_name),
        cmocka_unit_test(test_server_listen_and_names),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_locations_and_inheritance),
        cmocka_unit_test(test_directive_after_nested_block_still_inherited),
        cmocka_unit_test(test_pass_kinds),
        cmocka_unit_test(test_pass_forms),
        cmocka_unit_test(test_logs),
        cmocka_unit_test(test_log_formats),
        cmocka_unit_test(test_maps_and_resolvers),
        cmocka_unit_test(test_quoting_fixture),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_unbalanced_fixture),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_dump_errors),
        cmocka_unit_test(test_include_order_and_relative),
        cmocka_unit_test(test_if_condition_quotes),
        cmocka_unit_test(test_crlf_dump),
        cmocka_unit_test(test_unmodelled_blocks),
        cmocka_unit_test(test_time_and_size),
        cmocka_unit_test(test_location_matching),
        cmocka_unit_test(test_no_location_matches),
        cmocka_unit_test(test_header_inheritance),
        cmocka_unit_test(test_server_selection),
        cmocka_unit_test(test_server_name_forms),
        cmocka_unit_test(test_check_good_odoo),
        cmocka_unit_test(test_check_websocket_to_8069),
        cmocka_unit_test(test_check_websocket_no_upgrade),
        cmocka_unit_test(test_check_websocket_missing),
        cmocka_unit_test(test_check_websocket_port_and_map),
        cmocka_unit_test(test_check_websocket_hidden_headers),
        cmocka_unit_test(test_check_timeouts_short),
        cmocka_unit_test(test_check_timeouts_default_and_uri),
        cmocka_unit_test(test_check_proxy_headers),
        cmocka_unit_test(test_check_proxy_headers_empty_value),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_free_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
