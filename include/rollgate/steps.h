/* The actions a deploy takes on its target: the playbook's steps (pull, tag switch, up, exec,
 * restart, verify, settle) keyed by their kind, and the actions of the engine's own stages
 * (make a release present, back up, restore, stop). A step acts through the runtime driver and
 * says how it went; which step runs when is the engine's decision, never a step's. */
#ifndef ROLLGATE_STEPS_H
#define ROLLGATE_STEPS_H

#include <stdbool.h>
#include <stdint.h>

#include "rollgate/backup.h"
#include "rollgate/driver.h"
#include "rollgate/gates.h"
#include "rollgate/ledger.h"
#include "rollgate/playbook.h"

struct rg_step_ctx {
    const struct rg_playbook *pb;
    struct rg_driver *driver; /* the target */
    struct rg_ledger *ledger; /* backups and known-good digests */
    const char *tag;          /* the release being moved to: what SWITCH writes, UP runs */
    int64_t mark_ms;          /* Unix ms the target last changed (up, restart): restarts,
                                 exits and log lines count from here */
    int cancel_fd;            /* readable: stop at the next safe point; -1: none */
    /* Called for every gate verdict during verify and settle. */
    void (*on_gate)(const struct rg_gate_result *r, void *data);
    void *on_gate_data;
    struct rg_buf *evidence; /* what a step saw, for the ledger and the person */
    /* Switch strategy: verify and settle judge exactly these instances ("service=ip" hosts
     * and container ids, see struct rg_gate_env); NULL: the service as it resolves. */
    const struct rg_strv *hosts;
    const struct rg_strv *only_ids;
    bool probe; /* verify judges a candidate before it gets traffic: only gates that reach it */
};

/* Runs a step of kind `kind`; step carries its parameters (NULL for the engine's own SWITCH and
 * UP of a rung: the playbook's services). Returns 0 when it succeeded; RG_ECANCELED when
 * cancelled; RG_ETIMEOUT past a deadline; another negative code when it failed, with err saying
 * why and ctx->evidence what was seen. */
int rg_step_run(struct rg_step_ctx *ctx, enum rg_step_kind kind, const struct rg_step *step,
                struct rg_err *err);

/* Makes release tag present on the target without changing what serves; its pinned digest
 * goes to digest_out (size bytes, "" when the driver pins none). A digest that differs from the
 * one tag was known-good with is noted in the evidence. */
int rg_step_ensure(struct rg_step_ctx *ctx, const char *tag, char *digest_out, size_t size,
                   struct rg_err *err);

/* The pinned digest of release tag once it is present ("" when the driver pins none). */
void rg_step_digest(struct rg_step_ctx *ctx, const char *tag, char *digest_out, size_t size);

/* Takes a backup of the data of release serving_tag ("" when none serves), recorded against
 * deploy_id (0: by hand). */
int rg_step_backup(struct rg_backup_row *out, struct rg_step_ctx *ctx, const char *serving_tag,
                   int64_t deploy_id, struct rg_err *err);

struct rg_step_restore {
    const char *path;                /* the backup */
    int jobs;                        /* 0: the default */
    bool verify_first;               /* check the whole backup before stopping anything */
    bool stop;                       /* stop the services first (false: nothing runs) */
    const char *serving_tag;         /* brought back up when the restore changed nothing; NULL:
                                        leave the services stopped (the ladder goes on) */
    struct rg_restore_result result; /* out */
    bool down;                       /* out: the services were stopped and are not running again */
};

/* Stops the services (nothing may write into the database while it is swapped, nor reconnect
 * to the restored one), then restores the backup: scratch database, verify, swap. */
int rg_step_restore(struct rg_step_ctx *ctx, struct rg_step_restore *rs, struct rg_err *err);

/* ---- the switch strategy: a candidate beside the serving release, then the proxy ---- */

/* The running instances of release tag: "service=ip" entries for gates (hosts) and their ids
 * (either may be NULL). Returns how many run, or a negative code. */
int rg_step_instances_of(struct rg_step_ctx *ctx, const char *tag, struct rg_strv *hosts,
                         struct rg_strv *ids, struct rg_err *err);
/* Appends what the containers of the playbook's services look like to the step's evidence
 * (drivers without containers add nothing). */
void rg_step_container_evidence(struct rg_step_ctx *ctx);
/* PREFLIGHT under switch: the proxy can be switched (rg_proxy_ready), before anything starts. */
int rg_step_proxy_ready(struct rg_step_ctx *ctx, struct rg_err *err);
/* CANDIDATE: starts release tag beside the serving one, unless it runs already (resume). */
int rg_step_candidate(struct rg_step_ctx *ctx, const char *tag, struct rg_err *err);
/* PROXY: the upstream file pointed at release tag's instances (checked, reloaded), then the
 * tag recorded as the one to run; when the tag cannot be recorded the proxy goes back to
 * back_tag's instances. */
int rg_step_proxy(struct rg_step_ctx *ctx, const char *tag, const char *back_tag,
                  struct rg_err *err);
/* RETIRE: after drain_ms (cut short by a signal), removes the instances of every release but
 * tag. A removal that fails is noted, not fatal: tag serves. */
int rg_step_retire(struct rg_step_ctx *ctx, const char *tag, int64_t drain_ms,
                   struct rg_err *err);
/* UP of a rung or a rollback by hand under the switch strategy: tag's instances (started
 * beside the others when none runs), the proxy pointed at them, the others removed. */
int rg_step_switch_to(struct rg_step_ctx *ctx, const char *tag, struct rg_err *err);
/* Removes the instances of release tag (a rejected candidate). */
int rg_step_reject(struct rg_step_ctx *ctx, const char *tag, struct rg_err *err);

/* ---- the release that serves: one answer for deploy, rollback, status, backup, restore ---- */

enum rg_live_source {
    RG_LIVE_NONE,       /* nothing is configured to serve */
    RG_LIVE_CONFIGURED, /* the driver's configuration (env file) names it */
};

struct rg_live {
    char tag[136];    /* "" when none */
    char digest[200]; /* what the driver pins now, else the ledger's; "" when unknown */
    bool known_good;  /* the ledger has it as known-good */
    int running;      /* instances of its services that run (RG_LIVE_INSTANCES); -1: not
                         asked, or not known */
    enum rg_live_source source;
    char note[RG_ERR_MSG_MAX + 200]; /* why a configured value was not taken, or "" */
    char absent[RG_ERR_MSG_MAX];     /* why no release is configured (the env file does not
                                        exist, or does not set the tag), or "" */
};

enum {
    RG_LIVE_DIGEST = 1u << 0,    /* ask the driver for the digest (else the ledger's) */
    RG_LIVE_INSTANCES = 1u << 1, /* count the instances that run */
};

/* Which release serves pb's target: the driver's configured tag (an invalid one is not trusted:
 * source NONE with a note), its digest, whether the ledger knows it as good (ledger may be
 * NULL), and with RG_LIVE_INSTANCES how many of its services' instances run. Never fails: what
 * cannot be read is absent (a note says why). */
void rg_live_release(struct rg_live *out, struct rg_driver *d, struct rg_ledger *ledger,
                     unsigned what);

#endif
