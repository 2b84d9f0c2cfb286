/* Whole-playbook checks once every section is decoded: references between sections, the order
 * of deploy steps, driver requirements, and the defaults that fill what the file left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "internal.h"

#define DEFAULT_STATE_DIR "/var/lib/rollgate"
#define DEFAULT_EVERY_MS 2000
#define DEFAULT_WITHIN_MS 120000
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_KEEP 7

static const struct pb_node *
section(const struct pb_node *root, const char *key)
{
    const struct pb_node *n = pb_map_get(root, key);
    return n ? n : root;
}

/* Whether decoding already reported a problem under the top-level key (or may have, when
 * problems past the cap were dropped). */
static bool
failed(const struct pb_ctx *c, const char *key)
{
    size_t len = strlen(key);

    if (c->diags->dropped)
        return true;
    for (size_t i = 0; i < c->diags->n; i++) {
        const char *p = c->diags->v[i].path;
        if (strncmp(p, key, len) == 0 && (p[len] == '\0' || p[len] == '.' || p[len] == '['))
            return true;
    }
    return false;
}

static void
at_path(struct pb_ctx *c, const char *path)
{
    pb_path_pop(c, 0);
    pb_path_push(c, path, 0);
}

/* Fills what t leaves unset from d. Only values written at this level are checked, so a bad
 * default is reported once, where it is written, not again at every gate. */
static int
resolve_timing(struct pb_ctx *c, struct rg_timing *t, const struct rg_timing *d, int line, int col)
{
    int rc = 0;

    if (t->every_ms == 0 || t->within_ms == 0 || t->timeout_ms == 0) {
        pb_error_at(c, line, col, "every, within and timeout must be longer than 0");
        rc = -1;
    }
    if (t->every_ms < 0)
        t->every_ms = d->every_ms;
    if (t->within_ms < 0)
        t->within_ms = d->within_ms;
    if (t->need < 0)
        t->need = d->need;
    if (t->timeout_ms < 0)
        t->timeout_ms = d->timeout_ms;
    return rc;
}

static int
check_defaults(struct pb_ctx *c, struct rg_playbook *pb, const struct pb_node *root)
{
    static const struct rg_timing builtin = {DEFAULT_EVERY_MS, DEFAULT_WITHIN_MS, 1,
                                             DEFAULT_TIMEOUT_MS};
    const struct pb_node *n = section(root, "defaults");
    int rc;

    at_path(c, "defaults");
    rc = resolve_timing(c, &pb->defaults, &builtin, n->line, n->col);
    for (size_t i = 0; i < pb->n_gates; i++) {
        struct rg_gate *g = &pb->gates[i];
        at_path(c, "gates");
        pb_path_push(c, g->name, 0);
        if (resolve_timing(c, &g->timing, &pb->defaults, g->line, g->column) < 0)
            rc = -1;
    }
    return rc;
}

/* Keys that only the systemd driver reads, set under compose: a mistake worth naming. */
static int
refuse_for_compose(struct pb_ctx *c, const struct pb_node *root)
{
    const struct pb_node *rt = section(root, "runtime"), *rel = section(root, "release");
    static const char *const runtime_keys[] = {"unit", "root", "keep", "command_prefix"};
    static const char *const release_keys[] = {"git", "uploads"};
    int rc = 0;

    for (size_t i = 0; rt && i < sizeof(runtime_keys) / sizeof(runtime_keys[0]); i++) {
        const struct pb_node *k = pb_map_get(rt, runtime_keys[i]);
        if (!k)
            continue;
        at_path(c, "runtime");
        pb_error(c, k, "'%s' is for the systemd driver; the compose driver does not read it",
                 runtime_keys[i]);
        rc = -1;
    }
    for (size_t i = 0; rel && i < sizeof(release_keys) / sizeof(release_keys[0]); i++) {
        const struct pb_node *k = pb_map_get(rel, release_keys[i]);
        if (!k)
            continue;
        at_path(c, "release");
        pb_error(c, k, "'%s' is for the systemd driver; the compose driver takes its releases "
                       "from 'image'", release_keys[i]);
        rc = -1;
    }
    return rc;
}

