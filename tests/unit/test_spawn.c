/* Unit tests of spawn: exit statuses, output capture and tails, stdin, lookup errors, environment,
 * working directory, deadlines, cancellation and the killing of whole process groups; a child
 * whose stdout is read as a stream. */
#define _GNU_SOURCE /* timerfd, prctl, pipe2 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/spawn.h"

/* Slack for a loaded 2-core machine and sanitizer builds; timing asserts use it one way only. */
#define SLACK_MS 1500

static int
setup_dir(void **state)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = rg_asprintf("%s/rg-spawn-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");

    if (!mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int
teardown_dir(void **state)
{
    char *dir = *state;
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            char *p = rg_asprintf("%s/%s", dir, de->d_name);
            unlink(p);
            free(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
    /* Orphans adopted as subreaper (see main) are reaped so none pile up between tests. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return 0;
}

static struct rg_spawn_opts
opts_for(const char *const *argv)
{
    return (struct rg_spawn_opts){.argv = argv, .timeout_ms = 10000, .cancel_fd = -1};
}

static char *
write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
    char *path = rg_asprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(content, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static pid_t
read_pid(const char *dir, const char *name)
{
    char *path = rg_asprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "r");
    long pid = 0;

    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%ld", &pid), 1);
    fclose(fp);
    free(path);
    assert_true(pid > 1);
    return (pid_t)pid;
}

/* The process group of a /proc/PID/stat line, or -1 when there is no such process. */
static long
proc_pgrp(pid_t pid, char *state)
{
    char *path = rg_asprintf("/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    char line[1024];
    const char *p;
    long pgrp = -1;

    free(path);
    if (!fp)
        return -1;
    if (fgets(line, sizeof(line), fp) && (p = strrchr(line, ')')) &&
        sscanf(p + 2, "%c %*d %ld", state, &pgrp) != 2)
        pgrp = -1;
    fclose(fp);
    return pgrp;
}

/* Asserts that the grandchild named in DIR/gc.pid, of the group DIR/leader.pid led, is dead and
 * that what ended it was SIGKILL when that can still be seen. As subreaper (see main) we adopt it
 * once its parent dies and can wait for it; but a parent killed at the same moment may reap it
 * first (the kernel looks for zombies before pending signals in wait4), and then it is simply
 * gone. A pid in use again by then belongs to another group. */
static void
assert_grandchild_killed(const char *dir)
{
    pid_t gc = read_pid(dir, "gc.pid"), leader = read_pid(dir, "leader.pid");
    int status;
    char state = '?';

    for (int i = 0; i < 300; i++) {
        pid_t got = waitpid(gc, &status, WNOHANG);
        if (got == gc) {
            assert_true(WIFSIGNALED(status));
            assert_int_equal(WTERMSIG(status), SIGKILL);
            return;
        }
        if (got < 0) {
            assert_int_equal(errno, ECHILD);
            if (proc_pgrp(gc, &state) != leader || state == 'Z')
                return;
        }
        usleep(10000);
    }
    kill(gc, SIGKILL);
    waitpid(gc, NULL, 0);
    fail_msg("grandchild %ld was still running (state %c)", (long)gc, state);
}

/* The numbers lo..hi one per line, as seq prints them. */
static void
seq_text(struct rg_buf *b, long lo, long hi)
{
    rg_buf_init(b, 16 * 1024 * 1024);
    for (long i = lo; i <= hi; i++)
        rg_buf_addf(b, "%ld\n", i);
}

static void
test_exit_zero(void **state)
{
    const char *const argv[] = {"true", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    char d[128];

    (void)state;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.signal, 0);
    assert_false(res.timed_out);
    assert_false(res.cancelled);
    assert_string_equal(res.out.data, "");
    assert_string_equal(res.err.data, "");
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &res), "exited with 0");
    rg_spawn_result_release(&res);
}

static void
test_exit_nonzero(void **state)
{
    const char *const f[] = {"false", NULL};
    const char *const three[] = {"sh", "-c", "exit 3", NULL};
    struct rg_spawn_opts o = opts_for(f);
    struct rg_spawn_result res;
    struct rg_err err;
    char d[128];

    (void)state;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 1);
    assert_int_equal(res.signal, 0);
    rg_spawn_result_release(&res);

    o.argv = three;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 3);
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &res), "exited with 3");
    rg_spawn_result_release(&res);
}

