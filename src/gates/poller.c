/* The poller: runs a step's gates concurrently. HTTP and WebSocket probes share one curl multi
 * handle; the other kinds probe on a thread each, reporting back through a pipe the multi
 * handle also waits on. Every gate has its own interval, deadline and count of passes. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate.h"

#define TICK_MS 100 /* the longest the loop sleeps: how often watch and cancel are checked */

struct slot {
    size_t index;
    const struct rg_gate *gate;
    const struct rg_gate_ops *ops;
    void *ctx;
    struct rg_gate_result *res;
    int64_t next_due;
    int64_t deadline;
    int64_t probe_started;
    int passes;
    bool done;
    bool in_flight;
    CURL *easy;             /* in flight on the multi handle */
    pthread_t thread;       /* in flight on a thread */
    bool thread_started;
    struct rg_verdict v;    /* written by the thread, read after it reported */
    int probe_rc;
    struct rg_err perr;
    int done_fd;            /* write end of the completion pipe, for the thread */
};

struct poll_state {
    struct slot *slots;
    size_t n;
    CURLM *multi;
    int pipe_fd[2];
    const struct rg_poll_opts *opts;
    int64_t start;
    size_t open;            /* slots not done */
};

static void *
probe_thread(void *arg)
{
    struct slot *s = arg;
    unsigned char idx = 0;
    ssize_t w;

    s->probe_rc = s->ops->probe(&s->v, s->ctx, &s->perr);
    /* The main loop learns which slot finished from its index (slots are at most 255). */
    idx = (unsigned char)s->index;
    do {
        w = write(s->done_fd, &idx, 1);
    } while (w < 0 && errno == EINTR);
    return NULL;
}

static void
finish_slot(struct poll_state *ps, struct slot *s, enum rg_verdict_kind outcome, bool timed_out)
{
    if (s->done)
        return;
    s->done = true;
    s->res->outcome = outcome;
    s->res->timed_out = timed_out;
    s->res->elapsed_ms = rg_mono_ms() - ps->start;
    ps->open--;
}

static void
stop_all(struct poll_state *ps, const char *why)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct slot *s = &ps->slots[i];
        if (s->done)
            continue;
        if (why) {
            gate_verdict(&s->res->last, RG_VERDICT_RETRY, "stopped: %s", why);
            s->res->last.evidence[0] = '\0';
        }
        finish_slot(ps, s, RG_VERDICT_RETRY, false);
    }
}

static void judge_verdict(struct poll_state *ps, struct slot *s);

/* Judges a finished probe, then tells the caller (who then sees whether it decided the gate). */
static void
judge(struct poll_state *ps, struct slot *s)
{
    judge_verdict(ps, s);
    if (ps->opts->progress)
        ps->opts->progress(s->res, ps->opts->progress_data);
}

static void
judge_verdict(struct poll_state *ps, struct slot *s)
{
    const struct rg_poll_opts *o = ps->opts;
    int64_t now = rg_mono_ms();

    s->in_flight = false;
    s->res->probes++;
    if (s->probe_rc < 0) {
        /* The probe could not be made at all: that is this gate's verdict. */
        gate_verdict(&s->v, RG_VERDICT_RETRY, "%s", s->perr.msg);
    }
    s->res->last = s->v;
    s->next_due = s->probe_started + s->gate->timing.every_ms;
    if (s->next_due < now)
        s->next_due = now;
    if (o->once) {
        finish_slot(ps, s, s->v.kind == RG_VERDICT_PASS ? RG_VERDICT_PASS : RG_VERDICT_FAIL,
                    false);
        return;
    }
    if (o->settle_ms > 0) {
        /* Stability: one probe that does not pass is enough; the window's end is a pass. */
        if (s->v.kind != RG_VERDICT_PASS)
            finish_slot(ps, s, RG_VERDICT_FAIL, false);
        else if (now >= s->deadline)
            finish_slot(ps, s, RG_VERDICT_PASS, false);
        return;
    }
    switch (s->v.kind) {
    case RG_VERDICT_PASS:
        if (++s->passes >= s->gate->timing.need)
            finish_slot(ps, s, RG_VERDICT_PASS, false);
        break;
    case RG_VERDICT_RETRY:
        s->passes = 0;
        if (now >= s->deadline)
            finish_slot(ps, s, RG_VERDICT_FAIL, true);
        break;
    case RG_VERDICT_FAIL:
        finish_slot(ps, s, RG_VERDICT_FAIL, false);
        break;
    }
}

