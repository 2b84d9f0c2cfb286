/* Unit tests of diagnose's nginx log readers: recorded error-log lines of glibc and musl
 * builds, access-log lines of the combined and rollgate formats, the backward reader across
 * chunk boundaries, long lines, rotated files, and the summaries of the last minutes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "diagnose/nginx_log.h"
#include "rollgate/util.h"

#define T_UTC_MS 1796125364000LL /* 2026-12-01 11:42:44 UTC */

static void
set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static void
assert_str(struct rg_nginx_str s, const char *want)
{
    if (!want) {
        assert_null(s.s);
        return;
    }
    assert_non_null(s.s);
    if (s.len != strlen(want) || memcmp(s.s, want, s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.s, want);
}

static int
parse_err(struct rg_nginx_errline *l, const char *line)
{
    return rg_nginx_errlog_parse(l, line, strlen(line), NULL);
}

/* ---- error log: kinds, from glibc and musl builds alike ---- */

struct kind_case {
    const char *line;
    enum rg_nginx_kind kind;
    int sys_errno;
    enum rg_nginx_action action;
    const char *upstream_addr;
};

#define HEAD "2026/12/01 11:42:44 [error] 31#31: *123 "
#define TAIL(path)                                                                                 \
    ", client: 172.18.0.1, server: _, request: \"GET " path " HTTP/1.1\", upstream: "              \
    "\"http://172.18.0.3:8069" path "\", host: \"localhost:8080\""

static const struct kind_case kind_cases[] = {
    /* refused: glibc and musl word it the same */
    {HEAD "connect() failed (111: Connection refused) while connecting to upstream" TAIL("/web"),
     RG_NGINX_KIND_REFUSED, 111, RG_NGINX_ACT_CONNECTING, "172.18.0.3:8069"},
    /* a wording no libc uses: the number decides */
    {HEAD
     "connect() failed (111: Verbindungsaufbau abgelehnt) while connecting to upstream" TAIL("/"),
     RG_NGINX_KIND_REFUSED, 111, RG_NGINX_ACT_CONNECTING, "172.18.0.3:8069"},
    /* timeouts: glibc "Connection timed out", musl "Operation timed out" */
    {HEAD
     "upstream timed out (110: Connection timed out) while connecting to upstream" TAIL("/web"),
     RG_NGINX_KIND_TIMEOUT_CONNECT, 110, RG_NGINX_ACT_CONNECTING, "172.18.0.3:8069"},
    {HEAD "upstream timed out (110: Operation timed out) while connecting to upstream" TAIL("/web"),
     RG_NGINX_KIND_TIMEOUT_CONNECT, 110, RG_NGINX_ACT_CONNECTING, "172.18.0.3:8069"},
    {HEAD "upstream timed out (110: Connection timed out) while reading response header from "
          "upstream" TAIL("/web/dataset"),
     RG_NGINX_KIND_TIMEOUT_HEADER, 110, RG_NGINX_ACT_READING_HEADER, "172.18.0.3:8069"},
    {HEAD "upstream timed out (110: Operation timed out) while reading response header from "
          "upstream" TAIL("/web/dataset"),
     RG_NGINX_KIND_TIMEOUT_HEADER, 110, RG_NGINX_ACT_READING_HEADER, "172.18.0.3:8069"},
    {HEAD "upstream timed out (110: Connection timed out) while sending request to upstream" TAIL(
         "/upload"),
     RG_NGINX_KIND_TIMEOUT_OTHER, 110, RG_NGINX_ACT_SENDING_REQUEST, "172.18.0.3:8069"},
    {HEAD "upstream timed out (110: Operation timed out) while reading upstream" TAIL("/big"),
     RG_NGINX_KIND_TIMEOUT_OTHER, 110, RG_NGINX_ACT_READING_UPSTREAM, "172.18.0.3:8069"},
    {HEAD
     "upstream timed out (110: Connection timed out) while SSL handshaking to upstream" TAIL("/"),
     RG_NGINX_KIND_TIMEOUT_OTHER, 110, RG_NGINX_ACT_SSL_HANDSHAKE, "172.18.0.3:8069"},
    /* reset: both "Connection reset by peer" */
    {HEAD "recv() failed (104: Connection reset by peer) while reading response header from "
          "upstream" TAIL("/web"),
     RG_NGINX_KIND_RESET, 104, RG_NGINX_ACT_READING_HEADER, "172.18.0.3:8069"},
    {HEAD "readv() failed (104: Connection reset by peer) while reading upstream" TAIL("/web"),
     RG_NGINX_KIND_RESET, 104, RG_NGINX_ACT_READING_UPSTREAM, "172.18.0.3:8069"},
    /* no route: glibc "No route to host", musl "Host is unreachable" */
    {HEAD "connect() failed (113: No route to host) while connecting to upstream" TAIL("/web"),
     RG_NGINX_KIND_NO_ROUTE, 113, RG_NGINX_ACT_CONNECTING, "172.18.0.3:8069"},
    {HEAD "connect() failed (113: Host is unreachable) while connecting to upstream" TAIL("/web"),
     RG_NGINX_KIND_NO_ROUTE, 113, RG_NGINX_ACT_CONNECTING, "172.18.0.3:8069"},
    {HEAD "upstream prematurely closed connection while reading response header from upstream" TAIL(
         "/web"),
     RG_NGINX_KIND_PREMATURE_CLOSE, 0, RG_NGINX_ACT_READING_HEADER, "172.18.0.3:8069"},
    {"2026/12/01 11:42:44 [error] 31#31: *9 no live upstreams while connecting to upstream, "
     "client: 10.0.0.1, server: odoo.example.com, request: \"GET / HTTP/1.1\", upstream: "
     "\"http://odoo/\", host: \"odoo.example.com\"",
     RG_NGINX_KIND_NO_LIVE_UPSTREAMS, 0, RG_NGINX_ACT_CONNECTING, "odoo"},
    {"2026/12/01 11:42:44 [emerg] 1#1: host not found in upstream \"odoo:8069\" in "
     "/etc/nginx/conf.d/x.conf:3",
     RG_NGINX_KIND_HOST_NOT_FOUND, 0, RG_NGINX_ACT_NONE, NULL},
    {"2026/12/01 11:42:44 [error] 31#31: *5 odoo could not be resolved (3: Host not found), "
     "client: 10.0.0.1, server: _, request: \"GET / HTTP/1.1\", host: \"x\"",
     RG_NGINX_KIND_HOST_NOT_FOUND, 3, RG_NGINX_ACT_NONE, NULL},
    /* a unix socket that is not there: another cause, its errno kept */
    {"2026/12/01 11:42:44 [crit] 31#31: *7 connect() to unix:/run/odoo.sock failed (2: No such "
     "file or directory) while connecting to upstream, client: 10.0.0.1, server: _, request: "
     "\"GET / HTTP/1.1\", upstream: \"http://unix:/run/odoo.sock:/\", host: \"x\"",
     RG_NGINX_KIND_OTHER, 2, RG_NGINX_ACT_CONNECTING, "unix:/run/odoo.sock"},
    {"2026/12/01 11:42:44 [error] 29#29: *1 open() \"/usr/share/nginx/html/favicon.ico\" failed "
     "(2: No such file or directory), client: 10.0.0.1, server: localhost, request: \"GET "
     "/favicon.ico HTTP/1.1\", host: \"localhost\"",
     RG_NGINX_KIND_OTHER, 2, RG_NGINX_ACT_NONE, NULL},
    {"2026/12/01 11:42:44 [info] 31#31: *3 client closed connection while waiting for request, "
     "client: 10.0.0.1, server: 0.0.0.0:80",
     RG_NGINX_KIND_OTHER, 0, RG_NGINX_ACT_OTHER, NULL},
};

static void
test_errlog_kinds(void **state)
{
    (void)state;
    set_tz("UTC");
    for (size_t i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
        const struct kind_case *c = &kind_cases[i];
        struct rg_nginx_errline l;

        if (parse_err(&l, c->line) != 0)
            fail_msg("case %zu does not parse: %s", i, c->line);
        if (l.kind != c->kind || l.sys_errno != c->sys_errno || l.action != c->action)
            fail_msg("case %zu: kind %s errno %d action %d, want %s %d %d", i,
                     rg_nginx_kind_name(l.kind), l.sys_errno, (int)l.action,
                     rg_nginx_kind_name(c->kind), c->sys_errno, (int)c->action);
        assert_int_equal(l.time_ms, T_UTC_MS);
        if (c->upstream_addr)
            assert_str(rg_nginx_upstream_addr(l.upstream), c->upstream_addr);
        else
            assert_null(l.upstream.s);
    }
}

static void
test_errlog_fields(void **state)
{
    struct rg_nginx_errline l;

    (void)state;
    set_tz("UTC");
    assert_int_equal(parse_err(&l, kind_cases[0].line), 0);
    assert_int_equal(l.level, RG_NGINX_ERROR);
    assert_int_equal(l.pid, 31);
    assert_int_equal(l.tid, 31);
    assert_int_equal(l.conn, 123);
    assert_str(l.message, "connect() failed (111: Connection refused)");
    assert_str(l.action_text, "connecting to upstream");
    assert_str(l.client, "172.18.0.1");
    assert_str(l.server, "_");
    assert_str(l.request, "GET /web HTTP/1.1");
    assert_str(l.upstream, "http://172.18.0.3:8069/web");
    assert_str(l.host, "localhost:8080");
    assert_int_equal(l.line.len, strlen(kind_cases[0].line));

    /* emerg: no connection, the host and where it is configured */
    assert_int_equal(parse_err(&l, kind_cases[15].line), 0);
    assert_int_equal(l.level, RG_NGINX_EMERG);
    assert_int_equal(l.conn, -1);
    assert_str(l.missing_host, "odoo:8069");
    assert_str(l.conf_at, "/etc/nginx/conf.d/x.conf:3");
    assert_str(l.client, NULL);
    assert_int_equal(parse_err(&l, "2026/12/01 11:42:44 [emerg] 1#1: unknown directive "
                                   "\"proxy_pas\" in /etc/nginx/conf.d/odoo.conf:12"),
                     0);
    assert_str(l.conf_at, "/etc/nginx/conf.d/odoo.conf:12");
    assert_int_equal(l.kind, RG_NGINX_KIND_OTHER);
    /* resolver: the name that could not be resolved */
    assert_int_equal(parse_err(&l, kind_cases[16].line), 0);
    assert_str(l.missing_host, "odoo");
    assert_str(l.conf_at, NULL);

    /* every level; a notice without connection or tail */
    static const char *const levels[] = {"emerg", "alert",  "crit", "error",
                                         "warn",  "notice", "info", "debug"};
    for (int i = 0; i < 8; i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "2026/12/01 11:42:44 [%s] 7#0: signal process started",
                 levels[i]);
        assert_int_equal(parse_err(&l, buf), 0);
        assert_int_equal(l.level, i);
        assert_string_equal(rg_nginx_level_name(l.level), levels[i]);
        assert_int_equal(l.pid, 7);
        assert_int_equal(l.tid, 0);
        assert_int_equal(l.conn, -1);
        assert_str(l.message, "signal process started");
    }
}

