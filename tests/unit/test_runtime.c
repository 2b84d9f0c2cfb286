/* Unit tests of runtime's pure parts: the decoders of the Docker daemon's answers (fed with
 * answers recorded from a real dockerd 20.10, API 1.41, in tests/fixtures/docker), the log frame
 * decoder and the env file that holds the release tag. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <jansson.h>

#include "rollgate/err.h"
#include "rollgate/proxy.h"
#include "rollgate/runtime.h"
#include "rollgate/util.h"

/* 2026-01-01T00:00:00Z: every time recorded for these fixtures is later. */
#define JAN_2026_MS INT64_C(1767225600000)
#define ENVFILE_MAX (1024 * 1024) /* src/runtime/envfile.c */

/* ---- helpers ---- */

/* Reads a whole file; NULL when it cannot be opened. *len (when given) gets its size. */
static char *
slurp(const char *path, size_t *len)
{
    struct rg_buf b;
    char chunk[4096];
    size_t n;
    FILE *fp = fopen(path, "rb");

    if (!fp)
        return NULL;
    rg_buf_init(&b, SIZE_MAX / 2);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        rg_buf_add(&b, chunk, n);
    fclose(fp);
    if (len)
        *len = b.len;
    if (!b.data)
        return rg_strdup("");
    return rg_buf_detach(&b);
}

/* A recorded answer of the daemon, from $RG_SOURCE_DIR/tests/fixtures/docker. */
static char *
fixture(const char *name, size_t *len)
{
    const char *src = getenv("RG_SOURCE_DIR");
    char path[PATH_MAX];
    char *data;

    if (!src)
        fail_msg("RG_SOURCE_DIR is not set (run through ctest)");
    snprintf(path, sizeof(path), "%s/tests/fixtures/docker/%s", src, name);
    data = slurp(path, len);
    if (!data)
        fail_msg("cannot read fixture '%s': %s", path, strerror(errno));
    return data;
}

/* doc with the first occurrence of from replaced by to (which must occur). Newly allocated. */
static char *
replace_once(const char *doc, const char *from, const char *to)
{
    const char *at = strstr(doc, from);
    struct rg_buf b;

    if (!at)
        fail_msg("'%s' does not occur in the document", from);
    rg_buf_init(&b, SIZE_MAX / 2);
    rg_buf_add(&b, doc, (size_t)(at - doc));
    rg_buf_adds(&b, to);
    rg_buf_adds(&b, at + strlen(from));
    return rg_buf_detach(&b);
}

/* The error of parsing a recorded inspect document with one edit; the result must be cleared. */
static int
inspect_edited(struct rg_err *err, const char *file, const char *from, const char *to)
{
    struct rg_container c;
    char *doc = fixture(file, NULL);
    char *edited = replace_once(doc, from, to);
    int rc;

    memset(&c, 0xa5, sizeof(c)); /* garbage in: the parser must clear it */
    rc = rg_docker_parse_inspect(&c, edited, strlen(edited), err);
    if (rc < 0) {
        assert_null(c.id);
        assert_null(c.status);
        assert_null(c.name);
    }
    rg_container_release(&c);
    free(edited);
    free(doc);
    return rc;
}

static void
assert_inspect_error(const char *file, const char *from, const char *to, int code, const char *want)
{
    struct rg_err err;

    rg_err_clear(&err);
    assert_int_equal(inspect_edited(&err, file, from, to), code);
    if (strcmp(err.msg, want) != 0)
        print_message("got:  %s\nwant: %s\n", err.msg, want);
    assert_string_equal(err.msg, want);
}

static void
assert_msg(const struct rg_err *err, const char *want)
{
    if (strcmp(err->msg, want) != 0)
        print_message("got:  %s\nwant: %s\n", err->msg, want);
    assert_string_equal(err->msg, want);
}

static void
parse_inspect_fixture(struct rg_container *c, const char *file)
{
    struct rg_err err;
    size_t len;
    char *doc = fixture(file, &len);

    rg_err_clear(&err);
    if (rg_docker_parse_inspect(c, doc, len, &err) != 0)
        fail_msg("%s: %s", file, err.msg);
    free(doc);
}

/* ---- container inspect ---- */

static void
test_inspect_running(void **state)
{
    struct rg_container c;

    (void)state;
    parse_inspect_fixture(&c, "inspect-running.json");
    assert_string_equal(c.id, "41743a9cc4316219528a8c2d8cd981700f9f2bfcb83d3bc0e7d71ca366df1ae3");
    assert_string_equal(c.name, "rgrec-running");
    assert_string_equal(c.project, "rgrec");
    assert_string_equal(c.service, "app");
    assert_string_equal(c.image, "127.0.0.1:5000/rollgate/demo-app:v1");
    assert_string_equal(c.image_id,
                        "sha256:3977eb5e900103d09ba7db7fd50f3da4c9e083b6fa665087ec18645ab3cbee1f");
    assert_string_equal(c.status, "running");
    assert_true(c.running);
    assert_false(c.restarting);
    assert_false(c.oom_killed);
    assert_false(c.tty);
    assert_int_equal(c.exit_code, 0);
    assert_int_equal(c.restart_count, 0);
    assert_string_equal(c.health, "healthy");
    assert_string_equal(c.health_output, "probe: GET /health 200\n"); /* the last check's */
    assert_true(c.started_at_ms > JAN_2026_MS);
    assert_int_equal(c.started_at_ms, INT64_C(1795215806507)); /* 23:03:26.507178139Z */
    assert_int_equal(c.finished_at_ms, 0);                     /* Go's zero time */
    rg_container_release(&c);
    assert_null(c.id);
}

static void
test_inspect_restarting(void **state)
{
    struct rg_container c;

    (void)state;
    parse_inspect_fixture(&c, "inspect-restarting.json");
    assert_string_equal(c.name, "rgrec-crash");
    assert_string_equal(c.status, "restarting");
    assert_true(c.restarting);
    assert_true(c.running); /* Docker says Running while it waits to restart */
    assert_true(c.restart_count > 0);
    assert_int_equal(c.restart_count, 9);
    assert_int_equal(c.exit_code, 1);
    assert_false(c.oom_killed);
    assert_null(c.health);
    assert_null(c.health_output);
    assert_string_equal(c.image, "127.0.0.1:5000/rollgate/demo-app:v2-crash");
    assert_int_equal(strncmp(c.image_id, "sha256:", 7), 0);
    assert_string_equal(c.project, "rgrec");
    assert_string_equal(c.service, "app");
    /* Crashed 17 ms after the last start: the finish belongs to the current run. */
    assert_int_equal(c.started_at_ms, INT64_C(1795215833602));
    assert_int_equal(c.finished_at_ms, INT64_C(1795215833619));
    rg_container_release(&c);
}

static void
test_inspect_oom(void **state)
{
    struct rg_container c;

    (void)state;
    parse_inspect_fixture(&c, "inspect-oom.json");
    assert_string_equal(c.name, "rgrec-oom");
    assert_string_equal(c.status, "exited");
    assert_false(c.running);
    assert_false(c.restarting);
    assert_true(c.oom_killed);
    assert_int_equal(c.exit_code, 137);
    assert_int_equal(c.restart_count, 0);
    assert_null(c.health);
    assert_string_equal(c.image, "127.0.0.1:5000/rollgate/demo-app:v2-oom");
    assert_string_equal(c.image_id,
                        "sha256:a5ed70404853b20ba0905d966c4e9c2c07ec41f2cab3871852afb675228c85c6");
    assert_int_equal(c.started_at_ms, INT64_C(1795215806885));
    assert_int_equal(c.finished_at_ms, INT64_C(1795215808243));
    rg_container_release(&c);
}

static void
test_inspect_exited(void **state)
{
    struct rg_container c;

    (void)state;
    parse_inspect_fixture(&c, "inspect-exited.json");
    assert_string_equal(c.id, "e29a6cc720a2b4bb8a2225c83987580c9d553027c379d4127b16831156868bbb");
    assert_string_equal(c.name, "rgrec-die");
    assert_string_equal(c.status, "exited");
    assert_false(c.running);
    assert_false(c.restarting);
    assert_false(c.oom_killed);
    assert_int_equal(c.exit_code, 3);
    assert_null(c.health);
    assert_false(c.tty);
    assert_int_equal(c.started_at_ms, INT64_C(1795215807124));
    assert_int_equal(c.finished_at_ms, INT64_C(1795215810127));
    assert_true(c.finished_at_ms > c.started_at_ms);
    rg_container_release(&c);
}

static void
test_inspect_no_health(void **state)
{
    struct rg_container c;

    (void)state;
    parse_inspect_fixture(&c, "inspect-no-health.json");
    assert_string_equal(c.name, "rgrec-tty");
    assert_string_equal(c.status, "running");
    assert_true(c.running);
    assert_true(c.tty);
    assert_null(c.health);
    assert_null(c.health_output);
    assert_int_equal(c.exit_code, 0);
    assert_true(c.started_at_ms > JAN_2026_MS);
    assert_int_equal(c.finished_at_ms, 0);
    assert_string_equal(c.project, "rgrec");
    assert_string_equal(c.service, "app");
    rg_container_release(&c);
}

