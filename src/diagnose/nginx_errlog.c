/* nginx error-log lines: parsed into time, level, errno NUMBER, action and the cause of an
 * upstream failure, and summarised over the last minutes of a log read backwards. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagnose/nginx_log.h"
#include "rollgate/util.h"

#define LIT(s) s, sizeof(s) - 1

static const char *const level_names[] = {
    [RG_NGINX_EMERG] = "emerg", [RG_NGINX_ALERT] = "alert", [RG_NGINX_CRIT] = "crit",
    [RG_NGINX_ERROR] = "error", [RG_NGINX_WARN] = "warn",   [RG_NGINX_NOTICE] = "notice",
    [RG_NGINX_INFO] = "info",   [RG_NGINX_DEBUG] = "debug",
};
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) == RG_NGINX_LEVEL_COUNT,
               "a name per level");

static const char *const kind_names[] = {
    [RG_NGINX_KIND_OTHER] = "other",
    [RG_NGINX_KIND_REFUSED] = "connection refused",
    [RG_NGINX_KIND_TIMEOUT_CONNECT] = "timed out connecting",
    [RG_NGINX_KIND_TIMEOUT_HEADER] = "timed out reading response header",
    [RG_NGINX_KIND_TIMEOUT_OTHER] = "timed out",
    [RG_NGINX_KIND_RESET] = "connection reset",
    [RG_NGINX_KIND_PREMATURE_CLOSE] = "upstream prematurely closed connection",
    [RG_NGINX_KIND_NO_LIVE_UPSTREAMS] = "no live upstreams",
    [RG_NGINX_KIND_HOST_NOT_FOUND] = "host not found",
    [RG_NGINX_KIND_NO_ROUTE] = "no route to host",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == RG_NGINX_KIND_COUNT,
               "a name per kind");

/* The action texts nginx writes after "while " (ngx_http_upstream.c). */
static const char *const action_names[] = {
    [RG_NGINX_ACT_NONE] = "",
    [RG_NGINX_ACT_CONNECTING] = "connecting to upstream",
    [RG_NGINX_ACT_READING_HEADER] = "reading response header from upstream",
    [RG_NGINX_ACT_SENDING_REQUEST] = "sending request to upstream",
    [RG_NGINX_ACT_READING_UPSTREAM] = "reading upstream",
    [RG_NGINX_ACT_SSL_HANDSHAKE] = "SSL handshaking to upstream",
    [RG_NGINX_ACT_OTHER] = "other",
};
_Static_assert(sizeof(action_names) / sizeof(action_names[0]) == RG_NGINX_ACT_COUNT,
               "a name per action");

const char *
rg_nginx_level_name(enum rg_nginx_level level)
{
    return (unsigned)level < RG_NGINX_LEVEL_COUNT ? level_names[level] : "?";
}

const char *
rg_nginx_kind_name(enum rg_nginx_kind kind)
{
    return (unsigned)kind < RG_NGINX_KIND_COUNT ? kind_names[kind] : "?";
}

const char *
rg_nginx_action_name(enum rg_nginx_action action)
{
    return (unsigned)action < RG_NGINX_ACT_COUNT ? action_names[action] : "?";
}

