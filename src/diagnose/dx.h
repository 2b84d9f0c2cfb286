/* Private to diagnose: what was seen (the signals), and how a finding is added. Each signal is
 * collected by one file with a deadline of its own; rules.c turns them into findings. */
#ifndef ROLLGATE_DIAGNOSE_DX_H
#define ROLLGATE_DIAGNOSE_DX_H

#include <stdbool.h>
#include <stdint.h>

#include "rollgate/diagnose.h"
#include "rollgate/driver.h"
#include "rollgate/runtime.h"

#define DX_MAX_INSTANCES 32
#define DX_LOG_BYTES (256 * 1024)

/* A container or unit of the target, as it is now. */
struct dx_instance {
    char name[160];    /* container name, or the unit */
    char service[128]; /* compose service, or the unit */
    char state[80];    /* running, restarting, exited, ... ; a unit: "active (running)" */
    bool running;
    int restarts;      /* container: restart count; unit: NRestarts */
    int exit_code;     /* container: the last exit code; unit: the last exit status */
    bool killed;       /* ended by SIGKILL: exit code 137, or a unit killed by signal 9 */
    bool oom;          /* Docker's OOMKilled (often false even after an OOM kill) */
    int64_t started_ms; /* Unix ms its current run began; 0: unknown */
    char ip[64];
    struct rg_port ports[8];
    size_t n_ports;
    struct rg_buf log; /* its log lines since the window began (the last DX_LOG_BYTES) */
};

/* PostgreSQL as diagnose sees it. */
struct dx_pg {
    bool seen;     /* connected and read */
    char error[256]; /* why not ("FATAL: sorry, too many clients already") */
    int max_connections;
    int reserved;  /* superuser_reserved_connections (+ reserved_connections when present) */
    int clients;   /* client backends */
    int waiting;   /* client backends waiting on a lock */
    int long_running; /* active for more than 60 s */
    char longest[256]; /* the longest-running query, cut */
};

struct dx_disk {
    char path[256];
    uint64_t avail, total; /* bytes */
    uint64_t files_avail;
};

struct dx {
    const struct rg_playbook *pb;
    struct rg_driver *driver;
    int64_t since_ms;
    int64_t deadline; /* rg_mono_ms() value past which collection stops */
    struct dx_instance inst[DX_MAX_INSTANCES];
    size_t n_inst;
    bool inst_seen;
    struct dx_pg pg;
    struct dx_disk disks[8];
    size_t n_disks;
    struct rg_buf app_log; /* the app's own log file (diagnose.app_log), since the window */
    struct dx_nginx *nginx;      /* nginx.c */
    struct dx_conf *conf;        /* nginx_dump.c: the configuration nginx -T printed */
    char conf_error_log[512];    /* the logs the configuration names, "" when it names none */
    char conf_access_log[512];
    struct rg_diagnosis *out;
};

/* The signals, each filling its part of dx (and a note in out->notes when it cannot). */
void dx_collect_instances(struct dx *dx);
void dx_collect_pg(struct dx *dx);
void dx_collect_disks(struct dx *dx);
void dx_collect_app_log(struct dx *dx);
void dx_collect_nginx(struct dx *dx);      /* the logs; calls dx_collect_nginx_conf first */
void dx_collect_nginx_conf(struct dx *dx); /* nginx -T, parsed */
void dx_nginx_release(struct dx *dx);
bool dx_nginx_seen(const struct dx *dx);      /* a log or the configuration was read */
bool dx_nginx_conf_seen(const struct dx *dx);
/* Whether addr ("172.18.0.3:8069") is one the server fronting the target proxies to (true when
 * the configuration could not be read). */
bool dx_nginx_conf_serves(const struct dx *dx, const char *addr);
void dx_nginx_conf_release(struct dx *dx);

/* Whether an instance of the playbook's services is down: stopped, or crash-looping (caught
 * running between two crashes: restarted within the window). */
bool dx_instance_down(const struct dx *dx, const struct dx_instance *x);

/* The rules: findings from the signals (rules.c), from nginx's logs (nginx.c) and from its
 * configuration against the stack (nginx_dump.c). */
void dx_rules(struct dx *dx);
void dx_rules_nginx(struct dx *dx);
void dx_rules_nginx_conf(struct dx *dx);

/* Adds a finding; title, evidence and fix are copied (printf-style title). */
void dx_add(struct dx *dx, const char *cause, int confidence, const char *evidence,
            const char *fix, const char *title_fmt, ...) __attribute__((format(printf, 6, 7)));
void dx_note(struct dx *dx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The lines of text matching the extended regex rx (case-insensitive), the last max of them,
 * appended to out as "  line\n"; returns how many matched in all. */
size_t dx_grep(struct rg_buf *out, const char *text, const char *rx, size_t max);

#endif
