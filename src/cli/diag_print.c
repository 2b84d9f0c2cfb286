/* Loading a playbook for a command and printing its problems the same way everywhere. */
#include <stdlib.h>

#include "cmd.h"
#include "rollgate/driver.h"

void
rg_cli_print_diags(FILE *out, const struct rg_diags *diags)
{
    for (size_t i = 0; i < diags->n; i++) {
        char *line = rg_diag_format(&diags->v[i]);
        fprintf(out, "%s\n", line);
        free(line);
    }
    if (diags->dropped)
        fprintf(out, "... and %zu more problem%s not shown\n", diags->dropped,
                diags->dropped == 1 ? "" : "s");
}

int
rg_cli_load_playbook_diags(struct rg_playbook **out, struct rg_diags *diags, struct rg_err *err,
                           const char *path, bool placeholders)
{
    /* The registry says which drivers exist and what they can do: a playbook its driver cannot
     * run is refused here, before any command acts on it. */
    struct rg_load_opts o = {.driver_caps = rg_driver_caps, .placeholders = placeholders};

    rg_err_clear(err);
    /* Missing, unreadable or invalid: all are problems of the input the caller named. */
    return rg_playbook_load(out, diags, path, &o, err) < 0 ? RG_EXIT_INVALID : 0;
}

int
rg_cli_load_playbook(struct rg_playbook **out, struct rg_cmd_ctx *ctx, const char *path)
{
    struct rg_diags diags;
    struct rg_err err;
    int rc;

    rg_diags_init(&diags);
    rc = rg_cli_load_playbook_diags(out, &diags, &err, path, false);
    rg_cli_print_diags(ctx->errout, &diags); /* the problems, or the warnings of a valid one */
    if (rc)
        fprintf(ctx->errout, "rollgate: %s\n", err.msg);
    rg_diags_release(&diags);
    return rc;
}
