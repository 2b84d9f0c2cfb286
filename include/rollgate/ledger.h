/* The ledger of a target: every deploy, every state transition (its intent written before the
 * action, its outcome after) and the releases known to be good, in SQLite; and the lock that
 * keeps one deploy per target. */
#ifndef ROLLGATE_LEDGER_H
#define ROLLGATE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"

#define RG_LEDGER_SCHEMA 4

struct rg_ledger;

struct rg_deploy_row {
    int64_t id;
    char target[80];
    char kind[16]; /* deploy, rollback, backup, restore */
    char tag[136];
    char digest[200];   /* repo@sha256:… of the release, "" until known */
    char prev_tag[136]; /* the release running when it began, "" when none */
    char trigger[16];   /* cli, hook, ci */
    char actor[80];
    int64_t started_ms;
    int64_t ended_ms; /* 0 while running */
    char outcome[24]; /* deployed, repaired, rolled_back, restored, unrecovered, aborted,
                         backed_up;
                         "" while running */
    char state[24];   /* the last state entered */
    char error[512];
    char note[1200]; /* a run by hand: the backup it took or restored; "" otherwise */
    char commit[72]; /* the git commit a push deployed; "" otherwise */
    char log[1024];  /* the file the run's output went to ("" when not kept) */
};

struct rg_transition_row {
    int64_t id;
    int64_t deploy_id;
    int64_t at_ms;
    char phase[8]; /* intent, done */
    char state[24];
    int rung;          /* 0: the deploy itself; i: the i-th recover rung */
    int stage;         /* index of the stage in the deploy's (or the rung's) plan */
    char event[16];    /* done: ok, fail, timeout, cancel */
    char detail[1024]; /* evidence, redacted */
};

struct rg_release_row {
    char tag[136];
    char digest[200];
    int64_t deploy_id;
    int64_t good_ms; /* when it last passed verify and settle */
};

/* Opens (creating, migrating) the ledger <state_dir>/<target>.db: WAL, synchronous=FULL,
 * busy_timeout. The directory is created (0750) when missing. */
int rg_ledger_open(struct rg_ledger **out, const char *state_dir, const char *target,
                   struct rg_err *err);
/* The same for commands that only read (status, history, backups): nothing is created;
 * RG_ENOENT when the target has no ledger yet. SQLite's write-ahead log still needs the state
 * directory writable: a user who may only read it gets RG_ENOPERM. */
int rg_ledger_open_existing(struct rg_ledger **out, const char *state_dir, const char *target,
                            struct rg_err *err);
/* Read-only, for a git hook's pre-receive (which must never write): no migration, no WAL
 * switch; RG_ENOENT when there is no ledger. */
int rg_ledger_open_readonly(struct rg_ledger **out, const char *state_dir, const char *target,
                            struct rg_err *err);
void rg_ledger_close(struct rg_ledger *l);

/* Records a new deploy; *id_out is its id. */
int rg_ledger_begin(int64_t *id_out, struct rg_ledger *l, const char *kind, const char *tag,
                    const char *prev_tag, const char *trigger, const char *actor,
                    struct rg_err *err);
/* Write-ahead: the intent to enter state — stage `stage` of the deploy's plan (rung 0) or of
 * recover rung `rung` — before acting. */
int rg_ledger_intent(struct rg_ledger *l, int64_t deploy_id, const char *state, int rung, int stage,
                     const char *detail, struct rg_err *err);
/* The outcome of that state: event ok, fail, timeout or cancel, with its evidence. */
int rg_ledger_done(struct rg_ledger *l, int64_t deploy_id, const char *state, int rung, int stage,
                   const char *event, const char *detail, struct rg_err *err);
int rg_ledger_set_digest(struct rg_ledger *l, int64_t deploy_id, const char *digest,
                         struct rg_err *err);
/* Records what a run by hand works on (the backup it took or restores), shown by history. */
int rg_ledger_set_note(struct rg_ledger *l, int64_t deploy_id, const char *note,
                       struct rg_err *err);
/* Closes a deploy with its outcome (and the error that decided it, or NULL). */
int rg_ledger_finish(struct rg_ledger *l, int64_t deploy_id, const char *outcome, const char *error,
                     struct rg_err *err);