/* Docker keeps the previous run's FinishedAt while the container runs again. */
static void
test_inspect_stale_finish_is_zero(void **state)
{
    struct rg_container c;
    struct rg_err err;
    char *doc = fixture("inspect-running.json", NULL);
    char *edited = replace_once(doc, "\"FinishedAt\":\"0001-01-01T00:00:00Z\"",
                                "\"FinishedAt\":\"2026-11-20T23:00:00.5Z\"");

    (void)state;
    assert_int_equal(rg_docker_parse_inspect(&c, edited, strlen(edited), &err), 0);
    assert_int_equal(c.finished_at_ms, 0);
    rg_container_release(&c);
    free(edited);
    free(doc);
}

/* A container without labels (not from compose) and a name without the '/'. */
static void
test_inspect_minimal(void **state)
{
    static const char doc[] =
        "{\"Id\":\"abc\",\"Name\":\"plain\",\"State\":{\"Status\":\"created\"}}";
    struct rg_container c;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_docker_parse_inspect(&c, doc, strlen(doc), &err), 0);
    assert_string_equal(c.id, "abc");
    assert_string_equal(c.name, "plain");
    assert_string_equal(c.status, "created");
    assert_null(c.project);
    assert_null(c.service);
    assert_null(c.image);
    assert_null(c.image_id);
    assert_false(c.running);
    assert_int_equal(c.started_at_ms, 0);
    rg_container_release(&c);
}

static void
test_inspect_not_json(void **state)
{
    struct rg_container c;
    struct rg_err err;
    size_t len;
    char *doc = fixture("inspect-running.json", &len);

    (void)state;
    /* The connection broke in the middle of the answer. */
    assert_int_equal(rg_docker_parse_inspect(&c, doc, 300, &err), RG_ERUNTIME);
    assert_msg(&err, "invalid JSON in container inspect: premature end of input near '\"202' at "
                     "line 1 column 300");
    assert_null(c.id);
    assert_int_equal(rg_docker_parse_inspect(&c, "", 0, &err), RG_ERUNTIME);
    assert_msg(&err, "invalid JSON in container inspect: '[' or '{' expected near end of file "
                     "at line 1 column 0");
    assert_int_equal(rg_docker_parse_inspect(&c, "<html>502 Bad Gateway</html>", 28, &err),
                     RG_ERUNTIME);
    assert_msg(&err, "invalid JSON in container inspect: '[' or '{' expected near '<' at line 1 "
                     "column 1");
    /* Two documents glued together. */
    assert_int_equal(rg_docker_parse_inspect(&c, "{}{}", 4, &err), RG_ERUNTIME);
    assert_msg(&err, "invalid JSON in container inspect: end of file expected near '{' at line "
                     "1 column 3");
    free(doc);
}

static void
test_inspect_wrong_type(void **state)
{
    struct rg_container c;
    struct rg_err err;
    size_t len;
    char *list = fixture("list.json", &len);

    (void)state;
    /* The list answer where an inspect was expected: an array. */
    assert_int_equal(rg_docker_parse_inspect(&c, list, len, &err), RG_ERUNTIME);
    assert_msg(&err, "cannot read container inspect: container inspect lacks 'Id' or 'State'");
    assert_null(c.id);
    assert_int_equal(rg_docker_parse_inspect(&c, "[]", 2, &err), RG_ERUNTIME);
    assert_msg(&err, "cannot read container inspect: container inspect lacks 'Id' or 'State'");
    free(list);
}

static void
test_inspect_missing_fields(void **state)
{
    (void)state;
    assert_inspect_error("inspect-running.json", "{\"Id\":", "{\"ID\":", RG_ERUNTIME,
                         "cannot read container inspect: container inspect lacks 'Id' or "
                         "'State'");
    assert_inspect_error("inspect-running.json", "{\"Id\":\"41743a9cc43162",
                         "{\"Id\":41743, \"x\":\"", RG_ERUNTIME,
                         "cannot read container inspect: container inspect lacks 'Id' or "
                         "'State'");
    assert_inspect_error("inspect-running.json", "\"State\":{", "\"Statx\":{", RG_ERUNTIME,
                         "cannot read container inspect: container inspect lacks 'Id' or "
                         "'State'");
    assert_inspect_error("inspect-running.json", "\"State\":{", "\"State\":\"up\",\"x\":{",
                         RG_ERUNTIME,
                         "cannot read container inspect: container inspect lacks 'Id' or "
                         "'State'");
    assert_inspect_error("inspect-running.json", "\"Status\":\"running\"", "\"Phase\":\"running\"",
                         RG_ERUNTIME,
                         "cannot read container inspect: container inspect lacks 'State.Status'");
    assert_inspect_error("inspect-running.json", "\"Status\":\"running\"", "\"Status\":1",
                         RG_ERUNTIME,
                         "cannot read container inspect: container inspect lacks 'State.Status'");
}

static void
test_inspect_mistyped_fields(void **state)
{
    (void)state;
    assert_inspect_error("inspect-restarting.json", "\"RestartCount\":9", "\"RestartCount\":\"9\"",
                         RG_ERUNTIME,
                         "cannot read container inspect: field 'RestartCount' is not a whole "
                         "number");
    assert_inspect_error("inspect-restarting.json", "\"RestartCount\":9", "\"RestartCount\":9.5",
                         RG_ERUNTIME,
                         "cannot read container inspect: field 'RestartCount' is not a whole "
                         "number");
    assert_inspect_error("inspect-running.json", "\"Running\":true", "\"Running\":\"true\"",
                         RG_ERUNTIME,
                         "cannot read container inspect: field 'Running' is not true or false");
    assert_inspect_error("inspect-oom.json", "\"OOMKilled\":true", "\"OOMKilled\":1", RG_ERUNTIME,
                         "cannot read container inspect: field 'OOMKilled' is not true or false");
    assert_inspect_error("inspect-oom.json", "\"ExitCode\":137", "\"ExitCode\":4294967433",
                         RG_ERUNTIME,
                         "cannot read container inspect: field 'ExitCode' is not a whole number");
    assert_inspect_error("inspect-no-health.json", "\"Tty\":true", "\"Tty\":\"yes\"", RG_ERUNTIME,
                         "cannot read container inspect: field 'Tty' is not true or false");
}

static void
test_inspect_bad_times(void **state)
{
    (void)state;
    assert_inspect_error("inspect-running.json", "\"StartedAt\":\"2026-11-20T23:03:26.507178139Z\"",
                         "\"StartedAt\":\"2026-11-20 23:03:26Z\"", RG_EINVAL,
                         "cannot read container inspect: field 'StartedAt': invalid time "
                         "'2026-11-20 23:03:26Z'");
    assert_inspect_error("inspect-running.json", "\"StartedAt\":\"2026-11-20T23:03:26.507178139Z\"",
                         "\"StartedAt\":1795215806", RG_EINVAL,
                         "cannot read container inspect: field 'StartedAt' is not a string");
    assert_inspect_error("inspect-exited.json", "\"FinishedAt\":\"2026-11-20T23:03:30.127655494Z\"",
                         "\"FinishedAt\":\"2026-11-20T23:03:30.127655494\"", RG_EINVAL,
                         "cannot read container inspect: field 'FinishedAt': invalid time "
                         "'2026-11-20T23:03:30.127655494' (no zone)");
}

/* Fields Docker may omit or shape oddly are defaults, never errors. */
static void
test_inspect_odd_optional_fields(void **state)
{
    struct rg_err err;

    (void)state;
    rg_err_clear(&err);
    assert_int_equal(
        inspect_edited(&err, "inspect-running.json", "\"Health\":{", "\"Health\":null,\"x\":{"), 0);
    assert_int_equal(inspect_edited(&err, "inspect-running.json", "\"Log\":[", "\"Log\":7,\"x\":["),
                     0);
    assert_int_equal(inspect_edited(&err, "inspect-running.json", "\"Name\":\"/rgrec-running\"",
                                    "\"Name\":null"),
                     0);
    assert_int_equal(
        inspect_edited(&err, "inspect-running.json", "\"Config\":{", "\"Config\":[],\"x\":{"), 0);
}

/* ---- container list ---- */

