/* Unit tests of the CI reports' writers and their escaping: workflow command data and
 * properties, XML text, step outputs, annotations, the JUnit file (checked against our schema,
 * tests/fixtures/junit.xsd, by xmllint), the step summary, and workspace-relative paths. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/ci_report.h"
#include "rollgate/spawn.h"
#include "rollgate/util.h"

/* Each test's own temp dir and the run it builds by hand (what ci_report.c would record). */
struct fixture {
    char *dir;
    struct rg_ci_run run;
    struct rg_gate gate;  /* line 12, column 5 of deploy/web.yml */
    struct rg_gate other; /* a second gate, line 20 */
    struct rg_step step;  /* an exec step at line 30 */
};

static int
setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    struct fixture *fx = rg_calloc(1, sizeof(*fx));

    fx->dir = rg_asprintf("%s/rg-test-ci-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(fx->dir)) {
        free(fx->dir);
        free(fx);
        return -1;
    }
    fx->gate = (struct rg_gate){.name = "health", .line = 12, .column = 5};
    fx->other = (struct rg_gate){.name = "db", .line = 20, .column = 3};
    fx->step = (struct rg_step){.kind = RG_STEP_EXEC, .line = 30, .column = 7};
    fx->run.command = "deploy";
    fx->run.target = "web";
    fx->run.playbook = "deploy/web.yml";
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    struct rg_ci_run *run = &fx->run;
    int rc = rg_fs_remove_tree(fx->dir, NULL);

    for (size_t i = 0; i < run->n_cases; i++) {
        free(run->cases[i].classname);
        free(run->cases[i].name);
        free(run->cases[i].message);
        free(run->cases[i].text);
    }
    for (size_t i = 0; i < run->n_steps; i++)
        free(run->steps[i].what);
    free(run->cases);
    free(run->steps);
    free(run->note);
    free(fx->dir);
    free(fx);
    return rc;
}

/* The strings are copied, as ci_report.c owns them: teardown frees them the same way. */
static struct rg_ci_case *
add_case(struct rg_ci_run *run, enum rg_ci_case_kind kind, const char *classname, const char *name,
         int64_t time_ms, const char *message, const char *text)
{
    struct rg_ci_case *k;

    run->cases = rg_grow(run->cases, &run->cap_cases, run->n_cases + 1, sizeof(*run->cases));
    k = &run->cases[run->n_cases++];
    *k = (struct rg_ci_case){
        .kind = kind,
        .classname = rg_strdup(classname),
        .name = rg_strdup(name),
        .time_ms = time_ms,
        .message = message ? rg_strdup(message) : NULL,
        .text = text ? rg_strdup(text) : NULL,
    };
    return k;
}

/* A case at a gate, with the gate's place in the playbook, as ci_report.c records it. */
static void
at_gate(struct rg_ci_case *k, const struct rg_gate *g)
{
    k->gate = g;
    k->line = g->line;
    k->column = g->column;
}

/* A stage's case at its step's place. */
static void
at_step(struct rg_ci_case *k, const struct rg_step *s)
{
    k->line = s->line;
    k->column = s->column;
}

static void
add_step(struct rg_ci_run *run, int64_t at_ms, const char *what)
{
    run->steps = rg_grow(run->steps, &run->cap_steps, run->n_steps + 1, sizeof(*run->steps));
    run->steps[run->n_steps++] = (struct rg_ci_step){.at_ms = at_ms, .what = rg_strdup(what)};
}

/* What an escaper writes for s, to free(). */
static char *
escaped(void (*fn)(FILE *, const char *), const char *s)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    fn(f, s);
    assert_int_equal(fclose(f), 0);
    return out;
}

static void
assert_escaped(void (*fn)(FILE *, const char *), const char *s, const char *want)
{
    char *got = escaped(fn, s);

    assert_string_equal(got, want);
    free(got);
}

static char *
annotations(const struct rg_ci_run *run, const char *file, int max)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    rg_ci_write_annotations(f, run, file, max);
    assert_int_equal(fclose(f), 0);
    return out;
}

static char *
junit(const struct rg_ci_run *run)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    rg_ci_write_junit(f, run);
    assert_int_equal(fclose(f), 0);
    return out;
}

static char *
summary(const struct rg_ci_run *run)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    rg_ci_write_summary(f, run);
    assert_int_equal(fclose(f), 0);
    return out;
}