void
rg_nginx_excerpt(char *dst, size_t size, const char *s, size_t len)
{
    static const char ell[] = "…";
    size_t n = len;

    if (size == 0)
        return;
    if (n >= size) {
        n = size > sizeof(ell) ? size - sizeof(ell) : 0;
        /* Back off a UTF-8 continuation byte so no character is split. */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[n] = '\0';
    if (n < len && size > sizeof(ell))
        memcpy(dst + n, ell, sizeof(ell)); /* sizeof(ell) counts the NUL */
}

struct rg_nginx_str
rg_nginx_upstream_addr(struct rg_nginx_str up)
{
    const char *p = up.s, *end = up.s + up.len, *q;
    struct rg_nginx_str r = {NULL, 0};

    if (!p)
        return r;
    if ((q = memmem(p, up.len, LIT("://"))) != NULL)
        p = q + 3;
    if ((size_t)(end - p) > 5 && memcmp(p, "unix:", 5) == 0) {
        q = memchr(p + 5, ':', (size_t)(end - p - 5));
    } else {
        q = memchr(p, '/', (size_t)(end - p));
    }
    r.s = p;
    r.len = (size_t)((q ? q : end) - p);
    return r;
}

void
rg_nginx_clock_init(struct rg_nginx_clock *c)
{
    c->key = -1;
    c->minute_ms = 0;
}

/* ---- one line ---- */

static const char *
find(const char *p, const char *end, const char *needle, size_t n)
{
    return p < end ? memmem(p, (size_t)(end - p), needle, n) : NULL;
}

/* The last occurrence of needle in [p, end), or NULL. */
static const char *
find_last(const char *p, const char *end, const char *needle, size_t n)
{
    const char *last = NULL, *q;

    while ((q = find(p, end, needle, n)) != NULL) {
        last = q;
        p = q + 1;
    }
    return last;
}

/* Reads 1 to 18 digits at *pp into *v. */
static bool
digits(long long *v, const char **pp, const char *end)
{
    const char *p = *pp;
    long long x = 0;

    while (p < end && *p >= '0' && *p <= '9' && p - *pp < 18)
        x = x * 10 + (*p++ - '0');
    if (p == *pp)
        return false;
    *v = x;
    *pp = p;
    return true;
}

static int
two(const char *p)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* "2026/12/01 11:42:44" in local time → Unix ms, mktime once per minute through clock. */
static int
local_time(int64_t *ms_out, const char *p, struct rg_nginx_clock *clock)
{
    int c1 = two(p), c2 = two(p + 2), mon = two(p + 5), day = two(p + 8), hour = two(p + 11),
        min = two(p + 14), sec = two(p + 17);
    long long key;

    if (c1 < 0 || c2 < 0 || p[4] != '/' || p[7] != '/' || p[10] != ' ' || p[13] != ':' ||
        p[16] != ':' || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
        min < 0 || min > 59 || sec < 0 || sec > 60)
        return -1;
    key = ((((c1 * 100LL + c2) * 100 + mon) * 100 + day) * 100 + hour) * 100 + min;
    if (!clock || clock->key != key) {
        struct tm tm = {0};
        time_t t;

        tm.tm_year = c1 * 100 + c2 - 1900;
        tm.tm_mon = mon - 1;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_min = min;
        tm.tm_isdst = -1; /* the zone's rules decide; an hour repeated at DST's end is ambiguous */
        /* Seconds are 0, so a valid time is never -1 (that is 23:59:59 of 1969-12-31). */
        if ((t = mktime(&tm)) == (time_t)-1)
            return -1;
        if (!clock) {
            *ms_out = ((int64_t)t + sec) * 1000;
            return 0;
        }
        clock->key = key;
        clock->minute_ms = (int64_t)t * 1000;
    }
    *ms_out = clock->minute_ms + (int64_t)sec * 1000;
    return 0;
}

/* At p: ", key: " with key in [a-z_]+? Sets the key and where its value starts. */
static bool
key_at(const char *p, const char *end, struct rg_nginx_str *key, const char **val)
{
    const char *k;

    if (end - p < 4 || p[0] != ',' || p[1] != ' ')
        return false;
    k = p += 2;
    while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '_'))
        p++;
    if (p == k || end - p < 2 || p[0] != ':' || p[1] != ' ')
        return false;
    key->s = k;
    key->len = (size_t)(p - k);
    *val = p + 2;
    return true;
}

static bool
str_is(struct rg_nginx_str s, const char *lit, size_t n)
{
    return s.len == n && memcmp(s.s, lit, n) == 0;
}

/* The ", client: …, server: …, request: "…", upstream: "…", host: "…"" tail. A quoted value
 * ends at the quote followed by the end or by the next ", key: ", so quotes and commas inside a
 * request line (written raw to the error log) stay in it. */
