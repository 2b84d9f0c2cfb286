/* bench_diagnose_logs: diagnose's scan of the last 15 minutes of ~1 GB of nginx error and
 * access logs, against a plain read of the same bytes from the same files in the same run.
 * Prints a markdown section; --write FILE replaces its section of docs/BENCHMARKS.md. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diagnose/nginx_log.h"
#include "rollgate/util.h"

#ifndef RG_BENCH_BUILD
#define RG_BENCH_BUILD "unknown"
#endif

#define DEFAULT_REPS 5
#define MAX_REPS 100
#define DEFAULT_MB 1024
#define WINDOW_MIN 15
#define ACCESS_RATE 200  /* requests a second in the generated access log */
#define ERROR_RATE 50    /* lines a second in the generated error log */
#define ERROR_SHARE 4    /* the error log is 1/ERROR_SHARE of the bytes */
#define TARGET_MS 2000.0 /* both scans together */
#define TARGET_RSS_KB (20 * 1024)
#define SCAN_MAX_BYTES ((size_t)512 << 20) /* the bound diagnose would pass */
#define GEN_BUF (1 << 20)
#define SECTION "## nginx logs: diagnose's scan of the last 15 minutes"
#define DOC_MAX (1024 * 1024)
#define REPRODUCE                                                                                  \
    "cmake --build build --target bench_diagnose_logs && build/bench/bench_diagnose_logs"

/* Exit codes: the target was met, missed, or the benchmark could not run. */
enum { EXIT_MET = 0, EXIT_MISSED = 1, EXIT_BROKEN = 2 };

struct logfile {
    char *path;
    uint64_t size;
    uint64_t lines;
    int64_t last_ms; /* time of its newest line */
};

struct bench {
    char dir[256];
    bool generated;
    struct logfile err, acc;
    int64_t since_err, since_acc; /* each log's newest line minus the window */
    int reps;
    /* [rep]: wall ms */
    double *raw_back, *raw_fwd, *split, *scan_err, *scan_acc, *scan_both;
    uint64_t bytes_err, bytes_acc; /* read by the scans */
    double cold_raw, cold_scan;    /* one run each after evicting the files from the cache */
    double worst;                  /* one scan of both without since, up to SCAN_MAX_BYTES */
    uint64_t worst_bytes;
    long rss_before_kb, rss_kb;
    struct rg_nginx_errsum *es;
    struct rg_nginx_accsum *as;
};

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int failf(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
failf(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return -1;
}

static long
max_rss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* kilobytes on Linux */
}

/* ---- generating the logs ---- */

struct gen {
    int fd;
    char *buf;
    size_t len;
    uint64_t written;
};

static int
gen_flush(struct gen *g, const char *path, char *why, size_t size)
{
    struct rg_err err = {0};

    if (g->len && rg_fs_write_all(g->fd, g->buf, g->len, path, &err) < 0)
        return failf(why, size, "%s", err.msg);
    g->written += g->len;
    g->len = 0;
    return 0;
}

static const char *const paths_pool[] = {
    "/web",
    "/web/dataset/call_kw/res.partner/search_read",
    "/longpolling/poll",
    "/web/static/src/js/boot.js",
    "/web/image/res.users/2/avatar_128",
    "/xmlrpc/2/object",
    "/shop/cart/update_json",
    "/web/action/load",
};

/* One access line, number i at ms: mostly 200s in the rollgate format, some combined lines, and
 * in the last 20 minutes before end_s a 502/504 storm from one upstream. */
static int
fmt_access(char *buf, size_t size, uint64_t i, int64_t ms, int64_t end_s)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char ts[40];
    int storm = ms > (end_s - 20 * 60) * 1000, st = 200, rt = (int)(i * 7919 % 180) + 3;
    const char *path = paths_pool[i % 8];

    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (storm && i % 9 == 0) {
        st = i % 2 ? 502 : 504;
        rt = st == 504 ? 60000 : 1;
    }
    if (i % 13 == 0)
        return snprintf(buf, size,
                        "172.18.0.1 - - [%s] \"GET %s HTTP/1.1\" 304 0 \"-\" \"Mozilla/5.0 "
                        "(X11; Linux x86_64)\"\n",
                        ts, path);
    return snprintf(buf, size,
                    "172.18.0.1 - - [%s] \"POST %s HTTP/1.1\" %d %d \"https://odoo."
                    "example.com/web\" \"Mozilla/5.0 (X11; Linux x86_64)\" rt=%d.%03d "
                    "uct=0.000 uht=%d.%03d urt=%d.%03d ua=172.18.0.%d:8069 us=%d\n",
                    ts, path, st, st == 200 ? 1520 : 157, rt / 1000, rt % 1000, rt / 1000,
                    rt % 1000, rt / 1000, rt % 1000, st == 200 ? 3 : 4, st);
}

