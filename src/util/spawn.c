/* Running other programs: posix_spawn into a new process group with default signal handling and
 * an allowlisted environment, then one poll loop over the pipes, the child, the deadline and the
 * cancel descriptor. The only place in rollgate that starts a process. */
#define _GNU_SOURCE /* pipe2, O_PATH, posix_spawn_file_actions_addfchdir_np/addclosefrom_np */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rollgate/spawn.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum {
    READ_CHUNK = 64 * 1024, /* the most read at once from one pipe */
    DRAIN_MS = 200,         /* reading goes on this long after the end: grandchildren may hold
                               the pipes open forever */
    PROBE_MS = 20,          /* how often a stopping group is checked once its leader is gone */
    FALLBACK_POLL_MS = 10,  /* how often waitpid is tried when there is no pidfd */
};

/* What a child inherits of rollgate's environment when the caller gives none. Anything else
 * (rollgate's own tokens, webhook URLs, CI secrets) stays out. In, because the programs rollgate
 * runs need them:
 *   PATH HOME USER LOGNAME LANG TZ TMPDIR LC_*        lookup, home, locale, temp files
 *   DOCKER_HOST DOCKER_CONFIG DOCKER_CONTEXT          docker CLI: which daemon, which auth
 *   DOCKER_CERT_PATH DOCKER_TLS_VERIFY                docker CLI: TLS to a remote daemon
 *   COMPOSE_*                                         docker compose
 *   PG*                                               libpq (PGHOST, PGPASSWORD…): database
 *                                                     passwords travel only here, never in argv
 *   SSL_CERT_FILE SSL_CERT_DIR                        OpenSSL trust store
 *   http_proxy https_proxy no_proxy (either case)     proxies */
/* clang-format off */
static const char *const env_names[] = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR",
    "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
};
/* clang-format on */
static const char *const env_prefixes[] = {"LC_", "COMPOSE_", "PG"};

