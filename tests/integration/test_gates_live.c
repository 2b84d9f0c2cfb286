/* Integration tests of the gates on the real local stack: every gate kind passing and failing
 * for the right reason with its evidence, a crash loop caught within 2 s of its first exit, a
 * release that dies after a while failing its stability window, an OOM kill reported as such,
 * and a slow starter passing once it is healthy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "live.h"

#define PORT 18090

static struct live L;

static int
group_setup(void **state)
{
    (void)state;
    live_open(&L, "gates", PORT);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    live_close(&L);
    return 0;
}

static void
url(char *out, size_t size, const char *path)
{
    snprintf(out, size, "http://127.0.0.1:%d%s", PORT, path);
}

/* Polls one gate until it passes or its deadline; returns the result. */
static struct rg_gate_result
poll_one(const struct rg_gate *g, const struct rg_gate_env *env, bool once)
{
    struct rg_poll_opts o = {.once = once, .cancel_fd = -1};
    struct rg_gate_result r;
    struct rg_err err;

    rg_gates_poll(&r, &g, 1, env, &o, &err);
    return r;
}

static void
assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void
test_http_and_websocket(void **state)
{
    struct rg_gate g;
    struct rg_gate_result r;
    char u[128];

    (void)state;
    live_up(&L, "v1");
    url(u, sizeof(u), "/health");
    live_gate(&g, "health", RG_GATE_HTTP, u);
    r = poll_one(&g, &L.env, false);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_contains(r.last.summary, "200 in ");

    url(u, sizeof(u), "/version");
    live_gate(&g, "version", RG_GATE_HTTP, u);
    g.body = "^v1";
    r = poll_one(&g, &L.env, false);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    g.body = "^v9";
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_contains(r.last.summary, "body does not match /^v9/");
    assert_contains(r.last.evidence, "body: v1");

    url(u, sizeof(u), "/websocket");
    live_gate(&g, "live", RG_GATE_WEBSOCKET, u);
    r = poll_one(&g, &L.env, false);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_contains(r.last.summary, "101 upgrade in");

    live_gate(&g, "live", RG_GATE_WEBSOCKET, "ws://127.0.0.1:1/websocket");
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_contains(r.last.evidence, "GET ws://127.0.0.1:1/websocket: Failed to connect");

    /* A release whose health answers 500: the status and the body are the evidence. */
    live_up(&L, "v2-500");
    url(u, sizeof(u), "/health");
    live_gate(&g, "health", RG_GATE_HTTP, u);
    g.timing.within_ms = 3000;
    r = poll_one(&g, &L.env, false);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_true(r.timed_out);
    assert_true(r.probes > 1);
    assert_contains(r.last.summary, "500 in ");
    assert_contains(r.last.summary, "expected 200");
    assert_contains(r.last.evidence, "answered 500 (expected 200)");
    assert_contains(r.last.evidence, "body: database unavailable");

    /* With fail_on the same answer fails at once, without waiting for the deadline. */
    static int five_hundred[] = {500};
    g.fail_on = five_hundred;
    g.n_fail_on = 1;
    g.timing.within_ms = 20000;
    r = poll_one(&g, &L.env, false);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_false(r.timed_out);
    assert_int_equal(r.probes, 1);
    assert_contains(r.last.summary, "expected 200 (fail_on)");
}

static void
test_image_digest_of_release(void **state)
{
    struct rg_err err;
    char *digest = NULL;

    (void)state;
    live_up(&L, "v1");
    assert_int_equal(rg_docker_image_digest(&digest, L.docker,
                                            "127.0.0.1:5000/rollgate/demo-app:v1",
                                            "127.0.0.1:5000/rollgate/demo-app", &err), 0);
    assert_contains(digest, "127.0.0.1:5000/rollgate/demo-app@sha256:");
    free(digest);
    assert_int_equal(rg_docker_image_digest(&digest, L.docker,
                                            "127.0.0.1:5000/rollgate/demo-app:no-such-tag",
                                            "127.0.0.1:5000/rollgate/demo-app", &err),
                     RG_ENOENT);
    assert_string_equal(err.msg, "image '127.0.0.1:5000/rollgate/demo-app:no-such-tag' is not "
                                 "on this host");
}

