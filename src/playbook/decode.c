/* Table-driven decoding of YAML nodes into the model: one place that knows types, required keys
 * and unknown keys, so every section reports problems the same way and keeps going. */
#include <regex.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *
process_getenv(const char *name, void *data)
{
    (void)data;
    return getenv(name);
}

char *
pb_scalar_string(struct pb_ctx *c, const struct pb_node *n, bool noexpand, const char *what)
{
    struct rg_err err;
    char *out = NULL;

    if (n->kind != PB_SCALAR || pb_is_null(n)) {
        pb_error(c, n, "expected %s, got %s", what, pb_kind_noun(n));
        return NULL;
    }
    c->placeheld = false;
    if (noexpand)
        return rg_strdup(n->str);
    if (pb_interpolate(&out, n->str, c->getenv ? c->getenv : process_getenv, c->getenv_data,
                       c->placeholders ? &c->placeheld : NULL, &err) < 0) {
        pb_error(c, n, "%s", err.msg);
        return NULL;
    }
    return out;
}

int
pb_check_regex(struct pb_ctx *c, const struct pb_node *n, const char *re)
{
    struct rg_err err;
    struct rg_buf posix;
    char found = 0;
    bool in_brackets = false;
    regex_t rx;
    int perl;

    /* Valid POSIX, but never what the writer meant: '\d' matches the letter 'd'. */
    rg_buf_init(&posix, 4096);
    if ((perl = pb_regex_perl_escapes(&posix, &found, &in_brackets, re)) > 0) {
        struct rg_buf quoted;
        char means[96];
        rg_buf_init(&quoted, 4200);
        pb_yaml_flow_item(&quoted, posix.data ? posix.data : "");
        if (in_brackets)
            snprintf(means, sizeof(means), "inside brackets it means a backslash or the letter "
                     "'%c'", found);
        else
            snprintf(means, sizeof(means), "it means the letter '%c'", found);
        if (perl == 1)
            pb_error(c, n, "'\\%c' is Perl regex syntax; rollgate's regular expressions are "
                           "POSIX extended, where %s: write %s",
                     found, means, quoted.data);
        else
            pb_error(c, n, "'\\%c' is Perl regex syntax; rollgate's regular expressions are "
                           "POSIX extended, where %s: inside brackets use [:digit:], [:alnum:] "
                           "or [:space:], and for a negation a [^...] of its own",
                     found, means);
        rg_buf_release(&quoted);
        rg_buf_release(&posix);
        return -1;
    }
    rg_buf_release(&posix);
    if (rg_regex_compile(&rx, re, REG_EXTENDED | REG_NOSUB, &err) < 0) {
        pb_error(c, n, "%s", err.msg);
        return -1;
    }
    regfree(&rx);
    return 0;
}

/* base + p with "." and ".." segments and repeated slashes folded, without touching the disk
 * (the target machine may not be this one). */
char *
pb_path_join(const char *base, const char *p)
{
    char *joined = p[0] == '/' ? rg_strdup(p) : rg_asprintf("%s/%s", base, p);
    size_t len = strlen(joined), out = 0;
    char *norm = rg_malloc(len + 2);

    for (size_t i = 0; i < len;) {
        size_t seg;
        while (joined[i] == '/')
            i++;
        seg = strcspn(joined + i, "/");
        if (seg == 0)
            break;
        if (seg == 1 && joined[i] == '.') {
            /* nothing */
        } else if (seg == 2 && joined[i] == '.' && joined[i + 1] == '.') {
            while (out > 0 && norm[--out] != '/')
                ;
        } else {
            norm[out++] = '/';
            memcpy(norm + out, joined + i, seg);
            out += seg;
        }
        i += seg;
    }
    if (out == 0)
        norm[out++] = '/';
    norm[out] = '\0';
    free(joined);
    return norm;
}

/* A command written as one string is the shell habit rollgate refuses: show the argv form,
 * split as the shell would have split it and quoted so that YAML reads it back the same. */
