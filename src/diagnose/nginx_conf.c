/* Reads `nginx -T` output: splits it into files at nginx's markers, tokenizes each the way
 * ngx_conf_read_token does, splices includes back in, then builds the model of the http block
 * with nginx's inheritance rules. The checks at the end turn the model into diagnose findings. */
#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diagnose/nginx_conf.h"
#include "rollgate/util.h"

#define TOKEN_MAX (1024 * 1024) /* a log_format or a map value can be long, not this long */
#define DEPTH_MAX 64            /* blocks and includes together; stops an include cycle */
#define MARKER "# configuration file "
#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_BODY_MAX (1024 * 1024)

/* Appends item to a heap array of n elements (small arrays: a realloc each time is fine). */
#define PUSH(arr, n, item)                                                                         \
    do {                                                                                           \
        (arr) = rg_realloc((arr), ((n) + 1) * sizeof(*(arr)));                                     \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

/* ---- the dump: files after their markers ---- */

struct dfile {
    const char *name; /* owned by conf->files */
    const char *text; /* borrowed from the dump */
    size_t len;
};

/* ---- the generic tree: every directive with its arguments, includes spliced in ---- */

struct dir {
    char *name;
    struct rg_strv args; /* without the name */
    const char *file;
    int line;
    bool block;
    struct dir **kids;
    size_t n_kids;
};

struct parser {
    struct rg_nginx_conf *conf;
    struct dfile *files;
    size_t n_files;
    char *prefix; /* the main file's directory with a trailing '/': relative includes start there */
    struct rg_buf word;
};

struct lexer {
    const char *file;
    const char *p, *end;
    int line;
};

enum tok { TOK_WORD, TOK_SEMI, TOK_OPEN, TOK_CLOSE, TOK_EOF };

static void
dir_free(struct dir *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_kids; i++)
        dir_free(d->kids[i]);
    free(d->kids);
    free(d->name);
    rg_strv_release(&d->args);
    free(d);
}

static const char *
arg(const struct dir *d, size_t i)
{
    return i < d->args.n ? d->args.v[i] : "";
}

static struct rg_nginx_where
where_of(const struct dir *d)
{
    return (struct rg_nginx_where){.file = d->file, .line = d->line};
}

static int
split_dump(struct parser *ps, const char *dump, size_t len, struct rg_err *err)
{
    const char *p = dump, *end = dump + len;
    struct dfile *cur = NULL;
    size_t mlen = strlen(MARKER);

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        size_t n = (size_t)(eol - p);

        if (n && p[n - 1] == '\r') /* a dump that went through something writing CRLF */
            n--;
        if (n > mlen + 1 && memcmp(p, MARKER, mlen) == 0 && p[n - 1] == ':') {
            struct rg_nginx_conf *c = ps->conf;
            struct dfile f = {.text = next, .len = 0};

            if (cur)
                cur->len = (size_t)(p - cur->text);
            PUSH(c->files, c->n_files, rg_strndup(p + mlen, n - mlen - 1));
            f.name = c->files[c->n_files - 1];
            PUSH(ps->files, ps->n_files, f);
            cur = &ps->files[ps->n_files - 1];
        }
        p = next;
    }
    if (!cur)
        return rg_err_set(err, RG_EINVAL,
                          "no '" MARKER "PATH:' line: not the output of 'nginx -T'");
    cur->len = (size_t)(end - cur->text);
    return 0;
}

/* ---- tokenizer: ngx_conf_read_token's rules ---- */

static bool
is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{';
}

/* nginx unescapes \" \' \\ \t \r \n in every token, quoted or not, and keeps other pairs. */
static void
unescape(struct rg_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '\\' && i + 1 < n) {
            char e = s[i + 1];

            if (e == '"' || e == '\'' || e == '\\')
                c = e, i++;
            else if (e == 't')
                c = '\t', i++;
            else if (e == 'r')
                c = '\r', i++;
            else if (e == 'n')
                c = '\n', i++;
        }
        rg_buf_add(b, &c, 1);
    }
}

