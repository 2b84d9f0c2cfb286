/* Private to cli: a run that must not be cut short by its caller. A CI job's bounded wait
 * (--wait-timeout) and its cancel (SIGINT, then SIGTERM 7.5 s later, then SIGKILL) both end
 * the job; what the target goes through does not: before the switch the run aborts with
 * nothing changed, after it the run is handed to a detached worker (`rollgate resume`) that
 * finishes it or rolls back. A watcher thread makes the choice while the engine runs. */
#ifndef ROLLGATE_CLI_HANDOFF_H
#define ROLLGATE_CLI_HANDOFF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rollgate/engine.h"

struct rg_handoff {
    /* set by the caller before rg_handoff_start */
    const char *playbook;  /* as given; made absolute for the worker */
    const char *target;
    const char *state_dir;
    const char *actor;
    const char *log_path;  /* the run's log: the worker's is beside it */
    int64_t timeout_ms;    /* --wait-timeout; 0: none */
    bool cancel_on_timeout;
    FILE *errout;
    /* private */
    int sig_fd;
    int cancel_pipe[2]; /* the engine's cancel_fd is [0] */
    int stop_pipe[2];
    pthread_t thread;
    bool running;
    int64_t deadline_ms; /* monotonic; 0: none */
    atomic_llong deploy_id;
    atomic_bool changed, started, ended;
    atomic_int rung;
    atomic_int kind;       /* enum rg_cancel_kind */
    atomic_int signal;     /* the first signal, 0: none */
    atomic_bool timed_out; /* the --wait-timeout passed */
    atomic_int worker_pid; /* the resume worker, 0: none */
    atomic_bool takeover;  /* a signal came from `rollback --takeover`: no worker */
    atomic_bool cut_ok;    /* the stage running polls gates: cutting it short loses nothing */
    atomic_bool deferred;  /* a cancel waits for the step running to end (see rg_handoff_note) */
    pthread_mutex_t spawn_lock;
    char *worker_log;
};

/* Starts the watcher on the CLI's signal pipe; returns the fd the engine takes as cancel_fd,
 * or -1 (no watcher: signals then reach the engine directly as before). */
int rg_handoff_start(struct rg_handoff *h, int sig_fd);
/* What the engine reports, as the watcher needs it (deploy id, stage, rung, end). */
void rg_handoff_note(struct rg_handoff *h, const struct rg_report *r);
/* rg_run_opts.cancel_kind (data: struct rg_handoff). */
enum rg_cancel_kind rg_handoff_cancel_kind(void *data);
/* Stops the watcher; safe to call twice. */
void rg_handoff_stop(struct rg_handoff *h);
/* Stops it and frees what start allocated (after the last spawn). */
void rg_handoff_release(struct rg_handoff *h);
/* Starts the worker that resumes the run (once: later calls return the same pid). Returns its
 * pid, or -1 with the reason on errout. */
int rg_handoff_spawn_resume(struct rg_handoff *h);
/* Starts a worker that runs args (a rollgate command line without the program: a deploy still
 * waiting for the lock) with its output in log; its pid, or -1. */
int rg_handoff_spawn(struct rg_handoff *h, const char *const *args, const char *log);
/* The environment of a detached worker, to free() (the strings are environ's): the caller's,
 * without git's GIT_* (a hook's repository is not the worker's business) and without the
 * RUNNER_TRACKING_ID a GitHub runner finds a job's leftover processes by, to kill them. */
char **rg_worker_env(void);

#endif
