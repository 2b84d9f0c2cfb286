/* Entry points of the loader: read a file within limits, build the tree, decode, check. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int
read_limited(char **data_out, size_t *len_out, const char *path, struct rg_err *err)
{
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    int fd = -1, rc = 0;

    *data_out = NULL;
    *len_out = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
        rc = rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot open playbook '%s'",
                        path);
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot stat playbook '%s'", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = rg_err_set(err, RG_EINVAL, "playbook '%s' is not a regular file", path);
        goto out;
    }
    /* Read one byte past the limit so the tree builder can say the file is too large. */
    data = rg_malloc(RG_PLAYBOOK_MAX_BYTES + 2);
    while (len < RG_PLAYBOOK_MAX_BYTES + 1) {
        ssize_t n = read(fd, data + len, RG_PLAYBOOK_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot read playbook '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    data[len] = '\0';
    *data_out = data;
    *len_out = len;
    data = NULL;
out:
    free(data);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Stable insertion sort by position: at most RG_PLAYBOOK_MAX_ERRORS entries, and problems at
 * one place keep the order they were found in. */
static void
sort_diags(struct rg_diags *d)
{
    for (size_t i = 1; i < d->n; i++) {
        struct rg_diag x = d->v[i];
        size_t j = i;
        while (j > 0 && (d->v[j - 1].line > x.line ||
                         (d->v[j - 1].line == x.line && d->v[j - 1].column > x.column))) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = x;
    }
}

static char *
directory_of(const char *path)
{
    char resolved[PATH_MAX];
    char *copy = rg_strdup(path), *dir;

    dir = dirname(copy);
    if (realpath(dir, resolved))
        dir = rg_strdup(resolved);
    else
        dir = rg_strdup(dir);
    free(copy);
    return dir;
}

int
rg_playbook_load_buffer(struct rg_playbook **out, struct rg_diags *diags, const char *name,
                        const char *data, size_t len, const struct rg_load_opts *opts,
                        struct rg_err *err)
{
    struct rg_playbook *pb = NULL;
    struct pb_node *root = NULL;
    struct pb_ctx c = {.file = name, .diags = diags};
    char cwd[PATH_MAX];
    int rc;

    *out = NULL;
    if (opts) {
        c.getenv = opts->getenv;
        c.getenv_data = opts->getenv_data;
        c.base_dir = opts->base_dir;
        c.driver_caps = opts->driver_caps;
        c.placeholders = opts->placeholders;
    }
    if ((rc = pb_tree_parse(&root, diags, name, data, len)) < 0) {
        rc = rg_err_set(err, RG_EINVAL, "playbook '%s' is not valid", name);
        goto out;
    }
    pb = rg_calloc(1, sizeof(*pb));
    pb->path = rg_strdup(name);
    pb->dir = rg_strdup(c.base_dir ? c.base_dir : getcwd(cwd, sizeof(cwd)) ? cwd : "/");
    c.base_dir = pb->dir;
    pb->defaults.every_ms = pb->defaults.within_ms = pb->defaults.timeout_ms = -1;
    pb->defaults.need = -1;
    /* Cross-checks run even after decoding problems, so one run reports everything; they skip
     * the sections that already failed so as not to repeat a problem in other words. */
    pb_decode_map(&c, root, pb_top_fields, pb, NULL);
    if (root->kind == PB_MAP)
        pb_check(&c, pb, root);
    if (c.errors) {
        /* Per-section problems and cross-checks are found in different passes: put them in
         * the order of the file, as a person reads it. */
        sort_diags(diags);
        rc = rg_err_set(err, RG_EINVAL, "playbook '%s' has %d problem%s", name, c.errors,
                        c.errors == 1 ? "" : "s");
        goto out;
    }
    *out = pb;
    pb = NULL;
out:
    pb_tree_free(root);
    rg_playbook_free(pb);
    return rc;
}

int
rg_playbook_load(struct rg_playbook **out, struct rg_diags *diags, const char *path,
                 const struct rg_load_opts *opts, struct rg_err *err)
{
    struct rg_load_opts o = {0};
    char *data = NULL, *dir = NULL;
    size_t len;
    int rc;

    *out = NULL;
    if (opts)
        o = *opts;
    if ((rc = read_limited(&data, &len, path, err)) < 0)
        goto out;
    if (!o.base_dir)
        o.base_dir = dir = directory_of(path);
    rc = rg_playbook_load_buffer(out, diags, path, data, len, &o, err);
out:
    free(data);
    free(dir);
    return rc;
}