static void
parse_tail(struct rg_nginx_errline *out, const char *p, const char *end)
{
    struct rg_nginx_str key, val;
    const char *v, *next;

    while (p < end && key_at(p, end, &key, &v)) {
        struct rg_nginx_str k2;
        const char *v2;

        next = end;
        if (v < end && *v == '"') {
            const char *q = v + 1;
            while ((q = memchr(q, '"', (size_t)(end - q))) != NULL) {
                if (q + 1 == end || key_at(q + 1, end, &k2, &v2))
                    break;
                q++;
            }
            /* No closing quote: a cut line; keep what there is. */
            val.s = v + 1;
            val.len = (size_t)((q ? q : end) - val.s);
            next = q ? q + 1 : end;
        } else {
            const char *q = v;
            while ((q = find(q, end, LIT(", "))) != NULL && !key_at(q, end, &k2, &v2))
                q += 2;
            val.s = v;
            val.len = (size_t)((q ? q : end) - v);
            next = q ? q : end;
        }
        if (str_is(key, LIT("client")))
            out->client = val;
        else if (str_is(key, LIT("server")))
            out->server = val;
        else if (str_is(key, LIT("request")))
            out->request = val;
        else if (str_is(key, LIT("upstream")))
            out->upstream = val;
        else if (str_is(key, LIT("host")))
            out->host = val;
        p = next;
    }
}

static enum rg_nginx_action
classify_action(struct rg_nginx_str a)
{
    if (!a.s)
        return RG_NGINX_ACT_NONE;
    for (int i = RG_NGINX_ACT_CONNECTING; i < RG_NGINX_ACT_OTHER; i++)
        if (str_is(a, action_names[i], strlen(action_names[i])))
            return (enum rg_nginx_action)i;
    return RG_NGINX_ACT_OTHER;
}

/* The number of the last "(N: text)" in the message: nginx's "(%d: %s)" of errno. */
static int
find_errno(struct rg_nginx_str m)
{
    const char *end = m.s + m.len;

    for (const char *p = end; p > m.s;) {
        const char *q;
        long long v;

        p--;
        if (*p != '(')
            continue;
        q = p + 1;
        if (digits(&v, &q, end) && end - q >= 2 && q[0] == ':' && q[1] == ' ' && v > 0 &&
            v < 4096 && memchr(q, ')', (size_t)(end - q)))
            return (int)v;
    }
    return 0;
}

static enum rg_nginx_kind
timeout_kind(enum rg_nginx_action a)
{
    if (a == RG_NGINX_ACT_CONNECTING)
        return RG_NGINX_KIND_TIMEOUT_CONNECT;
    if (a == RG_NGINX_ACT_READING_HEADER)
        return RG_NGINX_KIND_TIMEOUT_HEADER;
    return RG_NGINX_KIND_TIMEOUT_OTHER;
}

static void
classify(struct rg_nginx_errline *out)
{
    const char *m = out->message.s, *mend = m + out->message.len, *q, *h;

    if (find(m, mend, LIT("no live upstreams"))) {
        out->kind = RG_NGINX_KIND_NO_LIVE_UPSTREAMS;
    } else if (find(m, mend, LIT("prematurely closed connection"))) {
        out->kind = RG_NGINX_KIND_PREMATURE_CLOSE;
    } else if ((q = find(m, mend, LIT("host not found in upstream \""))) != NULL) {
        out->kind = RG_NGINX_KIND_HOST_NOT_FOUND;
        h = q + sizeof("host not found in upstream \"") - 1;
        q = memchr(h, '"', (size_t)(mend - h));
        out->missing_host.s = h;
        out->missing_host.len = (size_t)((q ? q : mend) - h);
    } else if ((q = find(m, mend, LIT(" could not be resolved ("))) != NULL) {
        /* The resolver's "*1 odoo could not be resolved (3: Host not found)". */
        out->kind = RG_NGINX_KIND_HOST_NOT_FOUND;
        for (h = q; h > m && h[-1] != ' '; h--)
            ;
        out->missing_host.s = h;
        out->missing_host.len = (size_t)(q - h);
    } else {
        switch (out->sys_errno) {
        case RG_NGINX_ECONNREFUSED: out->kind = RG_NGINX_KIND_REFUSED; break;
        case RG_NGINX_ETIMEDOUT: out->kind = timeout_kind(out->action); break;
        case RG_NGINX_ECONNRESET: out->kind = RG_NGINX_KIND_RESET; break;
        case RG_NGINX_EHOSTUNREACH:
        case RG_NGINX_ENETUNREACH:
        case RG_NGINX_EHOSTDOWN: out->kind = RG_NGINX_KIND_NO_ROUTE; break;
        default:
            /* nginx's own words, not strerror's: its timers report without an errno on some
             * builds. */
            if (find(m, mend, LIT("upstream timed out")))
                out->kind = timeout_kind(out->action);
            else
                out->kind = RG_NGINX_KIND_OTHER;
        }
    }
}

