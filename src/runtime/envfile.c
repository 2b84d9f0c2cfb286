/* The release tag lives in an env file (APP_IMAGE_VERSION=v1.4.2). Switching it rewrites the
 * file atomically — temporary file in the same directory, fsync, rename, fsync the directory —
 * keeping every other line, comment and the order as they were. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollgate/runtime.h"

#define ENVFILE_MAX (1024 * 1024)

static int
read_all(struct rg_buf *out, const char *path, bool *exists, struct stat *st, struct rg_err *err)
{
    char chunk[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int rc = 0;

    *exists = fd >= 0;
    if (fd < 0)
        return errno == ENOENT ? 0 : rg_err_sys(err, RG_EIO, "cannot open env file '%s'", path);
    if (fstat(fd, st) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot stat env file '%s'", path);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot read env file '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        rg_buf_add(out, chunk, (size_t)n);
    }
    if (out->truncated)
        rc = rg_err_set(err, RG_EINVAL, "env file '%s' is larger than %d bytes", path,
                        ENVFILE_MAX);
out:
    close(fd);
    return rc;
}

/* Whether line (without its newline) assigns var: "VAR=…" or "export VAR=…", spaces allowed
 * before the name. Returns the offset of the value, or -1. */
static long
assigns(const char *line, size_t len, const char *var)
{
    size_t i = 0, vl = strlen(var);

    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (len - i > 7 && strncmp(line + i, "export ", 7) == 0)
        for (i += 7; i < len && line[i] == ' '; i++)
            ;
    if (len - i > vl && strncmp(line + i, var, vl) == 0 && line[i + vl] == '=')
        return (long)(i + vl + 1);
    return -1;
}

int
rg_envfile_get(char **out, const char *path, const char *var, struct rg_err *err)
{
    struct rg_buf text;
    struct stat st;
    bool exists;
    int rc;

    *out = NULL;
    rg_buf_init(&text, ENVFILE_MAX);
    if ((rc = read_all(&text, path, &exists, &st, err)) < 0)
        goto out;
    if (!exists) {
        rc = rg_err_set(err, RG_ENOENT, "env file '%s' does not exist", path);
        goto out;
    }
    for (const char *p = text.data ? text.data : ""; *p;) {
        size_t len = strcspn(p, "\n");
        long at = assigns(p, len, var);
        if (at >= 0) {
            /* The last assignment wins, as in compose; quotes around the value are dropped. */
            size_t vlen = len - (size_t)at;
            const char *v = p + at;
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
                v++;
                vlen -= 2;
            }
            free(*out);
            *out = rg_strndup(v, vlen);
        }
        p += len + (p[len] == '\n');
    }
    if (!*out)
        rc = rg_err_set(err, RG_ENOENT, "env file '%s' does not set %s", path, var);
out:
    rg_buf_release(&text);
    return rc;
}

int
rg_envfile_set(const char *path, const char *var, const char *value, struct rg_err *err)
{
    struct rg_buf text, next;
    struct stat st = {.st_mode = 0644};
    char *tmp = NULL;
    bool exists, found = false;
    int fd = -1, rc;

    rg_buf_init(&text, ENVFILE_MAX);
    /* Room for the whole file plus the new line: the rewrite must never lose a byte. */
    rg_buf_init(&next, ENVFILE_MAX + strlen(var) + strlen(value) + 4);
    if (strchr(value, '\n') || strchr(var, '\n') || strchr(var, '=')) {
        rc = rg_err_set(err, RG_EINVAL, "refusing to write a value with a newline to '%s'", path);
        goto out;
    }
    if ((rc = read_all(&text, path, &exists, &st, err)) < 0)
        goto out;
    for (const char *p = text.data ? text.data : ""; *p;) {
        size_t len = strcspn(p, "\n");
        long at = assigns(p, len, var);
        bool nl = p[len] == '\n';
        if (at >= 0 && !found) {
            /* Keep the line's own prefix (indentation, export) and replace the value. */
            rg_buf_add(&next, p, (size_t)at);
            rg_buf_adds(&next, value);
            rg_buf_adds(&next, "\n");
            found = true;
        } else if (at < 0) {
            rg_buf_add(&next, p, len);
            if (nl || len)
                rg_buf_adds(&next, "\n");
        }
        /* A later duplicate assignment would override ours in compose: drop it. */
        p += len + nl;
    }
    if (!found)
        rg_buf_addf(&next, "%s=%s\n", var, value);
    if (next.truncated || next.len > ENVFILE_MAX) {
        rc = rg_err_set(err, RG_EINVAL, "env file '%s' would grow past %d bytes", path,
                        ENVFILE_MAX);
        goto out;
    }
    tmp = rg_asprintf("%s.rollgate-tmp", path);
    /* A temporary file left by a crash is not trusted (its mode, its owner): start afresh. */
    if (unlink(tmp) < 0 && errno != ENOENT) {
        rc = rg_err_sys(err, RG_EIO, "cannot remove the stale '%s'", tmp);
        goto out;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot create '%s'", tmp);
        goto out;
    }
    /* The mode the file had, whatever the umask says. */
    if (fchmod(fd, st.st_mode & 07777) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot set the mode of '%s'", tmp);
        goto out;
    }
    if (exists && fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM) {
        rc = rg_err_sys(err, RG_EIO, "cannot keep the owner of '%s'", path);
        goto out;
    }
    if ((rc = rg_fs_write_all(fd, next.data, next.len, tmp, err)) < 0)
        goto out;
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        rc = rg_err_sys(err, RG_EIO, "cannot flush '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot replace env file '%s'", path);
        goto out;
    }
    free(tmp);
    tmp = NULL;
    rc = rg_fs_fsync_parent(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    rg_buf_release(&text);
    rg_buf_release(&next);
    return rc;
}
