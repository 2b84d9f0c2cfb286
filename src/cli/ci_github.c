/* GitHub Actions: error annotations at the playbook lines of the gates that failed, the
 * Markdown step summary, and the step outputs a later step reads. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ci_report.h"
#include "rollgate/util.h"

/* Evidence beyond this is cut in an annotation: the summary and the log have it whole. */
#define ANNOTATION_TEXT_MAX 2000

/* A stage failed by a gate is said by the gate's own case. */
static bool
said_by_gate(const struct rg_ci_run *run, const struct rg_ci_case *k)
{
    if (k->gate || k->kind != RG_CI_FAILURE)
        return false;
    for (size_t i = 0; i < run->n_cases; i++)
        if (run->cases[i].gate && run->cases[i].kind == RG_CI_FAILURE &&
            strcmp(run->cases[i].classname, k->classname) == 0)
            return true;
    return false;
}

static bool
annotated(const struct rg_ci_run *run, const struct rg_ci_case *k)
{
    return (k->kind == RG_CI_FAILURE || k->kind == RG_CI_ERROR) && !said_by_gate(run, k);
}

static void
annotation(FILE *f, const struct rg_ci_case *k, const char *file)
{
    char *msg;

    int line = k->line, col = k->column;
    size_t len;

    fputs("::error ", f);
    if (line > 0) {
        fputs("file=", f);
        rg_ci_gh_property(f, file);
        fprintf(f, ",line=%d,col=%d,", line, col > 0 ? col : 1);
    }
    fputs("title=", f);
    {
        char *title = k->gate ? rg_asprintf("rollgate: gate %s failed (%s)", k->name,
                                            k->classname)
                              : rg_asprintf("rollgate: %s failed (%s)", k->name, k->classname);
        rg_ci_gh_property(f, title);
        free(title);
    }
    fputs("::", f);
    if (k->text && strlen(k->text) > ANNOTATION_TEXT_MAX)
        msg = rg_asprintf("%.*s\n[... cut: the step summary has it whole]", ANNOTATION_TEXT_MAX,
                          k->text);
    else
        msg = rg_strdup(k->text ? k->text : k->message ? k->message : "failed");
    /* The gate's evidence begins with its summary; a stage's message leads its text. */
    if (k->gate && k->message && !(k->text && strstr(k->text, k->message) == k->text)) {
        char *both = rg_asprintf("%s\n%s", k->message, msg);
        free(msg);
        msg = both;
    }
    for (len = strlen(msg); len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'); len--)
        msg[len - 1] = '\0';
    rg_ci_gh_data(f, msg);
    fputc('\n', f);
    free(msg);
}

void
rg_ci_write_annotations(FILE *f, const struct rg_ci_run *run, const char *file, int max)
{
    int total = 0, written = 0;

    for (size_t i = 0; i < run->n_cases; i++)
        total += annotated(run, &run->cases[i]);
    for (size_t i = 0; i < run->n_cases && written < total; i++) {
        if (!annotated(run, &run->cases[i]))
            continue;
        if (total > max && written == max - 1) {
            fprintf(f, "::error title=rollgate%%3A %d more failures::%d more failures are not "
                       "annotated (GitHub shows %d of a step): the step summary and the log "
                       "list them all\n",
                    total - written, total - written, max);
            return;
        }
        annotation(f, &run->cases[i], file);
        written++;
    }
}

/* A table cell: one line, no |, no HTML. */
static void
md_cell(FILE *f, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '|': fputs("\\|", f); break;
        case '[': fputs("\\[", f); break; /* no link or image a service could plant */
        case ']': fputs("\\]", f); break;
        case '`': fputs("\\`", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '\n':
        case '\r': fputc(' ', f); break;
        default:
            if ((unsigned char)*p >= 0x20 && *p != 0x7F)
                fputc(*p, f);
        }
    }
}

/* A fenced block of evidence: the fence is longer than any run of ~ in it, so nothing the
 * service printed can end it. */
static void
md_block(FILE *f, const char *text)
{
    size_t run = 0, longest = 0, n;

    for (const char *p = text; *p; p++) {
        run = *p == '~' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    n = longest < 3 ? 3 : longest + 1;
    for (size_t i = 0; i < n; i++)
        fputc('~', f);
    fputs("text\n", f);
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p >= 0x20 || *p == '\n' || *p == '\t')
            fputc(*p, f);
    if (text[0] && text[strlen(text) - 1] != '\n')
        fputc('\n', f);
    for (size_t i = 0; i < n; i++)
        fputc('~', f);
    fputc('\n', f);
}