static int
lex(struct lexer *lx, enum tok *kind, struct rg_buf *word, int *line, struct rg_err *err)
{
    const char *start;

    rg_buf_reset(word);
    for (;;) {
        if (lx->p >= lx->end) {
            *kind = TOK_EOF;
            *line = lx->line;
            return 0;
        }
        if (*lx->p == '\n')
            lx->line++;
        else if (*lx->p == '#') /* a comment only where a token would start */
            while (lx->p + 1 < lx->end && lx->p[1] != '\n')
                lx->p++;
        else if (*lx->p != ' ' && *lx->p != '\t' && *lx->p != '\r')
            break;
        lx->p++;
    }
    *line = lx->line;
    switch (*lx->p) {
    case ';':
        lx->p++;
        *kind = TOK_SEMI;
        return 0;
    case '{':
        lx->p++;
        *kind = TOK_OPEN;
        return 0;
    case '}':
        lx->p++;
        *kind = TOK_CLOSE;
        return 0;
    default: break;
    }
    *kind = TOK_WORD;
    if (*lx->p == '"' || *lx->p == '\'') {
        char quote = *lx->p++;

        start = lx->p;
        for (;;) {
            if (lx->p >= lx->end)
                return rg_err_set(err, RG_EINVAL,
                                  "%s:%d: unexpected end of file in the string quoted at line %d",
                                  lx->file, lx->line, *line);
            if (*lx->p == '\\' && lx->p + 1 < lx->end) {
                if (lx->p[1] == '\n')
                    lx->line++;
                lx->p += 2;
                continue;
            }
            if (*lx->p == quote)
                break;
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        unescape(word, start, (size_t)(lx->p - start));
        lx->p++;
        /* nginx wants a blank, ';', '{' or the ')' of an if condition after a closing quote */
        if (lx->p < lx->end && !is_sep(*lx->p) && *lx->p != ')')
            return rg_err_set(err, RG_EINVAL, "%s:%d: unexpected '%c' after a quoted string",
                              lx->file, lx->line, *lx->p);
    } else {
        bool var = false;

        start = lx->p;
        while (lx->p < lx->end) {
            char c = *lx->p;

            if (c == '\\' && lx->p + 1 < lx->end) {
                if (lx->p[1] == '\n')
                    lx->line++;
                lx->p += 2;
                var = false;
                continue;
            }
            if (c == '{' && var) { /* ${name}: the brace belongs to the word */
                lx->p++;
                var = false;
                continue;
            }
            if (is_sep(c))
                break;
            var = c == '$';
            lx->p++;
        }
        unescape(word, start, (size_t)(lx->p - start));
    }
    if (word->truncated)
        return rg_err_set(err, RG_EINVAL, "%s:%d: a value longer than %d bytes", lx->file, *line,
                          TOKEN_MAX);
    return 0;
}

/* ---- parser: the tree, with includes replaced by the files they name ---- */

static struct dir *
add_dir(struct dir *parent, struct rg_strv *words, const char *file, int line, bool block)
{
    struct dir *d = rg_calloc(1, sizeof(*d));

    d->name = rg_strdup(words->v[0]);
    for (size_t i = 1; i < words->n; i++)
        rg_strv_push(&d->args, words->v[i]);
    d->file = file;
    d->line = line;
    d->block = block;
    PUSH(parent->kids, parent->n_kids, d);
    return d;
}

static int parse_block(struct parser *ps, struct lexer *lx, struct dir *parent, int depth,
                       int open_line, struct rg_err *err);

static int
parse_file(struct parser *ps, const struct dfile *f, struct dir *parent, int depth,
           struct rg_err *err)
{
    struct lexer lx = {.file = f->name, .p = f->text, .end = f->text + f->len, .line = 1};

    return parse_block(ps, &lx, parent, depth, 0, err);
}

static int
cmp_dfile(const void *a, const void *b)
{
    const struct dfile *const *x = a, *const *y = b;

    return strcmp((*x)->name, (*y)->name);
}

/* nginx -T lists each file once, however often it is included: find them by name. A glob is
 * expanded in sorted order, as nginx's glob() does. */
static int
expand_include(struct parser *ps, struct dir *parent, const struct rg_strv *words, const char *file,
               int line, int depth, struct rg_err *err)
{
    const struct dfile **hits = NULL;
    size_t n_hits = 0;
    char *full = NULL;
    int rc = 0;

    if (words->n != 2)
        return rg_err_set(err, RG_EINVAL, "%s:%d: 'include' takes one file name", file, line);
    if (depth >= DEPTH_MAX)
        return rg_err_set(err, RG_EINVAL, "%s:%d: includes nested deeper than %d (a cycle?)", file,
                          line, DEPTH_MAX);
    full = words->v[1][0] == '/' ? rg_strdup(words->v[1])
                                 : rg_asprintf("%s%s", ps->prefix, words->v[1]);
    if (strpbrk(full, "*?[")) {
        for (size_t i = 0; i < ps->n_files; i++)
            if (fnmatch(full, ps->files[i].name, FNM_PATHNAME) == 0)
                PUSH(hits, n_hits, &ps->files[i]);
        if (n_hits > 1)
            qsort(hits, n_hits, sizeof(*hits), cmp_dfile);
    } else {
        for (size_t i = 0; i < ps->n_files && !n_hits; i++)
            if (strcmp(full, ps->files[i].name) == 0)
                PUSH(hits, n_hits, &ps->files[i]);
        if (!n_hits) {
            rc = rg_err_set(err, RG_EINVAL, "%s:%d: include '%s': the file is not in the dump",
                            file, line, words->v[1]);
            goto out;
        }
    }
    for (size_t i = 0; i < n_hits && rc == 0; i++)
        rc = parse_file(ps, hits[i], parent, depth + 1, err);
out:
    free(hits);
    free(full);
    return rc;
}

static int
parse_block(struct parser *ps, struct lexer *lx, struct dir *parent, int depth, int open_line,
            struct rg_err *err)
{
    struct rg_strv words = {0};
    int first = 0, line = 0, rc;
    enum tok k;

    for (;;) {
        if ((rc = lex(lx, &k, &ps->word, &line, err)) < 0)
            goto out;
        if (k == TOK_WORD) {
            if (!words.n)
                first = line;
            rg_strv_push(&words, ps->word.data ? ps->word.data : "");
            continue;
        }
        if (k == TOK_SEMI) {
            if (!words.n) {
                rc = rg_err_set(err, RG_EINVAL, "%s:%d: unexpected ';'", lx->file, line);
                goto out;
            }
            if (strcmp(words.v[0], "include") == 0)
                rc = expand_include(ps, parent, &words, lx->file, first, depth, err);
            else
                add_dir(parent, &words, lx->file, first, false);
            rg_strv_release(&words);
            if (rc < 0)
                goto out;
            continue;
        }
        if (k == TOK_OPEN) {
            struct dir *d;

            if (!words.n) {
                rc = rg_err_set(err, RG_EINVAL, "%s:%d: unexpected '{'", lx->file, line);
                goto out;
            }
            if (depth >= DEPTH_MAX) {
                rc = rg_err_set(err, RG_EINVAL, "%s:%d: blocks nested deeper than %d", lx->file,
                                line, DEPTH_MAX);
                goto out;
            }
            d = add_dir(parent, &words, lx->file, first, true);
            rg_strv_release(&words);
            if ((rc = parse_block(ps, lx, d, depth + 1, first, err)) < 0)
                goto out;
            continue;
        }
        if (words.n) {
            rc = rg_err_set(
                err, RG_EINVAL, "%s:%d: unexpected %s: the directive '%s' at line %d has no ';'",
                lx->file, line, k == TOK_CLOSE ? "'}'" : "end of file", words.v[0], first);
            goto out;
        }
        if (k == TOK_CLOSE && !open_line) {
            rc = rg_err_set(err, RG_EINVAL, "%s:%d: unexpected '}': no block is open here",
                            lx->file, line);
            goto out;
        }
        if (k == TOK_EOF && open_line) {
            rc = rg_err_set(err, RG_EINVAL,
                            "%s:%d: unexpected end of file: the block '%s%s%s' opened at %s:%d "
                            "has no '}'",
                            lx->file, line, parent->name, parent->args.n ? " " : "", arg(parent, 0),
                            lx->file, open_line);
            goto out;
        }
        rc = 0;
        goto out;
    }
out:
    rg_strv_release(&words);
    return rc;
}

/* ---- values ---- */

int
rg_nginx_time_parse(int64_t *ms_out, const char *s, struct rg_err *err)
{
    const int64_t max = INT64_C(1) << 52;
    int64_t total = 0, value = 0;
    bool digits = false, any = false;

    *ms_out = 0;
    for (const char *p = s; *p; p++) {
        int64_t unit;

        if (*p >= '0' && *p <= '9') {
            value = value * 10 + (*p - '0');
            if (value > max)
                goto bad;
            digits = true;
            continue;
        }
        if (*p == ' ' && !digits)
            continue;
        switch (*p) {
        case 'y': unit = INT64_C(365) * 86400000; break;
        case 'M': unit = INT64_C(30) * 86400000; break;
        case 'w': unit = INT64_C(7) * 86400000; break;
        case 'd': unit = 86400000; break;
        case 'h': unit = 3600000; break;
        case 'm':
            if (p[1] == 's') {
                unit = 1;
                p++;
            } else {
                unit = 60000;
            }
            break;
        case 's': unit = 1000; break;
        default: goto bad;
        }
        if (!digits)
            goto bad;
        total += value * unit;
        if (total > max)
            goto bad;
        value = 0;
        digits = false;
        any = true;
    }
    if (digits) /* a number without a unit is seconds */
        total += value * 1000, any = true;
    if (!any)
        goto bad;
    *ms_out = total;
    return 0;
bad:
    return rg_err_set(err, RG_EINVAL, "'%s' is not an nginx time (like 500ms, 60s, 5m, 1h)", s);
}

int
rg_nginx_size_parse(int64_t *bytes_out, const char *s, struct rg_err *err)
{
    size_t n = strlen(s);
    int64_t scale = 1;
    long long v;
    char num[32];

    *bytes_out = 0;
    if (n && strchr("kKmMgG", s[n - 1])) {
        char u = s[n - 1];

        scale = u == 'k' || u == 'K'   ? 1024
                : u == 'm' || u == 'M' ? 1024 * 1024
                                       : 1024 * 1024 * 1024;
        n--;
    }
    if (!n || n >= sizeof(num))
        goto bad;
    memcpy(num, s, n);
    num[n] = '\0';
    if (num[0] < '0' || num[0] > '9' || rg_int_parse(&v, num, 0, INT64_C(1) << 40, NULL) < 0)
        goto bad;
    *bytes_out = v * scale;
    return 0;
bad:
    return rg_err_set(err, RG_EINVAL, "'%s' is not an nginx size (like 1m, 512k, 10g)", s);
}

static int
need_args(const struct dir *d, size_t min, size_t max, struct rg_err *err)
{
    if (d->args.n < min || d->args.n > max)
        return rg_err_set(err, RG_EINVAL, "%s:%d: wrong number of values for '%s'", d->file,
                          d->line, d->name);
    return 0;
}

static int
bad_value(const struct dir *d, const struct rg_err *why, struct rg_err *err)
{
    return rg_err_set(err, RG_EINVAL, "%s:%d: %s: %s", d->file, d->line, d->name, why->msg);
}

/* ---- proxy settings and their inheritance ---- */

static void
proxy_defaults(struct rg_nginx_proxy *p)
{
    memset(p, 0, sizeof(*p));
    p->read_timeout.ms = p->connect_timeout.ms = p->send_timeout.ms = DEFAULT_TIMEOUT_MS;
    snprintf(p->http_version, sizeof(p->http_version), "1.0");
    p->buffering = true;
    p->client_max_body_size.bytes = DEFAULT_BODY_MAX;
}

static void
headers_free(struct rg_nginx_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

static void
proxy_release(struct rg_nginx_proxy *p)
{
    headers_free(p->headers, p->n_headers);
    p->headers = NULL;
    p->n_headers = 0;
}

/* What a block starts with: everything of its parent, the header list copied. */
static void
proxy_inherit(struct rg_nginx_proxy *dst, const struct rg_nginx_proxy *src)
{
    *dst = *src;
    dst->headers = NULL;
    dst->n_headers = 0;
    for (size_t i = 0; i < src->n_headers; i++) {
        struct rg_nginx_header h = {rg_strdup(src->headers[i].name),
                                    rg_strdup(src->headers[i].value), src->headers[i].where};

        PUSH(dst->headers, dst->n_headers, h);
    }
}

static int
set_time(struct rg_nginx_duration *t, const struct dir *d, struct rg_err *err)
{
    struct rg_err why;
    int rc;

    if ((rc = need_args(d, 1, 1, err)) < 0)
        return rc;
    if (rg_nginx_time_parse(&t->ms, arg(d, 0), &why) < 0)
        return bad_value(d, &why, err);
    t->where = where_of(d);
    return 1;
}

static int
set_flag(bool *flag, struct rg_nginx_where *w, const struct dir *d, struct rg_err *err)
{
    int rc;

    if ((rc = need_args(d, 1, 1, err)) < 0)
        return rc;
    if (strcmp(arg(d, 0), "on") != 0 && strcmp(arg(d, 0), "off") != 0)
        return rg_err_set(err, RG_EINVAL, "%s:%d: '%s' takes on or off, not '%s'", d->file, d->line,
                          d->name, arg(d, 0));
    *flag = strcmp(arg(d, 0), "on") == 0;
    *w = where_of(d);
    return 1;
}

/* Applies d to p when it is a proxy setting: 1 when it was, 0 when not, or an error. own_headers
 * says whether this block's own proxy_set_header list has started (it replaces the inherited
 * one at its first entry, wherever the block's nested blocks are). */
static int
apply_proxy(struct rg_nginx_proxy *p, bool *own_headers, const struct dir *d, struct rg_err *err)
{
    struct rg_err why;
    int rc;

    if (strcmp(d->name, "proxy_read_timeout") == 0)
        return set_time(&p->read_timeout, d, err);
    if (strcmp(d->name, "proxy_connect_timeout") == 0)
        return set_time(&p->connect_timeout, d, err);
    if (strcmp(d->name, "proxy_send_timeout") == 0)
        return set_time(&p->send_timeout, d, err);
    if (strcmp(d->name, "proxy_buffering") == 0)
        return set_flag(&p->buffering, &p->buffering_where, d, err);
    if (strcmp(d->name, "proxy_http_version") == 0) {
        if ((rc = need_args(d, 1, 1, err)) < 0)
            return rc;
        if (strcmp(arg(d, 0), "1.0") != 0 && strcmp(arg(d, 0), "1.1") != 0)
            return rg_err_set(err, RG_EINVAL, "%s:%d: proxy_http_version takes 1.0 or 1.1", d->file,
                              d->line);
        snprintf(p->http_version, sizeof(p->http_version), "%s", arg(d, 0));
        p->http_version_where = where_of(d);
        return 1;
    }
    if (strcmp(d->name, "client_max_body_size") == 0) {
        if ((rc = need_args(d, 1, 1, err)) < 0)
            return rc;
        if (rg_nginx_size_parse(&p->client_max_body_size.bytes, arg(d, 0), &why) < 0)
            return bad_value(d, &why, err);
        p->client_max_body_size.where = where_of(d);
        return 1;
    }
    if (strcmp(d->name, "proxy_set_header") == 0) {
        struct rg_nginx_header h;

        if ((rc = need_args(d, 2, 2, err)) < 0)
            return rc;
        if (!*own_headers) {
            /* nginx's rule for array directives: a block with its own list gets nothing of
             * its parent's */
            if (p->n_headers)
                p->shadowed_where = p->headers_where;
            proxy_release(p);
            p->headers_where = where_of(d);
            *own_headers = true;
        }
        h = (struct rg_nginx_header){rg_strdup(arg(d, 0)), rg_strdup(arg(d, 1)), where_of(d)};
        PUSH(p->headers, p->n_headers, h);
        return 1;
    }
    return 0;
}

/* ---- addresses ---- */

static int
parse_port(int *port, const char *s)
{
    long long v;

    if (!*s || *s < '0' || *s > '9' || rg_int_parse(&v, s, 1, 65535, NULL) < 0)
        return -1;
    *port = (int)v;
    return 0;
}

/* "host:port", "[v6]:port", "host", "unix:/path"; a bare number is a port when digits_port. */
static int
parse_addr(char **host, int *port, bool *is_unix, const char *s, int default_port, bool digits_port)
{
    const char *colon;

    *host = NULL;
    *port = default_port;
    *is_unix = false;
    if (strncmp(s, "unix:", 5) == 0) {
        *is_unix = true;
        *port = 0;
        *host = rg_strdup(s + 5);
        return 0;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (!close)
            return -1;
        *host = rg_strndup(s + 1, (size_t)(close - s - 1));
        if (close[1] == ':')
            return parse_port(port, close + 2);
        return close[1] ? -1 : 0;
    }
    if (digits_port && strspn(s, "0123456789") == strlen(s))
        return parse_port(port, s);
    colon = strrchr(s, ':');
    if (!colon) {
        *host = rg_strdup(s);
        return 0;
    }
    *host = rg_strndup(s, (size_t)(colon - s));
    return parse_port(port, colon + 1);
}

/* ---- the model ---- */

static int
walk_upstream(struct rg_nginx_conf *conf, const struct dir *d, struct rg_err *err)
{
    struct rg_nginx_upstream *u = rg_calloc(1, sizeof(*u));
    int rc;

    PUSH(conf->upstreams, conf->n_upstreams, u);
    if ((rc = need_args(d, 1, 1, err)) < 0)
        return rc;
    u->name = rg_strdup(arg(d, 0));
    u->where = where_of(d);
    for (size_t i = 0; i < d->n_kids; i++) {
        const struct dir *k = d->kids[i];

        if (strcmp(k->name, "keepalive") == 0) {
            long long v;

            if ((rc = need_args(k, 1, 1, err)) < 0)
                return rc;
            if (rg_int_parse(&v, arg(k, 0), 1, 1000000, NULL) < 0)
                return rg_err_set(err, RG_EINVAL, "%s:%d: keepalive takes a number, not '%s'",
                                  k->file, k->line, arg(k, 0));
            u->keepalive = (int)v;
        } else if (strcmp(k->name, "server") == 0 && !k->block) {
            struct rg_nginx_upstream_server s = {
                .weight = 1, .max_fails = 1, .fail_timeout_ms = 10000};

            if ((rc = need_args(k, 1, 64, err)) < 0)
                return rc;
            s.addr = rg_strdup(arg(k, 0));
            s.where = where_of(k);
            rc = parse_addr(&s.host, &s.port, &s.is_unix, s.addr, 80, false);
            PUSH(u->servers, u->n_servers, s);
            if (rc < 0)
                return rg_err_set(err, RG_EINVAL, "%s:%d: invalid server address '%s'", k->file,
                                  k->line, arg(k, 0));
            for (size_t j = 1; j < k->args.n; j++) {
                struct rg_nginx_upstream_server *sp = &u->servers[u->n_servers - 1];
                const char *a = k->args.v[j];
                long long v;
                struct rg_err why;

                if (strcmp(a, "backup") == 0) {
                    sp->backup = true;
                } else if (strcmp(a, "down") == 0) {
                    sp->down = true;
                } else if (strncmp(a, "fail_timeout=", 13) == 0) {
                    if (rg_nginx_time_parse(&sp->fail_timeout_ms, a + 13, &why) < 0)
                        return bad_value(k, &why, err);
                } else if (strncmp(a, "weight=", 7) == 0 || strncmp(a, "max_fails=", 10) == 0 ||
                           strncmp(a, "max_conns=", 10) == 0) {
                    const char *eq = strchr(a, '=');

                    if (rg_int_parse(&v, eq + 1, 0, 1000000, NULL) < 0)
                        return rg_err_set(err, RG_EINVAL, "%s:%d: invalid server parameter '%s'",
                                          k->file, k->line, a);
                    if (a[0] == 'w')
                        sp->weight = (int)v;
                    else if (a[4] == 'f')
                        sp->max_fails = (int)v;
                    else
                        sp->max_conns = (int)v;
                }
                /* resolve, service=, slow_start=, route=: not needed by diagnose */
            }
        }
    }
    return 0;
}

static int
walk_map(struct rg_nginx_conf *conf, const struct dir *d, struct rg_err *err)
{
    struct rg_nginx_map *m = rg_calloc(1, sizeof(*m));
    int rc;

    PUSH(conf->maps, conf->n_maps, m);
    if ((rc = need_args(d, 2, 2, err)) < 0)
        return rc;
    m->source = rg_strdup(arg(d, 0));
    m->variable = rg_strdup(arg(d, 1));
    m->default_value = rg_strdup("");
    m->where = where_of(d);
    for (size_t i = 0; i < d->n_kids; i++) {
        const struct dir *k = d->kids[i];

        if (k->args.n != 1)
            continue; /* hostnames; volatile; */
        if (strcmp(k->name, "default") == 0) {
            free(m->default_value);
            m->default_value = rg_strdup(arg(k, 0));
            continue;
        }
        m->keys = rg_realloc(m->keys, (m->n + 1) * sizeof(*m->keys));
        m->values = rg_realloc(m->values, (m->n + 1) * sizeof(*m->values));
        m->keys[m->n] = rg_strdup(k->name);
        m->values[m->n++] = rg_strdup(arg(k, 0));
    }
    return 0;
}

unsigned
rg_nginx_format_fields(const char *format)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        {"status", RG_NGINX_FIELD_STATUS},
        {"request_time", RG_NGINX_FIELD_REQUEST_TIME},
        {"upstream_addr", RG_NGINX_FIELD_UPSTREAM_ADDR},
        {"upstream_status", RG_NGINX_FIELD_UPSTREAM_STATUS},
        {"upstream_response_time", RG_NGINX_FIELD_UPSTREAM_RESPONSE_TIME},
        {"upstream_connect_time", RG_NGINX_FIELD_UPSTREAM_CONNECT_TIME},
        {"upstream_header_time", RG_NGINX_FIELD_UPSTREAM_HEADER_TIME},
    };
    unsigned bits = 0;

    for (const char *p = format; (p = strchr(p, '$')) != NULL;) {
        bool braced = p[1] == '{';
        const char *s = p + 1 + braced, *e = s;
        size_t n;
        bool found = false;

        while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
               *e == '_')
            e++;
        n = (size_t)(e - s);
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strlen(known[i].name) == n && strncmp(known[i].name, s, n) == 0) {
                bits |= known[i].bit;
                found = true;
            }
        if (!found && n > 9 && strncmp(s, "upstream_", 9) == 0)
            bits |= RG_NGINX_FIELD_UPSTREAM_OTHER;
        p = e;
    }
    return bits;
}

