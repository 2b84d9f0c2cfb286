/* Allocation wrappers: out of memory is not recoverable for a deploy tool, so abort in one place. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

static void
oom(size_t n)
{
    fprintf(stderr, "rollgate: out of memory (asked for %zu bytes)\n", n);
    abort();
}

void *
rg_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        oom(n);
    return p;
}

void *
rg_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);

    if (!p)
        oom(count * size);
    return p;
}

void *
rg_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        oom(n);
    return q;
}

void *
rg_grow(void *p, size_t *cap, size_t need, size_t size)
{
    size_t ncap = *cap ? *cap : 4;

    if (need <= *cap)
        return p;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2 / size)
            oom(need * size);
        ncap *= 2;
    }
    p = rg_realloc(p, ncap * size);
    *cap = ncap;
    return p;
}

char *
rg_strdup(const char *s)
{
    return rg_strndup(s, strlen(s));
}

char *
rg_strndup(const char *s, size_t n)
{
    char *p = rg_malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
rg_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    p = rg_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
rg_wipe(void *p, size_t n)
{
    volatile unsigned char *q = p;

    while (n--)
        *q++ = 0;
}