/* The systemd driver: one unit, and either releases on disk (root, with git or uploads as their
 * source) or a tag in an env file the unit reads. */
static int
check_systemd(struct pb_ctx *c, struct rg_playbook *pb, const struct pb_node *root)
{
    struct rg_runtime *rt = &pb->runtime;
    const struct pb_node *n = section(root, "runtime"), *rel = section(root, "release");
    int rc = 0;

    at_path(c, "runtime");
    if (!rt->unit) {
        pb_error(c, n, "the systemd driver needs 'unit' (the service unit to restart)");
        rc = -1;
    }
    if (rt->project_dir || rt->compose_file || rt->project_name) {
        pb_error(c, pb_map_get(n, rt->project_dir ? "project_dir"
                                  : rt->compose_file ? "compose_file" : "project_name"),
                 "the systemd driver has no compose project: remove '%s'",
                 rt->project_dir ? "project_dir" : rt->compose_file ? "compose_file"
                                                                    : "project_name");
        rc = -1;
    }
    if (rt->services.n && !(rt->unit && rt->services.n == 1 &&
                            strcmp(rt->services.v[0], rt->unit) == 0)) {
        pb_error(c, pb_map_get(n, "services"),
                 "the systemd driver deploys one unit: name it in 'unit', not 'services'");
        rc = -1;
    }
    if (!rt->root && !(rt->env_file && rt->tag_var)) {
        pb_error(c, n, "the systemd driver needs 'root' (the directory of releases/<tag> and "
                       "the 'current' link the unit runs from), or 'env_file' and 'tag_var' "
                       "(where the unit reads the tag)");
        rc = -1;
    }
    if (rt->env_file && !rt->tag_var) {
        pb_error(c, pb_map_get(n, "env_file"), "'env_file' needs 'tag_var' (the variable that "
                                               "holds the tag)");
        rc = -1;
    }
    if (!rt->keep)
        rt->keep = 5;
    /* Releases and the env file are written where rollgate runs: through ssh the unit would
     * keep running the other host's own files while the deploy reports the switch done. */
    if (rt->command_prefix.n) {
        const char *tool = strrchr(rt->command_prefix.v[0], '/');
        tool = tool ? tool + 1 : rt->command_prefix.v[0];
        if (strcmp(tool, "ssh") == 0) {
            pb_error(c, pb_map_get(n, "command_prefix"),
                     "another host through ssh is not supported yet: rollgate writes the "
                     "releases (and env_file) on the host it runs on, so run it on the unit's "
                     "host");
            rc = -1;
        }
    }
    if (pb->release.image) {
        at_path(c, "release");
        pb_error(c, pb_map_get(rel, "image"), "the systemd driver runs no image: remove 'image' "
                                              "(releases come from 'git' or 'uploads')");
        rc = -1;
    }
    at_path(c, "release");
    if (pb->release.git && pb->release.uploads) {
        pb_error(c, pb_map_get(rel, "uploads"),
                 "give one source of releases: 'git' or 'uploads', not both");
        rc = -1;
    } else if (rt->root && !pb->release.git && !pb->release.uploads) {
        pb_error(c, rel, "the systemd driver needs where releases come from: 'git' (a "
                         "repository whose tags are the releases) or 'uploads' (where CI "
                         "uploads <tag>/ and writes %s last)", RG_UPLOAD_MARKER);
        rc = -1;
    } else if (!rt->root && (pb->release.git || pb->release.uploads)) {
        pb_error(c, pb_map_get(rel, pb->release.git ? "git" : "uploads"),
                 "'%s' needs runtime 'root' (where the releases are written)",
                 pb->release.git ? "git" : "uploads");
        rc = -1;
    }
    if (rt->unit && !rt->services.n)
        rg_strv_push(&rt->services, rt->unit);
    return rc;
}

