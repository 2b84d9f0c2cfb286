/* `rollgate status` and `rollgate history`: what runs now, what ran before, who holds the lock. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "rollgate/ledger.h"
#include "rollgate/driver.h"
#include "rollgate/steps.h"

enum { ST_JSON };
enum { HI_COUNT, HI_JSON };

static const struct rg_opt status_opts[] = {
    [ST_JSON] = {"json", 0, NULL, "print one JSON document"},
    {0},
};

static const struct rg_opt history_opts[] = {
    [HI_COUNT] = {"count", 'n', "N", "how many deploys, newest first (default 20)"},
    [HI_JSON] = {"json", 0, NULL, "print one JSON document"},
    {0},
};

static bool
in_quarantine(const struct rg_quarantine_row *q, size_t nq, const char *tag)
{
    for (size_t i = 0; i < nq; i++)
        if (strcmp(q[i].tag, tag) == 0)
            return true;
    return false;
}

static json_t *
quarantine_json(const struct rg_quarantine_row *q, size_t nq)
{
    json_t *a = json_array();

    for (size_t i = 0; i < nq; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "tag", json_string(q[i].tag));
        json_object_set_new(o, "digest", json_string(q[i].digest));
        json_object_set_new(o, "deploy", json_integer(q[i].deploy_id));
        json_object_set_new(o, "reason", json_string(q[i].reason));
        json_object_set_new(o, "since_ms", json_integer(q[i].at_ms));
        json_array_append_new(a, o);
    }
    return a;
}

static void
print_quarantine(FILE *out, const struct rg_quarantine_row *q, size_t nq)
{
    for (size_t i = 0; i < nq; i++) {
        char when[32];
        rg_cli_format_time(when, sizeof(when), q[i].at_ms);
        fprintf(out, "%-8s %s since %s UTC: %s\n", i ? "" : "refused", q[i].tag, when,
                q[i].reason);
    }
}

static json_t *
deploy_json(const struct rg_deploy_row *d)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "kind", json_string(d->kind));
    json_object_set_new(o, "tag", json_string(d->tag));
    json_object_set_new(o, "digest", json_string(d->digest));
    json_object_set_new(o, "previous", json_string(d->prev_tag));
    json_object_set_new(o, "trigger", json_string(d->trigger));
    json_object_set_new(o, "actor", json_string(d->actor));
    json_object_set_new(o, "started_ms", json_integer(d->started_ms));
    json_object_set_new(o, "ended_ms", json_integer(d->ended_ms));
    json_object_set_new(o, "outcome", d->outcome[0] ? json_string(d->outcome) : json_null());
    json_object_set_new(o, "state", json_string(d->state));
    json_object_set_new(o, "error", json_string(d->error));
    json_object_set_new(o, "note", json_string(d->note));
    json_object_set_new(o, "commit", d->commit[0] ? json_string(d->commit) : json_null());
    json_object_set_new(o, "log", d->log[0] ? json_string(d->log) : json_null());
    return o;
}

static int
open_ledger(struct rg_ledger **l, struct rg_cmd_ctx *ctx, const struct rg_playbook *pb)
{
    struct rg_err err;

    /* A reading command creates nothing: no ledger yet is an empty history (*l stays NULL). */
    int rc = rg_ledger_open_existing(l, pb->state_dir, pb->name, &err);
    if (rc < 0 && rc != RG_ENOENT) {
        fprintf(ctx->errout, "rollgate: %s: %s\n", ctx->cmd->name, err.msg);
        return rg_cli_exit_for(rc);
    }
    return 0;
}