static int
walk_log_format(struct rg_nginx_conf *conf, const struct dir *d, struct rg_err *err)
{
    struct rg_nginx_log_format *f = rg_calloc(1, sizeof(*f));
    struct rg_buf b;
    size_t i = 1;
    int rc;

    PUSH(conf->log_formats, conf->n_log_formats, f);
    if ((rc = need_args(d, 2, 4096, err)) < 0)
        return rc;
    f->name = rg_strdup(arg(d, 0));
    f->where = where_of(d);
    if (strncmp(arg(d, 1), "escape=", 7) == 0) {
        f->escape = rg_strdup(arg(d, 1) + 7);
        i++;
    } else {
        f->escape = rg_strdup("default");
    }
    rg_buf_init(&b, TOKEN_MAX);
    for (; i < d->args.n; i++)
        rg_buf_adds(&b, d->args.v[i]);
    f->format = b.data ? rg_buf_detach(&b) : rg_strdup("");
    rg_buf_release(&b);
    f->fields = rg_nginx_format_fields(f->format);
    return 0;
}

static int
walk_log(struct rg_nginx_conf *conf, const struct dir *d, enum rg_nginx_ctx ctx,
         const struct rg_nginx_log ***own, size_t *n_own, struct rg_err *err)
{
    struct rg_nginx_log *l = rg_calloc(1, sizeof(*l));
    int rc;

    PUSH(conf->logs, conf->n_logs, l);
    if ((rc = need_args(d, 1, 16, err)) < 0)
        return rc;
    l->kind = strcmp(d->name, "error_log") == 0 ? RG_NGINX_LOG_ERROR : RG_NGINX_LOG_ACCESS;
    l->path = rg_strdup(arg(d, 0));
    l->ctx = ctx;
    l->where = where_of(d);
    if (l->kind == RG_NGINX_LOG_ERROR) {
        l->level = rg_strdup(d->args.n > 1 ? arg(d, 1) : "error");
    } else {
        l->off = strcmp(l->path, "off") == 0;
        l->format_name = rg_strdup(d->args.n > 1 ? arg(d, 1) : "combined");
    }
    PUSH(*own, *n_own, l);
    return 0;
}

