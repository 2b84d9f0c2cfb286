/* The nginx configuration as `nginx -T` prints it, read into a model where everything keeps its
 * file:line: upstreams, servers and their locations with the proxy_* settings nginx would apply
 * (inherited http → server → location), logs and log formats; and the checks `diagnose` runs. */
#ifndef ROLLGATE_DIAGNOSE_NGINX_CONF_H
#define ROLLGATE_DIAGNOSE_NGINX_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"

/* Where a directive is. file is borrowed from the conf (the name after "# configuration file");
 * file NULL means nobody set it: the value is nginx's built-in default. */
struct rg_nginx_where {
    const char *file;
    int line;
};

/* A duration or a size with the place it was set. */
struct rg_nginx_duration {
    int64_t ms;
    struct rg_nginx_where where;
};

struct rg_nginx_size {
    int64_t bytes; /* 0: unlimited */
    struct rg_nginx_where where;
};

struct rg_nginx_header {
    char *name;  /* as written ("X-Forwarded-For"); compare case-insensitively */
    char *value; /* unescaped; "" means the header is not sent */
    struct rg_nginx_where where;
};

/* The proxy_* settings in effect in a block, after nginx's inheritance: a block's own directive,
 * else its parent's, else the default. proxy_set_header is an array directive: a block that
 * sets any gets only its own list; one that sets none inherits its parent's whole list. */
struct rg_nginx_proxy {
    struct rg_nginx_duration read_timeout;    /* default 60s */
    struct rg_nginx_duration connect_timeout; /* default 60s */
    struct rg_nginx_duration send_timeout;    /* default 60s */
    char http_version[8];                     /* "1.0" (default) or "1.1" */
    struct rg_nginx_where http_version_where;
    bool buffering; /* default on */
    struct rg_nginx_where buffering_where;
    struct rg_nginx_size client_max_body_size; /* default 1m */
    struct rg_nginx_header *headers;           /* the list in effect, owned */
    size_t n_headers;
    struct rg_nginx_where headers_where; /* first proxy_set_header of the block they come from */
    /* An outer block's proxy_set_header that this block's own list hides (file NULL: none). */
    struct rg_nginx_where shadowed_where;
};

struct rg_nginx_upstream_server {
    char *addr; /* as written: "127.0.0.1:8069", "odoo:8069", "unix:/run/odoo.sock" */
    char *host; /* host part, or the socket path for unix: */
    int port;   /* 80 when not written; 0 for unix: */
    bool is_unix;
    int weight;              /* default 1 */
    int max_fails;           /* default 1 */
    int64_t fail_timeout_ms; /* default 10s */
    int max_conns;           /* 0: no limit */
    bool backup, down;
    struct rg_nginx_where where;
};

struct rg_nginx_upstream {
    char *name;
    struct rg_nginx_upstream_server *servers;
    size_t n_servers;
    int keepalive; /* idle connections cached per worker; 0 when not set */
    struct rg_nginx_where where;
};

enum rg_nginx_match {
    RG_NGINX_MATCH_PREFIX,  /* location /path */
    RG_NGINX_MATCH_EXACT,   /* location = /path */
    RG_NGINX_MATCH_NOREGEX, /* location ^~ /path */
    RG_NGINX_MATCH_REGEX,   /* location ~ re */
    RG_NGINX_MATCH_IREGEX,  /* location ~* re */
    RG_NGINX_MATCH_NAMED,   /* location @name: only for internal redirects */
};

/* What proxy_pass names. */
enum rg_nginx_pass_kind {
    RG_NGINX_PASS_NONE,     /* no proxy_pass in the location */
    RG_NGINX_PASS_UPSTREAM, /* an upstream { } block: pass.upstream */
    RG_NGINX_PASS_ADDRESS,  /* a literal host[:port] */
    RG_NGINX_PASS_UNIX,     /* http://unix:/path */
    RG_NGINX_PASS_VARIABLE, /* has $variables: only known at request time */
};

