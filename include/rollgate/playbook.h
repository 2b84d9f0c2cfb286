/* The playbook: a YAML file loaded into a typed, validated model that is immutable after load.
 * Every problem found is reported with file:line:column and the key path. */
#ifndef ROLLGATE_PLAYBOOK_H
#define ROLLGATE_PLAYBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/util.h"

#define RG_PLAYBOOK_VERSION 1
#define RG_PLAYBOOK_MAX_BYTES (1024 * 1024) /* a playbook is a page, not a data set */
#define RG_PLAYBOOK_MAX_DEPTH 32
#define RG_PLAYBOOK_MAX_NODES 20000
#define RG_PLAYBOOK_MAX_ERRORS 20

/* ---- diagnostics: every problem of one file ---- */
struct rg_diag {
    char *file;
    int line;   /* 1-based; 0 when the problem is not tied to a place */
    int column; /* 1-based */
    char *path; /* key path such as "gates.health.expect"; "" at the top */
    char *msg;
    bool warning; /* a risk, not a problem: the playbook still loads */
};

struct rg_diags {
    struct rg_diag *v;
    size_t n;
    size_t cap;
    size_t dropped; /* problems past RG_PLAYBOOK_MAX_ERRORS, counted but not kept */
};

void rg_diags_init(struct rg_diags *d);
void rg_diags_release(struct rg_diags *d);
/* Formats one diagnostic as "file:line:column: path: message" into a new string. */
char *rg_diag_format(const struct rg_diag *d);

/* ---- the model ---- */
enum rg_runtime_driver { RG_DRIVER_COMPOSE, RG_DRIVER_SYSTEMD, RG_DRIVER_COUNT };

/* What a runtime driver can do (the runtime module's registry says it; see driver.h): the
 * playbook checker refuses a step or gate the playbook's driver cannot carry out. */
enum rg_driver_cap {
    RG_DRIVER_IMPLEMENTED = 1u << 0, /* it can deploy at all */
    RG_DRIVER_CAN_PULL = 1u << 1,    /* release images from a registry: the `pull` step */
    RG_DRIVER_CAN_EXEC = 1u << 2,    /* `exec` in a service */
    RG_DRIVER_CAN_RESTART = 1u << 3, /* `restart` of services */
    RG_DRIVER_CAN_STOP = 1u << 4,    /* stopping the serving release (restores) */
    RG_DRIVER_CONTAINERS = 1u << 5,  /* containers: container and logs gates, the event watch */
    RG_DRIVER_CANDIDATES = 1u << 6,  /* a release started beside the serving one (switch) */
    RG_DRIVER_UNITS = 1u << 7,       /* systemd units: unit and logs gates read systemd */
};

struct rg_runtime {
    enum rg_runtime_driver driver;
    char *project_dir;       /* absolute; relative paths in the file are taken from its directory */
    char *compose_file;      /* NULL: the compose default in project_dir */
    char *project_name;      /* compose project name; NULL: compose derives it from project_dir */
    char *env_file;          /* absolute path of the file holding tag_var */
    char *tag_var;           /* e.g. APP_IMAGE_VERSION */
    struct rg_strv services; /* the services a deploy pulls, switches and brings up */
    char *unit;              /* systemd driver: the unit to restart */
    char *root;              /* systemd driver: holds releases/<tag> and the `current` link */
    int keep;                /* systemd driver: releases kept in root/releases */
    /* systemd driver: the words put before systemctl, journalctl and systemd-run to reach the
     * unit's systemd ([nsenter, -t, PID, -m, -p, --]; ssh is refused while releases are
     * written where rollgate runs); empty: this host */
    struct rg_strv command_prefix;
};

struct rg_release {
    char *image;       /* compose: repository of the release image, without tag */
    char *tag_pattern; /* POSIX extended regex every tag must match; validated at load */
    char *git;         /* systemd: a git repository whose tags' trees are the releases */
    char *uploads;     /* systemd: where CI uploads <tag>/, marked complete by RG_UPLOAD_MARKER */
};

/* The file an upload writes last into uploads/<tag>/: the release is whole. */
#define RG_UPLOAD_MARKER ".rollgate-complete"

/* Polling of a gate: how often, for how long, how many consecutive passes, per-probe timeout. */
struct rg_timing {
    int64_t every_ms;
    int64_t within_ms;
    int need;
    int64_t timeout_ms;
};

enum rg_gate_kind {
    RG_GATE_HTTP,
    RG_GATE_WEBSOCKET,
    RG_GATE_TCP,
    RG_GATE_POSTGRES,
    RG_GATE_COMMAND,
    RG_GATE_CONTAINER,
    RG_GATE_LOGS,
    RG_GATE_UNIT,
    RG_GATE_KIND_COUNT
};

