/* Private to runtime: the compose driver's fast way back to the release that served before a
 * deploy (compose_snapshot.c). */
#ifndef ROLLGATE_RUNTIME_COMPOSE_INTERNAL_H
#define ROLLGATE_RUNTIME_COMPOSE_INTERNAL_H

#include <stdbool.h>

#include "rollgate/runtime.h"

/* The containers that served before a deploy changed anything, as the daemon described them.
 * Going back to that release makes them again through the Engine API (remove the new ones,
 * create and start these), which takes a fraction of a compose run; compose still sees them as
 * its own because their labels are unchanged. */
struct compose_snapshot {
    char *tag;              /* the release they ran; NULL: none to take */
    bool taken;             /* the capture ran (it may have found nothing usable) */
    struct rg_strv service; /* service of each container */
    struct rg_strv inspect; /* inspect document of each container */
};

void compose_snapshot_release(struct compose_snapshot *s);
/* Describes the containers of s->tag in project, once, before the first `up` to another
 * release (tag). */
void compose_snapshot_take(struct compose_snapshot *s, const char *project,
                           const struct rg_strv *services, const char *tag);
/* Makes the described containers again when tag is their release: 0 when done, RG_ENOENT when
 * there is nothing to make (compose must), another code when it failed. */
int compose_snapshot_restore(const struct compose_snapshot *s, const char *project,
                             const struct rg_strv *services, const char *tag, struct rg_buf *log,
                             struct rg_err *err);
/* Tells the host the addresses of the services' running containers. */
void compose_announce(const char *project, const struct rg_strv *services);

#endif