static size_t
count(const char *s, const char *needle)
{
    size_t n = 0;

    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *
put_file(const char *dir, const char *name, const char *text)
{
    char *path = rg_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* xmllint's exit status for the document text against tests/fixtures/junit.xsd (0: valid);
 * *complaints gets what it said, to free(). A missing xmllint fails the test, never skips it. */
static int
xmllint(const char *dir, const char *text, char **complaints)
{
    const char *src = getenv("RG_SOURCE_DIR");
    char *xsd, *doc;
    struct rg_spawn_result res;
    struct rg_err err;
    int rc;

    if (!src || !src[0])
        fail_msg("RG_SOURCE_DIR is not set (run through ctest)");
    xsd = rg_asprintf("%s/tests/fixtures/junit.xsd", src);
    doc = put_file(dir, "report.xml", text);
    const char *argv[] = {"xmllint", "--noout", "--schema", xsd, doc, NULL};
    struct rg_spawn_opts o = {.argv = argv, .timeout_ms = 30000, .cancel_fd = -1};
    if (rg_spawn_run(&res, &o, &err) < 0)
        fail_msg("cannot run xmllint (install libxml2-utils): %s", err.msg);
    assert_false(res.timed_out);
    *complaints =
        rg_asprintf("%s%s", res.out.data ? res.out.data : "", res.err.data ? res.err.data : "");
    rc = res.exit_code;
    rg_spawn_result_release(&res);
    free(doc);
    free(xsd);
    return rc;
}

/* ---- escaping ---- */

static void
test_gh_data(void **state)
{
    (void)state;
    assert_escaped(rg_ci_gh_data, "a%b\r\nc:d,e", "a%25b%0D%0Ac:d,e");
    assert_escaped(rg_ci_gh_data, "100%%", "100%25%25");
    assert_escaped(rg_ci_gh_data, "", "");
    assert_escaped(rg_ci_gh_data, NULL, "");
}

static void
test_gh_property(void **state)
{
    (void)state;
    assert_escaped(rg_ci_gh_property, "a%b\r\nc:d,e", "a%25b%0D%0Ac%3Ad%2Ce");
    assert_escaped(rg_ci_gh_property, "deploy/web.yml", "deploy/web.yml");
    assert_escaped(rg_ci_gh_property, NULL, "");
}

static void
test_xml_escape_markup_and_controls(void **state)
{
    (void)state;
    assert_escaped(rg_ci_xml_escape, "a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    assert_escaped(rg_ci_xml_escape, "]]>", "]]&gt;");
    /* XML 1.0 cannot carry these, not even as character references (octal escapes: a hex one
     * would swallow the letter after it) */
    assert_escaped(rg_ci_xml_escape, "x\001y\033[31mz\177w\r", "xy[31mzw");
    assert_escaped(rg_ci_xml_escape, "tab\there\nnext", "tab\there\nnext");
    assert_escaped(rg_ci_xml_escape, NULL, "");
}

static void
test_xml_escape_utf8(void **state)
{
    (void)state;
    /* valid sequences of 2, 3 and 4 bytes pass whole */
    assert_escaped(rg_ci_xml_escape, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                   "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* each byte of what is not UTF-8 (or not an XML character) becomes one '?' */
    assert_escaped(rg_ci_xml_escape, "a\377b", "a?b");
    assert_escaped(rg_ci_xml_escape, "\xe2\x82", "??");           /* truncated at the end */
    assert_escaped(rg_ci_xml_escape, "\342\202c", "??c");         /* truncated mid-text */
    assert_escaped(rg_ci_xml_escape, "\xc0\xaf", "??");           /* overlong '/' */
    assert_escaped(rg_ci_xml_escape, "\xe0\x80\xbc", "???");      /* overlong '<' */
    assert_escaped(rg_ci_xml_escape, "\xed\xa0\x80", "???");      /* a surrogate */
    assert_escaped(rg_ci_xml_escape, "\xef\xbf\xbe", "???");      /* U+FFFE */
    assert_escaped(rg_ci_xml_escape, "\xf4\x90\x80\x80", "????"); /* beyond U+10FFFF */
    assert_escaped(rg_ci_xml_escape, "\200x", "?x");              /* a lone continuation */
}

/* ---- $GITHUB_OUTPUT ---- */

static void
test_write_output_line(void **state)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    (void)state;
    assert_non_null(f);
    rg_ci_write_output(f, "outcome", "rolled_back");
    rg_ci_write_output(f, "deploy_id", "");
    rg_ci_write_output(f, "tag", NULL);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(out, "outcome=rolled_back\ndeploy_id=\ntag=\n");
    free(out);
}

