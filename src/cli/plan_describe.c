/* One-line descriptions of plan stages and gates, shared by the text and JSON renderings.
 * Every secret-bearing value passes through redaction here. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "rollgate/gates.h"
#include "plan_describe.h"

static bool
has_pull(const struct rg_playbook *pb)
{
    for (size_t i = 0; i < pb->n_deploy; i++)
        if (pb->deploy[i].kind == RG_STEP_PULL)
            return true;
    return false;
}

/* Where a systemd release comes from, for a plan line. */
static void
add_fetch(struct rg_buf *b, const struct rg_playbook *pb, const char *tag)
{
    if (pb->release.git)
        rg_buf_addf(b, "export tag %s of %s into %s/releases/%s unless present (libgit2, "
                       "written whole or not at all)", tag, pb->release.git, pb->runtime.root, tag);
    else if (pb->release.uploads)
        rg_buf_addf(b, "take %s/%s (complete when it holds %s) into %s/releases/%s unless "
                       "present", pb->release.uploads, tag, RG_UPLOAD_MARKER, pb->runtime.root,
                    tag);
    else
        rg_buf_addf(b, "nothing to fetch: the unit's files are the release");
}

static void
add_list(struct rg_buf *b, const struct rg_strv *sv, const char *empty)
{
    if (!sv->n) {
        rg_buf_adds(b, empty);
        return;
    }
    for (size_t i = 0; i < sv->n; i++)
        rg_buf_addf(b, "%s%s", i ? ", " : "", sv->v[i]);
}

char *
rg_gate_target_redacted(const struct rg_gate *g)
{
    switch (g->kind) {
    case RG_GATE_POSTGRES:
        return rg_redact_dsn(g->target);
    case RG_GATE_HTTP:
    case RG_GATE_WEBSOCKET:
        return rg_redact_userinfo(g->target);
    case RG_GATE_COMMAND:
        return rg_strv_join(&g->argv, " ");
    default:
        return rg_strdup(g->target);
    }
}

char *
rg_gate_summary(const struct rg_gate *g)
{
    char *target = rg_gate_target_redacted(g);
    char d[32];
    struct rg_buf b;

    rg_buf_init(&b, 1024);
    switch (g->kind) {
    case RG_GATE_HTTP:
        rg_buf_addf(&b, "http GET %s expects ", target);
        for (size_t i = 0; i < g->n_expect; i++)
            rg_buf_addf(&b, "%s%d", i ? "|" : "", g->expect[i]);
        if (g->n_fail_on) {
            rg_buf_adds(&b, ", fails at once on ");
            for (size_t i = 0; i < g->n_fail_on; i++)
                rg_buf_addf(&b, "%s%d", i ? "|" : "", g->fail_on[i]);
        }
        if (g->body)
            rg_buf_addf(&b, ", body matching /%s/", g->body);
        if (g->max_latency_ms)
            rg_buf_addf(&b, ", within %s",
                        rg_duration_format(d, sizeof(d), g->max_latency_ms));
        if (!g->tls_verify)
            rg_buf_adds(&b, ", TLS NOT verified");
        break;
    case RG_GATE_WEBSOCKET:
        rg_buf_addf(&b, "websocket upgrade of %s answered 101", target);
        break;
    case RG_GATE_TCP:
        rg_buf_addf(&b, "tcp connect to %s", target);
        break;
    case RG_GATE_POSTGRES:
        rg_buf_addf(&b, "postgres '%s' accepts connections", target);
        if (g->query)
            rg_buf_addf(&b, ", query '%s' is true", g->query);
        if (g->max_connections_used >= 0)
            rg_buf_addf(&b, ", connections below %d.%02d%% of max_connections",
                        g->max_connections_used / 100, g->max_connections_used % 100);
        break;
    case RG_GATE_COMMAND:
        rg_buf_addf(&b, "command [%s] exits 0", target);
        break;
    case RG_GATE_CONTAINER:
        rg_buf_addf(&b, "container of service %s is %s, not OOM-killed, restarts <= %d", target,
                    g->state == RG_CONTAINER_HEALTHY ? "healthy" : "running", g->max_restarts);
        break;
    case RG_GATE_LOGS:
        if (g->file)
            rg_buf_addf(&b, "no new line of %s (unit %s) matches /%s/", g->file, target,
                        g->pattern);
        else if (strlen(target) > 8 && strcmp(target + strlen(target) - 8, ".service") == 0)
            rg_buf_addf(&b, "no new journal line of unit %s matches /%s/", target, g->pattern);
        else
            rg_buf_addf(&b, "no new log line of service %s matches /%s/", target, g->pattern);
        break;
    case RG_GATE_UNIT:
        rg_buf_addf(&b, "unit %s is loaded, active (running), restarts since the step began "
                        "<= %d (main pid, invocation id and NRestarts against the mark)",
                    target, g->max_restarts);
        break;
    case RG_GATE_KIND_COUNT:
        break;
    }
    free(target);
    return rg_buf_detach(&b);
}