static const char *const signal_names[] = {
    [SIGHUP] = "SIGHUP",   [SIGINT] = "SIGINT",   [SIGQUIT] = "SIGQUIT", [SIGILL] = "SIGILL",
    [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT", [SIGBUS] = "SIGBUS",   [SIGFPE] = "SIGFPE",
    [SIGKILL] = "SIGKILL", [SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
    [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM", [SIGXCPU] = "SIGXCPU",
    [SIGXFSZ] = "SIGXFSZ", [SIGSYS] = "SIGSYS",
};

/* The last max bytes of a stream. Storage runs up to 2 * max + READ_CHUNK before the tail is
 * moved to the front, so each byte is moved at most once on average whatever max is. */
struct tail {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    bool dropped;
};

/* One running child and our ends of its pipes; every descriptor is -1 once closed. */
struct run {
    const char *name; /* argv[0], for messages */
    pid_t pid;
    int pidfd; /* -1: the kernel has no pidfd_open, waitpid is polled instead */
    int in_fd;
    int out_fd;
    int err_fd;
    int cancel_fd;
    int abort_fd; /* rg_spawn_abandon's pipe: when readable, kill the group and stop; -1: none */
    const char *in_data;
    size_t in_len;
    size_t in_off;
    struct tail out;
    struct tail err;
    int64_t deadline;
    int64_t grace_ms;
    int64_t kill_at;   /* when SIGKILL follows SIGTERM */
    int64_t drain_end; /* when reading stops once the child is settled */
    int status;
    bool reaped;
    bool stopping;  /* SIGTERM sent */
    bool killed;    /* SIGKILL sent */
    bool settled;   /* the leader is reaped and the group is dealt with */
    bool epipe;     /* a write to stdin raised SIGPIPE */
    bool abandoned; /* abort_fd was readable: stop waiting as soon as the leader is reaped */
};

static int64_t
add_ms(int64_t t, int64_t ms)
{
    return ms > INT64_MAX - t ? INT64_MAX : t + ms;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The child's descriptors are moved above 2: if rollgate runs with stdin, stdout or stderr
 * closed, a pipe end could land on 0–2 and the dup2 onto 0 would clobber the one meant for 1. */
static int
fd_above_stdio(int *fd)
{
    int moved;

    if (*fd > 2)
        return 0;
    moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0)
        return -1;
    close(*fd);
    *fd = moved;
    return 0;
}

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A pipe whose child end (dup2'ed onto 0, 1 or 2) lies above 2 and whose parent end is
 * non-blocking, both close-on-exec. */
static int
open_pipe(int *parent_fd, int *child_fd, bool child_reads, const char *name, struct rg_err *err)
{
    int p[2] = {-1, -1};
    int rc = 0;

    if (pipe2(p, O_CLOEXEC) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot run '%s': cannot create a pipe", name);
        goto out;
    }
    *child_fd = child_reads ? p[0] : p[1];
    *parent_fd = child_reads ? p[1] : p[0];
    p[0] = p[1] = -1;
    if (fd_above_stdio(child_fd) < 0 || set_nonblock(*parent_fd) < 0)
        rc = rg_err_sys(err, RG_EIO, "cannot run '%s': cannot set up a pipe", name);
out:
    close_fd(&p[0]);
    close_fd(&p[1]);
    return rc;
}

static bool
env_allowed(const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t len;

    if (!eq)
        return false;
    len = (size_t)(eq - kv);
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
        if (strlen(env_names[i]) == len && memcmp(env_names[i], kv, len) == 0)
            return true;
    }
    for (size_t i = 0; i < sizeof(env_prefixes) / sizeof(env_prefixes[0]); i++) {
        size_t plen = strlen(env_prefixes[i]);
        if (len > plen && memcmp(env_prefixes[i], kv, plen) == 0)
            return true;
    }
    return false;
}

/* Whether "K=V" strings a and b set the same variable. */
static bool
same_name(const char *a, const char *b)
{
    size_t la = strcspn(a, "="), lb = strcspn(b, "=");

    return la == lb && strncmp(a, b, la) == 0;
}

/* The allowlisted part of environ, then extra ("K=V", replacing a variable of the same name);
 * the strings are borrowed. */
static const char **
env_allowlisted(const char *const *extra)
{
    const char **v = NULL;
    size_t n = 0, cap = 0;

    for (char **e = environ; e && *e; e++) {
        bool replaced = false;
        if (!env_allowed(*e))
            continue;
        for (size_t i = 0; extra && extra[i] && !replaced; i++)
            replaced = same_name(*e, extra[i]);
        if (replaced)
            continue;
        v = rg_grow(v, &cap, n + 1, sizeof(*v));
        v[n++] = *e;
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        v = rg_grow(v, &cap, n + 1, sizeof(*v));
        v[n++] = extra[i];
    }
    v = rg_grow(v, &cap, n + 1, sizeof(*v));
    v[n] = NULL;
    return v;
}

static const char *
env_get(const char *const *env, const char *name)
{
    size_t len = strlen(name);

    for (; *env; env++) {
        if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
            return *env + len + 1;
    }
    return NULL;
}

/* Finds name in a colon-separated search path as execvp would, so that "not found" and
 * "permission denied" can be told apart before anything starts. Unlike execvp, empty and relative
 * entries are skipped: the child may run in another directory than the one searched. */
static int
path_search(char **out, const char *name, const char *search, struct rg_err *err)
{
    char *cand = NULL, *denied = NULL;
    const char *p, *colon;
    struct stat st;
    int rc = 0;

    *out = NULL;
    for (p = search;; p = colon + 1) {
        size_t len;

        colon = strchr(p, ':');
        len = colon ? (size_t)(colon - p) : strlen(p);
        if (len > 0 && p[0] == '/' && len < PATH_MAX) {
            cand = rg_asprintf("%.*s/%s", (int)len, p, name);
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
                if (faccessat(AT_FDCWD, cand, X_OK, AT_EACCESS) == 0) {
                    *out = cand;
                    cand = NULL;
                    goto out;
                }
                if (errno == EACCES && !denied) {
                    denied = cand;
                    cand = NULL;
                }
            }
            free(cand);
            cand = NULL;
        }
        if (!colon)
            break;
    }
    if (denied) {
        errno = EACCES;
        rc = rg_err_sys(err, RG_EIO, "cannot run '%s'", denied);
    } else {
        rc = rg_err_set(err, RG_ENOENT, "cannot run '%s': not found in PATH", name);
    }
out:
    free(cand);
    free(denied);
    return rc;
}

static int
check_opts(const struct rg_spawn_opts *opts, struct rg_err *err)
{
    const char *name;

    if (!opts->argv || !opts->argv[0] || !opts->argv[0][0])
        return rg_err_set(err, RG_EINVAL, "cannot run a command without a program name");
    name = opts->argv[0];
    if (opts->timeout_ms <= 0)
        return rg_err_set(err, RG_EINVAL, "cannot run '%s': timeout must be positive, not %lldms",
                          name, (long long)opts->timeout_ms);
    if (opts->grace_ms < 0)
        return rg_err_set(err, RG_EINVAL,
                          "cannot run '%s': grace period must not be negative, not %lldms", name,
                          (long long)opts->grace_ms);
    if (opts->max_output > SIZE_MAX / 4)
        return rg_err_set(err, RG_EINVAL, "cannot run '%s': output limit of %zu bytes is too large",
                          name, opts->max_output);
    if (opts->stdin_len > 0 && !opts->stdin_data)
        return rg_err_set(err, RG_EINVAL, "cannot run '%s': stdin length without stdin data", name);
    if (opts->cancel_fd >= 0 && fcntl(opts->cancel_fd, F_GETFD) < 0)
        return rg_err_set(err, RG_EINVAL, "cannot run '%s': cancel descriptor %d is not open", name,
                          opts->cancel_fd);
    return 0;
}

/* Reads what is there. Returns read()'s result. */
static ssize_t
tail_read(struct tail *t, int fd)
{
    ssize_t n;

    if (t->len > 2 * t->max) {
        memmove(t->data, t->data + t->len - t->max, t->max);
        t->len = t->max;
        t->dropped = true;
    }
    t->data = rg_grow(t->data, &t->cap, t->len + READ_CHUNK, 1);
    do
        n = read(fd, t->data + t->len, READ_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        t->len += (size_t)n;
    return n;
}

/* Copies the tail into b, which always ends up holding a string (possibly ""). */
static void
tail_finish(struct rg_buf *b, struct tail *t)
{
    size_t keep = t->len > t->max ? t->max : t->len;

    rg_buf_add(b, t->data ? t->data + t->len - keep : "", keep);
    b->truncated = t->dropped || t->len > t->max;
}

/* Reads one pipe; end of file, or an error no retry would cure, closes it. */
static void
run_read(int *fd, struct tail *t)
{
    ssize_t n = tail_read(t, *fd);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        close_fd(fd);
}

/* Writes the next piece of stdin. A child that stops reading (EPIPE) just gets no more. */
static void
run_write(struct run *r)
{
    ssize_t n;

    do
        n = write(r->in_fd, r->in_data + r->in_off, r->in_len - r->in_off);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        r->in_off += (size_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        if (errno == EPIPE)
            r->epipe = true;
        close_fd(&r->in_fd);
    }
    if (r->in_fd >= 0 && r->in_off == r->in_len)
        close_fd(&r->in_fd);
}

/* The group id is the leader's pid. Linux does not hand a pid out again while it still names a
 * group with members, so -pid reaches only the child and what it started, even after the leader
 * has been reaped. */
static void
group_signal(pid_t pid, int sig)
{
    kill(-pid, sig);
}

static bool
group_alive(pid_t pid)
{
    /* EPERM: a member exists that changed its credentials (setuid); it still counts. Zombies
     * count too, until whoever adopted them reaps them. */
    return kill(-pid, 0) == 0 || errno == EPERM;
}

static int
run_reap(struct run *r, int flags, struct rg_err *err)
{
    pid_t got;
    int status;

    do
        got = waitpid(r->pid, &status, flags);
    while (got < 0 && errno == EINTR);
    if (got == r->pid) {
        r->reaped = true;
        r->status = status;
        close_fd(&r->pidfd);
        return 0;
    }
    if (got == 0)
        return 0;
    /* ECHILD: something else reaped our child (SIGCHLD set to SIG_IGN, or a handler calling
     * waitpid(-1)). The pid may be reused already, so it must not be signalled again. */
    r->reaped = true;
    close_fd(&r->pidfd);
    return rg_err_sys(err, RG_EIO, "cannot wait for '%s'", r->name);
}

/* Asks the group to stop: SIGTERM, then SIGKILL at kill_at. SIGCONT lets a stopped member see
 * the SIGTERM now rather than only at the SIGKILL. */
static void
run_stop(struct run *r, int64_t now)
{
    group_signal(r->pid, SIGTERM);
    group_signal(r->pid, SIGCONT);
    r->stopping = true;
    r->kill_at = add_ms(now, r->grace_ms);
}

/* For rg_spawn_abandon: the group is killed at once, no grace. Once the leader is reaped its
 * group id may only be signalled while members are left (see group_signal). */
static void
run_abandon(struct run *r)
{
    r->abandoned = true;
    if (!r->reaped || group_alive(r->pid))
        group_signal(r->pid, SIGKILL);
    r->stopping = r->killed = true;
}

/* Advances the timed part of the state: deadline, SIGKILL, settling, end of reading. Returns
 * true when the wait is over; otherwise *wake is when to look again (-1: only on an event). */
static bool
run_tick(struct run *r, struct rg_spawn_result *res, int64_t now, int64_t *wake, struct rg_err *err,
         int *rc)
{
    *wake = -1;
    if (r->abandoned && r->reaped)
        return true;
    if (!r->reaped && !r->stopping && now >= r->deadline) {
        /* It may have exited just now; that is not a timeout. */
        if ((*rc = run_reap(r, WNOHANG, err)) < 0)
            return true;
        if (!r->reaped) {
            res->timed_out = true;
            run_stop(r, now);
        }
    }
    if (r->stopping && !r->killed && !r->settled && now >= r->kill_at) {
        group_signal(r->pid, SIGKILL);
        r->killed = true;
    }
    /* On a normal exit what the child left in the background is left alone (a step may start a
     * daemon on purpose); on timeout or cancel the whole group goes, within the grace period. */
    if (r->reaped && !r->settled && (!r->stopping || r->killed || !group_alive(r->pid))) {
        r->settled = true;
        r->drain_end = add_ms(now, DRAIN_MS);
        close_fd(&r->in_fd);
    }
    if (r->settled) {
        *wake = r->drain_end;
        return (r->out_fd < 0 && r->err_fd < 0) || now >= r->drain_end;
    }

    if (!r->reaped && !r->stopping)
        *wake = r->deadline;
    if (r->stopping && !r->killed)
        *wake = r->kill_at;
    if (r->reaped)
        *wake = add_ms(now, PROBE_MS);
    else if (r->pidfd < 0 && (*wake < 0 || *wake > now + FALLBACK_POLL_MS))
        *wake = now + FALLBACK_POLL_MS;
    return false;
}

/* Waits for the child while moving its stdin, stdout and stderr, all at once so that no pipe
 * fills up while another is being waited on. */
static int
run_wait(struct run *r, struct rg_spawn_result *res, struct rg_err *err)
{
    int rc = 0;

    for (;;) {
        struct pollfd pfd[6];
        int i_out = -1, i_err = -1, i_in = -1, i_pid = -1, i_cancel = -1, i_abort = -1;
        nfds_t n = 0;
        int64_t now = rg_mono_ms(), wake;
        int timeout, ready;

        if (!r->reaped && r->pidfd < 0 && (rc = run_reap(r, WNOHANG, err)) < 0)
            break;
        if (run_tick(r, res, now, &wake, err, &rc))
            break;
        if (r->in_fd >= 0 && r->in_off == r->in_len)
            close_fd(&r->in_fd);

        if (r->out_fd >= 0)
            pfd[i_out = (int)n++] = (struct pollfd){.fd = r->out_fd, .events = POLLIN};
        if (r->err_fd >= 0)
            pfd[i_err = (int)n++] = (struct pollfd){.fd = r->err_fd, .events = POLLIN};
        if (r->in_fd >= 0)
            pfd[i_in = (int)n++] = (struct pollfd){.fd = r->in_fd, .events = POLLOUT};
        if (r->pidfd >= 0)
            pfd[i_pid = (int)n++] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
        if (r->cancel_fd >= 0 && !r->reaped && !r->stopping)
            pfd[i_cancel = (int)n++] = (struct pollfd){.fd = r->cancel_fd, .events = POLLIN};
        if (r->abort_fd >= 0 && !r->abandoned)
            pfd[i_abort = (int)n++] = (struct pollfd){.fd = r->abort_fd, .events = POLLIN};
        if (wake < 0)
            timeout = -1;
        else
            timeout = wake - now > INT_MAX ? INT_MAX : wake < now ? 0 : (int)(wake - now);

        ready = poll(pfd, n, timeout);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot wait for '%s'", r->name);
            break;
        }
        if (i_out >= 0 && pfd[i_out].revents)
            run_read(&r->out_fd, &r->out);
        if (i_err >= 0 && pfd[i_err].revents)
            run_read(&r->err_fd, &r->err);
        if (i_in >= 0 && pfd[i_in].revents)
            run_write(r);
        if (i_pid >= 0 && pfd[i_pid].revents && (rc = run_reap(r, WNOHANG, err)) < 0)
            break;
        if (i_cancel >= 0 && (pfd[i_cancel].revents & POLLNVAL))
            r->cancel_fd = -1; /* closed under us: nobody can cancel any more */
        else if (i_cancel >= 0 && pfd[i_cancel].revents && !r->reaped) {
            /* The caller's descriptor is left unread: it is how the caller knows, too. */
            res->cancelled = true;
            run_stop(r, rg_mono_ms());
        }
        if (i_abort >= 0 && pfd[i_abort].revents)
            run_abandon(r);
    }
    return rc;
}

/* The loop around run_wait that makes a write to a closed stdin fail with EPIPE instead of
 * killing rollgate: SIGPIPE is blocked in this thread, and one our writes raised is consumed.
 * When the caller already blocks SIGPIPE, a pending one may be the caller's, so it stays. */
static int
run_wait_nosigpipe(struct run *r, struct rg_spawn_result *res, struct rg_err *err)
{
    sigset_t pipe_set, old;
    int rc;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    rc = run_wait(r, res, err);
    if (r->epipe && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* For when waiting failed: the child must neither outlive rollgate's interest nor stay a zombie. */
static void
run_abort(struct run *r)
{
    if (r->pid <= 0 || r->reaped)
        return;
    group_signal(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    r->reaped = true;
}

static int
spawn_actions(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr, int in, int out, int errfd,
              int dir_fd)
{
    sigset_t none, all;
    int e;

    sigemptyset(&none);
    sigfillset(&all);
    /* A new group so the deadline can kill everything the child starts, and so a ^C at the
     * terminal reaches rollgate alone (it cancels through cancel_fd). Ignored signals and the
     * mask survive exec, so both are reset: a child must not inherit rollgate's SIGPIPE
     * handling or blocked signals. */
    if ((e = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF)) != 0 ||
        (e = posix_spawnattr_setpgroup(attr, 0)) != 0 ||
        (e = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
        (e = posix_spawnattr_setsigdefault(attr, &all)) != 0)
        return e;
    if ((e = posix_spawn_file_actions_adddup2(fa, in, 0)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(fa, out, 1)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(fa, errfd, 2)) != 0)
        return e;
    if (dir_fd >= 0 && (e = posix_spawn_file_actions_addfchdir_np(fa, dir_fd)) != 0)
        return e;
    /* Descriptors rollgate's libraries opened without O_CLOEXEC must not leak either. */
    return posix_spawn_file_actions_addclosefrom_np(fa, 3);
}

/* Starts path with the child's ends of the pipes on 0, 1 and 2. glibc's posix_spawn runs the
 * child on a vfork-like clone and returns the exec's errno (ENOENT, EACCES, ENOEXEC…) itself,
 * having reaped the failed child; it never falls back to running the file with a shell. */
static int
spawn_child(pid_t *pid_out, const char *path, const char *const *argv, const char *const *env,
            int in, int out, int errfd, int dir_fd, struct rg_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_live = false, attr_live = false;
    int e;

    if ((e = posix_spawn_file_actions_init(&fa)) == 0) {
        fa_live = true;
        e = posix_spawnattr_init(&attr);
    }
    if (e == 0) {
        attr_live = true;
        e = spawn_actions(&fa, &attr, in, out, errfd, dir_fd);
    }
    if (e == 0)
        e = posix_spawn(pid_out, path, &fa, &attr, (char *const *)argv, (char *const *)env);
    if (attr_live)
        posix_spawnattr_destroy(&attr);
    if (fa_live)
        posix_spawn_file_actions_destroy(&fa);
    if (e == 0)
        return 0;
    errno = e;
    return rg_err_sys(err, e == ENOENT ? RG_ENOENT : RG_EIO, "cannot run '%s'", path);
}

/* What run_start looked up and opened for the child; released once it runs (or failed to). */
struct prep {
    const char **own_env;
    char *path;
    int child_in, child_out, child_err, dir_fd;
};

static void
prep_release(struct prep *p)
{
    close_fd(&p->child_in);
    close_fd(&p->child_out);
    close_fd(&p->child_err);
    close_fd(&p->dir_fd);
    free(p->own_env);
    free(p->path);
    p->own_env = NULL;
    p->path = NULL;
}

/* Checks opts, opens the pipes and starts the child into r (whose name must outlive it). With
 * stream, our end of stdout is left blocking, for a caller that reads it as a stream. On error
 * nothing is running and r holds no descriptor the caller must not close. */
static int
run_start(struct run *r, int64_t *start_out, const struct rg_spawn_opts *opts, bool stream,
          struct rg_err *err)
{
    struct prep p = {.child_in = -1, .child_out = -1, .child_err = -1, .dir_fd = -1};
    const char *const *env;
    const char *search;
    size_t max;
    pid_t pid;
    int rc;

    max = opts->max_output ? opts->max_output : RG_SPAWN_DEFAULT_MAX_OUTPUT;
    if ((rc = check_opts(opts, err)) < 0)
        goto out;

    /* Everything is looked up and opened before the child exists, so each failure is reported
     * as itself rather than as a failed exec. */
    if (opts->env) {
        env = opts->env;
    } else {
        p.own_env = env_allowlisted(opts->env_extra);
        env = p.own_env;
    }
    if (strchr(opts->argv[0], '/')) {
        p.path = rg_strdup(opts->argv[0]); /* relative: from the child's working directory */
    } else {
        search = env_get(env, "PATH");
        if ((rc = path_search(&p.path, opts->argv[0], search ? search : DEFAULT_PATH, err)) < 0)
            goto out;
    }
    if (opts->cwd) {
        /* O_PATH needs only search permission, like chdir; the access check makes a directory
         * we may not enter an error of its own. */
        p.dir_fd = open(opts->cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (p.dir_fd < 0 || faccessat(p.dir_fd, ".", X_OK, AT_EACCESS) < 0 ||
            fd_above_stdio(&p.dir_fd) < 0) {
            rc = rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO,
                            "cannot use working directory '%s'", opts->cwd);
            goto out;
        }
    }
    if (opts->stdin_data) {
        if ((rc = open_pipe(&r->in_fd, &p.child_in, true, r->name, err)) < 0)
            goto out;
    } else if ((p.child_in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
               fd_above_stdio(&p.child_in) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot run '%s': cannot open '/dev/null'", r->name);
        goto out;
    }
    if ((rc = open_pipe(&r->out_fd, &p.child_out, false, r->name, err)) < 0 ||
        (rc = open_pipe(&r->err_fd, &p.child_err, false, r->name, err)) < 0)
        goto out;
    if (stream && fcntl(r->out_fd, F_SETFL, fcntl(r->out_fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot run '%s': cannot set up a pipe", r->name);
        goto out;
    }

    *start_out = rg_mono_ms();
    if ((rc = spawn_child(&pid, p.path, opts->argv, env, p.child_in, p.child_out, p.child_err,
                          p.dir_fd, err)) < 0)
        goto out;
    r->pid = pid;
#ifdef SYS_pidfd_open
    /* Race-free: the child is ours and unreaped, so its pid cannot have been reused. Without
     * pidfd_open (ENOSYS, seccomp) the loop polls waitpid instead. */
    r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
#endif
    r->cancel_fd = opts->cancel_fd >= 0 ? opts->cancel_fd : -1;
    r->in_data = opts->stdin_data;
    r->in_len = opts->stdin_data ? opts->stdin_len : 0;
    r->out.max = r->err.max = max;
    r->deadline = add_ms(*start_out, opts->timeout_ms);
    r->grace_ms = opts->grace_ms ? opts->grace_ms : RG_SPAWN_DEFAULT_GRACE_MS;
out:
    prep_release(&p);
    return rc;
}

/* Closes what r still holds and frees its tails; kills and reaps a child still unreaped. */
static void
run_release(struct run *r)
{
    run_abort(r);
    close_fd(&r->pidfd);
    close_fd(&r->in_fd);
    close_fd(&r->out_fd);
    close_fd(&r->err_fd);
    close_fd(&r->abort_fd);
    free(r->out.data);
    free(r->err.data);
    r->out.data = r->err.data = NULL;
}

/* Fills res from a child that has been waited for. */
static void
run_result(struct rg_spawn_result *res, struct run *r)
{
    if (WIFEXITED(r->status))
        res->exit_code = WEXITSTATUS(r->status);
    else if (WIFSIGNALED(r->status))
        res->signal = WTERMSIG(r->status);
    tail_finish(&res->out, &r->out);
    tail_finish(&res->err, &r->err);
}

static void
result_init(struct rg_spawn_result *res, const struct rg_spawn_opts *opts)
{
    size_t max = opts->max_output ? opts->max_output : RG_SPAWN_DEFAULT_MAX_OUTPUT;

    *res = (struct rg_spawn_result){.exit_code = -1, .timeout_ms = opts->timeout_ms};
    rg_buf_init(&res->out, max);
    rg_buf_init(&res->err, max);
}

#define RUN_INIT                                                                                   \
    {                                                                                              \
        .pid = -1, .pidfd = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1, .cancel_fd = -1,          \
        .abort_fd = -1                                                                             \
    }

int
rg_spawn_run(struct rg_spawn_result *res, const struct rg_spawn_opts *opts, struct rg_err *err)
{
    struct run r = RUN_INIT;
    int64_t start = 0;
    int rc;

    assert(res && opts);
    result_init(res, opts);
    r.name = opts->argv && opts->argv[0] ? opts->argv[0] : "";
    if ((rc = run_start(&r, &start, opts, false, err)) < 0)
        goto out;
    if (r.in_fd >= 0)
        rc = run_wait_nosigpipe(&r, res, err);
    else
        rc = run_wait(&r, res, err);
    res->elapsed_ms = rg_mono_ms() - start;
    if (rc < 0)
        goto out;
    run_result(res, &r);
out:
    run_release(&r);
    return rc;
}

/* ---- a started child whose stdout the caller reads as a stream ----
 * A thread does everything rg_spawn_run's loop does except read stdout: it drains stderr (a
 * chatty child would otherwise block on a full pipe while the caller waits for stdout), feeds
 * stdin, watches the cancel descriptor and enforces the deadline. So a caller blocked in read()
 * on stdout is freed by the deadline too: the group is killed and the pipe reaches end of file. */
struct rg_spawn_child {
    struct run r;
    struct rg_spawn_result res; /* timed_out, cancelled: written by the thread until joined */
    struct rg_err err;          /* the thread's error */
    char *name;                 /* argv[0], owned: opts need not outlive rg_spawn_start */
    char *in_data;              /* a copy of opts->stdin_data */
    pthread_t thread;
    int64_t start;
    int64_t end;
    int abort_wr; /* written by rg_spawn_abandon: the thread kills the group and stops */
    int stdout_fd;
    int rc;
};

static void *
child_thread(void *arg)
{
    struct rg_spawn_child *c = arg;
    sigset_t set;

    /* Process-directed signals (SIGINT, SIGTERM, SIGCHLD) are for rollgate's main thread.
     * SIGPIPE is the exception: a write to the child's stdin raises it in this thread, and
     * run_wait_nosigpipe blocks and consumes it itself. */
    sigfillset(&set);
    sigdelset(&set, SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    c->rc = run_wait_nosigpipe(&c->r, &c->res, &c->err);
    c->end = rg_mono_ms();
    return NULL;
}

static void
child_free(struct rg_spawn_child *c)
{
    run_release(&c->r);
    close_fd(&c->abort_wr);
    close_fd(&c->stdout_fd);
    rg_spawn_result_release(&c->res);
    free(c->name);
    if (c->in_data)
        rg_wipe(c->in_data, c->r.in_len);
    free(c->in_data);
    free(c);
}

int
rg_spawn_start(struct rg_spawn_child **out, int *stdout_fd, const struct rg_spawn_opts *opts,
               struct rg_err *err)
{
    struct rg_spawn_child *c = NULL;
    sigset_t all, old;
    int ab[2] = {-1, -1};
    int rc, e;

    assert(out && stdout_fd && opts);
    *out = NULL;
    *stdout_fd = -1;
    c = rg_calloc(1, sizeof(*c));
    c->r = (struct run)RUN_INIT;
    c->abort_wr = c->stdout_fd = -1;
    result_init(&c->res, opts);
    c->name = rg_strdup(opts->argv && opts->argv[0] ? opts->argv[0] : "");
    c->r.name = c->name;
    if ((rc = run_start(&c->r, &c->start, opts, true, err)) < 0)
        goto out;
    if (opts->stdin_data) {
        c->in_data = rg_malloc(opts->stdin_len ? opts->stdin_len : 1);
        memcpy(c->in_data, opts->stdin_data, opts->stdin_len);
        c->r.in_data = c->in_data;
    }
    c->stdout_fd = c->r.out_fd; /* the caller's, not the loop's */
    c->r.out_fd = -1;
    if (pipe2(ab, O_CLOEXEC | O_NONBLOCK) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot run '%s': cannot create a pipe", c->name);
        goto out;
    }
    c->r.abort_fd = ab[0];
    c->abort_wr = ab[1];
    ab[0] = ab[1] = -1;
    /* All signals blocked while the thread is created, so none lands on it before it has set
     * its own mask. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&c->thread, NULL, child_thread, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        errno = e;
        rc = rg_err_sys(err, RG_EIO, "cannot run '%s': cannot start a thread", c->name);
        goto out;
    }
    *stdout_fd = c->stdout_fd;
    *out = c;
    c = NULL;
out:
    close_fd(&ab[0]);
    close_fd(&ab[1]);
    if (c)
        child_free(c); /* kills and reaps a started child: no thread runs */
    return rc;
}

int
rg_spawn_finish(struct rg_spawn_child *c, struct rg_spawn_result *res, struct rg_err *err)
{
    int rc;

    assert(c && res);
    /* A caller that stopped reading early must not make us wait for the deadline: the child
     * gets EPIPE (or SIGPIPE) on its next write instead. */
    close_fd(&c->stdout_fd);
    pthread_join(c->thread, NULL);
    *res = c->res;
    memset(&c->res, 0, sizeof(c->res));
    res->elapsed_ms = c->end - c->start;
    rc = c->rc;
    if (rc < 0) {
        if (err)
            *err = c->err;
    } else {
        run_result(res, &c->r);
    }
    child_free(c);
    return rc;
}

void
rg_spawn_abandon(struct rg_spawn_child *c)
{
    ssize_t n;

    if (!c)
        return;
    do
        n = write(c->abort_wr, "x", 1);
    while (n < 0 && errno == EINTR);
    close_fd(&c->stdout_fd);
    pthread_join(c->thread, NULL);
    child_free(c);
}

void
rg_spawn_result_release(struct rg_spawn_result *res)
{
    if (!res)
        return;
    rg_buf_release(&res->out);
    rg_buf_release(&res->err);
}

const char *
rg_spawn_describe(char *buf, size_t size, const struct rg_spawn_result *res)
{
    char dur[64];
    int sig = res->signal;

    assert(buf && size > 0);
    if (res->timed_out)
        snprintf(buf, size, "timed out after %s and was killed",
                 rg_duration_format(dur, sizeof(dur), res->timeout_ms));
    else if (res->cancelled)
        snprintf(buf, size, "cancelled and was killed");
    else if (sig > 0 && (size_t)sig < sizeof(signal_names) / sizeof(signal_names[0]) &&
             signal_names[sig])
        snprintf(buf, size, "killed by signal %d (%s)", sig, signal_names[sig]);
    else if (sig > 0)
        snprintf(buf, size, "killed by signal %d", sig);
    else
        snprintf(buf, size, "exited with %d", res->exit_code);
    return buf;
}
