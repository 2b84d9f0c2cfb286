/* The deploy engine: the states a deploy goes through and the plan of them that a playbook
 * describes. The plan is what `rollgate plan` shows and what the executor runs. */
#ifndef ROLLGATE_ENGINE_H
#define ROLLGATE_ENGINE_H

#include <stddef.h>

#include "rollgate/err.h"
#include "rollgate/playbook.h"

enum rg_state {
    RG_ST_PREFLIGHT,   /* tag checked, lock taken, current release read */
    RG_ST_BACKUP,      /* database and filestore archived before anything changes */
    RG_ST_PULL,        /* the release image fetched; failure aborts with nothing changed */
    RG_ST_SWITCH,      /* the tag written to the env file (atomically) */
    RG_ST_UP,          /* services brought up on the new tag */
    RG_ST_EXEC,        /* a command run in a service */
    RG_ST_RESTART,     /* services restarted */
    RG_ST_VERIFY,      /* health gates polled until they pass or their deadline */
    RG_ST_SETTLE,      /* a stability window: no restarts, no exits, gates still passing */
    RG_ST_RESTORE,     /* database and filestore restored from a backup */
    RG_ST_COMMIT,      /* the release marked known-good */
    RG_ST_RECOVER,     /* choosing the next rung of the ladder */
    RG_ST_DEPLOYED,    /* final: the new release is live */
    RG_ST_RECOVERED,   /* final: service restored by a rung */
    RG_ST_UNRECOVERED, /* final: every rung failed; a person is needed */
    RG_ST_ABORTED,     /* final: failed before anything changed */
    RG_ST_COUNT
};

/* The upper-case name of a state ("VERIFY"). */
const char *rg_state_name(enum rg_state st);
/* Whether the target may already have changed once this state has begun. */
int rg_state_changes_target(enum rg_state st);

/* One stage of a plan: a state, the playbook step behind it (NULL for the engine's own stages
 * such as PREFLIGHT and COMMIT, or a rollback's SWITCH), and where a failure leads. */
struct rg_plan_stage {
    enum rg_state state;
    const struct rg_step *step; /* borrowed from the playbook */
    enum rg_state on_fail;
};

struct rg_plan_rung {
    const struct rg_rung *rung; /* borrowed */
    struct rg_plan_stage *stages;
    size_t n_stages;
};

struct rg_plan {
    const struct rg_playbook *pb; /* borrowed: must outlive the plan */
    char *tag;                    /* NULL when planned without --tag */
    struct rg_plan_stage *stages;
    size_t n_stages;
    struct rg_plan_rung *rungs;
    size_t n_rungs;
};

/* Builds the plan of a deploy of tag (NULL: any tag) with pb. The tag is checked against the
 * playbook's rules (RG_EINVAL naming the rule it breaks). *out is owned by the caller. */
int rg_plan_build(struct rg_plan **out, const struct rg_playbook *pb, const char *tag,
                  struct rg_err *err);
void rg_plan_free(struct rg_plan *plan);

#endif