static int
check_runtime(struct pb_ctx *c, struct rg_playbook *pb, const struct pb_node *root)
{
    struct rg_runtime *rt = &pb->runtime;
    const struct pb_node *n = section(root, "runtime");
    const char *base;
    int rc = 0;

    at_path(c, "runtime");
    if (rt->driver == RG_DRIVER_COMPOSE) {
        if (!rt->project_dir) {
            pb_error(c, n,
                     "the compose driver needs 'project_dir' (the directory of the "
                     "compose file)");
            rc = -1;
        }
        if (!rt->services.n) {
            pb_error(c, n,
                     "the compose driver needs 'services' (the services a deploy "
                     "switches to the new tag)");
            rc = -1;
        }
        if (!rt->tag_var) {
            pb_error(c, n, "missing required key 'tag_var'");
            rc = -1;
        }
        if (!pb->release.image) {
            at_path(c, "release");
            pb_error(c, section(root, "release"),
                     "the compose driver needs 'image' (the repository of the release image)");
            rc = -1;
        }
        rc = refuse_for_compose(c, root) < 0 ? -1 : rc;
    } else if (rt->driver == RG_DRIVER_SYSTEMD) {
        rc = check_systemd(c, pb, root) < 0 ? -1 : rc;
    }
    base = rt->project_dir ? rt->project_dir : pb->dir;
    /* A systemd target with releases on disk needs no env file; one given still gets the tag. */
    if (rt->driver == RG_DRIVER_COMPOSE || rt->env_file) {
        char *env = pb_path_join(base, rt->env_file ? rt->env_file : ".env");
        free(rt->env_file);
        rt->env_file = env;
    }
    if (rt->compose_file) {
        char *cf = pb_path_join(base, rt->compose_file);
        free(rt->compose_file);
        rt->compose_file = cf;
    }
    return rc;
}

/* Whether every comma-separated part of list names a gate. */
static bool
all_gates(const struct rg_playbook *pb, const char *list)
{
    char part[256];

    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        const char *b = p, *e = p + n;
        while (b < e && *b == ' ')
            b++;
        while (e > b && e[-1] == ' ')
            e--;
        snprintf(part, sizeof(part), "%.*s", (int)(e - b), b);
        if (!rg_playbook_gate(pb, part))
            return false;
        p += n + (p[n] == ',');
    }
    return true;
}

static void
unknown_gate(struct pb_ctx *c, const struct rg_playbook *pb, const char *name, int line, int col)
{
    const char **names = rg_calloc(pb->n_gates + 1, sizeof(*names));
    const char *best;

    for (size_t i = 0; i < pb->n_gates; i++)
        names[i] = pb->gates[i].name;
    if (strchr(name, ',') && all_gates(pb, name))
        /* `verify: running, health` is one string to YAML. */
        pb_error_at(c, line, col, "unknown gate '%s': a list of gates is written [%s]", name,
                    name);
    else if ((best = rg_suggest(name, names, pb->n_gates)))
        pb_error_at(c, line, col, "unknown gate '%s' (did you mean '%s'?)", name, best);
    else if (pb->n_gates)
        pb_error_at(c, line, col, "unknown gate '%s' (define it under 'gates')", name);
    else
        pb_error_at(c, line, col, "unknown gate '%s' (the playbook defines no gates)", name);
    free(names);
}

static int
check_gate_refs(struct pb_ctx *c, const struct rg_playbook *pb, const struct rg_strv *names,
                int line, int col)
{
    int rc = 0;

    if (!pb->n_gates && failed(c, "gates"))
        return 0; /* the gates section itself is broken: that problem is already reported */
    for (size_t i = 0; i < names->n; i++) {
        if (!rg_playbook_gate(pb, names->v[i])) {
            unknown_gate(c, pb, names->v[i], line, col);
            rc = -1;
        }
    }
    return rc;
}

