/* The JUnit XML of a run, as GitLab, Jenkins and the test-report actions read it: one
 * testsuite per run inside testsuites, one testcase per gate verdict and per stage. The
 * schema the tests validate it against is tests/fixtures/junit.xsd. */
#include <inttypes.h>
#include <time.h>

#include "ci_report.h"

/* Seconds with a dot and three decimals, whatever the locale. */
static void
seconds(FILE *f, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    fprintf(f, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}

static void
attr(FILE *f, const char *name, const char *value)
{
    fprintf(f, " %s=\"", name);
    rg_ci_xml_escape(f, value);
    fputc('"', f);
}

static void
counts(const struct rg_ci_run *run, size_t *failures, size_t *errors, size_t *skipped)
{
    *failures = *errors = *skipped = 0;
    for (size_t i = 0; i < run->n_cases; i++) {
        *failures += run->cases[i].kind == RG_CI_FAILURE;
        *errors += run->cases[i].kind == RG_CI_ERROR;
        *skipped += run->cases[i].kind == RG_CI_SKIPPED;
    }
}

static void
write_case(FILE *f, const struct rg_ci_case *k)
{
    static const char *const elem[] = {NULL, "failure", "error", "skipped"};

    fputs("    <testcase", f);
    attr(f, "classname", k->classname);
    attr(f, "name", k->name);
    fputs(" time=\"", f);
    seconds(f, k->time_ms);
    fputc('"', f);
    if (k->kind == RG_CI_PASS) {
        fputs("/>\n", f);
        return;
    }
    fprintf(f, ">\n      <%s", elem[k->kind]);
    if (k->message)
        attr(f, "message", k->message);
    if (k->kind != RG_CI_SKIPPED)
        attr(f, "type", k->kind == RG_CI_FAILURE ? "gate" : "rollgate");
    if (k->text) {
        fputc('>', f);
        rg_ci_xml_escape(f, k->text);
        fprintf(f, "</%s>\n", elem[k->kind]);
    } else {
        fputs("/>\n", f);
    }
    fputs("    </testcase>\n", f);
}

void
rg_ci_write_junit(FILE *f, const struct rg_ci_run *run)
{
    size_t failures, errors, skipped;
    char name[256], stamp[32], id[32];
    time_t t = (time_t)(run->started_unix_ms / 1000);
    struct tm tm;

    counts(run, &failures, &errors, &skipped);
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(name, sizeof(name), "rollgate %s %s%s%s", run->command, run->target,
             run->tag[0] ? " " : "", run->tag);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", f);
    attr(f, "name", "rollgate");
    fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"",
            run->n_cases, failures, errors, skipped);
    seconds(f, run->elapsed_ms);
    fputs("\">\n  <testsuite", f);
    attr(f, "name", name);
    fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"",
            run->n_cases, failures, errors, skipped);
    seconds(f, run->elapsed_ms);
    fprintf(f, "\" timestamp=\"%s\">\n    <properties>\n", stamp);
    snprintf(id, sizeof(id), "%lld", (long long)run->deploy_id);
    const char *props[][2] = {{"deploy_id", id},         {"outcome", run->outcome},
                              {"tag", run->tag},         {"serving", run->serving},
                              {"rolled_back_to", run->rolled_back_to}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        fputs("      <property", f);
        attr(f, "name", props[i][0]);
        attr(f, "value", props[i][1]);
        fputs("/>\n", f);
    }
    fprintf(f, "      <property name=\"exit_code\" value=\"%d\"/>\n    </properties>\n",
            run->exit_code);
    for (size_t i = 0; i < run->n_cases; i++)
        write_case(f, &run->cases[i]);
    fputs("    <system-out>", f);
    for (size_t i = 0; i < run->n_steps; i++) {
        char line[64];
        snprintf(line, sizeof(line), "[%7.1fs] ", (double)run->steps[i].at_ms / 1000.0);
        rg_ci_xml_escape(f, line);
        rg_ci_xml_escape(f, run->steps[i].what);
        fputc('\n', f);
    }
    if (run->note) {
        rg_ci_xml_escape(f, run->note);
        fputc('\n', f);
    }
    fputs("</system-out>\n  </testsuite>\n</testsuites>\n", f);
}
