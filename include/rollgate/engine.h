/* The deploy engine: the states a deploy goes through and the plan of them that a playbook
 * describes. The plan is what `rollgate plan` shows and what the executor runs. */
#ifndef ROLLGATE_ENGINE_H
#define ROLLGATE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/backup.h"
#include "rollgate/driver.h"
#include "rollgate/err.h"
#include "rollgate/gates.h"
#include "rollgate/ledger.h"
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
    RG_ST_CANDIDATE,   /* switch: the new release started beside the serving one */
    RG_ST_PROBE,       /* switch: the candidate gated directly, before any user request */
    RG_ST_PROXY,       /* switch: the proxy moved to the candidate in one reload, the tag set */
    RG_ST_RETIRE,      /* switch: after a drain, the release that served before removed */
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
/* The state named name ("VERIFY"), or RG_ST_COUNT when there is none. */
enum rg_state rg_state_from_name(const char *name);

/* One stage of a plan: a state, the playbook step behind it (NULL for the engine's own stages
 * such as PREFLIGHT and COMMIT, or a rollback's SWITCH), and where a failure leads. */
struct rg_plan_stage {
    enum rg_state state;
    const struct rg_step *step; /* borrowed from the playbook */
    enum rg_state on_fail;      /* rg_plan_stage_move's answer to a failure, as a state */
    bool unchanged;             /* nothing on the target changed before it (a verify before
                                   the first up): a failure or a signal aborts */
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
    /* What serves now when the caller could read it (plan reads the env file; nothing is
     * contacted), else NULL; why not in current_note. Freed with the plan. */
    char *current;
    char *current_note;
};

/* Builds the plan of a deploy of tag (NULL: any tag) with pb. The tag is checked against the
 * playbook's rules (RG_EINVAL naming the rule it breaks). *out is owned by the caller. */
int rg_plan_build(struct rg_plan **out, const struct rg_playbook *pb, const char *tag,
                  struct rg_err *err);
void rg_plan_free(struct rg_plan *plan);

/* ---- the state machine ---- */

enum rg_event {
    RG_EV_OK,      /* the state's action succeeded */
    RG_EV_FAIL,    /* it failed */
    RG_EV_TIMEOUT, /* its deadline passed */
    RG_EV_CANCEL,  /* SIGINT or SIGTERM arrived */
    RG_EV_COUNT
};

/* Where an event leads from a state. The forward path itself (which state comes next) is the
 * plan's; the table says whether to go on, abort with nothing changed, recover, or stop. */
enum rg_move {
    RG_MOVE_INVALID = 0, /* not allowed: a bug */
    RG_MOVE_NEXT,        /* the next stage of the plan (or the end: the outcome) */
    RG_MOVE_ABORT,       /* ABORTED: nothing changed on the target */
    RG_MOVE_RECOVER,     /* the next rung of the ladder, or UNRECOVERED when none is left */
    RG_MOVE_HALT,        /* stop where we are and leave the deploy in flight for resume */
};

/* The transition table, [state][event]. */
enum rg_move rg_engine_move(enum rg_state st, enum rg_event ev);
/* Where a failure in state st leads, read off the transition table: ABORTED, RECOVER (when a
 * rung is left to climb) or UNRECOVERED. What `plan` prints and what the executor does. */
enum rg_state rg_engine_fail_state(enum rg_state st, bool rungs_left);
/* The move after event ev in one stage of a plan: the transition table's, except that a stage
 * before anything changed aborts where the table would recover or halt. What the executor and
 * resume do, and what `plan` prints. */
enum rg_move rg_plan_stage_move(const struct rg_plan_stage *st, enum rg_event ev);
const char *rg_event_name(enum rg_event ev);

/* ---- running a deploy ---- */

enum rg_run_kind {
    RG_RUN_DEPLOY,   /* a new release, with the recover ladder */
    RG_RUN_ROLLBACK, /* by hand: back to a known-good release, through the same gates */
    RG_RUN_RESUME,   /* finish or recover the deploy a crash left in flight */
    RG_RUN_BACKUP,   /* by hand: a backup of the serving release's data */
    RG_RUN_RESTORE,  /* by hand: a backup restored under the serving release, stopped for it */
};

