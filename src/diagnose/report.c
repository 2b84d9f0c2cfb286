/* A diagnosis as a person reads it, and as JSON for tools. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollgate/diagnose.h"

void
rg_diagnosis_text(struct rg_buf *out, const struct rg_diagnosis *dx)
{
    time_t since = (time_t)(dx->since_ms / 1000);
    struct tm tm;
    char when[32];

    gmtime_r(&since, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    if (!dx->n)
        rg_buf_addf(out, "diagnose: no cause found since %s (%lld ms)\n", when,
                    (long long)dx->elapsed_ms);
    else
        rg_buf_addf(out, "diagnose: %zu cause%s found since %s, most likely first (%lld ms)\n",
                    dx->n, dx->n == 1 ? "" : "s", when, (long long)dx->elapsed_ms);
    for (size_t i = 0; i < dx->n; i++) {
        const struct rg_finding *f = &dx->findings[i];
        rg_buf_addf(out, "\n%zu. [%s, %d%%] %s\n", i + 1, f->cause, f->confidence, f->title);
        if (f->evidence[0]) {
            rg_buf_adds(out, "   evidence:\n");
            for (const char *p = f->evidence; *p;) {
                size_t n = strcspn(p, "\n");
                rg_buf_addf(out, "     %.*s\n", (int)n, p);
                p += n + (p[n] == '\n');
            }
        }
        /* A fix of several lines (an nginx block) keeps them, indented under "fix:". */
        for (const char *p = f->fix, *lead = "   fix: "; *p; lead = "        ") {
            size_t n = strcspn(p, "\n");
            rg_buf_addf(out, "%s%.*s\n", lead, (int)n, p);
            p += n + (p[n] == '\n');
        }
    }
    for (size_t i = 0; i < dx->notes.n; i++)
        rg_buf_addf(out, "%snote: %s\n", i == 0 ? "\n" : "", dx->notes.v[i]);
}

/* A JSON string of s; bytes that are not valid UTF-8 (a log line) become '?'. */
static json_t *
text_json(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j)
        return j;
    copy = rg_strdup(s);
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

char *
rg_diagnosis_json(const struct rg_diagnosis *dx)
{
    json_t *root = json_object(), *arr = json_array(), *notes = json_array();
    char *text;

    for (size_t i = 0; i < dx->n; i++) {
        const struct rg_finding *f = &dx->findings[i];
        json_t *o = json_object();
        json_object_set_new(o, "cause", json_string(f->cause));
        json_object_set_new(o, "confidence", json_integer(f->confidence));
        json_object_set_new(o, "title", text_json(f->title));
        json_object_set_new(o, "evidence", text_json(f->evidence));
        json_object_set_new(o, "fix", text_json(f->fix));
        json_array_append_new(arr, o);
    }
    for (size_t i = 0; i < dx->notes.n; i++)
        json_array_append_new(notes, text_json(dx->notes.v[i]));
    json_object_set_new(root, "since_ms", json_integer(dx->since_ms));
    json_object_set_new(root, "elapsed_ms", json_integer(dx->elapsed_ms));
    json_object_set_new(root, "findings", arr);
    json_object_set_new(root, "notes", notes);
    text = json_dumps(root, JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}