static void
row(FILE *f, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    fprintf(f, "| %s | ", key);
    md_cell(f, value);
    fputs(" |\n", f);
}

void
rg_ci_write_summary(FILE *f, const struct rg_ci_run *run)
{
    char buf[64];
    bool any = false;

    fprintf(f, "## rollgate %s of ", run->command);
    md_cell(f, run->target);
    if (run->tag[0]) {
        fputs(": ", f);
        md_cell(f, run->tag);
    }
    fprintf(f, " — %s (exit %d)\n\n| | |\n|---|---|\n",
            run->outcome[0] ? run->outcome : "no outcome", run->exit_code);
    if (run->deploy_id) {
        snprintf(buf, sizeof(buf), "#%lld", (long long)run->deploy_id);
        row(f, "Deploy", buf);
    }
    row(f, "Release", run->tag);
    snprintf(buf, sizeof(buf), "%s (exit %d)", run->outcome[0] ? run->outcome : "none",
             run->exit_code);
    row(f, "Outcome", buf);
    row(f, "Serving", run->serving);
    row(f, "Rolled back to", run->rolled_back_to);
    snprintf(buf, sizeof(buf), "%.1f s", (double)run->elapsed_ms / 1000.0);
    row(f, "Took", buf);
    row(f, "Note", run->note);
    if (run->n_steps) {
        fputs("\n### Timeline\n\n| at | |\n|---:|---|\n", f);
        for (size_t i = 0; i < run->n_steps; i++) {
            fprintf(f, "| %.1f s | ", (double)run->steps[i].at_ms / 1000.0);
            md_cell(f, run->steps[i].what);
            fputs(" |\n", f);
        }
    }
    for (size_t i = 0; i < run->n_cases; i++) {
        const struct rg_ci_case *k = &run->cases[i];
        int line = k->line;
        if (!annotated(run, k))
            continue;
        if (!any)
            fputs("\n### What failed\n", f);
        any = true;
        fputs("\n**", f);
        md_cell(f, k->gate ? k->name : k->classname);
        fputs("**", f);
        if (k->gate) {
            fputs(" in `", f);
            md_cell(f, k->classname);
            fputc('`', f);
        }
        if (line > 0)
            fprintf(f, " (playbook line %d)", line);
        fputs(": ", f);
        md_cell(f, k->message);
        fputs("\n\n", f);
        if (k->text)
            md_block(f, k->text);
    }
    if (run->rolled_back_to[0] || strcmp(run->outcome, "repaired") == 0 ||
        strcmp(run->outcome, "restored") == 0) {
        fputs("\n### What the ladder did\n\n", f);
        for (size_t i = 0; i < run->n_steps; i++)
            if (strncmp(run->steps[i].what, "recover:", 8) == 0 ||
                strncmp(run->steps[i].what, "outcome:", 8) == 0) {
                fputs("- ", f);
                md_cell(f, run->steps[i].what);
                fputc('\n', f);
            }
    }
    fputc('\n', f);
}

void
rg_ci_random_token(char *buf, size_t size, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[12];
    size_t n;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (unsigned char)((uint64_t)rg_mono_ms() >> (i % 8) ^ (uint64_t)getpid() >> i);
    n = (size_t)snprintf(buf, size, "%s", prefix);
    for (size_t i = 0; i < sizeof(raw) && n + 2 < size; i++) {
        buf[n++] = hex[raw[i] >> 4];
        buf[n++] = hex[raw[i] & 15];
    }
    buf[n < size ? n : size - 1] = '\0';
}

/* The delimiter form's delimiter: random, and checked not to occur in the value. */
static void
delimiter(char *buf, size_t size, const char *value)
{
    do
        rg_ci_random_token(buf, size, "ROLLGATE_EOF_");
    while (strstr(value, buf));
}

void
rg_ci_write_output(FILE *f, const char *name, const char *value)
{
    char delim[48];

    value = value ? value : "";
    if (!strpbrk(value, "\r\n")) {
        fprintf(f, "%s=%s\n", name, value);
        return;
    }
    delimiter(delim, sizeof(delim), value);
    fprintf(f, "%s<<%s\n%s\n%s\n", name, delim, value, delim);
}
