/* The systemd driver's pieces that need no systemd: `systemctl show` and journal decoding, and
 * releases on disk (from a real git repository, from an upload, the current link, pruning). The
 * driver against a real systemd is tests/integration/test_systemd_live.sh. */
#include <errno.h>
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

#include "rollgate/playbook.h"
#include "rollgate/runtime.h"
#include "rollgate/spawn.h"
#include "rollgate/util.h"

static void
test_parse_show(void **state)
{
    /* Not systemd's order, and with what a real unit prints. */
    const char *text = "NRestarts=3\n"
                       "ExecMainPID=4242\n"
                       "LoadState=loaded\n"
                       "SubState=running\n"
                       "ActiveState=active\n"
                       "Result=success\n"
                       "InvocationID=0f1e2d3c4b5a69788796a5b4c3d2e1f0\n"
                       "ExecMainCode=0\n"
                       "ExecMainStatus=0\n"
                       "User=app\n"
                       "Group=\n"
                       "WorkingDirectory=/srv/app/current\n"
                       "EnvironmentFiles=/srv/app/env (ignore_errors=no)\n"
                       "EnvironmentFiles=/etc/default/app (ignore_errors=yes)\n"
                       "Environment=A=1 \"B=two words\" C=3 \"P=a\\$b\\\"c\\\\d\\te\"\n"
                       "Unknown=ignored\n";
    struct rg_unit_state st;
    struct rg_err err;
    char buf[256];

    (void)state;
    assert_int_equal(rg_unit_parse_show(&st, text, &err), 0);
    assert_string_equal(st.load, "loaded");
    assert_string_equal(st.active, "active");
    assert_string_equal(st.sub, "running");
    assert_int_equal(st.main_pid, 4242);
    assert_int_equal(st.n_restarts, 3);
    assert_string_equal(st.invocation, "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    assert_string_equal(st.user, "app");
    assert_string_equal(st.group, "");
    assert_string_equal(st.working_dir, "/srv/app/current");
    assert_int_equal(st.env_files.n, 2);
    assert_string_equal(st.env_files.v[0], "/srv/app/env");
    assert_string_equal(st.env_files.v[1], "-/etc/default/app"); /* ignore_errors=yes */
    assert_int_equal(st.environment.n, 4);
    assert_string_equal(st.environment.v[0], "A=1");
    assert_string_equal(st.environment.v[1], "B=two words");
    assert_string_equal(st.environment.v[2], "C=3");
    assert_string_equal(st.environment.v[3], "P=a$b\"c\\d\te");
    assert_string_equal(rg_unit_describe(buf, sizeof(buf), &st),
                        "active (running), main pid 4242, 3 restarts");
    rg_unit_state_release(&st);

    assert_int_equal(rg_unit_parse_show(&st, "LoadState=loaded\nActiveState=failed\n"
                                              "SubState=failed\nResult=exit-code\n"
                                              "ExecMainCode=1\nExecMainStatus=3\nNRestarts=1\n",
                                        &err),
                     0);
    assert_string_equal(rg_unit_describe(buf, sizeof(buf), &st),
                        "failed (failed), 1 restart, last run exited with status 3 (exit-code)");
    rg_unit_state_release(&st);

    assert_int_equal(rg_unit_parse_show(&st, "", &err), RG_EIO);
    assert_string_equal(err.msg, "systemctl show gave no LoadState");
}

static void
test_parse_journal(void **state)
{
    /* 1764590400000000 us = 2025-12-01 12:00:00 UTC. */
    const char *text =
        "{\"__REALTIME_TIMESTAMP\":\"1764590399000000\",\"MESSAGE\":\"before the mark\"}\n"
        "{\"__REALTIME_TIMESTAMP\":\"1764590400000000\",\"MESSAGE\":\"Worker failed to boot.\"}\n"
        "not json at all\n"
        "{\"__REALTIME_TIMESTAMP\":\"1764590401500000\",\"MESSAGE\":[72,105,255]}\n"
        "{\"__REALTIME_TIMESTAMP\":\"1764590402000000\",\"MESSAGE\":\"two\\nlines\"}\n";
    struct rg_buf out;

    (void)state;
    rg_buf_init(&out, 4096);
    rg_unit_parse_journal(&out, text, 1764590400000);
    assert_string_equal(out.data, "12:00:00 Worker failed to boot.\n"
                                  "12:00:01 Hi?\n"
                                  "12:00:02 two lines\n");
    rg_buf_release(&out);
}

/* ---- releases on disk ---- */

struct fx {
    char dir[64];
    char *root, *repo, *uploads;
};

static int
fx_setup(void **state)
{
    struct fx *f = rg_calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/rg-systemd-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->root = rg_asprintf("%s/app", f->dir);
    f->repo = rg_asprintf("%s/app.git", f->dir);
    f->uploads = rg_asprintf("%s/incoming", f->dir);
    assert_int_equal(mkdir(f->root, 0755), 0);
    assert_int_equal(mkdir(f->uploads, 0755), 0);
    *state = f;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *f = *state;
    struct rg_err err;

    assert_int_equal(rg_fs_remove_tree(f->dir, &err), 0);
    free(f->root);
    free(f->repo);
    free(f->uploads);
    free(f);
    return 0;
}

/* git with an argv, in dir; its stdout without the trailing newline. */
static char *
git(const char *dir, const char *const *args)
{
    const char *argv[16] = {"git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"};
    struct rg_spawn_opts o = {.argv = argv, .timeout_ms = 30000, .cancel_fd = -1};
    struct rg_spawn_result res;
    struct rg_err err;
    size_t n = 7;
    char *out;

    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    assert_int_equal(rg_spawn_run(&res, &o, &err), 0);
    if (res.exit_code != 0)
        fail_msg("git %s: %s", args[0], res.err.data ? res.err.data : "");
    out = rg_strdup(res.out.data ? res.out.data : "");
    out[strcspn(out, "\n")] = '\0';
    rg_spawn_result_release(&res);
    return out;
}

#define GIT(dir, ...) git((dir), (const char *const[]){__VA_ARGS__, NULL})

static void
write_text(const char *path, const char *text)
{
    struct rg_err err;

    assert_int_equal(rg_fs_replace_atomic(path, text, strlen(text), 0644, &err), 0);
}

static void
test_releases_from_git(void **state)
{
    struct fx *f = *state;
    char *work = rg_asprintf("%s/work", f->dir), *path, *c1, *c2, *tag = NULL, *pin = NULL;
    struct rg_buf log;
    struct rg_err err;

    rg_buf_init(&log, 4096);
    assert_int_equal(mkdir(work, 0755), 0);
    free(GIT(work, "init", "-q"));
    path = rg_asprintf("%s/app.py", work);
    write_text(path, "print('v1')\n");
    free(GIT(work, "add", "app.py"));
    free(GIT(work, "commit", "-q", "-m", "v1"));
    c1 = GIT(work, "rev-parse", "HEAD");
    free(GIT(work, "tag", "v1")); /* lightweight */
    write_text(path, "print('v2')\n");
    free(GIT(work, "commit", "-q", "-am", "v2"));
    c2 = GIT(work, "rev-parse", "HEAD");
    free(GIT(work, "tag", "-a", "-m", "release 2", "v2")); /* annotated */
    free(GIT(f->dir, "clone", "-q", "--bare", work, f->repo));

    /* Nothing is current before the first switch. */
    assert_int_equal(rg_releases_current(&tag, f->root, &err), RG_ENOENT);
    assert_false(rg_releases_present(f->root, "v1"));
    assert_int_equal(rg_releases_fetch(f->root, f->repo, NULL, "v1", &log, &err), 0);
    assert_int_equal(rg_releases_fetch(f->root, f->repo, NULL, "v2", &log, &err), 0);
    assert_true(rg_releases_present(f->root, "v1"));
    assert_int_equal(rg_releases_pin(&pin, f->root, "v2", &err), 0);
    char *want = rg_asprintf("git:%s", c2);
    assert_string_equal(pin, want);
    free(want);
    free(pin);
    assert_int_equal(rg_releases_pin(&pin, f->root, "v1", &err), 0);
    want = rg_asprintf("git:%s", c1);
    assert_string_equal(pin, want);
    free(want);
    free(pin);
    free(path);
    path = rg_asprintf("%s/releases/v2/app.py", f->root);
    struct rg_buf text;
    rg_buf_init(&text, 4096);
    assert_int_equal(rg_fs_read_file(&text, path, &err), 0);
    assert_string_equal(text.data, "print('v2')\n");
    rg_buf_release(&text);

    /* Switching is one link; a second switch replaces it. */
    assert_int_equal(rg_releases_switch(f->root, "v1", &err), 0);
    assert_int_equal(rg_releases_current(&tag, f->root, &err), 0);
    assert_string_equal(tag, "v1");
    free(tag);
    assert_int_equal(rg_releases_switch(f->root, "v2", &err), 0);
    assert_int_equal(rg_releases_current(&tag, f->root, &err), 0);
    assert_string_equal(tag, "v2");
    free(tag);

    /* A tag that does not exist changes nothing. */
    assert_int_equal(rg_releases_fetch(f->root, f->repo, NULL, "v9", &log, &err), RG_ENOENT);
    want = rg_asprintf("no tag 'v9' in %s", f->repo);
    assert_string_equal(err.msg, want);
    free(want);
    assert_false(rg_releases_present(f->root, "v9"));
    assert_int_equal(rg_releases_switch(f->root, "v9", &err), RG_ENOENT);
    want = rg_asprintf("release v9 is not in %s/releases", f->root);
    assert_string_equal(err.msg, want);
    free(want);
    assert_int_equal(rg_releases_current(&tag, f->root, &err), 0);
    assert_string_equal(tag, "v2");
    free(tag);
    /* A name that could leave the releases directory is refused before any path is built. */
    assert_int_equal(rg_releases_fetch(f->root, f->repo, NULL, "../x", &log, &err), RG_EINVAL);
    assert_string_equal(err.msg, "'../x' cannot name a release directory");

    /* A link rollgate did not make is not trusted. */
    char *link = rg_asprintf("%s/current", f->root);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink("/etc", link), 0);
    assert_int_equal(rg_releases_current(&tag, f->root, &err), RG_EINVAL);
    want = rg_asprintf("%s points at '/etc', not at releases/<tag>", link);
    assert_string_equal(err.msg, want);
    free(want);
    free(link);
    free(path);
    free(c1);
    free(c2);
    free(work);
    rg_buf_release(&log);
}

