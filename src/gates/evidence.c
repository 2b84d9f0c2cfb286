/* The evidence of a failed step: what each container of the target looks like now and what it
 * last wrote, so a person reading the failure does not have to run docker by hand. */
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rollgate/runtime.h"

#define LOG_BYTES (16 * 1024)

/* Keeps the last `lines` lines of text. */
static const char *
last_lines(const char *text, size_t len, int lines)
{
    const char *p = text + len;

    if (len && p[-1] == '\n')
        p--;
    while (p > text) {
        if (p[-1] == '\n' && --lines == 0)
            break;
        p--;
    }
    return p;
}

static void
append_logs(struct rg_buf *out, struct rg_buf *logs, struct rg_docker *d, const char *id,
            int lines, struct rg_err *err)
{
    rg_buf_reset(logs);
    if (lines <= 0 || rg_docker_logs(logs, d, id, 0, lines, err) < 0 || !logs->len)
        return;
    rg_buf_addf(out, "  last log lines:\n");
    for (const char *p = last_lines(logs->data, logs->len, lines); *p;) {
        size_t l = strcspn(p, "\n");
        rg_buf_addf(out, "    %.*s\n", (int)l, p);
        p += l + (p[l] == '\n');
    }
}

int
rg_gates_container_evidence(struct rg_buf *out, const struct rg_gate_env *env,
                            const struct rg_strv *services, int lines, struct rg_err *err)
{
    struct rg_docker *d = NULL;
    struct rg_container *list = NULL;
    struct rg_buf logs;
    size_t n = 0;
    int rc;

    rg_buf_init(&logs, LOG_BYTES);
    if ((rc = rg_docker_open(&d, env->docker_socket, err)) < 0 ||
        (rc = rg_docker_list(&list, &n, d, env->project, NULL, err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct rg_container k;
        if (services && services->n && !rg_strv_contains(services, list[i].service ? list[i].service : ""))
            continue;
        if (list[i].restarting) {
            /* Inspect waits for the container's lock, which Docker holds while it restarts
             * the container: hundreds of ms for a crash loop. The list does not wait. */
            rg_buf_addf(out, "container %s (service %s, image %s): restarting (it keeps "
                        "exiting)\n", list[i].name, list[i].service ? list[i].service : "?",
                        list[i].image ? list[i].image : "?");
            append_logs(out, &logs, d, list[i].id, lines, err);
            continue;
        }
        if (rg_docker_inspect(&k, d, list[i].id, err) < 0)
            continue;
        rg_buf_addf(out, "container %s (service %s, image %s): %s, exit code %d, %d restart%s%s",
                    k.name, k.service ? k.service : "?", k.image ? k.image : "?", k.status,
                    k.exit_code, k.restart_count, k.restart_count == 1 ? "" : "s",
                    k.oom_killed ? ", OOM-killed" : "");
        if (k.health)
            rg_buf_addf(out, ", health %s", k.health);
        rg_buf_adds(out, "\n");
        if (k.health_output && k.health_output[0]) {
            size_t l = strlen(k.health_output);
            while (l && (k.health_output[l - 1] == '\n' || k.health_output[l - 1] == ' '))
                l--;
            rg_buf_addf(out, "  last health check: %.*s\n", (int)(l > 300 ? 300 : l),
                        k.health_output);
        }
        append_logs(out, &logs, d, k.id, lines, err);
        rg_container_release(&k);
    }
    rc = 0;
out:
    rg_buf_release(&logs);
    rg_containers_free(list, n);
    rg_docker_close(d);
    return rc;
}

int
rg_gates_unit_evidence(struct rg_buf *out, const struct rg_gate_env *env,
                       const struct rg_strv *services, int lines, struct rg_err *err)
{
    struct rg_buf journal;

    rg_buf_init(&journal, LOG_BYTES);
    for (size_t i = 0; services && i < services->n; i++) {
        struct rg_unit_state st;
        char state[256];
        if (rg_unit_show(&st, env->units, services->v[i], -1, err) < 0) {
            rg_buf_addf(out, "unit %s: %s\n", services->v[i], err->msg);
            continue;
        }
        rg_buf_addf(out, "unit %s: %s\n", services->v[i],
                    rg_unit_describe(state, sizeof(state), &st));
        rg_unit_state_release(&st);
        rg_buf_reset(&journal);
        if (lines <= 0 ||
            rg_unit_journal(&journal, env->units, services->v[i], env->mark_ms, lines, err) < 0 ||
            !journal.len)
            continue;
        rg_buf_addf(out, "  journal%s:\n", env->mark_ms > 0 ? " since the step began" : "");
        for (const char *p = last_lines(journal.data, journal.len, lines); *p;) {
            size_t l = strcspn(p, "\n");
            rg_buf_addf(out, "    %.*s\n", (int)l, p);
            p += l + (p[l] == '\n');
        }
    }
    rg_buf_release(&journal);
    return 0;
}

int
rg_gates_evidence(struct rg_buf *out, const struct rg_gate_env *env,
                  const struct rg_strv *services, int lines, struct rg_err *err)
{
    if (env->project)
        return rg_gates_container_evidence(out, env, services, lines, err);
    if (env->units)
        return rg_gates_unit_evidence(out, env, services, lines, err);
    return 0;
}
