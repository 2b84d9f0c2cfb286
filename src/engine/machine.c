/* The transition table: for every state and event, whether the deploy goes on, aborts with
 * nothing changed, climbs the recover ladder, or halts for resume. */
#include "rollgate/engine.h"

static const enum rg_move table[RG_ST_COUNT][RG_EV_COUNT] = {
    /*                     OK            FAIL             TIMEOUT          CANCEL */
    [RG_ST_PREFLIGHT] = {RG_MOVE_NEXT, RG_MOVE_ABORT, RG_MOVE_ABORT, RG_MOVE_ABORT},
    [RG_ST_BACKUP] = {RG_MOVE_NEXT, RG_MOVE_ABORT, RG_MOVE_ABORT, RG_MOVE_ABORT},
    [RG_ST_PULL] = {RG_MOVE_NEXT, RG_MOVE_ABORT, RG_MOVE_ABORT, RG_MOVE_ABORT},
    /* From the switch on the target has changed: failures recover, a signal halts at a step
     * boundary so that `rollgate resume` finishes what was started. */
    [RG_ST_SWITCH] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    [RG_ST_UP] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    [RG_ST_EXEC] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    [RG_ST_RESTART] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    [RG_ST_VERIFY] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    [RG_ST_SETTLE] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    [RG_ST_RESTORE] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    /* The switch strategy: until the proxy moves, users see only the release that served, so a
     * failure (or a signal) rejects the candidate, which the engine removes: nothing changed. */
    [RG_ST_CANDIDATE] = {RG_MOVE_NEXT, RG_MOVE_ABORT, RG_MOVE_ABORT, RG_MOVE_ABORT},
    [RG_ST_PROBE] = {RG_MOVE_NEXT, RG_MOVE_ABORT, RG_MOVE_ABORT, RG_MOVE_ABORT},
    [RG_ST_PROXY] = {RG_MOVE_NEXT, RG_MOVE_ABORT, RG_MOVE_ABORT, RG_MOVE_ABORT},
    [RG_ST_RETIRE] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    [RG_ST_COMMIT] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    /* RECOVER prepares a rung (finds the release to return to, makes sure its image is here);
     * when that fails, the next rung is tried. */
    [RG_ST_RECOVER] = {RG_MOVE_NEXT, RG_MOVE_RECOVER, RG_MOVE_RECOVER, RG_MOVE_HALT},
    /* The final states are not acted on: no event comes out of them. */
};

enum rg_move
rg_engine_move(enum rg_state st, enum rg_event ev)
{
    if ((unsigned)st >= RG_ST_COUNT || (unsigned)ev >= RG_EV_COUNT)
        return RG_MOVE_INVALID;
    return table[st][ev];
}

enum rg_move
rg_plan_stage_move(const struct rg_plan_stage *st, enum rg_event ev)
{
    enum rg_move mv = rg_engine_move(st->state, ev);

    if (st->unchanged && (mv == RG_MOVE_RECOVER || mv == RG_MOVE_HALT))
        return RG_MOVE_ABORT;
    return mv;
}

const char *
rg_event_name(enum rg_event ev)
{
    static const char *const names[] = {
        [RG_EV_OK] = "ok",
        [RG_EV_FAIL] = "fail",
        [RG_EV_TIMEOUT] = "timeout",
        [RG_EV_CANCEL] = "cancel",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_EV_COUNT, "event names");
    return (unsigned)ev < RG_EV_COUNT ? names[ev] : "?";
}

enum rg_state
rg_engine_fail_state(enum rg_state st, bool rungs_left)
{
    switch (rg_engine_move(st, RG_EV_FAIL)) {
    case RG_MOVE_ABORT: return RG_ST_ABORTED;
    case RG_MOVE_RECOVER: return rungs_left ? RG_ST_RECOVER : RG_ST_UNRECOVERED;
    default: return RG_ST_UNRECOVERED;
    }
}