/* " in FILE:LINE" ending the message: where a configuration error is. */
static void
find_conf_at(struct rg_nginx_errline *out)
{
    const char *m = out->message.s, *end = m + out->message.len;
    const char *in = find_last(m, end, LIT(" in ")), *colon, *p;
    long long v;

    if (!in)
        return;
    in += 4;
    colon = NULL;
    for (p = end; p > in; p--)
        if (p[-1] == ':') {
            colon = p - 1;
            break;
        }
    if (!colon || colon == in)
        return;
    p = colon + 1;
    if (!digits(&v, &p, end) || p != end)
        return;
    out->conf_at.s = in;
    out->conf_at.len = (size_t)(end - in);
}

int
rg_nginx_errlog_parse(struct rg_nginx_errline *out, const char *line, size_t len,
                      struct rg_nginx_clock *clock)
{
    const char *p, *end = line + len, *q, *tail, *w, *mend;
    long long v;
    int lvl;

    memset(out, 0, sizeof(*out));
    out->conn = -1;
    out->line.s = line;
    out->line.len = len;
    /* "2026/12/01 11:42:44 [e] 1#1:" is the shortest possible head. */
    if (len < 28 || local_time(&out->time_ms, line, clock) < 0 || line[19] != ' ' ||
        line[20] != '[')
        return RG_EINVAL;
    p = line + 21;
    if (!(q = memchr(p, ']', (size_t)(end - p) < 8 ? (size_t)(end - p) : 8)))
        return RG_EINVAL;
    for (lvl = 0; lvl < RG_NGINX_LEVEL_COUNT; lvl++)
        if ((size_t)(q - p) == strlen(level_names[lvl]) &&
            memcmp(p, level_names[lvl], (size_t)(q - p)) == 0)
            break;
    if (lvl == RG_NGINX_LEVEL_COUNT)
        return RG_EINVAL;
    out->level = (enum rg_nginx_level)lvl;
    p = q + 1;
    if (p >= end || *p++ != ' ' || !digits(&out->pid, &p, end) || p >= end || *p++ != '#' ||
        !digits(&out->tid, &p, end) || p >= end || *p++ != ':')
        return RG_EINVAL;
    if (p < end && *p == ' ')
        p++;
    if (p < end && *p == '*') {
        q = p + 1;
        if (digits(&v, &q, end) && (q == end || *q == ' ')) {
            out->conn = v;
            p = q < end ? q + 1 : q;
        }
    }
    tail = find(p, end, LIT(", client: "));
    mend = tail ? tail : end;
    if ((w = find_last(p, mend, LIT(" while "))) != NULL) {
        out->action_text.s = w + 7;
        out->action_text.len = (size_t)(mend - out->action_text.s);
        mend = w;
    }
    out->message.s = p;
    out->message.len = (size_t)(mend - p);
    if (tail)
        parse_tail(out, tail, end);
    out->action = classify_action(out->action_text);
    out->sys_errno = find_errno(out->message);
    classify(out);
    find_conf_at(out);
    return 0;
}

/* ---- the summary of a log's last minutes ---- */

struct errscan {
    struct rg_nginx_errsum *out;
    int64_t since_ms, stop_ms; /* count from since_ms; stop at a line before stop_ms */
    struct rg_nginx_clock clock;
};