struct rg_nginx_pass {
    enum rg_nginx_pass_kind kind;
    char *url;    /* as written, NULL for NONE */
    char *scheme; /* "http", "https" */
    char *host;   /* host, upstream name or socket path */
    int port;     /* written port, else 80/443 for ADDRESS; 0 for UPSTREAM/UNIX/VARIABLE */
    char *uri;    /* the part after the host ("/" in http://odoo/), NULL when none */
    const struct rg_nginx_upstream *upstream; /* UPSTREAM: borrowed from the conf */
    struct rg_nginx_where where;
};

struct rg_nginx_location {
    enum rg_nginx_match match;
    char *path; /* "/", "/websocket", "^/web/static/" (regex without its modifier), "@fallback" */
    struct rg_nginx_pass pass;
    char *handler; /* another content directive ("return", "fastcgi_pass", ...), or NULL */
    struct rg_nginx_proxy proxy;
    struct rg_nginx_location **children; /* nested locations, owned */
    size_t n_children;
    const struct rg_nginx_location *parent; /* NULL at server level */
    struct rg_nginx_where where;
};

struct rg_nginx_listen {
    char *addr; /* as written: "443", "[::]:80", "127.0.0.1:8080", "unix:/run/x.sock" */
    char *host; /* NULL when only a port is written */
    int port;   /* 0 for unix: */
    bool default_server, ssl, http2;
    struct rg_nginx_where where;
};

enum rg_nginx_log_kind { RG_NGINX_LOG_ERROR, RG_NGINX_LOG_ACCESS };
enum rg_nginx_ctx {
    RG_NGINX_CTX_MAIN,
    RG_NGINX_CTX_HTTP,
    RG_NGINX_CTX_SERVER,
    RG_NGINX_CTX_LOCATION
};

/* Which variables a log format writes, for telling whether a line says how the upstream did. */
enum {
    RG_NGINX_FIELD_STATUS = 1u << 0,                 /* $status */
    RG_NGINX_FIELD_REQUEST_TIME = 1u << 1,           /* $request_time */
    RG_NGINX_FIELD_UPSTREAM_ADDR = 1u << 2,          /* $upstream_addr */
    RG_NGINX_FIELD_UPSTREAM_STATUS = 1u << 3,        /* $upstream_status */
    RG_NGINX_FIELD_UPSTREAM_RESPONSE_TIME = 1u << 4, /* $upstream_response_time */
    RG_NGINX_FIELD_UPSTREAM_CONNECT_TIME = 1u << 5,  /* $upstream_connect_time */
    RG_NGINX_FIELD_UPSTREAM_HEADER_TIME = 1u << 6,   /* $upstream_header_time */
    RG_NGINX_FIELD_UPSTREAM_OTHER = 1u << 7,         /* any other $upstream_* */
};

struct rg_nginx_log_format {
    char *name;
    char *escape;                /* "default", "json", "none" */
    char *format;                /* the strings joined, as nginx joins them */
    unsigned fields;             /* RG_NGINX_FIELD_* */
    struct rg_nginx_where where; /* file NULL for the built-in "combined" */
};

struct rg_nginx_log {
    enum rg_nginx_log_kind kind;
    char *path;        /* "/var/log/nginx/odoo.access.log", "syslog:server=...", "stderr" */
    bool off;          /* access_log off */
    char *format_name; /* access: the log_format named ("combined" when none); error: NULL */
    char *level;       /* error: the level written ("error" when none); access: NULL */
    const struct rg_nginx_log_format *format; /* access: resolved, NULL when undefined */
    enum rg_nginx_ctx ctx;
    struct rg_nginx_where where;
};

struct rg_nginx_server {
    struct rg_nginx_listen *listens; /* none written: nginx listens on *:80 */
    size_t n_listens;
    char **names; /* server_name values in order */
    size_t n_names;
    struct rg_nginx_proxy proxy;          /* the server block's settings after http's */
    struct rg_nginx_location **locations; /* server-level locations in order, owned */
    size_t n_locations;
    const struct rg_nginx_location **all_locations; /* every location, nested too, borrowed */
    size_t n_all_locations;
    /* The logs in effect for requests of this server (its own, else http's; error logs also
     * main's), borrowed from conf->logs. */
    const struct rg_nginx_log **access_logs;
    size_t n_access_logs;
    const struct rg_nginx_log **error_logs;
    size_t n_error_logs;
    struct rg_nginx_where where;
};