static void
test_killed_by_signal(void **state)
{
    const char *const argv[] = {"sh", "-c", "kill -KILL $$", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    char d[128];

    (void)state;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.signal, SIGKILL);
    assert_false(res.timed_out);
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &res), "killed by signal 9 (SIGKILL)");
    rg_spawn_result_release(&res);
}

static void
test_stdout_stderr_separate(void **state)
{
    const char *const argv[] = {"sh", "-c", "echo out; echo err >&2; echo out2", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_string_equal(res.out.data, "out\nout2\n");
    assert_string_equal(res.err.data, "err\n");
    assert_false(res.out.truncated);
    assert_false(res.err.truncated);
    rg_spawn_result_release(&res);
}

/* Over 1 MiB on each stream, stderr first: a parent that read stdout to EOF first would deadlock
 * on the full stderr pipe. Only the last max_output bytes of each are kept. */
static void
test_large_output_tail(void **state)
{
    const char *const argv[] = {"sh", "-c", "seq 1 200000 >&2; seq 200001 400000", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_buf want_out, want_err;
    struct rg_err err;

    (void)state;
    o.max_output = 10000;
    seq_text(&want_err, 1, 200000);
    seq_text(&want_out, 200001, 400000);
    assert_true(want_err.len > 1024 * 1024 && want_out.len > 1024 * 1024);
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.out.len, 10000);
    assert_int_equal(res.err.len, 10000);
    assert_true(res.out.truncated);
    assert_true(res.err.truncated);
    assert_memory_equal(res.out.data, want_out.data + want_out.len - 10000, 10000);
    assert_memory_equal(res.err.data, want_err.data + want_err.len - 10000, 10000);
    assert_int_equal(res.out.data[res.out.len], '\0');
    rg_buf_release(&want_out);
    rg_buf_release(&want_err);
    rg_spawn_result_release(&res);
}

/* 1 MiB on each stream, interleaved by two writers at once, kept whole when it fits. */
static void
test_large_output_fits(void **state)
{
    const char *const argv[] = {
        "sh", "-c", "head -c 1048576 /dev/zero >&2 & head -c 1048576 /dev/zero; wait", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    char *zeros = rg_calloc(1, 1048576);

    (void)state;
    o.max_output = 1048576;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.out.len, 1048576);
    assert_int_equal(res.err.len, 1048576);
    assert_false(res.out.truncated);
    assert_false(res.err.truncated);
    assert_memory_equal(res.out.data, zeros, 1048576);
    assert_memory_equal(res.err.data, zeros, 1048576);
    free(zeros);
    rg_spawn_result_release(&res);
}

static void
test_stdin_small(void **state)
{
    const char *const argv[] = {"cat", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    (void)state;
    o.stdin_data = "hello\nworld";
    o.stdin_len = strlen(o.stdin_data);
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out.data, "hello\nworld");
    rg_spawn_result_release(&res);

    /* Empty stdin data: the child sees end of file at once. */
    o.stdin_len = 0;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out.data, "");
    rg_spawn_result_release(&res);
}

/* 1 MiB through cat: stdin has to be written while stdout is read, or both pipes fill. */
static void
test_stdin_large_echo(void **state)
{
    const char *const argv[] = {"cat", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    size_t n = 1048576;
    char *data = rg_malloc(n);

    (void)state;
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    o.stdin_data = data;
    o.stdin_len = n;
    o.max_output = n;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.out.len, n);
    assert_false(res.out.truncated);
    assert_memory_equal(res.out.data, data, n);
    free(data);
    rg_spawn_result_release(&res);
}

/* A child that never reads its stdin: the write fails with EPIPE, SIGPIPE is not delivered to
 * (nor left pending in) the test process, and the run succeeds. */
