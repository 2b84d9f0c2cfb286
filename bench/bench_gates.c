/* bench_gates: 20 HTTP gates probed through one rg_gates_poll, against the slowest of the same
 * gates probed alone, measured in the same run against local servers this program starts.
 * Prints a markdown table; --write FILE replaces its section of docs/BENCHMARKS.md. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rollgate/gates.h"
#include "rollgate/util.h"

#ifndef RG_BENCH_BUILD
#define RG_BENCH_BUILD "unknown"
#endif

#define N_GATES 20
#define DEFAULT_REPS 9
#define MAX_REPS 1000
#define TARGET_RATIO 1.5
#define SECTION "## Concurrent HTTP gates"
#define DOC_MAX (1024 * 1024) /* BENCHMARKS.md is a page of tables */
#define REPRODUCE                                                                                  \
    "cmake --build build --target bench_gates && build/bench/bench_gates --write "                 \
    "docs/BENCHMARKS.md"

/* Exit codes: the target was met, missed, or the benchmark could not run. */
enum { EXIT_MET = 0, EXIT_MISSED = 1, EXIT_BROKEN = 2 };

struct server {
    pid_t pid;
    int port;
    int delay_ms;
};

struct bench {
    struct server servers[N_GATES];
    struct rg_gate gates[N_GATES];
    const struct rg_gate *gate_ptrs[N_GATES];
    char names[N_GATES][16];
    char urls[N_GATES][64];
    int reps;
    double *single;  /* [gate * reps + rep]: wall ms of rg_gate_probe_once */
    double *poll;    /* [rep]: wall ms of rg_gates_poll over all gates */
    double *decided; /* [rep]: ms from the poll's start to its last gate's outcome */
};

/* What a run found, from medians over the repetitions. */
struct summary {
    double single_med[N_GATES];
    int slowest;            /* the gate whose median alone is the largest */
    double a, a_min, a_max; /* slowest single probe */
    double b, b_min, b_max; /* one poll of all gates */
    double c;               /* sum of the single medians: a sequential checker */
    double decided;         /* median of the poll's last outcome, from the poll's own clock */
    double ratio;           /* b / a */
    double speedup;         /* c / b */
};

static int
server_delay_ms(int i)
{
    return 20 + 5 * i;
}

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

/* ---- the local HTTP targets ---- */

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void
sleep_ms(int ms)
{
    struct timespec d = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&d, &d) < 0 && errno == EINTR)
        ;
}

/* A child's whole life: one connection at a time, the delay counted from the end of the request
 * head, so every probe of this server takes delay_ms plus the client's own overhead. */
static _Noreturn void
serve(int lfd, int delay_ms)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 3\r\nConnection: close\r\n\r\nok\n";
    static const char missing[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
    struct timeval rcv = {.tv_sec = 2};

    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        char req[4096];
        size_t got = 0;
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            _exit(1);
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
        req[0] = '\0';
        while (got < sizeof(req) - 1) {
            ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        if (strncmp(req, "GET /health ", 12) == 0) {
            sleep_ms(delay_ms);
            write_all(fd, ok, sizeof(ok) - 1);
        } else if (got > 0) {
            write_all(fd, missing, sizeof(missing) - 1);
        }
        close(fd);
    }
}

static void
stop_servers(struct server *sv, int n)
{
    for (int i = 0; i < n; i++)
        if (sv[i].pid > 0)
            kill(sv[i].pid, SIGKILL);
    for (int i = 0; i < n; i++) {
        if (sv[i].pid <= 0)
            continue;
        while (waitpid(sv[i].pid, NULL, 0) < 0 && errno == EINTR)
            ;
        sv[i].pid = 0;
    }
}

/* Forks one server per gate, each on its own ephemeral port of 127.0.0.1. The listening socket
 * is bound before the fork, so the port is known and connections queue from the start. */
