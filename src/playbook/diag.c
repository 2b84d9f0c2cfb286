/* Diagnostics of a playbook: collected in order, capped, formatted as file:line:column. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void
rg_diags_init(struct rg_diags *d)
{
    d->v = NULL;
    d->n = 0;
    d->cap = 0;
    d->dropped = 0;
}

void
rg_diags_release(struct rg_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].path);
        free(d->v[i].msg);
    }
    free(d->v);
    rg_diags_init(d);
}

void
pb_diag_add(struct rg_diags *diags, const char *file, int line, int col, const char *path,
            const char *msg)
{
    struct rg_diag *d;

    if (diags->n >= RG_PLAYBOOK_MAX_ERRORS) {
        diags->dropped++;
        return;
    }
    diags->v = rg_grow(diags->v, &diags->cap, diags->n + 1, sizeof(*diags->v));
    d = &diags->v[diags->n++];
    d->file = rg_strdup(file);
    d->line = line;
    d->column = col;
    d->path = rg_strdup(path);
    d->msg = rg_strdup(msg);
    d->warning = false;
}

char *
rg_diag_format(const struct rg_diag *d)
{
    const char *sep = d->path[0] ? ": " : "";

    const char *w = d->warning ? "warning: " : "";

    if (d->line > 0)
        return rg_asprintf("%s:%d:%d: %s%s%s%s", d->file, d->line, d->column, w, d->path, sep,
                           d->msg);
    return rg_asprintf("%s: %s%s%s%s", d->file, w, d->path, sep, d->msg);
}

void
pb_vdiag(struct rg_diags *diags, const char *file, int line, int col, const char *path,
         const char *fmt, va_list ap)
{
    char msg[RG_ERR_MSG_MAX];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    pb_diag_add(diags, file, line, col, path, msg);
}

void
pb_error(struct pb_ctx *c, const struct pb_node *n, const char *fmt, ...)
{
    va_list ap;

    c->errors++;
    va_start(ap, fmt);
    pb_vdiag(c->diags, c->file, n ? n->line : 0, n ? n->col : 0, c->path, fmt, ap);
    va_end(ap);
}

void
pb_warn(struct pb_ctx *c, const struct pb_node *n, const char *fmt, ...)
{
    va_list ap;
    size_t before = c->diags->n;

    va_start(ap, fmt);
    pb_vdiag(c->diags, c->file, n ? n->line : 0, n ? n->col : 0, c->path, fmt, ap);
    va_end(ap);
    if (c->diags->n > before)
        c->diags->v[before].warning = true;
}

void
pb_error_at(struct pb_ctx *c, int line, int col, const char *fmt, ...)
{
    va_list ap;

    c->errors++;
    va_start(ap, fmt);
    pb_vdiag(c->diags, c->file, line, col, c->path, fmt, ap);
    va_end(ap);
}

size_t
pb_path_push(struct pb_ctx *c, const char *key, size_t index)
{
    size_t mark = c->path_len, room = sizeof(c->path) - c->path_len;
    int n;

    if (key)
        n = snprintf(c->path + c->path_len, room, "%s%s", c->path_len ? "." : "", key);
    else
        n = snprintf(c->path + c->path_len, room, "[%zu]", index);
    if (n < 0 || (size_t)n >= room)
        c->path[mark] = '\0'; /* too deep to name: keep the prefix */
    else
        c->path_len += (size_t)n;
    return mark;
}

void
pb_path_pop(struct pb_ctx *c, size_t mark)
{
    c->path_len = mark;
    c->path[mark] = '\0';
}