static void
test_stdin_unread_no_sigpipe(void **state)
{
    const char *const argv[] = {"true", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    size_t n = 4 * 1048576;
    char *data = rg_calloc(1, n);
    sigset_t pending;

    (void)state;
    o.stdin_data = data;
    o.stdin_len = n;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(sigpending(&pending), 0);
    assert_false(sigismember(&pending, SIGPIPE));
    free(data);
    rg_spawn_result_release(&res);
}

static void
test_not_found(void **state)
{
    const char *const argv[] = {"rg-no-such-program", NULL};
    const char *const env[] = {"PATH=/nonexistent:/usr/bin", NULL};
    const char *const abs[] = {"/nonexistent/rg-prog", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_ENOENT);
    assert_string_equal(err.msg, "cannot run 'rg-no-such-program': not found in PATH");
    assert_int_equal(res.exit_code, -1);
    rg_spawn_result_release(&res);

    o.env = env;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_ENOENT);
    assert_string_equal(err.msg, "cannot run 'rg-no-such-program': not found in PATH");
    rg_spawn_result_release(&res);

    o.argv = abs;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_ENOENT);
    assert_string_equal(err.msg, "cannot run '/nonexistent/rg-prog': No such file or directory");
    rg_spawn_result_release(&res);
}

static void
test_not_executable(void **state)
{
    const char *dir = *state;
    char *plain = write_file(dir, "plain", "data\n", 0644);
    char *fake_true = write_file(dir, "true", "data\n", 0644);
    char *path_env = rg_asprintf("PATH=%s", dir);
    char *path_env2 = rg_asprintf("PATH=%s:/usr/bin:/bin", dir);
    char *want = rg_asprintf("cannot run '%s': Permission denied", plain);
    const char *const abs[] = {plain, NULL};
    const char *const bare[] = {"plain", NULL};
    const char *const t[] = {"true", NULL};
    const char *env[] = {path_env, NULL};
    struct rg_spawn_opts o = opts_for(abs);
    struct rg_spawn_result res;
    struct rg_err err;

    /* An absolute path: the failure comes from the exec inside posix_spawn. */
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EIO);
    assert_string_equal(err.msg, want);
    assert_int_equal(err.sys_errno, EACCES);
    rg_spawn_result_release(&res);

    /* Found in PATH but not executable: reported before anything starts. */
    o.argv = bare;
    o.env = env;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EIO);
    assert_string_equal(err.msg, want);
    rg_spawn_result_release(&res);

    /* As execvp does, a later executable match wins over an earlier non-executable one. */
    env[0] = path_env2;
    o.argv = t;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    rg_spawn_result_release(&res);

    free(plain);
    free(fake_true);
    free(path_env);
    free(path_env2);
    free(want);
}

/* An executable file without "#!": exec fails with ENOEXEC and no shell is tried instead. */
static void
test_exec_format_error(void **state)
{
    const char *dir = *state;
    char *script = write_file(dir, "noshebang", "echo ran\n", 0755);
    char *want = rg_asprintf("cannot run '%s': Exec format error", script);
    const char *const argv[] = {script, NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EIO);
    assert_string_equal(err.msg, want);
    assert_int_equal(err.sys_errno, ENOEXEC);
    rg_spawn_result_release(&res);
    free(script);
    free(want);
}

static void
test_invalid_opts(void **state)
{
    const char *const ok[] = {"true", NULL};
    const char *const empty[] = {"", NULL};
    const char *const none[] = {NULL};
    struct rg_spawn_opts o = opts_for(ok);
    struct rg_spawn_result res;
    struct rg_err err;
    int closed;

    (void)state;
    o.argv = NULL;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    assert_string_equal(err.msg, "cannot run a command without a program name");
    assert_null(res.out.data);
    assert_int_equal(res.exit_code, -1);
    rg_spawn_result_release(&res);
    o.argv = none;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    rg_spawn_result_release(&res);
    o.argv = empty;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    rg_spawn_result_release(&res);

    o.argv = ok;
    o.timeout_ms = 0;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    assert_string_equal(err.msg, "cannot run 'true': timeout must be positive, not 0ms");
    rg_spawn_result_release(&res);
    o.timeout_ms = -5;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    rg_spawn_result_release(&res);

    o.timeout_ms = 1000;
    o.grace_ms = -1;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    assert_string_equal(err.msg, "cannot run 'true': grace period must not be negative, not -1ms");
    rg_spawn_result_release(&res);

    o.grace_ms = 0;
    o.stdin_len = 3;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    assert_string_equal(err.msg, "cannot run 'true': stdin length without stdin data");
    rg_spawn_result_release(&res);

    o.stdin_len = 0;
    closed = dup(0);
    assert_true(closed >= 0);
    close(closed);
    o.cancel_fd = closed;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EINVAL);
    rg_spawn_result_release(&res);
}