/* Commas and quotes inside quoted values stay there; the next ", key: " ends a value. */
static void
test_errlog_tail_quotes(void **state)
{
    struct rg_nginx_errline l;
    const char *line =
        "2026/12/01 11:42:44 [error] 31#31: *8 upstream prematurely closed connection while "
        "reading response header from upstream, client: 10.0.0.1, server: a.example, b.example, "
        "request: \"GET /search?q=a,b,c&x=\"quoted\", done HTTP/1.1\", upstream: "
        "\"http://[fd00::3]:8069/search?q=a,b,c\", host: \"a.example\", referrer: "
        "\"https://a.example/x, y\"";

    (void)state;
    set_tz("UTC");
    assert_int_equal(parse_err(&l, line), 0);
    assert_str(l.client, "10.0.0.1");
    assert_str(l.server, "a.example, b.example");
    assert_str(l.request, "GET /search?q=a,b,c&x=\"quoted\", done HTTP/1.1");
    assert_str(l.upstream, "http://[fd00::3]:8069/search?q=a,b,c");
    assert_str(rg_nginx_upstream_addr(l.upstream), "[fd00::3]:8069");
    assert_str(l.host, "a.example");
    assert_int_equal(l.kind, RG_NGINX_KIND_PREMATURE_CLOSE);

    /* a line cut inside a quoted value keeps what there is */
    assert_int_equal(parse_err(&l, "2026/12/01 11:42:44 [error] 1#1: *2 connect() failed (111: "
                                   "Connection refused) while connecting to upstream, client: "
                                   "10.0.0.1, server: _, request: \"GET /we"),
                     0);
    assert_int_equal(l.kind, RG_NGINX_KIND_REFUSED);
    assert_str(l.request, "GET /we");
    assert_str(l.upstream, NULL);
}