/* pull, then the tag switch, then up: nothing changes on the target before the image is in. */
static int
check_deploy(struct pb_ctx *c, struct rg_playbook *pb, const struct pb_node *root, bool structure)
{
    const struct pb_node *n = section(root, "deploy");
    const struct rg_step *twice = NULL;
    ssize_t pull = -1, sw = -1, up = -1;
    size_t verify = 0;
    int rc = 0;

    for (size_t i = 0; i < pb->n_deploy; i++) {
        struct rg_step *s = &pb->deploy[i];
        at_path(c, "deploy");
        pb_path_push(c, NULL, i);
        switch (s->kind) {
        case RG_STEP_PULL:
        case RG_STEP_SWITCH:
            if ((s->kind == RG_STEP_PULL ? pull : sw) >= 0)
                twice = s;
            else if (s->kind == RG_STEP_PULL)
                pull = (ssize_t)i;
            else
                sw = (ssize_t)i;
            break;
        case RG_STEP_UP:
            if (up < 0)
                up = (ssize_t)i;
            break;
        default: break;
        }
        switch (s->kind) {
        case RG_STEP_PULL:
        case RG_STEP_UP:
            /* The tag switch applies to runtime.services: a service outside them would come
             * up on a tag nobody pulled or switched. */
            for (size_t k = 0; k < s->services.n; k++) {
                if (!rg_strv_contains(&pb->runtime.services, s->services.v[k])) {
                    pb_error_at(c, s->line, s->column,
                                "service '%s' is not in runtime.services; '%s' works on the "
                                "services the release switches",
                                s->services.v[k], rg_step_kind_name(s->kind));
                    rc = -1;
                }
            }
            break;
        case RG_STEP_VERIFY:
            verify++;
            if (check_gate_refs(c, pb, &s->gates, s->line, s->column) < 0)
                rc = -1;
            break;
        case RG_STEP_SETTLE:
            if (check_gate_refs(c, pb, &s->gates, s->line, s->column) < 0)
                rc = -1;
            if (!s->watch.n)
                for (size_t k = 0; k < pb->runtime.services.n; k++)
                    rg_strv_push(&s->watch, pb->runtime.services.v[k]);
            break;
        default: break;
        }
    }
    at_path(c, "deploy");
    if (!structure)
        return rc; /* references are checked; order needs a cleanly decoded deploy */
    if (twice) {
        pb_error_at(c, twice->line, twice->column, "'%s' may appear once in deploy",
                    rg_step_kind_name(twice->kind));
        rc = -1;
    }
    if (pb->runtime.driver == RG_DRIVER_COMPOSE && pull < 0) {
        pb_error(c, n,
                 "deploy has no 'pull' step: the compose driver pulls the release "
                 "before changing anything");
        rc = -1;
    }
    if (up < 0) {
        pb_error(c, n, "deploy has no 'up' step: nothing would start the new release");
        rc = -1;
    }
    if (!verify) {
        pb_error(c, n,
                 "deploy has no 'verify' step: a release no gate checks cannot fail, so "
                 "it could never be rolled back");
        rc = -1;
    }
    if (pull >= 0 && ((sw >= 0 && sw < pull) || (up >= 0 && up < pull))) {
        pb_error_at(c, pb->deploy[pull].line, pb->deploy[pull].column,
                    "'pull' must come before 'switch' and 'up': nothing may change before the "
                    "release is pulled");
        rc = -1;
    }
    for (ssize_t i = 0; pull >= 0 && i < pull; i++) {
        enum rg_step_kind k = pb->deploy[i].kind;
        if (k == RG_STEP_EXEC || k == RG_STEP_RESTART) {
            pb_error_at(c, pb->deploy[i].line, pb->deploy[i].column,
                        "'%s' before 'pull' would change the target before the release is "
                        "pulled",
                        rg_step_kind_name(k));
            rc = -1;
        }
    }
    if (sw >= 0 && up >= 0 && sw > up) {
        pb_error_at(c, pb->deploy[sw].line, pb->deploy[sw].column,
                    "'switch' must come before the first 'up'");
        rc = -1;
    }
    if (rc == 0 && sw < 0) {
        /* The tag switch is implicit right before the first `up`; storage has room for it. */
        memmove(&pb->deploy[up + 1], &pb->deploy[up],
                (pb->n_deploy - (size_t)up) * sizeof(*pb->deploy));
        memset(&pb->deploy[up], 0, sizeof(*pb->deploy));
        pb->deploy[up].kind = RG_STEP_SWITCH;
        pb->deploy[up].implicit = true;
        pb->deploy[up].line = pb->deploy[up + 1].line;
        pb->deploy[up].column = pb->deploy[up + 1].column;
        pb->n_deploy++;
    }
    return rc;
}

