/* When an nginx reload is in force. `nginx -s reload` only signals the master and returns: the
 * master then reads the configuration, forks new workers and tells the old ones to stop taking
 * connections. Until it has, a request may still reach an old worker and the upstream that was
 * there before (a 502 on a first deploy, whose old upstream serves nothing), and a gate that
 * passed on a new worker fails on the next request. So the workers are read from /proc: the
 * reload is in force once a master that forked a new worker has no old worker left that still
 * takes connections (an old one renames itself "is shutting down"). Reading /proc is the only
 * way that works the same for nginx on the host and in a container (same kernel, host pids). */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nginx_workers.h"

#define MAX_WORKERS 512
#define WORKER_TITLE "nginx: worker process"

struct worker {
    int pid;
    int ppid;
};

static int
read_small(char *buf, size_t size, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

/* The nginx workers that take connections (not shutting down), with their masters. */
static size_t
workers(struct worker *out, size_t max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)) && n < max) {
        char path[64], buf[256], *rp;
        int pid, ppid;
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid = (int)strtol(e->d_name, NULL, 10);
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        /* The title nginx sets is the whole first argument. */
        if (read_small(buf, sizeof(buf), path) <= 0 || strcmp(buf, WORKER_TITLE) != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (read_small(buf, sizeof(buf), path) <= 0 || !(rp = strrchr(buf, ')')) ||
            sscanf(rp + 1, " %*c %d", &ppid) != 1)
            continue;
        out[n++] = (struct worker){pid, ppid};
    }
    closedir(d);
    return n;
}

struct rg_nginx_workers {
    size_t n;
    struct worker w[];
};

static bool
has_pid(const struct worker *w, size_t n, int pid)
{
    for (size_t i = 0; i < n; i++)
        if (w[i].pid == pid)
            return true;
    return false;
}

static bool
has_master(const struct worker *w, size_t n, int ppid)
{
    for (size_t i = 0; i < n; i++)
        if (w[i].ppid == ppid)
            return true;
    return false;
}

struct rg_nginx_workers *
rg_nginx_workers_before(void)
{
    struct rg_nginx_workers *b = calloc(1, sizeof(*b) + MAX_WORKERS * sizeof(struct worker));

    if (b)
        b->n = workers(b->w, MAX_WORKERS);
    return b;
}

bool
rg_nginx_reload_in_force(const struct rg_nginx_workers *before, int64_t wait_ms)
{
    struct worker now[MAX_WORKERS];
    const struct worker *old = before->w;
    struct timespec tick = {.tv_nsec = 20 * 1000000L};

    for (int64_t waited = 0;; waited += 20) {
        size_t n = workers(now, MAX_WORKERS);
        bool reloaded = false, old_left = false;
        for (size_t i = 0; i < n; i++) {
            /* A new worker of a master that ran before (not another nginx just started): are
             * that master's old workers still taking connections? */
            if (has_pid(old, before->n, now[i].pid) || !has_master(old, before->n, now[i].ppid))
                continue;
            reloaded = true;
            for (size_t k = 0; k < n; k++)
                if (now[k].ppid == now[i].ppid && has_pid(old, before->n, now[k].pid))
                    old_left = true;
        }
        if (reloaded && !old_left)
            return true;
        if (waited >= wait_ms)
            return false;
        nanosleep(&tick, NULL);
    }
}
