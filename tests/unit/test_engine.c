/* Unit tests of the engine's plan: stage order, where failures lead, rungs and their checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/engine.h"

static struct rg_playbook *
load_example(const char *file)
{
    struct rg_playbook *pb = NULL;
    struct rg_diags diags;
    struct rg_err err;
    char path[4096];

    snprintf(path, sizeof(path), "%s/playbooks/%s", getenv("RG_SOURCE_DIR"), file);
    rg_diags_init(&diags);
    if (rg_playbook_load(&pb, &diags, path, NULL, &err) != 0)
        fail_msg("%s: %s", file, err.msg);
    rg_diags_release(&diags);
    return pb;
}

static void
test_odoo_plan(void **state)
{
    /* The switch strategy: nothing users see changes before PROXY, so everything before the
     * proxy moves aborts with the candidate removed. */
    static const enum rg_state want[] = {RG_ST_PREFLIGHT, RG_ST_BACKUP, RG_ST_PULL,
                                         RG_ST_CANDIDATE, RG_ST_PROBE,  RG_ST_PROXY,
                                         RG_ST_VERIFY,    RG_ST_SETTLE, RG_ST_RETIRE,
                                         RG_ST_COMMIT};
    static const enum rg_state fail[] = {RG_ST_ABORTED, RG_ST_ABORTED, RG_ST_ABORTED,
                                         RG_ST_ABORTED, RG_ST_ABORTED, RG_ST_ABORTED,
                                         RG_ST_RECOVER, RG_ST_RECOVER, RG_ST_RECOVER,
                                         RG_ST_RECOVER};
    struct rg_playbook *pb = load_example("odoo.yml");
    struct rg_plan *plan = NULL;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_plan_build(&plan, pb, "v1.4.2", &err), 0);
    assert_string_equal(plan->tag, "v1.4.2");
    assert_int_equal(plan->n_stages, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < plan->n_stages; i++) {
        assert_int_equal(plan->stages[i].state, want[i]);
        assert_int_equal(plan->stages[i].on_fail, fail[i]);
    }
    assert_int_equal(plan->n_rungs, 2);
    /* rollback: recover, switch, up, verify, settle, commit */
    assert_int_equal(plan->rungs[0].n_stages, 6);
    assert_int_equal(plan->rungs[0].stages[0].state, RG_ST_RECOVER);
    assert_int_equal(plan->rungs[0].stages[1].state, RG_ST_SWITCH);
    assert_null(plan->rungs[0].stages[1].step);
    assert_int_equal(plan->rungs[0].stages[3].state, RG_ST_VERIFY);
    assert_int_equal(plan->rungs[0].stages[5].state, RG_ST_COMMIT);
    assert_int_equal(plan->rungs[0].stages[1].on_fail, RG_ST_RECOVER);
    /* restore: recover, restore, switch, up, verify, settle, commit; the last rung fails to
     * UNRECOVERED */
    assert_int_equal(plan->rungs[1].n_stages, 7);
    assert_int_equal(plan->rungs[1].stages[1].state, RG_ST_RESTORE);
    assert_int_equal(plan->rungs[1].stages[6].on_fail, RG_ST_UNRECOVERED);
    rg_plan_free(plan);
    rg_playbook_free(pb);
}

static void
test_plan_rejects_bad_tag(void **state)
{
    struct rg_playbook *pb = load_example("odoo.yml");
    struct rg_plan *plan = NULL;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_plan_build(&plan, pb, "latest", &err), RG_EINVAL);
    assert_null(plan);
    assert_string_equal(err.msg, "tag 'latest' does not match the playbook's tag_pattern "
                                 "'^v[0-9]+\\.[0-9]+\\.[0-9]+$'");
    rg_playbook_free(pb);
}