/* A child that ignores SIGTERM gets SIGKILL once the grace period is over. */
static void
test_timeout_sigkill(void **state)
{
    const char *const argv[] = {"sh", "-c", "trap '' TERM; sleep 30", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    char d[128];

    (void)state;
    o.timeout_ms = 400;
    o.grace_ms = 300;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_true(res.timed_out);
    assert_false(res.cancelled);
    assert_int_equal(res.signal, SIGKILL);
    assert_int_equal(res.exit_code, -1);
    assert_true(res.elapsed_ms >= 700);
    assert_true(res.elapsed_ms < 700 + SLACK_MS);
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &res),
                        "timed out after 400ms and was killed");
    rg_spawn_result_release(&res);
}

/* A child that obeys SIGTERM is not waited on for the rest of the grace period. */
static void
test_timeout_sigterm(void **state)
{
    const char *const argv[] = {"sleep", "30", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    (void)state;
    o.timeout_ms = 200;
    o.grace_ms = 10000;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGTERM);
    assert_true(res.elapsed_ms >= 200);
    assert_true(res.elapsed_ms < 200 + SLACK_MS);
    rg_spawn_result_release(&res);
}

/* A grandchild that ignores SIGTERM like its parent dies with the group at the SIGKILL. */
static void
test_timeout_kills_group(void **state)
{
    const char *dir = *state;
    const char *const argv[] = {"sh",
                                "-c",
                                "echo $$ > \"$1/leader.pid\"; trap '' TERM; "
                                "sleep 30 & echo $! > \"$1/gc.pid\"; sleep 30",
                                "sh",
                                dir,
                                NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    o.timeout_ms = 400;
    o.grace_ms = 300;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGKILL);
    assert_grandchild_killed(dir);
    rg_spawn_result_release(&res);
}

/* The leader obeys SIGTERM but leaves a grandchild that ignores it: the wait goes on until the
 * grace period ends, and the grandchild gets SIGKILL then. */
static void
test_timeout_kills_group_after_leader(void **state)
{
    const char *dir = *state;
    const char *const argv[] = {"sh",
                                "-c",
                                "echo $$ > \"$1/leader.pid\"; (trap '' TERM; exec sleep 30) & "
                                "echo $! > \"$1/gc.pid\"; exec sleep 30",
                                "sh",
                                dir,
                                NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    o.timeout_ms = 400;
    o.grace_ms = 500;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGTERM);
    assert_true(res.elapsed_ms >= 900);
    assert_true(res.elapsed_ms < 900 + SLACK_MS);
    assert_grandchild_killed(dir);
    rg_spawn_result_release(&res);
}

/* After a normal exit a background grandchild is left running and, although it holds the pipes
 * open, the run ends shortly after the leader with the leader's output. */
static void
test_normal_exit_leaves_background(void **state)
{
    const char *dir = *state;
    const char *const argv[] = {"sh", "-c", "sleep 30 & echo $! > \"$1/gc.pid\"; echo done",
                                "sh", dir,  NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    pid_t gc;

    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_false(res.timed_out);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out.data, "done\n");
    assert_true(res.elapsed_ms < SLACK_MS);
    gc = read_pid(dir, "gc.pid");
    assert_int_equal(kill(gc, 0), 0);
    assert_int_equal(waitpid(gc, NULL, WNOHANG), 0); /* still running, not a zombie */
    kill(gc, SIGKILL);
    waitpid(gc, NULL, 0);
    rg_spawn_result_release(&res);
}

static void
test_cancel_ready(void **state)
{
    const char *const argv[] = {"sleep", "30", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    int p[2];
    char c = 0, d[128];

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    o.cancel_fd = p[0];
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_true(res.cancelled);
    assert_false(res.timed_out);
    assert_int_equal(res.signal, SIGTERM);
    assert_true(res.elapsed_ms < SLACK_MS);
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &res), "cancelled and was killed");
    assert_int_equal(read(p[0], &c, 1), 1); /* left for the caller to read */
    assert_int_equal(c, 'x');
    close(p[0]);
    close(p[1]);
    rg_spawn_result_release(&res);
}