static void
add_example(struct rg_nginx_errkind_sum *k, const struct rg_nginx_errline *l)
{
    if (k->count == 0 || l->time_ms < k->first_ms)
        k->first_ms = l->time_ms;
    if (k->count == 0 || l->time_ms > k->last_ms)
        k->last_ms = l->time_ms;
    k->count++;
    /* Lines come newest first: the first ones seen are the newest. */
    if (k->n_examples < RG_NGINX_EXAMPLES) {
        struct rg_nginx_example *ex = &k->examples[k->n_examples++];
        ex->time_ms = l->time_ms;
        rg_nginx_excerpt(ex->text, sizeof(ex->text), l->line.s, l->line.len);
    }
}

static void
count_upstream(struct rg_nginx_errsum *out, struct rg_nginx_str addr, enum rg_nginx_kind kind)
{
    struct rg_nginx_err_upstream *u = NULL;
    size_t n = addr.len < RG_NGINX_ADDR_MAX - 1 ? addr.len : RG_NGINX_ADDR_MAX - 1;

    for (int i = 0; i < out->n_upstreams; i++)
        if (strncmp(out->upstreams[i].addr, addr.s, n) == 0 && out->upstreams[i].addr[n] == '\0') {
            u = &out->upstreams[i];
            break;
        }
    if (!u) {
        if (out->n_upstreams == RG_NGINX_UPSTREAMS) {
            out->upstreams_other++;
            return;
        }
        u = &out->upstreams[out->n_upstreams++];
        memcpy(u->addr, addr.s, n);
        u->addr[n] = '\0';
    }
    u->count++;
    u->per_kind[kind]++;
}

static int
errscan_line(const char *line, size_t len, void *data)
{
    struct errscan *sc = data;
    struct rg_nginx_errsum *out = sc->out;
    struct rg_nginx_errline l;

    out->lines++;
    if (rg_nginx_errlog_parse(&l, line, len, &sc->clock) < 0) {
        out->garbage++;
        return 0;
    }
    if (l.time_ms < sc->since_ms)
        return l.time_ms < sc->stop_ms;
    out->in_window++;
    out->per_level[l.level]++;
    if (l.level == RG_NGINX_EMERG)
        add_example(&out->emerg, &l);
    if (l.level > RG_NGINX_ERROR)
        return 0;
    if (out->problems == 0 || l.time_ms < out->first_ms)
        out->first_ms = l.time_ms;
    if (out->problems == 0 || l.time_ms > out->last_ms)
        out->last_ms = l.time_ms;
    out->problems++;
    add_example(&out->kinds[l.kind], &l);
    if (l.kind == RG_NGINX_KIND_HOST_NOT_FOUND && !out->missing_host[0] && l.missing_host.s) {
        rg_nginx_excerpt(out->missing_host, sizeof(out->missing_host), l.missing_host.s,
                         l.missing_host.len);
        if (l.conf_at.s)
            rg_nginx_excerpt(out->missing_host_at, sizeof(out->missing_host_at), l.conf_at.s,
                             l.conf_at.len);
    }
    if (l.upstream.s)
        count_upstream(out, rg_nginx_upstream_addr(l.upstream), l.kind);
    return 0;
}

static int
cmp_upstream(const void *pa, const void *pb)
{
    const struct rg_nginx_err_upstream *a = pa, *b = pb;

    if (a->count != b->count)
        return a->count < b->count ? 1 : -1;
    return strcmp(a->addr, b->addr);
}

int
rg_nginx_errlog_scan(struct rg_nginx_errsum *out, const char *const *paths, int64_t since_ms,
                     size_t max_bytes, struct rg_err *err)
{
    struct errscan sc = {.out = out};
    int rc;

    memset(out, 0, sizeof(*out));
    sc.since_ms = since_ms > 0 ? since_ms : INT64_MIN;
    sc.stop_ms = since_ms > 0 ? since_ms - RG_NGINX_SINCE_SLACK_MS : INT64_MIN;
    rg_nginx_clock_init(&sc.clock);
    rc = rg_logtail_read(&out->tail, paths, max_bytes, errscan_line, &sc, err);
    qsort(out->upstreams, (size_t)out->n_upstreams, sizeof(out->upstreams[0]), cmp_upstream);
    return rc;
}