static void
test_list_recorded(void **state)
{
    static const struct {
        const char *id_prefix, *name, *status, *tag;
        bool running, restarting;
    } want[] = {
        {"ba1f875e0c6f", "rgrec-tty", "running", "v1", true, false},
        {"e29a6cc720a2", "rgrec-die", "exited", "v2-die", false, false},
        {"87f02444a42a", "rgrec-oom", "exited", "v2-oom", false, false},
        {"7a1d44593ec2", "rgrec-crash", "restarting", "v2-crash", false, true},
        {"41743a9cc431", "rgrec-running", "running", "v1", true, false},
    };
    struct rg_container *v = NULL;
    struct rg_err err;
    size_t n, len;
    char *doc = fixture("list.json", &len);

    (void)state;
    if (rg_docker_parse_list(&v, &n, doc, len, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        char image[128];
        snprintf(image, sizeof(image), "127.0.0.1:5000/rollgate/demo-app:%s", want[i].tag);
        assert_int_equal(strlen(v[i].id), 64);
        assert_int_equal(strncmp(v[i].id, want[i].id_prefix, 12), 0);
        assert_string_equal(v[i].name, want[i].name);
        assert_string_equal(v[i].status, want[i].status);
        assert_int_equal(v[i].running, want[i].running);
        assert_int_equal(v[i].restarting, want[i].restarting);
        assert_string_equal(v[i].project, "rgrec");
        assert_string_equal(v[i].service, "app");
        assert_string_equal(v[i].image, image);
        assert_int_equal(strncmp(v[i].image_id, "sha256:", 7), 0);
        assert_int_equal(strlen(v[i].image_id), 71);
        assert_null(v[i].health); /* the list has no health, only a status text */
    }
    assert_string_equal(v[4].id,
                        "41743a9cc4316219528a8c2d8cd981700f9f2bfcb83d3bc0e7d71ca366df1ae3");
    rg_containers_free(v, n);
    free(doc);
}

static void
test_list_edge_shapes(void **state)
{
    static const char doc[] = "[{\"Id\":\"a\",\"Names\":[],\"State\":\"created\"},"
                              "{\"Id\":\"b\",\"Names\":[\"/x\",\"/y\"],\"Labels\":null}]";
    struct rg_container *v = NULL;
    struct rg_err err;
    size_t n = 99;

    (void)state;
    assert_int_equal(rg_docker_parse_list(&v, &n, "[]", 2, &err), 0);
    assert_int_equal(n, 0);
    rg_containers_free(v, n);
    v = NULL;
    assert_int_equal(rg_docker_parse_list(&v, &n, doc, strlen(doc), &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "");
    assert_string_equal(v[0].status, "created");
    assert_false(v[0].running);
    assert_null(v[0].project);
    assert_string_equal(v[1].name, "x");
    assert_null(v[1].status);
    assert_null(v[1].service);
    rg_containers_free(v, n);
}

static void
test_list_errors(void **state)
{
    static struct rg_container dummy;
    struct rg_container *v = &dummy; /* not NULL: must be cleared */
    struct rg_err err;
    size_t n = 7, len;
    char *inspect = fixture("inspect-running.json", &len);
    char *list = fixture("list.json", NULL);
    char *no_id = replace_once(list, "\"Id\":\"87f02444", "\"ID\":\"87f02444");

    (void)state;
    /* An inspect answer where a list was expected: an object. */
    assert_int_equal(rg_docker_parse_list(&v, &n, inspect, len, &err), RG_ERUNTIME);
    assert_msg(&err, "container list is not a JSON array");
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(rg_docker_parse_list(&v, &n, "{}", 2, &err), RG_ERUNTIME);
    assert_msg(&err, "container list is not a JSON array");
    assert_int_equal(rg_docker_parse_list(&v, &n, "[{\"Id\":\"a\"}", 11, &err), RG_ERUNTIME);
    assert_msg(&err, "invalid JSON in container list: ']' expected near end of file at line 1 "
                     "column 11");
    assert_int_equal(rg_docker_parse_list(&v, &n, "[{\"Id\":\"a\"},42]", 15, &err), RG_ERUNTIME);
    assert_msg(&err, "container list entry 1 lacks 'Id'");
    assert_null(v);
    /* The third entry lost its Id: the two before it are released, not leaked. */
    assert_int_equal(rg_docker_parse_list(&v, &n, no_id, strlen(no_id), &err), RG_ERUNTIME);
    assert_msg(&err, "container list entry 2 lacks 'Id'");
    assert_null(v);
    assert_int_equal(n, 0);
    free(no_id);
    free(list);
    free(inspect);
}

/* ---- events ---- */

static void
test_events_recorded(void **state)
{
    static const struct {
        enum rg_docker_event_kind kind;
        const char *action, *name, *id_prefix;
        int exit_code;
        int64_t time_ms;
    } want[] = {
        {RG_DOCKER_EV_START, "start", "rgrec-running", "41743a9cc431", -1, 1795215806508},
        {RG_DOCKER_EV_START, "start", "rgrec-crash", "7a1d44593ec2", -1, 1795215806690},
        {RG_DOCKER_EV_DIE, "die", "rgrec-crash", "7a1d44593ec2", 1, 1795215806711},
        {RG_DOCKER_EV_START, "start", "rgrec-oom", "87f02444a42a", -1, 1795215806886},
        {RG_DOCKER_EV_HEALTH, "health_status: healthy", "rgrec-running", "41743a9cc431", -1,
         1795215807545},
        {RG_DOCKER_EV_OOM, "oom", "rgrec-oom", "87f02444a42a", -1, 1795215808238},
        {RG_DOCKER_EV_DIE, "die", "rgrec-oom", "87f02444a42a", 137, 1795215808262},
        {RG_DOCKER_EV_DIE, "die", "rgrec-die", "e29a6cc720a2", 3, 1795215810145},
        {RG_DOCKER_EV_DIE, "die", "rgrec-tty", "ba1f875e0c6f", 0, 1795215849702},
        {RG_DOCKER_EV_START, "start", "rgrec-tty", "ba1f875e0c6f", -1, 1795215849905},
        {RG_DOCKER_EV_RESTART, "restart", "rgrec-tty", "ba1f875e0c6f", -1, 1795215849905},
    };
    struct rg_docker_event ev;
    struct rg_err err;
    char *doc = fixture("events.jsonl", NULL);
    const char *p = doc;
    size_t i = 0;

    (void)state;
    while (*p) {
        size_t len = strcspn(p, "\n");
        if (i >= sizeof(want) / sizeof(want[0]))
            fail_msg("more events than expected");
        /* Each line with its newline, as the stream delivers it. */
        if (rg_docker_parse_event(&ev, p, len + (p[len] == '\n'), &err) != 0)
            fail_msg("event %zu: %s", i, err.msg);
        assert_int_equal(ev.kind, want[i].kind);
        assert_string_equal(ev.action, want[i].action);
        assert_string_equal(ev.name, want[i].name);
        assert_string_equal(ev.service, "app");
        assert_int_equal(strlen(ev.id), 64);
        assert_int_equal(strncmp(ev.id, want[i].id_prefix, 12), 0);
        assert_int_equal(ev.exit_code, want[i].exit_code);
        assert_int_equal(ev.time_ms, want[i].time_ms);
        assert_true(ev.time_ms > JAN_2026_MS);
        p += len + (p[len] == '\n');
        i++;
    }
    assert_int_equal(i, sizeof(want) / sizeof(want[0]));
    free(doc);
}

static void
test_event_shapes(void **state)
{
    struct rg_docker_event ev;
    struct rg_err err;
    const char *s;

    (void)state;
    /* Older daemons: "status" instead of "Action", "time" in seconds without "timeNano". */
    s = "{\"status\":\"die\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"exitCode\":\"2\"}},"
        "\"time\":1795215806}";
    assert_int_equal(rg_docker_parse_event(&ev, s, strlen(s), &err), 0);
    assert_int_equal(ev.kind, RG_DOCKER_EV_DIE);
    assert_int_equal(ev.exit_code, 2);
    assert_int_equal(ev.time_ms, INT64_C(1795215806000));
    assert_string_equal(ev.id, "abc");
    assert_string_equal(ev.service, "");
    assert_string_equal(ev.name, "");
    /* An exitCode that is not a number is no exit code, not an error. */
    s = "{\"Action\":\"die\",\"Actor\":{\"Attributes\":{\"exitCode\":\"abc\"}}}";
    assert_int_equal(rg_docker_parse_event(&ev, s, strlen(s), &err), 0);
    assert_int_equal(ev.kind, RG_DOCKER_EV_DIE);
    assert_int_equal(ev.exit_code, -1);
    assert_int_equal(ev.time_ms, 0);
    s = "{\"Action\":\"die\",\"Actor\":{\"Attributes\":{\"exitCode\":\"300\"}}}";
    assert_int_equal(rg_docker_parse_event(&ev, s, strlen(s), &err), 0);
    assert_int_equal(ev.exit_code, -1);
    s = "{\"Action\":\"die\",\"Actor\":{\"Attributes\":{\"exitCode\":137}}}";
    assert_int_equal(rg_docker_parse_event(&ev, s, strlen(s), &err), 0);
    assert_int_equal(ev.exit_code, -1);
    s = "{\"Action\":\"health_status: unhealthy\",\"Actor\":{\"Attributes\":[]}}";
    assert_int_equal(rg_docker_parse_event(&ev, s, strlen(s), &err), 0);
    assert_int_equal(ev.kind, RG_DOCKER_EV_HEALTH);
    assert_string_equal(ev.action, "health_status: unhealthy");
    s = "{\"Action\":\"exec_start: /app --probe\",\"Actor\":{}}";
    assert_int_equal(rg_docker_parse_event(&ev, s, strlen(s), &err), 0);
    assert_int_equal(ev.kind, RG_DOCKER_EV_OTHER);
    assert_string_equal(ev.action, "exec_start: /app --probe");
}

static void
test_event_errors(void **state)
{
    struct rg_docker_event ev;
    struct rg_err err;
    char *doc = fixture("events.jsonl", NULL);
    char *no_actor = replace_once(doc, "\"Actor\":", "\"Actox\":");
    char *no_action1 = replace_once(doc, "\"Action\":", "\"Actiox\":");
    char *no_action = replace_once(no_action1, "\"status\":", "\"statux\":");
    size_t first = strcspn(doc, "\n");

    (void)state;
    assert_int_equal(rg_docker_parse_event(&ev, no_actor, strcspn(no_actor, "\n"), &err),
                     RG_ERUNTIME);
    assert_msg(&err, "event lacks 'Action' or 'Actor'");
    assert_int_equal(ev.exit_code, -1);
    assert_int_equal(rg_docker_parse_event(&ev, no_action, strcspn(no_action, "\n"), &err),
                     RG_ERUNTIME);
    assert_msg(&err, "event lacks 'Action' or 'Actor'");
    assert_int_equal(rg_docker_parse_event(&ev, "{\"Action\":\"die\",\"Actor\":\"x\"}", 28, &err),
                     RG_ERUNTIME);
    assert_msg(&err, "event lacks 'Action' or 'Actor'");
    assert_int_equal(rg_docker_parse_event(&ev, "{\"Action\":7,\"Actor\":{}}", 23, &err),
                     RG_ERUNTIME);
    assert_msg(&err, "event lacks 'Action' or 'Actor'");
    assert_int_equal(rg_docker_parse_event(&ev, "[\"die\"]", 7, &err), RG_ERUNTIME);
    assert_msg(&err, "event lacks 'Action' or 'Actor'");
    /* A line cut short (the stream broke) and two lines at once. */
    assert_int_equal(rg_docker_parse_event(&ev, doc, first / 2, &err), RG_ERUNTIME);
    assert_msg(&err, "invalid JSON in event: premature end of input near '\"com.dock' at line 1 "
                     "column 312");
    assert_int_equal(rg_docker_parse_event(&ev, doc, first + 10, &err), RG_ERUNTIME);
    assert_msg(&err, "invalid JSON in event: end of file expected near '{' at line 2 column 1");
    assert_int_equal(ev.exit_code, -1);
    assert_string_equal(ev.action, "");
    free(no_action);
    free(no_action1);
    free(no_actor);
    free(doc);
}

/* A "time" too large for milliseconds must not overflow (undefined behaviour). */
static void
test_event_huge_time(void **state)
{
    static const char s[] = "{\"Action\":\"die\",\"Actor\":{},\"time\":9223372036854775807}";
    struct rg_docker_event ev;
    struct rg_err err;
    int rc;

    (void)state;
    rc = rg_docker_parse_event(&ev, s, strlen(s), &err);
    assert_true(rc < 0 || ev.time_ms >= 0);
}

/* ---- times ---- */

static void
test_time_parse(void **state)
{
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"0001-01-01T00:00:00Z", 0}, /* Go's zero time: never */
        {"2026-11-20T22:40:15.184892977Z", INT64_C(1795214415184)},
        {"2026-11-20T22:40:15Z", INT64_C(1795214415000)},
        {"2026-11-20T22:40:15.1Z", INT64_C(1795214415100)},
        {"2026-11-20T22:40:15.999999999Z", INT64_C(1795214415999)}, /* truncated, not rounded */
        {"2026-11-21T00:40:15.184+02:00", INT64_C(1795214415184)},
        {"2026-11-20T17:10:15.184892977-05:30", INT64_C(1795214415184)},
        {"2026-11-20T22:40:15+00:00", INT64_C(1795214415000)},
        {"1970-01-01T00:00:00Z", 0},
        {"2000-02-29T12:00:00Z", INT64_C(951825600000)},
        {"2026-01-01T00:00:00Z", JAN_2026_MS},
    };
    struct rg_err err;
    int64_t ms;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ms = -1;
        if (rg_docker_parse_time(&ms, ok[i].in, &err) != 0)
            fail_msg("%s: %s", ok[i].in, err.msg);
        if (ms != ok[i].ms)
            fail_msg("%s: got %lld, want %lld", ok[i].in, (long long)ms, (long long)ok[i].ms);
    }
}