static void
test_errlog_garbage(void **state)
{
    static const char *const bad[] = {
        "",
        "x",
        "2026/12/01 11:42",                      /* cut in the time */
        "2026/12/01 11:42:44",                   /* time only */
        "2026/12/01 11:42:44 [error]",           /* no pid */
        "2026/12/01 11:42:44 [fatal] 1#1: what", /* no such level */
        "2026/12/01 11:42:44 [error] x#1: what", /* pid not a number */
        "2026/12/01 11:42:44 [error] 1-1: what",
        "2026/13/01 11:42:44 [error] 1#1: month 13",
        "2026/12/01 25:42:44 [error] 1#1: hour 25",
        "2026-12-01 11:42:44 [error] 1#1: dashes",
        "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address in use)", /* stderr, not log */
        "\x01\x02\x03\xff\xfe garbage \"unterminated",
        "172.18.0.1 - - [01/Dec/2026:11:42:44 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"c\"",
    };
    struct rg_nginx_errline l;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_err(&l, bad[i]) != RG_EINVAL)
            fail_msg("case %zu parsed: %s", i, bad[i]);
    /* The parser reads only len bytes: a valid line whose len cuts the pid refuses it. */
    assert_int_equal(rg_nginx_errlog_parse(&l, kind_cases[0].line, 27, NULL), RG_EINVAL);
}

/* nginx writes local time: converted in the process's TZ, with and without the minute cache. */
static void
test_errlog_time_tz(void **state)
{
    struct rg_nginx_errline l;
    struct rg_nginx_clock clock;
    static const char winter[] = "2026/12/01 11:42:44 [error] 1#1: x";
    static const char summer[] = "2026/07/01 11:42:44 [error] 1#1: x";
    static const char winter2[] = "2026/12/01 11:42:59 [error] 1#1: x";
    static const char next_min[] = "2026/12/01 11:43:00 [error] 1#1: x";
    const int64_t summer_utc = 1782906164000LL;

    (void)state;
    set_tz("UTC");
    rg_nginx_clock_init(&clock);
    assert_int_equal(rg_nginx_errlog_parse(&l, winter, strlen(winter), &clock), 0);
    assert_int_equal(l.time_ms, T_UTC_MS);
    assert_int_equal(rg_nginx_errlog_parse(&l, winter2, strlen(winter2), &clock), 0);
    assert_int_equal(l.time_ms, T_UTC_MS + 15000);
    assert_int_equal(rg_nginx_errlog_parse(&l, next_min, strlen(next_min), &clock), 0);
    assert_int_equal(l.time_ms, T_UTC_MS + 16000);
    assert_int_equal(parse_err(&l, summer), 0);
    assert_int_equal(l.time_ms, summer_utc);

    /* Central Europe, as a POSIX rule (no tzdata needed): +1 in winter, +2 in summer. */
    set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
    rg_nginx_clock_init(&clock);
    assert_int_equal(rg_nginx_errlog_parse(&l, winter, strlen(winter), &clock), 0);
    assert_int_equal(l.time_ms, T_UTC_MS - 3600 * 1000);
    assert_int_equal(rg_nginx_errlog_parse(&l, summer, strlen(summer), &clock), 0);
    assert_int_equal(l.time_ms, summer_utc - 2 * 3600 * 1000);
    assert_int_equal(parse_err(&l, winter), 0);
    assert_int_equal(l.time_ms, T_UTC_MS - 3600 * 1000);

    /* New York: -5 in December. */
    set_tz("EST5EDT,M3.2.0,M11.1.0");
    assert_int_equal(parse_err(&l, winter), 0);
    assert_int_equal(l.time_ms, T_UTC_MS + 5 * 3600 * 1000);
    set_tz("UTC");
}

/* ---- access log ---- */

static int
parse_acc(struct rg_nginx_accline *l, const char *line)
{
    return rg_nginx_access_parse(l, line, strlen(line));
}

static void
test_access_combined(void **state)
{
    struct rg_nginx_accline l;

    (void)state;
    assert_int_equal(parse_acc(&l, "172.18.0.1 - alice [01/Dec/2026:11:42:44 +0000] \"GET "
                                   "/web?db=x HTTP/1.1\" 502 157 \"https://x/\" \"curl/7.88.1\""),
                     0);
    assert_int_equal(l.time_ms, T_UTC_MS);
    assert_int_equal(l.tz_offset_min, 0);
    assert_str(l.remote_addr, "172.18.0.1");
    assert_str(l.request, "GET /web?db=x HTTP/1.1");
    assert_str(l.method, "GET");
    assert_str(l.path, "/web?db=x");
    assert_str(l.protocol, "HTTP/1.1");
    assert_int_equal(l.status, 502);
    assert_int_equal(l.body_bytes, 157);
    assert_str(l.referer, "https://x/");
    assert_str(l.user_agent, "curl/7.88.1");
    assert_false(l.rollgate_format);
    assert_int_equal(l.request_ms, -1);
    assert_int_equal(l.upstream_connect_ms, -1);
    assert_str(l.upstream_addr, NULL);

    /* offsets: 12:42:44 at +0100 and 06:42:44 at -0500 are the same instant */
    assert_int_equal(parse_acc(&l, "::1 - - [01/Dec/2026:12:42:44 +0100] \"GET / HTTP/1.1\" 200 "
                                   "0 \"-\" \"-\""),
                     0);
    assert_int_equal(l.time_ms, T_UTC_MS);
    assert_int_equal(l.tz_offset_min, 60);
    assert_str(l.referer, "-");
    assert_int_equal(parse_acc(&l, "::1 - - [01/Dec/2026:06:42:44 -0500] \"GET / HTTP/1.1\" 200 "
                                   "- \"-\" \"-\""),
                     0);
    assert_int_equal(l.time_ms, T_UTC_MS);
    assert_int_equal(l.tz_offset_min, -300);
    assert_int_equal(l.body_bytes, -1);
    /* a request that is not a request line: status still read */
    assert_int_equal(parse_acc(&l, "1.2.3.4 - - [01/Dec/2026:11:42:44 +0000] "
                                   "\"\\x16\\x03\\x01\\x02\" 400 157 \"-\" \"-\""),
                     0);
    assert_int_equal(l.status, 400);
    assert_str(l.method, NULL);
    /* leap day and year ends */
    assert_int_equal(parse_acc(&l, "a - - [29/Feb/2028:00:00:00 +0000] \"-\" 408 0 \"-\" \"-\""),
                     0);
    assert_int_equal(l.time_ms, 1835395200000LL);
    assert_int_equal(parse_acc(&l, "a - - [31/Dec/1999:23:59:59 +0000] \"-\" 499 0"), 0);
    assert_int_equal(l.time_ms, 946684799000LL);
    assert_int_equal(l.status, 499);
}

