/* The rules: each looks at the signals for one cause the runbooks name, and when the evidence is
 * there adds a finding with that evidence and the runbook's fix. A state that is expected (no
 * instance was ever meant to run, a window without errors) adds nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dx.h"

#define ERROR_LINES "Traceback|Error|Exception|FATAL|Killed|panic"

static const char *
service_fix_cmd(const struct dx *dx, const struct dx_instance *x, char *buf, size_t size)
{
    if (rg_driver_scope(dx->driver))
        snprintf(buf, size, "docker logs --tail 200 %s", x->name);
    else
        snprintf(buf, size, "journalctl -u %s -n 200", x->name);
    return buf;
}

bool
dx_instance_down(const struct dx *dx, const struct dx_instance *x)
{
    bool looping = x->restarts > 0 && x->started_ms >= dx->since_ms;

    return (!x->running || looping) && rg_strv_contains(&dx->pb->runtime.services, x->service);
}

/* A service of the playbook that should serve and does not. */
static void
rule_down(struct dx *dx)
{
    for (size_t i = 0; i < dx->n_inst; i++) {
        const struct dx_instance *x = &dx->inst[i];
        struct rg_buf ev, fix;
        char cmd[256];
        if (!dx_instance_down(dx, x))
            continue;
        rg_buf_init(&ev, 16 * 1024);
        rg_buf_init(&fix, 4096);
        if (strcmp(x->state, "restarting") == 0 && !x->restarts)
            /* Docker holds a restarting container's lock: not inspected, numbers unknown. */
            rg_buf_addf(&ev, "%s: restarting (it keeps exiting)\n", x->name);
        else
            rg_buf_addf(&ev, "%s: %s, last exit code %d, %d restart%s\n", x->name, x->state,
                        x->exit_code, x->restarts, x->restarts == 1 ? "" : "s");
        if (dx_grep(&ev, x->log.data, ERROR_LINES, 6))
            rg_buf_adds(&ev, "  (its last error lines above)\n");
        rg_buf_addf(&fix, "read why it exits (%s); roll back to the release that worked: "
                          "rollgate rollback %s",
                    service_fix_cmd(dx, x, cmd, sizeof(cmd)), dx->pb->path);
        if (x->running)
            dx_add(dx, "app-down", 85, ev.data, fix.data,
                   "%s is crash-looping (%d restarts, the last within the window): nginx's "
                   "requests meet it down or starting", x->name, x->restarts);
        else
            dx_add(dx, "app-down", x->restarts > 0 ? 85 : 75, ev.data, fix.data,
                   "%s is not running (%s): nginx has no app to send requests to", x->name,
                   x->state);
        rg_buf_release(&ev);
        rg_buf_release(&fix);
    }
}

static void
rule_memory(struct dx *dx)
{
    struct rg_buf ev;
    bool seen = false;

    rg_buf_init(&ev, 16 * 1024);
    size_t memory_lines = 0;
    for (size_t i = 0; i < dx->n_inst; i++) {
        const struct dx_instance *x = &dx->inst[i];
        size_t lines;
        if (!rg_strv_contains(&dx->pb->runtime.services, x->service))
            continue;
        lines = dx_grep(&ev, x->log.data,
                        "out of memory|MemoryError|memory limit|limit_memory|"
                        "Killed process|oom-kill|Cannot allocate memory",
                        4);
        memory_lines += lines;
        if (x->killed || x->oom || lines) {
            rg_buf_addf(&ev, "%s: %s%s%s\n", x->name,
                        x->oom ? "OOM-killed (Docker says so)"
                               : x->killed ? "its last run was killed with SIGKILL (exit code 137: "
                                             "the kernel's OOM killer, or a hard limit)"
                                           : "memory errors in its log",
                        x->restarts ? ", restarted " : "",
                        x->restarts ? "since" : "");
            seen = true;
        }
    }
    size_t app = dx_grep(&ev, dx->app_log.data,
                         "MemoryError|memory limit|virtual memory limit|limit_memory", 4);
    /* Docker's own OOM flag is the cause of the container being down, not a symptom: ranked
     * above it. A bare SIGKILL (137) may also be a stop that outlived its grace period. */
    bool flagged = false;
    for (size_t i = 0; i < dx->n_inst; i++)
        flagged = flagged || (dx->inst[i].oom &&
                              rg_strv_contains(&dx->pb->runtime.services, dx->inst[i].service));
    if (seen || app)
        dx_add(dx, "out-of-memory", flagged || ((memory_lines || app) && seen) ? 97
                                    : memory_lines || app                       ? 80
                                                                                : 60,
               ev.data,
               "give the app the memory it needs or need less: raise the container's mem_limit "
               "(compose) or the unit's MemoryMax=, or run fewer workers; for Odoo, size "
               "limit_memory_soft/limit_memory_hard to the workers you run",
               "the app runs out of memory: its workers are killed mid-request (502)");
    rg_buf_release(&ev);
}

