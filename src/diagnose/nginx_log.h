/* The nginx log readers of `rollgate diagnose`: a backward line reader for huge logs, parsers
 * of error-log and access-log lines, and bounded summaries of the last minutes of both. Pure
 * computation over files: nothing here spawns, prints or allocates more than a fixed amount. */
#ifndef ROLLGATE_DIAGNOSE_NGINX_LOG_H
#define ROLLGATE_DIAGNOSE_NGINX_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"

/* ---- backward line reader ---- */

#define RG_LOGTAIL_CHUNK (64 * 1024)    /* bytes per read */
#define RG_LOGTAIL_LINE_MAX (64 * 1024) /* a longer line is handed cut to its first bytes */

/* What a backward read did. */
struct rg_logtail_stats {
    uint64_t bytes_read;      /* bytes read from all files */
    uint64_t lines;           /* lines handed to the callback */
    uint64_t lines_truncated; /* of those, lines longer than RG_LOGTAIL_LINE_MAX, handed cut */
    int files_read;           /* files opened and read (at least partly) */
    int files_missing;        /* rotated files (after the first) that do not exist: skipped */
    int files_compressed;     /* paths ending in ".gz": skipped, they are not read */
    bool stopped;             /* the callback asked to stop */
    bool cut;                 /* max_bytes was reached before the oldest byte was read */
    bool shrunk;              /* a file became shorter while it was read (copytruncate) */
};

/* Reads the files of paths (NULL-terminated, newest first: "error.log", "error.log.1") from
 * their ends backwards in RG_LOGTAIL_CHUNK reads and calls fn with every non-empty line, newest
 * first, without its "\n" or "\r\n". line is NUL-terminated (len excludes the NUL) and valid
 * only during the call. fn returns 1 to stop (a line older than the window), 0 to go on.
 * Reading also stops once max_bytes (0: no bound) bytes were read from all files together; the
 * line in progress is then dropped and out->cut set. A line longer than RG_LOGTAIL_LINE_MAX is
 * handed as its first RG_LOGTAIL_LINE_MAX bytes. Memory: one buffer of CHUNK + LINE_MAX bytes.
 * Files after the first that do not exist are skipped, as are ".gz" files. Returns 0, RG_ENOENT
 * when the first file does not exist, RG_EINVAL when a path is not a regular file, RG_EIO when
 * one cannot be opened or read. out is filled in every case. */
int rg_logtail_read(struct rg_logtail_stats *out, const char *const *paths, size_t max_bytes,
                    int (*fn)(const char *line, size_t len, void *data), void *data,
                    struct rg_err *err);

/* ---- parsed lines: spans borrowed from the line they were parsed from ---- */

struct rg_nginx_str {
    const char *s; /* NULL when absent; not NUL-terminated */
    size_t len;
};

/* Linux errno numbers (musl and glibc share them; only their wording differs). */
enum {
    RG_NGINX_ENOENT = 2,
    RG_NGINX_EACCES = 13,
    RG_NGINX_ENETUNREACH = 101,
    RG_NGINX_ECONNRESET = 104,
    RG_NGINX_ETIMEDOUT = 110,
    RG_NGINX_ECONNREFUSED = 111,
    RG_NGINX_EHOSTDOWN = 112,
    RG_NGINX_EHOSTUNREACH = 113,
};

enum rg_nginx_level {
    RG_NGINX_EMERG,
    RG_NGINX_ALERT,
    RG_NGINX_CRIT,
    RG_NGINX_ERROR,
    RG_NGINX_WARN,
    RG_NGINX_NOTICE,
    RG_NGINX_INFO,
    RG_NGINX_DEBUG,
    RG_NGINX_LEVEL_COUNT
};

