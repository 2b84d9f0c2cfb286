/* The repository a hook runs in (the quarantined objects of a push included) or one at a path;
 * creating one for hook install; its own config file and the directory git runs hooks from. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git_internal.h"
#include "rollgate/util.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void
init_library(void)
{
    init_rc = git_libgit2_init();
}

int
gitmod_init(struct rg_err *err)
{
    pthread_once(&init_once, init_library);
    if (init_rc < 0)
        return gitmod_fail(err, RG_EINTERNAL, "cannot initialise libgit2");
    return 0;
}

int
gitmod_fail(struct rg_err *err, int code, const char *fmt, ...)
{
    const git_error *e = git_error_last();
    char what[RG_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (e && e->message && e->message[0])
        return rg_err_set(err, code, "%s: %s", what, e->message);
    return rg_err_set(err, code, "%s", what);
}

/* Whether dir looks like a repository (bare, or with a .git) owned by another user: what
 * libgit2 refuses as git's safe.directory does. */
static bool
foreign_repository(const char *dir, uid_t *owner)
{
    struct stat st;
    char *head = rg_asprintf("%s/HEAD", dir), *dotgit = rg_asprintf("%s/.git", dir);
    bool shaped = access(head, F_OK) == 0 || access(dotgit, F_OK) == 0;

    free(head);
    free(dotgit);
    if (!shaped || stat(dir, &st) < 0 || st.st_uid == geteuid())
        return false;
    *owner = st.st_uid;
    return true;
}

/* Whether dir (a bare repository, or one with a .git) keeps SHA-256 objects, which libgit2 1.5
 * reports as "unsupported extension name extensions.objectformat". */
static bool
sha256_repository(const char *dir)
{
    static const char *const configs[] = {"config", ".git/config"};
    bool found = false;

    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]) && !found; i++) {
        char *path = rg_asprintf("%s/%s", dir, configs[i]);
        git_config *cfg = NULL;
        git_buf format = {0};

        if (access(path, F_OK) == 0 && git_config_open_ondisk(&cfg, path) == 0 &&
            git_config_get_string_buf(&format, cfg, "extensions.objectformat") == 0)
            found = strcasecmp(format.ptr, "sha256") == 0;
        git_buf_dispose(&format);
        git_config_free(cfg);
        free(path);
    }
    return found;
}

/* Refuses a SHA-256 repository before libgit2 tries it: its refusal ("unsupported extension
 * name extensions.objectformat") does not say what to do, and its check of the extensions
 * leaks memory in 1.5. */
static int
refuse_sha256(struct rg_err *err, const char *dir, const char *what)
{
    if (!dir || !sha256_repository(dir))
        return 0;
    return rg_err_set(err, RG_EINVAL,
                      "cannot open %s: it keeps SHA-256 objects; SHA-256 object ids need a "
                      "libgit2 with SHA-256 support; this rollgate was built with libgit2 %d.%d",
                      what, LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR);
}

/* A failed open as a caller can act on it: no repository there, one this user may not open, or
 * a broken one. libgit2 1.5 reports a repository of another user as "config value
 * 'safe.directory' was not found" (GIT_ENOTFOUND), so the owner is looked at here. */
static int
open_error(struct rg_err *err, int grc, const char *dir, const char *what)
{
    uid_t owner;

    if ((grc == GIT_EOWNER || grc == GIT_ENOTFOUND) && dir && foreign_repository(dir, &owner))
        return rg_err_set(err, RG_ENOPERM,
                          "cannot open %s: it belongs to uid %u, not to this user (uid %u); run "
                          "rollgate as its owner or add it to safe.directory in git's global "
                          "config",
                          what, (unsigned)owner, (unsigned)geteuid());
    return gitmod_fail(err, grc == GIT_ENOTFOUND ? RG_ENOENT : RG_EIO, "cannot open %s", what);
}

/* libgit2's directories end in '/'; paths joined to them, and messages, read better without. */
static char *
dup_dir(const char *dir)
{
    char *copy = rg_strdup(dir);
    size_t len = strlen(copy);

    if (len > 1 && copy[len - 1] == '/')
        copy[len - 1] = '\0';
    return copy;
}

static struct rg_git_repo *
wrap(git_repository *repo)
{
    struct rg_git_repo *r = rg_calloc(1, sizeof(*r));

    r->repo = repo;
    r->dir = dup_dir(git_repository_path(repo));
    return r;
}

/* git (since 2.11) runs pre-receive with GIT_OBJECT_DIRECTORY set to the quarantine and the
 * repository's objects in GIT_ALTERNATE_OBJECT_DIRECTORIES, which libgit2 reads; so
 * GIT_QUARANTINE_PATH names a directory already open. Only an environment that sets it alone
 * (a caller copying part of git's) needs it added here. */
static int
add_quarantine(git_repository *repo, struct rg_err *err)
{
    const char *quarantine = getenv("GIT_QUARANTINE_PATH");
    const char *objects = getenv("GIT_OBJECT_DIRECTORY");
    git_odb *odb = NULL;
    int rc = 0;

    if (!quarantine || !quarantine[0] || (objects && strcmp(objects, quarantine) == 0))
        return 0;
    if (git_repository_odb(&odb, repo) < 0 || git_odb_add_disk_alternate(odb, quarantine) < 0)
        rc = gitmod_fail(err, RG_EIO, "cannot read the pushed objects in '%s'", quarantine);
    git_odb_free(odb);
    return rc;
}

