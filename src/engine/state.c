/* Names and properties of the engine's states. */
#include <string.h>

#include "rollgate/engine.h"

const char *
rg_state_name(enum rg_state st)
{
    static const char *const names[] = {
        [RG_ST_PREFLIGHT] = "PREFLIGHT",
        [RG_ST_BACKUP] = "BACKUP",
        [RG_ST_PULL] = "PULL",
        [RG_ST_SWITCH] = "SWITCH",
        [RG_ST_UP] = "UP",
        [RG_ST_EXEC] = "EXEC",
        [RG_ST_RESTART] = "RESTART",
        [RG_ST_VERIFY] = "VERIFY",
        [RG_ST_SETTLE] = "SETTLE",
        [RG_ST_RESTORE] = "RESTORE",
        [RG_ST_CANDIDATE] = "CANDIDATE",
        [RG_ST_PROBE] = "PROBE",
        [RG_ST_PROXY] = "PROXY",
        [RG_ST_RETIRE] = "RETIRE",
        [RG_ST_COMMIT] = "COMMIT",
        [RG_ST_RECOVER] = "RECOVER",
        [RG_ST_DEPLOYED] = "DEPLOYED",
        [RG_ST_RECOVERED] = "RECOVERED",
        [RG_ST_UNRECOVERED] = "UNRECOVERED",
        [RG_ST_ABORTED] = "ABORTED",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RG_ST_COUNT, "state names");
    return (unsigned)st < RG_ST_COUNT ? names[st] : "?";
}

enum rg_state
rg_state_from_name(const char *name)
{
    for (int s = 0; s < RG_ST_COUNT; s++)
        if (strcmp(rg_state_name((enum rg_state)s), name) == 0)
            return (enum rg_state)s;
    return RG_ST_COUNT;
}