static void
walk_resolver(struct rg_nginx_conf *conf, const struct dir *d, enum rg_nginx_ctx ctx)
{
    struct rg_nginx_resolver *r = rg_calloc(1, sizeof(*r));

    r->ctx = ctx;
    r->where = where_of(d);
    for (size_t i = 0; i < d->args.n; i++)
        if (!strchr(d->args.v[i], '=')) /* valid=30s, ipv6=off are parameters */
            PUSH(r->addrs, r->n_addrs, rg_strdup(d->args.v[i]));
    PUSH(conf->resolvers, conf->n_resolvers, r);
}

/* The logs of one level (http, server): a level with its own access_log or error_log gets only
 * those, as nginx merges them. */
struct level_logs {
    const struct rg_nginx_log **access;
    size_t n_access;
    const struct rg_nginx_log **error;
    size_t n_error;
};

static void
level_logs_release(struct level_logs *l)
{
    free(l->access);
    free(l->error);
}

/* Directives any of http, server and location may hold: 1 when d was one of them. */
static int
walk_common(struct rg_nginx_conf *conf, struct rg_nginx_proxy *p, bool *own_headers,
            struct level_logs *logs, const struct dir *d, enum rg_nginx_ctx ctx, struct rg_err *err)
{
    int rc;

    if ((rc = apply_proxy(p, own_headers, d, err)) != 0)
        return rc;
    if (strcmp(d->name, "access_log") == 0)
        rc = walk_log(conf, d, ctx, &logs->access, &logs->n_access, err);
    else if (strcmp(d->name, "error_log") == 0)
        rc = walk_log(conf, d, ctx, &logs->error, &logs->n_error, err);
    else if (strcmp(d->name, "resolver") == 0)
        walk_resolver(conf, d, ctx);
    else
        return 0;
    return rc < 0 ? rc : 1;
}

static int
parse_pass(struct rg_nginx_pass *pass, const struct dir *d, struct rg_err *err)
{
    const char *url = arg(d, 0), *sep = strstr(url, "://"), *rest, *slash;
    int rc;

    if ((rc = need_args(d, 1, 1, err)) < 0)
        return rc;
    if (pass->url)
        return rg_err_set(err, RG_EINVAL, "%s:%d: 'proxy_pass' is duplicate (first at line %d)",
                          d->file, d->line, pass->where.line);
    pass->url = rg_strdup(url);
    pass->where = where_of(d);
    if (!sep)
        return rg_err_set(err, RG_EINVAL, "%s:%d: proxy_pass '%s' has no http:// or https://",
                          d->file, d->line, url);
    pass->scheme = rg_strndup(url, (size_t)(sep - url));
    rest = sep + 3;
    if (strchr(url, '$')) {
        pass->kind = RG_NGINX_PASS_VARIABLE;
        slash = strchr(rest, '/');
        pass->host = slash ? rg_strndup(rest, (size_t)(slash - rest)) : rg_strdup(rest);
        pass->uri = slash ? rg_strdup(slash) : NULL;
        return 0;
    }
    if (strncmp(rest, "unix:", 5) == 0) { /* http://unix:/run/app.sock:/uri */
        const char *colon = strchr(rest + 5, ':');

        pass->kind = RG_NGINX_PASS_UNIX;
        pass->host = colon ? rg_strndup(rest + 5, (size_t)(colon - rest - 5)) : rg_strdup(rest + 5);
        pass->uri = colon ? rg_strdup(colon + 1) : NULL;
        return 0;
    }
    slash = strchr(rest, '/');
    {
        char *auth = slash ? rg_strndup(rest, (size_t)(slash - rest)) : rg_strdup(rest);
        bool is_unix;

        /* port 0 = not written: resolve_passes picks an upstream of that name or the default */
        rc = parse_addr(&pass->host, &pass->port, &is_unix, auth, 0, false);
        free(auth);
    }
    pass->kind = RG_NGINX_PASS_ADDRESS;
    pass->uri = slash ? rg_strdup(slash) : NULL;
    if (rc < 0 || !pass->host || !*pass->host)
        return rg_err_set(err, RG_EINVAL, "%s:%d: invalid proxy_pass address '%s'", d->file,
                          d->line, url);
    return 0;
}

static const char *const handlers[] = {"return",    "fastcgi_pass", "uwsgi_pass",
                                       "scgi_pass", "grpc_pass",    "memcached_pass",
                                       "try_files", "alias",        "root"};

static int
walk_location(struct rg_nginx_conf *conf, struct rg_nginx_server *srv,
              struct rg_nginx_location *parent, const struct rg_nginx_proxy *outer,
              const struct dir *d, struct rg_nginx_location **out, struct rg_err *err)
{
    struct rg_nginx_location *loc = rg_calloc(1, sizeof(*loc));
    struct level_logs logs = {0};
    bool own_headers = false;
    const char *path;
    int rc = 0;

    *out = loc;
    loc->parent = parent;
    loc->where = where_of(d);
    proxy_inherit(&loc->proxy, outer);
    PUSH(srv->all_locations, srv->n_all_locations, loc);
    if (d->args.n == 2) {
        const char *m = arg(d, 0);

        path = arg(d, 1);
        if (strcmp(m, "=") == 0)
            loc->match = RG_NGINX_MATCH_EXACT;
        else if (strcmp(m, "^~") == 0)
            loc->match = RG_NGINX_MATCH_NOREGEX;
        else if (strcmp(m, "~") == 0)
            loc->match = RG_NGINX_MATCH_REGEX;
        else if (strcmp(m, "~*") == 0)
            loc->match = RG_NGINX_MATCH_IREGEX;
        else
            return rg_err_set(err, RG_EINVAL, "%s:%d: invalid location modifier '%s'", d->file,
                              d->line, m);
    } else if (d->args.n == 1) {
        path = arg(d, 0);
        if (path[0] == '=') {
            loc->match = RG_NGINX_MATCH_EXACT;
            path++;
        } else if (path[0] == '^' && path[1] == '~') {
            loc->match = RG_NGINX_MATCH_NOREGEX;
            path += 2;
        } else if (path[0] == '~') {
            loc->match = path[1] == '*' ? RG_NGINX_MATCH_IREGEX : RG_NGINX_MATCH_REGEX;
            path += path[1] == '*' ? 2 : 1;
        } else if (path[0] == '@') {
            loc->match = RG_NGINX_MATCH_NAMED;
        }
    } else {
        return rg_err_set(err, RG_EINVAL, "%s:%d: wrong number of values for 'location'", d->file,
                          d->line);
    }
    loc->path = rg_strdup(path);

    /* The block's own directives first: they apply to its nested locations wherever they
     * appear in it. */
    for (size_t i = 0; i < d->n_kids && rc >= 0; i++) {
        const struct dir *k = d->kids[i];

        if (k->block)
            continue;
        if ((rc = walk_common(conf, &loc->proxy, &own_headers, &logs, k, RG_NGINX_CTX_LOCATION,
                              err)) != 0)
            continue;
        if (strcmp(k->name, "proxy_pass") == 0) {
            rc = parse_pass(&loc->pass, k, err);
            continue;
        }
        for (size_t h = 0; h < sizeof(handlers) / sizeof(handlers[0]) && !loc->handler; h++)
            if (strcmp(k->name, handlers[h]) == 0)
                loc->handler = rg_strdup(k->name);
    }
    for (size_t i = 0; i < d->n_kids && rc >= 0; i++) {
        struct rg_nginx_location *child = NULL;

        if (!d->kids[i]->block || strcmp(d->kids[i]->name, "location") != 0)
            continue; /* if, limit_except: their contents are not modelled */
        rc = walk_location(conf, srv, loc, &loc->proxy, d->kids[i], &child, err);
        PUSH(loc->children, loc->n_children, child);
    }
    level_logs_release(&logs);
    return rc < 0 ? rc : 0;
}

static int
walk_listen(struct rg_nginx_server *srv, const struct dir *d, struct rg_err *err)
{
    struct rg_nginx_listen l = {0};
    bool is_unix;
    int rc;

    if ((rc = need_args(d, 1, 32, err)) < 0)
        return rc;
    l.addr = rg_strdup(arg(d, 0));
    l.where = where_of(d);
    rc = parse_addr(&l.host, &l.port, &is_unix, l.addr, 80, true);
    if (is_unix)
        l.port = 0;
    for (size_t i = 1; i < d->args.n; i++) {
        const char *a = d->args.v[i];

        l.default_server |= strcmp(a, "default_server") == 0 || strcmp(a, "default") == 0;
        l.ssl |= strcmp(a, "ssl") == 0;
        l.http2 |= strcmp(a, "http2") == 0;
    }
    PUSH(srv->listens, srv->n_listens, l);
    if (rc < 0)
        return rg_err_set(err, RG_EINVAL, "%s:%d: invalid listen address '%s'", d->file, d->line,
                          arg(d, 0));
    return 0;
}