static void
test_cancel_later(void **state)
{
    const char *const argv[] = {"sleep", "30", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = 250 * 1000000L}};
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

    (void)state;
    assert_true(tfd >= 0);
    assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
    o.cancel_fd = tfd;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_true(res.cancelled);
    assert_int_equal(res.signal, SIGTERM);
    assert_true(res.elapsed_ms >= 240);
    assert_true(res.elapsed_ms < 250 + SLACK_MS);
    close(tfd);
    rg_spawn_result_release(&res);
}

static void
test_env_exact(void **state)
{
    const char *const argv[] = {"env", NULL};
    const char *const env[] = {"A=1", "B=two words", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    (void)state;
    o.env = env;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out.data, "A=1\nB=two words\n");
    rg_spawn_result_release(&res);
}

static bool
has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
    }
    return false;
}

static bool
has_name(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return true;
    }
    return false;
}

static void
test_env_allowlist(void **state)
{
    static const char *const set[][2] = {
        {"RG_SECRET_TEST", "x"},   {"PGPASSWORD", "pw"},        {"LC_TIME", "C"},
        {"COMPOSE_FILE", "a.yml"}, {"HTTPS_PROXY", "http://p"}, {"no_proxy", "localhost"},
        {"PATHOLOGICAL", "1"},     {"DOCKER_HOSTNAME", "h"},    {"DOCKER_HOST", "unix:///d"},
    };
    const char *const argv[] = {"env", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;
    char *path_line = rg_asprintf("PATH=%s", getenv("PATH"));

    (void)state;
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        assert_int_equal(setenv(set[i][0], set[i][1], 1), 0);
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_true(has_line(res.out.data, path_line));
    assert_true(has_line(res.out.data, "PGPASSWORD=pw"));
    assert_true(has_line(res.out.data, "LC_TIME=C"));
    assert_true(has_line(res.out.data, "COMPOSE_FILE=a.yml"));
    assert_true(has_line(res.out.data, "HTTPS_PROXY=http://p"));
    assert_true(has_line(res.out.data, "no_proxy=localhost"));
    assert_true(has_line(res.out.data, "DOCKER_HOST=unix:///d"));
    assert_false(has_name(res.out.data, "RG_SECRET_TEST"));
    assert_false(has_name(res.out.data, "PATHOLOGICAL"));
    assert_false(has_name(res.out.data, "DOCKER_HOSTNAME"));
    assert_false(has_name(res.out.data, "RG_SOURCE_DIR")); /* set by ctest */
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        unsetenv(set[i][0]);
    free(path_line);
    rg_spawn_result_release(&res);
}

static void
test_cwd(void **state)
{
    const char *dir = *state;
    char real[PATH_MAX];
    char *want = NULL, *script = write_file(dir, "hello.sh", "#!/bin/sh\necho hi\n", 0755);
    const char *const pwd[] = {"pwd", NULL};
    const char *const rel[] = {"./hello.sh", NULL};
    struct rg_spawn_opts o = opts_for(pwd);
    struct rg_spawn_result res;
    struct rg_err err;

    assert_non_null(realpath(dir, real));
    want = rg_asprintf("%s\n", real);
    o.cwd = dir;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_string_equal(res.out.data, want);
    rg_spawn_result_release(&res);

    /* A relative program path is taken from the child's working directory. */
    o.argv = rel;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out.data, "hi\n");
    rg_spawn_result_release(&res);
    free(want);
    free(script);
}

static void
test_cwd_errors(void **state)
{
    const char *dir = *state;
    char *file = write_file(dir, "file", "", 0644);
    char *want = rg_asprintf("cannot use working directory '%s': Not a directory", file);
    const char *const argv[] = {"true", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_result res;
    struct rg_err err;

    o.cwd = "/nonexistent-rg-dir";
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_ENOENT);
    assert_string_equal(err.msg,
                        "cannot use working directory '/nonexistent-rg-dir': No such file or "
                        "directory");
    rg_spawn_result_release(&res);
    o.cwd = file;
    assert_int_equal(rg_spawn_run(&res, &o, &err), RG_EIO);
    assert_string_equal(err.msg, want);
    rg_spawn_result_release(&res);
    free(file);
    free(want);
}

