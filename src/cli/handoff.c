/* The watcher of a run a CI job waits for: on its signal or at its --wait-timeout it decides
 * between aborting (nothing changed yet), calling the deploy off (--cancel-on-timeout: the
 * ladder brings back what served) and handing it to a detached worker that finishes it. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "hook.h"
#include "rollgate/ledger.h"
#include "rollgate/spawn.h"
#include "rollgate/util.h"

extern char **environ;

static void cancel(struct rg_handoff *h, enum rg_cancel_kind kind);

/* How long the worker waits for the run it takes over to let go of the lock: the step that
 * runs when the signal comes ends first (or its process is killed). */
#define WORKER_LOCK_WAIT "1h"

static const char *
signal_name(int sig)
{
    return sig == SIGINT    ? "SIGINT"
           : sig == SIGTERM ? "SIGTERM"
           : sig == SIGHUP  ? "SIGHUP"
                            : "a signal";
}

char **
rg_worker_env(void)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    env = rg_calloc(n + 1, sizeof(*env));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "GIT_", 4) != 0 &&
            strncmp(environ[i], "RUNNER_TRACKING_ID=", 19) != 0)
            env[k++] = environ[i];
    return env;
}

int
rg_handoff_spawn(struct rg_handoff *h, const char *const *args, const char *log)
{
    char self[4096];
    const char *argv[32];
    char **env;
    size_t n = 0;
    int fd, pid = -1;
    struct rg_err err;

    if (!hook_self_path(self, sizeof(self))) {
        fprintf(h->errout, "rollgate: cannot start a worker: rollgate's own path is unknown\n");
        return -1;
    }
    argv[n++] = self;
    for (size_t i = 0; args[i] && n + 1 < sizeof(argv) / sizeof(argv[0]); i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    {
        char *dir = rg_strdup(log), *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (rg_fs_make_dir(dir, 0750, "log directory", &err) < 0) {
                fprintf(h->errout, "rollgate: cannot start a worker: %s\n", err.msg);
                free(dir);
                return -1;
            }
        }
        free(dir);
    }
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        fprintf(h->errout, "rollgate: cannot start a worker: its log '%s': %s\n", log,
                strerror(errno));
        return -1;
    }
    env = rg_worker_env();
    if (rg_spawn_detached(&pid, argv, (const char *const *)env, fd, &err) < 0) {
        fprintf(h->errout, "rollgate: cannot start a worker: %s\n", err.msg);
        pid = -1;
    }
    free(env);
    close(fd);
    return pid;
}

int
rg_handoff_spawn_resume(struct rg_handoff *h)
{
    char *abs = NULL;
    int pid;

    pthread_mutex_lock(&h->spawn_lock);
    if ((pid = atomic_load(&h->worker_pid)) != 0)
        goto out;
    abs = realpath(h->playbook, NULL);
    {
        const char *args[] = {"resume", abs ? abs : h->playbook, "--wait", WORKER_LOCK_WAIT,
                              "--actor", h->actor, "--log", h->worker_log, "--report", "none",
                              NULL};
        pid = rg_handoff_spawn(h, args, h->worker_log);
    }
    atomic_store(&h->worker_pid, pid);
out:
    pthread_mutex_unlock(&h->spawn_lock);
    free(abs);
    return pid;
}

static void
cancel(struct rg_handoff *h, enum rg_cancel_kind kind)
{
    unsigned char b = 1;

    atomic_store(&h->kind, (int)kind);
    if (write(h->cancel_pipe[1], &b, 1) < 0 && errno != EAGAIN)
        fprintf(h->errout, "rollgate: cannot tell the run to stop: %s\n", strerror(errno));
}

/* A gate poll is cut at once; a step that acts on the target (a pull, an up, an exec'd
 * migration) is let end first, and the run stops before the next one: cutting it would leave its
 * work running where the worker, taking over, would start it again beside it. */
static void
cancel_at_safe_point(struct rg_handoff *h, enum rg_cancel_kind kind)
{
    atomic_store(&h->kind, (int)kind);
    if (atomic_load(&h->cut_ok) || !atomic_load(&h->started))
        cancel(h, kind);
    else
        atomic_store(&h->deferred, true);
}

/* Hands the run over: the worker first, so that it is there (waiting for the lock) even when
 * this process is killed before the run stops. */