static void
effective_logs(struct rg_nginx_server *srv, const struct level_logs *own,
               const struct level_logs *http, const struct level_logs *main_logs)
{
    const struct level_logs *a = own->n_access ? own : http;
    const struct level_logs *e = own->n_error ? own : http->n_error ? http : main_logs;

    for (size_t i = 0; i < a->n_access; i++)
        PUSH(srv->access_logs, srv->n_access_logs, a->access[i]);
    for (size_t i = 0; i < e->n_error; i++)
        PUSH(srv->error_logs, srv->n_error_logs, e->error[i]);
}

static int
walk_server(struct rg_nginx_conf *conf, const struct rg_nginx_proxy *http,
            const struct level_logs *http_logs, const struct level_logs *main_logs,
            const struct dir *d, struct rg_err *err)
{
    struct rg_nginx_server *srv = rg_calloc(1, sizeof(*srv));
    struct level_logs logs = {0};
    bool own_headers = false;
    int rc = 0;

    PUSH(conf->servers, conf->n_servers, srv);
    srv->where = where_of(d);
    proxy_inherit(&srv->proxy, http);
    for (size_t i = 0; i < d->n_kids && rc >= 0; i++) {
        const struct dir *k = d->kids[i];

        if (k->block)
            continue;
        if ((rc = walk_common(conf, &srv->proxy, &own_headers, &logs, k, RG_NGINX_CTX_SERVER,
                              err)) != 0)
            continue;
        if (strcmp(k->name, "listen") == 0)
            rc = walk_listen(srv, k, err);
        else if (strcmp(k->name, "server_name") == 0)
            for (size_t j = 0; j < k->args.n; j++)
                PUSH(srv->names, srv->n_names, rg_strdup(k->args.v[j]));
    }
    for (size_t i = 0; i < d->n_kids && rc >= 0; i++) {
        struct rg_nginx_location *loc = NULL;

        if (!d->kids[i]->block || strcmp(d->kids[i]->name, "location") != 0)
            continue;
        rc = walk_location(conf, srv, NULL, &srv->proxy, d->kids[i], &loc, err);
        PUSH(srv->locations, srv->n_locations, loc);
    }
    if (rc >= 0)
        effective_logs(srv, &logs, http_logs, main_logs);
    level_logs_release(&logs);
    return rc < 0 ? rc : 0;
}

static int
walk_http(struct rg_nginx_conf *conf, const struct dir *d, const struct level_logs *main_logs,
          struct rg_err *err)
{
    struct rg_nginx_proxy proxy;
    struct level_logs logs = {0};
    bool own_headers = false;
    int rc = 0;

    proxy_defaults(&proxy);
    for (size_t i = 0; i < d->n_kids && rc >= 0; i++) {
        const struct dir *k = d->kids[i];

        if (k->block) {
            if (strcmp(k->name, "upstream") == 0)
                rc = walk_upstream(conf, k, err);
            else if (strcmp(k->name, "map") == 0)
                rc = walk_map(conf, k, err);
            continue;
        }
        if ((rc = walk_common(conf, &proxy, &own_headers, &logs, k, RG_NGINX_CTX_HTTP, err)) != 0)
            continue;
        if (strcmp(k->name, "log_format") == 0)
            rc = walk_log_format(conf, k, err);
    }
    for (size_t i = 0; i < d->n_kids && rc >= 0; i++)
        if (d->kids[i]->block && strcmp(d->kids[i]->name, "server") == 0)
            rc = walk_server(conf, &proxy, &logs, main_logs, d->kids[i], err);
    proxy_release(&proxy);
    level_logs_release(&logs);
    return rc < 0 ? rc : 0;
}

/* proxy_pass http://NAME without a port names the upstream block NAME when there is one, defined
 * before or after (nginx resolves it at the end of the configuration). */
static void
resolve_passes(struct rg_nginx_conf *conf)
{
    for (size_t s = 0; s < conf->n_servers; s++) {
        struct rg_nginx_server *srv = conf->servers[s];

        for (size_t i = 0; i < srv->n_all_locations; i++) {
            struct rg_nginx_pass *p = (struct rg_nginx_pass *)&srv->all_locations[i]->pass;

            if (p->kind != RG_NGINX_PASS_ADDRESS || p->port)
                continue;
            for (size_t u = 0; u < conf->n_upstreams && !p->upstream; u++)
                if (strcasecmp(conf->upstreams[u]->name, p->host) == 0)
                    p->upstream = conf->upstreams[u];
            if (p->upstream)
                p->kind = RG_NGINX_PASS_UPSTREAM;
            else
                p->port = strcmp(p->scheme, "https") == 0 ? 443 : 80;
        }
    }
    for (size_t i = 0; i < conf->n_logs; i++)
        if (conf->logs[i]->kind == RG_NGINX_LOG_ACCESS && !conf->logs[i]->off)
            conf->logs[i]->format = rg_nginx_conf_log_format(conf, conf->logs[i]->format_name);
}

static int
build(struct rg_nginx_conf *conf, const struct dir *root, struct rg_err *err)
{
    struct level_logs main_logs = {0};
    bool unused = false;
    struct rg_nginx_proxy none;
    int rc = 0;

    proxy_defaults(&none);
    for (size_t i = 0; i < root->n_kids && rc >= 0; i++)
        if (!root->kids[i]->block && strcmp(root->kids[i]->name, "error_log") == 0)
            rc = walk_common(conf, &none, &unused, &main_logs, root->kids[i], RG_NGINX_CTX_MAIN,
                             err);
    for (size_t i = 0; i < root->n_kids && rc >= 0; i++)
        if (root->kids[i]->block && strcmp(root->kids[i]->name, "http") == 0)
            rc = walk_http(conf, root->kids[i], &main_logs, err);
    if (rc >= 0)
        resolve_passes(conf);
    proxy_release(&none);
    level_logs_release(&main_logs);
    return rc < 0 ? rc : 0;
}

int
rg_nginx_conf_parse(struct rg_nginx_conf **out, const char *dump, size_t len, struct rg_err *err)
{
    struct parser ps = {0};
    struct dir root = {0};
    const char *slash;
    int rc;

    *out = NULL;
    ps.conf = rg_calloc(1, sizeof(*ps.conf));
    rg_buf_init(&ps.word, TOKEN_MAX);
    if ((rc = split_dump(&ps, dump, len, err)) < 0)
        goto out;
    slash = strrchr(ps.files[0].name, '/');
    ps.prefix = slash ? rg_strndup(ps.files[0].name, (size_t)(slash - ps.files[0].name) + 1)
                      : rg_strdup("");
    if ((rc = parse_file(&ps, &ps.files[0], &root, 0, err)) < 0 ||
        (rc = build(ps.conf, &root, err)) < 0)
        goto out;
    *out = ps.conf;
    ps.conf = NULL;
out:
    for (size_t i = 0; i < root.n_kids; i++)
        dir_free(root.kids[i]);
    free(root.kids);
    rg_nginx_conf_free(ps.conf);
    free(ps.files);
    free(ps.prefix);
    rg_buf_release(&ps.word);
    return rc;
}

/* ---- freeing ---- */

static void
location_free(struct rg_nginx_location *loc)
{
    if (!loc)
        return;
    for (size_t i = 0; i < loc->n_children; i++)
        location_free(loc->children[i]);
    free(loc->children);
    free(loc->path);
    free(loc->handler);
    free(loc->pass.url);
    free(loc->pass.scheme);
    free(loc->pass.host);
    free(loc->pass.uri);
    proxy_release(&loc->proxy);
    free(loc);
}

void
rg_nginx_conf_free(struct rg_nginx_conf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->n_upstreams; i++) {
        struct rg_nginx_upstream *u = conf->upstreams[i];

        for (size_t j = 0; j < u->n_servers; j++) {
            free(u->servers[j].addr);
            free(u->servers[j].host);
        }
        free(u->servers);
        free(u->name);
        free(u);
    }
    free(conf->upstreams);
    for (size_t i = 0; i < conf->n_servers; i++) {
        struct rg_nginx_server *s = conf->servers[i];

        for (size_t j = 0; j < s->n_listens; j++) {
            free(s->listens[j].addr);
            free(s->listens[j].host);
        }
        free(s->listens);
        for (size_t j = 0; j < s->n_names; j++)
            free(s->names[j]);
        free(s->names);
        for (size_t j = 0; j < s->n_locations; j++)
            location_free(s->locations[j]);
        free(s->locations);
        free(s->all_locations);
        free(s->access_logs);
        free(s->error_logs);
        proxy_release(&s->proxy);
        free(s);
    }
    free(conf->servers);
    for (size_t i = 0; i < conf->n_logs; i++) {
        free(conf->logs[i]->path);
        free(conf->logs[i]->format_name);
        free(conf->logs[i]->level);
        free(conf->logs[i]);
    }
    free(conf->logs);
    for (size_t i = 0; i < conf->n_log_formats; i++) {
        free(conf->log_formats[i]->name);
        free(conf->log_formats[i]->escape);
        free(conf->log_formats[i]->format);
        free(conf->log_formats[i]);
    }
    free(conf->log_formats);
    for (size_t i = 0; i < conf->n_maps; i++) {
        struct rg_nginx_map *m = conf->maps[i];

        for (size_t j = 0; j < m->n; j++) {
            free(m->keys[j]);
            free(m->values[j]);
        }
        free(m->keys);
        free(m->values);
        free(m->source);
        free(m->variable);
        free(m->default_value);
        free(m);
    }
    free(conf->maps);
    for (size_t i = 0; i < conf->n_resolvers; i++) {
        for (size_t j = 0; j < conf->resolvers[i]->n_addrs; j++)
            free(conf->resolvers[i]->addrs[j]);
        free(conf->resolvers[i]->addrs);
        free(conf->resolvers[i]);
    }
    free(conf->resolvers);
    for (size_t i = 0; i < conf->n_files; i++)
        free(conf->files[i]);
    free(conf->files);
    free(conf);
}

