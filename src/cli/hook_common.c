/* The git hook's inputs, all from outside and all checked: push options, the ref lines, the
 * pusher's name, and the playbook blob at a pushed commit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "rollgate/driver.h"
#include "rollgate/util.h"

/* "\x1b" for a control character, so a message never carries one to a terminal. */
static void
escaped(char *buf, size_t size, const char *s)
{
    size_t o = 0;

    for (; *s && o + 5 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
}

int
hook_push_options(struct hook_push_opts *o, struct rg_err *err)
{
    const char *count = getenv("GIT_PUSH_OPTION_COUNT");
    long long n = 0;

    o->wait = true;
    o->plan = false;
    if (!count)
        return 0;
    if (rg_int_parse(&n, count, 0, 100, err) < 0)
        return rg_err_set(err, RG_EINVAL, "GIT_PUSH_OPTION_COUNT is not a count of options");
    for (long long i = 0; i < n; i++) {
        char name[40], shown[300];
        const char *v;
        snprintf(name, sizeof(name), "GIT_PUSH_OPTION_%lld", i);
        if (!(v = getenv(name)))
            continue;
        if (strncmp(v, "rollgate.", 9) != 0)
            continue; /* another tool's option */
        escaped(shown, sizeof(shown), v);
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return rg_err_set(err, RG_EINVAL,
                                  "push option '%s' has a control character", shown);
        if (strcmp(v, "rollgate.wait=false") == 0)
            o->wait = false;
        else if (strcmp(v, "rollgate.wait=true") == 0 || strcmp(v, "rollgate.wait") == 0)
            o->wait = true;
        else if (strcmp(v, "rollgate.plan") == 0 || strcmp(v, "rollgate.plan=true") == 0)
            o->plan = true;
        else
            return rg_err_set(err, RG_EINVAL,
                              "unknown push option '%.200s': rollgate takes rollgate.wait=true, "
                              "rollgate.wait=false and rollgate.plan",
                              shown);
    }
    return 0;
}

void
hook_actor(char *buf, size_t size)
{
    const char *who = getenv("GL_USERNAME");
    struct passwd *pw;
    size_t i;

    if (!who || !*who)
        who = getenv("REMOTE_USER");
    if ((!who || !*who) && (pw = getpwuid(geteuid())))
        who = pw->pw_name;
    snprintf(buf, size, "%.60s%s", who && *who ? who : "?",
             getenv("SSH_CONNECTION") ? " via ssh" : "");
    for (i = 0; buf[i]; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@- ", buf[i]))
            buf[i] = '?';
}

int
hook_read_updates(struct rg_git_update **out, size_t *n, FILE *in, struct rg_err *err)
{
    char *line = NULL;
    size_t cap = 0, have = 8;
    ssize_t len;

    *n = 0;
    *out = rg_calloc(have, sizeof(**out));
    while ((len = getline(&line, &cap, in)) >= 0) {
        if (len > 4096) {
            free(line);
            return rg_err_set(err, RG_EINVAL, "a ref line of %zd bytes is longer than any git "
                              "sends", len);
        }
        if (*n == have) {
            have *= 2;
            *out = rg_realloc(*out, have * sizeof(**out));
        }
        if (rg_git_parse_update(&(*out)[*n], line, err) < 0) {
            free(line);
            return RG_EINVAL;
        }
        (*n)++;
    }
    free(line);
    return 0;
}

const char *
hook_tag_of(const char *ref)
{
    return strncmp(ref, "refs/tags/", 10) == 0 && ref[10] ? ref + 10 : NULL;
}

int
hook_load_playbook(struct rg_playbook **out, FILE *errout, struct rg_git_repo *repo,
                   const char *commit, const struct rg_git_target *t, bool placeholders)
{
    struct rg_load_opts o = {.driver_caps = rg_driver_caps, .placeholders = placeholders};
    struct rg_diags diags;
    struct rg_err err;
    /* Relative paths resolve where post-receive writes the playbook for the worker, so that
     * pre-receive reads the same ledger the deploy will write. */
    char *base = rg_asprintf("%s/rollgate", rg_git_dir(repo));
    char *data = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    o.base_dir = base;
    if (rg_git_read_file(&data, &len, repo, commit, t->playbook, HOOK_PLAYBOOK_MAX, &err) < 0) {
        fprintf(errout, "rollgate: %s: %s\n", t->name, err.msg);
        free(base);
        return RG_EXIT_INVALID;
    }
    rg_diags_init(&diags);
    rc = rg_playbook_load_buffer(out, &diags, t->playbook, data, len, &o, &err);
    rg_cli_print_diags(errout, &diags);
    if (rc < 0)
        fprintf(errout, "rollgate: %s: %s\n", t->name, err.msg);
    rg_diags_release(&diags);
    free(data);
    free(base);
    return rc < 0 ? RG_EXIT_INVALID : 0;
}

/* The playbooks a target's pushes left in dir: the newest KEEP_PLAYBOOKS stay (a deploy, its
 * resume or an attach may still name one), the older ones go. */
#define KEEP_PLAYBOOKS 20

struct kept {
    char *path;
    time_t mtime;
};

static int
newest_first(const void *a, const void *b)
{
    const struct kept *x = a, *y = b;

    return (y->mtime > x->mtime) - (y->mtime < x->mtime);
}

static void
prune_playbooks(const char *dir, const char *target)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct kept *v = NULL;
    size_t n = 0, cap = 0, plen = strlen(target);

    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        struct stat st;
        char *path;
        /* <target>-<12 hex>.yml exactly: target "web" must not take "web-api"'s. */
        if (len != plen + 17 || strncmp(e->d_name, target, plen) != 0 || e->d_name[plen] != '-' ||
            strspn(e->d_name + plen + 1, "0123456789abcdef") != 12 ||
            strcmp(e->d_name + len - 4, ".yml") != 0)
            continue;
        path = rg_asprintf("%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            v = rg_realloc(v, cap * sizeof(*v));
        }
        v[n++] = (struct kept){path, st.st_mtime};
    }
    closedir(d);
    if (n > KEEP_PLAYBOOKS)
        qsort(v, n, sizeof(*v), newest_first);
    for (size_t i = 0; i < n; i++) {
        if (i >= KEEP_PLAYBOOKS)
            unlink(v[i].path);
        free(v[i].path);
    }
    free(v);
}