static void
argv_from_string_error(struct pb_ctx *c, const struct pb_node *n)
{
    struct rg_buf hint;
    struct rg_strv words = {0};
    const char *op = NULL;

    rg_buf_init(&hint, 1024);
    /* What only a shell gives: pipes, lists, redirections, expansions, globs, comments, a
     * second line. */
    for (const char *const *o = (const char *const[]){"|", ";", "&", ">", "<", "$", "`", "\n",
                                                       "*", "?", "[", " #", NULL};
         *o; o++)
        if (strstr(n->str, *o)) {
            op = *o;
            break;
        }
    if (!op && (n->str[0] == '#' || n->str[0] == '~' || strstr(n->str, " ~")))
        op = n->str[0] == '#' ? "#" : "~";
    if (op && strcmp(op, "\n") == 0)
        op = "a newline";
    if (op || pb_shell_words(&words, n->str) < 0) {
        pb_yaml_flow_item(&hint, n->str);
        pb_error(c, n,
                 "expected an argv array, got the string '%s': commands never run through a "
                 "shell, and this one needs one%s%s%s: put it in a script and run that, or "
                 "write [sh, -c, %s] if a shell is what you mean",
                 n->str, op ? " ('" : " (an unclosed quote)", op ? op : "", op ? "')" : "",
                 hint.data);
    } else {
        for (size_t i = 0; i < words.n; i++) {
            if (i)
                rg_buf_adds(&hint, ", ");
            pb_yaml_flow_item(&hint, words.v[i]);
        }
        pb_error(c, n,
                 "expected an argv array, got the string '%s': commands never run through a "
                 "shell, write it as [%s]%s",
                 n->str, hint.data ? hint.data : "", hint.truncated ? "..." : "");
    }
    rg_strv_release(&words);
    rg_buf_release(&hint);
}

static int
decode_strlist(struct pb_ctx *c, const struct pb_node *n, struct rg_strv *sv, bool argv,
               unsigned flags)
{
    int rc = 0;

    rg_strv_release(sv);
    if (n->kind == PB_SCALAR && !pb_is_null(n) && !argv) {
        char *s = pb_scalar_string(c, n, flags & PB_NOINTERP, "a string");
        if (!s)
            return -1;
        rg_strv_push(sv, s);
        free(s);
        return 0;
    }
    if (n->kind == PB_SCALAR && !pb_is_null(n)) {
        argv_from_string_error(c, n);
        return -1;
    }
    if (n->kind != PB_SEQ) {
        pb_error(c, n, "expected %s, got %s",
                 argv ? "an argv array such as [program, arg]" : "a list of strings",
                 pb_kind_noun(n));
        return -1;
    }
    if (argv && n->n == 0) {
        pb_error(c, n, "an argv array needs at least the program to run");
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = pb_path_push(c, NULL, i);
        char *s = pb_scalar_string(c, n->items[i], flags & PB_NOINTERP, "a string");
        if (s) {
            rg_strv_push(sv, s);
            free(s);
        } else {
            rc = -1;
        }
        pb_path_pop(c, mark);
    }
    return rc;
}

static int
decode_kvmap(struct pb_ctx *c, const struct pb_node *n, void *field, unsigned flags)
{
    struct rg_kv **kv = field;
    size_t *count = (size_t *)((char *)field + sizeof(struct rg_kv *));
    int rc = 0;

    if (n->kind != PB_MAP) {
        pb_error(c, n, "expected a mapping of names to strings, got %s", pb_kind_noun(n));
        return -1;
    }
    *kv = rg_calloc(n->n, sizeof(**kv));
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = pb_path_push(c, pb_map_key(n, i)->str, 0);
        char *v = pb_scalar_string(c, pb_map_value(n, i), flags & PB_NOINTERP, "a string");
        if (v) {
            (*kv)[*count].key = rg_strdup(pb_map_key(n, i)->str);
            (*kv)[(*count)++].value = v;
        } else {
            rc = -1;
        }
        pb_path_pop(c, mark);
    }
    return rc;
}