/* One error line, cycling through the causes, in local time as nginx writes it. */
static int
fmt_error(char *buf, size_t size, uint64_t i, int64_t ms, int64_t end_s)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char ts[32];
    const char *path = paths_pool[i % 8];
    unsigned long long c = (unsigned long long)i;
    int ip = 3 + (int)(i % 2);

    (void)end_s;
    localtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y/%m/%d %H:%M:%S", &tm);
    switch (i % 6) {
    case 0:
        return snprintf(buf, size,
                        "%s [error] 31#31: *%llu connect() failed (111: Connection refused) "
                        "while connecting to upstream, client: 172.18.0.1, server: odoo."
                        "example.com, request: \"POST %s HTTP/1.1\", upstream: \"http://172.18"
                        ".0.%d:8069%s\", host: \"odoo.example.com\"\n",
                        ts, c, path, ip, path);
    case 1:
        return snprintf(buf, size,
                        "%s [error] 31#31: *%llu upstream timed out (110: Connection timed out) "
                        "while reading response header from upstream, client: 172.18.0.1, "
                        "server: odoo.example.com, request: \"POST %s HTTP/1.1\", upstream: "
                        "\"http://172.18.0.%d:8069%s\", host: \"odoo.example.com\"\n",
                        ts, c, path, ip, path);
    case 2:
        return snprintf(buf, size,
                        "%s [warn] 31#31: *%llu an upstream response is buffered to a temporary "
                        "file /var/cache/nginx/proxy_temp/1/00/0000000%03llu while reading "
                        "upstream, client: 172.18.0.1, server: odoo.example.com, request: "
                        "\"GET %s HTTP/1.1\", upstream: \"http://172.18.0.%d:8069%s\"\n",
                        ts, c, c % 1000, path, ip, path);
    case 3:
        return snprintf(buf, size,
                        "%s [error] 31#31: *%llu upstream prematurely closed connection while "
                        "reading response header from upstream, client: 172.18.0.1, server: "
                        "odoo.example.com, request: \"GET %s HTTP/1.1\", upstream: "
                        "\"http://172.18.0.%d:8069%s\", host: \"odoo.example.com\"\n",
                        ts, c, path, ip, path);
    case 4:
        return snprintf(buf, size,
                        "%s [error] 31#31: *%llu recv() failed (104: Connection reset by peer) "
                        "while reading response header from upstream, client: 172.18.0.1, "
                        "server: odoo.example.com, request: \"GET %s HTTP/1.1\", upstream: "
                        "\"http://172.18.0.%d:8069%s\", host: \"odoo.example.com\"\n",
                        ts, c, path, ip, path);
    default:
        return snprintf(buf, size,
                        "%s [info] 31#31: *%llu client closed connection while waiting for "
                        "request, client: 172.18.0.1, server: 0.0.0.0:443\n",
                        ts, c);
    }
}

#define SAMPLE 4096 /* lines formatted to learn the average length */

/* Writes about target bytes of lines, rate a second, the last one near end_s: the count comes
 * from the average length of a sample, and times run forward from the start. Each log's window
 * is then taken from its own newest line. */