/* The child starts clean whatever rollgate's own state: its own process group, default signal
 * dispositions, nothing blocked, stdin from /dev/null, no inherited descriptors past stderr. */
static void
test_child_state(void **state)
{
    const char *const sig[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    const char *const fds[] = {"ls", "/proc/self/fd", NULL};
    const char *const in[] = {"readlink", "/proc/self/fd/0", NULL};
    const char *const stat_argv[] = {"cat", "/proc/self/stat", NULL};
    struct rg_spawn_opts o = opts_for(sig);
    struct rg_spawn_result res;
    struct rg_err err;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_int;
    sigset_t usr1, old_mask;
    long pid, pgrp;
    const char *p;
    int leaky;

    (void)state;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGINT, &ign, &old_int);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old_mask);
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGINT, &old_int, NULL);
    /* glibc's posix_spawn leaves its two internal signals (32, 33) ignored whatever is asked;
     * nothing else may be. */
    assert_string_equal(res.out.data, "SigBlk:\t0000000000000000\nSigIgn:\t0000000180000000\n");
    rg_spawn_result_release(&res);

    leaky = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    assert_true(leaky > 2);
    o.argv = fds;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    close(leaky);
    assert_string_equal(res.out.data, "0\n1\n2\n3\n"); /* 3 is ls's own directory handle */
    rg_spawn_result_release(&res);

    o.argv = in;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    assert_string_equal(res.out.data, "/dev/null\n");
    rg_spawn_result_release(&res);

    o.argv = stat_argv;
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    p = strrchr(res.out.data, ')');
    assert_non_null(p);
    assert_int_equal(sscanf(res.out.data, "%ld", &pid), 1);
    assert_int_equal(sscanf(p + 2, "%*c %*d %ld", &pgrp), 1);
    assert_int_equal(pgrp, pid);
    assert_int_not_equal(pgrp, (long)getpgrp());
    rg_spawn_result_release(&res);
}

static void
test_describe(void **state)
{
    struct rg_spawn_result r = {.exit_code = 0};
    char d[128], small[8];

    (void)state;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "exited with 0");
    r.exit_code = 3;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "exited with 3");
    r = (struct rg_spawn_result){.exit_code = -1, .signal = SIGKILL};
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "killed by signal 9 (SIGKILL)");
    r.signal = SIGTERM;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "killed by signal 15 (SIGTERM)");
    r.signal = SIGSEGV;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "killed by signal 11 (SIGSEGV)");
    r.signal = SIGABRT;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "killed by signal 6 (SIGABRT)");
    r.signal = SIGHUP;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "killed by signal 1 (SIGHUP)");
    r.signal = SIGINT;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "killed by signal 2 (SIGINT)");
    r.signal = 40;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "killed by signal 40");
    r = (struct rg_spawn_result){
        .exit_code = -1, .signal = SIGKILL, .timed_out = true, .timeout_ms = 5000};
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "timed out after 5s and was killed");
    r.timeout_ms = 90000;
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r),
                        "timed out after 1m30s and was killed");
    r = (struct rg_spawn_result){.exit_code = 143, .cancelled = true};
    assert_string_equal(rg_spawn_describe(d, sizeof(d), &r), "cancelled and was killed");
    assert_string_equal(rg_spawn_describe(small, sizeof(small), &r), "cancell");
}

/* ---- streaming: rg_spawn_start / rg_spawn_finish / rg_spawn_abandon ---- */

/* Reads fd to end of file; returns the byte count and whether every byte was zero. */
static size_t
read_all(int fd, bool *all_zero)
{
    static char buf[64 * 1024];
    size_t total = 0;
    ssize_t n;

    *all_zero = true;
    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            return total;
        for (ssize_t i = 0; i < n && *all_zero; i++)
            *all_zero = buf[i] == 0;
        total += (size_t)n;
    }
}