int
hook_write_playbook(char **path_out, struct rg_git_repo *repo, const char *commit,
                    const struct rg_git_target *t, struct rg_err *err)
{
    char *dir = rg_asprintf("%s/rollgate", rg_git_dir(repo)), *path = NULL, *tmp = NULL;
    char *data = NULL;
    size_t len = 0;
    int fd = -1, rc;

    *path_out = NULL;
    if ((rc = rg_git_read_file(&data, &len, repo, commit, t->playbook, HOOK_PLAYBOOK_MAX, err)) <
            0 ||
        (rc = rg_fs_make_dir(dir, 0750, "hook directory", err)) < 0)
        goto out;
    path = rg_asprintf("%s/%s-%.12s.yml", dir, t->name, commit);
    tmp = rg_asprintf("%s.tmp-%d", path, (int)getpid());
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640)) < 0 ||
        write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot write '%s'", tmp);
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot rename '%s'", tmp);
        unlink(tmp);
        goto out;
    }
    *path_out = path;
    path = NULL;
    prune_playbooks(dir, t->name);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    free(path);
    free(dir);
    free(data);
    return rc;
}

int
hook_push_read(struct hook_push *p, struct rg_err *err)
{
    memset(p, 0, sizeof(*p));
    /* git relays a hook's output to the pusher as it comes: a line at a time, in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (hook_push_options(&p->opts, err) < 0 || rg_git_open(&p->repo, NULL, err) < 0 ||
        rg_git_targets(&p->targets, &p->n_targets, p->repo, err) < 0 ||
        hook_read_updates(&p->updates, &p->n_updates, stdin, err) < 0)
        return RG_EINVAL;
    return 0;
}

void
hook_push_release(struct hook_push *p)
{
    free(p->updates);
    free(p->targets);
    rg_git_close(p->repo);
    memset(p, 0, sizeof(*p));
}

bool
hook_self_path(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);

    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}
