/* One deploy per target: flock on a separate lock file (never the SQLite file, whose POSIX locks
 * vanish when any descriptor of it closes), opened O_CLOEXEC so that no child process keeps the
 * lock alive after rollgate dies. The holder writes who it is into the file for the others. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rollgate/ledger.h"
#include "rollgate/util.h"

#define POLL_MS 100

struct rg_lock {
    int fd;
    char *path;
    bool held; /* flock taken: only then is the record ours to empty */
    struct rg_lock_holder me;
};

static void
sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void
read_holder(struct rg_lock_holder *h, int fd)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    memset(h, 0, sizeof(*h));
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "pid=", 4) == 0)
            h->pid = (int)strtol(line + 4, NULL, 10);
        else if (strncmp(line, "deploy=", 7) == 0)
            h->deploy_id = strtoll(line + 7, NULL, 10);
        else if (strncmp(line, "since=", 6) == 0)
            h->since_ms = strtoll(line + 6, NULL, 10);
        else if (strncmp(line, "actor=", 6) == 0)
            snprintf(h->actor, sizeof(h->actor), "%s", line + 6);
        else if (strncmp(line, "trigger=", 8) == 0)
            snprintf(h->trigger, sizeof(h->trigger), "%s", line + 8);
        else if (strncmp(line, "state=", 6) == 0)
            snprintf(h->state, sizeof(h->state), "%s", line + 6);
        line = nl ? nl + 1 : NULL;
    }
}

/* A record field as one line of printable text: an actor with a newline could forge a pid. */
static void
clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static int
write_holder(struct rg_lock *lk, struct rg_err *err)
{
    char buf[512];
    int n;

    clean(lk->me.actor);
    clean(lk->me.trigger);
    clean(lk->me.state);
    n = snprintf(buf, sizeof(buf),
                     "pid=%d\ndeploy=%" PRId64 "\nsince=%" PRId64 "\nactor=%s\ntrigger=%s\n"
                     "state=%s\n",
                     lk->me.pid, lk->me.deploy_id, lk->me.since_ms, lk->me.actor,
                     lk->me.trigger, lk->me.state);

    if (n < 0 || (size_t)n >= sizeof(buf))
        return rg_err_set(err, RG_EINTERNAL, "lock holder record too long");
    /* Written over the old one, then cut: a reader never sees an empty record mid-write. */
    if (pwrite(lk->fd, buf, (size_t)n, 0) != n || ftruncate(lk->fd, n) < 0)
        return rg_err_sys(err, RG_EIO, "cannot write the lock file '%s'", lk->path);
    return 0;
}

#define GRACE_MS 1000

static bool
holder_alive(const struct rg_lock_holder *h)
{
    return h->pid > 0 && (kill(h->pid, 0) == 0 || errno == EPERM);
}

static char *
takeover_path(const char *state_dir, const char *target)
{
    return rg_asprintf("%s/%s.takeover", state_dir, target);
}