/* What nginx was doing: the text after " while ". */
enum rg_nginx_action {
    RG_NGINX_ACT_NONE,             /* no "while" */
    RG_NGINX_ACT_CONNECTING,       /* connecting to upstream */
    RG_NGINX_ACT_READING_HEADER,   /* reading response header from upstream */
    RG_NGINX_ACT_SENDING_REQUEST,  /* sending request to upstream */
    RG_NGINX_ACT_READING_UPSTREAM, /* reading upstream (the body) */
    RG_NGINX_ACT_SSL_HANDSHAKE,    /* SSL handshaking to upstream */
    RG_NGINX_ACT_OTHER,            /* anything else: see action_text */
    RG_NGINX_ACT_COUNT
};

/* The cause a line names, from the errno NUMBER and the action, never the strerror text. */
enum rg_nginx_kind {
    RG_NGINX_KIND_OTHER,
    RG_NGINX_KIND_REFUSED,           /* 111 */
    RG_NGINX_KIND_TIMEOUT_CONNECT,   /* 110 while connecting (504) */
    RG_NGINX_KIND_TIMEOUT_HEADER,    /* 110 while reading response header (504) */
    RG_NGINX_KIND_TIMEOUT_OTHER,     /* 110 while sending, reading the body, handshaking */
    RG_NGINX_KIND_RESET,             /* 104 */
    RG_NGINX_KIND_PREMATURE_CLOSE,   /* "upstream prematurely closed connection" */
    RG_NGINX_KIND_NO_LIVE_UPSTREAMS, /* "no live upstreams" */
    RG_NGINX_KIND_HOST_NOT_FOUND,    /* "host not found in upstream", "could not be resolved" */
    RG_NGINX_KIND_NO_ROUTE,          /* 113 (also 101, 112: unreachable) */
    RG_NGINX_KIND_COUNT
};

/* One error-log line:
 * 2026/12/01 11:42:44 [error] 31#31: *123 connect() failed (111: Connection refused) while
 * connecting to upstream, client: 172.18.0.1, server: _, request: "GET /web HTTP/1.1",
 * upstream: "http://172.18.0.3:8069/web", host: "localhost:8080" */
struct rg_nginx_errline {
    int64_t time_ms; /* nginx writes local time: converted with mktime in the process's TZ */
    enum rg_nginx_level level;
    long long pid, tid;
    long long conn; /* the *N connection number, -1 when absent */
    int sys_errno;  /* the number of "(111: …)", 0 when absent */
    enum rg_nginx_action action;
    enum rg_nginx_kind kind;
    struct rg_nginx_str message;     /* between "*N " and " while " (or the tail) */
    struct rg_nginx_str action_text; /* after "while " */
    /* The key/value tail, unquoted: client, server, request, upstream, host. */
    struct rg_nginx_str client, server, request, upstream, host;
    struct rg_nginx_str missing_host; /* host not found: "odoo:8069" */
    struct rg_nginx_str conf_at;      /* " in FILE:LINE" at the end: "/etc/nginx/x.conf:3" */
    struct rg_nginx_str line;         /* the whole line */
};

/* Caches mktime per minute of local time: one call per distinct minute, not per line. The
 * cache assumes TZ does not change while it is used; init again after changing it. */
struct rg_nginx_clock {
    long long key; /* yyyymmddhhmm of the cached minute, -1 when empty */
    int64_t minute_ms;
};
void rg_nginx_clock_init(struct rg_nginx_clock *c);

/* Parses one error-log line of len bytes (no NUL needed) into out, whose spans point into
 * line. clock may be NULL (mktime for each line). Returns 0, or RG_EINVAL (no message: callers
 * count and skip) when the line does not start with a time, a level and pid#tid. */
int rg_nginx_errlog_parse(struct rg_nginx_errline *out, const char *line, size_t len,
                          struct rg_nginx_clock *clock);

/* One access-log line, in nginx's "combined" format or the rollgate one (rollgate.conf):
 * log_format rollgate '$remote_addr - $remote_user [$time_local] "$request" $status
 *     $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time
 *     uct=$upstream_connect_time uht=$upstream_header_time urt=$upstream_response_time
 *     ua=$upstream_addr us=$upstream_status';
 * Times are milliseconds, -1 when unknown ("-" or absent). With several upstream attempts
 * ("0.001, 0.002 : 0.010") the upstream times are those of the last attempt. */
