/* The deploy targets of a repository: the [rollgate "NAME"] sections of its config, checked
 * whole, so that a typo fails the push that meets it rather than deploying the wrong way. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "git_internal.h"
#include "rollgate/util.h"

#define SECTION "rollgate."

static int
set_playbook(struct rg_git_target *t, const char *v, const char *key, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];
    const char *why = gitmod_path_problem(v);

    if (!why && strlen(v) >= sizeof(t->playbook))
        why = "it is longer than 511 bytes";
    if (why)
        return rg_err_set(err, RG_EINVAL,
                          "invalid '%s' value '%s': %s (want a relative path in the repository, "
                          "like 'deploy/web.yml')",
                          key, gitmod_escape(shown, sizeof(shown), v), why);
    memcpy(t->playbook, v, strlen(v) + 1);
    return 0;
}

/* The glob is checked as the refs it matches: with each '*' standing for a component's text,
 * it must be a ref name git accepts. */
static int
set_ref(struct rg_git_target *t, const char *v, const char *key, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];
    char *probe = rg_strdup(v);
    const char *why = NULL;

    for (char *p = probe; *p; p++)
        if (*p == '*')
            *p = 'x';
    if (strncmp(v, "refs/", 5) != 0)
        why = "it must start with 'refs/'";
    else
        why = gitmod_ref_problem(probe);
    free(probe);
    if (why)
        return rg_err_set(err, RG_EINVAL,
                          "invalid '%s' value '%s': %s (want a ref or a glob of refs, like "
                          "'refs/tags/v*')",
                          key, gitmod_escape(shown, sizeof(shown), v), why);
    memcpy(t->ref, v, strlen(v) + 1);
    return 0;
}

static int
set_tags(struct rg_git_target *t, const char *v, const char *key, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];

    if (strcmp(v, "any") == 0)
        t->tags = RG_GIT_NOT_A_TAG;
    else if (strcmp(v, "annotated") == 0)
        t->tags = RG_GIT_ANNOTATED;
    else if (strcmp(v, "signed") == 0)
        t->tags = RG_GIT_SIGNED;
    else
        return rg_err_set(err, RG_EINVAL,
                          "invalid '%s' value '%s': allowed are any, annotated and signed", key,
                          gitmod_escape(shown, sizeof(shown), v));
    return 0;
}

static int
set_protect(struct rg_git_target *t, const char *v, const char *key, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];
    int b = 0;

    /* git's booleans: true/yes/on/1, false/no/off/0 and the empty value, in any case. */
    if (git_config_parse_bool(&b, v) < 0)
        return rg_err_set(err, RG_EINVAL,
                          "invalid '%s' value '%s': allowed are true and false (or yes/no, "
                          "on/off, 1/0)",
                          key, gitmod_escape(shown, sizeof(shown), v));
    t->protect = b != 0;
    return 0;
}

static int
set_busy(struct rg_git_target *t, const char *v, const char *key, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];

    if (strcmp(v, "wait") == 0)
        t->wait = true;
    else if (strcmp(v, "refuse") == 0)
        t->wait = false;
    else
        return rg_err_set(err, RG_EINVAL, "invalid '%s' value '%s': allowed are wait and refuse",
                          key, gitmod_escape(shown, sizeof(shown), v));
    return 0;
}

static int
set_wait(struct rg_git_target *t, const char *v, const char *key, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];
    int64_t ms;

    if (strlen(v) >= sizeof(t->wait_for))
        return rg_err_set(err, RG_EINVAL,
                          "invalid '%s' value '%s': it is longer than 31 characters (want a "
                          "duration like 30m)",
                          key, gitmod_escape(shown, sizeof(shown), v));
    if (rg_duration_parse(&ms, v, err) < 0)
        return rg_err_prefix(err, "invalid '%s': ", key);
    memcpy(t->wait_for, v, strlen(v) + 1);
    return 0;
}

static const struct {
    const char *key;
    int (*set)(struct rg_git_target *t, const char *v, const char *key, struct rg_err *err);
    const char *missing;  /* NULL: the key has a default */
    const char *implicit; /* what a key written without '=' means: git reads it as true */
} setters[] = {
    {"playbook", set_playbook,
     "set it to the playbook's path in the repository, like 'deploy/web.yml'", ""},
    {"ref", set_ref, "set it to the refs that deploy, like 'refs/tags/v*'", ""},
    {"tags", set_tags, NULL, ""},
    {"protect", set_protect, NULL, "true"},
    {"busy", set_busy, NULL, ""},
    {"wait", set_wait, NULL, ""},
};
#define KEY_COUNT (sizeof(setters) / sizeof(setters[0]))

struct collect {
    struct rg_git_target *ts;
    size_t n, cap;
    struct rg_err *err;
    int rc;
};

static bool
name_ok(const char *name, size_t n)
{
    if (n == 0 || n >= sizeof(((struct rg_git_target *)0)->name))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
            return false;
    return true;
}

