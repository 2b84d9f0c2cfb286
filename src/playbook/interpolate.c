/* ${VAR} and ${VAR:-default} in playbook values, read from the environment at load time. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define INTERPOLATED_MAX (64 * 1024)

static bool
valid_name(const char *s, size_t n)
{
    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

int
pb_interpolate(char **out, const char *in, rg_getenv_fn getenv_fn, void *data,
               bool *placeholders, struct rg_err *err)
{
    struct rg_buf b;
    const char *p = in;
    int rc = 0;

    *out = NULL;
    rg_buf_init(&b, INTERPOLATED_MAX);
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            rg_buf_adds(&b, p);
            break;
        }
        rg_buf_add(&b, p, (size_t)(dollar - p));
        if (dollar[1] == '$') {
            rg_buf_adds(&b, "$");
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            rg_buf_adds(&b, "$");
            p = dollar + 1;
            continue;
        }
        const char *name = dollar + 2;
        const char *close = strchr(name, '}');
        if (!close) {
            rc = rg_err_set(err, RG_EINVAL, "unterminated '${' (write ${NAME} or $$ for a $)");
            goto out;
        }
        const char *def = strstr(name, ":-");
        size_t name_len = (size_t)((def && def < close ? def : close) - name);
        if (!valid_name(name, name_len)) {
            rc = rg_err_set(err, RG_EINVAL,
                            "invalid variable reference '%.*s' (write ${NAME} or "
                            "${NAME:-default}, NAME of letters, digits and _)",
                            (int)(close - dollar + 1), dollar);
            goto out;
        }
        char *var = rg_strndup(name, name_len);
        const char *value = getenv_fn(var, data);
        if (value && *value) {
            rg_buf_adds(&b, value);
        } else if (def && def < close) {
            rg_buf_add(&b, def + 2, (size_t)(close - def - 2));
        } else if (!value && placeholders) {
            /* validate --no-env: the value the deploy's environment will give, kept as written */
            rg_buf_add(&b, dollar, (size_t)(close - dollar + 1));
            *placeholders = true;
        } else if (!value) {
            rc = rg_err_set(err, RG_EINVAL,
                            "environment variable '%s' is not set (set it, or write "
                            "${%s:-default})",
                            var, var);
            free(var);
            goto out;
        }
        free(var);
        p = close + 1;
    }
    if (b.truncated) {
        rc = rg_err_set(err, RG_EINVAL, "value is longer than %d bytes after expansion",
                        INTERPOLATED_MAX);
        goto out;
    }
    *out = rg_buf_detach(&b);
out:
    rg_buf_release(&b);
    return rc;
}