/* Marks tag (with its digest) known-good now. */
int rg_ledger_mark_good(struct rg_ledger *l, const char *tag, const char *digest, int64_t deploy_id,
                        struct rg_err *err);
/* The most recent known-good release other than except_tag (NULL: none excluded).
 * RG_ENOENT when there is none. */
int rg_ledger_previous_good(struct rg_release_row *out, struct rg_ledger *l, const char *except_tag,
                            struct rg_err *err);
/* The known-good record of tag, or RG_ENOENT. */
int rg_ledger_release(struct rg_release_row *out, struct rg_ledger *l, const char *tag,
                      struct rg_err *err);

/* The git commit a push deploys, for history and attach. */
int rg_ledger_set_commit(struct rg_ledger *l, int64_t deploy_id, const char *commit,
                         struct rg_err *err);
/* The file the run's output goes to, for attach. */
int rg_ledger_set_log(struct rg_ledger *l, int64_t deploy_id, const char *path,
                      struct rg_err *err);
/* One deploy by id (RG_ENOENT naming it when there is none). */
int rg_ledger_get(struct rg_deploy_row *out, struct rg_ledger *l, int64_t id, struct rg_err *err);
/* The transitions of a deploy after transition after_id, oldest first: up to max into out, *n
 * how many. For following a run (attach). */
int rg_ledger_transitions(struct rg_transition_row *out, size_t max, size_t *n,
                          struct rg_ledger *l, int64_t deploy_id, int64_t after_id,
                          struct rg_err *err);

/* ---- releases seen serving, and quarantine ---- */

/* Records that tag (digest, "" when unknown) serves now: how is observed (found serving, e.g.
 * before rollgate's first deploy), deployed, rolled_back, repaired or restored. Nothing is
 * written when the newest record already names the same release. */
int rg_ledger_serving_add(struct rg_ledger *l, const char *tag, const char *digest,
                          int64_t deploy_id, const char *how, struct rg_err *err);
struct rg_serving_row {
    int64_t id;
    char tag[136];
    char digest[200];
    int64_t deploy_id;
    char how[16];
    int64_t at_ms;
};
/* The release that served before current: the newest record of another release that no
 * quarantine in force names. RG_ENOENT when there is none. */
int rg_ledger_serving_before(struct rg_serving_row *out, struct rg_ledger *l, const char *current,
                             struct rg_err *err);
/* The newest record of tag serving (gated or observed): 1 with *out, 0 when it never served. */
int rg_ledger_seen_serving(struct rg_serving_row *out, struct rg_ledger *l, const char *tag,
                           struct rg_err *err);

struct rg_quarantine_row {
    int64_t id;
    char tag[136];
    char digest[200];
    int64_t deploy_id; /* the deploy that failed it, or the rollback that left it */
    char reason[512];
    int64_t at_ms;
};
/* Puts a release in quarantine (by digest when known, and by tag). */
int rg_ledger_quarantine(struct rg_ledger *l, const char *tag, const char *digest,
                         int64_t deploy_id, const char *reason, struct rg_err *err);
/* The quarantine in force that names tag, or digest (when not ""): 1 with *out, 0 when none. */
int rg_ledger_quarantined(struct rg_quarantine_row *out, struct rg_ledger *l, const char *tag,
                          const char *digest, struct rg_err *err);
/* Lifts the quarantines that name tag (and its digests); *n how many. Recorded with actor. */
int rg_ledger_allow(size_t *n, struct rg_ledger *l, const char *tag, const char *actor,
                    struct rg_err *err);
/* The quarantines in force, newest first; *out an array of *n to free(). */
int rg_ledger_quarantine_list(struct rg_quarantine_row **out, size_t *n, struct rg_ledger *l,
                              struct rg_err *err);

/* The latest deploy (RG_ENOENT when none). */
int rg_ledger_last(struct rg_deploy_row *out, struct rg_ledger *l, struct rg_err *err);
/* Up to max deploys, newest first; *n is how many. */
int rg_ledger_history(struct rg_deploy_row *out, size_t max, size_t *n, struct rg_ledger *l,
                      struct rg_err *err);