static int
start_servers(struct server *sv, int n, char *why, size_t size)
{
    pid_t parent = getpid();

    fflush(NULL); /* nothing buffered may be written twice */
    for (int i = 0; i < n; i++) {
        struct sockaddr_in addr = {.sin_family = AF_INET};
        socklen_t len = sizeof(addr);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        sv[i].delay_ms = server_delay_ms(i);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
            listen(lfd, 64) < 0 || getsockname(lfd, (struct sockaddr *)&addr, &len) < 0) {
            failf(why, size, "cannot listen on 127.0.0.1 for server %d: %s", i, strerror(errno));
            if (lfd >= 0)
                close(lfd);
            return -1;
        }
        sv[i].port = ntohs(addr.sin_port);
        if ((sv[i].pid = fork()) < 0) {
            failf(why, size, "cannot fork server %d: %s", i, strerror(errno));
            sv[i].pid = 0;
            close(lfd);
            return -1;
        }
        if (sv[i].pid == 0) {
            /* A benchmark killed midway must not leave its servers behind. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(0);
            serve(lfd, sv[i].delay_ms);
        }
        close(lfd);
    }
    return 0;
}

/* ---- the gates, as the playbook loader would build them (schema.c gate_init) ---- */

static void
build_gates(struct bench *b)
{
    static int expect_200[] = {200};

    for (int i = 0; i < N_GATES; i++) {
        struct rg_gate *g = &b->gates[i];

        memset(g, 0, sizeof(*g));
        snprintf(b->names[i], sizeof(b->names[i]), "g%02d", i);
        snprintf(b->urls[i], sizeof(b->urls[i]), "http://127.0.0.1:%d/health", b->servers[i].port);
        g->name = b->names[i];
        g->kind = RG_GATE_HTTP;
        g->target = b->urls[i];
        g->expect = expect_200;
        g->n_expect = 1;
        g->timing.every_ms = 100;
        g->timing.within_ms = 5000;
        g->timing.need = 1;
        g->timing.timeout_ms = 2000;
        g->tls_verify = true;
        g->max_connections_used = -1;
        g->max_latency_ms = 0;
        b->gate_ptrs[i] = g;
    }
}

/* ---- measuring ---- */

static int
probe_alone(double *ms_out, const struct rg_gate *g, char *why, size_t size)
{
    struct rg_gate_env env = {0};
    struct rg_verdict v;
    struct rg_err err = {0};
    double t0 = now_ms();
    int rc = rg_gate_probe_once(&v, g, &env, &err);

    *ms_out = now_ms() - t0;
    if (rc < 0)
        return failf(why, size, "gate '%s' could not be probed: %s", g->name, err.msg);
    if (v.kind != RG_VERDICT_PASS)
        return failf(why, size, "gate '%s' did not pass alone: %s", g->name, v.summary);
    return 0;
}

static int
poll_all(double *ms_out, double *decided_out, const struct bench *b, char *why, size_t size)
{
    struct rg_poll_opts opts = {.once = true, .cancel_fd = -1};
    struct rg_gate_result results[N_GATES];
    struct rg_gate_env env = {0};
    struct rg_err err = {0};
    int64_t last = 0;
    double t0 = now_ms();
    int rc = rg_gates_poll(results, b->gate_ptrs, N_GATES, &env, &opts, &err);

    *ms_out = now_ms() - t0;
    if (rc < 0)
        return failf(why, size, "the poll of %d gates failed: %s", N_GATES, err.msg);
    for (int i = 0; i < N_GATES; i++)
        if (results[i].elapsed_ms > last)
            last = results[i].elapsed_ms;
    *decided_out = (double)last;
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

static void
summarize(struct summary *s, const struct bench *b)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < N_GATES; i++) {
        s->single_med[i] = stats(&b->single[i * b->reps], b->reps, NULL, NULL);
        s->c += s->single_med[i];
        if (s->single_med[i] > s->single_med[s->slowest])
            s->slowest = i;
    }
    s->a = stats(&b->single[s->slowest * b->reps], b->reps, &s->a_min, &s->a_max);
    s->b = stats(b->poll, b->reps, &s->b_min, &s->b_max);
    s->decided = stats(b->decided, b->reps, NULL, NULL);
    s->ratio = s->b / s->a;
    s->speedup = s->c / s->b;
}

/* Each repetition probes every gate alone, then polls them all, so both see the same machine
 * state; a first round that is not counted warms up libcurl and the servers. */
static int
measure(struct bench *b, char *why, size_t size)
{
    double ms, decided;

    if (probe_alone(&ms, b->gate_ptrs[0], why, size) < 0 ||
        poll_all(&ms, &decided, b, why, size) < 0)
        return -1;
    for (int r = 0; r < b->reps; r++) {
        for (int i = 0; i < N_GATES; i++)
            if (probe_alone(&b->single[i * b->reps + r], b->gate_ptrs[i], why, size) < 0)
                return -1;
        if (poll_all(&b->poll[r], &b->decided[r], b, why, size) < 0)
            return -1;
    }
    return 0;
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
    rg_buf_addf(out, ", libcurl %s", curl_version_info(CURLVERSION_NOW)->version);
}

/* The section, from its heading to its last line; ends with one newline. */
static void
format_section(struct rg_buf *out, const struct bench *b, const struct summary *s)
{
    char date[64] = "unknown";
    time_t t = time(NULL);
    struct tm tm;
    int slow = s->slowest;

    if (gmtime_r(&t, &tm))
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
    rg_buf_adds(out, SECTION "\n\n");
    rg_buf_addf(out,
                "What: %d HTTP gates (`GET /health`, expect 200, timeout 2s) against %d local "
                "servers the benchmark forks on 127.0.0.1 ephemeral ports; server *i* (0–%d) "
                "answers %d + 5·*i* ms after the request (%d–%d ms), so the gates have "
                "different latencies and one clear slowest. Each repetition probes every gate "
                "alone through `rg_gate_probe_once`, then all %d at once through one "
                "`rg_gates_poll` with `.once = true`; both are wall time around the library "
                "call, including the poller's setup. Medians over %d repetition%s after one "
                "warm-up round.\n\n",
                N_GATES, N_GATES, N_GATES - 1, server_delay_ms(0), server_delay_ms(0),
                server_delay_ms(N_GATES - 1), N_GATES, b->reps, b->reps == 1 ? "" : "s");
    rg_buf_addf(out,
                "The limit is the slowest single probe (a): a concurrent poll cannot finish "
                "before its slowest gate does. Target: (b)/(a) ≤ %.1f.\n\n",
                TARGET_RATIO);
    rg_buf_addf(out, "Run: %s on ", date);
    machine_facts(out);
    rg_buf_addf(out, "; build %s.  \nReproduce: `%s`\n\n", RG_BENCH_BUILD, REPRODUCE);
    rg_buf_adds(out, "| measure | median | min–max |\n|---|---:|---:|\n");
    rg_buf_addf(out,
                "| (a) slowest single probe (`%s`, server delay %d ms) | %.1f ms | "
                "%.1f–%.1f ms |\n",
                b->names[slow], b->servers[slow].delay_ms, s->a, s->a_min, s->a_max);
    rg_buf_addf(out, "| (b) %d gates in one poll | %.1f ms | %.1f–%.1f ms |\n", N_GATES, s->b,
                s->b_min, s->b_max);
    rg_buf_addf(out, "| last gate decided, on the poller's clock | %.0f ms | |\n", s->decided);
    rg_buf_addf(out, "| (c) sum of single probes (a sequential checker) | %.1f ms | |\n", s->c);
    rg_buf_addf(out, "| **ratio (b)/(a)**, target ≤ %.1f | **%.2f** | |\n", TARGET_RATIO, s->ratio);
    rg_buf_addf(out, "| speedup vs sequential (c)/(b) | %.1f× | |\n\n", s->speedup);
    rg_buf_addf(out, "Result: target %s (%.2f %s %.1f).\n",
                s->ratio <= TARGET_RATIO ? "met" : "MISSED", s->ratio,
                s->ratio <= TARGET_RATIO ? "≤" : ">", TARGET_RATIO);
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

/* Where the line "## Concurrent HTTP gates" begins, or len. */
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

static void
usage(FILE *fp)
{
    fprintf(fp,
            "usage: bench_gates [--reps N] [--write FILE]\n"
            "  --reps N      repetitions of each measurement (default %d)\n"
            "  --write FILE  replace the section '%s' of FILE (docs/BENCHMARKS.md)\n"
            "exit: 0 target met, 1 ratio above %.1f, 2 the benchmark could not run\n",
            DEFAULT_REPS, &SECTION[3], TARGET_RATIO);
}

int
main(int argc, char **argv)
{
    struct bench b = {.reps = DEFAULT_REPS};
    struct summary s;
    struct rg_buf section;
    const char *write_path = NULL;
    char why[1024] = "";
    int status = EXIT_BROKEN;

    rg_buf_init(&section, DOC_MAX);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--write") == 0 && i + 1 < argc) {
            write_path = argv[++i];
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            struct rg_err err = {0};
            long long n;
            if (rg_int_parse(&n, argv[++i], 1, MAX_REPS, &err) < 0) {
                fprintf(stderr, "bench_gates: --reps: %s\n", err.msg);
                return EXIT_BROKEN;
            }
            b.reps = (int)n;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_MET;
        } else {
            fprintf(stderr, "bench_gates: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_BROKEN;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench_gates: cannot initialise libcurl\n");
        return EXIT_BROKEN;
    }
    b.single = rg_calloc((size_t)N_GATES * (size_t)b.reps, sizeof(*b.single));
    b.poll = rg_calloc((size_t)b.reps, sizeof(*b.poll));
    b.decided = rg_calloc((size_t)b.reps, sizeof(*b.decided));
    if (start_servers(b.servers, N_GATES, why, sizeof(why)) < 0)
        goto out;
    build_gates(&b);
    if (measure(&b, why, sizeof(why)) < 0)
        goto out;
    stop_servers(b.servers, N_GATES);
    summarize(&s, &b);
    format_section(&section, &b, &s);
    fputs(section.data, stdout);
    if (write_path) {
        if (write_doc(write_path, &section, why, sizeof(why)) < 0)
            goto out;
        printf("\nwrote section '%s' of %s\n", &SECTION[3], write_path);
    }
    if (s.ratio > TARGET_RATIO) {
        snprintf(why, sizeof(why),
                 "ratio %.2f is above the target %.1f: polling %d gates took %.1f ms, the "
                 "slowest of them alone %.1f ms",
                 s.ratio, TARGET_RATIO, N_GATES, s.b, s.a);
        status = EXIT_MISSED;
        goto out;
    }
    status = EXIT_MET;
out:
    stop_servers(b.servers, N_GATES);
    if (why[0])
        fprintf(stderr, "bench_gates: %s\n", why);
    rg_buf_release(&section);
    free(b.single);
    free(b.poll);
    free(b.decided);
    curl_global_cleanup();
    return status;
}
