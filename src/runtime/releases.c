/* Releases on disk for the systemd driver: root/releases/<tag>, each whole or absent, and the
 * root/current link the unit runs from, switched in one rename. A release arrives from a git
 * repository (the tag's tree, through libgit2) or from a directory CI uploaded, which counts
 * only once the upload wrote its marker last. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollgate/git.h"
#include "rollgate/playbook.h"
#include "rollgate/runtime.h"

#define RELEASES "releases"
#define CURRENT "current"

/* A tag as a directory name: what the playbook's tag grammar already allows, checked again
 * because a path is built from it. */
static int
check_component(const char *tag, struct rg_err *err)
{
    if (!tag[0] || strlen(tag) > 128 || tag[0] == '.' || strchr(tag, '/'))
        return rg_err_set(err, RG_EINVAL, "'%.128s' cannot name a release directory", tag);
    return 0;
}

int
rg_releases_current(char **tag_out, const char *root, struct rg_err *err)
{
    char *link = rg_asprintf("%s/" CURRENT, root), target[PATH_MAX];
    const char *prefix = RELEASES "/";
    ssize_t n;
    int rc = 0;

    *tag_out = NULL;
    n = readlink(link, target, sizeof(target) - 1);
    if (n < 0) {
        rc = errno == ENOENT ? rg_err_set(err, RG_ENOENT, "no release is current yet: %s does "
                                                          "not exist", link)
             : errno == EINVAL ? rg_err_set(err, RG_EINVAL, "%s is not a symbolic link: rollgate "
                                                            "did not make it", link)
                               : rg_err_sys(err, RG_EIO, "cannot read link %s", link);
        goto out;
    }
    target[n] = '\0';
    if (strncmp(target, prefix, strlen(prefix)) != 0 || strchr(target + strlen(prefix), '/') ||
        !target[strlen(prefix)]) {
        rc = rg_err_set(err, RG_EINVAL, "%s points at '%s', not at releases/<tag>", link, target);
        goto out;
    }
    *tag_out = rg_strdup(target + strlen(prefix));
out:
    free(link);
    return rc;
}

bool
rg_releases_present(const char *root, const char *tag)
{
    char *dir = rg_asprintf("%s/" RELEASES "/%s", root, tag);
    struct stat st;
    bool ok = lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);

    free(dir);
    return ok;
}

int
rg_releases_switch(const char *root, const char *tag, struct rg_err *err)
{
    char *target = NULL, *tmp = NULL, *link = NULL;
    int rc;

    if ((rc = check_component(tag, err)) < 0)
        return rc;
    if (!rg_releases_present(root, tag))
        return rg_err_set(err, RG_ENOENT, "release %s is not in %s/" RELEASES, tag, root);
    target = rg_asprintf(RELEASES "/%s", tag);
    tmp = rg_asprintf("%s/." CURRENT ".%ld", root, (long)getpid());
    link = rg_asprintf("%s/" CURRENT, root);
    (void)unlink(tmp); /* left by a run killed between these two calls */
    if (symlink(target, tmp) < 0)
        rc = rg_err_sys(err, RG_EIO, "cannot create link %s", tmp);
    else if (rename(tmp, link) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot move link %s onto %s", tmp, link);
        (void)unlink(tmp);
    } else
        rc = rg_fs_fsync_dir(root, err);
    free(link);
    free(tmp);
    free(target);
    return rc;
}

/* releases/.<tag>.pin beside releases/<tag>: the commit it was exported from. */
static char *
pin_path(const char *dest)
{
    const char *slash = strrchr(dest, '/');

    return rg_asprintf("%.*s/.%s.pin", (int)(slash - dest), dest, slash + 1);
}

/* The pin file of the release at dest: its identity, and by its time the order releases
 * arrived in (a release directory's own times change when the app writes into it). */
static int
write_pin(const char *dest, const char *kind, const char *id, struct rg_err *err)
{
    char *pin = pin_path(dest), *text = rg_asprintf("%s%s\n", kind, id);
    int rc = rg_fs_replace_atomic(pin, text, strlen(text), 0644, err);

    free(text);
    free(pin);
    return rc;
}

static void
remove_pin(const char *dest)
{
    char *pin = pin_path(dest);

    (void)unlink(pin);
    free(pin);
}

int
rg_releases_pin(char **out, const char *root, const char *tag, struct rg_err *err)
{
    char *dest = rg_asprintf("%s/" RELEASES "/%s", root, tag), *pin = pin_path(dest);
    struct rg_buf b;
    int rc;

    *out = NULL;
    rg_buf_init(&b, 4096);
    if (!rg_releases_present(root, tag))
        rc = rg_err_set(err, RG_ENOENT, "release %s is not in %s/" RELEASES, tag, root);
    else if ((rc = rg_fs_read_file(&b, pin, err)) == RG_ENOENT)
        rc = 0, *out = rg_asprintf("dir:%s", tag); /* put there by hand: its tag is all */
    else if (rc == 0) {
        while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
            b.data[--b.len] = '\0';
        *out = rg_buf_detach(&b);
    }
    rg_buf_release(&b);
    free(pin);
    free(dest);
    return rc;
}

static int
fetch_git(const char *git, const char *tag, const char *dest, struct rg_buf *log,
          struct rg_err *err)
{
    struct rg_git_repo *r = NULL;
    struct rg_git_pushed p;
    int rc;