/* ---- lookups ---- */

const struct rg_nginx_upstream *
rg_nginx_conf_upstream(const struct rg_nginx_conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->n_upstreams; i++)
        if (strcasecmp(conf->upstreams[i]->name, name) == 0)
            return conf->upstreams[i];
    return NULL;
}

static const struct rg_nginx_log_format combined = {
    .name = "combined",
    .escape = "default",
    .format = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
              "\"$http_referer\" \"$http_user_agent\"",
    .fields = RG_NGINX_FIELD_STATUS,
};

const struct rg_nginx_log_format *
rg_nginx_conf_log_format(const struct rg_nginx_conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->n_log_formats; i++)
        if (strcmp(conf->log_formats[i]->name, name) == 0)
            return conf->log_formats[i];
    return strcmp(name, "combined") == 0 ? &combined : NULL;
}

const struct rg_nginx_header *
rg_nginx_proxy_header(const struct rg_nginx_proxy *proxy, const char *name)
{
    for (size_t i = 0; i < proxy->n_headers; i++)
        if (strcasecmp(proxy->headers[i].name, name) == 0)
            return &proxy->headers[i];
    return NULL;
}

/* PCRE as POSIX extended: the classes and groups nginx configurations use. */
static char *
pcre_to_ere(const char *re)
{
    struct rg_buf b;
    bool bracket = false;

    rg_buf_init(&b, 4 * strlen(re) + 64);
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            char c = *++p;
            const char *cls = c == 'd'   ? "0-9"
                              : c == 'w' ? "A-Za-z0-9_"
                              : c == 's' ? "[:space:]"
                                         : NULL;

            if (cls && bracket)
                rg_buf_adds(&b, cls);
            else if (cls)
                rg_buf_addf(&b, "[%s]", cls);
            else if ((c == 'D' || c == 'W' || c == 'S') && !bracket)
                rg_buf_addf(&b, "[^%s]", c == 'D' ? "0-9" : c == 'W' ? "A-Za-z0-9_" : "[:space:]");
            else if (bracket)
                rg_buf_add(&b, &c, 1); /* a backslash is literal inside POSIX brackets */
            else
                rg_buf_addf(&b, "\\%c", c);
            continue;
        }
        if (!bracket && *p == '(' && p[1] == '?') {
            const char *q = p + 2;

            if (*q == ':') {
                p = q;
            } else if (*q == '<' || *q == 'P' || *q == '\'') { /* named groups */
                const char *close = strpbrk(q + 1, ">'");

                if (close)
                    p = close;
            }
            rg_buf_adds(&b, "(");
            continue;
        }
        if (*p == '[' && !bracket) {
            bracket = true;
            rg_buf_add(&b, p, 1);
            if (p[1] == '^')
                rg_buf_add(&b, ++p, 1);
            if (p[1] == ']')
                rg_buf_add(&b, ++p, 1);
            continue;
        }
        if (*p == ']' && bracket)
            bracket = false;
        rg_buf_add(&b, p, 1);
    }
    return b.data ? rg_buf_detach(&b) : rg_strdup("");
}

static bool
regex_match(const char *re, const char *s, bool icase)
{
    regex_t rx;
    char *ere = pcre_to_ere(re);
    bool hit = false;

    if (rg_regex_compile(&rx, ere, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0), NULL) == 0) {
        hit = regexec(&rx, s, 0, NULL, 0) == 0;
        regfree(&rx);
    }
    free(ere);
    return hit;
}

enum find { FIND_NONE, FIND_PREFIX, FIND_FINAL };

/* ngx_http_core_find_location over one level of locations. */
static enum find
find_location(struct rg_nginx_location *const *locs, size_t n, const char *uri,
              const struct rg_nginx_location **out)
{
    const struct rg_nginx_location *best = NULL;
    size_t best_len = 0;
    enum find rc = FIND_NONE;

    for (size_t i = 0; i < n; i++) {
        const struct rg_nginx_location *l = locs[i];
        size_t len = strlen(l->path);

        if (l->match == RG_NGINX_MATCH_EXACT && strcmp(l->path, uri) == 0) {
            *out = l;
            return FIND_FINAL;
        }
        if ((l->match == RG_NGINX_MATCH_PREFIX || l->match == RG_NGINX_MATCH_NOREGEX) &&
            strncmp(uri, l->path, len) == 0 && (!best || len > best_len)) {
            best = l;
            best_len = len;
        }
    }
    if (best) {
        *out = best;
        rc = FIND_PREFIX;
        if (best->n_children) {
            enum find inner = find_location(best->children, best->n_children, uri, out);

            if (inner == FIND_FINAL)
                return FIND_FINAL;
        }
        if (best->match == RG_NGINX_MATCH_NOREGEX)
            return FIND_FINAL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct rg_nginx_location *l = locs[i];

        if ((l->match == RG_NGINX_MATCH_REGEX || l->match == RG_NGINX_MATCH_IREGEX) &&
            regex_match(l->path, uri, l->match == RG_NGINX_MATCH_IREGEX)) {
            *out = l;
            if (l->n_children)
                find_location(l->children, l->n_children, uri, out);
            return FIND_FINAL;
        }
    }
    return rc;
}

const struct rg_nginx_location *
rg_nginx_server_location(const struct rg_nginx_server *srv, const char *uri)
{
    const struct rg_nginx_location *loc = NULL;
    const char *q = strchr(uri, '?');
    char *path = q ? rg_strndup(uri, (size_t)(q - uri)) : rg_strdup(uri);

    find_location(srv->locations, srv->n_locations, path, &loc);
    free(path);
    return loc;
}

static bool
listens_on(const struct rg_nginx_server *srv, int port)
{
    if (!srv->n_listens)
        return port == 0 || port == 80;
    for (size_t i = 0; i < srv->n_listens; i++)
        if (port == 0 || srv->listens[i].port == port)
            return true;
    return false;
}

static bool
is_default(const struct rg_nginx_server *srv, int port)
{
    for (size_t i = 0; i < srv->n_listens; i++)
        if (srv->listens[i].default_server && (port == 0 || srv->listens[i].port == port))
            return true;
    return false;
}

static const struct rg_nginx_server *
server_for(const struct rg_nginx_conf *conf, int port, const char *host)
{
    const struct rg_nginx_server *first = NULL, *dflt = NULL, *lead = NULL, *trail = NULL,
                                 *rx = NULL;
    size_t lead_len = 0, trail_len = 0;
    char *h = NULL;

    if (host && *host) {
        const char *colon = strchr(host, ':');

        h = colon ? rg_strndup(host, (size_t)(colon - host)) : rg_strdup(host);
    }
    for (size_t i = 0; i < conf->n_servers; i++) {
        const struct rg_nginx_server *s = conf->servers[i];

        if (!listens_on(s, port))
            continue;
        if (!first)
            first = s;
        if (!dflt && is_default(s, port))
            dflt = s;
        for (size_t j = 0; h && j < s->n_names; j++) {
            const char *n = s->names[j];
            size_t nl = strlen(n), hl = strlen(h);

            if (strcasecmp(n, h) == 0) {
                free(h);
                return s;
            }
            if (n[0] == '~') {
                if (!rx && regex_match(n + 1, h, true))
                    rx = s;
            } else if ((n[0] == '*' && n[1] == '.') || n[0] == '.') {
                const char *suffix = n[0] == '*' ? n + 1 : n;
                size_t sl = strlen(suffix);
                bool hit = (hl > sl && strcasecmp(h + hl - sl, suffix) == 0) ||
                           (n[0] == '.' && strcasecmp(h, n + 1) == 0);

                if (hit && nl > lead_len)
                    lead = s, lead_len = nl;
            } else if (nl > 2 && n[nl - 1] == '*' && n[nl - 2] == '.') {
                if (hl > nl - 1 && strncasecmp(h, n, nl - 1) == 0 && nl > trail_len)
                    trail = s, trail_len = nl;
            }
        }
    }
    free(h);
    return lead ? lead : trail ? trail : rx ? rx : dflt ? dflt : first;
}

static bool
proxies_root(const struct rg_nginx_server *srv)
{
    const struct rg_nginx_location *loc = srv ? rg_nginx_server_location(srv, "/") : NULL;

    return loc && loc->pass.kind != RG_NGINX_PASS_NONE;
}

const struct rg_nginx_server *
rg_nginx_conf_server(const struct rg_nginx_conf *conf, int port, const char *host)
{
    const struct rg_nginx_server *cand[3];

    if (port || (host && *host))
        return server_for(conf, port, host);
    /* No port and no host: the server the site's users reach. A catch-all default_server on
     * another port (return 444) is not it; the one on 443 or 80 that proxies "/" is. */
    cand[0] = server_for(conf, 443, NULL);
    cand[1] = server_for(conf, 80, NULL);
    cand[2] = server_for(conf, 0, NULL);
    for (size_t i = 0; i < 3; i++)
        if (proxies_root(cand[i]))
            return cand[i];
    for (size_t i = 0; i < conf->n_servers; i++)
        if (proxies_root(conf->servers[i]))
            return conf->servers[i];
    return cand[2];
}