static void
test_time_errors(void **state)
{
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "invalid time ''"},
        {"yesterday", "invalid time 'yesterday'"},
        {"2026-11-20 22:40:15Z", "invalid time '2026-11-20 22:40:15Z'"},
        {"2026-11-20T22:40:15", "invalid time '2026-11-20T22:40:15'"},
        {"2026-11-20T22:40:15.123", "invalid time '2026-11-20T22:40:15.123' (no zone)"},
        {"2026-11-20T22:40:15.123 UTC", "invalid time '2026-11-20T22:40:15.123 UTC' (no zone)"},
        {"2026-11-20T22:40:15+0200", "invalid time offset in '2026-11-20T22:40:15+0200'"},
        {"2026-11-20T22:40:15+02", "invalid time offset in '2026-11-20T22:40:15+02'"},
        {"2026-11-20T22:40:15-", "invalid time offset in '2026-11-20T22:40:15-'"},
        {"2026-11-20T22:40:15Zjunk", "invalid time '2026-11-20T22:40:15Zjunk'"},
        {"2026-11-20T22:40:15+02:00:00", "invalid time '2026-11-20T22:40:15+02:00:00'"},
        {"2026-13-20T22:40:15Z", "invalid time '2026-13-20T22:40:15Z'"},
        {"2026-00-20T22:40:15Z", "invalid time '2026-00-20T22:40:15Z'"},
        {"2026-11-32T22:40:15Z", "invalid time '2026-11-32T22:40:15Z'"},
        {"2026-11-20T24:40:15Z", "invalid time '2026-11-20T24:40:15Z'"},
        {"2026-11-20T22:60:15Z", "invalid time '2026-11-20T22:60:15Z'"},
        {"2026-11-20T22:40:61Z", "invalid time '2026-11-20T22:40:61Z'"},
        {"-026-11-20T22:40:15Z", "invalid time '-026-11-20T22:40:15Z'"},
        /* Messages quote at most 40 characters of what the daemon sent. */
        {"2026-11-20T22:40:15Z and then a very long tail of text",
         "invalid time '2026-11-20T22:40:15Z and then a very lon'"},
    };
    struct rg_err err;
    int64_t ms;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        rg_err_clear(&err);
        if (rg_docker_parse_time(&ms, bad[i].in, &err) != RG_EINVAL)
            fail_msg("'%s' was accepted as %lld", bad[i].in, (long long)ms);
        assert_msg(&err, bad[i].msg);
        assert_int_equal(ms, 0);
    }
}

/* ---- API versions ---- */

static void
test_version_cmp(void **state)
{
    (void)state;
    assert_true(rg_docker_version_cmp("1.9", "1.10") < 0);
    assert_true(rg_docker_version_cmp("1.10", "1.9") > 0);
    assert_int_equal(rg_docker_version_cmp("1.41", "1.41"), 0);
    assert_true(rg_docker_version_cmp("1.44", "1.41") > 0);
    assert_true(rg_docker_version_cmp("1.41", "1.44") < 0);
    assert_true(rg_docker_version_cmp("1.41", RG_DOCKER_MIN_API) >= 0);
    assert_true(rg_docker_version_cmp("1.40", RG_DOCKER_MIN_API) < 0);
    assert_int_equal(rg_docker_version_cmp("1.41", "1.41.0"), 0);
    assert_int_equal(rg_docker_version_cmp("1.41.0", "1.41"), 0);
    assert_true(rg_docker_version_cmp("1.41.1", "1.41") > 0);
    assert_true(rg_docker_version_cmp("2.0", "1.99") > 0);
    assert_true(rg_docker_version_cmp("1.041", "1.41") == 0);
    assert_int_equal(rg_docker_version_cmp("", ""), 0);
}

/* A version from the daemon (the Api-Version header) with absurdly long numbers: compared
 * without overflow (undefined behaviour, caught by UBSan). */
static void
test_version_cmp_long_numbers(void **state)
{
    (void)state;
    assert_true(rg_docker_version_cmp("1.99999999999999999999", "1.41") > 0);
    assert_true(rg_docker_version_cmp("1.41", "1.99999999999999999999") < 0);
}

static int
sign(int v)
{
    return (v > 0) - (v < 0);
}