static void
hand_over(struct rg_handoff *h, const char *why)
{
    long long id = atomic_load(&h->deploy_id);
    int pid = rg_handoff_spawn_resume(h);

    if (pid > 0)
        fprintf(h->errout,
                "rollgate: %s: deploy #%lld of '%s' is handed to a worker (pid %d) that "
                "finishes it or rolls it back; follow it: rollgate attach %s %lld\n",
                why, id, h->target, pid, h->playbook, id);
    else
        fprintf(h->errout,
                "rollgate: %s: no worker could be started: deploy #%lld stops in flight; "
                "'rollgate resume %s' finishes it\n", why, id, h->playbook);
    cancel_at_safe_point(h, RG_CANCEL_SUSPEND);
}

static void
on_signal(struct rg_handoff *h, int sig)
{
    char why[96];

    atomic_store(&h->signal, sig);
    if (atomic_load(&h->ended))
        return;
    /* rollback --takeover sends SIGTERM to take the target itself: no worker competes. Seen
     * now, while its marker is there: it is removed once the rollback has the lock. */
    if (rg_lock_takeover_announced(h->state_dir, h->target)) {
        atomic_store(&h->takeover, true);
        cancel(h, RG_CANCEL_STOP);
        return;
    }
    if (!atomic_load(&h->changed)) {
        cancel(h, RG_CANCEL_STOP);
        return;
    }
    snprintf(why, sizeof(why), "%s after the switch", signal_name(sig));
    hand_over(h, why);
}

/* Returns whether the timeout was dealt with (false: the run has not begun; asked again). */
static bool
on_timeout(struct rg_handoff *h)
{
    char why[96], d[32];

    atomic_store(&h->timed_out, true);
    if (atomic_load(&h->ended) || atomic_load(&h->signal))
        return true;
    if (!atomic_load(&h->started))
        return false; /* the lock's wait ends by itself at the same time */
    rg_duration_format(d, sizeof(d), h->timeout_ms);
    if (h->cancel_on_timeout) {
        /* A ladder already climbing is let finish: cutting it would leave the target
         * half-recovered. */
        if (atomic_load(&h->rung) == 0) {
            fprintf(h->errout, "rollgate: --wait-timeout %s passed: calling the deploy off "
                               "(--cancel-on-timeout)\n", d);
            cancel_at_safe_point(h, RG_CANCEL_RECOVER);
        }
        return true;
    }
    snprintf(why, sizeof(why), "--wait-timeout %s passed", d);
    hand_over(h, why);
    return true;
}

static void *
watch(void *data)
{
    struct rg_handoff *h = data;
    bool pending = h->deadline_ms > 0;

    for (;;) {
        struct pollfd p[2] = {{.fd = h->sig_fd, .events = POLLIN},
                              {.fd = h->stop_pipe[0], .events = POLLIN}};
        int timeout = -1, n;

        if (pending) {
            int64_t left = h->deadline_ms - rg_mono_ms();
            /* Past the deadline before the run began: looked at again until it begins. */
            timeout = atomic_load(&h->timed_out) ? 100
                      : left <= 0                ? 0
                      : left > INT_MAX           ? INT_MAX
                                                 : (int)left;
        }
        n = poll(p, 2, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            /* Not expected with two valid descriptors; retried, so that no signal is lost. */
            rg_log(RG_LOG_WARN, "the run's watcher: poll: %s", strerror(errno));
            nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
            continue;
        }
        if (p[1].revents)
            return NULL;
        if (p[0].revents & POLLIN) {
            unsigned char b[16];
            ssize_t k = read(h->sig_fd, b, sizeof(b));
            if (k > 0 && !atomic_load(&h->signal))
                on_signal(h, b[0]);
            continue;
        }
        if (n == 0 && pending && on_timeout(h))
            pending = false;
    }
}

/* The worker's log, beside the run's. */
static char *
worker_log_path(const char *log)
{
    size_t n = strlen(log);

    if (n > 4 && strcmp(log + n - 4, ".log") == 0)
        return rg_asprintf("%.*s-worker.log", (int)(n - 4), log);
    return rg_asprintf("%s.worker", log);
}