/* 50 MB through the pipe, far beyond any tail: nothing is kept, nothing is lost. */
static void
test_stream_large(void **state)
{
    const char *const argv[] = {"head", "-c", "52428800", "/dev/zero", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_child *c = NULL;
    struct rg_spawn_result res;
    struct rg_err err;
    bool zero;
    int fd = -1;

    (void)state;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), 0);
    assert_non_null(c);
    assert_true(fd > 2);
    assert_true((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(read_all(fd, &zero), 52428800);
    assert_true(zero);
    assert_int_equal(rg_spawn_finish(c, &res, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.signal, 0);
    assert_false(res.timed_out);
    assert_int_equal(res.out.len, 0);
    assert_string_equal(res.out.data, "");
    assert_int_equal(res.err.len, 0);
    rg_spawn_result_release(&res);
}

/* 2 MB of stderr before any stdout: unless stderr is drained while the caller waits on stdout,
 * the child blocks on a full pipe and this ends only at the deadline. */
static void
test_stream_chatty_stderr(void **state)
{
    const char *const argv[] = {"sh", "-c",
                                "head -c 2097152 /dev/zero | tr '\\0' e >&2; echo last >&2; "
                                "head -c 1048576 /dev/zero; echo tail >&2",
                                NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_child *c = NULL;
    struct rg_spawn_result res;
    struct rg_err err;
    bool zero;
    int fd = -1;

    (void)state;
    o.max_output = 4096;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), 0);
    assert_int_equal(read_all(fd, &zero), 1048576);
    assert_true(zero);
    assert_int_equal(rg_spawn_finish(c, &res, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_false(res.timed_out);
    assert_true(res.elapsed_ms < 5000);
    assert_int_equal(res.err.len, 4096);
    assert_true(res.err.truncated);
    assert_string_equal(res.err.data + 4096 - 10, "eeee\nlast\ntail\n" + 5);
    rg_spawn_result_release(&res);
}

/* The deadline frees a caller blocked reading stdout: the group is killed, the pipe ends. */
static void
test_stream_timeout_while_reading(void **state)
{
    const char *const argv[] = {"sh", "-c", "echo started; exec sleep 30", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_child *c = NULL;
    struct rg_spawn_result res;
    struct rg_err err;
    int64_t t0 = rg_mono_ms();
    char buf[64];
    size_t got = 0;
    ssize_t n;
    int fd = -1;

    (void)state;
    o.timeout_ms = 400;
    o.grace_ms = 300;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), 0);
    while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    assert_string_equal(buf, "started\n");
    assert_true(rg_mono_ms() - t0 >= 400);
    assert_true(rg_mono_ms() - t0 < 400 + SLACK_MS);
    assert_int_equal(rg_spawn_finish(c, &res, &err), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGTERM);
    assert_int_equal(res.exit_code, -1);
    assert_true(res.elapsed_ms >= 400);
    rg_spawn_result_release(&res);
}

/* A caller that stops reading early and finishes does not wait for the deadline: the writer
 * gets SIGPIPE. */
static void
test_stream_finish_unread(void **state)
{
    const char *const argv[] = {"head", "-c", "52428800", "/dev/zero", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_child *c = NULL;
    struct rg_spawn_result res;
    struct rg_err err;
    char buf[1024];
    int fd = -1;

    (void)state;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), 0);
    assert_int_equal(read(fd, buf, sizeof(buf)) > 0, 1);
    assert_int_equal(rg_spawn_finish(c, &res, &err), 0);
    assert_int_equal(res.signal, SIGPIPE);
    assert_false(res.timed_out);
    assert_true(res.elapsed_ms < 5000);
    rg_spawn_result_release(&res);
}

/* Abandoning kills the whole group at once, the grandchild that ignores SIGTERM included. */
static void
test_stream_abandon_kills_group(void **state)
{
    const char *dir = *state;
    const char *const argv[] = {"sh",
                                "-c",
                                "echo $$ > \"$1/leader.pid\"; trap '' TERM; "
                                "sleep 30 & echo $! > \"$1/gc.pid\"; echo ready; sleep 30",
                                "sh",
                                dir,
                                NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_child *c = NULL;
    struct rg_err err;
    int64_t t0;
    char buf[16];
    int fd = -1;

    o.timeout_ms = 30000;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), 0);
    assert_int_equal(read(fd, buf, sizeof(buf)), 6); /* "ready\n": both pids are written */
    t0 = rg_mono_ms();
    rg_spawn_abandon(c);
    assert_true(rg_mono_ms() - t0 < SLACK_MS);
    assert_grandchild_killed(dir);
    rg_spawn_abandon(NULL);
}

