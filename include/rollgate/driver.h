/* The runtime-driver interface: the only way a deploy reaches its target. Each driver (compose
 * and systemd; Swarm is a file to add, not a branch in the engine) exports one const ops
 * table; the registry finds it by the playbook's runtime.driver. What a driver cannot do is a
 * NULL operation and a missing capability bit, which `validate` refuses up front. */
#ifndef ROLLGATE_DRIVER_H
#define ROLLGATE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/playbook.h"
#include "rollgate/util.h"

struct rg_spawn_result;

/* One running instance (container, unit) of a service, as a switch needs it. */
struct rg_instance {
    char id[72];
    char service[128];
    char tag[136];   /* the release it runs ("" when it cannot be told) */
    char ip[64];     /* its address, "" when it has none */
    bool running;
};

/* One driver: its name, what it can do (RG_DRIVER_CAN_* of playbook.h) and its operations.
 * Every operation takes the ctx its open returned. A NULL operation is one the driver cannot
 * do; its capability bit must then be clear. Operations that run a tool get a deadline of their
 * own and stop when cancel_fd becomes readable (RG_ECANCELED); what the tool printed goes to
 * log. */
struct rg_driver_ops {
    const char *name;
    unsigned caps;

    int (*open)(void **ctx_out, const struct rg_playbook *pb, struct rg_err *err);
    void (*close)(void *ctx);

    /* Checks that the tools the driver runs work, before a run records or changes anything
     * (open alone runs nothing, so that status and check stay cheap). NULL: nothing to check. */
    int (*prepare)(void *ctx, struct rg_err *err);

    /* The scope of container gates, the event watch and evidence (the compose project); NULL
     * when the driver has no containers. Borrowed from ctx. */
    const char *(*scope)(void *ctx);

    /* For a target of systemd units: the command prefix that reaches its systemctl and
     * journalctl (empty: this host); NULL when the driver has no units. Borrowed from ctx. */
    const struct rg_strv *(*units)(void *ctx);

    /* The release the target is configured to run (the env file's tag): what it serves.
     * RG_ENOENT when none is set yet. *tag_out is newly allocated. */
    int (*configured)(char **tag_out, void *ctx, struct rg_err *err);

    /* How many instances (containers, units) of services run now, of any release. */
    int (*running)(int *n_out, void *ctx, const struct rg_strv *services, struct rg_err *err);

    /* The pinned identity of release tag when it is present here ("repo@sha256:…"), without
     * fetching anything. RG_ENOENT when it is not present. *digest_out is newly allocated. */
    int (*digest)(char **digest_out, void *ctx, const char *tag, struct rg_err *err);

    /* Makes release tag present (pulls it when missing) without changing what serves. */
    int (*fetch)(void *ctx, const char *tag, int cancel_fd, struct rg_buf *log, struct rg_err *err);

    /* The `pull` step: the services' images at release tag, before anything is switched. */
    int (*pull)(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
                struct rg_buf *log, struct rg_err *err);

    /* Records tag as the release to run (atomically); nothing restarts yet. */
    int (*switch_to)(void *ctx, const char *tag, struct rg_buf *log, struct rg_err *err);

    /* Says which release served when a run began, before anything changed: a driver may keep
     * what it needs to return to it fast (compose: the containers' inspect documents). */
    void (*remember)(void *ctx, const char *serving_tag, const struct rg_strv *services);

    /* Brings services up on release tag (the switched one). */
    int (*up)(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
              struct rg_buf *log, struct rg_err *err);

    /* Stops the services' instances of every release (the restore swaps data under them). */
    int (*stop)(void *ctx, const struct rg_strv *services, struct rg_buf *log, struct rg_err *err);

    int (*restart)(void *ctx, const struct rg_strv *services, int cancel_fd, struct rg_buf *log,
                   struct rg_err *err);

    /* Runs argv in service's environment; res is filled (and must be released) even when the
     * command fails. */
    int (*exec)(struct rg_spawn_result *res, void *ctx, const char *service,
                const struct rg_strv *argv, int64_t timeout_ms, int cancel_fd, struct rg_err *err);

    /* ---- the switch strategy (RG_DRIVER_CANDIDATES) ---- */

