/* `rollgate hook install|pre-receive|post-receive`: deploys triggered by `git push` to a bare
 * repository on the deploy host. install writes the two shims of hooks/ (they exec rollgate),
 * never over a hook it did not write; which refs deploy which playbook is the repository's
 * config, [rollgate "TARGET"] (docs/ci-and-hooks.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook.h"
#include "rollgate/util.h"
#include "rollgate_hook_shims.h"

enum { HK_TARGET, HK_PLAYBOOK, HK_REF };

static const struct rg_opt hook_opts[] = {
    [HK_TARGET] = {"target", 0, "NAME", "install: configure this deploy target (with --playbook "
                                        "and --ref)"},
    [HK_PLAYBOOK] = {"playbook", 0, "PATH", "install: the target's playbook, a path in the "
                                            "pushed tree"},
    [HK_REF] = {"ref", 0, "GLOB", "install: the refs that deploy it (e.g. 'refs/tags/v*')"},
    {0},
};

/* The shim with the binary's path; a path a shell would split or expand is refused. */
static int
shim_text(char **out, const char *tmpl, const char *self, struct rg_err *err)
{
    const char *at = strstr(tmpl, "@ROLLGATE@");

    *out = NULL;
    if (strspn(self, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-") !=
        strlen(self))
        return rg_err_set(err, RG_EINVAL,
                          "rollgate's path '%s' has characters a hook script would have to "
                          "quote: install rollgate under a plain path",
                          self);
    if (!at)
        return rg_err_set(err, RG_EINTERNAL, "hook shim without @ROLLGATE@");
    *out = rg_asprintf("%.*s%s%s", (int)(at - tmpl), tmpl, self, at + strlen("@ROLLGATE@"));
    return 0;
}

/* --target, --playbook and --ref checked before anything is written to the repository's
 * config: a bad value there would refuse every push. */
static int
check_target_opts(const char *target, const char *playbook, const char *ref, struct rg_err *err)
{
    char *probe;
    int rc;

    if (!*target || strlen(target) >= sizeof(((struct rg_git_target *)0)->name) ||
        strspn(target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            strlen(target))
        return rg_err_set(err, RG_EINVAL, "--target '%s': a name of letters, digits, '.', '_' "
                          "and '-'", target);
    if (!*playbook || playbook[0] == '/' || strstr(playbook, "..") || strstr(playbook, "//") ||
        playbook[strlen(playbook) - 1] == '/')
        return rg_err_set(err, RG_EINVAL, "--playbook '%s': a path in the repository's tree, "
                          "like 'deploy/web.yml' (relative, no '..')", playbook);
    if (strncmp(ref, "refs/", 5) != 0)
        return rg_err_set(err, RG_EINVAL, "--ref '%s': a glob of full ref names, like "
                          "'refs/tags/v*'", ref);
    probe = rg_strdup(ref);
    for (char *c = probe; *c; c++)
        if (*c == '*')
            *c = 'x';
    rc = rg_git_check_ref(probe, err);
    free(probe);
    return rc < 0 ? rg_err_prefix(err, "--ref: ") : 0;
}

/* A hook at dir/name that rollgate did not write (or cannot read): said, and refused (73). */
static int
foreign_hook(struct rg_cmd_ctx *ctx, const char *dir, const char *name)
{
    char *path = rg_asprintf("%s/%s", dir, name), old[4096];
    struct stat st;
    ssize_t n = -1;
    int fd, rc = RG_EXIT_OK;

    if (lstat(path, &st) < 0) {
        free(path);
        return RG_EXIT_OK;
    }
    if (S_ISREG(st.st_mode) && (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
        n = read(fd, old, sizeof(old) - 1);
        close(fd);
    }
    if (n < 0) {
        fprintf(ctx->errout, "rollgate: hook: %s exists and is not a file rollgate can read: "
                             "move it away first; no hook was written\n", path);
        rc = RG_EXIT_CANTCREAT;
    } else {
        old[n] = '\0';
        if (!strstr(old, RG_HOOK_MARKER)) {
            fprintf(ctx->errout,
                    "rollgate: hook: %s exists and was not written by rollgate; not overwritten, "
                    "no hook was written. Move it away, or call rollgate from it: 'rollgate hook "
                    "%s' reads the same stdin\n",
                    path, name);
            rc = RG_EXIT_CANTCREAT;
        }
    }
    free(path);
    return rc;
}

/* Writes one hook: atomically, 0755; an existing hook is replaced only when rollgate wrote it. */
static int
write_hook(struct rg_cmd_ctx *ctx, const char *dir, const char *name, const char *text)
{
    char *path = rg_asprintf("%s/%s", dir, name), *tmp = rg_asprintf("%s.rollgate-tmp", path);
    char old[4096];
    struct stat st;
    int fd, rc = RG_EXIT_OK;
    ssize_t n = 0;
    bool exists = lstat(path, &st) == 0;

    if (exists) {
        /* foreign_hook said yes already: a regular file rollgate wrote. */
        if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
            (n = read(fd, old, sizeof(old) - 1)) < 0) {
            fprintf(ctx->errout, "rollgate: hook: cannot read %s: %s\n", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = RG_EXIT_CANTCREAT;
            goto out;
        }
        close(fd);
        old[n] = '\0';
        if (!(st.st_mode & S_IXUSR))
            fprintf(ctx->out, "%s was not executable, so git ignored it: made executable\n",
                    path);
        if (strcmp(old, text) == 0 && (st.st_mode & S_IXUSR)) {
            fprintf(ctx->out, "%s is up to date\n", path);
            goto out;
        }
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0755);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, 0755) < 0 ||
        close(fd) < 0 || (fd = -1, rename(tmp, path) < 0)) {
        fprintf(ctx->errout, "rollgate: hook: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        rc = RG_EXIT_CANTCREAT;
        goto out;
    }
    fprintf(ctx->out, "%s %s: %s", exists ? "rewrote" : "wrote", path, strrchr(text, '\n') ==
            text + strlen(text) - 1 ? strstr(text, "exec ") : "\n");
out:
    free(path);
    free(tmp);
    return rc;
}

int
hook_install(struct rg_cmd_ctx *ctx)
{
    const char *target = ctx->optval[HK_TARGET], *playbook = ctx->optval[HK_PLAYBOOK];
    const char *ref = ctx->optval[HK_REF];
    struct rg_git_repo *repo = NULL;
    struct rg_git_target *targets = NULL;
    struct rg_err err;
    char self[4096], *dir = NULL, *pre = NULL, *post = NULL;
    size_t nt = 0;
    int rc = RG_EXIT_OK;

    rg_err_clear(&err);
    if (ctx->nargs != 2)
        return rg_cli_usage_error(ctx->cmd, "usage: rollgate hook install [--target NAME "
                                            "--playbook PATH --ref GLOB] REPOSITORY");
    if ((target || playbook || ref) && !(target && playbook && ref))
        return rg_cli_usage_error(ctx->cmd, "--target, --playbook and --ref go together");
    if (!hook_self_path(self, sizeof(self)))
        return rg_cli_usage_error(ctx->cmd, "cannot find rollgate's own path");
    if ((target && check_target_opts(target, playbook, ref, &err) < 0) ||
        rg_git_init_bare(&repo, ctx->args[1], &err) < 0 ||
        shim_text(&pre, RG_HOOK_SHIM_PRE_RECEIVE, self, &err) < 0 ||
        shim_text(&post, RG_HOOK_SHIM_POST_RECEIVE, self, &err) < 0 ||
        rg_git_config_set(repo, "receive.advertisePushOptions", "true", &err) < 0) {
        fprintf(ctx->errout, "rollgate: hook: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    if (target) {
        char key[200];
        snprintf(key, sizeof(key), "rollgate.%s.playbook", target);
        if (rg_git_config_set(repo, key, playbook, &err) == 0) {
            snprintf(key, sizeof(key), "rollgate.%s.ref", target);
            if (rg_git_config_set(repo, key, ref, &err) == 0)
                err.code = 0;
        }
        if (err.code) {
            fprintf(ctx->errout, "rollgate: hook: %s\n", err.msg);
            rc = rg_cli_exit_for(err.code);
            goto out;
        }
    }
    /* The configuration is checked before any hook is written: a bad one would reject every
     * push. */
    if (rg_git_targets(&targets, &nt, repo, &err) < 0 ||
        rg_git_hooks_dir(&dir, repo, &err) < 0 ||
        rg_fs_make_dir(dir, 0755, "hooks directory", &err) < 0) {
        fprintf(ctx->errout, "rollgate: hook: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    /* Both hooks are looked at before either is written: one refused must not leave the other
     * installed alone (pushes checked but never deployed, or the reverse). */
    if ((rc = foreign_hook(ctx, dir, "pre-receive")) != 0 ||
        (rc = foreign_hook(ctx, dir, "post-receive")) != 0 ||
        (rc = write_hook(ctx, dir, "pre-receive", pre)) != 0 ||
        (rc = write_hook(ctx, dir, "post-receive", post)) != 0)
        goto out;
    fprintf(ctx->out, "set receive.advertisePushOptions = true (git push -o rollgate.wait=false, "
                      "-o rollgate.plan)\n");
    for (size_t i = 0; i < nt; i++)
        fprintf(ctx->out, "target %s: %s deploys %s at the pushed commit\n", targets[i].name,
                targets[i].ref, targets[i].playbook);
    if (nt == 0)
        fprintf(ctx->out, "no target yet: a push deploys nothing until one is configured, e.g. "
                          "rollgate hook install --target web --playbook deploy/web.yml --ref "
                          "'refs/tags/v*' %s\n", ctx->args[1]);
out:
    free(targets);
    free(dir);
    free(pre);
    free(post);
    rg_git_close(repo);
    return rc;
}

static int
cmd_hook(struct rg_cmd_ctx *ctx)
{
    const char *sub = ctx->args[0];

    if (strcmp(sub, "install") == 0)
        return hook_install(ctx);
    if (ctx->nargs != 1)
        return rg_cli_usage_error(ctx->cmd, "'hook %s' takes no arguments (git gives it the "
                                            "refs on stdin)", sub);
    if (strcmp(sub, "pre-receive") == 0)
        return hook_pre_receive(ctx);
    if (strcmp(sub, "post-receive") == 0)
        return hook_post_receive(ctx);
    return rg_cli_usage_error(ctx->cmd, "unknown action '%s': install, pre-receive or "
                                        "post-receive", sub);
}

const struct rg_cmd rg_cmd_hook = {
    .name = "hook",
    .summary = "deploy on git push: install the hooks in a bare repository, or run one",
    .usage = "install [--target NAME --playbook PATH --ref GLOB] REPOSITORY | pre-receive | "
             "post-receive",
    .description =
        "install creates the bare repository if needed and writes its pre-receive and\n"
        "post-receive hooks (into core.hooksPath when set), never over a hook rollgate did\n"
        "not write. Targets are the repository's config: [rollgate \"NAME\"] playbook (a path\n"
        "in the pushed tree), ref (a glob of tags), tags (any, annotated, signed), protect\n"
        "(a deployed tag may not move or be deleted; default true), busy (wait or refuse),\n"
        "wait (how long; default 30m). pre-receive rejects a push whose playbook or tag is\n"
        "invalid, with validate's file:line:column messages; post-receive deploys the newest\n"
        "matching tag in a detached worker and shows its progress to the pusher (push option\n"
        "rollgate.wait=false: return at once; rollgate.plan: show the plan only).\n",
    .opts = hook_opts,
    .min_args = 1,
    .max_args = 2,
    .run = cmd_hook,
};
