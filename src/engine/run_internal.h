/* Private to engine: the state of one run, shared by the executor, the ladder and resume. */
#ifndef ROLLGATE_ENGINE_RUN_INTERNAL_H
#define ROLLGATE_ENGINE_RUN_INTERNAL_H

#include "rollgate/driver.h"
#include "rollgate/engine.h"
#include "rollgate/ledger.h"
#include "rollgate/steps.h"

/* How the ledger note of a restore by hand says that it stops the serving release. */
#define RG_RESTORE_STOPS_NOTE "stopped for the swap"

struct run {
    const struct rg_playbook *pb;
    const struct rg_run_opts *o;
    struct rg_run_result *res;
    struct rg_ledger *ledger;
    struct rg_lock *lock;
    struct rg_driver *driver;            /* the target */
    struct rg_plan *plan;                /* the deploy's plan (a manual rollback builds its own) */
    struct rg_plan_stage *manual_stages; /* the stages of a manual rollback, backup, restore */
    size_t n_manual_stages;
    int64_t deploy_id;
    char kind[16];                    /* deploy, rollback, backup, restore */
    int64_t started;                  /* monotonic ms */
    char tag[136];                    /* the release this run moves to */
    char prev_tag[136];               /* the release serving when it began, "" when none */
    char prev_digest[200];            /* its digest, "" when unknown */
    struct rg_lock_holder taken_over; /* --takeover: the run stopped for this one (pid 0: none) */
    bool gates_failed;                /* the release itself failed PROBE, VERIFY or SETTLE */
    char digest[200];                 /* of tag, once known */
    char rung_tag[136];               /* the release a rollback rung returns to */
    char rung_digest[200];            /* and its digest */
    struct rg_backup_row rung_backup; /* the backup a restore rung brings back */
    int rung;                         /* 0: the deploy itself; i: recover rung i */
    enum rg_state state;
    bool cancel_before_stage; /* the last stage saw a signal before it began */
    bool changed;             /* the stage entered last would halt on a cancel (see rg_report) */
    const struct rg_step *step; /* the playbook step of the stage being run, or NULL */
    struct rg_step_ctx sc;
    struct rg_strv hosts; /* switch: the instances verify and settle judge */
    struct rg_strv ids;
    struct rg_buf evidence;
    char last_error[RG_ERR_MSG_MAX + 64];
    int last_code;        /* rg_err code of the last failed stage */
    bool data_changed;    /* a manual restore swapped the database */
    bool serving_running; /* a manual restore found the serving release running */
    bool release_down;    /* a manual restore left the serving release stopped */
    struct run_dx *dx;    /* the diagnosis of a failed release, running (diagnosis.c) */
};

/* What a cancel noticed now asks (the caller's answer, RG_CANCEL_STOP by default). */
enum rg_cancel_kind run_cancel_kind(const struct run *r);
void run_report(struct run *r, enum rg_report_kind kind, enum rg_state st, enum rg_event ev,
                const char *message);
/* Runs stages [from, n) and returns the index of the one whose event did not lead on (n when
 * all did), with *move_out what it led to. */
size_t run_stages(struct run *r, const struct rg_plan_stage *stages, size_t n, size_t from,
                  enum rg_move *move_out);
/* Climbs the ladder from rung `first` (1-based), starting that rung at stage `from`. Returns
 * the outcome. */
enum rg_outcome run_ladder(struct run *r, int first, size_t from, bool *halted);
/* Ends a run that failed before it changed what users see (ABORTED); a switch's candidate is
 * removed first. st is the state that failed. */
void run_abort(struct run *r, enum rg_state st, const char *why);
/* Starts diagnosing a deploy whose release failed its gates, once (diagnosis.c). */
void run_diagnose_start(struct run *r);
/* Waits for it: its text, or NULL when it found nothing or never ran. To free. */
char *run_diagnose_finish(struct run *r);
/* Ends the run: ledger, notifications, result. */
void run_finish(struct run *r, enum rg_outcome outcome, const char *error);
/* Refuses a release in quarantine (by tag, or digest when not ""): RG_EINVAL naming the run
 * that put it there and how to allow it (quarantine.c). */
int run_check_quarantine(struct run *r, const char *tag, const char *digest, struct rg_err *err);
/* After an outcome: what serves now joins the serving records, and a release that failed its
 * gates (or that a rollback by hand left) goes into quarantine (quarantine.c). */
void run_record_serving(struct run *r, enum rg_outcome outcome, const char *live_tag);
/* The release a rollback goes to: to ("previous" or a tag) resolved against the ledger. */
int run_rollback_target(struct run *r, const char *to, char *tag_out, size_t size,
                        struct rg_err *err);
/* BACKUP: the data of the release serving now, before anything changes (restore_rung.c). */
int run_backup(struct run *r, struct rg_err *err);
/* The backup a restore rung brings back (from: "before_deploy" or "latest"), with its release
 * as the rung's tag. */
int run_restore_target(struct run *r, const char *from, struct rg_err *err);
/* RECOVER of a restore rung: the target, the backup verified whole, the release's image here. */
int run_prepare_restore(struct run *r, const char *from, struct rg_err *err);
/* RESTORE: the failed release stopped, the backup restored (scratch database, swap); for a
 * restore by hand, the backup the caller named under the serving release. */
int run_restore(struct run *r, struct rg_err *err);
/* Builds the stages of a manual rollback (rollback.c), backup or restore (manual.c). */
void run_build_rollback(struct run *r);
void run_build_backup(struct run *r);
void run_build_restore(struct run *r);
/* The outcome of a manual run whose stages all passed, and of one that failed. */
enum rg_outcome run_manual_outcome(const struct run *r, bool ok);
void run_init(struct run *r, const struct rg_playbook *pb, const struct rg_run_opts *o,
              struct rg_run_result *res);
void run_release(struct run *r);
/* Forgets one deploy's state, keeping the ledger, the lock and the driver. */
void run_reset(struct run *r);
/* Runs the plan from stage `from` of rung `rung` (0: the deploy or manual rollback itself) to
 * an outcome, or to a halt. */
void run_continue(struct run *r, int rung, size_t from, bool manual);
/* Resumes the deploy a crash or a signal left in flight, if any (*resumed says whether there
 * was one); see resume.c. */
int run_resume(struct run *r, bool *resumed, struct rg_err *err);
/* Sends the playbook's notifications for an outcome; never changes it. */
void run_notify(struct run *r, enum rg_outcome outcome, const char *error);

#endif