static void
test_releases_from_uploads(void **state)
{
    struct fx *f = *state;
    char *dir = rg_asprintf("%s/v3", f->uploads), *file, *marker, *want, *pin = NULL;
    struct rg_err err;

    assert_int_equal(rg_releases_fetch(f->root, NULL, f->uploads, "v3", NULL, &err), RG_ENOENT);
    want = rg_asprintf("release v3 was not uploaded: no directory %s", dir);
    assert_string_equal(err.msg, want);
    free(want);
    assert_int_equal(mkdir(dir, 0755), 0);
    file = rg_asprintf("%s/app.py", dir);
    write_text(file, "print('v3')\n");
    /* Half uploaded: no marker yet. */
    assert_int_equal(rg_releases_fetch(f->root, NULL, f->uploads, "v3", NULL, &err), RG_EINVAL);
    want = rg_asprintf("the upload of release v3 is not complete: %s has no .rollgate-complete "
                       "(the upload writes it last)",
                       dir);
    assert_string_equal(err.msg, want);
    free(want);
    assert_false(rg_releases_present(f->root, "v3"));
    marker = rg_asprintf("%s/%s", dir, RG_UPLOAD_MARKER);
    write_text(marker, "");
    assert_int_equal(rg_releases_fetch(f->root, NULL, f->uploads, "v3", NULL, &err), 0);
    assert_true(rg_releases_present(f->root, "v3"));
    assert_int_equal(access(dir, F_OK), -1); /* moved, not copied */
    assert_int_equal(rg_releases_pin(&pin, f->root, "v3", &err), 0);
    assert_string_equal(pin, "dir:v3");
    free(pin);
    /* One put there by hand has no pin: its tag is all it has. */
    char *by_hand = rg_asprintf("%s/releases/v4", f->root);
    assert_int_equal(mkdir(by_hand, 0755), 0);
    assert_int_equal(rg_releases_pin(&pin, f->root, "v4", &err), 0);
    assert_string_equal(pin, "dir:v4");
    free(by_hand);
    free(pin);
    free(marker);
    free(file);
    free(dir);
}

