/* A failed deploy carries a diagnosis: when the release fails its gates, diagnose starts on a
 * thread of its own (its own driver handle, a deadline), so the ladder is not delayed by it, and
 * the run waits for it only when it ends: the causes go into the run's output, the ledger's
 * note of the outcome (history) and the notification. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/diagnose.h"
#include "run_internal.h"

#define DIAGNOSE_DEADLINE_MS 8000

struct run_dx {
    pthread_t thread;
    const struct rg_playbook *pb;
    int64_t since_ms;
    struct rg_diagnosis dx;
    bool done;
};

static void *
diagnose_main(void *data)
{
    struct run_dx *x = data;
    struct rg_diagnose_opts o = {.since_ms = x->since_ms, .deadline_ms = DIAGNOSE_DEADLINE_MS};
    struct rg_driver *d = NULL;
    struct rg_err err;

    if (rg_driver_open(&d, x->pb, NULL, &err) == 0) {
        x->done = rg_diagnose(&x->dx, x->pb, d, &o, &err) == 0;
        rg_driver_close(d);
    }
    return NULL;
}

void
run_diagnose_start(struct run *r)
{
    struct run_dx *x;

    if (r->dx || strcmp(r->kind, "deploy") != 0)
        return;
    x = rg_calloc(1, sizeof(*x));
    x->pb = r->pb;
    /* From a little before the run began: its own changes are what is judged. */
    x->since_ms = rg_wall_ms() - (rg_mono_ms() - r->started) - 5000;
    if (pthread_create(&x->thread, NULL, diagnose_main, x) != 0) {
        free(x);
        return;
    }
    r->dx = x;
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
    free(x);
    return out;
}