static int
cmd_status(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    struct rg_ledger *l = NULL;
    struct rg_deploy_row last;
    struct rg_release_row good;
    struct rg_lock_holder holder;
    struct rg_err err;
    struct rg_driver *drv = NULL;
    struct rg_live lv;
    struct rg_quarantine_row *q = NULL;
    size_t nq = 0;
    char *live = NULL, *digest = NULL, when[32];
    bool have_last, have_good, locked;
    int rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0 ||
        (rc = open_ledger(&l, ctx, pb)) != 0)
        goto out;
    if (rg_driver_open(&drv, pb, NULL, &err) < 0) {
        fprintf(ctx->errout, "rollgate: status: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    rg_live_release(&lv, drv, l, RG_LIVE_DIGEST);
    if (lv.tag[0])
        live = rg_strdup(lv.tag);
    if (lv.digest[0])
        digest = rg_strdup(lv.digest);
    have_last = l && rg_ledger_last(&last, l, &err) == 0;
    if (l && rg_ledger_quarantine_list(&q, &nq, l, &err) < 0)
        fprintf(ctx->errout, "rollgate: status: %s\n", err.msg);
    have_good = l && live && rg_ledger_release(&good, l, live, &err) == 0;
    int peek = rg_lock_peek(&holder, pb->state_dir, pb->name, &err);
    locked = peek == 1;
    if (ctx->optcount[ST_JSON]) {
        json_t *o = json_object();
        json_object_set_new(o, "target", json_string(pb->name));
        json_object_set_new(o, "release", live ? json_string(live) : json_null());
        json_object_set_new(o, "digest", digest ? json_string(digest) : json_null());
        json_object_set_new(o, "known_good", json_boolean(have_good));
        json_object_set_new(o, "last", have_last ? deploy_json(&last) : json_null());
        if (locked) {
            json_t *h = json_object();
            json_object_set_new(h, "pid", json_integer(holder.pid));
            json_object_set_new(h, "deploy", json_integer(holder.deploy_id));
            json_object_set_new(h, "actor", json_string(holder.actor));
            json_object_set_new(h, "trigger", json_string(holder.trigger));
            json_object_set_new(h, "state", json_string(holder.state));
            json_object_set_new(h, "since_ms", json_integer(holder.since_ms));
            json_object_set_new(o, "lock", h);
        } else {
            json_object_set_new(o, "lock", json_null());
        }
        json_object_set_new(o, "quarantine", quarantine_json(q, nq));
        json_dumpf(o, ctx->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', ctx->out);
        json_decref(o);
        goto out;
    }
    fprintf(ctx->out, "target   %s\n", pb->name);
    if (!live && lv.note[0])
        fprintf(ctx->errout, "rollgate: status: %s\n", lv.note);
    if (live)
        fprintf(ctx->out, "release  %s%s\n", live,
                have_good ? " (known-good)" : " (never passed its gates here)");
    else
        fprintf(ctx->out, "release  (none: %s)\n",
                lv.absent[0] ? lv.absent : "no valid tag is configured");
    fprintf(ctx->out, "digest   %s\n", digest ? digest : "-");
    if (have_last) {
        rg_cli_format_time(when, sizeof(when), last.started_ms);
        fprintf(ctx->out, "last     %s #%lld of %s at %s UTC by %s: %s%s%s\n", last.kind,
                (long long)last.id, last.tag, when, last.actor,
                last.outcome[0] ? last.outcome : "IN FLIGHT in ", last.outcome[0] ? "" : last.state,
                "");
        if (last.error[0])
            fprintf(ctx->out, "         %s\n", last.error);
    } else {
        fprintf(ctx->out, "last     never deployed by rollgate\n");
    }
    if (locked) {
        rg_cli_format_time(when, sizeof(when), holder.since_ms);
        fprintf(ctx->out, "lock     held by pid %d (%s, %s) since %s UTC, deploy #%lld in %s\n",
                holder.pid, holder.actor, holder.trigger[0] ? holder.trigger : "cli", when,
                (long long)holder.deploy_id, holder.state[0] ? holder.state : "PREFLIGHT");
    } else if (peek < 0) {
        fprintf(ctx->out, "lock     unknown: %s\n", err.msg);
    } else {
        fprintf(ctx->out, "lock     free\n");
    }
    print_quarantine(ctx->out, q, nq);
out:
    free(q);
    free(live);
    free(digest);
    rg_driver_close(drv);
    rg_ledger_close(l);
    rg_playbook_free(pb);
    return rc;
}

static int
cmd_history(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    struct rg_ledger *l = NULL;
    struct rg_deploy_row *rows = NULL;
    struct rg_quarantine_row *q = NULL;
    struct rg_err err;
    long long count = 20;
    size_t n = 0, nq = 0;
    int rc;

    if (ctx->optval[HI_COUNT] && rg_int_parse(&count, ctx->optval[HI_COUNT], 1, 10000, &err) < 0)
        return rg_cli_usage_error(ctx->cmd, "-n: %s", err.msg);
    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0 ||
        (rc = open_ledger(&l, ctx, pb)) != 0)
        goto out;
    rows = rg_calloc((size_t)count, sizeof(*rows));
    if (l && rg_ledger_history(rows, (size_t)count, &n, l, &err) < 0) {
        fprintf(ctx->errout, "rollgate: history: %s\n", err.msg);
        rc = RG_EXIT_INTERNAL;
        goto out;
    }
    if (l && rg_ledger_quarantine_list(&q, &nq, l, &err) < 0)
        fprintf(ctx->errout, "rollgate: history: %s\n", err.msg);
    if (ctx->optcount[HI_JSON]) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *d = deploy_json(&rows[i]);
            json_object_set_new(d, "quarantined",
                                json_boolean(in_quarantine(q, nq, rows[i].tag)));
            json_array_append_new(a, d);
        }
        json_dumpf(a, ctx->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', ctx->out);
        json_decref(a);
        goto out;
    }
    fprintf(ctx->out, "%-5s %-19s %-8s %-16s %-16s %-12s %s\n", "ID", "STARTED (UTC)", "KIND",
            "TAG", "FROM", "OUTCOME", "BY");
    for (size_t i = 0; i < n; i++) {
        char when[32];
        rg_cli_format_time(when, sizeof(when), rows[i].started_ms);
        fprintf(ctx->out, "%-5lld %-19s %-8s %-16s %-16s %-12s %s (%s)\n", (long long)rows[i].id,
                when, rows[i].kind, rows[i].tag, rows[i].prev_tag[0] ? rows[i].prev_tag : "-",
                rows[i].outcome[0] ? rows[i].outcome : "in flight", rows[i].actor, rows[i].trigger);
        if (rows[i].commit[0])
            fprintf(ctx->out, "      commit %s\n", rows[i].commit);
        if (in_quarantine(q, nq, rows[i].tag) && strcmp(rows[i].kind, "deploy") == 0)
            fprintf(ctx->out, "      %s is in quarantine\n", rows[i].tag);
        if (rows[i].note[0])
            fprintf(ctx->out, "      %.300s\n", rows[i].note);
        if (rows[i].error[0])
            fprintf(ctx->out, "      %.200s\n", rows[i].error);
    }
    if (n == 0)
        fprintf(ctx->out, "(no deploys of '%s' yet)\n", pb->name);
    print_quarantine(ctx->out, q, nq);
out:
    free(q);
    free(rows);
    rg_ledger_close(l);
    rg_playbook_free(pb);
    return rc;
}

const struct rg_cmd rg_cmd_status = {
    .name = "status",
    .summary = "show the release a target runs, its last deploy and who holds its lock",
    .usage = "[--json] PLAYBOOK",
    .opts = status_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_status,
};

const struct rg_cmd rg_cmd_history = {
    .name = "history",
    .summary = "list a target's deploys and rollbacks, newest first",
    .usage = "[-n|--count N] [--json] PLAYBOOK",
    .opts = history_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_history,
};