/* a < b exactly when b > a, also for versions with a suffix (found by fuzz_docker). */
static void
test_version_cmp_antisymmetric(void **state)
{
    static const char *const pairs[][2] = {
        {"1.41", "1.44"},        {"1.41", "1.41.0"}, {"1.41", "1.41a"},
        {"1.41-beta", "1.41.0"}, {"x", "."},         {"1..41", "1.41"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        int ab = rg_docker_version_cmp(pairs[i][0], pairs[i][1]);
        int ba = rg_docker_version_cmp(pairs[i][1], pairs[i][0]);
        if (sign(ab) != -sign(ba))
            fail_msg("cmp('%s', '%s') is %d but cmp('%s', '%s') is %d", pairs[i][0], pairs[i][1],
                     ab, pairs[i][1], pairs[i][0], ba);
    }
}

/* ---- log frames ---- */

static const char framed_payload[] =
    "demo-app v2-die listening on 0.0.0.0:8080 (mode die, delay 3s)\n"
    "GET /version 200\n"
    "GET /nope 404\n"
    "panic: dying after 3 s\n";

/* Feeds data in pieces of the given sizes (the rest in one when the sizes run out). */
static void
decode_in_pieces(struct rg_buf *out, const char *data, size_t len, bool raw, const size_t *sizes,
                 size_t n_sizes)
{
    struct rg_frame_decoder fd;
    struct rg_err err;
    size_t off = 0;

    rg_frame_decoder_init(&fd, raw);
    for (size_t i = 0; off < len; i++) {
        size_t take = i < n_sizes ? sizes[i] : len - off;
        if (take > len - off)
            take = len - off;
        if (rg_frame_decoder_feed(&fd, out, data + off, take, &err) != 0)
            fail_msg("feed at %zu: %s", off, err.msg);
        off += take;
    }
    assert_true(rg_frame_decoder_done(&fd));
}

static void
test_frames_whole(void **state)
{
    struct rg_buf out;
    size_t len;
    char *data = fixture("logs-framed.bin", &len);

    (void)state;
    rg_buf_init(&out, 1 << 20);
    decode_in_pieces(&out, data, len, false, NULL, 0);
    assert_int_equal(out.len, strlen(framed_payload));
    assert_string_equal(out.data, framed_payload);
    rg_buf_release(&out);
    free(data);
}

static void
test_frames_byte_by_byte(void **state)
{
    struct rg_buf out;
    size_t len, *ones;
    char *data = fixture("logs-framed.bin", &len);

    (void)state;
    ones = calloc(len, sizeof(*ones));
    for (size_t i = 0; i < len; i++)
        ones[i] = 1;
    rg_buf_init(&out, 1 << 20);
    decode_in_pieces(&out, data, len, false, ones, len);
    assert_string_equal(out.data, framed_payload);
    rg_buf_release(&out);
    free(ones);
    free(data);
}

static void
test_frames_random_splits(void **state)
{
    uint32_t seed = 20261120; /* fixed: a failure reproduces */
    size_t len, sizes[64];
    char *data = fixture("logs-framed.bin", &len);

    (void)state;
    for (int round = 0; round < 500; round++) {
        struct rg_buf out;
        for (size_t i = 0; i < 64; i++) {
            seed = seed * 1103515245u + 12345u;
            sizes[i] = (seed >> 16) % 20; /* zero-length feeds included */
        }
        rg_buf_init(&out, 1 << 20);
        decode_in_pieces(&out, data, len, false, sizes, 64);
        if (!out.data || strcmp(out.data, framed_payload) != 0)
            fail_msg("round %d: payload differs: '%s'", round, out.data ? out.data : "");
        rg_buf_release(&out);
    }
    free(data);
}

static void
test_frames_tty_raw(void **state)
{
    static const size_t sizes[] = {1, 7, 8, 0, 30};
    struct rg_buf out;
    size_t len;
    char *data = fixture("logs-tty.bin", &len);

    (void)state;
    rg_buf_init(&out, 1 << 20);
    decode_in_pieces(&out, data, len, true, sizes, 5);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, data, len);
    assert_string_equal(out.data, "demo-app v1 listening on 0.0.0.0:8080 (mode healthy, delay 3s)"
                                  "\r\nGET /version 200\r\nGET /nope 404\r\n");
    rg_buf_release(&out);
    free(data);
}

static void
test_frames_bad_header(void **state)
{
    static const unsigned char stream7[] = {7, 0, 0, 0, 0, 0, 0, 1, 'x'};
    static const unsigned char padding[] = {1, 0, 1, 0, 0, 0, 0, 1, 'x'};
    struct rg_frame_decoder fd;
    struct rg_buf out;
    struct rg_err err;
    size_t len;
    char *tty = fixture("logs-tty.bin", &len);

    (void)state;
    rg_buf_init(&out, 1 << 20);
    rg_frame_decoder_init(&fd, false);
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, stream7, sizeof(stream7), &err), RG_ERUNTIME);
    assert_msg(&err, "malformed log frame header (stream byte 7); is the container's TTY "
                     "setting what rollgate assumed?");
    assert_int_equal(out.len, 0);
    /* Non-zero padding after a valid stream byte. */
    rg_frame_decoder_init(&fd, false);
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, padding, sizeof(padding), &err), RG_ERUNTIME);
    assert_msg(&err, "malformed log frame header (stream byte 1); is the container's TTY "
                     "setting what rollgate assumed?");
    /* A TTY container's raw log read as if it were framed: 'd' of "demo-app". */
    rg_frame_decoder_init(&fd, false);
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, tty, len, &err), RG_ERUNTIME);
    assert_msg(&err, "malformed log frame header (stream byte 100); is the container's TTY "
                     "setting what rollgate assumed?");
    assert_int_equal(out.len, 0);
    /* A good frame, then a bad header in a later read: the good payload was delivered. */
    rg_frame_decoder_init(&fd, false);
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, "\2\0\0\0\0\0\0\2ok", 10, &err), 0);
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, "\3\0\0\0", 4, &err), 0);
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, "\0\0\0\1z", 5, &err), RG_ERUNTIME);
    assert_msg(&err, "malformed log frame header (stream byte 3); is the container's TTY "
                     "setting what rollgate assumed?");
    assert_string_equal(out.data, "ok");
    rg_buf_release(&out);
    free(tty);
}

static void
test_frames_truncated(void **state)
{
    struct rg_frame_decoder fd;
    struct rg_buf out;
    struct rg_err err;
    size_t len;
    char *data = fixture("logs-framed.bin", &len);

    (void)state;
    rg_buf_init(&out, 1 << 20);
    /* Every proper prefix of the recording that does not end on a frame boundary. */
    for (size_t cut = 1; cut < len; cut++) {
        bool boundary = cut == 71 || cut == 96 || cut == 118; /* 8+63, +8+17, +8+14 */
        rg_frame_decoder_init(&fd, false);
        rg_buf_reset(&out);
        assert_int_equal(rg_frame_decoder_feed(&fd, &out, data, cut, &err), 0);
        if (rg_frame_decoder_done(&fd) != boundary)
            fail_msg("cut at %zu: done is %d", cut, !boundary);
    }
    /* Inside a header, inside a payload. */
    rg_frame_decoder_init(&fd, false);
    assert_true(rg_frame_decoder_done(&fd));
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, "\1\0\0", 3, &err), 0);
    assert_false(rg_frame_decoder_done(&fd));
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, "\0\0\0\0\5abc", 8, &err), 0);
    assert_false(rg_frame_decoder_done(&fd));
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, "de", 2, &err), 0);
    assert_true(rg_frame_decoder_done(&fd));
    rg_buf_release(&out);
    free(data);
}

static void
test_frames_zero_length(void **state)
{
    static const unsigned char data[] = {1, 0, 0, 0, 0, 0, 0, 0,           /* empty */
                                         2, 0, 0, 0, 0, 0, 0, 2, 'h', 'i', /* "hi" */
                                         1, 0, 0, 0, 0, 0, 0, 0,           /* empty */
                                         0, 0, 0, 0, 0, 0, 0, 1, '!',      /* stdin */
                                         2, 0, 0, 0, 0, 0, 0, 0};          /* empty, last */
    struct rg_frame_decoder fd;
    struct rg_buf out;
    struct rg_err err;

    (void)state;
    rg_buf_init(&out, 1 << 20);
    for (size_t step = 1; step <= sizeof(data); step++) {
        rg_frame_decoder_init(&fd, false);
        rg_buf_reset(&out);
        for (size_t off = 0; off < sizeof(data); off += step) {
            size_t take = sizeof(data) - off < step ? sizeof(data) - off : step;
            assert_int_equal(rg_frame_decoder_feed(&fd, &out, data + off, take, &err), 0);
        }
        assert_true(rg_frame_decoder_done(&fd));
        assert_int_equal(out.len, 3);
        assert_string_equal(out.data, "hi!");
    }
    /* Feeding nothing changes nothing. */
    assert_int_equal(rg_frame_decoder_feed(&fd, &out, "", 0, &err), 0);
    assert_true(rg_frame_decoder_done(&fd));
    rg_buf_release(&out);
}

/* ---- env file ---- */

struct envtest {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16]; /* dir/app.env */
    struct rg_err err;
    mode_t old_umask;
};

static int
env_setup(void **state)
{
    struct envtest *t = calloc(1, sizeof(*t));
    const char *tmp = getenv("TMPDIR");

    snprintf(t->dir, sizeof(t->dir), "%s/rg-test-runtime.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/app.env", t->dir);
    t->old_umask = umask(022); /* deterministic modes for new files */
    *state = t;
    return 0;
}

static int
env_teardown(void **state)
{
    struct envtest *t = *state;
    DIR *d = opendir(t->dir);
    struct dirent *e;

    while (d && (e = readdir(d))) {
        char p[PATH_MAX * 2];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
        if (unlink(p) < 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(t->dir);
    umask(t->old_umask);
    free(t);
    return 0;
}

static void
write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(content);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void
assert_file(const char *path, const char *want)
{
    char *got = slurp(path, NULL);

    if (!got)
        fail_msg("cannot read '%s'", path);
    if (strcmp(got, want) != 0)
        print_message("got:\n%s---\nwant:\n%s---\n", got, want);
    assert_string_equal(got, want);
    free(got);
}

/* The names in the test's directory other than the env file itself. */
static void
assert_only_env_file(const struct envtest *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "app.env"))
            fail_msg("unexpected file '%s' left in %s", e->d_name, t->dir);
    }
    closedir(d);
}