static int
check_recover(struct pb_ctx *c, struct rg_playbook *pb)
{
    bool seen[RG_RUNG_KIND_COUNT] = {false};
    int rc = 0;

    for (size_t i = 0; i < pb->n_recover; i++) {
        const struct rg_rung *r = &pb->recover[i];
        struct rg_err err;

        at_path(c, "recover");
        pb_path_push(c, NULL, i);
        if (seen[r->kind]) {
            pb_error_at(c, r->line, r->column, "'%s' may appear once in recover",
                        rg_rung_kind_name(r->kind));
            rc = -1;
        }
        seen[r->kind] = true;
        if (r->kind == RG_RUNG_ROLLBACK && r->to && strcmp(r->to, "previous") != 0 &&
            pb->release.tag_pattern && rg_playbook_check_tag(pb, r->to, &err) < 0) {
            static const char *const words[] = {"previous"};
            const char *best = rg_suggest(r->to, words, 1);
            if (!best && strlen(r->to) >= 3 && strncmp(words[0], r->to, strlen(r->to)) == 0)
                best = words[0]; /* an abbreviation: 'prev' */
            if (best)
                pb_error_at(c, r->line, r->column,
                            "rollback target '%s' is neither 'previous' nor a release tag "
                            "(did you mean '%s'?)",
                            r->to, best);
            else
                pb_error_at(c, r->line, r->column, "rollback target: %s", err.msg);
            rc = -1;
        }
        if (r->kind == RG_RUNG_RESTORE && !pb->backup.enabled) {
            pb_error_at(c, r->line, r->column,
                        "restore needs a 'backup' section (database and dir) to restore from");
            rc = -1;
        } else if (r->kind == RG_RUNG_RESTORE && r->to && strcmp(r->to, "before_deploy") == 0 &&
                   !pb->backup.before_deploy) {
            pb_error_at(c, r->line, r->column,
                        "restore: before_deploy needs 'backup.before_deploy: true' so that a "
                        "backup is taken before each deploy");
            rc = -1;
        }
    }
    return rc;
}

/* A step the driver cannot carry out. */
static int
refuse_step(struct pb_ctx *c, const struct rg_playbook *pb, const struct rg_step *s, unsigned caps)
{
    static const struct {
        enum rg_step_kind kind;
        unsigned cap;
    } needs[] = {
        {RG_STEP_PULL, RG_DRIVER_CAN_PULL},
        {RG_STEP_EXEC, RG_DRIVER_CAN_EXEC},
        {RG_STEP_RESTART, RG_DRIVER_CAN_RESTART},
    };

    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
        if (s->kind == needs[i].kind && !(caps & needs[i].cap)) {
            pb_error_at(c, s->line, s->column, "the %s driver cannot run '%s'",
                        rg_driver_name(pb->runtime.driver), rg_step_kind_name(s->kind));
            return -1;
        }
    return 0;
}

/* What the playbook asks of its driver against what the driver can do (checked only when the
 * caller said which drivers exist: the loader alone does not know them). */