/* Whether another live process announced a takeover (its pid is the marker's content). */
static bool
other_takeover(const char *marker)
{
    char buf[32] = "";
    int fd = open(marker, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct rg_lock_holder h = {0};
    ssize_t n;

    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    h.pid = (int)strtol(buf, NULL, 10);
    return h.pid != (int)getpid() && holder_alive(&h);
}

bool
rg_lock_takeover_announced(const char *state_dir, const char *target)
{
    char *marker = takeover_path(state_dir, target);
    bool on = other_takeover(marker);

    free(marker);
    return on;
}

int
rg_lock_announce_takeover(const char *state_dir, const char *target, bool on, struct rg_err *err)
{
    char *marker = takeover_path(state_dir, target), pid[32];
    int rc = 0, n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

    if (!on)
        unlink(marker);
    else if (rg_fs_replace_atomic(marker, pid, (size_t)n, 0640, err) < 0)
        rc = err->code;
    free(marker);
    return rc;
}

static void
busy_message(struct rg_err *err, const char *target, const struct rg_lock_holder *h)
{
    char when[64] = "an unknown time";
    time_t t = (time_t)(h->since_ms / 1000);
    struct tm tm;

    if (h->since_ms && gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    if (h->deploy_id)
        rg_err_set(err, RG_EBUSY,
                   "busy: deploy #%" PRId64 " of '%s' by %s (%s) since %s, in %s (pid %d)",
                   h->deploy_id, target, h->actor[0] ? h->actor : "?",
                   h->trigger[0] ? h->trigger : "cli", when, h->state[0] ? h->state : "PREFLIGHT",
                   h->pid);
    else
        rg_err_set(err, RG_EBUSY, "busy: '%s' is locked by %s since %s (pid %d)", target,
                   h->actor[0] ? h->actor : "?", when, h->pid);
}

static int
open_lock(int *fd_out, char **path_out, const char *state_dir, const char *target, bool create,
          struct rg_err *err)
{
    char *path;
    int fd, rc;

    *fd_out = -1;
    *path_out = NULL;
    if (create && (rc = rg_fs_make_dir(state_dir, 0750, "state directory", err)) < 0)
        return rc;
    path = rg_asprintf("%s/%s.lock", state_dir, target);
    if ((fd = open(path, (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW,
                   0640)) < 0) {
        rc = errno == ENOENT && !create ? RG_ENOENT
             : errno == EACCES || errno == EPERM || errno == EROFS
                 ? rg_err_sys(err, RG_ENOPERM, "cannot open lock file '%s'", path)
                 : rg_err_sys(err, RG_EIO, "cannot open lock file '%s'", path);
        if (rc == RG_ENOENT)
            rg_err_set(err, RG_ENOENT, "no lock file '%s'", path);
        free(path);
        return rc;
    }
    *fd_out = fd;
    *path_out = path;
    return 0;
}

int
rg_lock_take(struct rg_lock **out, struct rg_lock_holder *holder, const char *state_dir,
             const char *target, const char *actor, int64_t wait_ms, struct rg_err *err)
{
    struct rg_lock *lk = rg_calloc(1, sizeof(*lk));
    int64_t deadline = rg_wall_ms() + wait_ms;
    char *marker = takeover_path(state_dir, target);
    int rc;

    *out = NULL;
    memset(holder, 0, sizeof(*holder));
    if ((rc = open_lock(&lk->fd, &lk->path, state_dir, target, true, err)) < 0)
        goto out;
    for (;;) {
        /* A --takeover in progress goes first: a queued deploy must not slip in between. */
        bool yield = wait_ms > 0 && other_takeover(marker);
        if (!yield && flock(lk->fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (!yield && errno == EINTR)
            continue;
        if (!yield && errno != EWOULDBLOCK) {
            rc = rg_err_sys(err, RG_EIO, "cannot lock '%s'", lk->path);
            goto out;
        }
        if (rg_wall_ms() >= deadline) {
            read_holder(holder, lk->fd);
            /* Held by no live deploy: a reader peeking for a moment, or a holder between its
             * flock and its record. Not busy: look again for a little while. */
            if (!yield && !holder_alive(holder) && rg_wall_ms() < deadline + GRACE_MS) {
                sleep_ms(POLL_MS / 4);
                continue;
            }
            busy_message(err, target, holder);
            rc = RG_EBUSY;
            goto out;
        }
        sleep_ms(POLL_MS);
    }
    lk->held = true;
    /* A release empties the record: one left behind names a holder that died with the lock. */
    read_holder(holder, lk->fd);
    holder->stale = holder->pid != 0;
    lk->me.pid = (int)getpid();
    lk->me.since_ms = rg_wall_ms();
    snprintf(lk->me.actor, sizeof(lk->me.actor), "%s", actor);
    if ((rc = write_holder(lk, err)) < 0)
        goto out;
    *out = lk;
    lk = NULL;
out:
    free(marker);
    rg_lock_release(lk);
    return rc;
}

int
rg_lock_set_deploy(struct rg_lock *lk, int64_t deploy_id, const char *trigger,
                   struct rg_err *err)
{
    lk->me.deploy_id = deploy_id;
    snprintf(lk->me.trigger, sizeof(lk->me.trigger), "%s", trigger ? trigger : "cli");
    return write_holder(lk, err);
}

void
rg_lock_set_state(struct rg_lock *lk, const char *state)
{
    struct rg_err err;

    if (!lk)
        return;
    snprintf(lk->me.state, sizeof(lk->me.state), "%s", state);
    /* Only what others are told: a record that cannot be written must not stop the deploy. */
    if (write_holder(lk, &err) < 0)
        rg_log(RG_LOG_WARN, "%s", err.msg);
}

int
rg_lock_peek(struct rg_lock_holder *holder, const char *state_dir, const char *target,
             struct rg_err *err)
{
    char *path = NULL;
    int fd = -1, rc;

    memset(holder, 0, sizeof(*holder));
    /* Looking creates nothing: no lock file means nobody ever held it. */
    if ((rc = open_lock(&fd, &path, state_dir, target, false, err)) == RG_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        rc = 0; /* free: nobody holds it exclusively */
    } else if (errno == EWOULDBLOCK) {
        read_holder(holder, fd);
        rc = 1;
    } else {
        rc = rg_err_sys(err, RG_EIO, "cannot look at lock '%s'", path);
    }
    close(fd); /* drops the shared lock too */
    free(path);
    return rc;
}

void
rg_lock_release(struct rg_lock *lk)
{
    if (!lk)
        return;
    if (lk->fd >= 0) {
        /* Emptied while still held (never when another process holds it), so that a record found by the next holder can only be one
         * whose process died holding the lock (rg_lock_take's stale). */
        if (lk->held && ftruncate(lk->fd, 0) < 0)
            rg_log(RG_LOG_WARN, "cannot empty the lock file '%s': %s", lk->path, strerror(errno));
        close(lk->fd);
    }
    free(lk->path);
    free(lk);
}
