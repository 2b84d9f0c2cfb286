/* The engine reaches its target only through the driver interface: a minimal driver that lives
 * in this file (a tag in memory, a "healthy" file that `up` writes for a good release and
 * removes for a bad one) runs a whole deploy, a failed one rolled back by the ladder, a rollback
 * by hand, a backup refused without a backup section, and a stage failing in the driver. PATH
 * and DOCKER_HOST point nowhere, so any compose or Docker call on the path would fail the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/engine.h"
#include "rollgate/spawn.h"

/* What the test driver saw: every call, in order, as "op:tag". */
struct fake {
    char tag[64]; /* the configured release */
    char calls[4096];
    char healthy[512];   /* the file the command gate looks for */
    const char *fail_op; /* an operation that fails ("pull", "up"), or NULL */
    char present[512];   /* " tag " for each release on the host (pulled or fetched) */
};

static struct fake fk;

static void
note(const char *op, const char *tag)
{
    size_t len = strlen(fk.calls);
    snprintf(fk.calls + len, sizeof(fk.calls) - len, "%s%s:%s", len ? " " : "", op, tag ? tag : "");
}

static int
maybe_fail(const char *op, struct rg_err *err)
{
    if (fk.fail_op && strcmp(fk.fail_op, op) == 0)
        return rg_err_set(err, RG_ERUNTIME, "test driver: %s refused", op);
    return 0;
}

static int
fake_open(void **ctx_out, const struct rg_playbook *pb, struct rg_err *err)
{
    (void)pb;
    (void)err;
    *ctx_out = &fk;
    return 0;
}

static void
fake_close(void *ctx)
{
    (void)ctx;
}

static int
fake_configured(char **tag_out, void *ctx, struct rg_err *err)
{
    (void)ctx;
    if (!fk.tag[0])
        return rg_err_set(err, RG_ENOENT, "no tag");
    *tag_out = rg_strdup(fk.tag);
    return 0;
}

static void
make_present(const char *tag)
{
    size_t len = strlen(fk.present);
    snprintf(fk.present + len, sizeof(fk.present) - len, " %s ", tag);
}

static int
fake_digest(char **digest_out, void *ctx, const char *tag, struct rg_err *err)
{
    char key[80];

    (void)ctx;
    snprintf(key, sizeof(key), " %s ", tag);
    if (!strstr(fk.present, key))
        return rg_err_set(err, RG_ENOENT, "no image of %s", tag);
    *digest_out = rg_asprintf("test@sha256:%s", tag);
    return 0;
}

static int
fake_pull(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
          struct rg_buf *log, struct rg_err *err)
{
    (void)ctx, (void)services, (void)cancel_fd, (void)log;
    note("pull", tag);
    if (maybe_fail("pull", err) < 0)
        return RG_ERUNTIME;
    make_present(tag);
    return 0;
}

static int
fake_fetch(void *ctx, const char *tag, int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    (void)ctx, (void)cancel_fd, (void)log;
    note("fetch", tag);
    if (maybe_fail("fetch", err) < 0)
        return RG_ERUNTIME;
    make_present(tag);
    return 0;
}

static int
fake_switch(void *ctx, const char *tag, struct rg_buf *log, struct rg_err *err)
{
    (void)ctx, (void)log, (void)err;
    note("switch", tag);
    snprintf(fk.tag, sizeof(fk.tag), "%s", tag);
    return 0;
}

static void
fake_remember(void *ctx, const char *serving_tag, const struct rg_strv *services)
{
    (void)ctx, (void)services;
    note("remember", serving_tag);
}

static int
fake_up(void *ctx, const struct rg_strv *services, const char *tag, int cancel_fd,
        struct rg_buf *log, struct rg_err *err)
{
    FILE *f;