struct rg_nginx_map {
    char *source;        /* "$http_upgrade" */
    char *variable;      /* "$connection_upgrade" */
    char *default_value; /* "" when no default line */
    char **keys, **values;
    size_t n;
    struct rg_nginx_where where;
};

struct rg_nginx_resolver {
    char **addrs;
    size_t n_addrs;
    enum rg_nginx_ctx ctx;
    struct rg_nginx_where where;
};

struct rg_nginx_conf {
    char **files; /* file names in dump order; files[0] is the main configuration */
    size_t n_files;
    struct rg_nginx_upstream **upstreams;
    size_t n_upstreams;
    struct rg_nginx_server **servers;
    size_t n_servers;
    struct rg_nginx_log **logs; /* every error_log and access_log, any level, in order */
    size_t n_logs;
    struct rg_nginx_log_format **log_formats;
    size_t n_log_formats;
    struct rg_nginx_map **maps;
    size_t n_maps;
    struct rg_nginx_resolver **resolvers;
    size_t n_resolvers;
};

/* Reads the output of `nginx -T` (len bytes, need not be NUL-terminated): the files after their
 * "# configuration file PATH:" markers, the first being the main one; an include is replaced by
 * the files it names as they appear in the dump. Text before the first marker (nginx's "syntax
 * is ok" lines when stderr was captured too) is skipped. Only the http block is modelled
 * (stream and mail are skipped) and the inside of `if` blocks is not. On success *out is a new
 * conf the caller frees with rg_nginx_conf_free. RG_EINVAL with "FILE:LINE: ..." for a
 * syntax error (an unbalanced brace, an unterminated quote, a directive without ';'), a value
 * that is not what the directive takes, an include naming a file missing from the dump, or a
 * text without any marker. */
int rg_nginx_conf_parse(struct rg_nginx_conf **out, const char *dump, size_t len,
                        struct rg_err *err);

/* Frees conf and everything in it; NULL is fine. */
void rg_nginx_conf_free(struct rg_nginx_conf *conf);

/* The upstream block called name, or NULL. */
const struct rg_nginx_upstream *rg_nginx_conf_upstream(const struct rg_nginx_conf *conf,
                                                       const char *name);

/* The server that would answer a request to port with Host host, as nginx picks it among the
 * servers listening on that port (addresses are not told apart): exact server_name, then the
 * longest "*.x" wildcard, then the longest "x.*", then the first regex, else the port's
 * default_server, else its first server. host NULL: the port's default server. port 0 with a
 * host: among all servers. port 0 without a host: the server users reach, the default one of
 * 443, else of 80, else the first default_server, whichever first proxies "/" (else the first
 * server that does; else the first default_server or server). NULL when no server listens
 * there. */
const struct rg_nginx_server *rg_nginx_conf_server(const struct rg_nginx_conf *conf, int port,
                                                   const char *host);

/* The location of srv that would serve the URI path uri (a query string is ignored), by nginx's
 * rules: an exact "=" match; else the longest prefix, final when it is "^~"; else, with the
 * longest prefix's nested locations searched first, the first regex in order; else the longest
 * prefix. Regexes are PCRE in nginx and are run here as POSIX extended ones (\d, \w, \s and
 * (?: are translated); one that does not compile never matches. NULL when none matches. */
const struct rg_nginx_location *rg_nginx_server_location(const struct rg_nginx_server *srv,
                                                         const char *uri);

/* The proxy_set_header in effect for name (case-insensitive) in proxy, or NULL when the block
 * does not set it (nginx then sends its default: Host $proxy_host, Connection close, no
 * Upgrade). */
const struct rg_nginx_header *rg_nginx_proxy_header(const struct rg_nginx_proxy *proxy,
                                                    const char *name);