/* Known lines of the app's own logs, each with its cause. */
static void
rule_app_lines(struct dx *dx)
{
    static const struct {
        const char *cause, *rx, *title, *fix;
        int confidence;
    } known[] = {
        {"worker-timeout", "WORKER TIMEOUT",
         "gunicorn kills workers that exceed its --timeout: their requests end in 502",
         "raise gunicorn's --timeout above the slowest request (and nginx's "
         "proxy_read_timeout above that), or add workers/threads so one slow request does not "
         "hold a worker; find the slow endpoint in the access log (request time)",
         80},
        {"odoo-time-limit", "virtual real time limit|CPU time limit|limit_time_real",
         "Odoo kills workers that exceed limit_time_real/limit_time_cpu: their requests end in "
         "502",
         "raise limit_time_real (and limit_time_cpu) in odoo.conf above the slowest request, "
         "and nginx's proxy_read_timeout to match; or make the slow request faster",
         80},
        {"sqlite-locked", "database is locked",
         "SQLite refuses writes: another connection holds the write lock (\"database is "
         "locked\")",
         "put the database in WAL mode (PRAGMA journal_mode=WAL), give connections a busy "
         "timeout (sqlite3.connect(timeout=...)), keep write transactions short, and run one "
         "writer process (gunicorn --workers with threads, not many processes writing)",
         80},
        {"pg-connections", "too many clients|remaining connection slots are reserved",
         "PostgreSQL is out of connection slots: the app cannot connect",
         "lower the app's pool (Odoo: db_maxconn × workers) below max_connections less the "
         "reserved slots, or raise max_connections (a restart), or put pgbouncer in front",
         90},
        {"pg-down", "could not connect to server|connection to server .* failed|"
                    "Connection refused.*5432",
         "the app cannot reach PostgreSQL", "start PostgreSQL or fix the app's db_host/port",
         75},
        {"disk-full", "No space left on device",
         "a disk is full: writes fail (sessions, attachments, logs, the database)",
         "free space (old backups, logs, docker image prune) or grow the disk", 90},
    };
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        struct rg_buf ev;
        size_t n = 0;
        rg_buf_init(&ev, 16 * 1024);
        for (size_t i = 0; i < dx->n_inst; i++) {
            struct rg_buf one;
            size_t m;
            if (!rg_strv_contains(&dx->pb->runtime.services, dx->inst[i].service))
                continue;
            rg_buf_init(&one, 8 * 1024);
            if ((m = dx_grep(&one, dx->inst[i].log.data, known[k].rx, 3)) > 0) {
                rg_buf_addf(&ev, "%s: %zu line%s since the window began, the last:\n%s",
                            dx->inst[i].name, m, m == 1 ? "" : "s", one.data);
                n += m;
            }
            rg_buf_release(&one);
        }
        struct rg_buf one;
        size_t m;
        rg_buf_init(&one, 8 * 1024);
        if ((m = dx_grep(&one, dx->app_log.data, known[k].rx, 3)) > 0) {
            rg_buf_addf(&ev, "%s: %zu line%s, the last:\n%s", dx->pb->diagnose.app_log, m,
                        m == 1 ? "" : "s", one.data);
            n += m;
        }
        rg_buf_release(&one);
        if (n)
            dx_add(dx, known[k].cause, known[k].confidence, ev.data, known[k].fix, "%s",
                   known[k].title);
        rg_buf_release(&ev);
    }
}