static int
gen_log(struct logfile *lf, uint64_t target, int64_t end_s, int rate,
        int (*fmt)(char *buf, size_t size, uint64_t i, int64_t ms, int64_t end_s), char *why,
        size_t size)
{
    struct gen g = {.fd = -1};
    uint64_t sample = 0, n_est;
    int64_t start_ms;
    int rc = -1;

    g.buf = rg_malloc(GEN_BUF + 1024);
    for (uint64_t i = 0; i < SAMPLE; i++)
        sample += (uint64_t)fmt(g.buf, 1024, i, end_s * 1000, end_s);
    n_est = target * SAMPLE / sample;
    start_ms = end_s * 1000 - (int64_t)(n_est * 1000 / (uint64_t)rate);
    if ((g.fd = open(lf->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        failf(why, size, "cannot create '%s': %s", lf->path, strerror(errno));
        goto out;
    }
    for (uint64_t i = 0; g.written + g.len < target; i++) {
        int64_t ms = start_ms + (int64_t)(i * 1000 / (uint64_t)rate);

        g.len += (size_t)fmt(g.buf + g.len, 1024, i, ms, end_s);
        lf->lines++;
        lf->last_ms = ms;
        if (g.len >= GEN_BUF && gen_flush(&g, lf->path, why, size) < 0)
            goto out;
    }
    if (gen_flush(&g, lf->path, why, size) < 0)
        goto out;
    if (fdatasync(g.fd) < 0) {
        failf(why, size, "cannot sync '%s': %s", lf->path, strerror(errno));
        goto out;
    }
    lf->size = g.written;
    rc = 0;
out:
    if (g.fd >= 0)
        close(g.fd);
    free(g.buf);
    return rc;
}

/* Generates both logs in a child, so its buffers never count in this process's peak RSS. The
 * child reports the files' facts through a pipe. */
static int
generate(struct bench *b, uint64_t total, char *why, size_t size)
{
    int fds[2] = {-1, -1}, status = 0, rc = -1;
    int64_t end_s = rg_wall_ms() / 1000;
    struct logfile facts[2];
    pid_t pid;

    if (pipe(fds) < 0)
        return failf(why, size, "cannot make a pipe: %s", strerror(errno));
    fflush(NULL);
    if ((pid = fork()) < 0) {
        failf(why, size, "cannot fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        char cwhy[512] = "";
        close(fds[0]);
        if (gen_log(&b->err, total / ERROR_SHARE, end_s, ERROR_RATE, fmt_error, cwhy,
                    sizeof(cwhy)) < 0 ||
            gen_log(&b->acc, total - total / ERROR_SHARE, end_s, ACCESS_RATE, fmt_access, cwhy,
                    sizeof(cwhy)) < 0) {
            fprintf(stderr, "bench_diagnose_logs: %s\n", cwhy);
            _exit(1);
        }
        facts[0] = b->err;
        facts[1] = b->acc;
        if (write(fds[1], facts, sizeof(facts)) != (ssize_t)sizeof(facts))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    fds[1] = -1;
    if (read(fds[0], facts, sizeof(facts)) != (ssize_t)sizeof(facts)) {
        failf(why, size, "generating the logs failed");
        goto out;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        failf(why, size, "generating the logs failed");
        goto out;
    }
    b->err.size = facts[0].size;
    b->err.lines = facts[0].lines;
    b->err.last_ms = facts[0].last_ms;
    b->acc.size = facts[1].size;
    b->acc.lines = facts[1].lines;
    b->acc.last_ms = facts[1].last_ms;
    rc = 0;
out:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return rc;
}

/* Facts of existing logs (--dir): sizes, and the newest line's time from the scans. */
static int
stat_log(struct logfile *lf, char *why, size_t size)
{
    struct stat st;

    if (stat(lf->path, &st) < 0)
        return failf(why, size, "cannot stat '%s': %s", lf->path, strerror(errno));
    lf->size = (uint64_t)st.st_size;
    return 0;
}

/* ---- measuring ---- */

/* What a plain reader pays: the last n bytes of path read backwards in the same 64 KiB
 * chunks (forward: one seek then sequential reads, what `tail -c` does). */
static int
raw_read(double *ms_out, const char *path, uint64_t n, bool backwards, char *why, size_t size)
{
    static char buf[RG_LOGTAIL_CHUNK];
    struct stat st;
    volatile unsigned sink = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    double t0 = now_ms();
    off_t end, start, pos;

    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return failf(why, size, "cannot open '%s': %s", path, strerror(errno));
    }
    end = st.st_size;
    start = (uint64_t)end > n ? end - (off_t)n : 0;
    pos = backwards ? end : start;
    while (backwards ? pos > start : pos < end) {
        size_t want = RG_LOGTAIL_CHUNK;
        off_t at;
        ssize_t r;

        if (backwards) {
            if ((off_t)want > pos - start)
                want = (size_t)(pos - start);
            at = pos - (off_t)want;
        } else {
            if ((off_t)want > end - pos)
                want = (size_t)(end - pos);
            at = pos;
        }
        if ((r = pread(fd, buf, want, at)) <= 0) {
            close(fd);
            return failf(why, size, "cannot read '%s'", path);
        }
        sink += (unsigned char)buf[0];
        pos = backwards ? at : pos + r;
    }
    *ms_out = now_ms() - t0;
    close(fd);
    (void)sink;
    return 0;
}

static int
count_line(const char *line, size_t len, void *data)
{
    (void)line;
    (*(uint64_t *)data) += len;
    return 0;
}

/* The reader alone: the same bytes split into lines, handed to a callback that does nothing. */
static int
split_only(double *ms_out, const char *path, uint64_t n, char *why, size_t size)
{
    const char *paths[] = {path, NULL};
    struct rg_logtail_stats st;
    struct rg_err err = {0};
    uint64_t sum = 0;
    double t0 = now_ms();

    if (rg_logtail_read(&st, paths, (size_t)n, count_line, &sum, &err) < 0)
        return failf(why, size, "%s", err.msg);
    *ms_out = now_ms() - t0;
    return 0;
}

static int
scan(struct bench *b, double *err_ms, double *acc_ms, char *why, size_t size)
{
    const char *ep[] = {b->err.path, NULL}, *ap[] = {b->acc.path, NULL};
    struct rg_err err = {0};
    double t0 = now_ms(), t1;

    if (rg_nginx_errlog_scan(b->es, ep, b->since_err, SCAN_MAX_BYTES, &err) < 0)
        return failf(why, size, "%s", err.msg);
    t1 = now_ms();
    if (rg_nginx_access_scan(b->as, ap, b->since_acc, SCAN_MAX_BYTES, &err) < 0)
        return failf(why, size, "%s", err.msg);
    *err_ms = t1 - t0;
    *acc_ms = now_ms() - t1;
    b->bytes_err = b->es->tail.bytes_read;
    b->bytes_acc = b->as->tail.bytes_read;
    return 0;
}

/* Drops the files' pages from the page cache (only these files), for one cold run. */
static void
evict(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

static int
measure(struct bench *b, char *why, size_t size)
{
    double e, a, r1, r2;

    /* A first scan, not counted, finds how many bytes the window spans. */
    if (scan(b, &e, &a, why, size) < 0)
        return -1;
    for (int r = 0; r < b->reps; r++) {
        if (raw_read(&r1, b->err.path, b->bytes_err, true, why, size) < 0 ||
            raw_read(&r2, b->acc.path, b->bytes_acc, true, why, size) < 0)
            return -1;
        b->raw_back[r] = r1 + r2;
        if (raw_read(&r1, b->err.path, b->bytes_err, false, why, size) < 0 ||
            raw_read(&r2, b->acc.path, b->bytes_acc, false, why, size) < 0)
            return -1;
        b->raw_fwd[r] = r1 + r2;
        if (split_only(&r1, b->err.path, b->bytes_err, why, size) < 0 ||
            split_only(&r2, b->acc.path, b->bytes_acc, why, size) < 0)
            return -1;
        b->split[r] = r1 + r2;
        if (scan(b, &b->scan_err[r], &b->scan_acc[r], why, size) < 0)
            return -1;
        b->scan_both[r] = b->scan_err[r] + b->scan_acc[r];
    }
    /* Cold: from the disk, as on a server whose logs are not in memory. */
    evict(b->err.path);
    evict(b->acc.path);
    if (raw_read(&r1, b->err.path, b->bytes_err, true, why, size) < 0 ||
        raw_read(&r2, b->acc.path, b->bytes_acc, true, why, size) < 0)
        return -1;
    b->cold_raw = r1 + r2;
    evict(b->err.path);
    evict(b->acc.path);
    if (scan(b, &e, &a, why, size) < 0)
        return -1;
    b->cold_scan = e + a;
    /* Worst case: no window to stop at, only the byte bound. */
    {
        int64_t se = b->since_err, sa = b->since_acc;
        b->since_err = b->since_acc = 0;
        if (scan(b, &e, &a, why, size) < 0)
            return -1;
        b->worst = e + a;
        b->worst_bytes = b->bytes_err + b->bytes_acc;
        b->since_err = se;
        b->since_acc = sa;
        if (scan(b, &e, &a, why, size) < 0) /* the window's summaries again, for the report */
            return -1;
    }
    b->rss_kb = max_rss_kb();
    return 0;
}

static int
cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;

    return (a > b) - (a < b);
}

/* Median, minimum and maximum of n values (n ≥ 1); v is left unchanged. */
static double
stats(const double *v, int n, double *min_out, double *max_out)
{
    double *s = rg_malloc((size_t)n * sizeof(*s));
    double med;

    memcpy(s, v, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    if (min_out)
        *min_out = s[0];
    if (max_out)
        *max_out = s[n - 1];
    free(s);
    return med;
}

/* ---- reporting ---- */

static void
machine_facts(struct rg_buf *out)
{
    char *line = NULL, model[128] = "unknown";
    size_t cap = 0;
    struct utsname u;
    FILE *fp = fopen("/proc/cpuinfo", "r");

    if (fp) {
        while (getline(&line, &cap, fp) > 0) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) != 0 || !colon)
                continue;
            colon++;
            colon += strspn(colon, " \t");
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(model, sizeof(model), "%s", colon);
            break;
        }
        free(line);
        fclose(fp);
    }
    rg_buf_addf(out, "%s, %ld CPUs online", model, sysconf(_SC_NPROCESSORS_ONLN));
    if (uname(&u) == 0)
        rg_buf_addf(out, ", %s %s", u.sysname, u.release);
}

static void
row(struct rg_buf *out, const char *what, const double *v, int n)
{
    double lo, hi, med = stats(v, n, &lo, &hi);

    rg_buf_addf(out, "| %s | %.1f ms | %.1f–%.1f ms |\n", what, med, lo, hi);
}

static double
mb(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* The section, from its heading to its last line; ends with one newline. */
static void
format_section(struct rg_buf *out, const struct bench *b, bool *met)
{
    char date[64] = "unknown";
    time_t t = time(NULL);
    struct tm tm;
    double scan = stats(b->scan_both, b->reps, NULL, NULL);
    double raw = stats(b->raw_back, b->reps, NULL, NULL);
    double split = stats(b->split, b->reps, NULL, NULL);
    bool t_ok = scan <= TARGET_MS, r_ok = b->rss_kb <= TARGET_RSS_KB;
    const struct rg_nginx_errsum *es = b->es;
    const struct rg_nginx_accsum *as = b->as;

    if (gmtime_r(&t, &tm))
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
    rg_buf_adds(out, SECTION "\n\n");
    if (b->generated)
        rg_buf_addf(out,
                    "What: an nginx error log (%.0f MB, %llu lines, %d a second, local time) and "
                    "access log (%.0f MB, %llu lines in the rollgate format with some combined "
                    "ones, %d requests a second) generated in a temporary directory, ending "
                    "about now, with a 502/504 storm in the last 20 minutes; the window of each "
                    "is the %d minutes before its newest line. ",
                    mb(b->err.size), (unsigned long long)b->err.lines, ERROR_RATE, mb(b->acc.size),
                    (unsigned long long)b->acc.lines, ACCESS_RATE, WINDOW_MIN);
    else
        rg_buf_addf(out, "What: the logs of %s (error %.0f MB, access %.0f MB). ", b->dir,
                    mb(b->err.size), mb(b->acc.size));
    rg_buf_addf(out,
                "(c) is what `rollgate diagnose` does for its last %d minutes: "
                "`rg_nginx_errlog_scan` and `rg_nginx_access_scan` read each file backwards "
                "in 64 KiB chunks, parse every line, and stop %d s before the window; they read "
                "%.1f MB of the error log and %.1f MB of the access log. The limit (a) is a "
                "plain backward read of the same bytes from the same files, in the same chunks; "
                "(a') the same bytes read forward (what `tail -c` does); (b) the line reader "
                "alone (lines split and handed to a callback that does nothing). Warm page "
                "cache, medians over %d repetitions after one uncounted scan; one cold run "
                "after `posix_fadvise(DONTNEED)` on the two files. Peak RSS is the process's "
                "`ru_maxrss` after all runs (the logs are generated by a child). Targets: (c) "
                "≤ %.0f s and peak RSS ≤ %d MB, whatever the files' size.\n\n",
                WINDOW_MIN, RG_NGINX_SINCE_SLACK_MS / 1000, mb(b->bytes_err), mb(b->bytes_acc),
                b->reps, TARGET_MS / 1000, TARGET_RSS_KB / 1024);
    rg_buf_addf(out, "Run: %s on ", date);
    machine_facts(out);
    rg_buf_addf(out, "; build %s.  \nReproduce: `%s`\n\n", RG_BENCH_BUILD, REPRODUCE);
    rg_buf_adds(out, "| measure | median | min–max |\n|---|---:|---:|\n");
    row(out, "(a) backward read of the same bytes (limit)", b->raw_back, b->reps);
    row(out, "(a') forward read of the same bytes", b->raw_fwd, b->reps);
    row(out, "(b) line reader alone", b->split, b->reps);
    row(out, "(c) error log scan", b->scan_err, b->reps);
    row(out, "(c) access log scan", b->scan_acc, b->reps);
    row(out, "**(c) both scans**", b->scan_both, b->reps);
    rg_buf_addf(out, "| cold: (a) backward read | %.1f ms | |\n", b->cold_raw);
    rg_buf_addf(out, "| cold: (c) both scans | %.1f ms | |\n", b->cold_scan);
    rg_buf_addf(out,
                "| worst case: both scans without a window, %.0f MB read (bound %zu MB a log) "
                "| %.1f ms | |\n",
                mb(b->worst_bytes), SCAN_MAX_BYTES >> 20, b->worst);
    rg_buf_addf(out, "| scan throughput (c) | %.0f MB/s | |\n",
                mb(b->bytes_err + b->bytes_acc) / (scan / 1000.0));
    rg_buf_addf(out, "| peak RSS (before the scans: %ld KB) | %ld KB | |\n\n", b->rss_before_kb,
                b->rss_kb);
    rg_buf_addf(out,
                "What the scans found: error log %llu lines in the window (%llu refused, %llu "
                "timed out reading the header, %llu prematurely closed, %llu reset; %d upstream "
                "addresses); access log %llu requests (%llu 502, %llu 504; p50 %lld ms, p99 "
                "%lld ms).\n\n",
                (unsigned long long)es->in_window,
                (unsigned long long)es->kinds[RG_NGINX_KIND_REFUSED].count,
                (unsigned long long)es->kinds[RG_NGINX_KIND_TIMEOUT_HEADER].count,
                (unsigned long long)es->kinds[RG_NGINX_KIND_PREMATURE_CLOSE].count,
                (unsigned long long)es->kinds[RG_NGINX_KIND_RESET].count, es->n_upstreams,
                (unsigned long long)as->requests, (unsigned long long)as->s502,
                (unsigned long long)as->s504, (long long)as->p50_ms, (long long)as->p99_ms);
    rg_buf_adds(out, "| target | value | result |\n|---|---:|---|\n");
    rg_buf_addf(out, "| (c) both scans ≤ %.0f ms | %.1f ms | %s |\n", TARGET_MS, scan,
                t_ok ? "met" : "MISSED");
    rg_buf_addf(out, "| peak RSS ≤ %d MB | %.1f MB | %s |\n", TARGET_RSS_KB / 1024,
                (double)b->rss_kb / 1024.0, r_ok ? "met" : "MISSED");
    rg_buf_addf(out, "| (c)/(a), the cost of parsing over reading (informational) | %.1f | — |\n",
                raw > 0 ? scan / raw : 0.0);
    rg_buf_addf(out, "| (b)/(a), the line reader over reading (informational) | %.2f | — |\n",
                raw > 0 ? split / raw : 0.0);
    *met = t_ok && r_ok;
}

static const char doc_header[] =
    "# Benchmarks\n"
    "\n"
    "rollgate shows performance with benchmarks, not timed tests. A benchmark measures the raw "
    "limit of what it exercises in the same run, on the same machine, and reports its result as "
    "a ratio against that limit, so numbers from different machines compare and a regression "
    "shows as a ratio above its target (the benchmark then exits non-zero).\n"
    "\n"
    "Each section below is written by one program in `bench/` and states what it measures, the "
    "machine (CPU model from /proc/cpuinfo, CPUs online), the date and the command that "
    "reproduces it. A run replaces its own section and keeps the others. Run every benchmark "
    "with `bench/run.sh` (a release build in `build/`).\n";

/* Reads path into out; a missing file leaves out empty. */
static int
read_doc(struct rg_buf *out, const char *path, char *why, size_t size)
{
    char chunk[8192];
    size_t r;
    FILE *fp = fopen(path, "r");

    if (!fp) {
        if (errno == ENOENT)
            return 0;
        return failf(why, size, "cannot open '%s': %s", path, strerror(errno));
    }
    while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        rg_buf_add(out, chunk, r);
    if (ferror(fp)) {
        fclose(fp);
        return failf(why, size, "cannot read '%s'", path);
    }
    fclose(fp);
    if (out->truncated)
        return failf(why, size, "'%s' is larger than %d bytes", path, DOC_MAX);
    return 0;
}

/* Where a line starting with "## " begins at or after from, or len. */
static size_t
next_heading(const char *s, size_t len, size_t from)
{
    for (size_t i = from; i + 3 <= len; i++)
        if ((i == 0 || s[i - 1] == '\n') && strncmp(s + i, "## ", 3) == 0)
            return i;
    return len;
}

/* Where the line SECTION begins, or len. */
static size_t
find_section(const char *s, size_t len)
{
    size_t at = 0, hlen = strlen(SECTION);

    while ((at = next_heading(s, len, at)) < len) {
        if (strncmp(s + at, SECTION, hlen) == 0 &&
            (at + hlen == len || s[at + hlen] == '\n' || s[at + hlen] == '\r'))
            return at;
        at++;
    }
    return len;
}

/* Temp file in the same directory, fsync, rename, fsync the directory. */
static int
replace_file(const char *path, const char *data, size_t len, char *why, size_t size)
{
    char *tmp = rg_asprintf("%s.tmpXXXXXX", path), *dir_copy = rg_strdup(path);
    struct stat st;
    mode_t mode = 0644;
    int fd = -1, dfd = -1, rc = -1;
    size_t off = 0;

    if (stat(path, &st) == 0)
        mode = st.st_mode & 07777;
    if ((fd = mkstemp(tmp)) < 0) {
        failf(why, size, "cannot create a temporary file next to '%s': %s", path, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            failf(why, size, "cannot write '%s': %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        failf(why, size, "cannot sync '%s': %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) < 0) {
        failf(why, size, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0'; /* renamed: nothing to remove */
    if ((dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
        fsync(dfd);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    if (rc < 0 && tmp[0])
        unlink(tmp);
    free(tmp);
    free(dir_copy);
    return rc;
}

/* Replaces this benchmark's section of path, or appends it; creates the file with its header. */
static int
write_doc(const char *path, const struct rg_buf *section, char *why, size_t size)
{
    struct rg_buf old, doc;
    size_t start, end, keep;
    int rc;

    rg_buf_init(&old, DOC_MAX);
    rg_buf_init(&doc, 2 * DOC_MAX);
    if ((rc = read_doc(&old, path, why, size)) < 0)
        goto out;
    if (old.len == 0)
        rg_buf_adds(&old, doc_header);
    start = find_section(old.data, old.len);
    end = start < old.len ? next_heading(old.data, old.len, start + 1) : old.len;
    /* One blank line before the heading, whatever the text before it ended with. */
    keep = start;
    while (keep > 0 && old.data[keep - 1] == '\n')
        keep--;
    rg_buf_add(&doc, old.data, keep);
    if (keep > 0)
        rg_buf_adds(&doc, "\n\n");
    rg_buf_add(&doc, section->data, section->len);
    if (end < old.len) {
        rg_buf_adds(&doc, "\n");
        rg_buf_add(&doc, old.data + end, old.len - end);
    }
    rc = replace_file(path, doc.data, doc.len, why, size);
out:
    rg_buf_release(&old);
    rg_buf_release(&doc);
    return rc;
}

/* Within 2 % of want. */
static bool
near(double got, double want)
{
    return got >= want * 0.98 && got <= want * 1.02;
}

static void
usage(FILE *fp)
{
    fprintf(fp,
            "usage: bench_diagnose_logs [--reps N] [--size MB] [--dir DIR] [--write FILE]\n"
            "  --reps N      repetitions of each measurement (default %d)\n"
            "  --size MB     megabytes of logs to generate (default %d)\n"
            "  --dir DIR     scan DIR/error.log and DIR/access.log instead of generating them\n"
            "  --write FILE  replace the section '%s' of FILE (docs/BENCHMARKS.md)\n"
            "exit: 0 targets met, 1 a target missed, 2 the benchmark could not run\n",
            DEFAULT_REPS, DEFAULT_MB, &SECTION[3]);
}

static int
parse_num(long long *out, const char *opt, const char *s, long long max)
{
    struct rg_err err = {0};

    if (rg_int_parse(out, s, 1, max, &err) < 0) {
        fprintf(stderr, "bench_diagnose_logs: %s: %s\n", opt, err.msg);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct bench b = {.reps = DEFAULT_REPS};
    struct rg_buf section;
    const char *write_path = NULL, *dir = NULL;
    long long size_mb = DEFAULT_MB, n;
    char why[1024] = "";
    int status = EXIT_BROKEN;
    bool met = false;

    rg_buf_init(&section, DOC_MAX);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--write") == 0 && i + 1 < argc) {
            write_path = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            if (parse_num(&n, "--reps", argv[++i], MAX_REPS) < 0)
                return EXIT_BROKEN;
            b.reps = (int)n;
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            if (parse_num(&size_mb, "--size", argv[++i], 1 << 20) < 0)
                return EXIT_BROKEN;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_MET;
        } else {
            fprintf(stderr, "bench_diagnose_logs: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_BROKEN;
        }
    }
    b.raw_back = rg_calloc((size_t)b.reps, sizeof(double));
    b.raw_fwd = rg_calloc((size_t)b.reps, sizeof(double));
    b.split = rg_calloc((size_t)b.reps, sizeof(double));
    b.scan_err = rg_calloc((size_t)b.reps, sizeof(double));
    b.scan_acc = rg_calloc((size_t)b.reps, sizeof(double));
    b.scan_both = rg_calloc((size_t)b.reps, sizeof(double));
    b.es = rg_calloc(1, sizeof(*b.es));
    b.as = rg_calloc(1, sizeof(*b.as));
    if (dir) {
        snprintf(b.dir, sizeof(b.dir), "%s", dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(b.dir, sizeof(b.dir), "%s/rg-bench-logs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(b.dir)) {
            failf(why, sizeof(why), "cannot make a temporary directory: %s", strerror(errno));
            b.dir[0] = '\0';
            goto out;
        }
        b.generated = true;
    }
    b.err.path = rg_asprintf("%s/error.log", b.dir);
    b.acc.path = rg_asprintf("%s/access.log", b.dir);
    if (b.generated) {
        double t0 = now_ms();
        if (generate(&b, (uint64_t)size_mb << 20, why, sizeof(why)) < 0)
            goto out;
        fprintf(stderr, "bench_diagnose_logs: generated %.0f MB in %.1f s\n",
                mb(b.err.size + b.acc.size), (now_ms() - t0) / 1000);
        b.since_err = b.err.last_ms - WINDOW_MIN * 60 * 1000;
        b.since_acc = b.acc.last_ms - WINDOW_MIN * 60 * 1000;
    } else {
        if (stat_log(&b.err, why, sizeof(why)) < 0 || stat_log(&b.acc, why, sizeof(why)) < 0)
            goto out;
        b.since_err = b.since_acc = rg_wall_ms() - WINDOW_MIN * 60 * 1000;
    }
    b.rss_before_kb = max_rss_kb();
    if (measure(&b, why, sizeof(why)) < 0)
        goto out;
    if (b.generated && (!near((double)b.as->requests, WINDOW_MIN * 60.0 * ACCESS_RATE) ||
                        !near((double)b.es->in_window, WINDOW_MIN * 60.0 * ERROR_RATE))) {
        failf(why, sizeof(why),
              "the scans found %llu requests and %llu error lines in the window, not about "
              "%d and %d: the generator or the scans are wrong",
              (unsigned long long)b.as->requests, (unsigned long long)b.es->in_window,
              WINDOW_MIN * 60 * ACCESS_RATE, WINDOW_MIN * 60 * ERROR_RATE);
        goto out;
    }
    format_section(&section, &b, &met);
    fputs(section.data, stdout);
    if (write_path) {
        if (write_doc(write_path, &section, why, sizeof(why)) < 0)
            goto out;
        printf("\nwrote section '%s' of %s\n", &SECTION[3], write_path);
    }
    if (!met) {
        snprintf(why, sizeof(why), "a target was missed (see the table)");
        status = EXIT_MISSED;
        goto out;
    }
    status = EXIT_MET;
out:
    if (b.generated) {
        struct rg_err err = {0};
        if (rg_fs_remove_tree(b.dir, &err) < 0)
            fprintf(stderr, "bench_diagnose_logs: %s\n", err.msg);
    }
    if (why[0])
        fprintf(stderr, "bench_diagnose_logs: %s\n", why);
    rg_buf_release(&section);
    free(b.err.path);
    free(b.acc.path);
    free(b.raw_back);
    free(b.raw_fwd);
    free(b.split);
    free(b.scan_err);
    free(b.scan_acc);
    free(b.scan_both);
    free(b.es);
    free(b.as);
    return status;
}
