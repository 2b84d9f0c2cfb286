/* SIGINT, SIGTERM and SIGHUP become readable bytes on a pipe (the self-pipe) that the engine checks
 * between steps and while it waits: a signal never leaves a step half-done. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

static int pipe_fds[2] = {-1, -1};

static void
on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(pipe_fds[1], &b, 1); /* async-signal-safe; a full pipe is still readable */

    (void)w;
    errno = saved;
}

int
rg_signals_install(void)
{
    struct sigaction sa;

    if (pipe_fds[0] >= 0)
        return pipe_fds[0];
    if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed terminal is a cancel too, unless the caller chose otherwise (nohup). */
    {
        struct sigaction old;
        if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(SIGHUP, &sa, NULL);
    }
    /* A reader that went away (an ssh session a cancelled job closed, a pipe to `head`) must
     * not kill a run midway: the writes fail, the run goes on, its run log keeps the output. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return pipe_fds[0];
}