struct rg_nginx_accline {
    int64_t time_ms;   /* $time_local with its offset, as Unix ms */
    int tz_offset_min; /* the offset: +0100 is 60 */
    struct rg_nginx_str remote_addr, request, method, path, protocol, referer, user_agent;
    int status;           /* 0 when it could not be read */
    long long body_bytes; /* -1 when unknown */
    int64_t request_ms, upstream_connect_ms, upstream_header_ms, upstream_response_ms;
    struct rg_nginx_str upstream_addr;   /* raw list: "a:1, b:2" or "a:1 : b:2", "-" */
    struct rg_nginx_str upstream_status; /* raw list, parallel to upstream_addr */
    bool rollgate_format;                /* the rt=… tail was there */
    struct rg_nginx_str line;
};

/* Parses one access-log line. Formats other than these two are read best effort: the first
 * [$time_local], the quoted request after it and the status after that. Returns 0 or
 * RG_EINVAL (no message) when no time or status can be found. */
int rg_nginx_access_parse(struct rg_nginx_accline *out, const char *line, size_t len);

/* ---- small helpers shared by the readers and diagnose ---- */

/* Splits an upstream list ("a:1, b:2 : c:3") into at most max items; returns how many there
 * were (may exceed max: only max are stored). */
size_t rg_nginx_list_split(struct rg_nginx_str *items, size_t max, struct rg_nginx_str list);
/* "http://172.18.0.3:8069/web" → "172.18.0.3:8069"; "http://unix:/run/a.sock:/x" →
 * "unix:/run/a.sock"; "http://backend/x" → "backend". */
struct rg_nginx_str rg_nginx_upstream_addr(struct rg_nginx_str upstream);
/* Seconds with up to 3 decimals ("0.123", "12") → ms; "-" or garbage → -1. */
int64_t rg_nginx_parse_secs_ms(struct rg_nginx_str s);
/* Copies len bytes of s into dst (size bytes) as evidence text: control bytes become '?', and
 * a longer text is cut on a UTF-8 boundary and ends with "…". Always NUL-terminated. */
void rg_nginx_excerpt(char *dst, size_t size, const char *s, size_t len);
/* Short lowercase names, for output and JSON. */
const char *rg_nginx_kind_name(enum rg_nginx_kind kind);
const char *rg_nginx_level_name(enum rg_nginx_level level);
const char *rg_nginx_action_name(enum rg_nginx_action action);

/* ---- summaries of the last minutes: fixed size whatever the files hold ---- */

#define RG_NGINX_EXAMPLES 3   /* newest lines kept per kind */
#define RG_NGINX_EXCERPT 400  /* bytes of a line kept as evidence */
#define RG_NGINX_ADDR_MAX 96  /* bytes of an upstream address kept */
#define RG_NGINX_UPSTREAMS 32 /* distinct upstream addresses counted; more go to "other" */
#define RG_NGINX_SLOWEST 5    /* slowest requests kept */
#define RG_NGINX_SINCE_SLACK_MS                                                                    \
    30000 /* lines are read this far before since: workers write                                   \
           * lines slightly out of time order */

struct rg_nginx_example {
    int64_t time_ms;
    char text[RG_NGINX_EXCERPT]; /* the raw line, cut with "…" when longer */
};

struct rg_nginx_errkind_sum {
    uint64_t count;
    int64_t first_ms, last_ms; /* 0 when count is 0 */
    int n_examples;
    struct rg_nginx_example examples[RG_NGINX_EXAMPLES]; /* newest first */
};

struct rg_nginx_err_upstream {
    char addr[RG_NGINX_ADDR_MAX]; /* from the upstream field, as rg_nginx_upstream_addr */
    uint64_t count;
    uint64_t per_kind[RG_NGINX_KIND_COUNT];
};

