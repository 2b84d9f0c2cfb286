/* The one test hook: ROLLGATE_TEST_KILL_AT=POINT kills rollgate at that point, as a crash or an
 * OOM kill would, so the integration tests can prove that resume converges from there. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

void
rg_test_kill_point(const char *point)
{
    const char *at = getenv("ROLLGATE_TEST_KILL_AT");

    if (at && strcmp(at, point) == 0)
        raise(SIGKILL);
}