    /* The instances of services, every release, running or not. *out (an array of *n) is
     * owned by the caller (free). */
    int (*instances)(struct rg_instance **out, size_t *n, void *ctx,
                     const struct rg_strv *services, struct rg_err *err);
    /* Starts one more instance of each service, on release tag, beside those that run, without
     * touching them or what serves traffic. */
    int (*candidate)(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
                     struct rg_buf *log, struct rg_err *err);
    /* Removes the given instances (a rejected candidate, a retired release). */
    int (*remove)(void *ctx, const struct rg_strv *ids, struct rg_buf *log, struct rg_err *err);
};

/* An open driver bound to one playbook's target. */
struct rg_driver {
    const struct rg_driver_ops *ops;
    void *ctx;
    const struct rg_playbook *pb; /* borrowed */
};

/* The driver registered under a playbook driver name; NULL when it is not implemented. */
const struct rg_driver_ops *rg_driver_lookup(enum rg_runtime_driver kind);

/* The capabilities of a playbook driver for the playbook checker (rg_load_opts.driver_caps):
 * 0 when it is not implemented, else its caps with RG_DRIVER_IMPLEMENTED set. */
unsigned rg_driver_caps(enum rg_runtime_driver kind);

/* Opens pb's target through ops (NULL: the registry's driver for pb->runtime.driver).
 * RG_EINVAL naming the driver when it is not implemented. *out is owned by the caller. */
int rg_driver_open(struct rg_driver **out, const struct rg_playbook *pb,
                   const struct rg_driver_ops *ops, struct rg_err *err);
void rg_driver_close(struct rg_driver *d);

/* The scope of container gates, or NULL. */
const char *rg_driver_scope(const struct rg_driver *d);
/* The command prefix of unit gates, or NULL when the target has no systemd units. */
const struct rg_strv *rg_driver_units(const struct rg_driver *d);

/* The operations, each answering RG_EINVAL ("the X driver cannot Y") when the driver lacks it;
 * see struct rg_driver_ops for what each does. */
int rg_driver_prepare(struct rg_driver *d, struct rg_err *err);
/* Whether the driver pins releases by digest (rg_driver_digest can answer). */
bool rg_driver_pins_digest(const struct rg_driver *d);
int rg_driver_configured(char **tag_out, struct rg_driver *d, struct rg_err *err);
int rg_driver_running(int *n_out, struct rg_driver *d, const struct rg_strv *services,
                      struct rg_err *err);
int rg_driver_digest(char **digest_out, struct rg_driver *d, const char *tag, struct rg_err *err);
int rg_driver_fetch(struct rg_driver *d, const char *tag, int cancel_fd, struct rg_buf *log,
                    struct rg_err *err);
int rg_driver_pull(struct rg_driver *d, const struct rg_strv *services, const char *tag,
                   int cancel_fd, struct rg_buf *log, struct rg_err *err);
int rg_driver_switch(struct rg_driver *d, const char *tag, struct rg_buf *log, struct rg_err *err);
void rg_driver_remember(struct rg_driver *d, const char *serving_tag,
                        const struct rg_strv *services);
int rg_driver_up(struct rg_driver *d, const struct rg_strv *services, const char *tag,
                 int cancel_fd, struct rg_buf *log, struct rg_err *err);
int rg_driver_stop(struct rg_driver *d, const struct rg_strv *services, struct rg_buf *log,
                   struct rg_err *err);
int rg_driver_restart(struct rg_driver *d, const struct rg_strv *services, int cancel_fd,
                      struct rg_buf *log, struct rg_err *err);
int rg_driver_exec(struct rg_spawn_result *res, struct rg_driver *d, const char *service,
                   const struct rg_strv *argv, int64_t timeout_ms, int cancel_fd,
                   struct rg_err *err);

int rg_driver_instances(struct rg_instance **out, size_t *n, struct rg_driver *d,
                        const struct rg_strv *services, struct rg_err *err);
int rg_driver_candidate(struct rg_driver *d, const struct rg_strv *services, const char *tag,
                        int cancel_fd, struct rg_buf *log, struct rg_err *err);
int rg_driver_remove(struct rg_driver *d, const struct rg_strv *ids, struct rg_buf *log,
                     struct rg_err *err);

/* The drivers, one file each. */
extern const struct rg_driver_ops rg_driver_compose;
extern const struct rg_driver_ops rg_driver_systemd;

#endif
