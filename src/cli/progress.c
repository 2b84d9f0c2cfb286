/* What a run looks like while it runs: a live line on a terminal, plain lines in a log, or one
 * JSON event per line for CI. The three never mix. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "progress.h"

static void
json_event(FILE *out, const struct rg_report *r)
{
    static const char *const kinds[] = {"start", "state", "result", "gate", "rung", "outcome",
                                        "note"};
    json_t *o = json_object();

    json_object_set_new(o, "event", json_string(kinds[r->kind]));
    json_object_set_new(o, "deploy", json_integer(r->deploy_id));
    json_object_set_new(o, "elapsed_ms", json_integer(r->elapsed_ms));
    if (r->kind == RG_REPORT_STATE || r->kind == RG_REPORT_RESULT || r->kind == RG_REPORT_GATE)
        json_object_set_new(o, "state", json_string(rg_state_name(r->state)));
    if (r->kind == RG_REPORT_RESULT)
        json_object_set_new(o, "result", json_string(rg_event_name(r->event)));
    if (r->rung) {
        json_object_set_new(o, "rung", json_integer(r->rung));
        json_object_set_new(o, "rung_kind", json_string(r->rung_kind));
    }
    if (r->tag)
        json_object_set_new(o, "tag", json_string(r->tag));
    if (r->kind == RG_REPORT_GATE) {
        json_object_set_new(o, "gate", json_string(r->gate->gate->name));
        json_object_set_new(o, "verdict", json_string(rg_verdict_name(r->gate->last.kind)));
        json_object_set_new(o, "decided", json_boolean(r->gate->outcome != RG_VERDICT_RETRY));
        json_object_set_new(o, "summary", json_string(r->gate->last.summary));
        json_object_set_new(o, "latency_ms", json_integer(r->gate->last.latency_ms));
    }
    if (r->kind == RG_REPORT_OUTCOME)
        json_object_set_new(o, "outcome", json_string(rg_outcome_name(r->outcome)));
    if (r->message)
        json_object_set_new(o, "message", json_string(r->message));
    json_dumpf(o, out, JSON_COMPACT);
    fputc('\n', out);
    fflush(out);
    json_decref(o);
}

static void
indent(FILE *out, const char *text)
{
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, "\n");
        if (l)
            fprintf(out, "           %.*s\n", (int)l, p);
        p += l + (p[l] == '\n');
    }
}

static void
clear_live(struct rg_progress *p)
{
    if (p->live_shown) {
        fputs("\r\033[K", p->out);
        p->live_shown = false;
    }
}

void
rg_progress_report(const struct rg_report *r, void *data)
{
    struct rg_progress *p = data;
    FILE *out = p->out;
    double t = (double)r->elapsed_ms / 1000.0;

    if (p->json) {
        json_event(out, r);
        return;
    }
    switch (r->kind) {
    case RG_REPORT_START:
        fprintf(out, "%s #%lld of '%s': %s\n", r->message, (long long)r->deploy_id, p->target,
                r->tag ? r->tag : "");
        break;
    case RG_REPORT_STATE:
        clear_live(p);
        p->state_started = r->elapsed_ms;
        if (r->rung)
            fprintf(out, "[%6.1fs] %-11s(rung %d, %s)\n", t, rg_state_name(r->state), r->rung,
                    r->rung_kind);
        else
            fprintf(out, "[%6.1fs] %s\n", t, rg_state_name(r->state));
        break;
    case RG_REPORT_RESULT:
        clear_live(p);
        if (r->event != RG_EV_OK) {
            fprintf(out, "[%6.1fs] %-11s%s\n", t, rg_state_name(r->state),
                    r->event == RG_EV_TIMEOUT ? "TIMED OUT" : r->event == RG_EV_CANCEL
                                                                ? "INTERRUPTED"
                                                                : "FAILED");
            if (r->message)
                indent(out, r->message);
        }
        break;
    case RG_REPORT_GATE:
        if (r->gate->outcome != RG_VERDICT_RETRY) {
            clear_live(p);
            fprintf(out, "[%6.1fs]   gate %-12s %s  %s\n", t, r->gate->gate->name,
                    r->gate->outcome == RG_VERDICT_PASS ? "pass" : "FAIL",
                    r->gate->last.summary);
        } else if (p->tty) {
            /* The live line: what is being waited on and how long is left. */
            fprintf(out, "\r\033[K           %s %.1fs/%.0fs  %s: %s", rg_state_name(r->state),
                    (double)(r->elapsed_ms - p->state_started) / 1000.0,
                    (double)r->deadline_ms / 1000.0, r->gate->gate->name,
                    r->gate->last.summary);
            fflush(out);
            p->live_shown = true;
        }
        break;
    case RG_REPORT_RUNG:
        clear_live(p);
        fprintf(out, "[%6.1fs] recover: rung %d, %s\n", t, r->rung, r->message);
        break;
    case RG_REPORT_OUTCOME:
        clear_live(p);
        fprintf(out, "[%6.1fs] outcome: %s\n", t, rg_outcome_name(r->outcome));
        break;
    case RG_REPORT_NOTE:
        clear_live(p);
        if (r->message && strchr(r->message, '\n')) {
            fprintf(out, "[%6.1fs] note:\n", t);
            indent(out, r->message);
        } else {
            fprintf(out, "[%6.1fs] %s\n", t, r->message ? r->message : "");
        }
        break;
    }
    fflush(out);
}

void
rg_progress_init(struct rg_progress *p, FILE *out, bool json, const char *target)
{
    memset(p, 0, sizeof(*p));
    p->out = out;
    p->json = json;
    p->tty = !json && isatty(fileno(out));
    p->target = target;
}
