/* nginx access-log lines ("combined" and rollgate's format with request and upstream times),
 * and a fixed-size summary of the last minutes: statuses, upstream 5xx, latency quantiles. */
#include <stdlib.h>
#include <string.h>

#include "diagnose/nginx_log.h"
#include "rollgate/util.h"

#define LIT(s) s, sizeof(s) - 1
#define LIST_MAX 16 /* upstream attempts of one request looked at */

/* ---- helpers ---- */

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static struct rg_nginx_str
trim(const char *s, const char *e)
{
    struct rg_nginx_str r;

    while (s < e && *s == ' ')
        s++;
    while (e > s && e[-1] == ' ')
        e--;
    r.s = s;
    r.len = (size_t)(e - s);
    return r;
}

size_t
rg_nginx_list_split(struct rg_nginx_str *items, size_t max, struct rg_nginx_str list)
{
    const char *p = list.s, *end = list.s + list.len, *start = p;
    size_t n = 0;

    if (!p)
        return 0;
    /* Separators: "," between servers of a group, " : " between groups (an internal
     * redirect). A ':' without blanks around it belongs to an address (unix:, [::1]:80). */
    for (;;) {
        size_t skip = 0;

        if (p == end)
            skip = 0;
        else if (*p == ',')
            skip = 1;
        else if (*p == ' ' && end - p >= 3 && p[1] == ':' && p[2] == ' ')
            skip = 3;
        else {
            p++;
            continue;
        }
        struct rg_nginx_str it = trim(start, p);
        if (it.len > 0) {
            if (n < max)
                items[n] = it;
            n++;
        }
        if (p == end)
            break;
        p += skip;
        start = p;
    }
    return n;
}

int64_t
rg_nginx_parse_secs_ms(struct rg_nginx_str s)
{
    const char *p = s.s, *end = s.s + s.len;
    int64_t sec = 0, ms = 0;
    int frac = 0;

    if (!p || p == end || !is_digit(*p))
        return -1;
    while (p < end && is_digit(*p)) {
        if (sec > 100000000) /* three years: not a request time */
            return -1;
        sec = sec * 10 + (*p++ - '0');
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && is_digit(*p)) {
            if (frac < 3) {
                ms = ms * 10 + (*p - '0');
                frac++;
            }
            p++;
        }
    }
    if (p != end)
        return -1;
    while (frac++ < 3)
        ms *= 10;
    return sec * 1000 + ms;
}