int
rg_handoff_start(struct rg_handoff *h, int sig_fd)
{
    h->sig_fd = sig_fd;
    h->cancel_pipe[0] = h->cancel_pipe[1] = h->stop_pipe[0] = h->stop_pipe[1] = -1;
    atomic_init(&h->deploy_id, 0);
    atomic_init(&h->changed, false);
    atomic_init(&h->started, false);
    atomic_init(&h->ended, false);
    atomic_init(&h->rung, 0);
    atomic_init(&h->kind, RG_CANCEL_STOP);
    atomic_init(&h->signal, 0);
    atomic_init(&h->timed_out, false);
    atomic_init(&h->worker_pid, 0);
    atomic_init(&h->takeover, false);
    atomic_init(&h->cut_ok, false);
    atomic_init(&h->deferred, false);
    pthread_mutex_init(&h->spawn_lock, NULL);
    h->worker_log = worker_log_path(h->log_path);
    h->deadline_ms = h->timeout_ms > 0 ? rg_mono_ms() + h->timeout_ms : 0;
    if (sig_fd < 0 || pipe2(h->cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return sig_fd;
    if (pipe2(h->stop_pipe, O_CLOEXEC) < 0) {
        close(h->cancel_pipe[0]);
        close(h->cancel_pipe[1]);
        h->cancel_pipe[0] = h->cancel_pipe[1] = -1;
        return sig_fd;
    }
    {
        /* The watcher takes the signals' bytes: the engine sees only the watcher's verdict. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        h->running = pthread_create(&h->thread, NULL, watch, h) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (!h->running) {
        for (int i = 0; i < 2; i++) {
            close(h->cancel_pipe[i]);
            close(h->stop_pipe[i]);
        }
        h->cancel_pipe[0] = h->cancel_pipe[1] = h->stop_pipe[0] = h->stop_pipe[1] = -1;
        return sig_fd;
    }
    return h->cancel_pipe[0];
}

void
rg_handoff_note(struct rg_handoff *h, const struct rg_report *r)
{
    if (r->deploy_id)
        atomic_store(&h->deploy_id, r->deploy_id);
    if (r->kind == RG_REPORT_START) {
        /* A deploy that first finished a run a crash left in flight begins its own here. */
        atomic_store(&h->started, true);
        atomic_store(&h->ended, false);
        atomic_store(&h->changed, false);
        atomic_store(&h->rung, 0);
    }
    if (r->kind == RG_REPORT_STATE || r->kind == RG_REPORT_RUNG) {
        atomic_store(&h->started, true);
        atomic_store(&h->changed, r->changed || r->rung > 0);
        atomic_store(&h->rung, r->rung);
    }
    if (r->kind == RG_REPORT_STATE)
        atomic_store(&h->cut_ok, r->state == RG_ST_VERIFY || r->state == RG_ST_SETTLE ||
                                     r->state == RG_ST_PROBE);
    /* A step ended (or a stage that polls gates began): a cancel that waited for it is given
     * now, before the run checks for one and starts the next. */
    if ((r->kind == RG_REPORT_RESULT || (r->kind == RG_REPORT_STATE && atomic_load(&h->cut_ok))) &&
        atomic_exchange(&h->deferred, false))
        cancel(h, (enum rg_cancel_kind)atomic_load(&h->kind));
    if (r->kind == RG_REPORT_OUTCOME)
        atomic_store(&h->ended, true);
}

enum rg_cancel_kind
rg_handoff_cancel_kind(void *data)
{
    struct rg_handoff *h = data;

    return (enum rg_cancel_kind)atomic_load(&h->kind);
}

void
rg_handoff_stop(struct rg_handoff *h)
{
    if (h->running) {
        unsigned char b = 1;
        if (write(h->stop_pipe[1], &b, 1) < 0)
            rg_log(RG_LOG_WARN, "cannot stop the watcher: %s", strerror(errno));
        pthread_join(h->thread, NULL);
        h->running = false;
    }
    for (int i = 0; i < 2; i++) {
        if (h->cancel_pipe[i] >= 0)
            close(h->cancel_pipe[i]);
        if (h->stop_pipe[i] >= 0)
            close(h->stop_pipe[i]);
        h->cancel_pipe[i] = h->stop_pipe[i] = -1;
    }
}

void
rg_handoff_release(struct rg_handoff *h)
{
    rg_handoff_stop(h);
    pthread_mutex_destroy(&h->spawn_lock);
    free(h->worker_log);
    h->worker_log = NULL;
}