static void
set_ok(struct envtest *t, const char *var, const char *value)
{
    if (rg_envfile_set(t->path, var, value, &t->err) != 0)
        fail_msg("set %s=%s: %s", var, value, t->err.msg);
}

static void
test_envfile_set_keeps_other_lines(void **state)
{
    struct envtest *t = *state;

    write_file(t->path,
               "# the release tag; rollgate rewrites it\n"
               "\n"
               "DB_HOST=db\n"
               "APP_IMAGE_VERSION=v1\n"
               "  # indented comment\n"
               "\n"
               "\n"
               "APP_IMAGE_VERSION_OLD=v0\n"
               "#APP_IMAGE_VERSION=v-commented\n"
               "OTHER=\"quoted value\"\n",
               0644);
    set_ok(t, "APP_IMAGE_VERSION", "v2");
    assert_file(t->path, "# the release tag; rollgate rewrites it\n"
                         "\n"
                         "DB_HOST=db\n"
                         "APP_IMAGE_VERSION=v2\n"
                         "  # indented comment\n"
                         "\n"
                         "\n"
                         "APP_IMAGE_VERSION_OLD=v0\n"
                         "#APP_IMAGE_VERSION=v-commented\n"
                         "OTHER=\"quoted value\"\n");
    assert_only_env_file(t);
}

static void
test_envfile_set_keeps_prefix(void **state)
{
    struct envtest *t = *state;

    write_file(t->path, "export TAG=v1\n", 0644);
    set_ok(t, "TAG", "v2");
    assert_file(t->path, "export TAG=v2\n");
    write_file(t->path, "A=1\n    TAG=v1\nB=2\n", 0644);
    set_ok(t, "TAG", "v2");
    assert_file(t->path, "A=1\n    TAG=v2\nB=2\n");
    write_file(t->path, "\texport   TAG='v1'\n", 0644);
    set_ok(t, "TAG", "v3");
    assert_file(t->path, "\texport   TAG=v3\n");
    /* An empty value is replaced too. */
    write_file(t->path, "TAG=\nX=1\n", 0644);
    set_ok(t, "TAG", "v4");
    assert_file(t->path, "TAG=v4\nX=1\n");
    assert_only_env_file(t);
}

static void
test_envfile_set_drops_later_duplicates(void **state)
{
    struct envtest *t = *state;
    char *v = NULL;

    write_file(t->path, "A=1\nTAG=v1\nB=2\nexport TAG=v0\n  TAG=v-1\nC=3\n", 0644);
    set_ok(t, "TAG", "v2");
    assert_file(t->path, "A=1\nTAG=v2\nB=2\nC=3\n");
    assert_int_equal(rg_envfile_get(&v, t->path, "TAG", &t->err), 0);
    assert_string_equal(v, "v2");
    free(v);
}

static void
test_envfile_set_appends_missing(void **state)
{
    struct envtest *t = *state;

    write_file(t->path, "# nothing here yet\nTAG_OTHER=x\n", 0644);
    set_ok(t, "TAG", "v2");
    assert_file(t->path, "# nothing here yet\nTAG_OTHER=x\nTAG=v2\n");
    /* A last line without its newline gets one before the new assignment. */
    write_file(t->path, "A=1", 0644);
    set_ok(t, "TAG", "v2");
    assert_file(t->path, "A=1\nTAG=v2\n");
    write_file(t->path, "", 0644);
    set_ok(t, "TAG", "v3");
    assert_file(t->path, "TAG=v3\n");
    assert_only_env_file(t);
}

static void
test_envfile_set_creates_missing(void **state)
{
    struct envtest *t = *state;
    struct stat st;
    char *v = NULL;

    set_ok(t, "APP_IMAGE_VERSION", "v1.4.2");
    assert_file(t->path, "APP_IMAGE_VERSION=v1.4.2\n");
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(rg_envfile_get(&v, t->path, "APP_IMAGE_VERSION", &t->err), 0);
    assert_string_equal(v, "v1.4.2");
    free(v);
    assert_only_env_file(t);
}

static void
test_envfile_get_values(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"TAG=v1\n", "v1"},
        {"TAG=\"v1\"\n", "v1"},
        {"TAG='v1'\n", "v1"},
        {"TAG=v1\r\n", "v1"},     /* written on Windows */
        {"TAG=\"v1\"  \n", "v1"}, /* trailing blanks */
        {"export TAG=v1", "v1"},  /* no final newline */
        {"  TAG=v1\n", "v1"},
        {"TAG=\n", ""},
        {"TAG=\"\"\n", ""},
        {"TAG=\"v1'\n", "\"v1'"}, /* mismatched quotes stay */
        {"TAG=\"\n", "\""},
        {"TAG=v1\nTAG=v2\n", "v2"}, /* the last assignment wins, as in compose */
        {"export TAG=v1\n  TAG='v3'\n# TAG=v4\n", "v3"},
        {"TAGX=v0\nTAG=v1\nXTAG=v2\n", "v1"},
    };
    struct envtest *t = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *v = NULL;
        write_file(t->path, cases[i].text, 0644);
        if (rg_envfile_get(&v, t->path, "TAG", &t->err) != 0)
            fail_msg("case %zu: %s", i, t->err.msg);
        if (strcmp(v, cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, v, cases[i].want);
        free(v);
    }
}

static void
test_envfile_set_refuses_newline(void **state)
{
    struct envtest *t = *state;
    char want[PATH_MAX + 128];

    write_file(t->path, "TAG=v1\n", 0644);
    snprintf(want, sizeof(want), "refusing to write a value with a newline to '%s'", t->path);
    assert_int_equal(rg_envfile_set(t->path, "TAG", "v2\nEVIL=1", &t->err), RG_EINVAL);
    assert_msg(&t->err, want);
    assert_int_equal(rg_envfile_set(t->path, "TAG", "\n", &t->err), RG_EINVAL);
    assert_msg(&t->err, want);
    assert_file(t->path, "TAG=v1\n");
    assert_only_env_file(t);
}

static void
assert_mode_kept(struct envtest *t, mode_t mode)
{
    struct stat st;

    write_file(t->path, "TAG=v1\n", mode);
    set_ok(t, "TAG", "v2");
    assert_int_equal(stat(t->path, &st), 0);
    if ((st.st_mode & 07777) != mode)
        fail_msg("mode %04o became %04o", (unsigned)mode, (unsigned)(st.st_mode & 07777));
    assert_file(t->path, "TAG=v2\n");
}

static void
test_envfile_set_keeps_mode(void **state)
{
    struct envtest *t = *state;

    assert_mode_kept(t, 0640);
    assert_mode_kept(t, 0600);
    assert_mode_kept(t, 0644);
    assert_only_env_file(t);
}

/* A group-writable env file (a deploy group edits it) under the usual umask 022. */
static void
test_envfile_set_keeps_group_write(void **state)
{
    struct envtest *t = *state;

    assert_mode_kept(t, 0660);
    assert_only_env_file(t);
}

/* A temporary file left by a run that was killed: replaced, and its mode not inherited. */
static void
test_envfile_set_stale_temp(void **state)
{
    struct envtest *t = *state;
    char tmp[PATH_MAX + 32];
    struct stat st;

    snprintf(tmp, sizeof(tmp), "%s.rollgate-tmp", t->path);
    write_file(tmp, "GARBAGE FROM A KILLED RUN\nTAG=v0\n", 0666);
    write_file(t->path, "TAG=v1\n", 0640);
    set_ok(t, "TAG", "v2");
    assert_file(t->path, "TAG=v2\n");
    assert_int_equal(stat(t->path, &st), 0);
    assert_only_env_file(t);
    if ((st.st_mode & 07777) != 0640)
        fail_msg("mode 0640 became %04o", (unsigned)(st.st_mode & 07777));
}

/* A directory where the temporary file goes: refused, the env file untouched. */
static void
test_envfile_set_stale_temp_dir(void **state)
{
    struct envtest *t = *state;
    char tmp[PATH_MAX + 32], want[PATH_MAX * 2];

    snprintf(tmp, sizeof(tmp), "%s.rollgate-tmp", t->path);
    assert_int_equal(mkdir(tmp, 0755), 0);
    write_file(t->path, "TAG=v1\n", 0640);
    snprintf(want, sizeof(want), "cannot remove the stale '%s': Is a directory", tmp);
    assert_int_equal(rg_envfile_set(t->path, "TAG", "v2", &t->err), RG_EIO);
    assert_msg(&t->err, want);
    assert_file(t->path, "TAG=v1\n");
    assert_int_equal(rmdir(tmp), 0);
    assert_only_env_file(t);
}

