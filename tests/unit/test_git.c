/* Unit tests of git: update lines and ref names, what pushed ids resolve to (tags plain,
 * annotated, signed, of trees and blobs), files at a commit, targets from the config, the hooks
 * directory, and opening from a hook's environment with objects outside the repository. The
 * repositories are made by the git CLI in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/git.h"
#include "rollgate/util.h"

extern char **environ;

#define ZEROS40 "0000000000000000000000000000000000000000"
#define ZEROS64 ZEROS40 "000000000000000000000000"
#define A40 "1111111111222222222233333333334444444444"
#define B40 "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd"
#define A64 "1111111111222222222233333333334444444444555555555566666666667777"
#define B64 "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeeeffffffffff0000"
#define MISSING "0123456789abcdef0123456789abcdef01234567"

/* One work repository for the whole group, with the objects the resolve and read tests use. */
struct fixture {
    char *root;   /* the temporary directory; HOME too, so no user config leaks in */
    char *work;   /* a non-bare repository */
    char *commit; /* its second commit: files, a symlink, a submodule */
    char *tree;   /* that commit's tree */
    char *annotated, *signed_pgp, *signed_ssh, *quoting, *nested, *tag_tree, *tag_blob;
};

/* Runs git with args and input on stdin; returns its stdout without the final newline (to
 * free). The test fails when git does. */