/* The log_format called name ("combined" is built in), or NULL. */
const struct rg_nginx_log_format *rg_nginx_conf_log_format(const struct rg_nginx_conf *conf,
                                                           const char *name);

/* The RG_NGINX_FIELD_* bits of the variables format uses ($var and ${var}). */
unsigned rg_nginx_format_fields(const char *format);

/* nginx's time syntax ("500ms", "30s", "5m", "1h 30m", "90" = seconds; also d, w, M, y) in
 * milliseconds. 0, or RG_EINVAL when s is not one. */
int rg_nginx_time_parse(int64_t *ms_out, const char *s, struct rg_err *err);

/* nginx's size syntax ("1m", "512k", "10G", "1024") in bytes. 0, or RG_EINVAL. */
int rg_nginx_size_parse(int64_t *bytes_out, const char *s, struct rg_err *err);

/* ---- checks: what diagnose reports about a configuration ---- */

struct rg_nginx_problem {
    struct rg_nginx_where where; /* the directive or block to change; file borrowed */
    char *message;               /* what is wrong and why it gives a 502/504, one line */
    char *fix;                   /* the configuration to write, may be several lines */
};

struct rg_nginx_problems {
    struct rg_nginx_problem *v;
    size_t n;
    size_t cap;
};

/* Frees the problems' strings and storage; the list may be used again. */
void rg_nginx_problems_release(struct rg_nginx_problems *p);

/* Odoo's real-time channel in srv: /websocket (odoo_major >= 16), /longpolling/poll (odoo_major
 * 1..15), or with odoo_major 0 (unknown) each of the two that has a location of its own (one
 * that is not the location serving /web/login). A problem when neither (or the one the version
 * needs) has a location of its own, when one does not proxy, when it is proxied to the same
 * upstream or address as /web/login, when none of its target's ports is gevent_port (0: not
 * compared), and for /websocket when it lacks proxy_http_version 1.1, Upgrade $http_upgrade or
 * Connection "upgrade" (or a map variable giving "upgrade"). Returns how many were added. */
size_t rg_nginx_check_websocket(struct rg_nginx_problems *out, const struct rg_nginx_conf *conf,
                                const struct rg_nginx_server *srv, int odoo_major, int gevent_port);

/* proxy_read_timeout shorter than app_limit_ms, in the location serving uri (NULL: "/") and in
 * every other location of srv proxied to the same upstream or address. app_what names the
 * limit for the message ("limit_time_real = 120", "gunicorn --timeout 90"; NULL: "the app's
 * own limit"). One problem per place the short value comes from. Returns how many were
 * added. */
size_t rg_nginx_check_timeouts(struct rg_nginx_problems *out, const struct rg_nginx_conf *conf,
                               const struct rg_nginx_server *srv, const char *uri,
                               int64_t app_limit_ms, const char *app_what);

/* The headers Odoo's proxy_mode reads (X-Forwarded-Host, X-Forwarded-For, X-Forwarded-Proto)
 * and X-Real-IP, when the location serving uri (NULL: "/") does not send them; the message
 * says when the location's own proxy_set_header hides the server's. Returns 0 or 1. */
size_t rg_nginx_check_proxy_headers(struct rg_nginx_problems *out, const struct rg_nginx_conf *conf,
                                    const struct rg_nginx_server *srv, const char *uri);

/* One address nginx sends requests to. */
struct rg_nginx_target {
    const char *upstream; /* the upstream block's name; NULL for a literal proxy_pass */
    const char *host;     /* host or socket path, borrowed from the conf */
    int port;             /* 0 for a unix socket */
    bool is_unix, backup, down;
    struct rg_nginx_where where; /* the server line in the upstream, or the proxy_pass */
};

/* Every server of every upstream block, then every literal proxy_pass address (each address
 * once), for comparing with the ports the services really listen on. *out is a new array the
 * caller free()s (NULL when there is none); its strings are borrowed from conf. */
void rg_nginx_conf_targets(struct rg_nginx_target **out, size_t *n_out,
                           const struct rg_nginx_conf *conf);

#endif