char *
rg_timing_summary(const struct rg_timing *t)
{
    char e[32], w[32], o[32];

    return rg_asprintf("every %s within %s need %d timeout %s",
                       rg_duration_format(e, sizeof(e), t->every_ms),
                       rg_duration_format(w, sizeof(w), t->within_ms), t->need,
                       rg_duration_format(o, sizeof(o), t->timeout_ms));
}

static const struct rg_strv *
step_services(const struct rg_playbook *pb, const struct rg_step *s)
{
    return s && s->services.n ? &s->services : &pb->runtime.services;
}

/* PROBE: which of the verify's gates judge the candidate alone (the same split the step makes:
 * rg_gate_reaches with the services as names) and which wait for the switch. */
static void
add_probe(struct rg_buf *b, const struct rg_playbook *pb, const struct rg_step *s)
{
    struct rg_strv names = {0}, reach = {0}, after = {0};
    const struct rg_strv *svc = step_services(pb, s);

    char entry[300];

    for (size_t i = 0; i < svc->n; i++) {
        snprintf(entry, sizeof(entry), "%s=0.0.0.0", svc->v[i]);
        rg_strv_push(&names, entry);
    }
    struct rg_gate_env env = {.hosts = &names};
    for (size_t i = 0; i < s->gates.n; i++) {
        const struct rg_gate *g = rg_playbook_gate(pb, s->gates.v[i]);
        rg_strv_push(g && rg_gate_reaches(g, &env) ? &reach : &after, s->gates.v[i]);
    }
    rg_buf_adds(b, "gates ");
    add_list(b, &reach, "(none: name a service as a gate's host, or add a container gate)");
    rg_buf_adds(b, " must pass on the candidate alone (service names as hosts reach it); a "
                   "failure removes it: users never see it");
    if (after.n) {
        rg_buf_adds(b, "; ");
        add_list(b, &after, "");
        rg_buf_adds(b, after.n == 1 ? " does not reach it and judges"
                                    : " do not reach it and judge");
        rg_buf_adds(b, " from VERIFY on");
    }
    rg_strv_release(&names);
    rg_strv_release(&reach);
    rg_strv_release(&after);
}

