/* Shared by the integration tests: a throwaway compose project of the test app on the real
 * local stack (dockerd, registry, PostgreSQL), brought up at a given tag. */
#ifndef ROLLGATE_TESTS_LIVE_H
#define ROLLGATE_TESTS_LIVE_H

#include <stdint.h>

#include "rollgate/gates.h"
#include "rollgate/runtime.h"

struct live {
    char dir[256];          /* the project directory (compose file and .env) */
    char project[64];
    char env_file[300];
    int port;               /* the app's port on 127.0.0.1 */
    struct rg_compose *compose;
    struct rg_docker *docker;
    struct rg_gate_env env;
    int pg_port;
};

/* Creates the project (no container yet). Fails the test, saying why, when the stack is not
 * there: integration tests never skip. */
void live_open(struct live *l, const char *name, int port);
/* Switches the project to tag and brings it up; fails the test if compose fails. */
void live_up(struct live *l, const char *tag);
/* Removes the project's containers and files. */
void live_close(struct live *l);
/* Unix ms now. */
int64_t live_now_ms(void);
/* A gate with the defaults a loaded playbook gives, for tests to adjust. */
void live_gate(struct rg_gate *g, const char *name, enum rg_gate_kind kind, const char *target);

#endif
