/* Unit tests of util: errors, bounded buffers, suggestions, durations, percentages, redaction,
 * file helpers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/err.h"
#include "rollgate/util.h"

static void
test_err_set_prefix(void **state)
{
    struct rg_err err;

    (void)state;
    assert_int_equal(rg_err_set(&err, RG_EINVAL, "bad tag '%s'", "x y"), RG_EINVAL);
    assert_string_equal(err.msg, "bad tag 'x y'");
    rg_err_prefix(&err, "deploy '%s': ", "demo");
    assert_string_equal(err.msg, "deploy 'demo': bad tag 'x y'");
    assert_int_equal(err.code, RG_EINVAL);
    assert_string_equal(rg_err_code_name(RG_EBUSY), "busy");
}

static void
test_err_truncates(void **state)
{
    char big[2000];
    struct rg_err err;

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rg_err_set(&err, RG_EIO, "%s", big);
    assert_int_equal(strlen(err.msg), RG_ERR_MSG_MAX - 1);
    assert_string_equal(err.msg + RG_ERR_MSG_MAX - 4, "...");
}

static void
test_err_sys(void **state)
{
    struct rg_err err;

    (void)state;
    errno = ENOENT;
    rg_err_sys(&err, RG_ENOENT, "cannot open '%s'", "x.yml");
    assert_string_equal(err.msg, "cannot open 'x.yml': No such file or directory");
    assert_int_equal(err.sys_errno, ENOENT);
}

static void
test_buf_bounded(void **state)
{
    struct rg_buf b;

    (void)state;
    rg_buf_init(&b, 8);
    rg_buf_adds(&b, "hello");
    assert_false(b.truncated);
    rg_buf_addf(&b, " %s", "world");
    assert_true(b.truncated);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "hello wo");
    rg_buf_release(&b);
}

static void
test_suggest(void **state)
{
    const char *const keys[] = {"expect", "every", "within", "timeout", "headers"};

    (void)state;
    assert_string_equal(rg_suggest("expct", keys, 5), "expect");
    assert_string_equal(rg_suggest("wihtin", keys, 5), "within"); /* a swap is one edit */
    assert_null(rg_suggest("database", keys, 5));
    assert_int_equal(rg_edit_distance("kitten", "sitting"), 3);
}