    (void)ctx, (void)services, (void)cancel_fd, (void)log;
    note("up", tag);
    if (maybe_fail("up", err) < 0)
        return RG_ERUNTIME;
    if (strstr(tag, "bad")) {
        unlink(fk.healthy);
        return 0;
    }
    if (!(f = fopen(fk.healthy, "w")))
        return rg_err_sys(err, RG_EIO, "cannot write '%s'", fk.healthy);
    fclose(f);
    return 0;
}

static const struct rg_driver_ops fake_ops = {
    .name = "test",
    .caps = RG_DRIVER_CAN_PULL,
    .open = fake_open,
    .close = fake_close,
    .configured = fake_configured,
    .digest = fake_digest,
    .fetch = fake_fetch,
    .pull = fake_pull,
    .switch_to = fake_switch,
    .remember = fake_remember,
    .up = fake_up,
};

struct fixture {
    char dir[256];
    struct rg_playbook *pb;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rg_diags diags;
    struct rg_err err;
    char *yaml;

    snprintf(f->dir, sizeof(f->dir), "/tmp/rg-engine-driver.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    memset(&fk, 0, sizeof(fk));
    snprintf(fk.healthy, sizeof(fk.healthy), "%s/healthy", f->dir);
    /* The playbook names compose (the schema's driver), but the engine is handed the test
     * driver: nothing of compose may run. */
    yaml =
        rg_asprintf("version: 1\n"
                    "name: fake\n"
                    "state_dir: %s/state\n"
                    "runtime: {driver: compose, project_dir: %s, services: [app], tag_var: TAG}\n"
                    "release: {image: example.invalid/app, tag_pattern: '^v[0-9]+(-bad)?$'}\n"
                    "defaults: {every: 50ms, within: 1s, timeout: 1s}\n"
                    "gates:\n"
                    "  healthy: {command: [/usr/bin/test, -e, %s]}\n"
                    "deploy:\n"
                    "  - pull\n"
                    "  - up\n"
                    "  - verify: [healthy]\n"
                    "  - settle: {for: 200ms, gates: [healthy]}\n"
                    "recover:\n"
                    "  - rollback: previous\n",
                    f->dir, f->dir, fk.healthy);
    rg_diags_init(&diags);
    if (rg_playbook_load_buffer(&f->pb, &diags, "fake.yml", yaml, strlen(yaml), NULL, &err) < 0)
        fail_msg("%s: %s", err.msg, diags.n ? diags.v[0].msg : "");
    rg_diags_release(&diags);
    free(yaml);
    setenv("PATH", "/nonexistent", 1);
    setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock", 1);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    struct rg_spawn_result res;
    struct rg_err err;
    const char *argv[] = {"/bin/rm", "-rf", f->dir, NULL};
    struct rg_spawn_opts o = {.argv = argv, .timeout_ms = 10000, .cancel_fd = -1};

    rg_playbook_free(f->pb);
    rg_spawn_run(&res, &o, &err);
    rg_spawn_result_release(&res);
    free(f);
    return 0;
}

static void
run(struct rg_run_result *res, struct fixture *f, enum rg_run_kind kind, const char *tag)
{
    struct rg_run_opts o = {.kind = kind,
                            .tag = tag,
                            .driver = &fake_ops,
                            .cancel_fd = -1,
                            .actor = "test",
                            .trigger = "cli"};
    struct rg_err err;

    fk.calls[0] = '\0';
    if (rg_engine_run(res, f->pb, &o, &err) < 0)
        fail_msg("run: %s", err.msg);
    if (getenv("RG_TEST_DEBUG"))
        fprintf(stderr, "outcome %s: %s [%s]\n", rg_outcome_name(res->outcome), res->error,
                fk.calls);
}

static void
test_deploy_fail_rollback(void **state)
{
    struct fixture *f = *state;
    struct rg_run_result res;

    run(&res, f, RG_RUN_DEPLOY, "v1");
    assert_int_equal(res.outcome, RG_OUTCOME_DEPLOYED);
    assert_string_equal(fk.calls, "remember: pull:v1 switch:v1 up:v1");
    assert_string_equal(res.live_tag, "v1");

    run(&res, f, RG_RUN_DEPLOY, "v2");
    assert_int_equal(res.outcome, RG_OUTCOME_DEPLOYED);

    /* A release whose gate fails: the ladder's rollback returns to the previous known-good
     * release, which is still on the host: no fetch. */
    run(&res, f, RG_RUN_DEPLOY, "v3-bad");
    assert_int_equal(res.outcome, RG_OUTCOME_ROLLED_BACK);
    assert_string_equal(fk.calls,
                        "remember:v2 pull:v3-bad switch:v3-bad up:v3-bad switch:v2 up:v2");
    assert_string_equal(res.live_tag, "v2");
    assert_int_equal(res.error_code, RG_EGATE);

    /* By hand: back to the release before, through the same gates; its image was pruned in
     * the meantime, so it is made present before anything is switched. */
    fk.present[0] = '\0';
    make_present("v2");
    run(&res, f, RG_RUN_ROLLBACK, NULL);
    assert_int_equal(res.outcome, RG_OUTCOME_ROLLED_BACK);
    assert_string_equal(fk.calls, "remember:v2 fetch:v1 switch:v1 up:v1");
    assert_string_equal(res.live_tag, "v1");
}

static void
test_driver_failure_is_a_stage_failure(void **state)
{
    struct fixture *f = *state;
    struct rg_run_result res;

    run(&res, f, RG_RUN_DEPLOY, "v1");
    assert_int_equal(res.outcome, RG_OUTCOME_DEPLOYED);
    /* A pull the driver refuses: nothing changed. */
    fk.fail_op = "pull";
    run(&res, f, RG_RUN_DEPLOY, "v2");
    assert_int_equal(res.outcome, RG_OUTCOME_ABORTED);
    assert_string_equal(res.cause, "test driver: pull refused");
    assert_string_equal(fk.tag, "v1");
    /* An up it refuses after the switch: the ladder runs, and its own up fails too. */
    fk.fail_op = "up";
    run(&res, f, RG_RUN_DEPLOY, "v2");
    assert_int_equal(res.outcome, RG_OUTCOME_UNRECOVERED);
    assert_string_equal(fk.calls, "remember:v1 pull:v2 switch:v2 up:v2 switch:v1 up:v1");
}

/* A verify before the first up runs before anything changed: its failure aborts (exit 3), the
 * ladder does not run, and the plan says so from the same transition. */
static void
test_verify_before_up_aborts(void **state)
{
    struct fixture *f = *state;
    struct rg_run_result res;
    struct rg_diags diags;
    struct rg_plan *plan = NULL;
    struct rg_err err;
    char *yaml;

    run(&res, f, RG_RUN_DEPLOY, "v1");
    assert_int_equal(res.outcome, RG_OUTCOME_DEPLOYED);
    yaml = rg_asprintf("version: 1\n"
                       "name: fake\n"
                       "state_dir: %s/state\n"
                       "runtime: {driver: compose, project_dir: %s, services: [app], tag_var: TAG}\n"
                       "release: {image: example.invalid/app, tag_pattern: '^v[0-9]+$'}\n"
                       "defaults: {every: 50ms, within: 300ms, timeout: 1s}\n"
                       "gates:\n"
                       "  precheck: {command: [/usr/bin/test, -e, %s/absent]}\n"
                       "  healthy: {command: [/usr/bin/test, -e, %s]}\n"
                       "deploy: [pull, {verify: [precheck]}, up, {verify: [healthy]}]\n"
                       "recover: [{rollback: previous}]\n",
                       f->dir, f->dir, f->dir, fk.healthy);
    rg_playbook_free(f->pb);
    rg_diags_init(&diags);
    if (rg_playbook_load_buffer(&f->pb, &diags, "fake.yml", yaml, strlen(yaml), NULL, &err) < 0)
        fail_msg("%s: %s", err.msg, diags.n ? diags.v[0].msg : "");
    rg_diags_release(&diags);
    free(yaml);

    assert_int_equal(rg_plan_build(&plan, f->pb, "v2", &err), 0);
    assert_int_equal(plan->stages[2].state, RG_ST_VERIFY);
    assert_true(plan->stages[2].unchanged);
    assert_int_equal(plan->stages[2].on_fail, RG_ST_ABORTED);
    assert_int_equal(plan->stages[5].state, RG_ST_VERIFY);
    assert_int_equal(plan->stages[5].on_fail, RG_ST_RECOVER);
    rg_plan_free(plan);

    run(&res, f, RG_RUN_DEPLOY, "v2");
    assert_int_equal(res.outcome, RG_OUTCOME_ABORTED);
    assert_string_equal(fk.calls, "remember:v1 pull:v2");
    assert_string_equal(fk.tag, "v1");
}

/* A cancel the caller asks for in a given state: the report of that state writes the byte,
 * cancel_kind answers what it means. */
struct canceller {
    int fds[2];
    enum rg_state at;
    enum rg_cancel_kind kind;
    bool fired;
    int changed[RG_ST_COUNT]; /* 1 + the report's changed, per state entered */
};

static void
cancel_report(const struct rg_report *r, void *data)
{
    struct canceller *c = data;

    if (r->kind != RG_REPORT_STATE || r->rung)
        return;
    c->changed[r->state] = 1 + r->changed;
    if (r->state == c->at && !c->fired) {
        c->fired = write(c->fds[1], "x", 1) == 1;
    }
}

static enum rg_cancel_kind
cancel_kind(void *data)
{
    return ((struct canceller *)data)->kind;
}

static void
run_cancelled(struct rg_run_result *res, struct fixture *f, const char *tag, struct canceller *c)
{
    struct rg_run_opts o = {.kind = RG_RUN_DEPLOY,
                            .tag = tag,
                            .driver = &fake_ops,
                            .actor = "test",
                            .trigger = "ci",
                            .cancel_kind = cancel_kind,
                            .cancel_data = c,
                            .report = cancel_report,
                            .report_data = c};
    struct rg_err err;

    assert_int_equal(pipe(c->fds), 0);
    o.cancel_fd = c->fds[0];
    fk.calls[0] = '\0';
    if (rg_engine_run(res, f->pb, &o, &err) < 0)
        fail_msg("run: %s", err.msg);
    close(c->fds[0]);
    close(c->fds[1]);
}

/* What each kind of cancel does: stop aborts before the switch; suspend leaves the step in
 * flight wherever it is, for a resume that finishes the deploy; recover climbs the ladder after
 * the switch, and the ladder is not cut short although the cancel stays readable. */
static void
test_cancel_kinds(void **state)
{
    struct fixture *f = *state;
    struct rg_run_result res;
    struct canceller c;

    run(&res, f, RG_RUN_DEPLOY, "v1");
    assert_int_equal(res.outcome, RG_OUTCOME_DEPLOYED);

    memset(&c, 0, sizeof(c));
    c.at = RG_ST_PULL;
    c.kind = RG_CANCEL_STOP;
    run_cancelled(&res, f, "v2", &c);
    assert_int_equal(res.outcome, RG_OUTCOME_ABORTED);
    assert_false(res.halted);
    assert_string_equal(fk.tag, "v1");
    assert_int_equal(c.changed[RG_ST_PULL], 1); /* not changed yet */

    /* Suspended in SETTLE: in flight, nothing recorded of SETTLE's end; resume finishes it. */
    memset(&c, 0, sizeof(c));
    c.at = RG_ST_SETTLE;
    c.kind = RG_CANCEL_SUSPEND;
    run_cancelled(&res, f, "v2", &c);
    assert_true(res.halted);
    assert_true(res.suspended);
    assert_int_equal(c.changed[RG_ST_PULL], 1);
    assert_int_equal(c.changed[RG_ST_SWITCH], 2);
    assert_int_equal(c.changed[RG_ST_SETTLE], 2);
    assert_string_equal(fk.tag, "v2");
    run(&res, f, RG_RUN_RESUME, NULL);
    assert_int_equal(res.outcome, RG_OUTCOME_DEPLOYED);
    assert_string_equal(res.live_tag, "v2");

    /* Suspended before the switch: still resumable, and resume goes on from the pull. */
    memset(&c, 0, sizeof(c));
    c.at = RG_ST_PULL;
    c.kind = RG_CANCEL_SUSPEND;
    run_cancelled(&res, f, "v3", &c);
    assert_true(res.halted);
    assert_true(res.suspended);
    assert_string_equal(fk.tag, "v2");
    run(&res, f, RG_RUN_RESUME, NULL);
    assert_int_equal(res.outcome, RG_OUTCOME_DEPLOYED);
    assert_string_equal(res.live_tag, "v3");

    /* Called off in SETTLE: the rollback rung brings v3 back, through its own settle. */
    memset(&c, 0, sizeof(c));
    c.at = RG_ST_SETTLE;
    c.kind = RG_CANCEL_RECOVER;
    run_cancelled(&res, f, "v4", &c);
    assert_false(res.halted);
    assert_int_equal(res.outcome, RG_OUTCOME_ROLLED_BACK);
    assert_string_equal(res.live_tag, "v3");
    assert_string_equal(fk.calls, "remember:v3 pull:v4 switch:v4 up:v4 switch:v3 up:v3");

    /* Called off before the switch: aborted, as a stop. */
    memset(&c, 0, sizeof(c));
    c.at = RG_ST_PULL;
    c.kind = RG_CANCEL_RECOVER;
    run_cancelled(&res, f, "v4", &c);
    assert_int_equal(res.outcome, RG_OUTCOME_ABORTED);
    assert_string_equal(fk.tag, "v3");
}

static void
test_backup_needs_a_backup_section(void **state)
{
    struct fixture *f = *state;
    struct rg_run_opts o = {.kind = RG_RUN_BACKUP, .driver = &fake_ops, .cancel_fd = -1};
    struct rg_run_result res;
    struct rg_err err;

    assert_int_equal(rg_engine_run(&res, f->pb, &o, &err), RG_EINVAL);
    assert_string_equal(err.msg, "playbook 'fake.yml' has no 'backup' section (database and dir)");
}

/* Both drivers are registered, each with what it can do; a driver kind past the table has
 * none, and opening a target through it is refused before anything is created. */
static void
test_driver_registry(void **state)
{
    (void)state;
    assert_true(rg_driver_caps(RG_DRIVER_COMPOSE) & RG_DRIVER_IMPLEMENTED);
    assert_true(rg_driver_caps(RG_DRIVER_COMPOSE) & RG_DRIVER_CANDIDATES);
    assert_false(rg_driver_caps(RG_DRIVER_COMPOSE) & RG_DRIVER_UNITS);
    assert_true(rg_driver_caps(RG_DRIVER_SYSTEMD) & RG_DRIVER_IMPLEMENTED);
    assert_true(rg_driver_caps(RG_DRIVER_SYSTEMD) & RG_DRIVER_UNITS);
    assert_true(rg_driver_caps(RG_DRIVER_SYSTEMD) & RG_DRIVER_CAN_EXEC);
    assert_false(rg_driver_caps(RG_DRIVER_SYSTEMD) & RG_DRIVER_CONTAINERS);
    assert_false(rg_driver_caps(RG_DRIVER_SYSTEMD) & RG_DRIVER_CANDIDATES);
    assert_int_equal(rg_driver_caps(RG_DRIVER_COUNT), 0);
    assert_null(rg_driver_lookup(RG_DRIVER_COUNT));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deploy_fail_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_failure_is_a_stage_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_before_up_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_needs_a_backup_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_registry, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