static void
test_releases_prune(void **state)
{
    struct fx *f = *state;
    static const char *const tags[] = {"r1", "r2", "r3", "r4", "r5"};
    struct rg_strv protect = {0};
    struct rg_buf log;
    struct rg_err err;
    char *rel = rg_asprintf("%s/releases", f->root);

    rg_buf_init(&log, 4096);
    assert_int_equal(mkdir(rel, 0755), 0);
    for (size_t i = 0; i < 5; i++) {
        char *d = rg_asprintf("%s/%s", rel, tags[i]);
        assert_int_equal(mkdir(d, 0755), 0);
        free(d);
        usleep(20000); /* arrival order by ctime */
    }
    /* An export in progress is not a release. */
    char *partial = rg_asprintf("%s/.r6.partial-1", rel);
    assert_int_equal(mkdir(partial, 0755), 0);
    rg_strv_push(&protect, "r1"); /* what served before: kept, however old */
    assert_int_equal(rg_releases_prune(f->root, 2, &protect, &log, &err), 0);
    assert_true(rg_releases_present(f->root, "r1"));
    assert_false(rg_releases_present(f->root, "r2"));
    assert_false(rg_releases_present(f->root, "r3"));
    /* The newest two, and the protected one besides. */
    assert_true(rg_releases_present(f->root, "r5"));
    assert_true(rg_releases_present(f->root, "r4"));
    assert_int_equal(access(partial, F_OK), 0);
    char *gone = rg_asprintf("%s/.r2.removing-%ld", rel, (long)getpid());
    assert_int_equal(access(gone, F_OK), -1); /* removed whole, nothing left aside */
    free(gone);
    assert_non_null(strstr(log.data, "old release r2 removed (keep: 2)"));
    free(partial);
    free(rel);
    rg_strv_release(&protect);
    rg_buf_release(&log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_show),
        cmocka_unit_test(test_parse_journal),
        cmocka_unit_test_setup_teardown(test_releases_from_git, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_releases_from_uploads, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_releases_prune, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