#define RG_FMT_HEAD                                                                                \
    "172.18.0.1 - - [01/Dec/2026:11:42:44 +0000] \"POST /web/dataset/call_kw HTTP/1.1\" "

static void
test_access_rollgate(void **state)
{
    struct rg_nginx_accline l;
    struct rg_nginx_str items[4];

    (void)state;
    assert_int_equal(parse_acc(&l, RG_FMT_HEAD "200 512 \"-\" \"Mozilla/5.0 (X11; Linux) a=b\" "
                                               "rt=0.123 uct=0.001 uht=0.120 urt=0.121 "
                                               "ua=172.18.0.3:8069 us=200"),
                     0);
    assert_true(l.rollgate_format);
    assert_str(l.user_agent, "Mozilla/5.0 (X11; Linux) a=b");
    assert_int_equal(l.request_ms, 123);
    assert_int_equal(l.upstream_connect_ms, 1);
    assert_int_equal(l.upstream_header_ms, 120);
    assert_int_equal(l.upstream_response_ms, 121);
    assert_str(l.upstream_addr, "172.18.0.3:8069");
    assert_str(l.upstream_status, "200");

    /* nginx answered itself: every upstream field "-" */
    assert_int_equal(parse_acc(&l, RG_FMT_HEAD "504 167 \"-\" \"c\" rt=60.001 uct=- uht=- urt=- "
                                               "ua=- us=-"),
                     0);
    assert_int_equal(l.status, 504);
    assert_int_equal(l.request_ms, 60001);
    assert_int_equal(l.upstream_connect_ms, -1);
    assert_int_equal(l.upstream_header_ms, -1);
    assert_int_equal(l.upstream_response_ms, -1);
    assert_str(l.upstream_addr, "-");

    /* two servers of a group tried, then an internal redirect to another group */
    assert_int_equal(parse_acc(&l, RG_FMT_HEAD "200 10 \"-\" \"c\" rt=3.5 "
                                               "uct=0.000, 0.001 : 0.002 uht=-, 3.001 : 0.4 "
                                               "urt=1.000, 3.002 : 0.45 "
                                               "ua=172.18.0.3:8069, 172.18.0.4:8069 : "
                                               "unix:/run/odoo.sock us=502, 504 : 200"),
                     0);
    assert_int_equal(l.request_ms, 3500);
    assert_int_equal(l.upstream_connect_ms, 2);
    assert_int_equal(l.upstream_header_ms, 400);
    assert_int_equal(l.upstream_response_ms, 450);
    assert_str(l.upstream_addr, "172.18.0.3:8069, 172.18.0.4:8069 : unix:/run/odoo.sock");
    assert_int_equal(rg_nginx_list_split(items, 4, l.upstream_addr), 3);
    assert_str(items[0], "172.18.0.3:8069");
    assert_str(items[1], "172.18.0.4:8069");
    assert_str(items[2], "unix:/run/odoo.sock");
    assert_int_equal(rg_nginx_list_split(items, 4, l.upstream_status), 3);
    assert_str(items[0], "502");
    assert_str(items[1], "504");
    assert_str(items[2], "200");
    /* more items than room: counted, the first stored */
    assert_int_equal(rg_nginx_list_split(items, 1, l.upstream_addr), 3);
    assert_str(items[0], "172.18.0.3:8069");
    assert_int_equal(rg_nginx_list_split(items, 4, (struct rg_nginx_str){"[::1]:80", 8}), 1);
    assert_str(items[0], "[::1]:80");

    /* keys in another order, an extra field between: still found */
    assert_int_equal(parse_acc(&l, RG_FMT_HEAD "502 0 \"-\" \"c\" \"10.0.0.9\" us=502 "
                                               "ua=10.0.0.5:80 rt=0.004"),
                     0);
    assert_int_equal(l.request_ms, 4);
    assert_str(l.upstream_addr, "10.0.0.5:80");
    assert_str(l.upstream_status, "502");
}

static void
test_access_unknown_and_garbage(void **state)
{
    struct rg_nginx_accline l;
    static const char *const bad[] = {
        "",
        "garbage",
        "1.2.3.4 - - [01/Dec/2026:11:42:44 +0000]",                      /* cut after the time */
        "1.2.3.4 - - [01/Dec/2026:11:42:44 +0000] \"GET / HTTP/1.1",     /* cut in the request */
        "1.2.3.4 - - [01/Dec/2026:11:42:44 +0000] \"GET / HTTP/1.1\" 5", /* cut in the status */
        "1.2.3.4 - - [01/Foo/2026:11:42:44 +0000] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [01/Dec/2026:11:42:44 0000] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [01/Dec/2026:11:42:44 +0000] \"GET / HTTP/1.1\" abc 1",
        "2026/12/01 11:42:44 [error] 1#1: *1 not an access line",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_acc(&l, bad[i]) != RG_EINVAL)
            fail_msg("case %zu parsed: %s", i, bad[i]);
    /* a custom format: host and port before, the time, then the request and status */
    assert_int_equal(parse_acc(&l, "odoo.example.com:443 [1.2.3.4] [01/Dec/2026:11:42:44 +0000] "
                                   "\"GET / HTTP/2.0\" 503 0 0.010"),
                     0);
    assert_int_equal(l.time_ms, T_UTC_MS);
    assert_int_equal(l.status, 503);
    assert_str(l.path, "/");
    /* main's default format without the user agent */
    assert_int_equal(parse_acc(&l, "1.2.3.4 - - [01/Dec/2026:11:42:44 +0000] \"GET / HTTP/1.1\" "
                                   "200"),
                     0);
    assert_int_equal(l.status, 200);
}