static void
rule_pg(struct dx *dx)
{
    const struct dx_pg *pg = &dx->pg;
    char ev[1024];

    if (!pg->seen) {
        if (pg->error[0] && (strstr(pg->error, "too many clients") ||
                             strstr(pg->error, "remaining connection slots")))
            dx_add(dx, "pg-connections", 95, pg->error,
                   "lower the app's pool (Odoo: db_maxconn × workers) below max_connections "
                   "less the reserved slots, or raise max_connections (a restart), or put "
                   "pgbouncer in front; end idle sessions: select pg_terminate_backend(pid) "
                   "from pg_stat_activity where state = 'idle' and now() - state_change > "
                   "interval '10 minutes'",
                   "PostgreSQL is out of connection slots: it refuses new connections");
        else if (pg->error[0])
            dx_add(dx, "pg-down", 70, pg->error, "start PostgreSQL, or fix the address the "
                                                 "app and the playbook use",
                   "PostgreSQL does not answer");
        return;
    }
    int usable = pg->max_connections - pg->reserved;
    if (usable > 0 && pg->clients * 100 >= usable * 90) {
        snprintf(ev, sizeof(ev), "%d client connections of %d usable (max_connections %d less "
                                 "%d reserved)%s%s",
                 pg->clients, usable, pg->max_connections, pg->reserved,
                 pg->longest[0] ? "; the longest-running query: " : "", pg->longest);
        dx_add(dx, "pg-connections", pg->clients >= usable ? 95 : 70, ev,
               "lower the app's pool (Odoo: db_maxconn × workers) below the usable slots, raise "
               "max_connections (a restart), or put pgbouncer in front",
               "PostgreSQL's connection slots are %s (%d of %d)",
               pg->clients >= usable ? "exhausted" : "nearly exhausted", pg->clients, usable);
    }
    if (pg->waiting > 0 && pg->long_running > 0) {
        snprintf(ev, sizeof(ev), "%d session%s waiting on a lock, %d quer%s running for over "
                                 "60 s; the longest: %s",
                 pg->waiting, pg->waiting == 1 ? "" : "s", pg->long_running,
                 pg->long_running == 1 ? "y" : "ies", pg->longest);
        dx_add(dx, "pg-locks", 55, ev,
               "find the blocker: select pid, pg_blocking_pids(pid), query from "
               "pg_stat_activity where wait_event_type = 'Lock'; end it with "
               "pg_terminate_backend(pid) if it is stuck",
               "requests wait on database locks held by long-running queries");
    }
}

static void
rule_disks(struct dx *dx)
{
    for (size_t i = 0; i < dx->n_disks; i++) {
        const struct dx_disk *d = &dx->disks[i];
        char ev[512];
        /* 3 % free, or less than 256 MiB (a tenth of a small filesystem): an empty small
         * tmpfs is not full. */
        uint64_t floor = d->total / 10 < 256ull << 20 ? d->total / 10 : 256ull << 20;
        bool low = d->total && (d->avail * 100 < d->total * 3 || d->avail < floor);
        if (!low && !(d->files_avail > 0 && d->files_avail < 1000))
            continue;
        snprintf(ev, sizeof(ev), "%s: %.1f MiB free of %.1f MiB (%.1f%%), %llu inodes free",
                 d->path, (double)d->avail / 1048576.0, (double)d->total / 1048576.0,
                 d->total ? 100.0 * (double)d->avail / (double)d->total : 0.0,
                 (unsigned long long)d->files_avail);
        dx_add(dx, "disk-full", d->avail < 16ull << 20 ? 90 : 65, ev,
               "free space on that filesystem: old backups (rollgate keeps backup.keep), logs "
               "(journalctl --vacuum-size, logrotate), unused images (docker image prune), or "
               "grow it",
               "the disk under %s is (nearly) full", d->path);
    }
}

void
dx_rules(struct dx *dx)
{
    rule_down(dx);
    rule_memory(dx);
    rule_app_lines(dx);
    rule_pg(dx);
    rule_disks(dx);
    dx_rules_nginx(dx);
    dx_rules_nginx_conf(dx);
}