static void
test_envfile_get_missing(void **state)
{
    struct envtest *t = *state;
    char want[PATH_MAX + 128];
    char *v = (char *)"not cleared";

    snprintf(want, sizeof(want), "env file '%s' does not exist", t->path);
    assert_int_equal(rg_envfile_get(&v, t->path, "TAG", &t->err), RG_ENOENT);
    assert_msg(&t->err, want);
    assert_null(v);
    write_file(t->path, "# TAG=v1\nTAGS=v1\nOTHER=1\n", 0644);
    snprintf(want, sizeof(want), "env file '%s' does not set TAG", t->path);
    assert_int_equal(rg_envfile_get(&v, t->path, "TAG", &t->err), RG_ENOENT);
    assert_msg(&t->err, want);
    assert_null(v);
    write_file(t->path, "", 0644);
    assert_int_equal(rg_envfile_get(&v, t->path, "TAG", &t->err), RG_ENOENT);
    assert_msg(&t->err, want);
}

static void
test_envfile_io_errors(void **state)
{
    struct envtest *t = *state;
    char path[PATH_MAX + 32], want[PATH_MAX * 2];
    char *v = NULL;

    /* A directory where the file should be. */
    assert_int_equal(mkdir(t->path, 0755), 0);
    snprintf(want, sizeof(want), "cannot read env file '%s': Is a directory", t->path);
    assert_int_equal(rg_envfile_get(&v, t->path, "TAG", &t->err), RG_EIO);
    assert_msg(&t->err, want);
    assert_null(v);
    assert_int_equal(rg_envfile_set(t->path, "TAG", "v2", &t->err), RG_EIO);
    assert_msg(&t->err, want);
    assert_int_equal(rmdir(t->path), 0);
    /* A directory that does not exist. */
    snprintf(path, sizeof(path), "%s/nope/app.env", t->dir);
    snprintf(want, sizeof(want), "cannot create '%s.rollgate-tmp': No such file or directory",
             path);
    assert_int_equal(rg_envfile_set(path, "TAG", "v2", &t->err), RG_EIO);
    assert_msg(&t->err, want);
    assert_int_equal(t->err.sys_errno, ENOENT);
}

static void
test_envfile_too_large(void **state)
{
    struct envtest *t = *state;
    char want[PATH_MAX + 128];
    char *big = malloc(ENVFILE_MAX + 2), *v = NULL;

    memset(big, '#', ENVFILE_MAX + 1);
    big[ENVFILE_MAX + 1] = '\0';
    write_file(t->path, big, 0644);
    snprintf(want, sizeof(want), "env file '%s' is larger than 1048576 bytes", t->path);
    assert_int_equal(rg_envfile_get(&v, t->path, "TAG", &t->err), RG_EINVAL);
    assert_msg(&t->err, want);
    assert_int_equal(rg_envfile_set(t->path, "TAG", "v2", &t->err), RG_EINVAL);
    assert_msg(&t->err, want);
    assert_only_env_file(t);
    free(big);
}

/* A file at the size limit plus a long assignment: either the rewrite is complete and reads
 * back, or it is refused and the file left as it was; never a cut file, never one that get
 * then refuses as too large. */
static void
test_envfile_set_never_cuts(void **state)
{
    struct envtest *t = *state;
    char *big = malloc(ENVFILE_MAX + 1), *value = malloc(1001), *got, *back = NULL;
    char want[PATH_MAX + 128];
    struct rg_err get_err;
    size_t len = 0;
    bool ok;
    int rc, get_rc;

    memset(big, '#', ENVFILE_MAX);
    big[ENVFILE_MAX - 1] = '\n';
    big[ENVFILE_MAX] = '\0';
    memset(value, 'v', 1000);
    value[1000] = '\0';
    write_file(t->path, big, 0644);
    rc = rg_envfile_set(t->path, "TAG", value, &t->err);
    got = slurp(t->path, &len);
    rg_err_clear(&get_err);
    get_rc = rg_envfile_get(&back, t->path, "TAG", &get_err);
    /* Decided before any assertion so a failure leaks nothing. */
    if (!got)
        ok = false;
    else if (rc == 0)
        ok = len == ENVFILE_MAX + 4 + 1000 + 1 && memcmp(got + ENVFILE_MAX, "TAG=vvvv", 8) == 0 &&
             get_rc == 0 && strcmp(back, value) == 0;
    else
        ok = len == ENVFILE_MAX && strcmp(got, big) == 0; /* unchanged */
    free(back);
    free(got);
    free(value);
    free(big);
    if (!ok)
        fail_msg("set returned %d (%s) and left a file of %zu bytes; get then returned %d (%s)", rc,
                 rc == 0 ? "success" : t->err.msg, len, get_rc,
                 get_rc == 0 ? "success" : get_err.msg);
    if (rc != 0) {
        snprintf(want, sizeof(want), "env file '%s' would grow past 1048576 bytes", t->path);
        assert_int_equal(rc, RG_EINVAL);
        assert_msg(&t->err, want);
    }
    assert_only_env_file(t);
}

/* Auto-detection: the framed and the TTY recordings decode as with the right flag, whole and
 * byte by byte, and a raw stream shorter than a header comes out at the flush. */
static void
auto_decode(struct rg_buf *out, const char *data, size_t len, size_t piece)
{
    struct rg_frame_decoder fd;
    struct rg_err err;

    rg_frame_decoder_init_auto(&fd);
    for (size_t off = 0; off < len; off += piece) {
        size_t take = len - off < piece ? len - off : piece;
        if (rg_frame_decoder_feed(&fd, out, data + off, take, &err) != 0)
            fail_msg("feed at %zu: %s", off, err.msg);
    }
    rg_frame_decoder_flush(&fd, out);
    assert_true(rg_frame_decoder_done(&fd));
}

static void
test_frames_auto(void **state)
{
    size_t flen, tlen, pieces[] = {1, 3, 8, 4096};
    char *framed = fixture("logs-framed.bin", &flen);
    char *tty = fixture("logs-tty.bin", &tlen);

    (void)state;
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        struct rg_buf out;
        rg_buf_init(&out, 1 << 20);
        auto_decode(&out, framed, flen, pieces[i]);
        assert_string_equal(out.data, framed_payload);
        rg_buf_reset(&out);
        auto_decode(&out, tty, tlen, pieces[i]);
        assert_int_equal(out.len, tlen);
        assert_memory_equal(out.data, tty, tlen);
        rg_buf_reset(&out);
        auto_decode(&out, "ok\n", 3, pieces[i]);
        assert_string_equal(out.data, "ok\n");
        rg_buf_release(&out);
    }
    free(framed);
    free(tty);
}

/* The create body of a recorded container: its own config and host config, its network, and
 * neither the hostname nor the alias Docker derived from the old id. */
static void
test_create_body(void **state)
{
    char *doc = fixture("inspect-running.json", NULL), *body = NULL, *name = NULL;
    struct rg_err err;
    json_t *b;

    (void)state;
    assert_int_equal(rg_docker_create_body(&body, &name, doc, &err), 0);
    assert_string_equal(name, "rgrec-running");
    b = json_loads(body, 0, NULL);
    assert_non_null(b);
    assert_null(json_object_get(b, "Hostname"));
    assert_string_equal(json_string_value(json_object_get(b, "Image")),
                        "127.0.0.1:5000/rollgate/demo-app:v1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "HostConfig"),
                                                          "NetworkMode")), "default");
    assert_non_null(json_object_get(json_object_get(json_object_get(b, "NetworkingConfig"),
                                                    "EndpointsConfig"), "bridge"));
    json_decref(b);
    free(body);
    free(name);
    free(doc);
}

static char *
with_networks(const char *networks_json)
{
    char *doc = fixture("inspect-running.json", NULL), *out;
    json_t *root = json_loads(doc, 0, NULL);

    json_object_set_new(json_object_get(root, "NetworkSettings"), "Networks",
                        json_loads(networks_json, 0, NULL));
    out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    free(doc);
    return out;
}

static void
test_create_body_compose_aliases(void **state)
{
    char *doc = with_networks("{\"p_default\": {\"Aliases\": [\"app\", \"41743a9cc431\"],"
                              " \"IPAddress\": \"172.18.0.2\", \"MacAddress\": "
                              "\"02:42:ac:12:00:02\"}}");
    char *body = NULL, *name = NULL, *aliases;
    struct rg_err err;
    json_t *b;

    (void)state;
    assert_int_equal(rg_docker_create_body(&body, &name, doc, &err), 0);
    b = json_loads(body, 0, NULL);
    aliases = json_dumps(json_object_get(json_object_get(json_object_get(json_object_get(
                             b, "NetworkingConfig"), "EndpointsConfig"), "p_default"), "Aliases"),
                         JSON_COMPACT);
    assert_string_equal(aliases, "[\"app\"]");
    free(aliases);
    json_decref(b);
    free(body);
    free(name);
    free(doc);
}

static void
test_create_body_two_networks(void **state)
{
    char *doc = with_networks("{\"a\": {}, \"b\": {}}");
    char *body = NULL, *name = NULL;
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_docker_create_body(&body, &name, doc, &err), RG_ERUNTIME);
    assert_string_equal(err.msg, "container 'rgrec-running' is on 2 networks; only a container "
                                 "on one network is made again directly");
    assert_null(body);
    assert_int_equal(rg_docker_create_body(&body, &name, "[1]", &err), RG_ERUNTIME);
    assert_string_equal(err.msg, "container inspect is not a JSON object: not an object");
    free(doc);
}