/* ---- checks ---- */

void
rg_nginx_problems_release(struct rg_nginx_problems *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].message);
        free(p->v[i].fix);
    }
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

static void __attribute__((format(printf, 4, 5)))
problem(struct rg_nginx_problems *out, struct rg_nginx_where where, char *fix, const char *fmt, ...)
{
    struct rg_buf b;
    va_list ap;

    rg_buf_init(&b, 4096);
    va_start(ap, fmt);
    rg_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    out->v = rg_grow(out->v, &out->cap, out->n + 1, sizeof(*out->v));
    out->v[out->n++] = (struct rg_nginx_problem){where, rg_buf_detach(&b), fix};
}

/* "file:line" of w, or what nginx does when nobody set it. */
static const char *
at(char *buf, size_t size, struct rg_nginx_where w)
{
    if (w.file)
        snprintf(buf, size, "%s:%d", w.file, w.line);
    else
        snprintf(buf, size, "nginx's default");
    return buf;
}

static char *
describe_pass(const struct rg_nginx_pass *p)
{
    struct rg_buf b;

    rg_buf_init(&b, 4096);
    switch (p->kind) {
    case RG_NGINX_PASS_UPSTREAM:
        rg_buf_addf(&b, "upstream '%s' (", p->upstream->name);
        for (size_t i = 0; i < p->upstream->n_servers; i++)
            rg_buf_addf(&b, "%s%s", i ? ", " : "", p->upstream->servers[i].addr);
        rg_buf_adds(&b, p->upstream->n_servers ? ")" : "no server)");
        break;
    case RG_NGINX_PASS_ADDRESS: rg_buf_addf(&b, "'%s:%d'", p->host, p->port); break;
    case RG_NGINX_PASS_UNIX: rg_buf_addf(&b, "socket '%s'", p->host); break;
    default: rg_buf_addf(&b, "'%s'", p->url ? p->url : ""); break;
    }
    return rg_buf_detach(&b);
}

static bool
same_target(const struct rg_nginx_pass *a, const struct rg_nginx_pass *b)
{
    if (a->kind != b->kind || a->kind == RG_NGINX_PASS_NONE)
        return false;
    switch (a->kind) {
    case RG_NGINX_PASS_UPSTREAM: return a->upstream == b->upstream;
    case RG_NGINX_PASS_ADDRESS: return a->port == b->port && strcasecmp(a->host, b->host) == 0;
    case RG_NGINX_PASS_UNIX: return strcmp(a->host, b->host) == 0;
    default: return strcmp(a->url, b->url) == 0;
    }
}

/* Whether requests through p can reach port; true when it cannot be told (sockets, variables). */
static bool
reaches_port(const struct rg_nginx_pass *p, int port)
{
    if (p->kind == RG_NGINX_PASS_ADDRESS)
        return p->port == port;
    if (p->kind != RG_NGINX_PASS_UPSTREAM || !p->upstream->n_servers)
        return true;
    for (size_t i = 0; i < p->upstream->n_servers; i++)
        if (p->upstream->servers[i].is_unix || p->upstream->servers[i].port == port)
            return true;
    return false;
}

static const char *
match_prefix(enum rg_nginx_match m)
{
    switch (m) {
    case RG_NGINX_MATCH_EXACT: return "= ";
    case RG_NGINX_MATCH_NOREGEX: return "^~ ";
    case RG_NGINX_MATCH_REGEX: return "~ ";
    case RG_NGINX_MATCH_IREGEX: return "~* ";
    default: return "";
    }
}

/* The proxy_pass a new location for Odoo's gevent port should use. */
static char *
gevent_target(const struct rg_nginx_conf *conf, const struct rg_nginx_pass *main_pass, int port)
{
    if (port <= 0)
        port = 8072;
    for (size_t i = 0; i < conf->n_upstreams; i++)
        for (size_t j = 0; j < conf->upstreams[i]->n_servers; j++)
            if (conf->upstreams[i]->servers[j].port == port)
                return rg_asprintf("http://%s", conf->upstreams[i]->name);
    if (main_pass && main_pass->kind == RG_NGINX_PASS_ADDRESS)
        return rg_asprintf("http://%s:%d", main_pass->host, port);
    if (main_pass && main_pass->kind == RG_NGINX_PASS_UPSTREAM && main_pass->upstream->n_servers &&
        !main_pass->upstream->servers[0].is_unix)
        return rg_asprintf("http://%s:%d", main_pass->upstream->servers[0].host, port);
    return rg_asprintf("http://127.0.0.1:%d", port);
}

/* Whether the Connection value makes nginx ask the upstream for an upgrade. */
static bool
connection_upgrades(const struct rg_nginx_conf *conf, const char *value)
{
    if (strcasecmp(value, "upgrade") == 0 || strcmp(value, "$http_connection") == 0)
        return true;
    if (value[0] != '$')
        return false;
    for (size_t i = 0; i < conf->n_maps; i++) {
        const struct rg_nginx_map *m = conf->maps[i];

        if (strcmp(m->variable, value) != 0)
            continue;
        if (strcasecmp(m->default_value, "upgrade") == 0)
            return true;
        for (size_t j = 0; j < m->n; j++)
            if (strcasecmp(m->values[j], "upgrade") == 0)
                return true;
        return false;
    }
    return false;
}

/* A location of its own for Odoo's real-time channel: where it sends requests and, for a
 * WebSocket, whether it can upgrade. */
static void
check_channel(struct rg_nginx_problems *out, const struct rg_nginx_conf *conf,
              const struct rg_nginx_location *loc, const struct rg_nginx_location *main_loc,
              const char *name, int gevent_port)
{
    const struct rg_nginx_pass *mp = main_loc ? &main_loc->pass : NULL;
    const struct rg_nginx_header *up, *conn;
    bool v11, up_ok, conn_ok;
    struct rg_buf why, fix;
    char w1[512], w2[512];
    char *desc, *target = gevent_target(conf, mp, gevent_port);

    if (loc->pass.kind == RG_NGINX_PASS_NONE) {
        problem(out, loc->where, rg_asprintf("proxy_pass %s;", target),
                "location '%s%s' at %s serves '%s' without proxy_pass: Odoo never sees it",
                match_prefix(loc->match), loc->path, at(w1, sizeof(w1), loc->where), name);
        free(target);
        return;
    }
    desc = describe_pass(&loc->pass);
    if (mp && same_target(&loc->pass, mp))
        problem(out, loc->pass.where, rg_asprintf("proxy_pass %s;", target),
                "location '%s%s' is proxied at %s to %s, the same as '/': Odoo answers '%s' "
                "only on its gevent port %d",
                match_prefix(loc->match), loc->path, at(w1, sizeof(w1), loc->pass.where), desc,
                name, gevent_port > 0 ? gevent_port : 8072);
    else if (gevent_port > 0 && !reaches_port(&loc->pass, gevent_port))
        problem(out, loc->pass.where, rg_asprintf("proxy_pass %s;", target),
                "location '%s%s' is proxied at %s to %s, not to Odoo's gevent port %d",
                match_prefix(loc->match), loc->path, at(w1, sizeof(w1), loc->pass.where), desc,
                gevent_port);
    free(desc);
    free(target);
    if (strcmp(name, "/websocket") != 0)
        return; /* long polling is plain HTTP */
    up = rg_nginx_proxy_header(&loc->proxy, "Upgrade");
    conn = rg_nginx_proxy_header(&loc->proxy, "Connection");
    v11 = strcmp(loc->proxy.http_version, "1.1") == 0;
    up_ok =
        up && (strcmp(up->value, "$http_upgrade") == 0 || strcasecmp(up->value, "websocket") == 0);
    conn_ok = conn && connection_upgrades(conf, conn->value);
    if (v11 && up_ok && conn_ok)
        return;
    rg_buf_init(&why, 2048);
    rg_buf_init(&fix, 2048);
    if (!v11) {
        rg_buf_addf(&why, "HTTP/%s to the upstream (%s)", loc->proxy.http_version,
                    at(w2, sizeof(w2), loc->proxy.http_version_where));
        rg_buf_adds(&fix, "proxy_http_version 1.1;\n");
    }
    if (!up_ok) {
        rg_buf_addf(&why, "%sUpgrade header %s", why.len ? ", " : "",
                    up ? "not $http_upgrade" : "not passed");
        rg_buf_adds(&fix, "proxy_set_header Upgrade $http_upgrade;\n");
    }
    if (!conn_ok) {
        if (conn)
            rg_buf_addf(&why, "%sConnection '%s'%s", why.len ? ", " : "", conn->value,
                        conn->value[0] == '$' ? " (no map gives \"upgrade\")" : "");
        else
            rg_buf_addf(&why, "%sConnection 'close' (nginx's default)", why.len ? ", " : "");
        rg_buf_adds(&fix, "proxy_set_header Connection \"upgrade\";\n");
    }
    if ((!up_ok || !conn_ok) && loc->proxy.shadowed_where.file)
        rg_buf_addf(&why, "; its proxy_set_header at %s hides the ones at %s",
                    at(w2, sizeof(w2), loc->proxy.headers_where),
                    at(w1, sizeof(w1), loc->proxy.shadowed_where));
    problem(out, loc->where, rg_buf_detach(&fix),
            "location '%s%s' at %s cannot upgrade '%s' to a WebSocket: %s",
            match_prefix(loc->match), loc->path, at(w1, sizeof(w1), loc->where), name, why.data);
    rg_buf_release(&why);
    rg_buf_release(&fix);
}