static char *
run_git(const char *input, const char *const *args)
{
    const char *argv[32] = {"git"};
    posix_spawn_file_actions_t fa;
    int in[2], out[2], status = 0;
    struct rg_buf buf;
    char chunk[4096];
    ssize_t n;
    pid_t pid;
    size_t i;

    for (i = 0; args[i]; i++) {
        assert_true(i + 2 < sizeof(argv) / sizeof(argv[0]));
        argv[i + 1] = args[i];
    }
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[0]);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    assert_int_equal(posix_spawnp(&pid, "git", &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (input)
        assert_int_equal(rg_fs_write_all(in[1], input, strlen(input), "git stdin", NULL), 0);
    close(in[1]);
    rg_buf_init(&buf, 1 << 20);
    while ((n = read(out[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            rg_buf_add(&buf, chunk, (size_t)n);
    close(out[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("git %s %s %s failed (status %d)", argv[1], argv[2] ? argv[2] : "",
                 argv[2] && argv[3] ? argv[3] : "", status);
    while (buf.len && buf.data && buf.data[buf.len - 1] == '\n')
        buf.data[--buf.len] = '\0';
    return buf.data ? rg_buf_detach(&buf) : rg_strdup("");
}

#define GIT(input, ...) run_git((input), (const char *const[]){__VA_ARGS__, NULL})

static void
git_quiet(const char *input, const char *const *args)
{
    free(run_git(input, args));
}

#define GITQ(input, ...) git_quiet((input), (const char *const[]){__VA_ARGS__, NULL})

#define assert_prefix(s, prefix) assert_int_equal(strncmp((s), (prefix), strlen(prefix)), 0)

static void
write_file(const char *path, const char *content, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(rg_fs_write_all(fd, content, len, path, NULL), 0);
    assert_int_equal(close(fd), 0);
}

static void
make_dir(const char *path)
{
    assert_int_equal(mkdir(path, 0755), 0);
}

static char *
tag_object(const char *work, const char *commit, const char *name, const char *body)
{
    char *text = rg_asprintf("object %s\ntype commit\ntag %s\n"
                             "tagger Test <test@example.com> 1700000000 +0000\n\n%s",
                             commit, name, body);
    char *oid = GIT(text, "-C", work, "mktag");

    free(text);
    return oid;
}

static int
group_setup(void **state)
{
    struct fixture *f = rg_calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    char *path, *first, *big;

    f->root = rg_asprintf("%s/rg-git-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(f->root))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    /* Neither the user's nor the system's git config, nor a hook's environment, reaches the
     * repositories made here: libgit2 reads HOME when it starts, which is after this. */
    setenv("HOME", f->root, 1);
    setenv("XDG_CONFIG_HOME", f->root, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
    unsetenv("GIT_DIR");
    unsetenv("GIT_WORK_TREE");
    unsetenv("GIT_OBJECT_DIRECTORY");
    unsetenv("GIT_ALTERNATE_OBJECT_DIRECTORIES");
    unsetenv("GIT_QUARANTINE_PATH");
    unsetenv("GIT_CEILING_DIRECTORIES");

    f->work = rg_asprintf("%s/work", f->root);
    GITQ(NULL, "init", "-q", "-b", "main", f->work);
    path = rg_asprintf("%s/README", f->work);
    write_file(path, "hello\n", 6, 0644);
    free(path);
    GITQ(NULL, "-C", f->work, "add", "README");
    GITQ(NULL, "-C", f->work, "commit", "-q", "-m", "first");
    first = GIT(NULL, "-C", f->work, "rev-parse", "HEAD");

    path = rg_asprintf("%s/deploy", f->work);
    make_dir(path);
    free(path);
    path = rg_asprintf("%s/deploy/web.yml", f->work);
    write_file(path, "name: web\n", 10, 0644);
    free(path);
    path = rg_asprintf("%s/run.sh", f->work);
    write_file(path, "#!/bin/sh\n", 10, 0755);
    free(path);
    path = rg_asprintf("%s/big.bin", f->work);
    big = rg_malloc(4096);
    memset(big, 'a', 4096);
    write_file(path, big, 4096, 0644);
    free(big);
    free(path);
    path = rg_asprintf("%s/link", f->work);
    assert_int_equal(symlink("deploy/web.yml", path), 0);
    free(path);
    GITQ(NULL, "-C", f->work, "add", "deploy/web.yml", "run.sh", "big.bin", "link");
    {
        char *info = rg_asprintf("160000,%s,sub", first);
        GITQ(NULL, "-C", f->work, "update-index", "--add", "--cacheinfo", info);
        free(info);
    }
    GITQ(NULL, "-C", f->work, "commit", "-q", "-m", "second");
    f->commit = GIT(NULL, "-C", f->work, "rev-parse", "HEAD");
    f->tree = GIT(NULL, "-C", f->work, "rev-parse", "HEAD^{tree}");
    free(first);

    GITQ(NULL, "-C", f->work, "tag", "v1");
    GITQ(NULL, "-C", f->work, "tag", "-a", "-m", "release v2", "v2");
    f->annotated = GIT(NULL, "-C", f->work, "rev-parse", "refs/tags/v2");
    f->signed_pgp = tag_object(f->work, f->commit, "v3",
                               "release v3\n-----BEGIN PGP SIGNATURE-----\n\n"
                               "iQEzBAABCAAdFiEEnotarealsignature\n-----END PGP SIGNATURE-----\n");
    f->signed_ssh = tag_object(f->work, f->commit, "v4",
                               "release v4\n-----BEGIN SSH SIGNATURE-----\n"
                               "U1NIU0lHAAAAAQnotarealsignature\n-----END SSH SIGNATURE-----\n");
    f->quoting = tag_object(f->work, f->commit, "v6",
                            "release v6, signed with no -----BEGIN PGP SIGNATURE----- block\n");
    GITQ(NULL, "-C", f->work, "-c", "advice.nestedTag=false", "tag", "-a", "-m", "of a tag", "v5",
         "v2");
    f->nested = GIT(NULL, "-C", f->work, "rev-parse", "refs/tags/v5");
    GITQ(NULL, "-C", f->work, "tag", "-a", "-m", "a tree", "treetag", "HEAD^{tree}");
    f->tag_tree = GIT(NULL, "-C", f->work, "rev-parse", "refs/tags/treetag");
    GITQ(NULL, "-C", f->work, "tag", "-a", "-m", "a blob", "blobtag", "HEAD:deploy/web.yml");
    f->tag_blob = GIT(NULL, "-C", f->work, "rev-parse", "refs/tags/blobtag");
    *state = f;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *f = *state;

    if (!f)
        return 0;
    rg_fs_remove_tree(f->root, NULL);
    free(f->root);
    free(f->work);
    free(f->commit);
    free(f->tree);
    free(f->annotated);
    free(f->signed_pgp);
    free(f->signed_ssh);
    free(f->quoting);
    free(f->nested);
    free(f->tag_tree);
    free(f->tag_blob);
    free(f);
    return 0;
}

static struct rg_git_repo *
open_work(struct fixture *f)
{
    struct rg_git_repo *r = NULL;
    struct rg_err err = {0};

    if (rg_git_open(&r, f->work, &err) < 0)
        fail_msg("%s", err.msg);
    return r;
}

/* ---- update lines ---- */

static void
test_parse_update_good(void **state)
{
    struct rg_git_update u;
    struct rg_err err = {0};

    (void)state;
    assert_int_equal(rg_git_parse_update(&u, A40 " " B40 " refs/heads/main\n", &err), 0);
    assert_string_equal(u.old_oid, A40);
    assert_string_equal(u.new_oid, B40);
    assert_string_equal(u.ref, "refs/heads/main");
    assert_false(u.created);
    assert_false(u.deleted);

    /* SHA-256 ids; no trailing newline; upper case comes out lower */
    assert_int_equal(rg_git_parse_update(&u,
                                         A64 " "
                                             "AAAAAAAAAABBBBBBBBBBCCCCCCCCCCDDDDDDDDDD"
                                             "EEEEEEEEEEFFFFFFFFFF0000 refs/tags/v1.0",
                                         &err),
                     0);
    assert_string_equal(u.old_oid, A64);
    assert_string_equal(u.new_oid, B64);
    assert_string_equal(u.ref, "refs/tags/v1.0");

    assert_int_equal(rg_git_parse_update(&u, ZEROS40 " " B40 " refs/tags/v2\n", &err), 0);
    assert_true(u.created);
    assert_false(u.deleted);
    assert_int_equal(rg_git_parse_update(&u, A40 " " ZEROS40 " refs/tags/v2\n", &err), 0);
    assert_false(u.created);
    assert_true(u.deleted);
    assert_int_equal(rg_git_parse_update(&u, ZEROS64 " " B64 " refs/heads/x\n", &err), 0);
    assert_true(u.created);
}

static void
expect_update_error(const char *line, const char *msg)
{
    struct rg_git_update u;
    struct rg_err err = {0};

    assert_int_equal(rg_git_parse_update(&u, line, &err), RG_EINVAL);
    assert_int_equal(err.code, RG_EINVAL);
    assert_string_equal(err.msg, msg);
    assert_string_equal(u.ref, "");
}

static void
test_parse_update_bad(void **state)
{
    char line[512], zeros[RG_GIT_REF_MAX + 1 - 11 + 1], *msg;

    (void)state;
    expect_update_error(A40 " " B40 "\n",
                        "invalid update line '" A40 " " B40 "': want '<old-id> <new-id> <ref>'");
    expect_update_error("", "invalid update line '': want '<old-id> <new-id> <ref>'");
    expect_update_error("zz" A40 " " B40 " refs/heads/x",
                        "invalid update line 'zz" A40 " " B40 " refs/heads/x': old id 'zz" A40
                        "' is not 40 or 64 hex digits");
    expect_update_error(A40 " g" B40 " refs/heads/x",
                        "invalid update line '" A40 " g" B40 " refs/heads/x': new id 'g" B40
                        "' is not 40 or 64 hex digits");
    expect_update_error(A40 " aaaaaaaaaabbbbbbbbbbccccccccccdddddddddX refs/heads/x",
                        "invalid update line '" A40 " aaaaaaaaaabbbbbbbbbbccccccccccdddddddddX"
                        " refs/heads/x': new id 'aaaaaaaaaabbbbbbbbbbccccccccccdddddddddX' is not"
                        " 40 or 64 hex digits");
    expect_update_error(A40 " " B64 " refs/heads/x",
                        "invalid update line '" A40 " " B64
                        " refs/heads/x': the old id has 40 hex digits, the "
                        "new one 64 (SHA-1 and SHA-256 ids do not mix)");
    expect_update_error(ZEROS40 " " ZEROS40 " refs/heads/x\n",
                        "invalid update line '" ZEROS40 " " ZEROS40
                        " refs/heads/x': both ids are zero");
    expect_update_error(A40 " " B40 " refs/heads/a\nb\n",
                        "invalid update line '" A40 " " B40
                        " refs/heads/a\\nb': invalid ref name 'refs/heads/a\\nb': it contains a "
                        "control character");
    expect_update_error(A40 " " B40 " refs/heads/a b",
                        "invalid update line '" A40 " " B40
                        " refs/heads/a b': invalid ref name 'refs/heads/a b': it contains a space");
    expect_update_error(A40 " " B40 " refs/heads/a..b",
                        "invalid update line '" A40 " " B40
                        " refs/heads/a..b': invalid ref name 'refs/heads/a..b': it contains '..'");
    expect_update_error(A40 " " B40 " refs/heads/a@{1}",
                        "invalid update line '" A40 " " B40
                        " refs/heads/a@{1}': invalid ref name 'refs/heads/a@{1}': it contains "
                        "'@{'");
    expect_update_error(A40 " " B40 " refs/heads/x.lock",
                        "invalid update line '" A40 " " B40
                        " refs/heads/x.lock': invalid ref name 'refs/heads/x.lock': a component "
                        "ends with '.lock'");
    expect_update_error(A40 " " B40 " refs/heads/\x01x",
                        "invalid update line '" A40 " " B40
                        " refs/heads/\\x01x': invalid ref name 'refs/heads/\\x01x': it contains "
                        "a control character");
    expect_update_error(A40 " " B40 " ",
                        "invalid update line '" A40 " " B40 " ': invalid ref name '': it is empty");

    /* 256 bytes of ref: the line and the ref are shown cut, the rule in full */
    memset(zeros, '0', sizeof(zeros) - 1);
    zeros[sizeof(zeros) - 1] = '\0';
    snprintf(line, sizeof(line), "%s %s refs/heads/%s", A40, B40, zeros);
    msg = rg_asprintf("invalid update line '%s %s refs/heads/%.31s...': invalid ref name "
                      "'refs/heads/%.113s...': it is longer than 255 bytes",
                      A40, B40, zeros, zeros);
    expect_update_error(line, msg);
    free(msg);
}

/* ---- ref names ---- */

static void
expect_ref_error(const char *ref, const char *msg)
{
    struct rg_err err = {0};

    assert_int_equal(rg_git_check_ref(ref, &err), RG_EINVAL);
    assert_string_equal(err.msg, msg);
}

static void
test_check_ref(void **state)
{
    char longest[RG_GIT_REF_MAX + 2];
    struct rg_err err = {0};

    (void)state;
    assert_int_equal(rg_git_check_ref("refs/heads/main", &err), 0);
    assert_int_equal(rg_git_check_ref("refs/tags/v1.2.3-rc_1", &err), 0);
    assert_int_equal(rg_git_check_ref("refs/heads/feature/a+b,c", &err), 0);
    assert_int_equal(rg_git_check_ref("refs/heads/@", &err), 0);
    memset(longest, 'a', sizeof(longest));
    memcpy(longest, "refs/heads/", 11);
    longest[RG_GIT_REF_MAX] = '\0';
    assert_int_equal(rg_git_check_ref(longest, &err), 0);
    longest[RG_GIT_REF_MAX] = 'a';
    longest[RG_GIT_REF_MAX + 1] = '\0';
    assert_int_equal(rg_git_check_ref(longest, &err), RG_EINVAL);
    assert_non_null(strstr(err.msg, "...': it is longer than 255 bytes"));

    expect_ref_error("", "invalid ref name '': it is empty");
    expect_ref_error("refs/heads/a\tb", "invalid ref name 'refs/heads/a\\tb': it contains a "
                                        "control character");
    expect_ref_error("refs/heads/a\x7f", "invalid ref name 'refs/heads/a\\x7f': it contains a "
                                         "control character");
    expect_ref_error("refs/heads/caf\xc3\xa9", "invalid ref name 'refs/heads/caf\\xc3\\xa9': it "
                                               "contains a byte outside ASCII");
    expect_ref_error("refs/heads/a~1", "invalid ref name 'refs/heads/a~1': it contains '~'");
    expect_ref_error("refs/heads/a^", "invalid ref name 'refs/heads/a^': it contains '^'");
    expect_ref_error("refs/heads/a:b", "invalid ref name 'refs/heads/a:b': it contains ':'");
    expect_ref_error("refs/heads/a?", "invalid ref name 'refs/heads/a?': it contains '?'");
    expect_ref_error("refs/heads/*", "invalid ref name 'refs/heads/*': it contains '*'");
    expect_ref_error("refs/heads/[a]", "invalid ref name 'refs/heads/[a]': it contains '['");
    expect_ref_error("refs/heads/a\\b", "invalid ref name 'refs/heads/a\\\\b': it contains '\\'");
    expect_ref_error("refs/heads/../x", "invalid ref name 'refs/heads/../x': it contains '..'");
    expect_ref_error("refs/heads/a@{u}", "invalid ref name 'refs/heads/a@{u}': it contains '@{'");
    expect_ref_error("@", "invalid ref name '@': it is '@'");
    expect_ref_error("/refs/heads/x", "invalid ref name '/refs/heads/x': it starts with '/'");
    expect_ref_error("refs/heads/", "invalid ref name 'refs/heads/': it ends with '/'");
    expect_ref_error("refs/heads/x.", "invalid ref name 'refs/heads/x.': it ends with '.'");
    expect_ref_error("refs//x", "invalid ref name 'refs//x': it contains '//'");
    expect_ref_error("refs/heads/.x", "invalid ref name 'refs/heads/.x': a component starts "
                                      "with '.'");
    expect_ref_error("refs/x.lock/y", "invalid ref name 'refs/x.lock/y': a component ends with "
                                      "'.lock'");
    expect_ref_error("main", "invalid ref name 'main': it has no '/' (a ref is a path like "
                             "'refs/heads/main')");
}

static void
test_ref_matches(void **state)
{
    (void)state;
    assert_true(rg_git_ref_matches("refs/tags/v*", "refs/tags/v1.2"));
    assert_true(rg_git_ref_matches("refs/heads/main", "refs/heads/main"));
    assert_true(rg_git_ref_matches("refs/heads/*", "refs/heads/x"));
    assert_true(rg_git_ref_matches("refs/heads/*/ci", "refs/heads/team/ci"));
    /* '*' stays within one component */
    assert_false(rg_git_ref_matches("refs/tags/v*", "refs/tags/v1/x"));
    assert_false(rg_git_ref_matches("refs/heads/*", "refs/heads/a/b"));
    assert_false(rg_git_ref_matches("refs/tags/v*", "refs/heads/v1"));
    assert_false(rg_git_ref_matches("refs/heads/main", "refs/heads/main2"));
}

/* ---- resolving pushed ids ---- */

static void
test_resolve(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r = open_work(f);
    struct rg_git_pushed p;
    struct rg_err err = {0};

    assert_int_equal(rg_git_resolve(&p, r, f->commit, "refs/tags/v1", &err), 0);
    assert_string_equal(p.commit, f->commit);
    assert_int_equal(p.kind, RG_GIT_NOT_A_TAG);

    assert_int_equal(rg_git_resolve(&p, r, f->annotated, "refs/tags/v2", &err), 0);
    assert_string_equal(p.commit, f->commit);
    assert_int_equal(p.kind, RG_GIT_ANNOTATED);

    assert_int_equal(rg_git_resolve(&p, r, f->signed_pgp, "refs/tags/v3", &err), 0);
    assert_string_equal(p.commit, f->commit);
    assert_int_equal(p.kind, RG_GIT_SIGNED);

    assert_int_equal(rg_git_resolve(&p, r, f->signed_ssh, "refs/tags/v4", &err), 0);
    assert_string_equal(p.commit, f->commit);
    assert_int_equal(p.kind, RG_GIT_SIGNED);

    /* the marker counts only where a signature block starts, at the start of a line */
    assert_int_equal(rg_git_resolve(&p, r, f->quoting, "refs/tags/v6", &err), 0);
    assert_int_equal(p.kind, RG_GIT_ANNOTATED);

    /* a tag of a tag: the kind of the one pushed, peeled through both */
    assert_int_equal(rg_git_resolve(&p, r, f->nested, "refs/tags/v5", &err), 0);
    assert_string_equal(p.commit, f->commit);
    assert_int_equal(p.kind, RG_GIT_ANNOTATED);

    assert_int_equal(rg_git_resolve(&p, r, f->tag_tree, "refs/tags/treetag", &err), RG_EINVAL);
    assert_string_equal(err.msg, "ref 'refs/tags/treetag' points at a tree, not a commit");
    assert_string_equal(p.commit, "");
    assert_int_equal(rg_git_resolve(&p, r, f->tag_blob, "refs/tags/blobtag", &err), RG_EINVAL);
    assert_string_equal(err.msg, "ref 'refs/tags/blobtag' points at a blob, not a commit");
    assert_int_equal(rg_git_resolve(&p, r, f->tree, "refs/heads/x", &err), RG_EINVAL);
    assert_string_equal(err.msg, "ref 'refs/heads/x' points at a tree, not a commit");

    assert_int_equal(rg_git_resolve(&p, r, MISSING, "refs/tags/v9", &err), RG_ENOENT);
    assert_string_equal(err.msg, "cannot resolve ref 'refs/tags/v9': object " MISSING
                                 " is not in the repository");

    assert_int_equal(rg_git_resolve(&p, r, B64, "refs/heads/main", &err), RG_EINVAL);
    /* Debian's libgit2 1.5 reads SHA-1 repositories only */
    assert_string_equal(err.msg, "cannot resolve ref 'refs/heads/main': SHA-256 object ids need a "
                                 "libgit2 with SHA-256 support; this rollgate was built with "
                                 "libgit2 1.5");

    assert_int_equal(rg_git_resolve(&p, r, "1234", "refs/heads/main", &err), RG_EINVAL);
    assert_string_equal(err.msg, "cannot resolve ref 'refs/heads/main': invalid object id "
                                 "'1234': want 40 hex digits");
    rg_git_close(r);
}

/* ---- files at a commit ---- */

static void
expect_read_error(struct rg_git_repo *r, const char *commit, const char *path, size_t max, int code,
                  const char *msg)
{
    struct rg_err err = {0};
    char *data = (char *)"untouched";
    size_t len = 99;

    assert_int_equal(rg_git_read_file(&data, &len, r, commit, path, max, &err), code);
    assert_string_equal(err.msg, msg);
    assert_null(data);
    assert_int_equal(len, 0);
}

static void
test_read_file(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r = open_work(f);
    struct rg_err err = {0};
    char *data = NULL, *msg, shortc[13];
    size_t len = 0;

    snprintf(shortc, sizeof(shortc), "%.12s", f->commit);
    assert_int_equal(rg_git_read_file(&data, &len, r, f->commit, "deploy/web.yml", 1024, &err), 0);
    assert_int_equal(len, 10);
    assert_string_equal(data, "name: web\n");
    free(data);
    assert_int_equal(rg_git_read_file(&data, &len, r, f->commit, "run.sh", 10, &err), 0);
    assert_string_equal(data, "#!/bin/sh\n");
    free(data);
    /* exactly max bytes is allowed */
    assert_int_equal(rg_git_read_file(&data, &len, r, f->commit, "big.bin", 4096, &err), 0);
    assert_int_equal(len, 4096);
    assert_int_equal(data[4096], '\0');
    free(data);

    msg = rg_asprintf("no 'deploy/api.yml' at commit %s", shortc);
    expect_read_error(r, f->commit, "deploy/api.yml", 1024, RG_ENOENT, msg);
    free(msg);
    msg = rg_asprintf("no 'README/x' at commit %s", shortc);
    expect_read_error(r, f->commit, "README/x", 1024, RG_ENOENT, msg);
    free(msg);
    /* a symlink is not followed, neither at the end nor on the way */
    msg = rg_asprintf("'link' at commit %s is a symlink, not a file", shortc);
    expect_read_error(r, f->commit, "link", 1024, RG_EINVAL, msg);
    free(msg);
    msg = rg_asprintf("'deploy' at commit %s is a directory, not a file", shortc);
    expect_read_error(r, f->commit, "deploy", 1024, RG_EINVAL, msg);
    free(msg);
    msg = rg_asprintf("'sub' at commit %s is a submodule, not a file", shortc);
    expect_read_error(r, f->commit, "sub", 1024, RG_EINVAL, msg);
    free(msg);
    msg = rg_asprintf("'big.bin' at commit %s is 4096 bytes, over the 4095-byte limit", shortc);
    expect_read_error(r, f->commit, "big.bin", 4095, RG_EINVAL, msg);
    free(msg);

    expect_read_error(r, f->commit, "deploy/../README", 1024, RG_EINVAL,
                      "invalid path 'deploy/../README' in the repository: it has a '..' "
                      "component");
    expect_read_error(r, f->commit, "../x", 1024, RG_EINVAL,
                      "invalid path '../x' in the repository: it has a '..' component");
    expect_read_error(r, f->commit, "./README", 1024, RG_EINVAL,
                      "invalid path './README' in the repository: it has a '.' component");
    expect_read_error(r, f->commit, "deploy//web.yml", 1024, RG_EINVAL,
                      "invalid path 'deploy//web.yml' in the repository: it has an empty "
                      "component");
    expect_read_error(r, f->commit, "deploy/", 1024, RG_EINVAL,
                      "invalid path 'deploy/' in the repository: it has an empty component");
    expect_read_error(r, f->commit, "/etc/passwd", 1024, RG_EINVAL,
                      "invalid path '/etc/passwd' in the repository: it is absolute");
    expect_read_error(r, f->commit, "", 1024, RG_EINVAL,
                      "invalid path '' in the repository: it is empty");
    expect_read_error(r, f->commit, "a\nb", 1024, RG_EINVAL,
                      "invalid path 'a\\nb' in the repository: it contains a control character");

    expect_read_error(r, MISSING, "deploy/web.yml", 1024, RG_ENOENT,
                      "cannot read 'deploy/web.yml': no commit " MISSING " in the repository");
    msg = rg_asprintf("cannot read 'deploy/web.yml': object %s is a tree, not a commit", f->tree);
    expect_read_error(r, f->tree, "deploy/web.yml", 1024, RG_EINVAL, msg);
    free(msg);
    expect_read_error(r, B64, "deploy/web.yml", 1024, RG_EINVAL,
                      "cannot read 'deploy/web.yml': SHA-256 object ids need a libgit2 with "
                      "SHA-256 support; this rollgate was built with libgit2 1.5");
    rg_git_close(r);
}

/* ---- targets ---- */

/* A new bare repository under the fixture with text appended to its config. */
static struct rg_git_repo *
repo_with_config(struct fixture *f, const char *name, const char *text)
{
    struct rg_git_repo *r = NULL;
    struct rg_err err = {0};
    char *path = rg_asprintf("%s/%s.git", f->root, name);
    char *config;
    FILE *fp;

    if (rg_git_init_bare(&r, path, &err) < 0)
        fail_msg("%s", err.msg);
    config = rg_asprintf("%s/config", path);
    fp = fopen(config, "a");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    free(config);
    free(path);
    return r;
}

static void
test_targets_good(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r;
    struct rg_git_target *ts = NULL;
    struct rg_err err = {0};
    size_t n = 99;

    r = repo_with_config(f, "targets-good",
                         "[rollgate \"web\"]\n"
                         "\tplaybook = deploy/web.yml\n"
                         "\tref = refs/tags/v*\n"
                         "[rollgate \"api.prod\"]\n"
                         "\tPlaybook = deploy/api.yml\n"
                         "\tref = refs/heads/main\n"
                         "\ttags = signed\n"
                         "\tprotect = no\n"
                         "\tbusy = refuse\n"
                         "\twait = 1m30s\n"
                         "[rollgate \"web\"]\n"
                         "\ttags = annotated\n"
                         "\tprotect\n");
    assert_int_equal(rg_git_targets(&ts, &n, r, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ts[0].name, "api.prod");
    assert_string_equal(ts[0].playbook, "deploy/api.yml");
    assert_string_equal(ts[0].ref, "refs/heads/main");
    assert_int_equal(ts[0].tags, RG_GIT_SIGNED);
    assert_false(ts[0].protect);
    assert_false(ts[0].wait);
    assert_string_equal(ts[0].wait_for, "1m30s");
    assert_string_equal(ts[1].name, "web");
    assert_string_equal(ts[1].playbook, "deploy/web.yml");
    assert_string_equal(ts[1].ref, "refs/tags/v*");
    assert_int_equal(ts[1].tags, RG_GIT_ANNOTATED);
    assert_true(ts[1].protect);
    assert_true(ts[1].wait);
    assert_string_equal(ts[1].wait_for, "30m");
    free(ts);
    rg_git_close(r);

    /* none configured; a later value overrides an earlier one as git reads them */
    r = repo_with_config(f, "targets-none", "[core]\n\tlogAllRefUpdates = false\n");
    assert_int_equal(rg_git_targets(&ts, &n, r, &err), 0);
    assert_int_equal(n, 0);
    assert_null(ts);
    rg_git_close(r);
    r = repo_with_config(f, "targets-override",
                         "[rollgate \"a\"]\n\tplaybook = x.yml\n\tref = refs/heads/main\n"
                         "\tbusy = sometimes\n\tbusy = refuse\n\tprotect = false\n\tprotect\n");
    assert_int_equal(rg_git_targets(&ts, &n, r, &err), 0);
    assert_int_equal(n, 1);
    assert_false(ts[0].wait);
    assert_true(ts[0].protect); /* a key without '=' is true to git */
    free(ts);
    rg_git_close(r);
}

static void
expect_targets_error(struct fixture *f, const char *name, const char *text, const char *msg)
{
    struct rg_git_repo *r = repo_with_config(f, name, text);
    struct rg_git_target *ts = (struct rg_git_target *)1;
    struct rg_err err = {0};
    size_t n = 99;

    assert_int_equal(rg_git_targets(&ts, &n, r, &err), RG_EINVAL);
    assert_string_equal(err.msg, msg);
    assert_null(ts);
    assert_int_equal(n, 0);
    rg_git_close(r);
}

#define GOOD "\tplaybook = deploy/web.yml\n\tref = refs/tags/v*\n"

static void
test_targets_errors(void **state)
{
    struct fixture *f = *state;

    expect_targets_error(f, "t-unknown", "[rollgate \"web\"]\n" GOOD "\tcolour = blue\n",
                         "unknown key 'rollgate.web.colour': a target takes playbook, ref, tags, "
                         "protect, busy and wait");
    expect_targets_error(f, "t-typo", "[rollgate \"web\"]\n" GOOD "\tprotcet = true\n",
                         "unknown key 'rollgate.web.protcet' (did you mean 'protect'?): a target "
                         "takes playbook, ref, tags, protect, busy and wait");
    expect_targets_error(f, "t-tags", "[rollgate \"web\"]\n" GOOD "\ttags = gpg\n",
                         "invalid 'rollgate.web.tags' value 'gpg': allowed are any, annotated and "
                         "signed");
    expect_targets_error(f, "t-noplaybook", "[rollgate \"web\"]\n\tref = refs/tags/v*\n",
                         "'rollgate.web.playbook' is missing: set it to the playbook's path in "
                         "the repository, like 'deploy/web.yml'");
    expect_targets_error(f, "t-noref", "[rollgate \"web\"]\n\tplaybook = deploy/web.yml\n",
                         "'rollgate.web.ref' is missing: set it to the refs that deploy, like "
                         "'refs/tags/v*'");
    expect_targets_error(f, "t-wait", "[rollgate \"web\"]\n" GOOD "\twait = 10\n",
                         "invalid 'rollgate.web.wait': duration '10' has no unit (write 10ms, "
                         "10s, 10m or 10h)");
    expect_targets_error(f, "t-waitlong",
                         "[rollgate \"web\"]\n" GOOD "\twait = 1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h\n",
                         "invalid 'rollgate.web.wait' value '1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h': "
                         "it is longer than 31 characters (want a duration like 30m)");
    expect_targets_error(f, "t-protect", "[rollgate \"web\"]\n" GOOD "\tprotect = maybe\n",
                         "invalid 'rollgate.web.protect' value 'maybe': allowed are true and "
                         "false (or yes/no, on/off, 1/0)");
    expect_targets_error(f, "t-busy", "[rollgate \"web\"]\n" GOOD "\tbusy = queue\n",
                         "invalid 'rollgate.web.busy' value 'queue': allowed are wait and refuse");
    expect_targets_error(f, "t-refprefix",
                         "[rollgate \"web\"]\n\tplaybook = a.yml\n\tref = heads/main\n",
                         "invalid 'rollgate.web.ref' value 'heads/main': it must start with "
                         "'refs/' (want a ref or a glob of refs, like 'refs/tags/v*')");
    expect_targets_error(f, "t-refbad",
                         "[rollgate \"web\"]\n\tplaybook = a.yml\n\tref = refs/tags/v*..\n",
                         "invalid 'rollgate.web.ref' value 'refs/tags/v*..': it contains '..' "
                         "(want a ref or a glob of refs, like 'refs/tags/v*')");
    expect_targets_error(f, "t-refglob",
                         "[rollgate \"web\"]\n\tplaybook = a.yml\n\tref = refs/tags/v?\n",
                         "invalid 'rollgate.web.ref' value 'refs/tags/v?': it contains '?' "
                         "(want a ref or a glob of refs, like 'refs/tags/v*')");
    expect_targets_error(f, "t-playbook",
                         "[rollgate \"web\"]\n\tplaybook = ../web.yml\n\tref = refs/heads/main\n",
                         "invalid 'rollgate.web.playbook' value '../web.yml': it has a '..' "
                         "component (want a relative path in the repository, like "
                         "'deploy/web.yml')");
    expect_targets_error(f, "t-playbookempty",
                         "[rollgate \"web\"]\n\tplaybook =\n\tref = refs/heads/main\n",
                         "invalid 'rollgate.web.playbook' value '': it is empty (want a relative "
                         "path in the repository, like 'deploy/web.yml')");
    expect_targets_error(f, "t-nosub", "[rollgate]\n\tplaybook = a.yml\n",
                         "'rollgate.playbook' belongs to no target: set it in [rollgate \"NAME\"]");
    expect_targets_error(f, "t-name", "[rollgate \"we b\"]\n" GOOD,
                         "invalid target name 'we b' in 'rollgate.we b.playbook': use letters, "
                         "digits, '.', '_' and '-' (at most 79)");
}

/* ---- the repository: creation, config, hooks ---- */

static void
test_init_and_config_set(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r = NULL, *again = NULL;
    struct rg_err err = {0};
    char *path = rg_asprintf("%s/made.git", f->root);
    char *value, *config = rg_asprintf("%s/config", path);
    char *missing = rg_asprintf("%s/no/such/parent.git", f->root);

    assert_int_equal(rg_git_init_bare(&r, path, &err), 0);
    assert_string_equal(rg_git_dir(r), path);
    assert_int_equal(rg_git_config_set(r, "rollgate.web.playbook", "deploy/web.yml", &err), 0);
    assert_int_equal(rg_git_config_set(r, "rollgate.web.ref", "refs/tags/v*", &err), 0);
    value = GIT(NULL, "config", "--file", config, "rollgate.web.playbook");
    assert_string_equal(value, "deploy/web.yml");
    free(value);
    value = GIT(NULL, "--git-dir", path, "rev-parse", "--is-bare-repository");
    assert_string_equal(value, "true");
    free(value);
    /* a second install opens what is there, config and all */
    assert_int_equal(rg_git_init_bare(&again, path, &err), 0);
    {
        struct rg_git_target *ts = NULL;
        size_t n = 0;
        assert_int_equal(rg_git_targets(&ts, &n, again, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(ts[0].ref, "refs/tags/v*");
        free(ts);
    }
    assert_int_equal(rg_git_config_set(r, "not a key", "x", &err), RG_EINVAL);
    assert_prefix(err.msg, "cannot set 'not a key' in '");
    rg_git_close(again);
    rg_git_close(r);
    rg_git_close(NULL);

    r = (struct rg_git_repo *)1;
    assert_int_equal(rg_git_init_bare(&r, missing, &err), RG_ECANTCREAT);
    assert_null(r);
    assert_prefix(err.msg, "cannot create git repository '");
    r = (struct rg_git_repo *)1;
    assert_int_equal(rg_git_open(&r, f->root, &err), RG_ENOENT);
    assert_null(r);
    value = rg_asprintf("cannot open git repository '%s': ", f->root);
    assert_prefix(err.msg, value);
    free(value);
    free(missing);
    free(config);
    free(path);
}

static void
test_hooks_dir(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r = NULL;
    struct rg_err err = {0};
    char *dir = NULL, *want, *path = rg_asprintf("%s/hooks.git", f->root);

    assert_int_equal(rg_git_init_bare(&r, path, &err), 0);
    assert_int_equal(rg_git_hooks_dir(&dir, r, &err), 0);
    want = rg_asprintf("%s/hooks", path);
    assert_string_equal(dir, want);
    free(want);
    free(dir);

    /* relative: from the repository, where git runs a bare repository's hooks */
    assert_int_equal(rg_git_config_set(r, "core.hooksPath", "shared/hooks", &err), 0);
    assert_int_equal(rg_git_hooks_dir(&dir, r, &err), 0);
    want = rg_asprintf("%s/shared/hooks", path);
    assert_string_equal(dir, want);
    free(want);
    free(dir);

    assert_int_equal(rg_git_config_set(r, "core.hooksPath", "/srv/git-hooks", &err), 0);
    assert_int_equal(rg_git_hooks_dir(&dir, r, &err), 0);
    assert_string_equal(dir, "/srv/git-hooks");
    free(dir);
    rg_git_close(r);

    /* a repository with a work tree runs its hooks from the top of the work tree */
    r = open_work(f);
    assert_int_equal(rg_git_hooks_dir(&dir, r, &err), 0);
    want = rg_asprintf("%s/.git/hooks", f->work);
    assert_string_equal(dir, want);
    free(want);
    free(dir);
    GITQ(NULL, "-C", f->work, "config", "core.hooksPath", "githooks");
    assert_int_equal(rg_git_hooks_dir(&dir, r, &err), 0);
    want = rg_asprintf("%s/githooks", f->work);
    assert_string_equal(dir, want);
    free(want);
    free(dir);
    GITQ(NULL, "-C", f->work, "config", "--unset", "core.hooksPath");
    rg_git_close(r);
    free(path);
}

/* ---- a hook's environment: objects in a directory of their own (git's quarantine) ---- */

static void
unset_git_env(void)
{
    unsetenv("GIT_DIR");
    unsetenv("GIT_OBJECT_DIRECTORY");
    unsetenv("GIT_ALTERNATE_OBJECT_DIRECTORIES");
    unsetenv("GIT_QUARANTINE_PATH");
}

static void
expect_env_reads(const char *pushed, const char *old)
{
    struct rg_git_repo *r = NULL;
    struct rg_git_pushed p;
    struct rg_err err = {0};
    char *data = NULL;
    size_t len = 0;

    if (rg_git_open(&r, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rg_git_resolve(&p, r, pushed, "refs/heads/main", &err), 0);
    assert_string_equal(p.commit, pushed);
    assert_int_equal(rg_git_read_file(&data, &len, r, pushed, "deploy/web.yml", 1024, &err), 0);
    assert_string_equal(data, "pushed: yes\n");
    free(data);
    /* and what the repository held before the push, through the alternate */
    assert_int_equal(rg_git_resolve(&p, r, old, "refs/heads/main", &err), 0);
    rg_git_close(r);
}

static void
test_open_from_env(void **state)
{
    struct fixture *f = *state;
    char *repo = rg_asprintf("%s/server.git", f->root);
    char *objects = rg_asprintf("%s/objects", repo);
    char *quarantine = rg_asprintf("%s/objects/incoming-test", repo);
    char *blob, *tree, *dir, *inner, *listing, *pushed, *old;
    struct rg_git_repo *r = NULL;
    struct rg_git_pushed p;
    struct rg_err err = {0};
    char cwd[PATH_MAX];

    GITQ(NULL, "init", "-q", "--bare", repo);
    /* what the repository holds before the push */
    tree = GIT("", "--git-dir", repo, "mktree");
    old = GIT(NULL, "--git-dir", repo, "commit-tree", "-m", "old", tree);
    free(tree);
    make_dir(quarantine);

    /* the push's objects go to the quarantine only, as receive-pack writes them */
    setenv("GIT_DIR", repo, 1);
    setenv("GIT_OBJECT_DIRECTORY", quarantine, 1);
    setenv("GIT_ALTERNATE_OBJECT_DIRECTORIES", objects, 1);
    blob = GIT("pushed: yes\n", "hash-object", "-w", "--stdin");
    listing = rg_asprintf("100644 blob %s\tweb.yml\n", blob);
    inner = GIT(listing, "mktree");
    free(listing);
    listing = rg_asprintf("040000 tree %s\tdeploy\n", inner);
    dir = GIT(listing, "mktree");
    free(listing);
    pushed = GIT(NULL, "commit-tree", "-p", old, "-m", "pushed", dir);
    unset_git_env();

    /* the repository alone does not have it */
    assert_int_equal(rg_git_open(&r, repo, &err), 0);
    assert_int_equal(rg_git_resolve(&p, r, pushed, "refs/heads/main", &err), RG_ENOENT);
    rg_git_close(r);

    /* git's pre-receive environment: GIT_DIR=. in the repository */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(repo), 0);
    setenv("GIT_DIR", ".", 1);
    setenv("GIT_OBJECT_DIRECTORY", quarantine, 1);
    setenv("GIT_ALTERNATE_OBJECT_DIRECTORIES", objects, 1);
    setenv("GIT_QUARANTINE_PATH", quarantine, 1);
    expect_env_reads(pushed, old);
    assert_int_equal(rg_git_open(&r, NULL, &err), 0);
    assert_string_equal(rg_git_dir(r), repo);
    rg_git_close(r);
    unset_git_env();
    assert_int_equal(chdir(cwd), 0);

    /* an absolute GIT_DIR, the quarantine named only by GIT_QUARANTINE_PATH */
    setenv("GIT_DIR", repo, 1);
    setenv("GIT_QUARANTINE_PATH", quarantine, 1);
    expect_env_reads(pushed, old);
    unset_git_env();

    /* no repository in the environment */
    setenv("GIT_DIR", f->root, 1);
    r = (struct rg_git_repo *)1;
    assert_int_equal(rg_git_open(&r, NULL, &err), RG_ENOENT);
    assert_null(r);
    listing = rg_asprintf("cannot open the git repository '%s' (GIT_DIR): ", f->root);
    assert_prefix(err.msg, listing);
    free(listing);
    unset_git_env();

    free(blob);
    free(inner);
    free(dir);
    free(pushed);
    free(old);
    free(quarantine);
    free(objects);
    free(repo);
}

/* libgit2 1.5 cannot read a SHA-256 repository: it is refused by name, not misread. */
static void
test_open_sha256(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r = (struct rg_git_repo *)1;
    struct rg_err err = {0};
    char *path = rg_asprintf("%s/sha256.git", f->root), *msg;

    GITQ(NULL, "init", "-q", "--bare", "--object-format=sha256", path);
    assert_int_equal(rg_git_open(&r, path, &err), RG_EINVAL);
    assert_null(r);
    msg = rg_asprintf("cannot open git repository '%s': it keeps SHA-256 objects; SHA-256 object "
                      "ids need a libgit2 with SHA-256 support; this rollgate was built with "
                      "libgit2 1.5",
                      path);
    assert_string_equal(err.msg, msg);
    free(msg);
    assert_int_equal(rg_git_init_bare(&r, path, &err), RG_EINVAL);
    setenv("GIT_DIR", path, 1);
    assert_int_equal(rg_git_open(&r, NULL, &err), RG_EINVAL);
    msg = rg_asprintf("cannot open the git repository '%s' (GIT_DIR): it keeps SHA-256 objects; "
                      "SHA-256 object ids need a libgit2 with SHA-256 support; this rollgate was "
                      "built with libgit2 1.5",
                      path);
    assert_string_equal(err.msg, msg);
    free(msg);
    unset_git_env();
    free(path);
}

/* libgit2 refuses a repository of another user as git's safe.directory does; git does not ask
 * about one named by GIT_DIR, which is how it runs hooks, and neither does rg_git_open(NULL). */
static void
test_open_other_owner(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r = NULL;
    struct rg_err err = {0};
    char *path = rg_asprintf("%s/shared.git", f->root), *msg;

    GITQ(NULL, "init", "-q", "--bare", path);
    /* Only root can give a repository away; the tests run as root (scripts/test.sh needs it):
     * a run that cannot is a failure to see, not a check to leave out. */
    if (chown(path, 65534, 65534) < 0)
        fail_msg("cannot chown '%s' to uid 65534 (%s): run the tests as root", path,
                 strerror(errno));
    r = (struct rg_git_repo *)1;
    assert_int_equal(rg_git_open(&r, path, &err), RG_ENOPERM);
    assert_null(r);
    msg = rg_asprintf("cannot open git repository '%s': it belongs to uid 65534, not to this user "
                      "(uid %u); run rollgate as its owner or add it to safe.directory in git's "
                      "global config",
                      path, (unsigned)geteuid());
    assert_string_equal(err.msg, msg);
    free(msg);

    setenv("GIT_DIR", path, 1);
    assert_int_equal(rg_git_open(&r, NULL, &err), 0);
    rg_git_close(r);
    unset_git_env();

    /* what the message advises works; HOME is the fixture's directory */
    GITQ(NULL, "config", "--global", "--add", "safe.directory", path);
    assert_int_equal(rg_git_open(&r, path, &err), 0);
    rg_git_close(r);
    GITQ(NULL, "config", "--global", "--unset-all", "safe.directory");
    free(path);
}

/* ---- a commit's tree written out as a release directory ---- */

static char *
blob(struct fixture *f, const char *content)
{
    return GIT(content, "-C", f->work, "hash-object", "-w", "--stdin");
}

/* A commit of a tree made from "<mode> <type> <oid>\t<name>" lines (no work tree touched). */
static char *
commit_of(struct fixture *f, const char *tree_lines)
{
    char *tree = GIT(tree_lines, "-C", f->work, "mktree");
    char *c = GIT(NULL, "-C", f->work, "commit-tree", tree, "-m", "release");

    free(tree);
    return c;
}

static void
expect_export_error(struct fixture *f, const char *commit, const char *dest, int code,
                    const char *msg)
{
    struct rg_git_repo *r = open_work(f);
    struct rg_err err = {0};
    const char *slash = strrchr(dest, '/');
    char *partial = rg_asprintf("%.*s/.%s.partial-%d", (int)(slash - dest), dest, slash + 1,
                                (int)getpid());

    assert_int_equal(rg_git_export(r, commit, dest, &err), code);
    assert_string_equal(err.msg, msg);
    assert_int_equal(access(partial, F_OK), -1); /* nothing left behind */
    free(partial);
    rg_git_close(r);
}

static void
test_export(void **state)
{
    struct fixture *f = *state;
    struct rg_git_repo *r = open_work(f);
    struct rg_err err = {0};
    char *hello = blob(f, "hello\n"), *script = blob(f, "#!/bin/sh\n"), *up = blob(f, "../README");
    char *out = blob(f, "../../etc/passwd"), *abs = blob(f, "/etc/passwd");
    char *lines, *sub, *good, *bad, *absc, *dest, *path, target[64], *msg;
    struct stat st;
    ssize_t n;

    lines = rg_asprintf("100644 blob %s\tapp.conf\n120000 blob %s\tup\n", hello, up);
    sub = GIT(lines, "-C", f->work, "mktree");
    free(lines);
    lines = rg_asprintf("100644 blob %s\tREADME\n100755 blob %s\trun.sh\n040000 tree %s\tconf\n",
                        hello, script, sub);
    good = commit_of(f, lines);
    free(lines);
    lines = rg_asprintf("100644 blob %s\tREADME\n120000 blob %s\tevil\n", hello, out);
    bad = commit_of(f, lines);
    free(lines);
    lines = rg_asprintf("040000 tree %s\tconf\n120000 blob %s\tpasswd\n", sub, abs);
    absc = commit_of(f, lines);
    free(lines);

    dest = rg_asprintf("%s/release-good", f->root);
    assert_int_equal(rg_git_export(r, good, dest, &err), 0);
    path = rg_asprintf("%s/run.sh", dest);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    free(path);
    path = rg_asprintf("%s/conf/app.conf", dest);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(st.st_size, 6);
    free(path);
    path = rg_asprintf("%s/conf/up", dest);
    n = readlink(path, target, sizeof(target) - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_string_equal(target, "../README");
    free(path);
    /* written once */
    msg = rg_asprintf("'%s' exists already: a release is written once", dest);
    expect_export_error(f, good, dest, RG_EINVAL, msg);
    free(msg);
    free(dest);

    dest = rg_asprintf("%s/release-bad", f->root);
    expect_export_error(f, bad, dest, RG_EINVAL,
                        "the symlink 'evil' points outside the release ('../../etc/passwd'): "
                        "refused");
    assert_int_equal(access(dest, F_OK), -1);
    expect_export_error(f, absc, dest, RG_EINVAL,
                        "the symlink 'passwd' points outside the release ('/etc/passwd'): "
                        "refused");
    expect_export_error(f, f->commit, dest, RG_EINVAL,
                        "'sub' is a submodule: a release must hold its files itself");
    msg = rg_asprintf("no commit 0123456789ab in '%s/.git'", f->work);
    expect_export_error(f, MISSING, dest, RG_ENOENT, msg);
    free(msg);
    free(dest);
    dest = rg_asprintf("%s/no/such/dir/release", f->root);
    assert_int_equal(rg_git_export(r, good, dest, &err), RG_ENOENT);
    free(dest);

    rg_git_close(r);
    free(hello);
    free(script);
    free(up);
    free(out);
    free(abs);
    free(sub);
    free(good);
    free(bad);
    free(absc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_update_good),
        cmocka_unit_test(test_parse_update_bad),
        cmocka_unit_test(test_check_ref),
        cmocka_unit_test(test_ref_matches),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_targets_good),
        cmocka_unit_test(test_targets_errors),
        cmocka_unit_test(test_init_and_config_set),
        cmocka_unit_test(test_hooks_dir),
        cmocka_unit_test(test_open_from_env),
        cmocka_unit_test(test_open_sha256),
        cmocka_unit_test(test_open_other_owner),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