static void
test_helpers(void **state)
{
    struct rg_nginx_hist *h = rg_calloc(1, sizeof(*h));
    char ex[16];

    (void)state;
    assert_int_equal(rg_nginx_parse_secs_ms((struct rg_nginx_str){"0.123", 5}), 123);
    assert_int_equal(rg_nginx_parse_secs_ms((struct rg_nginx_str){"12", 2}), 12000);
    assert_int_equal(rg_nginx_parse_secs_ms((struct rg_nginx_str){"1.5", 3}), 1500);
    assert_int_equal(rg_nginx_parse_secs_ms((struct rg_nginx_str){"0.0004", 6}), 0);
    assert_int_equal(rg_nginx_parse_secs_ms((struct rg_nginx_str){"-", 1}), -1);
    assert_int_equal(rg_nginx_parse_secs_ms((struct rg_nginx_str){"1.2x", 4}), -1);
    assert_int_equal(rg_nginx_parse_secs_ms((struct rg_nginx_str){NULL, 0}), -1);

    /* histogram: exact below 128 ms, within 1/64 above */
    assert_int_equal(rg_nginx_hist_quantile(h, 0.5), -1);
    for (int i = 1; i <= 100; i++)
        rg_nginx_hist_add(h, i);
    assert_int_equal(rg_nginx_hist_quantile(h, 0.5), 50);
    assert_int_equal(rg_nginx_hist_quantile(h, 0.99), 99);
    assert_int_equal(rg_nginx_hist_quantile(h, 1.0), 100);
    memset(h, 0, sizeof(*h));
    for (int64_t v = 130; v < 3000000; v = v * 3 / 2) {
        int64_t got;
        memset(h, 0, sizeof(*h));
        rg_nginx_hist_add(h, v);
        got = rg_nginx_hist_quantile(h, 0.5);
        if (got < v || got > v + v / 64 + 1)
            fail_msg("%lld ms read back as %lld", (long long)v, (long long)got);
    }
    rg_nginx_hist_add(h, INT64_MAX); /* beyond the range: the last bucket, no overflow */
    assert_true(rg_nginx_hist_quantile(h, 1.0) > 0);
    free(h);

    rg_nginx_excerpt(ex, sizeof(ex), "short", 5);
    assert_string_equal(ex, "short");
    rg_nginx_excerpt(ex, sizeof(ex), "a\tb\x1b[31m", 8);
    assert_string_equal(ex, "a?b?[31m");
    rg_nginx_excerpt(ex, sizeof(ex), "0123456789abcdefghij", 20);
    assert_string_equal(ex, "0123456789ab…");
    rg_nginx_excerpt(ex, sizeof(ex), "0123456789aé…long", 18); /* é is not split */
    assert_string_equal(ex, "0123456789a…");

    assert_string_equal(rg_nginx_kind_name(RG_NGINX_KIND_TIMEOUT_HEADER),
                        "timed out reading response header");
    assert_string_equal(rg_nginx_action_name(RG_NGINX_ACT_SSL_HANDSHAKE),
                        "SSL handshaking to upstream");
}

/* ---- the backward reader ---- */

struct fixture {
    char dir[64];
};

static int
fs_setup(void **state)
{
    struct fixture *f = rg_calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/rg-nginx-log-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int
fs_teardown(void **state)
{
    struct fixture *f = *state;

    rg_fs_remove_tree(f->dir, NULL);
    free(f);
    return 0;
}

static char *
path_in(const struct fixture *f, const char *name)
{
    return rg_asprintf("%s/%s", f->dir, name);
}

static void
write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(rg_fs_write_all(fd, data, len, path, NULL), 0);
    close(fd);
}

/* Collects the lines handed over, newest first. */
struct collect {
    struct rg_strv lines;
    size_t stop_after; /* 0: never stop */
};

static int
collect_line(const char *line, size_t len, void *data)
{
    struct collect *c = data;
    char *copy = rg_strndup(line, len);

    assert_int_equal(strlen(line), len); /* NUL-terminated at len */
    rg_strv_push(&c->lines, copy);
    free(copy);
    return c->stop_after && c->lines.n >= c->stop_after;
}

/* A line of length n for index i: its number, then a filler. */
static void
make_line(struct rg_buf *b, size_t i, size_t n)
{
    size_t start = b->len;

    rg_buf_addf(b, "line %zu:", i);
    while (b->len - start < n)
        rg_buf_add(b, &"abcdefghijklmnopqrstuvwxyz"[(i + b->len) % 26], 1);
}

static void
test_logtail_chunks(void **state)
{
    struct fixture *f = *state;
    char *p = path_in(f, "access.log");
    const char *paths[] = {p, NULL};
    struct rg_buf file, want;
    struct rg_logtail_stats st;
    struct collect c = {{NULL, 0}, 0};
    struct rg_err err = {0};
    size_t n_lines = 5000;
    struct rg_strv expected = {NULL, 0};

    rg_buf_init(&file, 64 << 20);
    rg_buf_init(&want, 1 << 20);
    /* Lengths from 1 to 300 bytes in a pattern that puts newlines on both sides of every
     * 64 KiB boundary sooner or later; CRLF on some lines; blank lines in between. */
    for (size_t i = 0; i < n_lines; i++) {
        size_t len = 10 + (i * 37) % 290;
        rg_buf_reset(&want);
        make_line(&want, i, len);
        rg_strv_push(&expected, want.data);
        rg_buf_add(&file, want.data, want.len);
        rg_buf_adds(&file, i % 7 == 0 ? "\r\n" : "\n");
        if (i % 100 == 0)
            rg_buf_adds(&file, "\n");
    }
    /* the last line has no newline yet: nginx is writing it */
    rg_buf_adds(&file, "partial last");
    assert_true(file.len > 4 * RG_LOGTAIL_CHUNK);
    write_file(p, file.data, file.len);

    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
    assert_int_equal(c.lines.n, n_lines + 1);
    assert_string_equal(c.lines.v[0], "partial last");
    for (size_t i = 0; i < n_lines; i++)
        if (strcmp(c.lines.v[i + 1], expected.v[n_lines - 1 - i]) != 0)
            fail_msg("line %zu from the end: '%s', want '%s'", i, c.lines.v[i + 1],
                     expected.v[n_lines - 1 - i]);
    assert_int_equal(st.bytes_read, file.len);
    assert_int_equal(st.lines, n_lines + 1);
    assert_int_equal(st.lines_truncated, 0);
    assert_int_equal(st.files_read, 1);
    assert_false(st.cut);
    assert_false(st.stopped);
    rg_strv_release(&c.lines);

    /* stop when asked: only the chunks holding those lines are read */
    c.stop_after = 10;
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
    assert_int_equal(c.lines.n, 10);
    assert_true(st.stopped);
    assert_false(st.cut);
    assert_true(st.bytes_read <= RG_LOGTAIL_CHUNK);
    rg_strv_release(&c.lines);

    /* a byte bound: cut, and the line it falls in is not handed */
    c.stop_after = 0;
    assert_int_equal(rg_logtail_read(&st, paths, 100000, collect_line, &c, &err), 0);
    assert_true(st.cut);
    assert_false(st.stopped);
    assert_int_equal(st.bytes_read, 100000);
    assert_true(c.lines.n > 300 && c.lines.n < 1000);
    for (size_t i = 1; i < c.lines.n; i++)
        assert_string_equal(c.lines.v[i], expected.v[n_lines - i]);
    rg_strv_release(&c.lines);

    /* an empty file, a file of newlines */
    write_file(p, "", 0);
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
    assert_int_equal(c.lines.n, 0);
    write_file(p, "\n\n\r\n\n", 5);
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
    assert_int_equal(c.lines.n, 0);
    write_file(p, "only", 4);
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
    assert_int_equal(c.lines.n, 1);
    assert_string_equal(c.lines.v[0], "only");
    rg_strv_release(&c.lines);

    rg_strv_release(&expected);
    rg_buf_release(&file);
    rg_buf_release(&want);
    free(p);
}

