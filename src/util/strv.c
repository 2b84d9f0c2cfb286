/* NULL-terminated string vectors: argv arrays and name lists. */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

void
rg_strv_push(struct rg_strv *sv, const char *s)
{
    sv->v = rg_realloc(sv->v, (sv->n + 2) * sizeof(*sv->v));
    sv->v[sv->n++] = rg_strdup(s);
    sv->v[sv->n] = NULL;
}

void
rg_strv_release(struct rg_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

bool
rg_strv_contains(const struct rg_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

char *
rg_strv_join(const struct rg_strv *sv, const char *sep)
{
    struct rg_buf b;

    rg_buf_init(&b, (size_t)-1 / 2);
    for (size_t i = 0; i < sv->n; i++) {
        if (i)
            rg_buf_adds(&b, sep);
        rg_buf_adds(&b, sv->v[i]);
    }
    return rg_buf_detach(&b);
}
