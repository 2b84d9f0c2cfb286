/* Redaction of secrets in connection strings and URLs before anything is printed or stored. */
#include <ctype.h>
#include <string.h>

#include "rollgate/util.h"

static const char mask[] = "***";

static const char *
skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

char *
rg_redact_dsn(const char *dsn)
{
    struct rg_buf b;
    const char *p = dsn;

    if (strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0)
        return rg_redact_userinfo(dsn);
    rg_buf_init(&b, strlen(dsn) + sizeof(mask));
    /* key = value pairs; values may be single-quoted with backslash escapes. Spacing is kept. */
    while (*p) {
        const char *q = skip_space(p), *key, *val;
        bool secret;

        rg_buf_add(&b, p, (size_t)(q - p));
        key = p = q;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        secret = (size_t)(p - key) == 8 && strncmp(key, "password", 8) == 0;
        q = skip_space(p);
        if (*q == '=')
            q = skip_space(q + 1);
        rg_buf_add(&b, key, (size_t)(q - key));
        val = p = q;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p)
                p++;
        } else {
            while (*p && !isspace((unsigned char)*p))
                p++;
        }
        if (secret && p > val)
            rg_buf_adds(&b, mask);
        else
            rg_buf_add(&b, val, (size_t)(p - val));
    }
    return rg_buf_detach(&b);
}

/* Returns the offset just past "scheme://", or 0 when s has no scheme. */
static size_t
authority_start(const char *s)
{
    const char *p = strstr(s, "://");

    if (!p)
        return 0;
    for (const char *q = s; q < p; q++)
        if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-' && *q != '.')
            return 0;
    return (size_t)(p - s) + 3;
}

char *
rg_redact_userinfo(const char *url)
{
    size_t a = authority_start(url);
    const char *auth, *end, *at, *colon, *rest, *query;
    struct rg_buf b;

    if (!a)
        return rg_strdup(url);
    auth = url + a;
    end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(end - auth));
    colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    rg_buf_init(&b, strlen(url) + 2 * sizeof(mask));
    if (colon) {
        rg_buf_add(&b, url, (size_t)(colon + 1 - url));
        rg_buf_adds(&b, mask);
        rest = at;
    } else {
        rest = url;
    }
    /* Tokens travel in query strings too: keep the path, hide the query. */
    query = strchr(end, '?');
    if (query) {
        rg_buf_add(&b, rest, (size_t)(query + 1 - rest));
        rg_buf_adds(&b, mask);
    } else {
        rg_buf_adds(&b, rest);
    }
    return rg_buf_detach(&b);
}

char *
rg_redact_url(const char *url)
{
    size_t a = authority_start(url);
    const char *auth, *end, *at;
    struct rg_buf b;

    if (!a)
        return rg_strdup(*url ? mask : "");
    auth = url + a;
    end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(end - auth));
    rg_buf_init(&b, strlen(url) + 2 * sizeof(mask));
    rg_buf_add(&b, url, a);
    if (at) {
        rg_buf_adds(&b, mask);
        rg_buf_adds(&b, "@");
        auth = at + 1;
    }
    rg_buf_add(&b, auth, (size_t)(end - auth));
    if (*end) {
        rg_buf_adds(&b, "/");
        rg_buf_adds(&b, mask);
    }
    return rg_buf_detach(&b);
}