struct rg_nginx_errsum {
    uint64_t lines, garbage; /* lines read; of those, not error-log lines */
    uint64_t in_window;      /* parsed lines at or after since */
    uint64_t per_level[RG_NGINX_LEVEL_COUNT];
    uint64_t problems;         /* lines in the window at level error or worse */
    int64_t first_ms, last_ms; /* of those problems, 0 when none */
    struct rg_nginx_errkind_sum kinds[RG_NGINX_KIND_COUNT];     /* problems per kind */
    struct rg_nginx_err_upstream upstreams[RG_NGINX_UPSTREAMS]; /* by count of problems */
    int n_upstreams;
    uint64_t upstreams_other;             /* problems of addresses past the table */
    struct rg_nginx_errkind_sum emerg;    /* [emerg] lines: configuration errors */
    char missing_host[RG_NGINX_ADDR_MAX]; /* newest "host not found" host, "" when none */
    char missing_host_at[256];            /* and its FILE:LINE */
    struct rg_logtail_stats tail;
};

/* Summarises the error logs of paths (newest first, see rg_logtail_read) from their end back
 * to since_ms (Unix ms; <= 0: everything), reading at most max_bytes (0: no bound). Lines
 * before since_ms are not counted; reading stops at the first line older than since_ms minus
 * RG_NGINX_SINCE_SLACK_MS. Returns 0 or rg_logtail_read's errors; out is filled either way. */
int rg_nginx_errlog_scan(struct rg_nginx_errsum *out, const char *const *paths, int64_t since_ms,
                         size_t max_bytes, struct rg_err *err);

/* A log-linear histogram of milliseconds: exact below 128 ms, within 1/64 (1.6 %) above, up to
 * 2^31 ms, about 24 days (longer values count in the last bucket). */
#define RG_NGINX_HIST_BUCKETS (128 + 24 * 64)
struct rg_nginx_hist {
    uint64_t n;
    uint64_t b[RG_NGINX_HIST_BUCKETS];
};
void rg_nginx_hist_add(struct rg_nginx_hist *h, int64_t ms);
/* The value at quantile q (0..1): the upper bound of the bucket holding it; -1 when empty. */
int64_t rg_nginx_hist_quantile(const struct rg_nginx_hist *h, double q);

struct rg_nginx_acc_upstream {
    char addr[RG_NGINX_ADDR_MAX];
    uint64_t attempts;               /* requests (or retries) sent to it */
    uint64_t s5xx, s502, s503, s504; /* of those, answered (by nginx or it) with these */
};

struct rg_nginx_slow {
    int64_t time_ms, request_ms;
    int status;
    char request[200];                /* "GET /web HTTP/1.1", cut */
    char upstream[RG_NGINX_ADDR_MAX]; /* raw upstream list, cut */
};

struct rg_nginx_accsum {
    uint64_t lines, garbage;
    uint64_t requests;        /* in the window */
    uint64_t rollgate_format; /* of those, lines with the rt=… tail */
    uint64_t per_class[6];    /* [status / 100] for 1xx..5xx; [0] anything else */
    uint64_t s499, s502, s503, s504;
    int64_t first_ms, last_ms;         /* of requests in the window, 0 when none */
    struct rg_nginx_hist request_time; /* requests with a known request time */
    int64_t p50_ms, p99_ms, max_ms;    /* -1 when no request time was known */
    struct rg_nginx_acc_upstream upstreams[RG_NGINX_UPSTREAMS];
    int n_upstreams;
    uint64_t upstreams_other;                       /* attempts of addresses past the table */
    struct rg_nginx_slow slowest[RG_NGINX_SLOWEST]; /* slowest first */
    int n_slowest;
    struct rg_logtail_stats tail;
};

/* Summarises access logs like rg_nginx_errlog_scan. out is about 20 KB (as is an errsum):
 * heap or static storage rather than a small stack. Returns 0 or rg_logtail_read's errors. */
int rg_nginx_access_scan(struct rg_nginx_accsum *out, const char *const *paths, int64_t since_ms,
                         size_t max_bytes, struct rg_err *err);

#endif
