/* libFuzzer target for the playbook loader: any bytes in, a model or diagnostics out, and a plan
 * built from every model that loads, with no crash, leak or undefined behaviour on the way. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rollgate/engine.h"
#include "rollgate/err.h"
#include "rollgate/playbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every ${VAR} is set, so interpolation always substitutes instead of stopping at the first
 * unset variable; the value is short so substituted documents stay within the loader's limits. */
static const char *
fuzz_getenv(const char *name, void *data)
{
    (void)name;
    (void)data;
    return "x";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rg_load_opts opts = {.getenv = fuzz_getenv, .getenv_data = NULL, .base_dir = "/fuzz"};
    struct rg_playbook *pb = NULL;
    struct rg_plan *plan = NULL;
    struct rg_diags diags;
    struct rg_err err;
    int rc;

    rg_err_clear(&err);
    rg_diags_init(&diags);
    rc = rg_playbook_load_buffer(&pb, &diags, "fuzz.yml", (const char *)data, size, &opts, &err);
    if (rc == 0) {
        rg_err_clear(&err);
        (void)rg_plan_build(&plan, pb, NULL, &err);
    }
    /* Diagnostics carry paths and messages built from the input: format them as the CLI does. */
    for (size_t i = 0; i < diags.n; i++)
        free(rg_diag_format(&diags.v[i]));
    rg_plan_free(plan);
    rg_playbook_free(pb);
    rg_diags_release(&diags);
    return 0;
}