static int
check_driver_caps(struct pb_ctx *c, const struct rg_playbook *pb, const struct pb_node *root)
{
    unsigned caps = c->driver_caps(pb->runtime.driver);
    const char *name = rg_driver_name(pb->runtime.driver);
    int rc = 0;

    if (!(caps & RG_DRIVER_IMPLEMENTED)) {
        const struct pb_node *rt = section(root, "runtime");
        at_path(c, "runtime.driver");
        pb_error(c, rt ? pb_map_get(rt, "driver") : NULL,
                 "the %s driver is not implemented: nothing would run this playbook",
                 name);
        return -1;
    }
    for (size_t i = 0; i < pb->n_deploy; i++) {
        at_path(c, "deploy");
        pb_path_push(c, NULL, i);
        if (!pb->deploy[i].implicit && refuse_step(c, pb, &pb->deploy[i], caps) < 0)
            rc = -1;
    }
    for (size_t i = 0; i < pb->n_recover; i++) {
        at_path(c, "recover");
        pb_path_push(c, NULL, i);
        for (size_t k = 0; k < pb->recover[i].n_steps; k++)
            if (refuse_step(c, pb, &pb->recover[i].steps[k], caps) < 0)
                rc = -1;
        if (pb->recover[i].kind == RG_RUNG_RESTORE && !(caps & RG_DRIVER_CAN_STOP)) {
            pb_error_at(c, pb->recover[i].line, pb->recover[i].column,
                        "the %s driver cannot stop the serving release, which a restore needs",
                        name);
            rc = -1;
        }
    }
    if (pb->strategy == RG_STRATEGY_SWITCH && !(caps & RG_DRIVER_CANDIDATES)) {
        const struct pb_node *top = section(root, "strategy");
        at_path(c, "strategy");
        pb_error(c, top, "the %s driver cannot start a release beside the serving one, which "
                         "strategy 'switch' needs", name);
        rc = -1;
    }
    for (size_t i = 0; i < pb->n_gates; i++) {
        const struct rg_gate *g = &pb->gates[i];
        at_path(c, "gates");
        pb_path_push(c, g->name, 0);
        if ((g->kind == RG_GATE_CONTAINER ||
             (g->kind == RG_GATE_LOGS && !(caps & RG_DRIVER_UNITS))) &&
            !(caps & RG_DRIVER_CONTAINERS)) {
            pb_error_at(c, g->line, g->column, "the %s driver has no containers for a %s gate",
                        name, rg_gate_kind_name(g->kind));
            rc = -1;
        }
        if (g->kind == RG_GATE_UNIT && !(caps & RG_DRIVER_UNITS)) {
            pb_error_at(c, g->line, g->column,
                        "the %s driver has no systemd units for a unit gate (use a container "
                        "gate)", name);
            rc = -1;
        }
        if (g->kind == RG_GATE_LOGS && g->file && !(caps & RG_DRIVER_UNITS)) {
            pb_error_at(c, g->line, g->column,
                        "the %s driver reads container logs: 'file' is for a systemd unit's "
                        "own log file", name);
            rc = -1;
        }
    }
    return rc;
}

/* The switch strategy: a proxy to switch, upstreams of deployed services, nginx's own commands
 * by default. */