/* Lines longer than the chunk and than the cap: handed as their first LINE_MAX bytes, and
 * their neighbours intact, wherever they fall. */
static void
test_logtail_long_line(void **state)
{
    struct fixture *f = *state;
    char *p = path_in(f, "error.log");
    const char *paths[] = {p, NULL};
    struct rg_buf file, huge, mid;
    struct rg_logtail_stats st;
    struct collect c = {{NULL, 0}, 0};
    struct rg_err err = {0};
    size_t sizes[] = {RG_LOGTAIL_CHUNK - 1, RG_LOGTAIL_CHUNK, RG_LOGTAIL_CHUNK + 1,
                      3 * RG_LOGTAIL_CHUNK + 17};

    rg_buf_init(&file, 16 << 20);
    rg_buf_init(&huge, 1 << 20);
    rg_buf_init(&mid, 1 << 20);
    make_line(&huge, 1, 3 * RG_LOGTAIL_CHUNK + 17);
    make_line(&mid, 2, 100000);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k], want_len = n < RG_LOGTAIL_LINE_MAX ? n : RG_LOGTAIL_LINE_MAX;

        /* huge line first in the file, a 100 KB one between short ones, then one of n bytes
         * last (with and without its newline) */
        for (int nl = 0; nl < 2; nl++) {
            rg_buf_reset(&file);
            rg_buf_add(&file, huge.data, huge.len);
            rg_buf_adds(&file, "\nshort before\n");
            rg_buf_add(&file, mid.data, mid.len);
            rg_buf_adds(&file, "\nshort after\n");
            rg_buf_add(&file, huge.data, n);
            if (nl)
                rg_buf_adds(&file, "\n");
            write_file(p, file.data, file.len);
            assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
            assert_int_equal(c.lines.n, 5);
            assert_int_equal(strlen(c.lines.v[0]), want_len);
            assert_memory_equal(c.lines.v[0], huge.data, want_len);
            assert_string_equal(c.lines.v[1], "short after");
            assert_int_equal(strlen(c.lines.v[2]), RG_LOGTAIL_LINE_MAX);
            assert_memory_equal(c.lines.v[2], mid.data, RG_LOGTAIL_LINE_MAX);
            assert_string_equal(c.lines.v[3], "short before");
            assert_int_equal(strlen(c.lines.v[4]), RG_LOGTAIL_LINE_MAX);
            assert_memory_equal(c.lines.v[4], huge.data, RG_LOGTAIL_LINE_MAX);
            assert_int_equal(st.lines_truncated, 2 + (n > RG_LOGTAIL_LINE_MAX));
            assert_int_equal(st.bytes_read, file.len);
            rg_strv_release(&c.lines);
        }
    }
    rg_buf_release(&file);
    rg_buf_release(&huge);
    rg_buf_release(&mid);
    free(p);
}

static void
test_logtail_rotated(void **state)
{
    struct fixture *f = *state;
    char *p0 = path_in(f, "error.log"), *p1 = path_in(f, "error.log.1"),
         *p2 = path_in(f, "error.log.2.gz"), *p3 = path_in(f, "error.log.3");
    const char *paths[] = {p0, p1, p2, p3, NULL};
    struct rg_logtail_stats st;
    struct collect c = {{NULL, 0}, 0};
    struct rg_err err = {0};

    write_file(p0, "c\nd", 3); /* the current file ends mid-line */
    write_file(p1, "a\nb\n", 4);
    write_file(p2, "\x1f\x8b not read", 11);
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
    assert_int_equal(c.lines.n, 4);
    assert_string_equal(c.lines.v[0], "d");
    assert_string_equal(c.lines.v[1], "c");
    assert_string_equal(c.lines.v[2], "b");
    assert_string_equal(c.lines.v[3], "a");
    assert_int_equal(st.files_read, 2);
    assert_int_equal(st.files_compressed, 1);
    assert_int_equal(st.files_missing, 1);
    rg_strv_release(&c.lines);

    /* the bound spans files: 3 bytes of error.log, then 2 of error.log.1 ("b\n"; "b" has no
     * newline before it in what was read, so it is dropped) */
    assert_int_equal(rg_logtail_read(&st, paths, 5, collect_line, &c, &err), 0);
    assert_true(st.cut);
    assert_int_equal(c.lines.n, 2);
    rg_strv_release(&c.lines);
    /* stopping in the first file reads no other */
    c.stop_after = 1;
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), 0);
    assert_int_equal(st.files_read, 1);
    rg_strv_release(&c.lines);
    c.stop_after = 0;

    /* the first file missing is an error; a directory is not a log */
    paths[0] = p3;
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), RG_ENOENT);
    assert_non_null(strstr(err.msg, "error.log.3"));
    paths[0] = f->dir;
    assert_int_equal(rg_logtail_read(&st, paths, 0, collect_line, &c, &err), RG_EINVAL);
    assert_non_null(strstr(err.msg, "not a regular file"));
    rg_strv_release(&c.lines);
    free(p0);
    free(p1);
    free(p2);
    free(p3);
}

/* ---- summaries ---- */

/* Writes an error log of one line every 2 s from start_s (UTC) for n lines, cycling through
 * kinds, with garbage in between. Returns the time of the last line. */