int
pb_decode_field(struct pb_ctx *c, const struct pb_node *n, const struct pb_field *f, void *obj)
{
    void *field = (char *)obj + f->off;
    bool noexp = f->flags & PB_NOINTERP;
    struct rg_err err;
    char *s = NULL;
    int rc = -1;

    switch (f->type) {
    case PB_T_STR:
    case PB_T_PATH:
    case PB_T_REGEX:
        if (!(s = pb_scalar_string(c, n, noexp, f->type == PB_T_PATH ? "a path" : "a string")))
            return -1;
        if (f->type == PB_T_STR && !f->check && !s[0] && (f->flags & PB_REQUIRED)) {
            pb_error(c, n, "must not be empty");
            break;
        }
        if (f->type == PB_T_REGEX && pb_check_regex(c, n, s) < 0)
            break;
        /* A placeholder is no URL or name yet: its form is checked when it is set. */
        if (f->check && !c->placeheld && f->check(c, n, s) < 0)
            break;
        if (f->type == PB_T_PATH) {
            char *abs;
            if (!s[0]) {
                pb_error(c, n, "expected a path, got an empty string");
                break;
            }
            if (s[0] == '~') {
                pb_error(c, n, "'%s': '~' is not expanded; write the absolute path", s);
                break;
            }
            abs = pb_path_join(c->base_dir, s);
            free(s);
            s = abs;
        }
        free(*(char **)field);
        *(char **)field = s;
        return 0;
    case PB_T_INT: {
        long long v;
        if (!(s = pb_scalar_string(c, n, noexp, "a whole number")))
            return -1;
        if (c->placeheld) { /* a value the environment gives later: the default stands in */
            rc = 0;
            break;
        }
        if (rg_int_parse(&v, s, f->min, f->max, &err) < 0) {
            pb_error(c, n, "%s", err.msg);
            break;
        }
        *(int *)field = (int)v;
        rc = 0;
        break;
    }
    case PB_T_BOOL:
        if (!(s = pb_scalar_string(c, n, noexp, "true or false")))
            return -1;
        if (c->placeheld) {
            rc = 0;
            break;
        }
        if (strcmp(s, "true") == 0) {
            *(bool *)field = true;
        } else if (strcmp(s, "false") == 0) {
            *(bool *)field = false;
        } else {
            pb_error(c, n, "expected true or false, got '%s'", s);
            break;
        }
        rc = 0;
        break;
    case PB_T_DURATION:
        if (!(s = pb_scalar_string(c, n, noexp, "a duration such as 2s")))
            return -1;
        if (c->placeheld) { /* a value the environment gives later: the default stands in */
            rc = 0;
            break;
        }
        if (rg_duration_parse((int64_t *)field, s, &err) < 0) {
            pb_error(c, n, "%s", err.msg);
            break;
        }
        rc = 0;
        break;
    case PB_T_PERCENT:
        if (!(s = pb_scalar_string(c, n, noexp, "a percentage such as 80%")))
            return -1;
        if (c->placeheld) { /* a value the environment gives later: the default stands in */
            rc = 0;
            break;
        }
        if (rg_percent_parse((int *)field, s, &err) < 0) {
            pb_error(c, n, "%s", err.msg);
            break;
        }
        rc = 0;
        break;
    case PB_T_ARGV:
    case PB_T_STRLIST:
        return decode_strlist(c, n, field, f->type == PB_T_ARGV, f->flags);
    case PB_T_KVMAP:
        return decode_kvmap(c, n, field, f->flags);
    case PB_T_MAP:
        return pb_decode_map(c, n, f->sub, field, NULL);
    case PB_T_CUSTOM:
        return f->decode(c, n, field);
    }
    free(s);
    return rc;
}

/* Reports an unknown key; returns the key it suggests instead, or NULL. */
static const char *
unknown_key(struct pb_ctx *c, const struct pb_node *key, const struct pb_field *fields,
            const char *skip_key)
{
    const char *names[64];
    size_t n = 0;
    const char *best;
    struct rg_buf allowed;

    if (skip_key)
        names[n++] = skip_key;
    for (const struct pb_field *f = fields; f->key && n < 64; f++)
        names[n++] = f->key;
    if ((best = rg_suggest(key->str, names, n))) {
        pb_error(c, key, "unknown key '%s' (did you mean '%s'?)", key->str, best);
        return best;
    }
    rg_buf_init(&allowed, 300);
    for (size_t i = 0; i < n; i++)
        rg_buf_addf(&allowed, "%s%s", i ? ", " : "", names[i]);
    pb_error(c, key, "unknown key '%s' (allowed: %s)", key->str, allowed.data ? allowed.data : "");
    rg_buf_release(&allowed);
    return NULL;
}

int
pb_decode_map(struct pb_ctx *c, const struct pb_node *n, const struct pb_field *fields,
              void *obj, const char *skip_key)
{
    uint64_t seen = 0;
    int rc = 0;

    if (n->kind != PB_MAP) {
        pb_error(c, n, "expected a mapping of keys to values, got %s", pb_kind_noun(n));
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct pb_node *key = pb_map_key(n, i);
        const struct pb_field *f;
        size_t idx = 0, mark;

        if (skip_key && strcmp(key->str, skip_key) == 0)
            continue;
        for (f = fields; f->key; f++, idx++)
            if (strcmp(f->key, key->str) == 0)
                break;
        if (!f->key) {
            /* A misspelled required key is one mistake: its "missing" is not said again. */
            const char *meant = unknown_key(c, key, fields, skip_key);
            size_t k = 0;
            for (const struct pb_field *g = fields; meant && g->key; g++, k++)
                if (strcmp(g->key, meant) == 0)
                    seen |= (uint64_t)1 << k;
            rc = -1;
            continue;
        }
        seen |= (uint64_t)1 << idx;
        mark = pb_path_push(c, key->str, 0);
        if (pb_decode_field(c, pb_map_value(n, i), f, obj) < 0)
            rc = -1;
        pb_path_pop(c, mark);
    }
    size_t idx = 0;
    for (const struct pb_field *f = fields; f->key; f++, idx++) {
        if ((f->flags & PB_REQUIRED) && !(seen & ((uint64_t)1 << idx))) {
            pb_error(c, n, "missing required key '%s'", f->key);
            rc = -1;
        }
    }
    return rc;
}
