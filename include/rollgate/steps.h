/* The actions a deploy takes on its target, one per state: pull, tag switch, up, exec, restart,
 * the verify and settle checks, and restore. The engine decides which to run; a step only acts
 * and says how it went. */
#ifndef ROLLGATE_STEPS_H
#define ROLLGATE_STEPS_H

#include <stdbool.h>
#include <stdint.h>

#include "rollgate/engine.h"
#include "rollgate/gates.h"
#include "rollgate/playbook.h"
#include "rollgate/runtime.h"

/* The containers that served before a deploy changed anything, as the daemon described them.
 * Going back to that release makes them again through the Engine API (remove the new ones,
 * create and start these), which takes a fraction of a compose run; compose still sees them as
 * its own because their labels are unchanged. */
struct rg_snapshot {
    char *tag;                /* the release they ran; NULL: none to take */
    bool taken;               /* the capture ran (it may have found nothing usable) */
    struct rg_strv service;   /* service of each container */
    struct rg_strv inspect;   /* inspect document of each container */
};
void rg_snapshot_release(struct rg_snapshot *s);

struct rg_step_ctx {
    const struct rg_playbook *pb;
    struct rg_compose *compose;    /* NULL for drivers without one */
    const char *project;           /* compose project name */
    const char *tag;               /* what SWITCH writes: the release being moved to */
    int64_t mark_ms;               /* Unix ms the target last changed (up, restart): restarts,
                                      exits and log lines count from here */
    int cancel_fd;                 /* readable: stop at the next safe point; -1: none */
    /* Called for every gate verdict during verify and settle. */
    void (*on_gate)(const struct rg_gate_result *r, void *data);
    void *on_gate_data;
    struct rg_buf *evidence;       /* what a failed step saw, for the ledger and the person */
    struct rg_snapshot *before;    /* taken by the first `up` away from before->tag, used by an
                                      `up` back to it; NULL: always compose */
};

/* Runs the action of state for step (NULL for the engine's own stages: a rollback's SWITCH and
 * UP). Returns 0 when it succeeded; RG_ECANCELED when cancelled; RG_ETIMEOUT past a deadline;
 * another negative code when it failed, with err saying why and ctx->evidence what was seen. */
int rg_step_run(struct rg_step_ctx *ctx, enum rg_state state, const struct rg_step *step,
                struct rg_err *err);

#endif
