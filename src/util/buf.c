/* A growable buffer with a hard ceiling, so child output or an HTTP body cannot grow unbounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

void
rg_buf_init(struct rg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->truncated = false;
}

void
rg_buf_release(struct rg_buf *b)
{
    free(b->data);
    rg_buf_init(b, b->max);
}

void
rg_buf_reset(struct rg_buf *b)
{
    b->len = 0;
    b->truncated = false;
    if (b->data)
        b->data[0] = '\0';
}

void
rg_buf_add(struct rg_buf *b, const void *p, size_t n)
{
    size_t room = b->max - b->len;

    if (n > room) {
        n = room;
        b->truncated = true;
    }
    if (!b->data || b->len + n + 1 > b->cap)
        b->data = rg_grow(b->data, &b->cap, b->len + n + 1, 1);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
rg_buf_adds(struct rg_buf *b, const char *s)
{
    rg_buf_add(b, s, strlen(s));
}

void
rg_buf_vaddf(struct rg_buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list copy;
    int n;

    va_copy(copy, ap);
    n = vsnprintf(small, sizeof(small), fmt, copy);
    va_end(copy);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        rg_buf_add(b, small, (size_t)n);
        return;
    }
    char *big = rg_malloc((size_t)n + 1);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    rg_buf_add(b, big, (size_t)n);
    free(big);
}

void
rg_buf_addf(struct rg_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rg_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

char *
rg_buf_detach(struct rg_buf *b)
{
    char *s = b->data ? b->data : rg_strdup("");

    rg_buf_init(b, b->max);
    return s;
}