static int64_t
write_errlog(const char *path, int64_t start_s, int n)
{
    struct rg_buf b;
    int64_t t = start_s;

    rg_buf_init(&b, 64 << 20);
    for (int i = 0; i < n; i++) {
        time_t tt = (time_t)(start_s + 2 * i);
        struct tm tm;
        char ts[32];

        t = tt;
        gmtime_r(&tt, &tm);
        strftime(ts, sizeof(ts), "%Y/%m/%d %H:%M:%S", &tm);
        switch (i % 4) {
        case 0:
            rg_buf_addf(&b,
                        "%s [error] 31#31: *%d connect() failed (111: Connection refused) "
                        "while connecting to upstream, client: 10.0.0.1, server: _, "
                        "request: \"GET /web HTTP/1.1\", upstream: "
                        "\"http://172.18.0.%d:8069/web\", host: \"x\"\n",
                        ts, i, 3 + i % 8 / 4);
            break;
        case 1:
            rg_buf_addf(&b,
                        "%s [error] 31#31: *%d upstream timed out (110: Operation timed out) "
                        "while reading response header from upstream, client: 10.0.0.1, "
                        "server: _, request: \"GET /slow HTTP/1.1\", upstream: "
                        "\"http://172.18.0.3:8069/slow\", host: \"x\"\n",
                        ts, i);
            break;
        case 2:
            rg_buf_addf(&b,
                        "%s [warn] 31#31: *%d an upstream response is buffered to a "
                        "temporary file\n",
                        ts, i);
            break;
        default:
            rg_buf_addf(&b,
                        "%s [emerg] 1#1: host not found in upstream \"odoo:8069\" in "
                        "/etc/nginx/conf.d/x.conf:3\n",
                        ts);
            rg_buf_adds(&b, "garbage line \"\n");
        }
    }
    write_file(path, b.data, b.len);
    rg_buf_release(&b);
    return t;
}

static void
test_errlog_scan(void **state)
{
    struct fixture *f = *state;
    char *p0 = path_in(f, "error.log"), *p1 = path_in(f, "error.log.1");
    const char *paths[] = {p0, p1, NULL};
    struct rg_nginx_errsum *s = rg_calloc(1, sizeof(*s));
    struct rg_err err = {0};
    struct stat st0;
    int64_t start = T_UTC_MS / 1000, last;

    set_tz("UTC");
    /* error.log.1: the hour before; error.log: 4000 lines, 2 s apart (8000 s) */
    write_errlog(p1, start - 3600, 100);
    last = write_errlog(p0, start, 4000);
    assert_int_equal(stat(p0, &st0), 0);

    /* the last 15 minutes: lines 3550..3999 (450; 3550 % 4 == 2, so warn and emerg have one
     * more than refused and timed out); 3535..3549 are read for the slack, not counted, and
     * 3534 stops the scan */
    assert_int_equal(rg_nginx_errlog_scan(s, paths, (last - 899) * 1000, 0, &err), 0);
    assert_int_equal(s->in_window, 450);
    assert_int_equal(s->per_level[RG_NGINX_ERROR], 224);
    assert_int_equal(s->per_level[RG_NGINX_WARN], 113);
    assert_int_equal(s->per_level[RG_NGINX_EMERG], 113);
    assert_int_equal(s->garbage, 113 + 4); /* and those of 3535, 3539, 3543, 3547 */
    assert_int_equal(s->lines, 450 + 113 + 16 + 4);
    assert_int_equal(s->problems, 224 + 113);
    assert_int_equal(s->kinds[RG_NGINX_KIND_REFUSED].count, 112);
    assert_int_equal(s->kinds[RG_NGINX_KIND_TIMEOUT_HEADER].count, 112);
    assert_int_equal(s->kinds[RG_NGINX_KIND_HOST_NOT_FOUND].count, 113);
    assert_int_equal(s->emerg.count, 113);
    assert_string_equal(s->missing_host, "odoo:8069");
    assert_string_equal(s->missing_host_at, "/etc/nginx/conf.d/x.conf:3");
    assert_true(s->tail.stopped);
    assert_int_equal(s->tail.files_read, 1);
    assert_true(s->tail.bytes_read < (uint64_t)st0.st_size / 4);
    assert_int_equal(s->last_ms, last * 1000); /* the last line is an emerg */
    assert_true(s->first_ms >= (last - 899) * 1000);
    /* examples: the newest 3, newest first */
    {
        const struct rg_nginx_errkind_sum *k = &s->kinds[RG_NGINX_KIND_TIMEOUT_HEADER];
        assert_int_equal(k->n_examples, RG_NGINX_EXAMPLES);
        assert_true(k->examples[0].time_ms > k->examples[1].time_ms);
        assert_true(k->examples[1].time_ms > k->examples[2].time_ms);
        assert_int_equal(k->last_ms, k->examples[0].time_ms);
        assert_non_null(strstr(k->examples[0].text, "(110: Operation timed out)"));
        assert_int_equal(s->kinds[RG_NGINX_KIND_NO_ROUTE].count, 0);
        assert_int_equal(s->kinds[RG_NGINX_KIND_NO_ROUTE].n_examples, 0);
    }
    /* upstreams: .3 has every timeout and half the refusals, .4 the other half */
    assert_int_equal(s->n_upstreams, 2);
    assert_string_equal(s->upstreams[0].addr, "172.18.0.3:8069");
    assert_string_equal(s->upstreams[1].addr, "172.18.0.4:8069");
    assert_int_equal(s->upstreams[0].per_kind[RG_NGINX_KIND_TIMEOUT_HEADER], 112);
    assert_int_equal(s->upstreams[0].per_kind[RG_NGINX_KIND_REFUSED], 56);
    assert_int_equal(s->upstreams[1].per_kind[RG_NGINX_KIND_REFUSED], 56);
    assert_int_equal(s->upstreams[1].count, 56);

    /* since before both files: everything, across the rotation */
    assert_int_equal(rg_nginx_errlog_scan(s, paths, (start - 7200) * 1000, 0, &err), 0);
    assert_int_equal(s->in_window, 4100);
    assert_int_equal(s->tail.files_read, 2);
    assert_false(s->tail.stopped);
    assert_int_equal(s->first_ms, (start - 3600) * 1000);
    /* no since, and a bound */
    assert_int_equal(rg_nginx_errlog_scan(s, paths, 0, 10000, &err), 0);
    assert_true(s->tail.cut);
    assert_true(s->in_window > 50 && s->in_window < 100);
    /* the first file missing */
    paths[0] = "/nonexistent/error.log";
    assert_int_equal(rg_nginx_errlog_scan(s, paths, 0, 0, &err), RG_ENOENT);
    free(s);
    free(p0);
    free(p1);
}