static void
test_tcp_postgres_command(void **state)
{
    struct rg_gate g;
    struct rg_gate_result r;
    char addr[64], dsn[128];
    static char *truth[] = {"true", NULL};
    static char *lie[] = {"false", NULL};
    static char *nowhere[] = {"rollgate-no-such-program", NULL};

    (void)state;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", L.pg_port);
    live_gate(&g, "port", RG_GATE_TCP, addr);
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_contains(r.last.summary, "connected in");
    live_gate(&g, "port", RG_GATE_TCP, "127.0.0.1:1");
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_string_equal(r.last.summary, "connect to 127.0.0.1:1: Connection refused");

    snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=postgres user=postgres",
             L.pg_port);
    live_gate(&g, "db", RG_GATE_POSTGRES, dsn);
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_contains(r.last.summary, "accepting connections");
    g.query = "select 1 = 2";
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_string_equal(r.last.summary, "query returned f, not true");
    g.query = "select 1 = 1";
    g.max_connections_used = 1; /* 0.01%: any connection is too many */
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_contains(r.last.summary, "connections in use, limit 0.01%");
    g.max_connections_used = 8000;
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    /* Only client backends count, against the slots clients can get: PostgreSQL's own
     * processes are rows of pg_stat_activity too and must not make a quiet server look full. */
    {
        PGconn *conn = PQconnectdb(dsn);
        PGresult *res = PQexec(conn, "select count(*), current_setting('max_connections')::int - "
                                     "current_setting('superuser_reserved_connections')::int "
                                     "from pg_stat_activity");
        long used = -1, avail = -1, rows, slots;
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        rows = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        slots = strtol(PQgetvalue(res, 0, 1), NULL, 10);
        PQclear(res);
        PQfinish(conn);
        assert_int_equal(sscanf(r.last.summary, "%ld of %ld client connections in use", &used,
                                &avail),
                         2);
        assert_int_equal(avail, slots);
        assert_true(used >= 1);              /* the gate's own connection */
        assert_true(used < rows);            /* background processes are not counted */
    }
    live_gate(&g, "db", RG_GATE_POSTGRES, "host=127.0.0.1 port=1 dbname=x user=x");
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_string_equal(r.last.summary, "no response from the server");

    live_gate(&g, "cmd", RG_GATE_COMMAND, NULL);
    g.argv.v = truth;
    g.argv.n = 1;
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    g.argv.v = lie;
    r = poll_one(&g, &L.env, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_string_equal(r.last.summary, "exited with 1");
    g.argv.v = nowhere;
    r = poll_one(&g, &L.env, false);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_int_equal(r.probes, 1); /* a missing program is not retried */
    assert_contains(r.last.summary, "rollgate-no-such-program");
}

static void
test_container_and_logs(void **state)
{
    struct rg_gate c, lg;
    struct rg_gate_result r;
    struct rg_gate_env whole_life = {.project = L.project, .mark_ms = 0};

    (void)state;
    live_up(&L, "v1");
    live_gate(&c, "running", RG_GATE_CONTAINER, "app");
    r = poll_one(&c, &whole_life, false);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_string_equal(r.last.summary, "1 container running");
    c.state = RG_CONTAINER_HEALTHY;
    r = poll_one(&c, &whole_life, false);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_string_equal(r.last.summary, "1 container healthy");
    live_gate(&lg, "errors", RG_GATE_LOGS, "app");
    lg.pattern = "panic|fatal";
    r = poll_one(&lg, &whole_life, true);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_contains(r.last.summary, "no match in");

    live_up(&L, "v2-crash");
    c.state = RG_CONTAINER_RUNNING;
    r = poll_one(&c, &whole_life, false);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_false(r.timed_out); /* a restart fails the gate for good, at once */
    /* The gate fails at the first restart it sees; a loaded machine may let Docker restart the
     * container once more before the poll, so the count is at least 1, not exactly 1. */
    {
        const char *at = strstr(r.last.summary, " restarted ");
        int n = 0;
        char tail[32] = "";
        if (!at || sscanf(at, " restarted %d time%31[^\n]", &n, tail) != 2 || n < 1 ||
            strcmp(tail, n == 1 ? " (allowed 0)" : "s (allowed 0)") != 0)
            fail_msg("unexpected summary: %s", r.last.summary);
    }
    /* The evidence shows the crash: the exit code while Docker waits to restart it, or, when
     * the snapshot falls just after a restart (Docker then reports exit code 0), the restarts. */
    if (!strstr(r.last.evidence, "exit code 1") && !strstr(r.last.evidence, " restart"))
        fail_msg("evidence shows no crash: %s", r.last.evidence);
    r = poll_one(&lg, &whole_life, true);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    assert_contains(r.last.summary, "log line");
    assert_contains(r.last.summary, " /panic|fatal/");
    assert_contains(r.last.evidence, "fatal: crash mode");
}