static void
test_write_output_lines(void **state)
{
    /* A value naming the delimiter's prefix: the random part must keep them apart. */
    const char *value = "first\nROLLGATE_EOF_\nlast";
    char *out = NULL, *delim;
    size_t len = 0, dlen;
    FILE *f = open_memstream(&out, &len);
    const char *p, *nl;

    (void)state;
    assert_non_null(f);
    rg_ci_write_output(f, "note", value);
    assert_int_equal(fclose(f), 0);
    assert_memory_equal(out, "note<<", 6);
    p = out + 6;
    assert_non_null(nl = strchr(p, '\n'));
    dlen = (size_t)(nl - p);
    delim = rg_strndup(p, dlen);
    assert_memory_equal(delim, "ROLLGATE_EOF_", 13);
    assert_true(dlen > 13);
    assert_null(strstr(value, delim));
    char *want = rg_asprintf("note<<%s\n%s\n%s\n", delim, value, delim);
    assert_string_equal(out, want);
    free(want);
    free(delim);
    free(out);

    /* a carriage return alone also needs the delimiter form */
    out = NULL;
    assert_non_null(f = open_memstream(&out, &len));
    rg_ci_write_output(f, "x", "a\rb");
    assert_int_equal(fclose(f), 0);
    assert_memory_equal(out, "x<<ROLLGATE_EOF_", 16);
    free(out);
}

/* ---- annotations ---- */

static void
test_annotations_gate_failure(void **state)
{
    struct fixture *fx = *state;
    char *out;

    at_gate(add_case(&fx->run, RG_CI_PASS, "web/VERIFY", "db", 40, NULL, NULL), &fx->other);
    at_gate(add_case(&fx->run, RG_CI_FAILURE, "web/VERIFY", "health", 1500,
             "gate health failed: status 503",
             "GET http://web:8080/health: 503\nbody: 100% down, retry: later\n"), &fx->gate);
    out = annotations(&fx->run, "deploy/web.yml", 10);
    assert_string_equal(out, "::error file=deploy/web.yml,line=12,col=5,"
                             "title=rollgate%3A gate health failed (web/VERIFY)::"
                             "gate health failed: status 503%0A"
                             "GET http://web:8080/health: 503%0A"
                             "body: 100%25 down, retry: later\n");
    free(out);
}

static void
test_annotations_none_when_passed(void **state)
{
    struct fixture *fx = *state;
    char *out;

    at_gate(add_case(&fx->run, RG_CI_PASS, "web/VERIFY", "health", 40, NULL, NULL), &fx->gate);
    add_case(&fx->run, RG_CI_PASS, "web/VERIFY", "VERIFY", 50, NULL, NULL);
    add_case(&fx->run, RG_CI_SKIPPED, "web/recover", "rung 1 rollback", 0, "not needed", NULL);
    out = annotations(&fx->run, "deploy/web.yml", 10);
    assert_string_equal(out, "");
    free(out);
}

static void
test_annotations_stages(void **state)
{
    struct fixture *fx = *state;
    char *out;

    /* the stage a gate failed is said by the gate's own annotation, not twice */
    at_gate(add_case(&fx->run, RG_CI_FAILURE, "web/VERIFY", "health", 10, "gate health failed: x",
                     "x"),
            &fx->gate);
    add_case(&fx->run, RG_CI_FAILURE, "web/VERIFY", "VERIFY", 20, "gate health failed", NULL);
    /* a stage that failed on its own points at its step, or at nothing */
    at_step(add_case(&fx->run, RG_CI_ERROR, "web/EXEC", "EXEC", 30, "exec failed: exit 2",
             "exec failed: exit 2\nmigrate: no such table"), &fx->step);
    add_case(&fx->run, RG_CI_ERROR, "web/PULL", "PULL", 30, "pull failed", NULL);
    out = annotations(&fx->run, "deploy/web.yml", 10);
    assert_int_equal(count(out, "::error "), 3);
    assert_int_equal(count(out, "title=rollgate%3A gate health failed (web/VERIFY)::"), 1);
    assert_non_null(strstr(out, "::error file=deploy/web.yml,line=30,col=7,"
                                "title=rollgate%3A EXEC failed (web/EXEC)::"
                                "exec failed: exit 2%0Amigrate: no such table\n"));
    assert_non_null(strstr(out, "::error title=rollgate%3A PULL failed (web/PULL)::"
                                "pull failed\n"));
    free(out);
}