static void
test_access_scan(void **state)
{
    struct fixture *f = *state;
    char *p = path_in(f, "access.log");
    const char *paths[] = {p, NULL};
    struct rg_nginx_accsum *s = rg_calloc(1, sizeof(*s));
    struct rg_err err = {0};
    struct rg_buf b;
    int64_t start = T_UTC_MS / 1000;
    int n = 2000;

    rg_buf_init(&b, 64 << 20);
    /* one request a second; every 10th a 502 from .4 after a retry on .3 (both failed),
     * every 50th a 504 with no upstream answer, one 499; request time i % 100 ms, and a slow
     * one of 30 s; some combined-format lines without times; some garbage */
    for (int i = 0; i < n; i++) {
        time_t tt = (time_t)(start + i);
        struct tm tm;
        char ts[40];

        gmtime_r(&tt, &tm);
        strftime(ts, sizeof(ts), "%d/%b/%Y:%H:%M:%S +0000", &tm);
        if (i % 50 == 25)
            rg_buf_addf(&b,
                        "10.0.0.1 - - [%s] \"GET /x HTTP/1.1\" 504 167 \"-\" \"c\" "
                        "rt=60.000 uct=- uht=- urt=60.000 ua=172.18.0.3:8069 us=504\n",
                        ts);
        else if (i % 10 == 5)
            rg_buf_addf(&b,
                        "10.0.0.1 - - [%s] \"GET /web HTTP/1.1\" 502 157 \"-\" \"c\" "
                        "rt=0.%03d uct=0.001, - uht=-, - urt=0.001, 0.000 "
                        "ua=172.18.0.3:8069, 172.18.0.4:8069 us=502, 502\n",
                        ts, i % 100);
        else if (i == n - 7)
            rg_buf_addf(&b,
                        "10.0.0.1 - - [%s] \"POST /web/dataset/call_kw HTTP/1.1\" 200 9 "
                        "\"-\" \"c\" rt=30.000 uct=0.000 uht=29.999 urt=30.000 "
                        "ua=172.18.0.3:8069 us=200\n",
                        ts);
        else if (i == n - 3)
            rg_buf_addf(&b,
                        "10.0.0.1 - - [%s] \"GET /longpoll HTTP/1.1\" 499 0 \"-\" \"c\" "
                        "rt=0.050 uct=0.000 uht=- urt=0.050 ua=172.18.0.3:8069 us=-\n",
                        ts);
        else if (i % 7 == 0)
            rg_buf_addf(&b,
                        "10.0.0.2 - - [%s] \"GET /static/x.css HTTP/1.1\" 304 0 \"-\" "
                        "\"c\"\n",
                        ts);
        else
            rg_buf_addf(&b,
                        "10.0.0.1 - - [%s] \"GET /web HTTP/1.1\" 200 100 \"-\" \"c\" "
                        "rt=0.%03d uct=0.000 uht=0.%03d urt=0.%03d ua=172.18.0.3:8069 "
                        "us=200\n",
                        ts, i % 100, i % 100, i % 100);
        if (i % 333 == 0)
            rg_buf_adds(&b, "\x16\x03\x01 garbage\n");
    }
    write_file(p, b.data, b.len);

    /* the last 1000 seconds */
    assert_int_equal(rg_nginx_access_scan(s, paths, (start + n - 1000) * 1000, 0, &err), 0);
    assert_int_equal(s->requests, 1000);
    assert_int_equal(s->first_ms, (start + n - 1000) * 1000);
    assert_int_equal(s->last_ms, (start + n - 1) * 1000);
    assert_int_equal(s->s504, 20);
    assert_int_equal(s->s502, 80);
    assert_int_equal(s->s499, 1);
    assert_int_equal(s->s503, 0);
    assert_int_equal(s->per_class[5], 100);
    assert_int_equal(s->per_class[4], 1);
    assert_int_equal(s->per_class[2] + s->per_class[3], 899);
    assert_true(s->per_class[3] > 100);
    assert_int_equal(s->rollgate_format, 1000 - s->per_class[3]);
    /* upstreams: .3 took every request with a rollgate line; 502/504 split by attempt */
    assert_int_equal(s->n_upstreams, 2);
    assert_string_equal(s->upstreams[0].addr, "172.18.0.3:8069");
    assert_int_equal(s->upstreams[0].s502, 80);
    assert_int_equal(s->upstreams[0].s504, 20);
    assert_int_equal(s->upstreams[0].s5xx, 100);
    assert_string_equal(s->upstreams[1].addr, "172.18.0.4:8069");
    assert_int_equal(s->upstreams[1].s502, 80);
    assert_int_equal(s->upstreams[1].attempts, 80);
    /* latency: 0..99 ms mostly, 20 of 60 s, one of 30 s */
    assert_true(s->p50_ms >= 45 && s->p50_ms <= 55);
    assert_true(s->p99_ms >= 59000 && s->p99_ms <= 61000);
    assert_int_equal(s->max_ms, 60000);
    assert_int_equal(s->n_slowest, RG_NGINX_SLOWEST);
    assert_int_equal(s->slowest[0].request_ms, 60000);
    assert_int_equal(s->slowest[0].status, 504);
    /* the newest of the 60 s ones comes first among equals */
    assert_true(s->slowest[0].time_ms > s->slowest[1].time_ms);
    assert_string_equal(s->slowest[0].request, "GET /x HTTP/1.1");
    assert_string_equal(s->slowest[0].upstream, "172.18.0.3:8069");
    assert_true(s->tail.stopped);
    assert_true(s->garbage >= 3);

    /* all of it, with the 30 s request among the slowest? No: twenty 60 s ones come first */
    assert_int_equal(rg_nginx_access_scan(s, paths, 0, 0, &err), 0);
    assert_int_equal(s->requests, (uint64_t)n);
    assert_int_equal(s->s504, 40);
    assert_false(s->tail.stopped);
    /* nothing in the window */
    assert_int_equal(rg_nginx_access_scan(s, paths, (start + n + 3600) * 1000, 0, &err), 0);
    assert_int_equal(s->requests, 0);
    assert_int_equal(s->p50_ms, -1);
    assert_int_equal(s->max_ms, -1);
    assert_int_equal(s->lines, 1);
    rg_buf_release(&b);
    free(s);
    free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errlog_kinds),
        cmocka_unit_test(test_errlog_fields),
        cmocka_unit_test(test_errlog_tail_quotes),
        cmocka_unit_test(test_errlog_garbage),
        cmocka_unit_test(test_errlog_time_tz),
        cmocka_unit_test(test_access_combined),
        cmocka_unit_test(test_access_rollgate),
        cmocka_unit_test(test_access_unknown_and_garbage),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test_setup_teardown(test_logtail_chunks, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(test_logtail_long_line, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(test_logtail_rotated, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(test_errlog_scan, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(test_access_scan, fs_setup, fs_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