static int
start_probe(struct poll_state *ps, struct slot *s, struct rg_err *err)
{
    s->probe_started = rg_mono_ms();
    memset(&s->v, 0, sizeof(s->v));
    rg_err_clear(&s->perr);
    if (s->ops->start) {
        if (!(s->easy = s->ops->start(s->ctx, err)))
            return err->code ? err->code : RG_EINTERNAL;
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        if (curl_multi_add_handle(ps->multi, s->easy) != CURLM_OK)
            return rg_err_set(err, RG_EINTERNAL, "cannot add a probe to the curl multi handle");
    } else {
        s->done_fd = ps->pipe_fd[1];
        if ((errno = pthread_create(&s->thread, NULL, probe_thread, s)) != 0)
            return rg_err_sys(err, RG_EINTERNAL, "cannot start a probe thread");
        s->thread_started = true;
    }
    s->in_flight = true;
    return 0;
}

static void
collect_threads(struct poll_state *ps)
{
    unsigned char idx[64];
    ssize_t r;

    while ((r = read(ps->pipe_fd[0], idx, sizeof(idx))) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            struct slot *s = &ps->slots[idx[i]];
            pthread_join(s->thread, NULL);
            s->thread_started = false;
            judge(ps, s);
        }
    }
}

static void
collect_transfers(struct poll_state *ps)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(ps->multi, &left))) {
        struct slot *s = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result; /* copied before the handle is removed */

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
        curl_multi_remove_handle(ps->multi, easy);
        s->easy = NULL;
        s->ops->finish(&s->v, s->ctx, result);
        s->probe_rc = 0;
        judge(ps, s);
    }
}

static bool
readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return fd >= 0 && poll(&p, 1, 0) > 0;
}

/* Waits for the slots still in flight so nothing outlives the poll. */
static void
drain(struct poll_state *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct slot *s = &ps->slots[i];
        if (s->easy) {
            curl_multi_remove_handle(ps->multi, s->easy);
            s->easy = NULL;
        }
        if (s->thread_started) {
            pthread_join(s->thread, NULL);
            s->thread_started = false;
        }
    }
}

static int
run(struct poll_state *ps, struct rg_err *err)
{
    const struct rg_poll_opts *o = ps->opts;
    struct curl_waitfd extra[2];
    char why[RG_ERR_MSG_MAX];
    int rc;

    while (ps->open > 0) {
        int64_t now = rg_mono_ms(), wait = TICK_MS;
        unsigned nextra = 0;
        int running;

        if (readable(o->cancel_fd)) {
            stop_all(ps, "cancelled");
            return rg_err_set(err, RG_ECANCELED, "gates cancelled");
        }
        if (o->watch && o->watch(why, sizeof(why), o->watch_data)) {
            stop_all(ps, why);
            return rg_err_set(err, RG_EGATE, "%s", why);
        }
        for (size_t i = 0; i < ps->n; i++) {
            struct slot *s = &ps->slots[i];
            if (s->done || s->in_flight)
                continue;
            if (now >= s->deadline && s->res->probes > 0) {
                /* In a stability window reaching the end without a failed probe is a pass. */
                finish_slot(ps, s, o->settle_ms > 0 ? RG_VERDICT_PASS : RG_VERDICT_FAIL,
                            o->settle_ms <= 0);
                /* Decided by the clock, not a probe: the caller is told all the same. */
                if (o->progress)
                    o->progress(s->res, o->progress_data);
                continue;
            }
            if (now >= s->next_due) {
                if ((rc = start_probe(ps, s, err)) < 0)
                    return rc;
            } else if (s->next_due - now < wait) {
                wait = s->next_due - now;
            }
        }
        if (o->stop_on_fail) {
            for (size_t i = 0; i < ps->n; i++) {
                if (ps->slots[i].done && ps->slots[i].res->outcome == RG_VERDICT_FAIL) {
                    char stop[200];
                    snprintf(stop, sizeof(stop), "gate '%s' failed", ps->slots[i].gate->name);
                    stop_all(ps, stop);
                    break;
                }
            }
        }
        if (ps->open == 0)
            break;
        extra[nextra].fd = ps->pipe_fd[0];
        extra[nextra].events = CURL_WAIT_POLLIN;
        extra[nextra++].revents = 0;
        if (o->cancel_fd >= 0) {
            extra[nextra].fd = o->cancel_fd;
            extra[nextra].events = CURL_WAIT_POLLIN;
            extra[nextra++].revents = 0;
        }
        curl_multi_perform(ps->multi, &running);
        collect_transfers(ps);
        collect_threads(ps);
        if (ps->open == 0)
            break;
        curl_multi_poll(ps->multi, extra, nextra, (int)(wait > 0 ? wait : 0), NULL);
        curl_multi_perform(ps->multi, &running);
        collect_transfers(ps);
        collect_threads(ps);
    }
    return 0;
}

