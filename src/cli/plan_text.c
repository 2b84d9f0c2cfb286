/* The plan as text a person reads before a deploy. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "plan_describe.h"

static const char *
fail_text(enum rg_state on_fail)
{
    switch (on_fail) {
    case RG_ST_ABORTED: return "ABORTED, nothing changed (exit 3)";
    case RG_ST_RECOVER: return "RECOVER";
    case RG_ST_UNRECOVERED: return "UNRECOVERED (exit 2)";
    default: return rg_state_name(on_fail);
    }
}

static void
print_gates(FILE *out, const struct rg_playbook *pb, const struct rg_strv *names)
{
    for (size_t i = 0; i < names->n; i++) {
        const struct rg_gate *g = rg_playbook_gate(pb, names->v[i]);
        char *what = rg_gate_summary(g), *timing = rg_timing_summary(&g->timing);
        fprintf(out, "                 %-10s %s\n                 %-10s %s\n", g->name, what, "",
                timing);
        free(what);
        free(timing);
    }
}

static void
print_stage(FILE *out, const struct rg_plan *plan, const struct rg_plan_stage *st, size_t num,
            const struct rg_rung *rung, bool detail)
{
    char *what = rg_plan_stage_summary(plan, st, rung);

    if (num)
        fprintf(out, "  %2zu %-11s %s\n", num, rg_state_name(st->state), what);
    else
        fprintf(out, "     %-11s %s\n", rg_state_name(st->state), what);
    free(what);
    if (detail && st->step && (st->state == RG_ST_VERIFY || st->state == RG_ST_SETTLE))
        print_gates(out, plan->pb, &st->step->gates);
    if (!rung)
        fprintf(out, "                 on failure: %s\n", fail_text(st->on_fail));
}

void
rg_plan_print_text(FILE *out, const struct rg_plan *plan)
{
    const struct rg_playbook *pb = plan->pb;
    const struct rg_runtime *rt = &pb->runtime;
    char *services = rg_strv_join(&rt->services, ", ");

    fprintf(out, "plan: deploy '%s' %s%s (%s)\n", pb->name, plan->tag ? "to " : "",
            plan->tag ? plan->tag : "(no --tag given: TAG below)", pb->path);
    if (pb->release.image)
        fprintf(out, "  release  %s:%s, tags matching '%s'\n", pb->release.image,
                plan->tag ? plan->tag : "TAG", pb->release.tag_pattern);
    else if (pb->release.git || pb->release.uploads)
        fprintf(out, "  release  tags matching '%s' from %s %s\n", pb->release.tag_pattern,
                pb->release.git ? "git repository" : "uploads in",
                pb->release.git ? pb->release.git : pb->release.uploads);
    else
        fprintf(out, "  release  tags matching '%s'\n", pb->release.tag_pattern);
    if (rt->driver == RG_DRIVER_COMPOSE)
        fprintf(out, "  runtime  compose project in %s, services %s\n", rt->project_dir,
                services);
    else if (rt->root)
        fprintf(out, "  runtime  systemd unit %s running %s/current%s%s\n", rt->unit, rt->root,
                rt->command_prefix.n ? ", reached through " : "",
                rt->command_prefix.n ? rt->command_prefix.v[0] : "");
    else
        fprintf(out, "  runtime  systemd unit %s\n", rt->unit);
    if (rt->root)
        fprintf(out, "  tag      %s/current -> releases/TAG (keep %d)%s%s%s%s\n", rt->root,
                rt->keep, rt->tag_var ? "; also " : "", rt->tag_var ? rt->tag_var : "",
                rt->tag_var ? " in " : "", rt->tag_var ? rt->env_file : "");
    else
        fprintf(out, "  tag      %s in %s\n", rt->tag_var, rt->env_file);
    if (plan->current)
        fprintf(out, "  from     %s (serving now) -> %s\n", plan->current,
                plan->tag ? plan->tag : "TAG");
    else if (plan->current_note && plan->current_note[0])
        fprintf(out, "  from     nothing readable: %s\n", plan->current_note);
    if (pb->strategy == RG_STRATEGY_SWITCH)
        fprintf(out, "  strategy switch: a candidate beside the serving release, gated, then "
                     "nginx moved to it (%s)\n", pb->proxy.upstream_file);
    else
        fprintf(out, "  strategy replace: %s\n",
                rt->driver == RG_DRIVER_SYSTEMD
                    ? "the unit is restarted on the new release in place"
                    : "the serving containers are replaced in place");
    fprintf(out, "  state    %s (ledger and lock of '%s')\n", pb->state_dir, pb->name);
    free(services);

    fprintf(out, "\ndeploy:\n");
    for (size_t i = 0; i < plan->n_stages; i++)
        print_stage(out, plan, &plan->stages[i], i + 1, NULL, true);
    fprintf(out, "  success: DEPLOYED (exit 0)\n");

    if (!plan->n_rungs) {
        fprintf(out, "\nrecover: no rungs: a failure after the switch ends UNRECOVERED "
                     "(exit 2)\n");
    } else {
        fprintf(out, "\nrecover, in order; each rung is judged by the deploy's verify and "
                     "settle:\n");
        for (size_t r = 0; r < plan->n_rungs; r++) {
            const struct rg_plan_rung *pr = &plan->rungs[r];
            char *what = rg_rung_summary(pr->rung);
            fprintf(out, "  rung %zu  %s: %s\n", r + 1, rg_rung_kind_name(pr->rung->kind), what);
            free(what);
            for (size_t i = 0; i < pr->n_stages; i++)
                print_stage(out, plan, &pr->stages[i], 0, pr->rung, false);
            fprintf(out, "          on failure: %s\n",
                    r + 1 < plan->n_rungs ? "the next rung" : fail_text(RG_ST_UNRECOVERED));
        }
        fprintf(out, "  a rung that passes: RECOVERED (exit 1)\n");
    }

    if (pb->n_notify) {
        fprintf(out, "\nnotify:\n");
        for (size_t i = 0; i < pb->n_notify; i++) {
            const struct rg_notify *n = &pb->notify[i];
            char *url = rg_redact_url(n->webhook);
            fprintf(out, "  webhook %s on", n->webhook[0] ? url : "(off: empty URL)");
            for (int k = 0; k < RG_OUTCOME_COUNT; k++)
                if (n->on & (1u << k))
                    fprintf(out, " %s", rg_outcome_name((enum rg_outcome)k));
            fprintf(out, "\n");
            free(url);
        }
    }
}
