/* The run log: what a run printed, kept so that a run started by a push (or by anyone) can be
 * followed from another terminal, and ended by an exit line so that a follower knows when and
 * how the run ended without asking the process. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rollgate/util.h"
#include "runlog.h"

char *
rg_runlog_default_path(const char *state_dir, const char *target)
{
    char when[32] = "0";
    time_t t = time(NULL);
    struct tm tm;

    if (gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
    return rg_asprintf("%s/logs/%s-%s-%d.log", state_dir, target, when, (int)getpid());
}

void
rg_runlog_init(struct rg_runlog *rl, const char *path, const char *target,
               struct rg_progress *shown)
{
    struct stat a, b;

    memset(rl, 0, sizeof(*rl));
    rl->path = rg_strdup(path);
    rl->shown = shown;
    /* A worker started by the hook writes straight into its log. */
    rl->is_stdout = fstat(STDOUT_FILENO, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
                    a.st_ino == b.st_ino;
    (void)target;
}

static void
open_log(struct rg_runlog *rl)
{
    char *dir = rg_strdup(rl->path), *slash = strrchr(dir, '/');
    struct rg_err err;
    int fd;

    if (slash) {
        *slash = '\0';
        if (rg_fs_make_dir(dir, 0750, "log directory", &err) < 0) {
            rg_log(RG_LOG_WARN, "the run's output is not kept: %s", err.msg);
            free(dir);
            return;
        }
    }
    free(dir);
    /* Emptied: a log path used again (a CI workspace's) must not show a follower the run
     * before, and its exit line. */
    fd = open(rl->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0 || !(rl->file = fdopen(fd, "a"))) {
        rg_log(RG_LOG_WARN, "the run's output is not kept in '%s': %s", rl->path,
               strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    rg_progress_init(&rl->log, rl->file, false, rl->shown->target);
}

void
rg_runlog_report(const struct rg_report *r, void *data)
{
    struct rg_runlog *rl = data;

    rg_progress_report(r, rl->shown);
    if (rl->is_stdout)
        return;
    if (r->kind == RG_REPORT_START && !rl->file)
        open_log(rl);
    if (rl->file)
        rg_progress_report(r, &rl->log);
}

void
rg_runlog_finish(struct rg_runlog *rl, int exit_code)
{
    if (rl->is_stdout) {
        fprintf(stdout, RG_RUNLOG_EXIT_PREFIX "%d\n", exit_code);
        fflush(stdout);
    } else if (rl->file) {
        fprintf(rl->file, RG_RUNLOG_EXIT_PREFIX "%d\n", exit_code);
        fclose(rl->file);
    }
    rl->file = NULL;
    free(rl->path);
    rl->path = NULL;
}

/* A line as it may reach a terminal: no escape sequences, no carriage returns. */
static int
put_line(FILE *out, const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            continue;
        if (fputc(c, out) == EOF)
            return -1;
    }
    if (fputc('\n', out) == EOF || fflush(out) == EOF)
        return -1;
    return 0;
}

static bool
exit_line(const char *line, size_t len, int *code)
{
    size_t p = strlen(RG_RUNLOG_EXIT_PREFIX);
    int v = 0;

    if (len <= p || len > p + 3 || strncmp(line, RG_RUNLOG_EXIT_PREFIX, p) != 0)
        return false;
    for (size_t i = p; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return false;
        v = v * 10 + (line[i] - '0');
    }
    *code = v;
    return true;
}

static void
consume(struct rg_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

enum rg_follow_end
rg_runlog_follow(FILE *out, const char *path, bool (*alive)(void *data), void *data,
                 int64_t deadline_ms, int *exit_code, struct rg_err *err)
{
    struct rg_buf pending;
    char chunk[4096];
    enum rg_follow_end end = RG_FOLLOW_GONE;
    int fd = -1;
    bool last_look = false;

    rg_buf_init(&pending, 1 << 18);
    for (;;) {
        ssize_t n;
        if (fd < 0 && (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 && errno != ENOENT) {
            rg_err_sys(err, RG_EIO, "cannot read the run log '%s'", path);
            break;
        }
        n = fd >= 0 ? read(fd, chunk, sizeof(chunk)) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            char *nl;
            rg_buf_add(&pending, chunk, (size_t)n);
            while ((nl = memchr(pending.data, '\n', pending.len))) {
                size_t len = (size_t)(nl - pending.data);
                if (exit_line(pending.data, len, exit_code)) {
                    end = RG_FOLLOW_EXIT;
                    goto out;
                }
                if (out && put_line(out, pending.data, len) < 0) {
                    end = RG_FOLLOW_CLOSED;
                    goto out;
                }
                consume(&pending, len + 1);
            }
            /* A line without end (binary output in evidence) is shown in pieces. */
            if (pending.len > 65536) {
                if (out && put_line(out, pending.data, pending.len) < 0) {
                    end = RG_FOLLOW_CLOSED;
                    goto out;
                }
                rg_buf_reset(&pending);
            }
            continue;
        }
        /* Nothing new: one more look after the writer is seen gone, for its last lines. */
        if (last_look)
            break;
        if (alive && !alive(data)) {
            last_look = true;
            continue;
        }
        if (deadline_ms && rg_mono_ms() >= deadline_ms) {
            end = RG_FOLLOW_TIMEOUT;
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
    }
out:
    if (fd >= 0)
        close(fd);
    rg_buf_release(&pending);
    return end;
}