size_t
rg_nginx_check_websocket(struct rg_nginx_problems *out, const struct rg_nginx_conf *conf,
                         const struct rg_nginx_server *srv, int odoo_major, int gevent_port)
{
    const struct rg_nginx_location *main_loc = rg_nginx_server_location(srv, "/web/login");
    const struct rg_nginx_location *ws = rg_nginx_server_location(srv, "/websocket");
    const struct rg_nginx_location *lp = rg_nginx_server_location(srv, "/longpolling/poll");
    const struct rg_nginx_pass *mp = main_loc ? &main_loc->pass : NULL;
    const char *name;
    size_t before = out->n;
    char *target, *desc;
    char w1[512];

    /* "of its own": not the location that serves the rest of Odoo */
    if (ws == main_loc)
        ws = NULL;
    if (lp == main_loc)
        lp = NULL;
    if (odoo_major >= 16)
        lp = NULL;
    else if (odoo_major > 0)
        ws = NULL;
    if (ws)
        check_channel(out, conf, ws, main_loc, "/websocket", gevent_port);
    if (lp)
        check_channel(out, conf, lp, main_loc, "/longpolling", gevent_port);
    if (ws || lp)
        return out->n - before;

    name = odoo_major > 0 && odoo_major < 16 ? "/longpolling" : "/websocket";
    target = gevent_target(conf, mp, gevent_port);
    desc = mp && mp->kind != RG_NGINX_PASS_NONE ? describe_pass(mp) : rg_strdup("nowhere");
    problem(out, srv->where,
            rg_asprintf("location %s {\n    proxy_pass %s;\n%s"
                        "    proxy_set_header Host $host;\n"
                        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                        "    proxy_set_header X-Forwarded-Proto $scheme;\n}",
                        name, target,
                        name[1] == 'w' ? "    proxy_http_version 1.1;\n"
                                         "    proxy_set_header Upgrade $http_upgrade;\n"
                                         "    proxy_set_header Connection \"upgrade\";\n"
                                       : ""),
            "the server at %s has no location for '%s'%s: it goes %s %s, not to Odoo's gevent "
            "port %d",
            at(w1, sizeof(w1), srv->where), name,
            odoo_major ? "" : " (Odoo 16+) nor '/longpolling' (Odoo 15 and older)",
            main_loc ? "where '/' goes," : "to", desc, gevent_port > 0 ? gevent_port : 8072);
    free(target);
    free(desc);
    return out->n - before;
}

size_t
rg_nginx_check_timeouts(struct rg_nginx_problems *out, const struct rg_nginx_conf *conf,
                        const struct rg_nginx_server *srv, const char *uri, int64_t app_limit_ms,
                        const char *app_what)
{
    const struct rg_nginx_location *base = rg_nginx_server_location(srv, uri ? uri : "/");
    const struct rg_nginx_location **cands = NULL;
    bool *done = NULL;
    size_t n = 0, before = out->n;
    int64_t want_s = (app_limit_ms + 999) / 1000 + 30;

    (void)conf;
    if (!app_what)
        app_what = "the app's own limit";
    if (!base || base->pass.kind == RG_NGINX_PASS_NONE)
        return 0;
    for (size_t i = 0; i < srv->n_all_locations; i++) {
        const struct rg_nginx_location *l = srv->all_locations[i];

        if ((l == base || same_target(&l->pass, &base->pass)) &&
            l->proxy.read_timeout.ms < app_limit_ms)
            PUSH(cands, n, l);
    }
    done = rg_calloc(n + 1, sizeof(*done));
    for (size_t i = 0; i < n; i++) {
        struct rg_nginx_where w = cands[i]->proxy.read_timeout.where;
        struct rg_buf names;
        char t1[64], t2[64], w1[512];
        char *fix;

        if (done[i])
            continue;
        rg_buf_init(&names, 4096);
        for (size_t j = i; j < n; j++) {
            struct rg_nginx_where wj = cands[j]->proxy.read_timeout.where;

            if (done[j] || wj.file != w.file || wj.line != w.line)
                continue;
            done[j] = true;
            rg_buf_addf(&names, "%s'%s%s'", names.len ? ", " : "", match_prefix(cands[j]->match),
                        cands[j]->path);
        }
        if (w.file)
            fix = rg_asprintf("proxy_read_timeout %llds;  # at %s:%d", (long long)want_s, w.file,
                              w.line);
        else
            fix = rg_asprintf("proxy_read_timeout %llds;  # in the server block at %s:%d",
                              (long long)want_s, srv->where.file, srv->where.line);
        problem(out, w.file ? w : srv->where, fix,
                "proxy_read_timeout is %s (%s) for location %s, shorter than %s (%s): a request "
                "still running after %s gets a 504 from nginx",
                rg_duration_format(t1, sizeof(t1), cands[i]->proxy.read_timeout.ms),
                at(w1, sizeof(w1), w), names.data, app_what,
                rg_duration_format(t2, sizeof(t2), app_limit_ms),
                rg_duration_format(t1, sizeof(t1), cands[i]->proxy.read_timeout.ms));
        rg_buf_release(&names);
    }
    free(done);
    free(cands);
    return out->n - before;
}

size_t
rg_nginx_check_proxy_headers(struct rg_nginx_problems *out, const struct rg_nginx_conf *conf,
                             const struct rg_nginx_server *srv, const char *uri)
{
    static const struct {
        const char *name, *value;
    } need[] = {
        {"X-Forwarded-Host", "$host"},
        {"X-Forwarded-For", "$proxy_add_x_forwarded_for"},
        {"X-Forwarded-Proto", "$scheme"},
        {"X-Real-IP", "$remote_addr"},
    };
    const struct rg_nginx_location *loc = rg_nginx_server_location(srv, uri ? uri : "/");
    struct rg_buf missing, fix;
    char w1[512], w2[512], w3[512];

    (void)conf;
    if (!loc || loc->pass.kind == RG_NGINX_PASS_NONE)
        return 0;
    rg_buf_init(&missing, 1024);
    rg_buf_init(&fix, 2048);
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        const struct rg_nginx_header *h = rg_nginx_proxy_header(&loc->proxy, need[i].name);

        if (h && *h->value)
            continue;
        rg_buf_addf(&missing, "%s%s", missing.len ? ", " : "", need[i].name);
        rg_buf_addf(&fix, "proxy_set_header %s %s;\n", need[i].name, need[i].value);
    }
    if (!missing.len) {
        rg_buf_release(&missing);
        rg_buf_release(&fix);
        return 0;
    }
    if (loc->proxy.shadowed_where.file)
        problem(out, loc->proxy.headers_where, rg_buf_detach(&fix),
                "location '%s%s' at %s does not send %s to the upstream: its own "
                "proxy_set_header at %s hides those set at %s (nginx inherits proxy_set_header "
                "only into a block that sets none); Odoo's proxy_mode needs them for the "
                "client's address, host and scheme",
                match_prefix(loc->match), loc->path, at(w1, sizeof(w1), loc->where), missing.data,
                at(w2, sizeof(w2), loc->proxy.headers_where),
                at(w3, sizeof(w3), loc->proxy.shadowed_where));
    else
        problem(out, loc->proxy.headers_where.file ? loc->proxy.headers_where : loc->where,
                rg_buf_detach(&fix),
                "location '%s%s' at %s does not send %s to the upstream: Odoo's proxy_mode "
                "needs them for the client's address, host and scheme",
                match_prefix(loc->match), loc->path, at(w1, sizeof(w1), loc->where), missing.data);
    rg_buf_release(&missing);
    rg_buf_release(&fix);
    return 1;
}

void
rg_nginx_conf_targets(struct rg_nginx_target **out, size_t *n_out, const struct rg_nginx_conf *conf)
{
    struct rg_nginx_target *v = NULL;
    size_t n = 0;

    for (size_t i = 0; i < conf->n_upstreams; i++) {
        const struct rg_nginx_upstream *u = conf->upstreams[i];

        for (size_t j = 0; j < u->n_servers; j++) {
            const struct rg_nginx_upstream_server *s = &u->servers[j];
            struct rg_nginx_target t = {u->name,   s->host, s->port, s->is_unix,
                                        s->backup, s->down, s->where};

            PUSH(v, n, t);
        }
    }
    for (size_t i = 0; i < conf->n_servers; i++) {
        const struct rg_nginx_server *srv = conf->servers[i];

        for (size_t j = 0; j < srv->n_all_locations; j++) {
            const struct rg_nginx_pass *p = &srv->all_locations[j]->pass;
            struct rg_nginx_target t = {NULL,  p->host, p->port, p->kind == RG_NGINX_PASS_UNIX,
                                        false, false,   p->where};
            bool seen = false;

            if (p->kind != RG_NGINX_PASS_ADDRESS && p->kind != RG_NGINX_PASS_UNIX)
                continue;
            for (size_t k = 0; k < n && !seen; k++)
                seen = !v[k].upstream && v[k].port == t.port && strcmp(v[k].host, t.host) == 0;
            if (!seen)
                PUSH(v, n, t);
        }
    }
    *out = v;
    *n_out = n;
}