char *
rg_plan_stage_summary(const struct rg_plan *plan, const struct rg_plan_stage *st,
                      const struct rg_rung *rung)
{
    const struct rg_playbook *pb = plan->pb;
    const struct rg_step *s = st->step;
    const char *tag = plan->tag ? plan->tag : "TAG";
    char d[32], unit[128];
    struct rg_buf b;

    snprintf(unit, sizeof(unit), "unit %s", pb->runtime.unit ? pb->runtime.unit : "?");
    rg_buf_init(&b, 2048);
    switch (st->state) {
    case RG_ST_PREFLIGHT:
        rg_buf_addf(&b, "check the tag against '%s', take the lock of '%s', read the running "
                        "release", pb->release.tag_pattern, pb->name);
        if (pb->strategy == RG_STRATEGY_SWITCH)
            rg_buf_addf(&b, "; check the proxy: %s is rollgate's (not changed by hand) and "
                            "writable, the config passes its test", pb->proxy.upstream_file);
        break;
    case RG_ST_BACKUP: {
        char *db = rg_redact_dsn(pb->backup.database);
        rg_buf_addf(&b, "archive database '%s'%s%s into %s (keep %d)", db,
                    pb->backup.filestore ? " and filestore " : "",
                    pb->backup.filestore ? pb->backup.filestore : "", pb->backup.dir,
                    pb->backup.keep);
        free(db);
        break;
    }
    case RG_ST_PULL:
        if (pb->runtime.driver == RG_DRIVER_SYSTEMD) {
            add_fetch(&b, pb, tag);
            break;
        }
        rg_buf_addf(&b, "pull %s:%s for ", pb->release.image, tag);
        add_list(&b, step_services(pb, s), "");
        break;
    case RG_ST_SWITCH:
        if (pb->runtime.driver == RG_DRIVER_SYSTEMD && pb->runtime.root) {
            const char *to = rung && rung->kind == RG_RUNG_ROLLBACK
                                 ? (strcmp(rung->to, "previous") == 0 ? "the previous known-good "
                                                                        "release"
                                                                      : rung->to)
                             : rung && rung->kind == RG_RUNG_RESTORE
                                 ? "the release the backup belongs to"
                                 : tag;
            if (!rung && !has_pull(pb)) {
                add_fetch(&b, pb, tag);
                rg_buf_adds(&b, "; ");
            }
            rg_buf_addf(&b, "point %s/current at releases/%s (a new link renamed over it)%s",
                        pb->runtime.root, to,
                        s && s->implicit ? " [implicit before the first up]" : "");
            break;
        }
        if (rung && rung->kind == RG_RUNG_ROLLBACK)
            rg_buf_addf(&b, "set %s to %s in %s (image pinned by digest, present before the "
                            "switch)", pb->runtime.tag_var,
                        strcmp(rung->to, "previous") == 0 ? "the previous known-good tag"
                                                          : rung->to,
                        pb->runtime.env_file);
        else if (rung && rung->kind == RG_RUNG_RESTORE)
            rg_buf_addf(&b, "set %s to the tag the backup belongs to in %s",
                        pb->runtime.tag_var, pb->runtime.env_file);
        else
            rg_buf_addf(&b, "set %s=%s in %s (temporary file, fsync, rename)%s",
                        pb->runtime.tag_var, tag, pb->runtime.env_file,
                        s && s->implicit ? " [implicit before the first up]" : "");
        break;
    case RG_ST_CANDIDATE:
        rg_buf_addf(&b, "start %s beside the serving release: ", tag);
        add_list(&b, step_services(pb, s), "");
        rg_buf_adds(&b, " (no traffic reaches it yet)");
        break;
    case RG_ST_PROBE:
        add_probe(&b, pb, s);
        break;
    case RG_ST_PROXY:
        rg_buf_addf(&b, "point upstreams ");
        for (size_t i = 0; i < pb->proxy.n_upstreams; i++)
            rg_buf_addf(&b, "%s%s", i ? ", " : "", pb->proxy.upstreams[i].name);
        rg_buf_addf(&b, " in %s at the candidate, test the config, reload nginx (in-flight "
                        "requests finish); then set %s=%s in %s",
                    pb->proxy.upstream_file, pb->runtime.tag_var, tag, pb->runtime.env_file);
        break;
    case RG_ST_RETIRE:
        rg_buf_addf(&b, "after a drain of %s, remove the release that served before",
                    rg_duration_format(d, sizeof(d), pb->proxy.drain_ms));
        break;
    case RG_ST_UP:
        if (pb->strategy == RG_STRATEGY_SWITCH && !s) {
            rg_buf_adds(&b, "point the proxy at the release's instances (started beside the "
                            "failed ones if none runs), remove the others");
            break;
        }
        if (pb->runtime.driver == RG_DRIVER_SYSTEMD) {
            rg_buf_addf(&b, "restart unit %s", pb->runtime.unit);
            break;
        }
        rg_buf_adds(&b, "bring up ");
        add_list(&b, step_services(pb, s), "");
        break;
    case RG_ST_EXEC: {
        char *cmd = rg_strv_join(&s->argv, " ");
        rg_buf_addf(&b, "run in %s: %s (timeout %s)", s->services.v[0], cmd,
                    rg_duration_format(d, sizeof(d), s->timeout_ms));
        free(cmd);
        break;
    }
    case RG_ST_RESTART:
        rg_buf_adds(&b, "restart ");
        add_list(&b, step_services(pb, s), unit);
        break;
    case RG_ST_VERIFY:
        rg_buf_adds(&b, "gates ");
        add_list(&b, &s->gates, "");
        rg_buf_addf(&b, " must pass; %s exiting fails it at once",
                    pb->runtime.driver == RG_DRIVER_SYSTEMD ? "the unit" : "a container");
        break;
    case RG_ST_SETTLE:
        rg_buf_addf(&b, "%s without a restart or exit of ",
                    rg_duration_format(d, sizeof(d), s->for_ms));
        add_list(&b, &s->watch, unit);
        if (s->gates.n) {
            rg_buf_adds(&b, "; gates ");
            add_list(&b, &s->gates, "");
            rg_buf_adds(&b, " keep passing");
        }
        break;
    case RG_ST_RESTORE:
        rg_buf_addf(&b, "restore the %s backup into a scratch database, verify it, swap it "
                        "in by rename (the live one is kept)",
                    strcmp(rung->to, "latest") == 0 ? "latest" : "pre-deploy");
        break;
    case RG_ST_COMMIT:
        if (rung && rung->kind == RG_RUNG_ROLLBACK)
            rg_buf_addf(&b, "mark %s known-good again",
                        strcmp(rung->to, "previous") == 0 ? "the previous known-good release"
                                                          : rung->to);
        else if (rung && rung->kind == RG_RUNG_RESTORE)
            rg_buf_adds(&b, "mark the backup's release known-good again");
        else
            rg_buf_addf(&b, "mark %s known-good", tag);
        break;
    case RG_ST_RECOVER:
        if (rung && rung->kind == RG_RUNG_ROLLBACK)
            rg_buf_addf(&b, "find %s in the ledger and make sure %s is here, pinned by "
                            "%s, before anything stops",
                        strcmp(rung->to, "previous") == 0 ? "the previous known-good release"
                                                          : rung->to,
                        pb->runtime.driver == RG_DRIVER_SYSTEMD ? "its release directory"
                                                                : "its image",
                        pb->runtime.driver == RG_DRIVER_SYSTEMD ? "commit" : "digest");
        else if (rung && rung->kind == RG_RUNG_RESTORE)
            rg_buf_adds(&b, "find the backup (and its release), verify the whole archive and "
                            "make sure the release is here, before anything stops");
        else
            rg_buf_addf(&b, "keep %s: the repair acts on it where it runs", tag);
        break;
    default:
        rg_buf_adds(&b, rg_state_name(st->state));
        break;
    }
    return rg_buf_detach(&b);
}

char *
rg_rung_summary(const struct rg_rung *r)
{
    switch (r->kind) {
    case RG_RUNG_REPAIR:
        return rg_strdup("repair the release in place");
    case RG_RUNG_ROLLBACK:
        if (strcmp(r->to, "previous") == 0)
            return rg_strdup("roll back to the previous known-good release");
        return rg_asprintf("roll back to release %s", r->to);
    case RG_RUNG_RESTORE:
        if (strcmp(r->to, "before_deploy") == 0)
            return rg_strdup("restore the backup taken before the deploy, with its release");
        return rg_strdup("restore the latest backup, with its release");
    case RG_RUNG_KIND_COUNT:
        break;
    }
    return rg_strdup("?");
}
