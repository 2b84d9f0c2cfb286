/* The target's containers (through Docker) or its unit (through systemctl): state, restarts,
 * how the last run ended, addresses and ports, and the log lines since the window began. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dx.h"

#define LOG_TAIL 400

static void
from_containers(struct dx *dx, const char *project)
{
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    size_t n = 0;
    struct rg_err err;

    if (rg_docker_open(&d, NULL, &err) < 0 || rg_docker_list(&list, &n, d, project, NULL, &err) < 0) {
        dx_note(dx, "containers of project '%s' not read: %s", project, err.msg);
        goto out;
    }
    dx->inst_seen = true;
    for (size_t i = 0; i < n && dx->n_inst < DX_MAX_INSTANCES && rg_mono_ms() < dx->deadline;
         i++) {
        struct dx_instance *x = &dx->inst[dx->n_inst++];
        struct rg_container k;
        snprintf(x->name, sizeof(x->name), "%s", list[i].name);
        snprintf(x->service, sizeof(x->service), "%s", list[i].service ? list[i].service : "");
        snprintf(x->state, sizeof(x->state), "%s", list[i].status ? list[i].status : "?");
        x->running = list[i].running;
        snprintf(x->ip, sizeof(x->ip), "%s", list[i].ip ? list[i].ip : "");
        for (size_t p = 0; p < list[i].n_ports && x->n_ports < 8; p++)
            x->ports[x->n_ports++] = list[i].ports[p];
        /* Inspect waits for a restarting container's lock: the list says enough then. */
        if (!list[i].restarting && rg_docker_inspect(&k, d, list[i].id, &err) == 0) {
            x->restarts = k.restart_count;
            x->exit_code = k.exit_code;
            x->oom = k.oom_killed;
            x->killed = k.exit_code == 137;
            x->started_ms = k.started_at_ms;
            rg_container_release(&k);
        }
        rg_buf_init(&x->log, DX_LOG_BYTES);
        if (rg_docker_logs(&x->log, d, list[i].id, dx->since_ms, LOG_TAIL, &err) < 0)
            dx_note(dx, "logs of %s not read: %s", x->name, err.msg);
    }
out:
    rg_containers_free(list, n);
    rg_docker_close(d);
}

static void
from_units(struct dx *dx, const struct rg_strv *prefix)
{
    const struct rg_strv *units = &dx->pb->runtime.services;
    struct rg_err err;

    dx->inst_seen = true;
    for (size_t i = 0; i < units->n && dx->n_inst < DX_MAX_INSTANCES; i++) {
        struct dx_instance *x = &dx->inst[dx->n_inst];
        struct rg_unit_state st;
        if (rg_unit_show(&st, prefix, units->v[i], -1, &err) < 0) {
            dx_note(dx, "unit %s not read: %s", units->v[i], err.msg);
            continue;
        }
        dx->n_inst++;
        snprintf(x->name, sizeof(x->name), "%s", units->v[i]);
        snprintf(x->service, sizeof(x->service), "%s", units->v[i]);
        snprintf(x->state, sizeof(x->state), "%s (%s)", st.active, st.sub);
        x->running = strcmp(st.active, "active") == 0 && strcmp(st.sub, "running") == 0;
        x->restarts = (int)st.n_restarts;
        x->exit_code = st.exit_status;
        x->killed = (st.exit_code == 2 || st.exit_code == 3) && st.exit_status == 9;
        rg_unit_state_release(&st);
        rg_buf_init(&x->log, DX_LOG_BYTES);
        if (rg_unit_journal(&x->log, prefix, units->v[i], dx->since_ms, LOG_TAIL, &err) < 0)
            dx_note(dx, "journal of %s not read: %s", x->name, err.msg);
    }
}

void
dx_collect_instances(struct dx *dx)
{
    const char *project = rg_driver_scope(dx->driver);
    const struct rg_strv *units = rg_driver_units(dx->driver);

    if (project)
        from_containers(dx, project);
    else if (units)
        from_units(dx, units);
}
