/* Running other programs: an argv array (never a shell), a deadline, bounded output, and the
 * whole process group killed when the deadline passes. Only src/util/spawn*.c fork or exec. */
#ifndef ROLLGATE_SPAWN_H
#define ROLLGATE_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/util.h"

#define RG_SPAWN_DEFAULT_GRACE_MS 2000
#define RG_SPAWN_DEFAULT_MAX_OUTPUT (64 * 1024)

struct rg_spawn_opts {
    const char *const *argv; /* NULL-terminated; argv[0] is searched in PATH when it has no '/' */
    const char *const *env;  /* the child's whole environment ("K=V", NULL-terminated); NULL:
                                the allowlisted part of rollgate's own environment */
    const char *const *env_extra; /* with env NULL: "K=V" set on top of the allowlist */
    const char *cwd;              /* NULL: rollgate's working directory */
    int64_t timeout_ms;           /* required, > 0: then SIGTERM to the group, grace, SIGKILL */
    int64_t grace_ms;             /* 0: RG_SPAWN_DEFAULT_GRACE_MS */
    size_t max_output;            /* bytes kept of each of stdout and stderr (the last ones);
                                     0: RG_SPAWN_DEFAULT_MAX_OUTPUT */
    const char *stdin_data;       /* written to the child's stdin, then closed; NULL: /dev/null */
    size_t stdin_len;
    int cancel_fd; /* when readable, the child is stopped as on timeout; -1: none */
};

struct rg_spawn_result {
    int exit_code;      /* the exit status, or -1 when the child died of a signal */
    int signal;         /* the signal that ended it, or 0 */
    bool timed_out;     /* the deadline passed and the group was killed */
    bool cancelled;     /* cancel_fd became readable and the group was killed */
    int64_t elapsed_ms; /* from the start until rg_spawn_run stopped waiting */
    int64_t timeout_ms; /* the deadline that applied, for rg_spawn_describe */
    struct rg_buf out;  /* the tail of stdout (out.truncated: earlier bytes were dropped) */
    struct rg_buf err;  /* the tail of stderr */
};

/* Runs opts->argv and waits for it. Returns 0 once the child has run, whatever its exit status
 * (look at res); RG_ENOENT when the program or the working directory is not found, RG_EIO when
 * it cannot be started (permission denied, not executable, out of processes), RG_EINVAL for bad
 * options. res is always initialised and must be released. After a normal exit, processes the
 * child left in the background keep running (reading their output stops shortly after); after a
 * timeout or cancellation the whole process group is killed. */
int rg_spawn_run(struct rg_spawn_result *res, const struct rg_spawn_opts *opts, struct rg_err *err);

/* ---- a child whose stdout is read as a stream (pg_dump into an archive) ---- */
struct rg_spawn_child;

/* Starts opts->argv as rg_spawn_run does, but hands the read end of the child's stdout to the
 * caller as *stdout_fd (blocking, close-on-exec; owned by the handle: read it, never close it).
 * Meanwhile a thread of the handle drains stderr into a bounded tail, writes stdin_data (copied),
 * watches cancel_fd (which must stay open until rg_spawn_finish) and enforces the deadline,
 * counted from the start: when it passes the group gets SIGTERM, the grace period, SIGKILL, so a
 * caller blocked reading stdout sees end of file. On success *out is the handle, which must go to
 * rg_spawn_finish or rg_spawn_abandon. Errors as rg_spawn_run (RG_ENOENT, RG_EIO, RG_EINVAL, and
 * RG_EIO when the thread cannot be started); then *out is NULL, *stdout_fd -1 and nothing runs. */
int rg_spawn_start(struct rg_spawn_child **out, int *stdout_fd, const struct rg_spawn_opts *opts,
                   struct rg_err *err);

/* Closes stdout (a child still writing gets EPIPE or SIGPIPE, so read it to end of file first
 * unless you mean to stop it), waits for the child as rg_spawn_run does and fills res (res->out
 * stays empty; res is always initialised and must be released), then frees the handle. Returns 0
 * once the child has run whatever its exit status, RG_EIO when waiting failed. */
int rg_spawn_finish(struct rg_spawn_child *child, struct rg_spawn_result *res, struct rg_err *err);

/* For error paths: kills the child's process group at once (SIGKILL, no grace) if the child is
 * still running, reaps it and frees the handle. A child that already exited on its own is only
 * reaped, as after rg_spawn_run. Accepts NULL. */
void rg_spawn_abandon(struct rg_spawn_child *child);

/* ---- a detached worker (spawn_detached.c) ---- */

/* Starts argv (argv[0] an absolute path, never searched) as a worker that outlives rollgate: its
 * own session (double fork, setsid), stdin from /dev/null, stdout and stderr to out_fd, no other
 * descriptor, default signal dispositions, env (NULL: rollgate's own environment). Nobody waits
 * for it; *pid_out is its pid. RG_ENOENT/RG_EIO when it cannot be started. */
int rg_spawn_detached(int *pid_out, const char *const *argv, const char *const *env, int out_fd,
                      struct rg_err *err);

/* Frees the output buffers. */
void rg_spawn_result_release(struct rg_spawn_result *res);

/* One line describing how the child ended, for evidence: "exited with 0", "killed by signal 9
 * (SIGKILL)", "timed out after 5s and was killed", "cancelled and was killed". Written into buf
 * (size > 0), which is returned. */
const char *rg_spawn_describe(char *buf, size_t size, const struct rg_spawn_result *res);

#endif