int
rg_gates_poll(struct rg_gate_result *results, const struct rg_gate *const *gates, size_t n,
              const struct rg_gate_env *env, const struct rg_poll_opts *opts,
              struct rg_err *err)
{
    struct rg_poll_opts none = {.cancel_fd = -1};
    struct poll_state ps = {.n = n, .pipe_fd = {-1, -1}};
    const struct rg_gate_result *first_fail = NULL;
    int rc = 0;

    ps.opts = opts ? opts : &none;
    rg_net_init();
    if (n > 255)
        return rg_err_set(err, RG_EINVAL, "a step may poll at most 255 gates, got %zu", n);
    ps.slots = rg_calloc(n ? n : 1, sizeof(*ps.slots));
    ps.start = rg_mono_ms();
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &ps.slots[i];
        memset(&results[i], 0, sizeof(results[i]));
        results[i].gate = gates[i];
        results[i].outcome = RG_VERDICT_RETRY;
        s->index = i;
        s->gate = gates[i];
        s->res = &results[i];
        s->ops = rg_gate_ops_find(gates[i]->kind);
        s->next_due = ps.start;
        s->deadline = ps.start + (ps.opts->settle_ms > 0 ? ps.opts->settle_ms
                                                          : gates[i]->timing.within_ms);
    }
    if (pipe2(ps.pipe_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
        rc = rg_err_sys(err, RG_EINTERNAL, "cannot create the poller's pipe");
        goto out;
    }
    if (!(ps.multi = curl_multi_init())) {
        rc = rg_err_set(err, RG_EINTERNAL, "cannot create a curl multi handle");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &ps.slots[i];
        if ((rc = s->ops->prepare(&s->ctx, s->gate, env, err)) < 0) {
            /* A gate that cannot even be set up fails with the reason; the others still run. */
            gate_verdict(&results[i].last, RG_VERDICT_FAIL, "%s", err->msg);
            results[i].outcome = RG_VERDICT_FAIL;
            s->done = true;
            rc = 0;
            continue;
        }
        ps.open++;
    }
    rc = run(&ps, err);
out:
    drain(&ps);
    for (size_t i = 0; i < n; i++)
        if (ps.slots[i].ctx)
            ps.slots[i].ops->free(ps.slots[i].ctx);
    if (ps.multi)
        curl_multi_cleanup(ps.multi);
    if (ps.pipe_fd[0] >= 0)
        close(ps.pipe_fd[0]);
    if (ps.pipe_fd[1] >= 0)
        close(ps.pipe_fd[1]);
    free(ps.slots);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && !first_fail; i++)
        if (results[i].outcome != RG_VERDICT_PASS)
            first_fail = &results[i];
    if (first_fail)
        return rg_err_set(err, RG_EGATE, "gate '%s' %s: %s", first_fail->gate->name,
                          first_fail->timed_out ? "did not pass in time" : "failed",
                          first_fail->last.summary);
    return 0;
}

int
rg_gate_probe_once(struct rg_verdict *out, const struct rg_gate *gate,
                   const struct rg_gate_env *env, struct rg_err *err)
{
    struct rg_poll_opts o = {.once = true, .cancel_fd = -1};
    struct rg_gate_result r;
    int rc = rg_gates_poll(&r, &gate, 1, env, &o, err);

    *out = r.last;
    return rc == RG_EGATE ? 0 : rc;
}