static int
check_proxy(struct pb_ctx *c, struct rg_playbook *pb, const struct pb_node *root)
{
    struct rg_proxy *p = &pb->proxy;
    int rc = 0;

    if (pb->strategy == RG_STRATEGY_SWITCH && !p->enabled) {
        const struct pb_node *top = section(root, "strategy");
        at_path(c, "strategy");
        pb_error(c, top, "strategy 'switch' needs a 'proxy' section: the nginx upstream file "
                         "rollgate rewrites to move traffic to the new release");
        return -1;
    }
    if (pb->strategy == RG_STRATEGY_SWITCH) {
        bool up = false, probed = false;
        size_t written = 0; /* the index as the file has it: the implicit switch is not there */
        for (size_t i = 0; i < pb->n_deploy; i++) {
            const struct rg_step *s = &pb->deploy[i];
            if (s->implicit)
                continue;
            if (s->kind == RG_STEP_EXEC || s->kind == RG_STEP_RESTART) {
                at_path(c, "deploy");
                pb_path_push(c, NULL, written);
                pb_error_at(c, s->line, s->column,
                            "'%s' cannot run in a switched deploy: it would act on the serving "
                            "release and the candidate alike (it can with strategy 'replace')",
                            rg_step_kind_name(s->kind));
                rc = -1;
            }
            up = up || s->kind == RG_STEP_UP;
            probed = probed || (up && s->kind == RG_STEP_VERIFY);
            written++;
        }
        for (size_t i = 0; i < pb->n_recover; i++)
            if (pb->recover[i].kind == RG_RUNG_REPAIR) {
                at_path(c, "recover");
                pb_path_push(c, NULL, i);
                pb_error_at(c, pb->recover[i].line, pb->recover[i].column,
                            "a repair rung cannot run under strategy 'switch': a release that "
                            "fails before the switch is removed unseen, and after it 'rollback' "
                            "switches back in one reload (docs/switch.md); repair in place "
                            "needs strategy 'replace'");
                rc = -1;
            }
        if (up && !probed) {
            const struct pb_node *dn = section(root, "deploy");
            at_path(c, "deploy");
            pb_error(c, dn, "strategy 'switch' needs a 'verify' after 'up': it judges the "
                            "candidate before it gets traffic");
            rc = -1;
        }
    }
    if (!p->enabled)
        return rc;
    if (!p->test.n) {
        rg_strv_push(&p->test, "nginx");
        rg_strv_push(&p->test, "-t");
    }
    if (!p->reload.n) {
        rg_strv_push(&p->reload, "nginx");
        rg_strv_push(&p->reload, "-s");
        rg_strv_push(&p->reload, "reload");
    }
    for (size_t i = 0; i < p->n_upstreams; i++) {
        const struct rg_upstream *u = &p->upstreams[i];
        if (u->service && !rg_strv_contains(&pb->runtime.services, u->service)) {
            at_path(c, "proxy.upstreams");
            pb_path_push(c, u->name, 0);
            pb_error_at(c, u->line, u->column,
                        "service '%s' is not one the deploy switches (runtime.services)",
                        u->service);
            rc = -1;
        }
    }
    return rc;
}

int
pb_check(struct pb_ctx *c, struct rg_playbook *pb, const struct pb_node *root)
{
    int rc = 0;

    bool runtime_ok = !failed(c, "runtime") && !failed(c, "release");

    if (!pb->state_dir)
        pb->state_dir = rg_strdup(DEFAULT_STATE_DIR);
    if (pb->backup.enabled && pb->backup.keep == 0)
        pb->backup.keep = DEFAULT_KEEP;
    if (!failed(c, "defaults") && check_defaults(c, pb, root) < 0)
        rc = -1;
    if (runtime_ok && pb_map_get(root, "runtime") && check_runtime(c, pb, root) < 0)
        rc = -1;
    if (check_deploy(c, pb, root,
                     runtime_ok && !failed(c, "deploy") && pb_map_get(root, "deploy")) < 0)
        rc = -1;
    if (!failed(c, "recover") && !failed(c, "backup") && runtime_ok && check_recover(c, pb) < 0)
        rc = -1;
    if (runtime_ok && !failed(c, "proxy") && !failed(c, "strategy") && check_proxy(c, pb, root) < 0)
        rc = -1;
    if (rc == 0 && c->driver_caps && runtime_ok && !failed(c, "deploy") && !failed(c, "gates") &&
        check_driver_caps(c, pb, root) < 0)
        rc = -1;
    pb_path_pop(c, 0);
    return rc;
}