static void
test_annotations_capped(void **state)
{
    struct fixture *fx = *state;
    char *out, *last;

    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof(name), "g%d", i);
        at_gate(add_case(&fx->run, RG_CI_FAILURE, "web/SETTLE", name, 10, "failed", "evidence"),
                &fx->gate);
    }
    out = annotations(&fx->run, "deploy/web.yml", 10);
    assert_int_equal(count(out, "\n"), 10);
    assert_int_equal(count(out, "::error "), 10);
    assert_int_equal(count(out, "::error file=deploy/web.yml,line=12,col=5,"), 9);
    assert_non_null(last = strstr(out, "::error title="));
    assert_string_equal(last, "::error title=rollgate%3A 3 more failures::3 more failures are "
                              "not annotated (GitHub shows 10 of a step): the step summary and "
                              "the log list them all\n");
    free(out);

    /* exactly the cap: all of them, no count */
    out = annotations(&fx->run, "deploy/web.yml", 12);
    assert_int_equal(count(out, "::error file=deploy/web.yml,"), 12);
    assert_null(strstr(out, "more failures"));
    free(out);
}

static void
test_annotations_file_escaped(void **state)
{
    struct fixture *fx = *state;
    char *out;

    at_gate(add_case(&fx->run, RG_CI_FAILURE, "web/VERIFY", "health", 10, "failed", NULL),
            &fx->gate);
    out = annotations(&fx->run, "deploy/a,b:c%.yml", 10);
    assert_non_null(strstr(out, "::error file=deploy/a%2Cb%3Ac%25.yml,line=12,col=5,title="));
    free(out);
}

/* ---- JUnit ---- */

static void
junit_run(struct fixture *fx)
{
    struct rg_ci_run *run = &fx->run;

    run->deploy_id = 42;
    snprintf(run->tag, sizeof(run->tag), "v2");
    snprintf(run->serving, sizeof(run->serving), "v1");
    snprintf(run->rolled_back_to, sizeof(run->rolled_back_to), "v1");
    snprintf(run->outcome, sizeof(run->outcome), "rolled_back");
    run->exit_code = 1;
    run->started_unix_ms = 1700000000123; /* 2023-11-14T22:13:20Z */
    run->elapsed_ms = 1234;
    at_gate(add_case(run, RG_CI_PASS, "web/VERIFY", "db", 5, NULL, NULL), &fx->other);
    at_gate(add_case(run, RG_CI_FAILURE, "web/VERIFY", "a\"b", 1500, "gate failed: <script>",
             "<script>&\x01 caf\xc3\xa9 \xff ]]>"), &fx->gate);
    at_step(add_case(run, RG_CI_ERROR, "web/rung 1 rollback/UP", "UP", 2000, "up failed: exit 1",
                     NULL),
            &fx->step);
    add_case(run, RG_CI_SKIPPED, "web/recover", "rung 2 restore", -5, "not reached", NULL);
    add_step(run, 100, "VERIFY failed");
    add_step(run, 1200, "recover: rung 1, rollback & <up>");
    run->note = rg_strdup("handed to a worker\x02");
}