static void
test_plan_systemd_stages(void **state)
{
    struct rg_playbook *pb = load_example("gunicorn-systemd.yml");
    struct rg_plan *plan = NULL;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_plan_build(&plan, pb, NULL, &err), 0);
    assert_null(plan->tag);
    /* systemd: backup, then pull (the export from git) abort; the switch is the first
     * change, so it fails to RECOVER */
    assert_int_equal(plan->stages[1].state, RG_ST_BACKUP);
    assert_int_equal(plan->stages[2].state, RG_ST_PULL);
    assert_int_equal(plan->stages[2].on_fail, RG_ST_ABORTED);
    assert_int_equal(plan->stages[3].state, RG_ST_SWITCH);
    assert_int_equal(plan->stages[3].on_fail, RG_ST_RECOVER);
    rg_plan_free(plan);
    rg_playbook_free(pb);
}

/* Every (state, event) pair: the forward path goes on, a failure before the switch aborts, after
 * it recovers, a signal after it halts for resume; final states accept no event. */
static void
test_transition_table(void **state)
{
    static const enum rg_state before[] = {RG_ST_PREFLIGHT, RG_ST_BACKUP, RG_ST_PULL,
                                           RG_ST_CANDIDATE, RG_ST_PROBE, RG_ST_PROXY};
    static const enum rg_state after[] = {RG_ST_SWITCH, RG_ST_UP,     RG_ST_EXEC,
                                          RG_ST_RESTART, RG_ST_VERIFY, RG_ST_SETTLE,
                                          RG_ST_RESTORE, RG_ST_COMMIT, RG_ST_RECOVER,
                                          RG_ST_RETIRE};
    static const enum rg_state final[] = {RG_ST_DEPLOYED, RG_ST_RECOVERED, RG_ST_UNRECOVERED,
                                          RG_ST_ABORTED};
    int seen = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++, seen++) {
        assert_int_equal(rg_engine_move(before[i], RG_EV_OK), RG_MOVE_NEXT);
        assert_int_equal(rg_engine_move(before[i], RG_EV_FAIL), RG_MOVE_ABORT);
        assert_int_equal(rg_engine_move(before[i], RG_EV_TIMEOUT), RG_MOVE_ABORT);
        assert_int_equal(rg_engine_move(before[i], RG_EV_CANCEL), RG_MOVE_ABORT);
    }
    for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++, seen++) {
        assert_int_equal(rg_engine_move(after[i], RG_EV_OK), RG_MOVE_NEXT);
        assert_int_equal(rg_engine_move(after[i], RG_EV_FAIL), RG_MOVE_RECOVER);
        assert_int_equal(rg_engine_move(after[i], RG_EV_TIMEOUT), RG_MOVE_RECOVER);
        assert_int_equal(rg_engine_move(after[i], RG_EV_CANCEL), RG_MOVE_HALT);
    }
    for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++, seen++)
        for (int ev = 0; ev < RG_EV_COUNT; ev++)
            assert_int_equal(rg_engine_move(final[i], (enum rg_event)ev), RG_MOVE_INVALID);
    assert_int_equal(seen, RG_ST_COUNT); /* every state is covered above */
    assert_int_equal(rg_engine_move(RG_ST_COUNT, RG_EV_OK), RG_MOVE_INVALID);
    assert_int_equal(rg_engine_move(RG_ST_VERIFY, RG_EV_COUNT), RG_MOVE_INVALID);
    assert_string_equal(rg_event_name(RG_EV_TIMEOUT), "timeout");
}

static void
test_state_names(void **state)
{
    (void)state;
    for (int s = 0; s < RG_ST_COUNT; s++)
        assert_string_not_equal(rg_state_name((enum rg_state)s), "?");
    assert_string_equal(rg_state_name(RG_ST_COUNT), "?");
    /* Where a failure leads is read off the transition table. */
    assert_int_equal(rg_engine_fail_state(RG_ST_PULL, true), RG_ST_ABORTED);
    assert_int_equal(rg_engine_fail_state(RG_ST_SWITCH, true), RG_ST_RECOVER);
    assert_int_equal(rg_engine_fail_state(RG_ST_SWITCH, false), RG_ST_UNRECOVERED);
    assert_int_equal(rg_engine_fail_state(RG_ST_DEPLOYED, true), RG_ST_UNRECOVERED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_odoo_plan),
        cmocka_unit_test(test_plan_rejects_bad_tag),
        cmocka_unit_test(test_plan_systemd_stages),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