static void
test_duration_parse(void **state)
{
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {{"500ms", 500}, {"2s", 2000},  {"5m", 300000}, {"1h", 3600000},
              {"1m30s", 90000}, {"0s", 0}, {"168h", 604800000}};
    struct rg_err err;
    int64_t ms;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(rg_duration_parse(&ms, ok[i].in, &err), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    assert_int_equal(rg_duration_parse(&ms, "5", &err), RG_EINVAL);
    assert_string_equal(err.msg, "duration '5' has no unit (write 5ms, 5s, 5m or 5h)");
    assert_int_equal(rg_duration_parse(&ms, "2x", &err), RG_EINVAL);
    assert_string_equal(err.msg, "invalid duration '2x' (units are ms, s, m and h, as in 1m30s)");
    assert_int_equal(rg_duration_parse(&ms, "s", &err), RG_EINVAL);
    assert_string_equal(err.msg, "invalid duration 's' (write it like 500ms, 2s, 5m, 1h or 1m30s)");
    assert_int_equal(rg_duration_parse(&ms, "169h", &err), RG_EINVAL);
    assert_string_equal(err.msg, "duration '169h' is longer than the 168h maximum");
    assert_int_equal(rg_duration_parse(&ms, "99999999999999999999h", &err), RG_EINVAL);
    assert_int_equal(rg_duration_parse(&ms, "", &err), RG_EINVAL);
    assert_int_equal(rg_duration_parse(&ms, "1h30", &err), RG_EINVAL);
    assert_string_equal(err.msg, "duration '1h30' ends without a unit (as in 1h30m)");
    assert_int_equal(rg_duration_parse(&ms, "30s1m", &err), RG_EINVAL);
    assert_string_equal(err.msg, "invalid duration '30s1m' (write units largest first, each once, "
                                 "as in 1h30m)");
    assert_int_equal(rg_duration_parse(&ms, "2m2m", &err), RG_EINVAL);
    assert_int_equal(rg_duration_parse(&ms, "1h2m3s4ms", &err), 0);
    assert_int_equal(ms, 3723004);
}

static void
test_duration_format(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(rg_duration_format(buf, sizeof(buf), 500), "500ms");
    assert_string_equal(rg_duration_format(buf, sizeof(buf), 2000), "2s");
    assert_string_equal(rg_duration_format(buf, sizeof(buf), 90000), "1m30s");
    assert_string_equal(rg_duration_format(buf, sizeof(buf), 3600000), "1h");
    assert_string_equal(rg_duration_format(buf, sizeof(buf), 1500), "1.500s");
}

static void
test_percent_parse(void **state)
{
    struct rg_err err;
    int c;

    (void)state;
    assert_int_equal(rg_percent_parse(&c, "80%", &err), 0);
    assert_int_equal(c, 8000);
    assert_int_equal(rg_percent_parse(&c, "12.5%", &err), 0);
    assert_int_equal(c, 1250);
    assert_int_equal(rg_percent_parse(&c, "80", &err), RG_EINVAL);
    assert_string_equal(err.msg, "invalid percentage '80' (write it like 80%)");
    assert_int_equal(rg_percent_parse(&c, "101%", &err), RG_EINVAL);
    assert_string_equal(err.msg, "percentage '101%' is above 100%");
}

static void
test_int_parse(void **state)
{
    struct rg_err err;
    long long v;

    (void)state;
    assert_int_equal(rg_int_parse(&v, "42", 0, 100, &err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(rg_int_parse(&v, "4x", 0, 100, &err), RG_EINVAL);
    assert_string_equal(err.msg, "'4x' is not a whole number");
    assert_int_equal(rg_int_parse(&v, "101", 0, 100, &err), RG_EINVAL);
    assert_string_equal(err.msg, "101 is out of range (0 to 100)");
}

static void
test_redact(void **state)
{
    char *s;

    (void)state;
    s = rg_redact_dsn("host=db user=odoo password=s3cret dbname=odoo");
    assert_string_equal(s, "host=db user=odoo password=*** dbname=odoo");
    free(s);
    s = rg_redact_dsn("password = 'a b\\' c' host=x");
    assert_string_equal(s, "password = *** host=x");
    free(s);
    s = rg_redact_dsn("postgresql://odoo:s3cret@db:5432/odoo");
    assert_string_equal(s, "postgresql://odoo:***@db:5432/odoo");
    free(s);
    s = rg_redact_url("https://hooks.slack.com/services/T00/B00/XXXX?x=1");
    assert_string_equal(s, "https://hooks.slack.com/***");
    free(s);
    s = rg_redact_url("https://user:pw@example.com/hook");
    assert_string_equal(s, "https://***@example.com/***");
    free(s);
    s = rg_redact_userinfo("http://admin:pw@127.0.0.1:8069/web/health");
    assert_string_equal(s, "http://admin:***@127.0.0.1:8069/web/health");
    free(s);
    s = rg_redact_userinfo("http://127.0.0.1:8069/web/health");
    assert_string_equal(s, "http://127.0.0.1:8069/web/health");
    free(s);
    s = rg_redact_userinfo("https://u:p@h/api/health?token=abc#x");
    assert_string_equal(s, "https://u:***@h/api/health?***");
    free(s);
}

static void
test_regex_bounds(void **state)
{
    static const char *const fine[] = {
        "^v[0-9]+\\.[0-9]+\\.[0-9]+$", "^v[0-9]+(\\.[0-9]+)*(-[a-z0-9]+)?$",
        "^[0-9]{4}\\.[0-9]{2}\\.[0-9]{2}(-[0-9]+)?$", "Traceback|OOM|Killed", "[[:alpha:]]+x",
        "(a{1,30}){1,30}", "a\\++", "[+*]+",
    };
    struct rg_err err;
    regex_t rx;
    char big[600];

    (void)state;
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        if (rg_regex_compile(&rx, fine[i], REG_EXTENDED | REG_NOSUB, &err) != 0)
            fail_msg("%s: %s", fine[i], err.msg);
        regfree(&rx);
    }
    assert_int_equal(rg_regex_compile(&rx, "a++++++++++++++++++++++++++++", REG_EXTENDED, &err),
                     RG_EINVAL);
    assert_string_equal(err.msg, "regular expression 'a++++++++++++++++++++++++++++' repeats a "
                                 "repeat ('+' after another); write a single repeat");
    assert_int_equal(rg_regex_compile(&rx, "(((a{1,100}){1,100}){1,100})", REG_EXTENDED, &err),
                     RG_EINVAL);
    assert_string_equal(err.msg, "regular expression '(((a{1,100}){1,100}){1,100})' has nested "
                                 "or large bounded repeats (over 1000 copies); simplify it");
    assert_int_equal(rg_regex_compile(&rx, "((((((((((((((((((a))))))))))))))))))", REG_EXTENDED,
                                      &err),
                     RG_EINVAL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(rg_regex_compile(&rx, big, REG_EXTENDED, &err), RG_EINVAL);
    assert_string_equal(err.msg, "regular expression is longer than 512 characters");
    assert_int_equal(rg_regex_compile(&rx, "a(", REG_EXTENDED, &err), RG_EINVAL);
    assert_string_equal(err.msg, "invalid regular expression 'a(': Unmatched ( or \\(");
}

static void
test_strv(void **state)
{
    struct rg_strv sv = {0};
    char *j;

    (void)state;
    rg_strv_push(&sv, "odoo");
    rg_strv_push(&sv, "-d");
    assert_int_equal(sv.n, 2);
    assert_null(sv.v[2]);
    assert_true(rg_strv_contains(&sv, "-d"));
    j = rg_strv_join(&sv, " ");
    assert_string_equal(j, "odoo -d");
    free(j);
    rg_strv_release(&sv);
}

/* ---- files: each test gets a fresh temporary directory in *state ---- */

static int
fs_setup(void **state)
{
    char tmpl[] = "/tmp/rg-test-util-XXXXXX";

    if (!mkdtemp(tmpl))
        return -1;
    *state = rg_strdup(tmpl);
    return 0;
}

static int
fs_teardown(void **state)
{
    char *dir = *state;
    int rc = rg_fs_remove_tree(dir, NULL);

    free(dir);
    return rc;
}

static void
put_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static char *
slurp(const char *path)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return rg_strdup(buf);
}

static size_t
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void
test_fs_write_all(void **state)
{
    char *path = rg_asprintf("%s/out", (char *)*state), *text;
    struct rg_err err;
    int fd, p[2];

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(rg_fs_write_all(fd, "hello ", 6, path, &err), 0);
    assert_int_equal(rg_fs_write_all(fd, "", 0, path, &err), 0);
    assert_int_equal(rg_fs_write_all(fd, "world", 5, path, &err), 0);
    close(fd);
    text = slurp(path);
    assert_string_equal(text, "hello world");
    free(text);
    /* a read-only descriptor: RG_EIO, the name and errno in the message, errno kept */
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(rg_fs_write_all(fd, "x", 1, "out", &err), RG_EIO);
    assert_int_equal(err.sys_errno, EBADF);
    assert_int_equal(errno, EBADF);
    assert_string_equal(err.msg, "cannot write 'out': Bad file descriptor");
    assert_int_equal(rg_fs_write_all(fd, "x", 1, "out", NULL), RG_EIO);
    close(fd);
    /* a pipe whose reader is gone */
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(rg_fs_write_all(p[1], "x", 1, "pipe", &err), RG_EIO);
    assert_int_equal(err.sys_errno, EPIPE);
    close(p[1]);
    free(path);
}

static void
test_fs_fsync_dir(void **state)
{
    char *dir = *state, *missing = rg_asprintf("%s/missing", dir);
    char *file = rg_asprintf("%s/f", dir), *under_file = rg_asprintf("%s/f/g", dir);
    struct rg_err err;

    assert_int_equal(rg_fs_fsync_dir(dir, &err), 0);
    assert_int_equal(rg_fs_fsync_parent(file, &err), 0);
    assert_int_equal(rg_fs_fsync_parent("no-slash", &err), 0); /* the current directory */
    assert_int_equal(rg_fs_fsync_parent("/tmp", &err), 0);     /* the root */
    assert_int_equal(rg_fs_fsync_dir(missing, &err), RG_EIO);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_non_null(strstr(err.msg, "cannot fsync directory '"));
    put_file(file, "x");
    assert_int_equal(rg_fs_fsync_dir(file, &err), RG_EIO); /* not a directory */
    assert_int_equal(err.sys_errno, ENOTDIR);
    assert_int_equal(rg_fs_fsync_parent(under_file, &err), RG_EIO);
    free(missing);
    free(file);
    free(under_file);
}

static void
test_fs_replace_atomic(void **state)
{
    char *dir = *state, *path = rg_asprintf("%s/app.env", dir), *text;
    char *nodir = rg_asprintf("%s/missing/app.env", dir), *sub = rg_asprintf("%s/sub", dir);
    struct rg_err err;
    struct stat st;
    mode_t old_mask;

    /* created, then replaced; the mode is the one asked for whatever the umask */
    old_mask = umask(077);
    assert_int_equal(rg_fs_replace_atomic(path, "A=1\n", 4, 0644, &err), 0);
    umask(old_mask);
    text = slurp(path);
    assert_string_equal(text, "A=1\n");
    free(text);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(rg_fs_replace_atomic(path, "A=2\nB=3\n", 8, 0600, &err), 0);
    text = slurp(path);
    assert_string_equal(text, "A=2\nB=3\n");
    free(text);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(rg_fs_replace_atomic(path, "", 0, 0600, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(count_entries(dir), 1); /* no temporary file left behind */
    /* no directory to put the temporary file in */
    assert_int_equal(rg_fs_replace_atomic(nodir, "x", 1, 0600, &err), RG_EIO);
    assert_int_equal(err.sys_errno, ENOENT);
    /* the rename fails (a directory is in the way): the temporary file goes, the dir stays */
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(rg_fs_replace_atomic(sub, "x", 1, 0600, &err), RG_EIO);
    assert_non_null(strstr(err.msg, "cannot replace '"));
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(count_entries(dir), 2);
    free(path);
    free(nodir);
    free(sub);
}

static void
test_fs_remove_tree(void **state)
{
    char *dir = *state, *p;
    char *tree = rg_asprintf("%s/tree", dir), *outside = rg_asprintf("%s/outside", dir);
    char *keep = rg_asprintf("%s/outside/keep", dir), *link_top = rg_asprintf("%s/lnk", dir);
    char long_name[300];
    struct rg_err err;
    struct stat st;

    /* a tree with nested directories, files, an empty directory and links out of it */
    assert_int_equal(mkdir(outside, 0755), 0);
    put_file(keep, "precious");
    assert_int_equal(mkdir(tree, 0755), 0);
    p = rg_asprintf("%s/a", tree);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = rg_asprintf("%s/a/b", tree);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    p = rg_asprintf("%s/a/b/file", tree);
    put_file(p, "x");
    free(p);
    p = rg_asprintf("%s/a/b/ro", tree);
    put_file(p, "x");
    assert_int_equal(chmod(p, 0400), 0);
    free(p);
    p = rg_asprintf("%s/empty", tree);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = rg_asprintf("%s/a/to-dir", tree);
    assert_int_equal(symlink(outside, p), 0);
    free(p);
    p = rg_asprintf("%s/a/to-file", tree);
    assert_int_equal(symlink(keep, p), 0);
    free(p);
    p = rg_asprintf("%s/dangling", tree);
    assert_int_equal(symlink("/nonexistent/rollgate", p), 0);
    free(p);
    assert_int_equal(rg_fs_remove_tree(tree, &err), 0);
    assert_int_equal(lstat(tree, &st), -1);
    assert_int_equal(errno, ENOENT);
    /* what the links pointed to is untouched */
    assert_int_equal(stat(keep, &st), 0);
    /* a link given as the path: the link goes, not its target */
    assert_int_equal(symlink(outside, link_top), 0);
    assert_int_equal(rg_fs_remove_tree(link_top, &err), 0);
    assert_int_equal(lstat(link_top, &st), -1);
    assert_int_equal(stat(keep, &st), 0);
    /* a plain file; a path that does not exist */
    assert_int_equal(rg_fs_remove_tree(keep, &err), 0);
    assert_int_equal(lstat(keep, &st), -1);
    assert_int_equal(rg_fs_remove_tree(keep, &err), 0);
    /* paths that cannot be looked at */
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    p = rg_asprintf("%s/%s", dir, long_name);
    assert_int_equal(rg_fs_remove_tree(p, &err), RG_EIO);
    assert_int_equal(err.sys_errno, ENAMETOOLONG);
    free(p);
    put_file(keep, "x");
    p = rg_asprintf("%s/below", keep);
    assert_int_equal(rg_fs_remove_tree(p, &err), RG_EIO);
    assert_int_equal(err.sys_errno, ENOTDIR);
    assert_non_null(strstr(err.msg, "cannot stat '"));
    free(p);
    free(tree);
    free(outside);
    free(keep);
    free(link_top);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_prefix),
        cmocka_unit_test(test_err_truncates),
        cmocka_unit_test(test_err_sys),
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_percent_parse),
        cmocka_unit_test(test_int_parse),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_regex_bounds),
        cmocka_unit_test(test_strv),
        cmocka_unit_test_setup_teardown(test_fs_write_all, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(test_fs_fsync_dir, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(test_fs_replace_atomic, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(test_fs_remove_tree, fs_setup, fs_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