static void
test_inspect_address(void **state)
{
    struct rg_container c;

    (void)state;
    parse_inspect_fixture(&c, "inspect-running.json");
    assert_string_equal(c.ip, "172.17.0.2");
    assert_string_equal(c.mac, "02:42:ac:11:00:02");
    rg_container_release(&c);
}

/* ---- the proxy's upstream file (nginx's own commands are stood in for by true and false:
 * what is tested here is the file handling; tests/integration runs the real nginx) ---- */

static void
proxy_of(struct rg_proxy *p, struct rg_upstream *ups, const char *file, const char *test,
         const char *reload)
{
    memset(p, 0, sizeof(*p));
    ups[0] = (struct rg_upstream){.name = "app", .service = "app", .port = 8069};
    ups[1] = (struct rg_upstream){.name = "app_chat", .service = "app", .port = 8072};
    p->enabled = true;
    p->upstream_file = (char *)file;
    p->upstreams = ups;
    p->n_upstreams = 2;
    rg_strv_push(&p->test, test);
    rg_strv_push(&p->reload, reload);
}

static char *
read_whole(const char *path)
{
    struct rg_buf b;
    struct rg_err err;

    rg_buf_init(&b, 1 << 20);
    if (rg_fs_read_file(&b, path, &err) < 0) {
        rg_buf_release(&b);
        return NULL;
    }
    return rg_buf_detach(&b);
}

static void
test_proxy_render_apply_and_guard(void **state)
{
    struct envtest *t = *state;
    struct rg_upstream ups[2];
    struct rg_proxy p;
    struct rg_strv servers[2] = {{0}, {0}}, got = {0};
    struct rg_buf log;
    char file[PATH_MAX + 32], record[PATH_MAX + 32], *text = NULL, *now;
    FILE *f;

    snprintf(file, sizeof(file), "%s/upstreams.conf", t->dir);
    snprintf(record, sizeof(record), "%s/target.upstreams", t->dir);
    proxy_of(&p, ups, file, "true", "true");
    rg_buf_init(&log, 4096);

    /* Every upstream needs a server: nginx would refuse an empty one. */
    assert_int_equal(rg_proxy_render(&text, &p, servers, "v2", &t->err), RG_EINVAL);
    assert_string_equal(t->err.msg, "upstream 'app' has no server: no container of service "
                                    "'app' to send traffic to");
    rg_strv_push(&servers[0], "172.18.0.3:8069");
    rg_strv_push(&servers[1], "172.18.0.3:8072");
    assert_int_equal(rg_proxy_render(&text, &p, servers, "v2", &t->err), 0);
    assert_string_equal(text, "# Written by rollgate: release v2. Do not edit: rollgate keeps "
                              "what it wrote\n# and refuses to overwrite a change made by hand.\n"
                              "upstream app {\n    server 172.18.0.3:8069;\n}\n"
                              "upstream app_chat {\n    server 172.18.0.3:8072;\n}\n");

    /* No record yet: the file is adopted as it is. */
    assert_int_equal(rg_proxy_check_owned(&p, record, &t->err), 0);
    assert_int_equal(rg_proxy_apply(&p, record, text, 5000, &log, &t->err), 0);
    now = read_whole(file);
    assert_string_equal(now, text);
    free(now);
    assert_int_equal(rg_proxy_check_owned(&p, record, &t->err), 0);
    assert_int_equal(rg_proxy_servers(&got, record, "app_chat", &t->err), 0);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.v[0], "172.18.0.3:8072");
    rg_strv_release(&got);
    assert_int_equal(rg_proxy_servers(&got, record, "nope", &t->err), RG_ENOENT);

    /* A change by hand is found, shown, and not overwritten. */
    assert_non_null(f = fopen(file, "a"));
    fputs("# tuned by hand\n", f);
    fclose(f);
    assert_int_equal(rg_proxy_check_owned(&p, record, &t->err), RG_EINVAL);
    assert_non_null(strstr(t->err.msg, "was changed by hand since rollgate wrote it"));
    assert_non_null(strstr(t->err.msg, "+# tuned by hand"));

    /* A crash between writing the file and recording it is not taken for an edit. */
    now = read_whole(file);
    assert_int_equal(rg_fs_replace_atomic(record, "old\n", 4, 0600, &t->err), 0);
    char pending[PATH_MAX + 64];
    snprintf(pending, sizeof(pending), "%s.new", record);
    assert_int_equal(rg_fs_replace_atomic(pending, now, strlen(now), 0600, &t->err), 0);
    assert_int_equal(rg_proxy_check_owned(&p, record, &t->err), 0);
    free(now);

    rg_strv_release(&servers[0]);
    rg_strv_release(&servers[1]);
    rg_strv_release(&p.test);
    rg_strv_release(&p.reload);
    rg_buf_release(&log);
    free(text);
}

static void
test_proxy_refused_changes_nothing(void **state)
{
    struct envtest *t = *state;
    struct rg_upstream ups[2];
    struct rg_proxy p;
    struct rg_buf log;
    char file[PATH_MAX + 32], record[PATH_MAX + 32], *now;
    const char *before = "upstream app { server 10.0.0.1:1; }\n";

    snprintf(file, sizeof(file), "%s/upstreams.conf", t->dir);
    snprintf(record, sizeof(record), "%s/target.upstreams", t->dir);
    rg_buf_init(&log, 4096);
    assert_int_equal(rg_fs_replace_atomic(file, before, strlen(before), 0644, &t->err), 0);

    /* The config test fails: the previous file is back, nothing recorded. */
    proxy_of(&p, ups, file, "false", "true");
    assert_int_equal(rg_proxy_apply(&p, record, "new\n", 5000, &log, &t->err), RG_ERUNTIME);
    assert_string_equal(t->err.msg, "the proxy was not switched (nothing changed): config test: "
                                    "'false' exited with 1");
    now = read_whole(file);
    assert_string_equal(now, before);
    free(now);
    assert_int_equal(access(record, F_OK), -1);
    rg_strv_release(&p.test);
    rg_strv_release(&p.reload);

    /* The reload fails: the same. */
    proxy_of(&p, ups, file, "true", "false");
    assert_int_equal(rg_proxy_apply(&p, record, "new\n", 5000, &log, &t->err), RG_ERUNTIME);
    assert_non_null(strstr(t->err.msg, "reload: 'false' exited with 1"));
    now = read_whole(file);
    assert_string_equal(now, before);
    free(now);
    rg_strv_release(&p.test);
    rg_strv_release(&p.reload);
    rg_buf_release(&log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect_running),
        cmocka_unit_test(test_inspect_restarting),
        cmocka_unit_test(test_inspect_oom),
        cmocka_unit_test(test_inspect_exited),
        cmocka_unit_test(test_inspect_no_health),
        cmocka_unit_test(test_inspect_stale_finish_is_zero),
        cmocka_unit_test(test_inspect_minimal),
        cmocka_unit_test(test_inspect_not_json),
        cmocka_unit_test(test_inspect_wrong_type),
        cmocka_unit_test(test_inspect_missing_fields),
        cmocka_unit_test(test_inspect_mistyped_fields),
        cmocka_unit_test(test_inspect_bad_times),
        cmocka_unit_test(test_inspect_odd_optional_fields),
        cmocka_unit_test(test_list_recorded),
        cmocka_unit_test(test_list_edge_shapes),
        cmocka_unit_test(test_list_errors),
        cmocka_unit_test(test_events_recorded),
        cmocka_unit_test(test_event_shapes),
        cmocka_unit_test(test_event_errors),
        cmocka_unit_test(test_event_huge_time),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_errors),
        cmocka_unit_test(test_version_cmp),
        cmocka_unit_test(test_version_cmp_long_numbers),
        cmocka_unit_test(test_version_cmp_antisymmetric),
        cmocka_unit_test(test_frames_whole),
        cmocka_unit_test(test_frames_byte_by_byte),
        cmocka_unit_test(test_frames_random_splits),
        cmocka_unit_test(test_frames_tty_raw),
        cmocka_unit_test(test_frames_bad_header),
        cmocka_unit_test(test_frames_truncated),
        cmocka_unit_test(test_frames_zero_length),
        cmocka_unit_test_setup_teardown(test_envfile_set_keeps_other_lines, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_keeps_prefix, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_drops_later_duplicates, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_appends_missing, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_creates_missing, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_get_values, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_refuses_newline, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_keeps_mode, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_keeps_group_write, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_stale_temp, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_stale_temp_dir, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_get_missing, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_io_errors, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_too_large, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_envfile_set_never_cuts, env_setup, env_teardown),
        cmocka_unit_test(test_frames_auto),
        cmocka_unit_test(test_create_body),
        cmocka_unit_test(test_create_body_compose_aliases),
        cmocka_unit_test(test_create_body_two_networks),
        cmocka_unit_test(test_inspect_address),
        cmocka_unit_test_setup_teardown(test_proxy_render_apply_and_guard, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_proxy_refused_changes_nothing, env_setup,
                                        env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