/* The last transition of a deploy into *out. Returns 1 when it is an intent without its done
 * row (the state was in flight), 0 otherwise (*out zeroed when there is none). */
int rg_ledger_in_flight(struct rg_transition_row *out, struct rg_ledger *l, int64_t deploy_id,
                        struct rg_err *err);
/* ---- backups: archives of the database and filestore, each with its release ---- */

struct rg_backup_row {
    int64_t id;
    char path[1024]; /* the archive */
    char tag[136];   /* the release the data belongs to ("" when unknown) */
    char digest[200];
    int64_t deploy_id; /* the deploy it was taken before; 0: taken by hand */
    int64_t created_ms;
    int64_t size;        /* bytes of the archive */
    int64_t verified_ms; /* last full check of its checksums; 0: never after writing */
    int64_t deleted_ms;  /* removed by retention; 0: present */
};

/* Records a new backup (row->id is ignored); *id_out is its id. */
int rg_ledger_backup_add(int64_t *id_out, struct rg_ledger *l, const struct rg_backup_row *row,
                         struct rg_err *err);
/* One backup by id; RG_ENOENT naming the id when there is none (or it was deleted). */
int rg_ledger_backup_get(struct rg_backup_row *out, struct rg_ledger *l, int64_t id,
                         struct rg_err *err);
/* The present backups, newest first; *out is an array of *n rows to free(). */
int rg_ledger_backups(struct rg_backup_row **out, size_t *n, struct rg_ledger *l,
                      struct rg_err *err);
/* The backup taken before deploy_id; RG_ENOENT when none was. */
int rg_ledger_backup_of_deploy(struct rg_backup_row *out, struct rg_ledger *l, int64_t deploy_id,
                               struct rg_err *err);
/* The newest present backup of release tag (NULL: of any release); RG_ENOENT when none. */
int rg_ledger_backup_latest(struct rg_backup_row *out, struct rg_ledger *l, const char *tag,
                            struct rg_err *err);
int rg_ledger_backup_verified(struct rg_ledger *l, int64_t id, struct rg_err *err);
int rg_ledger_backup_deleted(struct rg_ledger *l, int64_t id, struct rg_err *err);

/* ---- the lock: one deploy per target ---- */

struct rg_lock;

struct rg_lock_holder {
    int pid;
    int64_t deploy_id;
    char actor[80];
    char trigger[16];
    char state[24]; /* the state its deploy entered last, as it wrote it */
    int64_t since_ms;
    bool stale; /* rg_lock_take: this holder died holding the lock (SIGKILL, power cut) */
};

/* Takes the target's lock <state_dir>/<target>.lock (flock, O_CLOEXEC so no child keeps it),
 * waiting up to wait_ms (0: not at all). RG_EBUSY with *holder filled (and a message naming the
 * deploy, actor, trigger, state and start) when another process holds it. The lock dies with
 * its process; on success *holder is the record such a dead holder left (stale), or zeroed. */
int rg_lock_take(struct rg_lock **out, struct rg_lock_holder *holder, const char *state_dir,
                 const char *target, const char *actor, int64_t wait_ms, struct rg_err *err);
/* Whether another live process announced a --takeover of the target: a SIGTERM it sends is
 * that, not a CI's cancel. */
bool rg_lock_takeover_announced(const char *state_dir, const char *target);
/* --takeover: while on, waiters of the target (other than this process) leave the lock to it,
 * so that a deploy queued behind the stopped holder does not take it first. */
int rg_lock_announce_takeover(const char *state_dir, const char *target, bool on,
                              struct rg_err *err);
/* Records which deploy the holder runs and how it was started, for the busy message of
 * others. */
int rg_lock_set_deploy(struct rg_lock *lk, int64_t deploy_id, const char *trigger,
                       struct rg_err *err);
/* Records the state the holder's deploy enters (shown to whoever finds the target busy). */
void rg_lock_set_state(struct rg_lock *lk, const char *state);
/* Reads who holds the lock without taking it: 1 with *holder when held, 0 when free. */
int rg_lock_peek(struct rg_lock_holder *holder, const char *state_dir, const char *target,
                 struct rg_err *err);
void rg_lock_release(struct rg_lock *lk);

#endif