enum rg_container_state { RG_CONTAINER_RUNNING, RG_CONTAINER_HEALTHY };

struct rg_kv {
    char *key;
    char *value;
};

struct rg_gate {
    char *name;
    enum rg_gate_kind kind;
    int line, column;
    struct rg_timing timing;
    char *target;        /* URL, host:port, DSN, service name; NULL for command */
    struct rg_strv argv; /* command */
    /* http */
    int *expect; /* accepted status codes; websocket: 101 */
    size_t n_expect;
    int *fail_on; /* http: statuses that fail the gate at once, without retries */
    size_t n_fail_on;
    char *body;             /* regex the body must match, or NULL */
    int64_t max_latency_ms; /* 0: no latency limit */
    struct rg_kv *headers;
    size_t n_headers;
    bool tls_verify;
    /* postgres */
    char *query;              /* SQL returning one boolean that must be true, or NULL */
    int max_connections_used; /* hundredths of a percent of max_connections; -1: not checked */
    /* container */
    enum rg_container_state state;
    int max_restarts; /* restarts allowed since the mark (the start of the step) */
    /* logs */
    char *pattern; /* regex no new log line may match */
    char *file;    /* logs of a unit: a log file the app writes itself, instead of the journal */
};

enum rg_step_kind {
    RG_STEP_PULL,
    RG_STEP_SWITCH,
    RG_STEP_UP,
    RG_STEP_EXEC,
    RG_STEP_RESTART,
    RG_STEP_VERIFY,
    RG_STEP_SETTLE,
    RG_STEP_KIND_COUNT
};

struct rg_step {
    enum rg_step_kind kind;
    int line, column;
    bool implicit;           /* added by the loader (a `switch` before the first `up`) */
    struct rg_strv services; /* pull, up, restart: empty means runtime.services; exec: one */
    struct rg_strv argv;     /* exec */
    int64_t timeout_ms;      /* exec */
    struct rg_strv gates;    /* verify, settle: names of gates */
    int64_t for_ms;          /* settle: the stability window */
    struct rg_strv watch;    /* settle: services whose restarts and exits are watched */
};

enum rg_rung_kind { RG_RUNG_REPAIR, RG_RUNG_ROLLBACK, RG_RUNG_RESTORE, RG_RUNG_KIND_COUNT };

struct rg_rung {
    enum rg_rung_kind kind;
    int line, column;
    struct rg_step *steps; /* repair: exec and restart steps, in order */
    size_t n_steps;
    char *to; /* rollback: "previous" or a tag; restore: "before_deploy"|"latest" */
};

struct rg_backup {
    bool enabled; /* the section is present */
    bool before_deploy;
    char *database;  /* libpq DSN; secret-bearing */
    char *filestore; /* absolute directory, or NULL */
    char *dir;       /* absolute directory where archives are kept */
    int keep;
    char *verify_query; /* SQL that must return true on a restored scratch database */
};

/* How a release goes live. */
enum rg_strategy {
    RG_STRATEGY_REPLACE, /* the serving containers are replaced in place */
    RG_STRATEGY_SWITCH,  /* a candidate starts beside them, is gated, then the proxy switches */
    RG_STRATEGY_COUNT
};

/* One nginx upstream block rollgate writes: the containers of service on port. */
struct rg_upstream {
    char *name;    /* the upstream's name in nginx ("odoo", "odoo_longpolling") */
    char *service; /* the compose service behind it */
    int port;      /* the container port */
    int line, column;
};

/* The reverse proxy in front of the services (nginx): the upstream file rollgate owns and how
 * nginx is told about it. */
struct rg_proxy {
    bool enabled;          /* the section is present */
    char *upstream_file;   /* absolute; written only by rollgate */
    struct rg_strv test;   /* checks the configuration: [nginx, -t] */
    struct rg_strv reload; /* applies it gracefully: [nginx, -s, reload] */
    int64_t drain_ms;      /* after the switch, how long the old release keeps running */
    struct rg_upstream *upstreams;
    size_t n_upstreams;
};

/* What `rollgate diagnose` may look at besides what the rest of the playbook names. Every key
 * has a default, so the section is optional. */
