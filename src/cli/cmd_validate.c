/* `rollgate validate FILE...`: load every playbook and report every problem of each. */
#include <jansson.h>
#include <stdlib.h>

#include "cmd.h"

enum { VA_NO_ENV, VA_JSON };

static const struct rg_opt validate_opts[] = {
    [VA_NO_ENV] = {"no-env", 0, NULL,
                   "an unset ${VAR} without a default is a placeholder, not an error (for CI "
                   "without production secrets)"},
    [VA_JSON] = {"json", 0, NULL, "print one JSON array, one object per playbook"},
    {0},
};

static json_t *
file_json(const char *file, const struct rg_playbook *pb, const struct rg_diags *diags,
          const struct rg_err *err)
{
    json_t *o = json_object(), *problems = json_array();

    json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "ok", json_boolean(pb != NULL));
    json_object_set_new(o, "target", pb ? json_string(pb->name) : json_null());
    for (size_t i = 0; i < diags->n; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "line", json_integer(diags->v[i].line));
        json_object_set_new(d, "column", json_integer(diags->v[i].column));
        json_object_set_new(d, "path", json_string(diags->v[i].path ? diags->v[i].path : ""));
        json_object_set_new(d, "message", json_string(diags->v[i].msg));
        json_object_set_new(d, "severity", json_string(diags->v[i].warning ? "warning" : "error"));
        json_array_append_new(problems, d);
    }
    json_object_set_new(o, "problems", problems);
    json_object_set_new(o, "error", pb ? json_null() : json_string(err->msg));
    return o;
}

static int
cmd_validate(struct rg_cmd_ctx *ctx)
{
    bool json = ctx->optcount[VA_JSON], no_env = ctx->optcount[VA_NO_ENV];
    json_t *all = json ? json_array() : NULL;
    int worst = RG_EXIT_OK;

    for (int i = 0; i < ctx->nargs; i++) {
        struct rg_playbook *pb = NULL;
        struct rg_diags diags;
        struct rg_err err;
        size_t steps = 0;
        int rc;

        rg_diags_init(&diags);
        rc = rg_cli_load_playbook_diags(&pb, &diags, &err, ctx->args[i], no_env);
        if (json) {
            json_array_append_new(all, file_json(ctx->args[i], pb, &diags, &err));
        } else if (rc) {
            rg_cli_print_diags(ctx->errout, &diags);
            fprintf(ctx->errout, "rollgate: %s\n", err.msg);
        } else {
            rg_cli_print_diags(ctx->errout, &diags); /* warnings */
            for (size_t k = 0; k < pb->n_deploy; k++)
                steps += !pb->deploy[k].implicit;
            fprintf(ctx->out, "%s: ok (target '%s', %s driver, %zu gate%s, %zu deploy step%s, "
                              "%zu recover rung%s)\n",
                    ctx->args[i], pb->name, rg_driver_name(pb->runtime.driver), pb->n_gates,
                    pb->n_gates == 1 ? "" : "s", steps, steps == 1 ? "" : "s",
                    pb->n_recover, pb->n_recover == 1 ? "" : "s");
        }
        if (rc > worst)
            worst = rc;
        rg_diags_release(&diags);
        rg_playbook_free(pb);
    }
    if (json) {
        if (json_dumpf(all, ctx->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
            fputc('\n', ctx->out) == EOF)
            worst = RG_EXIT_INTERNAL;
        json_decref(all);
    }
    return worst;
}

const struct rg_cmd rg_cmd_validate = {
    .name = "validate",
    .summary = "check playbooks and report every problem with file:line:column",
    .usage = "[--no-env] [--json] PLAYBOOK...",
    .description =
        "Loads each playbook as a deploy would: YAML syntax, keys and types, durations,\n"
        "regular expressions, gate references, the order of deploy steps and the recover\n"
        "ladder, and ${VAR} references to the environment. Nothing is contacted.\n"
        "With --no-env an unset ${VAR} without a default stands for a value the deploy's\n"
        "environment will give: a string keeps the text ${VAR}, a number or duration its\n"
        "default. Exits 0 when every file is valid, 65 when any is not.\n",
    .opts = validate_opts,
    .min_args = 1,
    .max_args = -1,
    .run = cmd_validate,
};
