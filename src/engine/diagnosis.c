/* A failed deploy carries a diagnosis: when the release fails its gates, diagnose starts on a
 * thread of its own (its own driver handle, a deadline), so the ladder is not delayed by it, and
 * the run waits for it only when it ends: the causes go into the run's output, the ledger's
 * note of the outcome (history) and the notification. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollgate/diagnose.h"
#include "run_internal.h"

#define DIAGNOSE_DEADLINE_MS 8000

#define SNAPSHOT_WAIT_MS 500

struct run_dx {
    pthread_t thread;
    const struct rg_playbook *pb;
    int64_t since_ms;
    struct rg_diagnosis dx;
    bool done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool snapshot; /* the containers or units were read: the ladder may change them now */
};

static void
snapshot_taken(void *data)
{
    struct run_dx *x = data;

    pthread_mutex_lock(&x->mu);
    x->snapshot = true;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void *
diagnose_main(void *data)
{
    struct run_dx *x = data;
    struct rg_diagnose_opts o = {.since_ms = x->since_ms,
                                 .deadline_ms = DIAGNOSE_DEADLINE_MS,
                                 .collected = snapshot_taken,
                                 .collected_data = x};
    struct rg_driver *d = NULL;
    struct rg_err err;

    if (rg_driver_open(&d, x->pb, NULL, &err) == 0) {
        x->done = rg_diagnose(&x->dx, x->pb, d, &o, &err) == 0;
        rg_driver_close(d);
    } else {
        rg_log(RG_LOG_WARN, "no diagnosis: %s", err.msg);
    }
    snapshot_taken(x); /* also when it never got that far */
    return NULL;
}

void
run_diagnose_start(struct run *r)
{
    struct run_dx *x;

    if (r->dx || strcmp(r->kind, "deploy") != 0)
        return;
    sigset_t all, old;
    struct timespec until;
    int rc;

    x = rg_calloc(1, sizeof(*x));
    x->pb = r->pb;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    /* From a little before the run began: its own changes are what is judged. */
    x->since_ms = rg_wall_ms() - (rg_mono_ms() - r->started) - 5000;
    /* Signals stay with the main thread (its self-pipe), as for every helper thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&x->thread, NULL, diagnose_main, x);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->mu);
        free(x);
        return;
    }
    r->dx = x;
    /* Replaced in place, the failed release's containers are read before the ladder replaces
     * them (a listing: tens of ms; never more than SNAPSHOT_WAIT_MS of the recovery). Under
     * switch they stay beside the serving release until the ladder removes them: no wait. */
    if (r->pb->strategy == RG_STRATEGY_SWITCH)
        return;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(SNAPSHOT_WAIT_MS % 1000) * 1000000L;
    until.tv_sec += SNAPSHOT_WAIT_MS / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&x->mu);
    while (!x->snapshot && pthread_cond_timedwait(&x->cv, &x->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&x->mu);
}

char *
run_diagnose_finish(struct run *r)
{
    struct run_dx *x = r->dx;
    struct rg_buf text;
    char *out = NULL;

    if (!x)
        return NULL;
    pthread_join(x->thread, NULL);
    r->dx = NULL;
    if (x->done && x->dx.n) {
        rg_buf_init(&text, 12 * 1024);
        rg_diagnosis_text(&text, &x->dx);
        out = rg_buf_detach(&text);
    }
    rg_diagnosis_release(&x->dx);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
    return out;
}
