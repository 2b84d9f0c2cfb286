/* `rollgate diagnose`: why nginx answers 502 or 504 for a target, from what its stack shows. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "rollgate/diagnose.h"
#include "rollgate/driver.h"

enum { DX_SINCE, DX_JSON };

static const struct rg_opt diagnose_opts[] = {
    [DX_SINCE] = {"since", 0, "DURATION", "how far back to read logs (default 15m)"},
    [DX_JSON] = {"json", 0, NULL, "print one JSON document"},
    {0},
};

static int
cmd_diagnose(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    struct rg_driver *drv = NULL;
    struct rg_diagnosis dx = {0};
    struct rg_diagnose_opts o = {0};
    struct rg_err err;
    int64_t window = 0;
    int rc;

    if (ctx->optcount[DX_SINCE] &&
        rg_duration_parse(&window, ctx->optval[DX_SINCE], &err) < 0)
        return rg_cli_usage_error(ctx->cmd, "--since: %s", err.msg);
    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        return rc;
    if (rg_driver_open(&drv, pb, NULL, &err) < 0) {
        fprintf(ctx->errout, "rollgate: diagnose: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    o.since_ms = window > 0 ? rg_wall_ms() - window : 0;
    if (rg_diagnose(&dx, pb, drv, &o, &err) < 0) {
        fprintf(ctx->errout, "rollgate: diagnose: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    if (ctx->optcount[DX_JSON]) {
        char *json = rg_diagnosis_json(&dx);
        fprintf(ctx->out, "%s\n", json ? json : "{}");
        free(json);
    } else {
        struct rg_buf text;
        rg_buf_init(&text, 4 * 1024 * 1024);
        rg_diagnosis_text(&text, &dx);
        fputs(text.data ? text.data : "", ctx->out);
        rg_buf_release(&text);
    }
    rc = dx.n ? RG_EXIT_DIAGNOSED : RG_EXIT_OK;
out:
    rg_diagnosis_release(&dx);
    rg_driver_close(drv);
    rg_playbook_free(pb);
    return rc;
}

const struct rg_cmd rg_cmd_diagnose = {
    .name = "diagnose",
    .summary = "name why nginx answers 502/504, with the lines that prove it and the fix",
    .usage = "[--since DURATION] [--json] PLAYBOOK",
    .description =
        "Reads what the target's stack shows, within a deadline: nginx's error and access logs\n"
        "since the window began (read from their end), its configuration (nginx -T) against\n"
        "the running containers or units, their state, restarts and exit codes, the app's own\n"
        "log lines (worker timeouts, memory limits, database is locked), PostgreSQL's\n"
        "connections against max_connections, and free disk space. Prints the causes found,\n"
        "most likely first, each with its evidence and fix. Nothing is changed.\n"
        "Exits 0 when no cause is found, 7 when one is.\n",
    .opts = diagnose_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_diagnose,
};