static struct rg_git_target *
target_for(struct collect *c, const char *name, size_t n)
{
    struct rg_git_target *t;

    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->ts[i].name) == n && memcmp(c->ts[i].name, name, n) == 0)
            return &c->ts[i];
    c->ts = rg_grow(c->ts, &c->cap, c->n + 1, sizeof(*c->ts));
    t = &c->ts[c->n++];
    memset(t, 0, sizeof(*t));
    memcpy(t->name, name, n);
    t->tags = RG_GIT_NOT_A_TAG;
    t->protect = true;
    t->wait = true;
    memcpy(t->wait_for, "30m", sizeof("30m"));
    return t;
}

/* Every rollgate.* entry of every level: its target is noted, its key checked. The values are
 * read afterwards, each key once, so that a value a later level overrides is not judged. */
static int
collect_entry(const git_config_entry *e, void *payload)
{
    struct collect *c = payload;
    const char *rest = e->name + strlen(SECTION), *dot;
    char shown[GITMOD_SHOWN_MAX];
    const char *key, *near;
    size_t i;

    /* libgit2 lower-cases section names, so the prefix is matched as written. */
    if (strncmp(e->name, SECTION, strlen(SECTION)) != 0)
        return 0;
    dot = strrchr(rest, '.');
    gitmod_escape(shown, sizeof(shown), e->name);
    if (!dot) {
        c->rc = rg_err_set(c->err, RG_EINVAL,
                           "'%s' belongs to no target: set it in [rollgate \"NAME\"]", shown);
        return -1;
    }
    if (!name_ok(rest, (size_t)(dot - rest))) {
        char name[GITMOD_SHOWN_MAX];
        c->rc = rg_err_set(c->err, RG_EINVAL,
                           "invalid target name '%s' in '%s': use letters, digits, '.', '_' "
                           "and '-' (at most 79)",
                           gitmod_escape_n(name, sizeof(name), rest, (size_t)(dot - rest)), shown);
        return -1;
    }
    key = dot + 1;
    for (i = 0; i < KEY_COUNT && strcmp(key, setters[i].key) != 0; i++)
        ;
    if (i == KEY_COUNT) {
        const char *keys[KEY_COUNT];
        for (i = 0; i < KEY_COUNT; i++)
            keys[i] = setters[i].key;
        near = rg_suggest(key, keys, KEY_COUNT);
        c->rc =
            rg_err_set(c->err, RG_EINVAL,
                       "unknown key '%s'%s%s%s: a target takes playbook, ref, tags, protect, "
                       "busy and wait",
                       shown, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        return -1;
    }
    target_for(c, rest, (size_t)(dot - rest));
    return 0;
}

static int
fill_target(struct rg_git_target *t, git_config *cfg, struct rg_err *err)
{
    git_config_entry *e = NULL;
    char *key = NULL;
    int rc = 0, grc;

    for (size_t i = 0; i < KEY_COUNT && rc == 0; i++) {
        key = rg_asprintf(SECTION "%s.%s", t->name, setters[i].key);
        grc = git_config_get_entry(&e, cfg, key);
        if (grc == GIT_ENOTFOUND && setters[i].missing)
            rc = rg_err_set(err, RG_EINVAL, "'%s' is missing: %s", key, setters[i].missing);
        else if (grc < 0 && grc != GIT_ENOTFOUND)
            rc = gitmod_fail(err, RG_EIO, "cannot read '%s'", key);
        else if (grc == 0)
            rc = setters[i].set(t, e->value ? e->value : setters[i].implicit, key, err);
        git_config_entry_free(e);
        e = NULL;
        free(key);
        key = NULL;
    }
    return rc;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(((const struct rg_git_target *)a)->name, ((const struct rg_git_target *)b)->name);
}

int
rg_git_targets(struct rg_git_target **out, size_t *n, struct rg_git_repo *r, struct rg_err *err)
{
    struct collect c = {.err = err};
    git_config *cfg = NULL;
    int rc = 0, grc;

    *out = NULL;
    *n = 0;
    if (git_repository_config_snapshot(&cfg, r->repo) < 0) {
        rc = gitmod_fail(err, RG_EIO, "cannot read the config of '%s'", r->dir);
        goto out;
    }
    /* Not git_config_foreach_match: libgit2 1.5's PCRE2 matcher leaks its match data on every
     * entry that does not match (fixed in libgit2 1.6, pull request 6382). */
    if ((grc = git_config_foreach(cfg, collect_entry, &c)) < 0) {
        rc = c.rc < 0 ? c.rc : gitmod_fail(err, RG_EIO, "cannot read the config of '%s'", r->dir);
        goto out;
    }
    if (c.n)
        qsort(c.ts, c.n, sizeof(*c.ts), by_name);
    for (size_t i = 0; i < c.n && rc == 0; i++)
        rc = fill_target(&c.ts[i], cfg, err);
    if (rc < 0)
        goto out;
    *out = c.ts;
    *n = c.n;
    c.ts = NULL;
out:
    free(c.ts);
    git_config_free(cfg);
    return rc;
}
