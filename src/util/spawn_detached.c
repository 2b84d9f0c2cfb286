/* A worker that outlives the process that started it: a git hook starts the deploy this way,
 * so that the push may end (or the pusher's connection drop) while the deploy goes on. Its own
 * session (double fork and setsid: no controlling terminal, not in the hook's process group,
 * re-parented to init), stdin from /dev/null, stdout and stderr into the run log, and no other
 * descriptor inherited, so nothing it holds keeps the push's connection open. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rollgate/spawn.h"

extern char **environ;

struct report {
    char kind; /* 'p': the worker's pid; 'e': exec failed with errno */
    int value;
};

static void
send_report(int fd, char kind, int value)
{
    struct report r = {kind, value};
    ssize_t n;

    do
        n = write(fd, &r, sizeof(r));
    while (n < 0 && errno == EINTR);
}

static void
close_others(int keep)
{
    /* keep is 3 (moved there); everything above it goes. */
    int max = (int)sysconf(_SC_OPEN_MAX);

    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = keep + 1; fd < max; fd++)
        close(fd);
}

static void
worker(const char *const *argv, const char *const *env, int out_fd, int report_fd)
{
    sigset_t none;
    int devnull = open("/dev/null", O_RDONLY);

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(out_fd, STDERR_FILENO) < 0 || dup3(report_fd, 3, O_CLOEXEC) < 0) {
        send_report(report_fd, 'e', errno);
        _exit(127);
    }
    close_others(3);
    execve(argv[0], (char *const *)argv, (char *const *)(env ? env : (const char *const *)environ));
    send_report(3, 'e', errno);
    _exit(127);
}

int
rg_spawn_detached(int *pid_out, const char *const *argv, const char *const *env, int out_fd,
                  struct rg_err *err)
{
    struct report r;
    int p[2], status;
    pid_t child;
    ssize_t n;

    *pid_out = 0;
    if (!argv || !argv[0] || argv[0][0] != '/')
        return rg_err_set(err, RG_EINVAL, "a detached worker needs an absolute program path");
    if (pipe2(p, O_CLOEXEC) < 0)
        return rg_err_sys(err, RG_EIO, "cannot start the worker: pipe");
    if ((child = fork()) < 0) {
        close(p[0]);
        close(p[1]);
        return rg_err_sys(err, RG_EIO, "cannot start the worker: fork");
    }
    if (child == 0) {
        pid_t w;
        close(p[0]);
        if (setsid() < 0 || (w = fork()) < 0) {
            send_report(p[1], 'e', errno);
            _exit(127);
        }
        if (w == 0)
            worker(argv, env, out_fd, p[1]);
        send_report(p[1], 'p', (int)w);
        _exit(0);
    }
    close(p[1]);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    /* The pid from the middle process, then end of file once the worker's exec closed its copy
     * of the pipe, or the errno of a failed exec. */
    while ((n = read(p[0], &r, sizeof(r))) == (ssize_t)sizeof(r) || (n < 0 && errno == EINTR)) {
        if (n < 0)
            continue;
        if (r.kind == 'p') {
            *pid_out = r.value;
        } else {
            close(p[0]);
            errno = r.value;
            return rg_err_sys(err, r.value == ENOENT ? RG_ENOENT : RG_EIO,
                              "cannot start the worker '%s'", argv[0]);
        }
    }
    close(p[0]);
    if (!*pid_out)
        return rg_err_set(err, RG_EIO, "cannot start the worker '%s': it did not report", argv[0]);
    return 0;
}
