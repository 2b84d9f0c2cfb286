/* A release from git: the tree of a commit written out as a directory, through libgit2 (never
 * a git process). What a repository holds is input from outside: a symlink may point only
 * inside the tree, a submodule is refused, and nothing is written through a link. The tree is
 * written under a temporary name beside dest and renamed when whole, so a release directory is
 * complete or absent — never half-written for a unit to start from. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git_internal.h"
#include "rollgate/util.h"

struct export {
    git_repository *repo;
    const char *root; /* the temporary directory written into */
    struct rg_err *err;
    int rc;
};

/* Whether target, a symlink's text in directory dir of the tree, stays inside the tree. */
static bool
link_inside(const char *dir, const char *target)
{
    int depth = 0;

    if (!*target || target[0] == '/')
        return false;
    for (const char *p = dir; *p;) {
        size_t n = strcspn(p, "/");
        depth += n > 0;
        p += n + (p[n] == '/');
    }
    for (const char *p = target; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && strncmp(p, "..", 2) == 0)
            depth--;
        else if (n > 0 && !(n == 1 && p[0] == '.'))
            depth++;
        if (depth < 0)
            return false;
        p += n + (p[n] == '/');
    }
    return true;
}

static int
write_blob(struct export *x, const git_tree_entry *e, const char *path, mode_t mode)
{
    git_blob *blob = NULL;
    int fd, rc = 0;

    if (git_blob_lookup(&blob, x->repo, git_tree_entry_id(e)) < 0)
        return gitmod_fail(x->err, RG_EIO, "cannot read '%s' from the repository", path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        rc = rg_err_sys(x->err, RG_EIO, "cannot create '%s'", path);
    else if ((rc = rg_fs_write_all(fd, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
                                   path, x->err)) == 0 &&
             fchmod(fd, mode) < 0)
        rc = rg_err_sys(x->err, RG_EIO, "cannot set the mode of '%s'", path);
    else if (fsync(fd) < 0) /* on disk before the rename makes the release visible */
        rc = rg_err_sys(x->err, RG_EIO, "cannot write '%s' to disk", path);
    if (fd >= 0)
        close(fd);
    git_blob_free(blob);
    return rc;
}

static int
write_link(struct export *x, const git_tree_entry *e, const char *dir, const char *name,
           const char *path)
{
    git_blob *blob = NULL;
    char target[4096], shown[GITMOD_SHOWN_MAX];
    size_t n;
    int rc = 0;

    if (git_blob_lookup(&blob, x->repo, git_tree_entry_id(e)) < 0)
        return gitmod_fail(x->err, RG_EIO, "cannot read the link '%s%s'", dir, name);
    n = (size_t)git_blob_rawsize(blob);
    if (n == 0 || n >= sizeof(target) || memchr(git_blob_rawcontent(blob), '\0', n)) {
        rc = rg_err_set(x->err, RG_EINVAL, "the symlink '%s%s' has no usable target", dir, name);
    } else {
        memcpy(target, git_blob_rawcontent(blob), n);
        target[n] = '\0';
        if (!link_inside(dir, target))
            rc = rg_err_set(x->err, RG_EINVAL,
                            "the symlink '%s%s' points outside the release ('%s'): refused",
                            dir, name, gitmod_escape(shown, sizeof(shown), target));
        else if (symlink(target, path) < 0)
            rc = rg_err_sys(x->err, RG_EIO, "cannot create the link '%s'", path);
    }
    git_blob_free(blob);
    return rc;
}

static int
walk_entry(const char *dir, const git_tree_entry *e, void *data)
{
    struct export *x = data;
    const char *name = git_tree_entry_name(e);
    char *path = rg_asprintf("%s/%s%s", x->root, dir, name);
    int rc = 0;

    switch (git_tree_entry_filemode(e)) {
    case GIT_FILEMODE_TREE:
        if (mkdir(path, 0755) < 0)
            rc = rg_err_sys(x->err, RG_EIO, "cannot create '%s'", path);
        break;
    case GIT_FILEMODE_BLOB: rc = write_blob(x, e, path, 0644); break;
    case GIT_FILEMODE_BLOB_EXECUTABLE: rc = write_blob(x, e, path, 0755); break;
    case GIT_FILEMODE_LINK: rc = write_link(x, e, dir, name, path); break;
    case GIT_FILEMODE_COMMIT:
        rc = rg_err_set(x->err, RG_EINVAL,
                        "'%s%s' is a submodule: a release must hold its files itself", dir, name);
        break;
    default: rc = rg_err_set(x->err, RG_EINVAL, "'%s%s' has an unknown mode", dir, name); break;
    }
    free(path);
    x->rc = rc;
    return rc < 0 ? -1 : 0;
}

int
rg_git_export(struct rg_git_repo *r, const char *commit_hex, const char *dest, struct rg_err *err)
{
    struct export x = {.repo = r->repo, .err = err};
    git_oid oid;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    char *tmp = NULL;
    struct stat st;
    int rc;

    if (lstat(dest, &st) == 0)
        return rg_err_set(err, RG_EINVAL, "'%s' exists already: a release is written once", dest);
    if (strlen(commit_hex) != 40 || git_oid_fromstr(&oid, commit_hex) < 0)
        return rg_err_set(err, RG_EINVAL, "'%s' is not a commit id this libgit2 reads",
                          commit_hex);
    if (git_commit_lookup(&commit, r->repo, &oid) < 0)
        return rg_err_set(err, RG_ENOENT, "no commit %.12s in '%s'", commit_hex, r->dir);
    if (git_commit_tree(&tree, commit) < 0) {
        rc = gitmod_fail(err, RG_EIO, "cannot read the tree of %.12s", commit_hex);
        goto out;
    }
    /* Hidden beside dest: a directory listing of releases never takes a half-written one for
     * a release (nor a name such as "v1.partial-42" for a tag). */
    {
        const char *slash = strrchr(dest, '/');
        tmp = slash ? rg_asprintf("%.*s/.%s.partial-%d", (int)(slash - dest), dest, slash + 1,
                                  (int)getpid())
                    : rg_asprintf(".%s.partial-%d", dest, (int)getpid());
    }
    if (mkdir(tmp, 0755) < 0) {
        rc = rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot create '%s'", tmp);
        goto out;
    }
    x.root = tmp;
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, walk_entry, &x) < 0) {
        rc = x.rc < 0 ? x.rc : gitmod_fail(err, RG_EIO, "cannot walk the tree of %.12s",
                                           commit_hex);
        goto fail;
    }
    if (rename(tmp, dest) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot rename '%s' to '%s'", tmp, dest);
        goto fail;
    }
    rc = rg_fs_fsync_parent(dest, err);
    goto out;
fail:
    rg_fs_remove_tree(tmp, NULL);
out:
    free(tmp);
    git_tree_free(tree);
    git_commit_free(commit);
    return rc;
}