    if ((rc = rg_git_open(&r, git, err)) < 0)
        return rc;
    /* The pin (what the tag pointed at: a tag moved since is a different release) is written
     * first, so a release that is there always has one; a failed export removes it again. */
    if ((rc = rg_git_tag_commit(&p, r, tag, err)) == 0 &&
        (rc = write_pin(dest, "git:", p.commit, err)) == 0) {
        if ((rc = rg_git_export(r, p.commit, dest, err)) < 0)
            remove_pin(dest);
        else if (log)
            rg_buf_addf(log, "release %s exported from %s (commit %.12s)\n", tag, git, p.commit);
    }
    rg_git_close(r);
    return rc;
}

static int
fetch_upload(const char *uploads, const char *tag, const char *dest, struct rg_buf *log,
             struct rg_err *err)
{
    char *src = rg_asprintf("%s/%s", uploads, tag);
    char *marker = rg_asprintf("%s/%s", src, RG_UPLOAD_MARKER);
    struct stat st;
    int rc = 0;

    if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
        rc = rg_err_set(err, RG_ENOENT, "release %s was not uploaded: no directory %s", tag, src);
    else if (lstat(marker, &st) < 0 || !S_ISREG(st.st_mode))
        rc = rg_err_set(err, RG_EINVAL,
                        "the upload of release %s is not complete: %s has no %s (the upload "
                        "writes it last)",
                        tag, src, RG_UPLOAD_MARKER);
    else if ((rc = write_pin(dest, "dir:", tag, err)) < 0)
        rg_err_prefix(err, "release %s not taken in: ", tag);
    else if (rename(src, dest) < 0) {
        rc = errno == EXDEV
                 ? rg_err_set(err, RG_EINVAL, "cannot move %s into %s: uploads and releases "
                                              "must be on one filesystem", src, dest)
                 : rg_err_sys(err, RG_EIO, "cannot move %s to %s", src, dest);
        remove_pin(dest);
    } else if (log) {
        rg_buf_addf(log, "release %s moved in from %s\n", tag, src);
    }
    free(marker);
    free(src);
    return rc;
}

int
rg_releases_fetch(const char *root, const char *git, const char *uploads, const char *tag,
                  struct rg_buf *log, struct rg_err *err)
{
    char *dir = rg_asprintf("%s/" RELEASES, root), *dest = NULL;
    int rc;

    if ((rc = check_component(tag, err)) < 0)
        goto out;
    if (rg_releases_present(root, tag))
        goto out;
    if ((rc = rg_fs_make_dir(dir, 0755, "releases directory", err)) < 0)
        goto out;
    dest = rg_asprintf("%s/%s", dir, tag);
    if (git)
        rc = fetch_git(git, tag, dest, log, err);
    else if (uploads)
        rc = fetch_upload(uploads, tag, dest, log, err);
    else
        rc = rg_err_set(err, RG_ENOENT, "release %s is not in %s and the playbook names no "
                                        "source (release.git or release.uploads)", tag, dir);
    if (rc == 0)
        rc = rg_fs_fsync_dir(dir, err);
out:
    free(dest);
    free(dir);
    return rc;
}

struct aged {
    char *tag;
    struct timespec when;
};

static int
by_age(const void *a, const void *b)
{
    const struct aged *x = a, *y = b;

    if (x->when.tv_sec != y->when.tv_sec)
        return x->when.tv_sec > y->when.tv_sec ? -1 : 1;
    if (x->when.tv_nsec != y->when.tv_nsec)
        return x->when.tv_nsec > y->when.tv_nsec ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

int
rg_releases_prune(const char *root, int keep, const struct rg_strv *protect, struct rg_buf *log,
                  struct rg_err *err)
{
    char *dir = rg_asprintf("%s/" RELEASES, root);
    struct aged *v = NULL;
    size_t n = 0, cap = 0, kept = 0;
    struct dirent *de;
    DIR *d;
    int rc = 0;

    if (!(d = opendir(dir))) {
        rc = errno == ENOENT ? 0 : rg_err_sys(err, RG_EIO, "cannot read %s", dir);
        free(dir);
        return rc;
    }
    while ((de = readdir(d))) {
        struct stat st;
        char *path;
        /* Partial exports (".name.partial-PID"), removals cut short (".name.removing-PID") and
         * pins are hidden: not releases. */
        if (de->d_name[0] == '.')
            continue;
        path = rg_asprintf("%s/%s", dir, de->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            char *pin = pin_path(path);
            struct stat ps;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = rg_realloc(v, cap * sizeof(*v));
            }
            v[n].tag = rg_strdup(de->d_name);
            /* Arrival: the pin's time; a release put there by hand has only its own. */
            v[n++].when = lstat(pin, &ps) == 0 ? ps.st_mtim : st.st_ctim;
            free(pin);
        }
        free(path);
    }
    closedir(d);
    if (n) /* an empty releases directory: v is NULL */
        qsort(v, n, sizeof(*v), by_age);
    for (size_t i = 0; i < n; i++) {
        struct rg_err one;
        char *path, *gone;
        if (rg_strv_contains(protect, v[i].tag))
            continue;
        if ((int)kept < keep) {
            kept++;
            continue;
        }
        path = rg_asprintf("%s/%s", dir, v[i].tag);
        /* Out of sight first, in one rename: a removal cut short leaves a hidden directory,
         * never a half-removed release that a rollback could switch to. */
        gone = rg_asprintf("%s/.%s.removing-%ld", dir, v[i].tag, (long)getpid());
        if (rename(path, gone) < 0) {
            rg_log(RG_LOG_WARN, "old release %s not removed: %s", path, strerror(errno));
        } else {
            remove_pin(path);
            if (rg_fs_remove_tree(gone, &one) < 0)
                rg_log(RG_LOG_WARN, "old release not removed: %s", one.msg);
            if (log)
                rg_buf_addf(log, "old release %s removed (keep: %d)\n", v[i].tag, keep);
        }
        free(gone);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].tag);
    free(v);
    free(dir);
    return rc;
}
