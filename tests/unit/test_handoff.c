/* The watcher of a run a CI job waits for (src/cli/handoff.c), fed the engine's reports by hand:
 * which cancel it gives and when. The signal pipe is a pipe of the test's; the paths that start
 * a worker are the integration test's (tests/integration/test_ci_live.sh), since a worker is a
 * real rollgate process. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/handoff.h"

struct fixture {
    struct rg_handoff h;
    int sig[2];
    int cancel_fd;
    char dir[64];
};

static bool
readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, ms) == 1;
}

static void
report(struct fixture *f, enum rg_report_kind kind, enum rg_state st, bool changed)
{
    struct rg_report r = {.kind = kind, .deploy_id = 7, .state = st, .changed = changed};

    rg_handoff_note(&f->h, &r);
}

static int
start(struct fixture *f, int64_t timeout_ms, bool cancel_on_timeout)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/rg-handoff.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(pipe(f->sig), 0);
    f->h.playbook = "pb.yml";
    f->h.target = "t";
    f->h.state_dir = f->dir; /* no takeover marker there */
    f->h.actor = "test";
    f->h.log_path = "/nonexistent/run.log";
    f->h.timeout_ms = timeout_ms;
    f->h.cancel_on_timeout = cancel_on_timeout;
    f->h.errout = stderr;
    f->cancel_fd = rg_handoff_start(&f->h, f->sig[0]);
    assert_int_not_equal(f->cancel_fd, f->sig[0]); /* the watcher runs */
    return 0;
}

static void
finish(struct fixture *f)
{
    rg_handoff_release(&f->h);
    close(f->sig[0]);
    close(f->sig[1]);
    rmdir(f->dir);
}

static void
send_signal(struct fixture *f, int sig)
{
    unsigned char b = (unsigned char)sig;

    assert_int_equal(write(f->sig[1], &b, 1), 1);
}

/* Before the switch a signal stops the run at once; later signals change nothing. */
static void
test_signal_before_the_switch_stops(void **state)
{
    struct fixture f;

    (void)state;
    start(&f, 0, false);
    report(&f, RG_REPORT_START, RG_ST_PREFLIGHT, false);
    report(&f, RG_REPORT_STATE, RG_ST_PULL, false);
    send_signal(&f, SIGINT);
    assert_true(readable(f.cancel_fd, 2000));
    assert_int_equal(rg_handoff_cancel_kind(&f.h), RG_CANCEL_STOP);
    assert_int_equal(atomic_load(&f.h.worker_pid), 0);
    finish(&f);
}

/* --cancel-on-timeout in a step that acts on the target: the cancel waits for the step's end;
 * in a stage that polls gates it is given at once. */
static void
test_cancel_waits_for_the_step(void **state)
{
    struct fixture f;

    (void)state;
    start(&f, 150, true);
    report(&f, RG_REPORT_START, RG_ST_PREFLIGHT, false);
    report(&f, RG_REPORT_STATE, RG_ST_SWITCH, true);
    report(&f, RG_REPORT_RESULT, RG_ST_SWITCH, true);
    report(&f, RG_REPORT_STATE, RG_ST_EXEC, true);
    assert_false(readable(f.cancel_fd, 600)); /* the deadline passed, the migration runs on */
    assert_true(atomic_load(&f.h.timed_out));
    assert_int_equal(rg_handoff_cancel_kind(&f.h), RG_CANCEL_RECOVER);
    report(&f, RG_REPORT_RESULT, RG_ST_EXEC, true);
    assert_true(readable(f.cancel_fd, 0)); /* before the next stage begins */
    finish(&f);

    start(&f, 150, true);
    report(&f, RG_REPORT_START, RG_ST_PREFLIGHT, false);
    report(&f, RG_REPORT_STATE, RG_ST_SETTLE, true);
    assert_true(readable(f.cancel_fd, 2000));
    assert_int_equal(rg_handoff_cancel_kind(&f.h), RG_CANCEL_RECOVER);
    finish(&f);
}

/* A ladder already climbing is not called off; a timeout before the run began (the lock) is
 * dealt with once it begins. */
static void
test_timeout_in_the_ladder_and_before_the_start(void **state)
{
    struct fixture f;
    struct rg_report rung = {.kind = RG_REPORT_RUNG, .deploy_id = 7, .rung = 1};

    (void)state;
    start(&f, 100, true);
    report(&f, RG_REPORT_START, RG_ST_PREFLIGHT, false);
    rg_handoff_note(&f.h, &rung);
    assert_false(readable(f.cancel_fd, 500));
    assert_true(atomic_load(&f.h.timed_out));
    finish(&f);

    start(&f, 100, true);
    assert_false(readable(f.cancel_fd, 300)); /* waiting for the lock: nothing to cancel */
    report(&f, RG_REPORT_START, RG_ST_PREFLIGHT, false);
    report(&f, RG_REPORT_STATE, RG_ST_VERIFY, true);
    assert_true(readable(f.cancel_fd, 2000));
    finish(&f);
}

/* A deploy that first finished a run a crash left (its outcome reported) still reacts to a
 * signal in its own run: its start clears the end of the one before. */
static void
test_a_second_run_in_one_process(void **state)
{
    struct fixture f;

    (void)state;
    start(&f, 0, false);
    report(&f, RG_REPORT_STATE, RG_ST_SETTLE, true); /* the resumed run */
    report(&f, RG_REPORT_OUTCOME, RG_ST_COUNT, false);
    report(&f, RG_REPORT_START, RG_ST_PREFLIGHT, false);
    report(&f, RG_REPORT_STATE, RG_ST_PULL, false);
    send_signal(&f, SIGTERM);
    assert_true(readable(f.cancel_fd, 2000));
    assert_int_equal(rg_handoff_cancel_kind(&f.h), RG_CANCEL_STOP);
    finish(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_before_the_switch_stops),
        cmocka_unit_test(test_cancel_waits_for_the_step),
        cmocka_unit_test(test_timeout_in_the_ladder_and_before_the_start),
        cmocka_unit_test(test_a_second_run_in_one_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