/* git does not ask who owns a repository named by GIT_DIR (receive-pack runs hooks so), only
 * one it discovers; libgit2 1.5 asks of every one, and a hook of a repository shared by a group
 * would fail where git's push succeeded. The check is off for this open only, as git has it. */
static int
open_env(git_repository **repo)
{
    static pthread_mutex_t owner_check = PTHREAD_MUTEX_INITIALIZER;
    int validate = 1, grc;

    /* FROM_ENV honours GIT_DIR, GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES,
     * GIT_CEILING_DIRECTORIES and GIT_NAMESPACE as git does. */
    if (!getenv("GIT_DIR"))
        return git_repository_open_ext(repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
    pthread_mutex_lock(&owner_check);
    git_libgit2_opts(GIT_OPT_GET_OWNER_VALIDATION, &validate);
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
    grc = git_repository_open_ext(repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, validate);
    pthread_mutex_unlock(&owner_check);
    return grc;
}

int
rg_git_open(struct rg_git_repo **out, const char *path, struct rg_err *err)
{
    git_repository *repo = NULL;
    const char *git_dir = getenv("GIT_DIR"), *dir = path ? path : git_dir;
    char *what = NULL;
    int rc = 0, grc;

    *out = NULL;
    if ((rc = gitmod_init(err)) < 0)
        return rc;
    if (path)
        what = rg_asprintf("git repository '%s'", path);
    else if (git_dir)
        what = rg_asprintf("the git repository '%s' (GIT_DIR)", git_dir);
    else
        what = rg_strdup("the git repository of the current directory");
    if ((rc = refuse_sha256(err, dir, what)) < 0)
        goto out;
    grc = path ? git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)
               : open_env(&repo);
    if (grc < 0) {
        rc = open_error(err, grc, dir, what);
        goto out;
    }
    if (!path && (rc = add_quarantine(repo, err)) < 0)
        goto out;
    *out = wrap(repo);
    repo = NULL;
out:
    git_repository_free(repo);
    free(what);
    return rc;
}

int
rg_git_init_bare(struct rg_git_repo **out, const char *path, struct rg_err *err)
{
    git_repository_init_options opts;
    git_repository *repo = NULL;
    char *what = rg_asprintf("git repository '%s'", path);
    int rc, grc;

    *out = NULL;
    if ((rc = gitmod_init(err)) < 0 || (rc = refuse_sha256(err, path, what)) < 0)
        goto out;
    grc = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (grc == GIT_ENOTFOUND) {
        /* MKDIR, not MKPATH: a missing parent is more likely a typo than a wish. */
        git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
        opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKDIR;
        if (git_repository_init_ext(&repo, path, &opts) < 0) {
            rc = gitmod_fail(err, RG_ECANTCREAT, "cannot create %s", what);
            goto out;
        }
    } else if (grc < 0) {
        rc = open_error(err, grc, path, what);
        goto out;
    }
    *out = wrap(repo);
    repo = NULL;
out:
    git_repository_free(repo);
    free(what);
    return rc;
}

void
rg_git_close(struct rg_git_repo *r)
{
    if (!r)
        return;
    git_repository_free(r->repo);
    free(r->dir);
    free(r);
}

const char *
rg_git_dir(const struct rg_git_repo *r)
{
    return r->dir;
}

int
rg_git_config_set(struct rg_git_repo *r, const char *key, const char *value, struct rg_err *err)
{
    git_config *cfg = NULL, *local = NULL;
    int rc = 0, grc;

    /* The local level is the repository's own config file, not ~/.gitconfig or /etc/gitconfig
     * where git_config_set_string on the whole config might write instead. */
    if ((grc = git_repository_config(&cfg, r->repo)) < 0 ||
        (grc = git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL)) < 0 ||
        (grc = git_config_set_string(local, key, value)) < 0)
        rc = gitmod_fail(err, grc == GIT_EINVALIDSPEC ? RG_EINVAL : RG_EIO,
                         "cannot set '%s' in '%s/config'", key, r->dir);
    git_config_free(local);
    git_config_free(cfg);
    return rc;
}

int
rg_git_hooks_dir(char **out, struct rg_git_repo *r, struct rg_err *err)
{
    git_config *cfg = NULL;
    git_buf path = {0};
    const char *base;
    char *workdir = NULL;
    int rc = 0, grc;

    *out = NULL;
    if (git_repository_config_snapshot(&cfg, r->repo) < 0)
        return gitmod_fail(err, RG_EIO, "cannot read the config of '%s'", r->dir);
    grc = git_config_get_path(&path, cfg, "core.hooksPath");
    if (grc == GIT_ENOTFOUND) {
        *out = rg_asprintf("%s/hooks", r->dir);
    } else if (grc < 0) {
        rc = gitmod_fail(err, RG_EINVAL, "invalid 'core.hooksPath' in the config of '%s'", r->dir);
    } else if (path.ptr[0] == '/') {
        *out = rg_strdup(path.ptr);
    } else {
        /* git runs hooks from the repository (bare) or the top of the work tree, and takes a
         * relative core.hooksPath from there. */
        base = git_repository_workdir(r->repo);
        if (git_repository_is_bare(r->repo) || !base)
            base = r->dir;
        else
            base = workdir = dup_dir(base);
        *out = rg_asprintf("%s/%s", base, path.ptr);
    }
    free(workdir);
    git_buf_dispose(&path);
    git_config_free(cfg);
    return rc;
}