static void
test_junit_document(void **state)
{
    struct fixture *fx = *state;
    char *doc, *said = NULL;

    junit_run(fx);
    doc = junit(&fx->run);
    assert_memory_equal(doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", 50);
    /* the same counts on testsuites and testsuite */
    assert_int_equal(count(doc, " tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" "
                                "time=\"1.234\""),
                     2);
    assert_non_null(strstr(doc, "<testsuite name=\"rollgate deploy web v2\""));
    assert_non_null(strstr(doc, " timestamp=\"2023-11-14T22:13:20\">"));
    assert_non_null(strstr(doc, "<property name=\"deploy_id\" value=\"42\"/>"));
    assert_non_null(strstr(doc, "<property name=\"exit_code\" value=\"1\"/>"));
    assert_non_null(strstr(doc, "<testcase classname=\"web/VERIFY\" name=\"db\" "
                                "time=\"0.005\"/>"));
    assert_non_null(strstr(doc, "name=\"a&quot;b\" time=\"1.500\">\n"
                                "      <failure message=\"gate failed: &lt;script&gt;\" "
                                "type=\"gate\">&lt;script&gt;&amp; caf\xc3\xa9 ? ]]&gt;"
                                "</failure>\n"));
    assert_non_null(strstr(doc, "<error message=\"up failed: exit 1\" type=\"rollgate\"/>"));
    assert_non_null(strstr(doc, "name=\"rung 2 restore\" time=\"0.000\">\n"
                                "      <skipped message=\"not reached\"/>"));
    assert_non_null(strstr(doc, "recover: rung 1, rollback &amp; &lt;up&gt;\n"));
    assert_non_null(strstr(doc, "handed to a worker\n</system-out>"));
    assert_null(strstr(doc, "<script>"));
    assert_null(strchr(doc, '\x01'));
    assert_null(strchr(doc, '\x02'));

    if (xmllint(fx->dir, doc, &said) != 0)
        fail_msg("the JUnit report does not validate against junit.xsd:\n%s\n%s", said, doc);
    free(said);
    free(doc);
}

static void
test_junit_empty_run_validates(void **state)
{
    struct fixture *fx = *state;
    char *doc, *said = NULL;

    fx->run.command = "check";
    doc = junit(&fx->run);
    assert_non_null(strstr(doc, "<testsuite name=\"rollgate check web\" tests=\"0\" failures=\"0\" "
                                "errors=\"0\" skipped=\"0\" time=\"0.000\" "
                                "timestamp=\"1970-01-01T00:00:00\">"));
    if (xmllint(fx->dir, doc, &said) != 0)
        fail_msg("an empty JUnit report does not validate against junit.xsd:\n%s\n%s", said, doc);
    free(said);
    free(doc);
}

/* The schema must be able to fail: a report a CI would misread does not validate. */
static void
test_junit_schema_rejects(void **state)
{
    struct fixture *fx = *state;
    char *doc, *broken, *said = NULL;
    const char *tc, *name, *end;

    junit_run(fx);
    doc = junit(&fx->run);

    /* a testcase without its name */
    assert_non_null(tc = strstr(doc, "<testcase "));
    assert_non_null(name = strstr(tc, " name=\""));
    assert_non_null(end = strchr(name + 7, '"'));
    broken = rg_asprintf("%.*s%s", (int)(name - doc), doc, end + 1);
    assert_int_not_equal(xmllint(fx->dir, broken, &said), 0);
    assert_non_null(strstr(said, "'name' is required"));
    free(said);
    free(broken);

    /* a time with a locale's decimal comma */
    assert_non_null(tc = strstr(doc, "time=\"1.234\""));
    broken = rg_strdup(doc);
    broken[tc - doc + 7] = ',';
    assert_int_not_equal(xmllint(fx->dir, broken, &said), 0);
    assert_non_null(strstr(said, "1,234"));
    free(said);
    free(broken);

    /* a timestamp with a zone */
    assert_non_null(tc = strstr(doc, "22:13:20\""));
    broken = rg_asprintf("%.*sZ%s", (int)(tc + 8 - doc), doc, tc + 8);
    assert_int_not_equal(xmllint(fx->dir, broken, &said), 0);
    free(said);
    free(broken);

    /* two results in one testcase */
    assert_non_null(tc = strstr(doc, "<skipped "));
    broken = rg_asprintf("%.*s<failure/>%s", (int)(tc - doc), doc, tc);
    assert_int_not_equal(xmllint(fx->dir, broken, &said), 0);
    free(said);
    free(broken);
    free(doc);
}

/* ---- the step summary ---- */

static void
test_summary(void **state)
{
    struct fixture *fx = *state;
    struct rg_ci_run *run = &fx->run;
    char *md;

    snprintf(run->tag, sizeof(run->tag), "v2");
    snprintf(run->serving, sizeof(run->serving), "v1");
    snprintf(run->rolled_back_to, sizeof(run->rolled_back_to), "v1");
    snprintf(run->outcome, sizeof(run->outcome), "rolled_back");
    run->deploy_id = 7;
    run->exit_code = 1;
    run->elapsed_ms = 12345;
    at_gate(add_case(run, RG_CI_PASS, "web/VERIFY", "db", 5, NULL, NULL), &fx->other);
    at_gate(add_case(run, RG_CI_FAILURE, "web/VERIFY", "health", 1500,
             "gate health failed: body a|b <b>\nsecond line", "before\n~~~\nafter ~~ x"),
            &fx->gate);
    add_case(run, RG_CI_ERROR, "web/PULL", "PULL", 30, "pull failed", "no ~ here");
    add_step(run, 100, "VERIFY failed");
    add_step(run, 200, "recover: rung 1, rollback");
    add_step(run, 900, "outcome: rolled_back");
    md = summary(run);

    assert_memory_equal(md, "## rollgate deploy of web: v2 \xe2\x80\x94 rolled_back (exit 1)\n",
                        strlen("## rollgate deploy of web: v2 \xe2\x80\x94 rolled_back "
                               "(exit 1)\n"));
    assert_non_null(strstr(md, "| Deploy | #7 |\n"));
    assert_non_null(strstr(md, "| Serving | v1 |\n"));
    assert_non_null(strstr(md, "| Rolled back to | v1 |\n"));
    assert_non_null(strstr(md, "| Took | 12.3 s |\n"));
    assert_non_null(strstr(md, "| 0.2 s | recover: rung 1, rollback |\n"));
    /* a table cell stays one cell, one line, no HTML */
    assert_non_null(strstr(md, "**health** in `web/VERIFY` (playbook line 12): "
                               "gate health failed: body a\\|b &lt;b&gt; second line\n"));
    /* the fence is longer than any run of ~ in the evidence */
    assert_non_null(strstr(md, "\n~~~~text\nbefore\n~~~\nafter ~~ x\n~~~~\n"));
    assert_non_null(strstr(md, "**web/PULL**: pull failed\n\n~~~text\nno ~ here\n~~~\n"));
    assert_non_null(strstr(md, "### What the ladder did\n\n- recover: rung 1, rollback\n"
                               "- outcome: rolled_back\n"));
    free(md);
}

/* ---- workspace-relative paths ---- */

static void
mkdir_ok(const char *dir, const char *name)
{
    char *path = rg_asprintf("%s/%s", dir, name);

    assert_int_equal(mkdir(path, 0755), 0);
    free(path);
}

static void
assert_workspace_path(const char *playbook, const char *workspace, const char *want)
{
    char *got = rg_ci_workspace_path(playbook, workspace);

    assert_string_equal(got, want);
    free(got);
}

static void
test_workspace_path(void **state)
{
    struct fixture *fx = *state;
    char *ws, *pb, *outside, *sibling, *link, *abs;
    char cwd[PATH_MAX];

    mkdir_ok(fx->dir, "ws");
    mkdir_ok(fx->dir, "ws/deploy");
    mkdir_ok(fx->dir, "ws2");
    ws = rg_asprintf("%s/ws", fx->dir);
    pb = put_file(fx->dir, "ws/deploy/web.yml", "name: web\n");
    outside = put_file(fx->dir, "other.yml", "name: other\n");
    sibling = put_file(fx->dir, "ws2/web.yml", "name: web\n"); /* shares ws's prefix */
    link = rg_asprintf("%s/link", fx->dir);
    assert_int_equal(symlink(ws, link), 0);

    assert_workspace_path(pb, ws, "deploy/web.yml");
    assert_workspace_path(outside, ws, outside);
    assert_workspace_path(sibling, ws, sibling);
    assert_workspace_path(pb, link, "deploy/web.yml"); /* the workspace through a symlink */
    assert_workspace_path(pb, NULL, pb);
    assert_workspace_path(pb, "", pb);
    assert_workspace_path("./x.yml", NULL, "x.yml");
    assert_workspace_path("./x.yml", ws, "x.yml"); /* not there: the path as given, less ./ */
    assert_workspace_path("deploy/web.yml", NULL, "deploy/web.yml");

    /* a relative playbook under the workspace, from the workspace's root */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(ws), 0);
    abs = rg_ci_workspace_path("./deploy/web.yml", ws);
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(abs, "deploy/web.yml");

    free(abs);
    free(link);
    free(sibling);
    free(outside);
    free(pb);
    free(ws);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gh_data),
        cmocka_unit_test(test_gh_property),
        cmocka_unit_test(test_xml_escape_markup_and_controls),
        cmocka_unit_test(test_xml_escape_utf8),
        cmocka_unit_test(test_write_output_line),
        cmocka_unit_test(test_write_output_lines),
        cmocka_unit_test_setup_teardown(test_annotations_gate_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotations_none_when_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotations_stages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotations_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotations_file_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_junit_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_junit_empty_run_validates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_junit_schema_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workspace_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