/* The crash loop is caught by the die event, not at a gate's deadline. */
static void
test_crash_loop_caught_fast(void **state)
{
    struct rg_container_watch *w = NULL;
    const struct rg_docker_event *ev;
    struct rg_gate g;
    const struct rg_gate *gp = &g;
    struct rg_gate_result r;
    struct rg_poll_opts o = {.stop_on_fail = true, .cancel_fd = -1};
    struct rg_strv svc = {0};
    struct rg_err err;
    char u[128];
    int64_t caught;
    int rc;

    (void)state;
    live_up(&L, "v1");
    rg_strv_push(&svc, "app");
    L.env.mark_ms = live_now_ms();
    assert_int_equal(rg_container_watch_open(&w, &L.env, &svc, "v2-crash", &err), 0);
    live_up(&L, "v2-crash");
    url(u, sizeof(u), "/health");
    live_gate(&g, "health", RG_GATE_HTTP, u);
    g.timing.within_ms = 60000;
    o.watch = rg_container_watch_check;
    o.watch_data = w;
    rc = rg_gates_poll(&r, &gp, 1, &L.env, &o, &err);
    caught = live_now_ms();
    assert_int_equal(rc, RG_EGATE);
    ev = rg_container_watch_event(w);
    assert_non_null(ev);
    assert_int_equal(ev->kind, RG_DOCKER_EV_DIE);
    assert_int_equal(ev->exit_code, 1);
    assert_contains(err.msg, "exited with code 1");
    print_message("crash loop: verdict %lld ms after the first exit\n",
                  (long long)(caught - ev->time_ms));
    assert_true(caught - ev->time_ms < 2000);
    assert_true(r.elapsed_ms < 10000);
    rg_container_watch_close(w);
    rg_strv_release(&svc);
    L.env.mark_ms = 0;
}

static void
settle(struct rg_settle_result *sr, int *rc, const char *tag, int64_t window_ms)
{
    struct rg_strv svc = {0};
    struct rg_gate g;
    const struct rg_gate *gp = &g;
    struct rg_settle_opts so = {.window_ms = window_ms, .every_ms = 250, .cancel_fd = -1};
    struct rg_err err;
    char u[128];

    rg_strv_push(&svc, "app");
    live_up(&L, tag);
    url(u, sizeof(u), "/health");
    live_gate(&g, "health", RG_GATE_HTTP, u);
    /* verify first: the release must be up before its stability is judged */
    struct rg_gate_result vr = poll_one(&g, &L.env, false);
    assert_int_equal(vr.outcome, RG_VERDICT_PASS);
    L.env.mark_ms = live_now_ms();
    *rc = rg_gates_settle(sr, &gp, 1, &svc, &L.env, &so, &err);
    L.env.mark_ms = 0;
    rg_strv_release(&svc);
}

