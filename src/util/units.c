/* Durations, percentages and whole numbers as people write them in playbooks and options. */
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

#define DURATION_MAX_MS (7LL * 24 * 3600 * 1000) /* a week: longer is a typo, not a deadline */

static const struct {
    const char *suffix;
    int64_t ms;
} duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000},
};

int
rg_duration_parse(int64_t *ms_out, const char *s, struct rg_err *err)
{
    const char *p = s;
    int64_t total = 0;
    size_t last_unit = sizeof(duration_units) / sizeof(duration_units[0]);

    *ms_out = 0;
    if (!*s)
        return rg_err_set(err, RG_EINVAL, "empty duration (write it like 500ms, 2s, 5m or 1h)");
    while (*p) {
        int64_t n = 0;
        size_t u, digits = 0;

        while (isdigit((unsigned char)*p)) {
            if (n > DURATION_MAX_MS)
                goto range;
            n = n * 10 + (*p++ - '0');
            digits++;
        }
        if (!digits)
            return rg_err_set(err, RG_EINVAL,
                              "invalid duration '%s' (write it like 500ms, 2s, 5m, 1h or 1m30s)", s);
        for (u = 0; u < sizeof(duration_units) / sizeof(duration_units[0]); u++) {
            size_t l = strlen(duration_units[u].suffix);
            /* "m" must not swallow the "m" of "ms". */
            if (strncmp(p, duration_units[u].suffix, l) == 0 &&
                !(l == 1 && p[0] == 'm' && p[1] == 's'))
                break;
        }
        if (u == sizeof(duration_units) / sizeof(duration_units[0])) {
            if (!*p && p - s == (ptrdiff_t)digits)
                return rg_err_set(err, RG_EINVAL,
                                  "duration '%s' has no unit (write %sms, %ss, %sm or %sh)", s, s,
                                  s, s, s);
            if (!*p)
                return rg_err_set(err, RG_EINVAL,
                                  "duration '%s' ends without a unit (as in 1h30m)", s);
            return rg_err_set(err, RG_EINVAL,
                              "invalid duration '%s' (units are ms, s, m and h, as in 1m30s)", s);
        }
        /* Largest unit first, each once: "30s1m" and "2m2m" are typos, not durations. */
        if (last_unit != sizeof(duration_units) / sizeof(duration_units[0]) && u >= last_unit)
            return rg_err_set(err, RG_EINVAL,
                              "invalid duration '%s' (write units largest first, each once, as "
                              "in 1h30m)", s);
        last_unit = u;
        p += strlen(duration_units[u].suffix);
        if (n > DURATION_MAX_MS / duration_units[u].ms)
            goto range;
        total += n * duration_units[u].ms;
        if (total > DURATION_MAX_MS)
            goto range;
    }
    *ms_out = total;
    return 0;
range:
    return rg_err_set(err, RG_EINVAL, "duration '%s' is longer than the 168h maximum", s);
}

const char *
rg_duration_format(char *buf, size_t size, int64_t ms)
{
    size_t off = 0;
    int n;

    if (ms <= 0 || ms % 1000) {
        if (ms < 1000 || ms % 1000) {
            if (ms >= 1000 && ms < 60000)
                snprintf(buf, size, "%lld.%03llds", (long long)(ms / 1000),
                         (long long)(ms % 1000));
            else
                snprintf(buf, size, "%lldms", (long long)ms);
            return buf;
        }
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
    buf[0] = '\0';
    if (h && off < size) {
        n = snprintf(buf + off, size - off, "%lldh", (long long)h);
        off += n > 0 ? (size_t)n : 0;
    }
    if (m && off < size) {
        n = snprintf(buf + off, size - off, "%lldm", (long long)m);
        off += n > 0 ? (size_t)n : 0;
    }
    if (s && off < size)
        snprintf(buf + off, size - off, "%llds", (long long)s);
    return buf;
}

int
rg_percent_parse(int *centi_out, const char *s, struct rg_err *err)
{
    const char *p = s;
    long whole = 0, frac = 0;
    int frac_digits = 0;

    *centi_out = 0;
    if (!isdigit((unsigned char)*p))
        goto bad;
    while (isdigit((unsigned char)*p)) {
        whole = whole * 10 + (*p++ - '0');
        if (whole > 100)
            goto range;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            goto bad;
        while (isdigit((unsigned char)*p)) {
            if (frac_digits < 2) {
                frac = frac * 10 + (*p - '0');
                frac_digits++;
            }
            p++;
        }
        while (frac_digits < 2) {
            frac *= 10;
            frac_digits++;
        }
    }
    if (strcmp(p, "%") != 0)
        goto bad;
    if (whole * 100 + frac > 10000)
        goto range;
    *centi_out = (int)(whole * 100 + frac);
    return 0;
bad:
    return rg_err_set(err, RG_EINVAL, "invalid percentage '%s' (write it like 80%%)", s);
range:
    return rg_err_set(err, RG_EINVAL, "percentage '%s' is above 100%%", s);
}

int
rg_int_parse(long long *out, const char *s, long long min, long long max, struct rg_err *err)
{
    char *end = NULL;
    long long v;

    *out = 0;
    errno = 0;
    if (!*s || isspace((unsigned char)*s))
        return rg_err_set(err, RG_EINVAL, "'%s' is not a whole number", s);
    v = strtoll(s, &end, 10);
    if (*end)
        return rg_err_set(err, RG_EINVAL, "'%s' is not a whole number", s);
    if (errno == ERANGE || v < min || v > max)
        return rg_err_set(err, RG_EINVAL, "%s is out of range (%lld to %lld)", s, min, max);
    *out = v;
    return 0;
}
