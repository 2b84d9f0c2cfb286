/* Diagnose: collect the signals within a deadline, apply the rules, rank what they found. */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dx.h"

#define DEFAULT_WINDOW_MS (15 * 60 * 1000)
#define DEFAULT_DEADLINE_MS 10000

void
dx_note(struct dx *dx, const char *fmt, ...)
{
    char line[RG_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    rg_strv_push(&dx->out->notes, line);
}

void
dx_add(struct dx *dx, const char *cause, int confidence, const char *evidence, const char *fix,
       const char *title_fmt, ...)
{
    struct rg_diagnosis *o = dx->out;
    struct rg_finding *f;
    char title[512];
    va_list ap;

    va_start(ap, title_fmt);
    vsnprintf(title, sizeof(title), title_fmt, ap);
    va_end(ap);
    /* One finding per cause: a second sighting (the logs, then the configuration) adds its
     * evidence and may raise the confidence. */
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->findings[i].cause, cause) == 0) {
            f = &o->findings[i];
            if (confidence > f->confidence)
                f->confidence = confidence > 100 ? 100 : confidence;
            if (evidence && evidence[0] && !strstr(f->evidence, evidence)) {
                char *both = rg_asprintf("%s%s%s", f->evidence,
                                         f->evidence[0] && f->evidence[strlen(f->evidence) - 1] !=
                                                 '\n' ? "\n" : "",
                                         evidence);
                free(f->evidence);
                f->evidence = both;
            }
            return;
        }
    o->findings = rg_realloc(o->findings, (o->n + 1) * sizeof(*o->findings));
    f = &o->findings[o->n++];
    memset(f, 0, sizeof(*f));
    snprintf(f->cause, sizeof(f->cause), "%s", cause);
    f->confidence = confidence > 100 ? 100 : confidence < 0 ? 0 : confidence;
    f->title = rg_strdup(title);
    f->evidence = rg_strdup(evidence ? evidence : "");
    f->fix = rg_strdup(fix ? fix : "");
}

size_t
dx_grep(struct rg_buf *out, const char *text, const char *rx, size_t max)
{
    const char *lines[64];
    size_t found = 0, kept = 0;
    regex_t re;

    if (!text || regcomp(&re, rx, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
        return 0;
    if (max > sizeof(lines) / sizeof(lines[0]))
        max = sizeof(lines) / sizeof(lines[0]);
    /* A ring of the last max matching lines (pointers into text), then printed in order. */
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        char *one = rg_strndup(p, n > 600 ? 600 : n);
        if (regexec(&re, one, 0, NULL, 0) == 0) {
            lines[kept++ % (max ? max : 1)] = p;
            found++;
        }
        free(one);
        p += n + (p[n] == '\n');
    }
    regfree(&re);
    for (size_t i = kept > max ? kept - max : 0; max && i < kept; i++) {
        const char *p = lines[i % max];
        size_t n = strcspn(p, "\n");
        rg_buf_addf(out, "  %.*s\n", (int)(n > 300 ? 300 : n), p);
    }
    return found;
}

static int
by_confidence(const void *a, const void *b)
{
    const struct rg_finding *x = a, *y = b;

    return y->confidence - x->confidence;
}

int
rg_diagnose(struct rg_diagnosis *out, const struct rg_playbook *pb, struct rg_driver *d,
            const struct rg_diagnose_opts *o, struct rg_err *err)
{
    struct dx *dx = rg_calloc(1, sizeof(*dx));
    int64_t start = rg_mono_ms();

    memset(out, 0, sizeof(*out));
    dx->pb = pb;
    dx->driver = d;
    dx->out = out;
    dx->since_ms = o && o->since_ms > 0 ? o->since_ms : rg_wall_ms() - DEFAULT_WINDOW_MS;
    dx->deadline = start + (o && o->deadline_ms > 0 ? o->deadline_ms : DEFAULT_DEADLINE_MS);
    out->since_ms = dx->since_ms;
    dx_collect_instances(dx);
    if (o && o->collected)
        o->collected(o->collected_data);
    dx_collect_pg(dx);
    dx_collect_disks(dx);
    dx_collect_app_log(dx);
    dx_collect_nginx(dx);
    dx_rules(dx);
    if (out->n) /* qsort of no array: findings is NULL then */
        qsort(out->findings, out->n, sizeof(*out->findings), by_confidence);
    bool seen_any = dx->inst_seen || dx->pg.seen || dx->pg.error[0] || dx_nginx_seen(dx);
    for (size_t i = 0; i < dx->n_inst; i++)
        rg_buf_release(&dx->inst[i].log);
    rg_buf_release(&dx->app_log);
    dx_nginx_release(dx);
    free(dx);
    out->elapsed_ms = rg_mono_ms() - start;
    if (!seen_any && !out->n)
        return rg_err_set(err, RG_EIO, "nothing of the target could be read%s%s",
                          out->notes.n ? ": " : "", out->notes.n ? out->notes.v[0] : "");
    return 0;
}

void
rg_diagnosis_release(struct rg_diagnosis *dx)
{
    for (size_t i = 0; i < dx->n; i++) {
        free(dx->findings[i].title);
        free(dx->findings[i].evidence);
        free(dx->findings[i].fix);
    }
    free(dx->findings);
    rg_strv_release(&dx->notes);
    memset(dx, 0, sizeof(*dx));
}
