/* File helpers shared by every module: whole writes, directory fsync, atomic replacement and
 * tree removal that never follows a link. */
#define _GNU_SOURCE /* mkostemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollgate/util.h"

int
rg_fs_write_all(int fd, const void *data, size_t len, const char *name, struct rg_err *err)
{
    const char *p = data;

    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0)
            errno = EIO; /* no progress and no error: do not spin */
        if (k <= 0)
            return rg_err_sys(err, RG_EIO, "cannot write '%s'", name);
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int
rg_fs_fsync_dir(const char *dir, struct rg_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0 || fsync(fd) < 0)
        rc = rg_err_sys(err, RG_EIO, "cannot fsync directory '%s'", dir);
    if (fd >= 0)
        close(fd);
    return rc;
}

int
rg_fs_fsync_parent(const char *path, struct rg_err *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc;

    if (!slash)
        dir = rg_strdup(".");
    else if (slash == path)
        dir = rg_strdup("/");
    else
        dir = rg_strndup(path, (size_t)(slash - path));
    rc = rg_fs_fsync_dir(dir, err);
    free(dir);
    return rc;
}

int
rg_fs_replace_atomic(const char *path, const void *data, size_t len, mode_t mode,
                     struct rg_err *err)
{
    /* Same directory, so the rename is atomic; a unique name, so two writers or a file left
     * by a crash never meet. */
    char *tmp = rg_asprintf("%s.tmp-XXXXXX", path);
    int fd = -1, rc;

    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot create a temporary file next to '%s'", path);
        free(tmp);
        return rc;
    }
    /* The mode asked for, whatever the umask says. */
    if (fchmod(fd, mode & 07777) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot set the mode of '%s'", tmp);
        goto out;
    }
    if ((rc = rg_fs_write_all(fd, data, len, tmp, err)) < 0)
        goto out;
    if (fsync(fd) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot fsync '%s'", tmp);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = rg_err_sys(err, RG_EIO, "cannot close '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot replace '%s'", path);
        goto out;
    }
    free(tmp);
    tmp = NULL; /* renamed: nothing left to remove */
    rc = rg_fs_fsync_parent(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    return rc;
}

/* Removes name in dfd (shown as path in messages) and everything under it. dev is the file
 * system the removal started on. Keeps going after a failure; returns the first. */
static int
remove_at(int dfd, const char *name, const char *path, dev_t dev, struct rg_err *err)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int fd, rc = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : rg_err_sys(err, RG_EIO, "cannot stat '%s'", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
            return rg_err_sys(err, RG_EIO, "cannot remove '%s'", path);
        return 0;
    }
    if (st.st_dev != dev)
        return rg_err_set(err, RG_EIO, "cannot remove '%s': it is on another file system", path);
    /* O_NOFOLLOW: a directory swapped for a link since the fstatat is refused, not followed. */
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rg_err_sys(err, RG_EIO, "cannot open directory '%s'", path);
    if (!(d = fdopendir(fd))) {
        rc = rg_err_sys(err, RG_EIO, "cannot read directory '%s'", path);
        close(fd);
        return rc;
    }
    for (;;) {
        char *sub;
        int r;

        errno = 0;
        if (!(de = readdir(d))) {
            if (errno != 0 && rc == 0)
                rc = rg_err_sys(err, RG_EIO, "cannot read directory '%s'", path);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sub = rg_asprintf("%s/%s", path, de->d_name);
        /* The first error is the one reported; later ones only keep the removal going. */
        r = remove_at(dirfd(d), de->d_name, sub, dev, rc < 0 ? NULL : err);
        if (r < 0 && rc == 0)
            rc = r;
        free(sub);
    }
    closedir(d);
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
        rc = rg_err_sys(err, RG_EIO, "cannot remove directory '%s'", path);
    return rc;
}

int
rg_fs_remove_tree(const char *path, struct rg_err *err)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : rg_err_sys(err, RG_EIO, "cannot stat '%s'", path);
    return remove_at(AT_FDCWD, path, path, st.st_dev, err);
}

int
rg_fs_read_file(struct rg_buf *out, const char *path, struct rg_err *err)
{
    char chunk[8192];
    ssize_t got;
    int fd, rc = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot open '%s'", path);
    while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot read '%s'", path);
            break;
        }
        rg_buf_add(out, chunk, (size_t)got);
        if (out->truncated) {
            rc = rg_err_set(err, RG_EINVAL, "'%s' is larger than %zu bytes", path, out->max);
            break;
        }
    }
    close(fd);
    return rc;
}

int
rg_fs_make_dir(const char *path, mode_t mode, const char *what, struct rg_err *err)
{
    struct stat st;
    char parent[4096];
    const char *slash = strrchr(path, '/');

    if (mkdir(path, mode) == 0)
        return 0;
    int e = errno;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    snprintf(parent, sizeof(parent), "%.*s",
             slash ? (slash == path ? 1 : (int)(slash - path)) : 1, slash ? path : ".");
    switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
        return rg_err_set(err, RG_ENOPERM,
                          "cannot create %s '%s': %s: run rollgate as a user who may write "
                          "'%s', or point state_dir at a directory that user owns",
                          what, path, strerror(e), parent);
    case ENOENT:
        return rg_err_set(err, RG_ECANTCREAT,
                          "cannot create %s '%s': its parent '%s' does not exist: create it "
                          "(mkdir -p '%s') or point state_dir elsewhere",
                          what, path, parent, parent);
    case EEXIST:
    case ENOTDIR:
        return rg_err_set(err, RG_ECANTCREAT,
                          "cannot create %s '%s': %s is not a directory: point state_dir at a "
                          "directory",
                          what, path, e == EEXIST ? "it exists and" : "a part of its path");
    default:
        errno = e;
        return rg_err_sys(err, RG_EIO, "cannot create %s '%s'", what, path);
    }
}