/* A start that fails leaves nothing behind and says why. */
static void
test_stream_start_errors(void **state)
{
    const char *const missing[] = {"rg-no-such-program-xyz", NULL};
    const char *const ok[] = {"true", NULL};
    struct rg_spawn_opts o = opts_for(missing);
    struct rg_spawn_child *c = (struct rg_spawn_child *)&o;
    struct rg_err err;
    int fd = 42;

    (void)state;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), RG_ENOENT);
    assert_null(c);
    assert_int_equal(fd, -1);
    assert_string_equal(err.msg, "cannot run 'rg-no-such-program-xyz': not found in PATH");
    o = opts_for(ok);
    o.timeout_ms = 0;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), RG_EINVAL);
    assert_null(c);
    assert_int_equal(fd, -1);
}

/* stdin is fed by the handle's thread while the caller reads stdout. */
static void
test_stream_stdin(void **state)
{
    const char *const argv[] = {"cat", NULL};
    struct rg_spawn_opts o = opts_for(argv);
    struct rg_spawn_child *c = NULL;
    struct rg_spawn_result res;
    struct rg_err err;
    struct rg_buf want;
    char *got = rg_malloc(4 * 1024 * 1024);
    size_t len = 0;
    ssize_t n;
    int fd = -1;

    (void)state;
    seq_text(&want, 1, 200000); /* about 1.3 MB: more than both pipes hold */
    o.stdin_data = want.data;
    o.stdin_len = want.len;
    assert_int_equal(rg_spawn_start(&c, &fd, &o, &err), 0);
    while ((n = read(fd, got + len, 4 * 1024 * 1024 - len)) > 0)
        len += (size_t)n;
    assert_int_equal(len, want.len);
    assert_memory_equal(got, want.data, len);
    assert_int_equal(rg_spawn_finish(c, &res, &err), 0);
    assert_int_equal(res.exit_code, 0);
    rg_spawn_result_release(&res);
    rg_buf_release(&want);
    free(got);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_zero),
        cmocka_unit_test(test_exit_nonzero),
        cmocka_unit_test(test_killed_by_signal),
        cmocka_unit_test(test_stdout_stderr_separate),
        cmocka_unit_test(test_large_output_tail),
        cmocka_unit_test(test_large_output_fits),
        cmocka_unit_test(test_stdin_small),
        cmocka_unit_test(test_stdin_large_echo),
        cmocka_unit_test(test_stdin_unread_no_sigpipe),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test_setup_teardown(test_not_executable, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_exec_format_error, setup_dir, teardown_dir),
        cmocka_unit_test(test_invalid_opts),
        cmocka_unit_test(test_timeout_sigkill),
        cmocka_unit_test(test_timeout_sigterm),
        cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_timeout_kills_group_after_leader, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_normal_exit_leaves_background, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(test_cancel_ready),
        cmocka_unit_test(test_cancel_later),
        cmocka_unit_test(test_env_exact),
        cmocka_unit_test(test_env_allowlist),
        cmocka_unit_test_setup_teardown(test_cwd, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_cwd_errors, setup_dir, teardown_dir),
        cmocka_unit_test(test_child_state),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_stream_large),
        cmocka_unit_test(test_stream_chatty_stderr),
        cmocka_unit_test(test_stream_timeout_while_reading),
        cmocka_unit_test(test_stream_finish_unread),
        cmocka_unit_test_setup_teardown(test_stream_abandon_kills_group, setup_dir, teardown_dir),
        cmocka_unit_test(test_stream_start_errors),
        cmocka_unit_test(test_stream_stdin),
    };

    /* Grandchildren orphaned by a killed child are re-parented to this process, so a test can
     * wait for them and see exactly how they ended, whatever pid 1 does with orphans. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