struct rg_diagnose_cfg {
    struct rg_strv nginx_config; /* prints nginx's whole configuration: [nginx, -T] */
    char *error_log;             /* nginx's error log; NULL: what nginx -T names, else
                                    /var/log/nginx/error.log */
    char *access_log;            /* nginx's access log; NULL: likewise */
    char *app_log;               /* a log file the app writes itself (Odoo's odoo.log); NULL:
                                    the containers' logs or the unit's journal */
    char *database;              /* libpq DSN (secret-bearing); NULL: backup.database when it
                                    is PostgreSQL, else the first postgres gate's */
    struct rg_strv disks;        /* paths whose free space matters; empty: the playbook's own */
    int64_t app_timeout_ms;      /* the app's own request limit (limit_time_real, gunicorn
                                    --timeout); 0: unknown */
};

enum rg_outcome {
    RG_OUTCOME_DEPLOYED,
    RG_OUTCOME_REPAIRED,
    RG_OUTCOME_ROLLED_BACK,
    RG_OUTCOME_RESTORED,
    RG_OUTCOME_UNRECOVERED,
    RG_OUTCOME_ABORTED,
    RG_OUTCOME_BACKED_UP, /* a backup taken by hand */
    RG_OUTCOME_COUNT
};

struct rg_notify {
    char *webhook; /* secret-bearing; empty string: notifications turned off */
    unsigned on;   /* bit set of (1u << enum rg_outcome) */
    int64_t timeout_ms;
    int retries;
};

struct rg_playbook {
    char *path; /* as given to the loader */
    char *dir;  /* absolute directory of the file: base of relative paths */
    int version;
    char *name;      /* the target: key of the ledger and the lock */
    char *state_dir; /* absolute */
    struct rg_runtime runtime;
    enum rg_strategy strategy;
    struct rg_proxy proxy;
    struct rg_release release;
    struct rg_timing defaults;
    struct rg_gate *gates;
    size_t n_gates;
    struct rg_backup backup;
    struct rg_step *deploy;
    size_t n_deploy;
    struct rg_rung *recover;
    size_t n_recover;
    struct rg_notify *notify;
    size_t n_notify;
    struct rg_diagnose_cfg diagnose;
};

/* Looks up environment variables for ${VAR}; NULL means unset. */
typedef const char *(*rg_getenv_fn)(const char *name, void *data);

struct rg_load_opts {
    rg_getenv_fn getenv; /* NULL: the process environment */
    void *getenv_data;
    const char *base_dir; /* NULL: the directory of the file (or the cwd for buffers) */
    /* The capabilities of a driver (rg_driver_caps of driver.h); NULL: no capability checks
     * (the loader alone knows no driver). */
    unsigned (*driver_caps)(enum rg_runtime_driver kind);
    /* An unset ${VAR} without a default is a placeholder instead of an error (validate
     * --no-env, for a pull request that has no production secrets): a string keeps the text
     * "${VAR}", a number, duration, percentage or switch keeps its default. */
    bool placeholders;
};

/* Loads and validates the playbook at path. On success *out owns the model and returns 0.
 * On RG_EINVAL every problem found (up to RG_PLAYBOOK_MAX_ERRORS) is in diags and err says
 * how many; RG_EIO/RG_ENOENT when the file cannot be read. opts may be NULL. */
int rg_playbook_load(struct rg_playbook **out, struct rg_diags *diags, const char *path,
                     const struct rg_load_opts *opts, struct rg_err *err);

/* The same for a document in memory (tests and fuzzing); name is used in diagnostics.
 * data need not be NUL-terminated. */
int rg_playbook_load_buffer(struct rg_playbook **out, struct rg_diags *diags, const char *name,
                            const char *data, size_t len, const struct rg_load_opts *opts,
                            struct rg_err *err);

/* Frees a model; NULL is fine. Secret-bearing strings are wiped first. */
void rg_playbook_free(struct rg_playbook *pb);

/* Finds a gate by name, or NULL. The pointer is borrowed from pb. */
const struct rg_gate *rg_playbook_gate(const struct rg_playbook *pb, const char *name);

/* Checks a release tag from outside (CLI, hook, CI) against Docker's tag grammar and the
 * playbook's tag_pattern. RG_EINVAL with a message naming the tag and the rule it broke. */
int rg_playbook_check_tag(const struct rg_playbook *pb, const char *tag, struct rg_err *err);

/* Names used in files and output. */
const char *rg_gate_kind_name(enum rg_gate_kind kind);
const char *rg_step_kind_name(enum rg_step_kind kind);
const char *rg_rung_kind_name(enum rg_rung_kind kind);
const char *rg_outcome_name(enum rg_outcome outcome);
const char *rg_driver_name(enum rg_runtime_driver driver);
const char *rg_strategy_name(enum rg_strategy strategy);
/* The upstream named name, or NULL. Borrowed from pb. */
const struct rg_upstream *rg_playbook_upstream(const struct rg_playbook *pb, const char *name);

#endif