enum rg_report_kind {
    RG_REPORT_START,   /* a deploy began (deploy_id, tag) */
    RG_REPORT_STATE,   /* a state was entered */
    RG_REPORT_RESULT,  /* a state's event (message: why, on failure) */
    RG_REPORT_GATE,    /* a gate verdict during verify or settle */
    RG_REPORT_RUNG,    /* a rung of the ladder begins */
    RG_REPORT_OUTCOME, /* the deploy ended */
    RG_REPORT_NOTE,    /* anything else worth a line */
};

/* What the engine tells its caller as it goes, for progress lines and --json events. */
struct rg_report {
    enum rg_report_kind kind;
    int64_t deploy_id;
    enum rg_state state;
    enum rg_event event;
    int rung;              /* 0: the deploy itself; i: rung i */
    const char *rung_kind; /* repair, rollback, restore */
    const char *tag;
    const struct rg_gate_result *gate;
    const struct rg_step *step; /* the playbook step of the stage (state, result, gate), NULL
                                   for the engine's own stages */
    enum rg_outcome outcome;
    const char *message;
    int64_t elapsed_ms;  /* since the deploy began */
    int64_t deadline_ms; /* of the state, 0 when none */
    bool changed;        /* the target has changed: a stop now leaves the run in flight (from
                            the switch on), where before it aborts with nothing changed */
};

/* What a cancel (cancel_fd readable) asks of the run, read when the run notices it. */
enum rg_cancel_kind {
    RG_CANCEL_STOP,    /* abort before the switch, halt in flight after it (for `resume`, or
                          for the `rollback --takeover` that asked) */
    RG_CANCEL_SUSPEND, /* hand over: stop wherever the run is, leaving its step in flight in the
                          ledger (as a crash would, but with the lock released) for a worker's
                          `resume` to run again */
    RG_CANCEL_RECOVER, /* call it off: abort before the switch; after it, climb the ladder as
                          after a failure (the ladder itself is not interrupted) */
};

struct rg_run_opts {
    enum rg_run_kind kind;
    const char *tag;         /* deploy: the release; rollback: the target (NULL: previous) */
    bool force;              /* rollback: allow a tag that never passed its gates */
    const char *backup_path; /* restore: the backup */
    int restore_jobs;        /* restore: database connections at once (0: the default) */
    const struct rg_driver_ops *driver; /* NULL: the playbook's driver from the registry */
    const char *trigger;                /* cli, hook, ci */
    const char *actor;
    const char *commit;   /* the git commit a push deploys, for the ledger; NULL: none */
    const char *log_path; /* the file the caller keeps the run's output in, for the ledger */
    bool takeover;        /* rollback: stop the deploy holding the lock (SIGTERM), wait for it
                             to halt safely, close it in the ledger, then go on */
    int64_t lock_wait_ms; /* how long to wait for another deploy to finish */
    int cancel_fd;        /* readable on SIGINT/SIGTERM (the CLI's self-pipe); -1: none */
    /* What a cancel asks (NULL: RG_CANCEL_STOP); asked each time one is noticed. */
    enum rg_cancel_kind (*cancel_kind)(void *data);
    void *cancel_data;
    void (*report)(const struct rg_report *r, void *data);
    void *report_data;
};

struct rg_run_result {
    int64_t deploy_id;
    enum rg_outcome outcome;
    bool halted;        /* stopped by a signal: in flight in the ledger, for resume */
    bool suspended;     /* halted by RG_CANCEL_SUSPEND: its last step is still in flight */
    bool nothing_to_do; /* resume found no deploy in flight */
    char tag[136];
    char live_tag[136]; /* the release serving at the end */
    char error[RG_ERR_MSG_MAX + 64];
    int error_code; /* the rg_err code of the failure that ended the run, 0 when none */
    char cause[RG_ERR_MSG_MAX + 64]; /* that failure's message, without the state it happened in */
    struct rg_backup_row backup;     /* backup: the one taken */
    struct rg_restore_result restored; /* restore: what was restored and what was kept */
    bool restarted; /* restore: the serving release was stopped for the swap and serves again */
};

/* Runs a deploy, a manual rollback, a resume, a backup or a restore of pb's target under its
 * lock. Returns 0 when the run reached an outcome (look at out->outcome, including failed ones);
 * RG_EBUSY when another run holds the lock; RG_EINVAL for a bad tag or a driver that is not
 * implemented; other codes when the run could not start. */
int rg_engine_run(struct rg_run_result *out, const struct rg_playbook *pb,
                  const struct rg_run_opts *opts, struct rg_err *err);

#endif