/* The last item of a list of times ("0.001, 0.002 : 0.010" → 0.010), in ms. */
static int64_t
last_secs_ms(struct rg_nginx_str s)
{
    const char *p;

    if (!s.s)
        return -1;
    for (p = s.s + s.len; p > s.s && p[-1] != ',' && p[-1] != ':'; p--)
        ;
    return rg_nginx_parse_secs_ms(trim(p, s.s + s.len));
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
num(const char *p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "01/Dec/2026:11:42:44 +0000]" (27 bytes at p) → Unix ms and the offset in minutes. */
static bool
time_local(int64_t *ms_out, int *off_out, const char *p)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int day = num(p, 2), year = num(p + 7, 4), hour = num(p + 12, 2), min = num(p + 15, 2),
        sec = num(p + 18, 2), off = num(p + 22, 4), mon = 0;

    if (p[2] != '/' || p[6] != '/' || p[11] != ':' || p[14] != ':' || p[17] != ':' ||
        p[20] != ' ' || (p[21] != '+' && p[21] != '-') || p[26] != ']' || day < 1 || day > 31 ||
        year < 0 || hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60 ||
        off < 0 || off % 100 > 59)
        return false;
    for (mon = 0; mon < 12; mon++)
        if (memcmp(p + 3, months + 3 * mon, 3) == 0)
            break;
    if (mon == 12)
        return false;
    off = (off / 100 * 60 + off % 100) * (p[21] == '-' ? -1 : 1);
    *off_out = off;
    *ms_out = ((days_from_civil(year, mon + 1, day) * 86400 + hour * 3600 + min * 60 + sec) -
               (int64_t)off * 60) *
              1000;
    return true;
}

/* A quoted field at *pp (after blanks): its contents; *pp moves past the closing quote.
 * nginx escapes '"' inside access-log fields (\x22), so the next quote closes it. */
static bool
quoted(struct rg_nginx_str *out, const char **pp, const char *end)
{
    const char *p = *pp, *q;

    while (p < end && *p == ' ')
        p++;
    if (p >= end || *p != '"' || !(q = memchr(p + 1, '"', (size_t)(end - p - 1))))
        return false;
    out->s = p + 1;
    out->len = (size_t)(q - p - 1);
    *pp = q + 1;
    return true;
}

static void
split_request(struct rg_nginx_accline *out)
{
    const char *p = out->request.s, *end = p + out->request.len, *s1, *s2;

    if (!(s1 = memchr(p, ' ', out->request.len)))
        return;
    out->method.s = p;
    out->method.len = (size_t)(s1 - p);
    p = s1 + 1;
    s2 = memchr(p, ' ', (size_t)(end - p));
    out->path.s = p;
    out->path.len = (size_t)((s2 ? s2 : end) - p);
    if (s2) {
        out->protocol.s = s2 + 1;
        out->protocol.len = (size_t)(end - s2 - 1);
    }
}

/* The rollgate tail: " rt=… uct=… uht=… urt=… ua=… us=…", in any order. A value runs to the
 * blank before the next known key: upstream lists hold blanks but never '='. */
static void
parse_rollgate_tail(struct rg_nginx_accline *out, const char *p, const char *end)
{
    static const char *const keys[] = {"rt", "uct", "uht", "urt", "ua", "us"};
    struct rg_nginx_str vals[6] = {{NULL, 0}};
    int cur = -1;
    const char *vstart = NULL;

    for (const char *q = p; q < end; q++) {
        const char *k;
        int found = -1;

        if (*q != '=')
            continue;
        for (k = q; k > p && k[-1] != ' '; k--)
            ;
        if (k == p || k[-1] != ' ')
            continue;
        for (int i = 0; i < 6; i++)
            if ((size_t)(q - k) == strlen(keys[i]) && memcmp(k, keys[i], (size_t)(q - k)) == 0)
                found = i;
        if (found < 0)
            continue;
        if (cur >= 0)
            vals[cur] = trim(vstart, k);
        cur = found;
        vstart = q + 1;
    }
    if (cur >= 0)
        vals[cur] = trim(vstart, end);
    if (!vals[0].s)
        return;
    out->rollgate_format = true;
    out->request_ms = rg_nginx_parse_secs_ms(vals[0]);
    out->upstream_connect_ms = last_secs_ms(vals[1]);
    out->upstream_header_ms = last_secs_ms(vals[2]);
    out->upstream_response_ms = last_secs_ms(vals[3]);
    out->upstream_addr = vals[4];
    out->upstream_status = vals[5];
}

int
rg_nginx_access_parse(struct rg_nginx_accline *out, const char *line, size_t len)
{
    const char *end = line + len, *p = line, *t = NULL, *sp;
    long long bytes = 0;
    int status;

    memset(out, 0, sizeof(*out));
    out->line.s = line;
    out->line.len = len;
    out->body_bytes = -1;
    out->request_ms = out->upstream_connect_ms = out->upstream_header_ms =
        out->upstream_response_ms = -1;
    /* The first "[" that opens a valid $time_local. */
    while ((p = memchr(p, '[', (size_t)(end - p))) != NULL) {
        if (end - p >= 28 && time_local(&out->time_ms, &out->tz_offset_min, p + 1)) {
            t = p;
            break;
        }
        p++;
    }
    if (!t)
        return RG_EINVAL;
    if ((sp = memchr(line, ' ', (size_t)(t - line))) != NULL && sp > line) {
        out->remote_addr.s = line;
        out->remote_addr.len = (size_t)(sp - line);
    }
    p = t + 28;
    /* Best effort for other formats: the request is the next quoted field. */
    while (p < end && *p != '"')
        p++;
    if (!quoted(&out->request, &p, end))
        return RG_EINVAL;
    split_request(out);
    while (p < end && *p == ' ')
        p++;
    if (end - p < 3 || (status = num(p, 3)) < 100 || (end - p > 3 && p[3] != ' '))
        return RG_EINVAL;
    out->status = status;
    p += 3;
    while (p < end && *p == ' ')
        p++;
    if (p < end && is_digit(*p)) {
        while (p < end && is_digit(*p) && bytes < 1000000000000000LL)
            bytes = bytes * 10 + (*p++ - '0');
        out->body_bytes = bytes;
    } else if (p < end && *p == '-') {
        p++;
    }
    if (quoted(&out->referer, &p, end))
        quoted(&out->user_agent, &p, end);
    parse_rollgate_tail(out, p, end);
    return 0;
}

/* ---- the latency histogram ---- */

static int
bucket(int64_t ms)
{
    int lg, e;

    if (ms < 128)
        return ms < 0 ? 0 : (int)ms;
    lg = 63 - __builtin_clzll((unsigned long long)ms);
    e = lg - 6; /* 1.. : the value's top 7 bits are its mantissa, 64..127 */
    if (e > 24)
        return RG_NGINX_HIST_BUCKETS - 1;
    return 128 + (e - 1) * 64 + (int)(ms >> e) - 64;
}

static int64_t
bucket_high(int i)
{
    int e, m;

    if (i < 128)
        return i;
    e = (i - 128) / 64 + 1;
    m = (i - 128) % 64 + 64;
    return ((int64_t)(m + 1) << e) - 1;
}

void
rg_nginx_hist_add(struct rg_nginx_hist *h, int64_t ms)
{
    h->b[bucket(ms)]++;
    h->n++;
}

int64_t
rg_nginx_hist_quantile(const struct rg_nginx_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->n == 0)
        return -1;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    rank = (uint64_t)(q * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    for (int i = 0; i < RG_NGINX_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return bucket_high(i);
    }
    return bucket_high(RG_NGINX_HIST_BUCKETS - 1);
}

/* ---- the summary ---- */

struct accscan {
    struct rg_nginx_accsum *out;
    int64_t since_ms, stop_ms;
};

static struct rg_nginx_acc_upstream *
find_upstream(struct rg_nginx_accsum *out, struct rg_nginx_str addr)
{
    size_t n = addr.len < RG_NGINX_ADDR_MAX - 1 ? addr.len : RG_NGINX_ADDR_MAX - 1;
    struct rg_nginx_acc_upstream *u;

    for (int i = 0; i < out->n_upstreams; i++)
        if (strncmp(out->upstreams[i].addr, addr.s, n) == 0 && out->upstreams[i].addr[n] == '\0')
            return &out->upstreams[i];
    if (out->n_upstreams == RG_NGINX_UPSTREAMS)
        return NULL;
    u = &out->upstreams[out->n_upstreams++];
    memcpy(u->addr, addr.s, n);
    u->addr[n] = '\0';
    return u;
}

/* Each attempt's address with its own status ("a:1, b:2" / "502, 200"): the 5xx are the
 * upstream's that answered them (or nginx's own 502/504 for it). */
static void
count_upstreams(struct rg_nginx_accsum *out, const struct rg_nginx_accline *l)
{
    struct rg_nginx_str addrs[LIST_MAX], stats[LIST_MAX];
    size_t na, ns;

    if (!l->upstream_addr.s || (l->upstream_addr.len == 1 && l->upstream_addr.s[0] == '-'))
        return;
    na = rg_nginx_list_split(addrs, LIST_MAX, l->upstream_addr);
    ns = rg_nginx_list_split(stats, LIST_MAX, l->upstream_status);
    if (na > LIST_MAX)
        na = LIST_MAX;
    for (size_t i = 0; i < na; i++) {
        struct rg_nginx_acc_upstream *u = find_upstream(out, addrs[i]);
        int st = i < ns && stats[i].len == 3 ? num(stats[i].s, 3) : -1;

        if (!u) {
            out->upstreams_other++;
            continue;
        }
        if (st < 0 && i + 1 == na && ns == 0)
            st = l->status; /* no us=: the final status is the last attempt's */
        u->attempts++;
        if (st >= 500 && st <= 599) {
            u->s5xx++;
            u->s502 += st == 502;
            u->s503 += st == 503;
            u->s504 += st == 504;
        }
    }
}

static void
keep_slowest(struct rg_nginx_accsum *out, const struct rg_nginx_accline *l)
{
    int at = out->n_slowest;
    struct rg_nginx_slow *s;

    while (at > 0 && out->slowest[at - 1].request_ms < l->request_ms)
        at--;
    if (at >= RG_NGINX_SLOWEST)
        return;
    if (out->n_slowest < RG_NGINX_SLOWEST)
        out->n_slowest++;
    memmove(&out->slowest[at + 1], &out->slowest[at],
            (size_t)(out->n_slowest - 1 - at) * sizeof(out->slowest[0]));
    s = &out->slowest[at];
    s->time_ms = l->time_ms;
    s->request_ms = l->request_ms;
    s->status = l->status;
    rg_nginx_excerpt(s->request, sizeof(s->request), l->request.s, l->request.len);
    rg_nginx_excerpt(s->upstream, sizeof(s->upstream), l->upstream_addr.s ? l->upstream_addr.s : "",
                     l->upstream_addr.len);
}

static int
accscan_line(const char *line, size_t len, void *data)
{
    struct accscan *sc = data;
    struct rg_nginx_accsum *out = sc->out;
    struct rg_nginx_accline l;

    out->lines++;
    if (rg_nginx_access_parse(&l, line, len) < 0) {
        out->garbage++;
        return 0;
    }
    if (l.time_ms < sc->since_ms)
        return l.time_ms < sc->stop_ms;
    if (out->requests == 0 || l.time_ms < out->first_ms)
        out->first_ms = l.time_ms;
    if (out->requests == 0 || l.time_ms > out->last_ms)
        out->last_ms = l.time_ms;
    out->requests++;
    out->rollgate_format += l.rollgate_format;
    out->per_class[l.status >= 100 && l.status < 600 ? l.status / 100 : 0]++;
    out->s499 += l.status == 499;
    out->s502 += l.status == 502;
    out->s503 += l.status == 503;
    out->s504 += l.status == 504;
    if (l.request_ms >= 0) {
        rg_nginx_hist_add(&out->request_time, l.request_ms);
        if (l.request_ms > out->max_ms)
            out->max_ms = l.request_ms;
        keep_slowest(out, &l);
    }
    count_upstreams(out, &l);
    return 0;
}

static int
cmp_upstream(const void *pa, const void *pb)
{
    const struct rg_nginx_acc_upstream *a = pa, *b = pb;

    if (a->s5xx != b->s5xx)
        return a->s5xx < b->s5xx ? 1 : -1;
    if (a->attempts != b->attempts)
        return a->attempts < b->attempts ? 1 : -1;
    return strcmp(a->addr, b->addr);
}

int
rg_nginx_access_scan(struct rg_nginx_accsum *out, const char *const *paths, int64_t since_ms,
                     size_t max_bytes, struct rg_err *err)
{
    struct accscan sc = {.out = out};
    int rc;

    memset(out, 0, sizeof(*out));
    out->max_ms = -1;
    sc.since_ms = since_ms > 0 ? since_ms : INT64_MIN;
    sc.stop_ms = since_ms > 0 ? since_ms - RG_NGINX_SINCE_SLACK_MS : INT64_MIN;
    rc = rg_logtail_read(&out->tail, paths, max_bytes, accscan_line, &sc, err);
    out->p50_ms = rg_nginx_hist_quantile(&out->request_time, 0.50);
    out->p99_ms = rg_nginx_hist_quantile(&out->request_time, 0.99);
    qsort(out->upstreams, (size_t)out->n_upstreams, sizeof(out->upstreams[0]), cmp_upstream);
    return rc;
}