static void
test_die_after_n_fails_settle(void **state)
{
    struct rg_settle_result sr;
    struct rg_buf ev;
    struct rg_err err;
    struct rg_strv svc = {0};
    int rc;

    (void)state;
    int64_t start = live_now_ms();
    settle(&sr, &rc, "v2-die", 10000);
    assert_int_equal(rc, RG_EGATE);
    /* Ended by the death, long before the 10 s window: by Docker's die event, or — when the
     * machine is loaded and dockerd publishes the event late — by the health gate that the
     * dead process no longer answers. Either way the event, when it won, is the die. */
    if (live_now_ms() - start >= 9000)
        fail_msg("settle ran %lld ms: the death did not end it", (long long)(live_now_ms() - start));
    if (sr.fired) {
        assert_int_equal(sr.event.kind, RG_DOCKER_EV_DIE);
        assert_int_equal(sr.event.exit_code, 3);
    } else {
        print_message("settle ended by the health gate before the die event (a loaded machine)\n");
    }
    rg_settle_result_release(&sr);
    rg_strv_push(&svc, "app");
    rg_buf_init(&ev, 64 * 1024);
    assert_int_equal(rg_gates_container_evidence(&ev, &L.env, &svc, 20, &err), 0);
    assert_contains(ev.data, "panic: dying after 3 s");
    assert_contains(ev.data, "service app, image 127.0.0.1:5000/rollgate/demo-app:v2-die");
    rg_buf_release(&ev);
    rg_strv_release(&svc);
}

static void
test_healthy_release_settles(void **state)
{
    struct rg_settle_result sr;
    int rc;

    (void)state;
    settle(&sr, &rc, "v1", 2000);
    assert_int_equal(rc, 0);
    assert_false(sr.fired);
    assert_int_equal(sr.n, 2); /* the health gate and stable:app */
    assert_string_equal(sr.results[1].gate->name, "stable:app");
    assert_int_equal(sr.results[1].outcome, RG_VERDICT_PASS);
    rg_settle_result_release(&sr);
}

static void
test_oom_reported(void **state)
{
    struct rg_settle_result sr;
    struct rg_strv svc = {0};
    struct rg_settle_opts so = {.window_ms = 15000, .every_ms = 250, .cancel_fd = -1};
    struct rg_gate c;
    struct rg_gate_result r;
    struct rg_gate_env whole_life = {.project = L.project, .mark_ms = 0};
    struct rg_err err;
    int rc;

    (void)state;
    rg_strv_push(&svc, "app");
    L.env.mark_ms = live_now_ms();
    live_up(&L, "v2-oom");
    rc = rg_gates_settle(&sr, NULL, 0, &svc, &L.env, &so, &err);
    L.env.mark_ms = 0;
    assert_int_equal(rc, RG_EGATE);
    assert_true(sr.fired);
    assert_int_equal(sr.event.kind, RG_DOCKER_EV_OOM);
    assert_contains(err.msg, "was OOM-killed");
    rg_settle_result_release(&sr);
    rg_strv_release(&svc);
    /* The container's own record says so too: OOMKilled until Docker restarts it (starting it
     * again clears the flag), its restart count after that. Which one a probe sees depends on
     * when it lands in the restart cycle, so either fails the gate (polled: a probe that finds
     * it restarting retries). */
    live_gate(&c, "running", RG_GATE_CONTAINER, "app");
    r = poll_one(&c, &whole_life, false);
    assert_int_equal(r.outcome, RG_VERDICT_FAIL);
    if (!strstr(r.last.summary, "was OOM-killed"))
        assert_contains(r.last.summary, "restarted");
}

static void
test_slow_start_passes(void **state)
{
    struct rg_gate g;
    struct rg_gate_result r;
    char u[128];

    (void)state;
    live_up(&L, "v2-slow");
    url(u, sizeof(u), "/health");
    live_gate(&g, "health", RG_GATE_HTTP, u);
    g.timing.within_ms = 20000;
    r = poll_one(&g, &L.env, false);
    assert_int_equal(r.outcome, RG_VERDICT_PASS);
    assert_true(r.probes > 1); /* it answered 503 first */
    assert_true(r.elapsed_ms >= 1000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_and_websocket),
        cmocka_unit_test(test_image_digest_of_release),
        cmocka_unit_test(test_tcp_postgres_command),
        cmocka_unit_test(test_container_and_logs),
        cmocka_unit_test(test_crash_loop_caught_fast),
        cmocka_unit_test(test_die_after_n_fails_settle),
        cmocka_unit_test(test_healthy_release_settles),
        cmocka_unit_test(test_oom_reported),
        cmocka_unit_test(test_slow_start_passes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
