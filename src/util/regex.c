/* Compiling regular expressions from playbooks within bounds: glibc's regcomp copies a pattern's
 * tree for every bounded or nested repeat, so "a++++…" or "((a{1,100}){1,100}){1,100}" would
 * take seconds and gigabytes. Patterns are scanned for such shapes before regcomp sees them. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

#define REGEX_MAX_LEN 512
#define REGEX_MAX_GROUPS 16
#define REGEX_MAX_COPIES 1000 /* copies of a sub-pattern regcomp may make */

/* Skips a bracket expression starting at p ('['); returns the character after it, or NULL. */
static const char *
skip_bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']') {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            char close = p[1];
            const char *end = p + 2;
            while (*end && !(end[0] == close && end[1] == ']'))
                end++;
            if (!*end)
                return NULL;
            p = end + 2;
            continue;
        }
        p++;
    }
    return *p ? p + 1 : NULL;
}

/* Reads a repeat at p ("*", "+", "?" or "{n[,m]}"); returns its length and how many copies of
 * the repeated atom regcomp makes, or 0 when p is not a repeat. */
static size_t
read_repeat(const char *p, long *copies)
{
    const char *q = p + 1;
    long n = 0, m;

    switch (*p) {
    case '*':
    case '?':
        *copies = 1;
        return 1;
    case '+':
        *copies = 2;
        return 1;
    case '{':
        if (!isdigit((unsigned char)*q))
            return 0;
        while (isdigit((unsigned char)*q) && n < 100000)
            n = n * 10 + (*q++ - '0');
        m = n;
        if (*q == ',') {
            q++;
            if (isdigit((unsigned char)*q)) {
                m = 0;
                while (isdigit((unsigned char)*q) && m < 100000)
                    m = m * 10 + (*q++ - '0');
            } else {
                m = n + 1;
            }
        }
        if (*q != '}')
            return 0;
        *copies = m > 0 ? m : 1;
        return (size_t)(q + 1 - p);
    default:
        return 0;
    }
}

static int
check_shape(const char *re, struct rg_err *err)
{
    long group[REGEX_MAX_GROUPS + 1] = {1}; /* the largest copy count seen inside each group */
    size_t depth = 0;
    const char *p = re;
    long last = 0; /* copy count of the atom just read, 0 when there is none to repeat */
    bool repeated = false;

    while (*p) {
        long copies;
        size_t len = read_repeat(p, &copies);

        if (len) {
            if (repeated)
                return rg_err_set(err, RG_EINVAL,
                                  "regular expression '%s' repeats a repeat ('%.*s' after "
                                  "another); write a single repeat",
                                  re, (int)len, p);
            if (last) {
                long total = last * copies;
                if (total > REGEX_MAX_COPIES)
                    return rg_err_set(err, RG_EINVAL,
                                      "regular expression '%s' has nested or large bounded "
                                      "repeats (over %d copies); simplify it",
                                      re, REGEX_MAX_COPIES);
                if (total > group[depth])
                    group[depth] = total;
            }
            repeated = true;
            p += len;
            continue;
        }
        repeated = false;
        last = 1;
        switch (*p) {
        case '\\':
            p += p[1] ? 2 : 1;
            continue;
        case '[':
            if (!(p = skip_bracket(p)))
                return 0; /* unterminated: regcomp says so in its own words */
            continue;
        case '(':
            if (++depth > REGEX_MAX_GROUPS)
                return rg_err_set(err, RG_EINVAL,
                                  "regular expression '%s' nests groups deeper than %d", re,
                                  REGEX_MAX_GROUPS);
            group[depth] = 1;
            last = 0;
            break;
        case ')':
            if (depth == 0)
                break;
            last = group[depth--];
            if (last > group[depth])
                group[depth] = last;
            break;
        case '|':
        case '^':
        case '$':
            last = 0;
            break;
        default:
            break;
        }
        p++;
    }
    return 0;
}

int
rg_regex_compile(regex_t *rx, const char *pattern, int cflags, struct rg_err *err)
{
    char why[256];
    int rc;

    if (strlen(pattern) > REGEX_MAX_LEN)
        return rg_err_set(err, RG_EINVAL, "regular expression is longer than %d characters",
                          REGEX_MAX_LEN);
    if ((rc = check_shape(pattern, err)) < 0)
        return rc;
    if ((rc = regcomp(rx, pattern, cflags)) != 0) {
        regerror(rc, rx, why, sizeof(why));
        return rg_err_set(err, RG_EINVAL, "invalid regular expression '%s': %s", pattern, why);
    }
    return 0;
}
