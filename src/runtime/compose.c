/* The compose driver: `docker compose` (v2) or `docker-compose` (v1), always run with an argv
 * and a deadline. Only the deployed services are pulled and brought up; compose's exit status
 * is the verdict (v1 and v2 print differently, both exit non-zero on failure). */
#include <ctype.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollgate/runtime.h"
#include "rollgate/spawn.h"

#define DETECT_TIMEOUT_MS 10000

struct rg_compose {
    int version; /* 2: docker compose, 1: docker-compose */
    char *project;
    char *project_dir;
    char *compose_file; /* or NULL */
    char *env_file;     /* passed with --env-file */
};

char *
rg_compose_project_name(const char *explicit_name, const char *project_dir)
{
    char *copy, *base, *out, *o;

    if (explicit_name)
        return rg_strdup(explicit_name);
    /* What compose derives from the directory: lower case, letters, digits, '-' and '_'
     * (v1 drops '-' and '_' too; rollgate passes -p so both agree on this name). */
    copy = rg_strdup(project_dir);
    base = basename(copy);
    out = o = rg_malloc(strlen(base) + 2);
    for (const char *p = base; *p; p++)
        if (isalnum((unsigned char)*p) || *p == '-' || *p == '_')
            *o++ = (char)tolower((unsigned char)*p);
    *o = '\0';
    if (!out[0] || !isalnum((unsigned char)out[0])) {
        free(out);
        out = rg_strdup("default");
    }
    free(copy);
    return out;
}

static int
probe_version(const char *const *argv)
{
    struct rg_spawn_opts o = {.argv = argv, .timeout_ms = DETECT_TIMEOUT_MS, .cancel_fd = -1};
    struct rg_spawn_result res;
    struct rg_err err;
    int ok = rg_spawn_run(&res, &o, &err) == 0 && !res.timed_out && res.exit_code == 0;

    rg_spawn_result_release(&res);
    return ok;
}

/* Finds a working compose: `docker compose` (2) or `docker-compose` (1); ROLLGATE_COMPOSE=v1|v2
 * forces one. RG_ERUNTIME naming both when neither runs. */
static int
compose_detect(int *version_out, struct rg_err *err)
{
    static const char *const v2[] = {"docker", "compose", "version", NULL};
    static const char *const v1[] = {"docker-compose", "version", NULL};
    const char *forced = getenv("ROLLGATE_COMPOSE");

    *version_out = 0;
    if (forced && strcmp(forced, "v1") == 0)
        *version_out = 1;
    else if (forced && strcmp(forced, "v2") == 0)
        *version_out = 2;
    else if (probe_version(v2))
        *version_out = 2;
    else if (probe_version(v1))
        *version_out = 1;
    else
        return rg_err_set(err, RG_ERUNTIME,
                          "neither 'docker compose' nor 'docker-compose' works here; install "
                          "the docker-compose package or the compose plugin");
    return 0;
}

int
rg_compose_open(struct rg_compose **out, const struct rg_compose_spec *spec, struct rg_err *err)
{
    struct rg_compose *c = rg_calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    if ((rc = compose_detect(&c->version, err)) < 0) {
        free(c);
        return rc;
    }
    c->project = rg_compose_project_name(spec->project_name, spec->project_dir);
    c->project_dir = rg_strdup(spec->project_dir);
    c->compose_file = spec->compose_file ? rg_strdup(spec->compose_file) : NULL;
    c->env_file = spec->env_file ? rg_strdup(spec->env_file) : NULL;
    *out = c;
    return 0;
}

void
rg_compose_close(struct rg_compose *c)
{
    if (!c)
        return;
    free(c->project);
    free(c->project_dir);
    free(c->compose_file);
    free(c->env_file);
    free(c);
}

/* The common head of every compose argv: the program, the project and its files. */
static void
head(struct rg_strv *argv, const struct rg_compose *c)
{
    if (c->version == 2) {
        rg_strv_push(argv, "docker");
        rg_strv_push(argv, "compose");
    } else {
        rg_strv_push(argv, "docker-compose");
    }
    rg_strv_push(argv, "--project-name");
    rg_strv_push(argv, c->project);
    rg_strv_push(argv, "--project-directory");
    rg_strv_push(argv, c->project_dir);
    if (c->compose_file) {
        rg_strv_push(argv, "--file");
        rg_strv_push(argv, c->compose_file);
    }
    /* Before the first switch the env file may not exist yet: compose refuses a missing one. */
    if (c->env_file && access(c->env_file, F_OK) == 0) {
        rg_strv_push(argv, "--env-file");
        rg_strv_push(argv, c->env_file);
    }
}

static int
run(struct rg_spawn_result *res, const struct rg_compose *c, const struct rg_strv *argv,
    const char *const *env_extra, int64_t timeout_ms, int cancel_fd, const char *what,
    struct rg_err *err)
{
    struct rg_spawn_opts o = {
        .argv = (const char *const *)argv->v,
        .env_extra = env_extra,
        .cwd = c->project_dir,
        .timeout_ms = timeout_ms,
        .cancel_fd = cancel_fd,
    };
    char how[128];
    int rc;

    if ((rc = rg_spawn_run(res, &o, err)) < 0)
        return rg_err_prefix(err, "compose %s: ", what);
    if (res->cancelled)
        return rg_err_set(err, RG_ECANCELED, "compose %s was cancelled", what);
    if (res->timed_out || res->exit_code != 0) {
        /* The last line compose printed is usually the reason. */
        const char *tail = res->err.len ? res->err.data : res->out.data ? res->out.data : "";
        size_t len = strlen(tail);
        while (len && (tail[len - 1] == '\n' || tail[len - 1] == '\r'))
            len--;
        const char *line = tail + len;
        while (line > tail && line[-1] != '\n')
            line--;
        rg_spawn_describe(how, sizeof(how), res);
        return rg_err_set(err, res->timed_out ? RG_ETIMEOUT : RG_ERUNTIME, "compose %s %s: %.*s",
                          what, how, (int)(tail + len - line), line);
    }
    return 0;
}

static int
services_cmd(const struct rg_compose *c, const char *verb, const char *const *flags,
             const struct rg_strv *services, const char *const *env_extra, int64_t timeout_ms,
             int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    struct rg_strv argv = {0};
    struct rg_spawn_result res;
    int rc;

    head(&argv, c);
    rg_strv_push(&argv, verb);
    for (size_t i = 0; flags && flags[i]; i++)
        rg_strv_push(&argv, flags[i]);
    for (size_t i = 0; services && i < services->n; i++)
        rg_strv_push(&argv, services->v[i]);
    rc = run(&res, c, &argv, env_extra, timeout_ms, cancel_fd, verb, err);
    if (log) {
        rg_buf_add(log, res.out.data ? res.out.data : "", res.out.len);
        rg_buf_add(log, res.err.data ? res.err.data : "", res.err.len);
    }
    rg_spawn_result_release(&res);
    rg_strv_release(&argv);
    return rc;
}

int
rg_compose_pull(const struct rg_compose *c, const struct rg_strv *services, const char *tag_var,
                const char *tag, int64_t timeout_ms, int cancel_fd, struct rg_buf *log,
                struct rg_err *err)
{
    /* The new release is pulled before anything is switched: the tag goes to compose through
     * its environment, which wins over the env file in both v1 and v2. */
    char *assign = rg_asprintf("%s=%s", tag_var, tag);
    const char *const extra[] = {assign, NULL};
    int rc = services_cmd(c, "pull", NULL, services, extra, timeout_ms, cancel_fd, log, err);

    free(assign);
    return rc;
}

int
rg_compose_up(const struct rg_compose *c, const struct rg_strv *services, int64_t timeout_ms,
              int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    /* No --wait: v1 lacks it; the gates wait, through the Engine API. */
    static const char *const flags[] = {"-d", NULL};

    return services_cmd(c, "up", flags, services, NULL, timeout_ms, cancel_fd, log, err);
}

int
rg_compose_scale_up(const struct rg_compose *c, const struct rg_strv *services, const int *counts,
                    const char *tag_var, const char *tag, int64_t timeout_ms, int cancel_fd,
                    struct rg_buf *log, struct rg_err *err)
{
    struct rg_strv flags = {0};
    char *assign = rg_asprintf("%s=%s", tag_var, tag);
    const char *const extra[] = {assign, NULL};
    int rc;

    rg_strv_push(&flags, "-d");
    rg_strv_push(&flags, "--no-deps");
    rg_strv_push(&flags, "--no-recreate");
    for (size_t i = 0; i < services->n; i++) {
        char *scale = rg_asprintf("%s=%d", services->v[i], counts[i]);
        rg_strv_push(&flags, "--scale");
        rg_strv_push(&flags, scale);
        free(scale);
    }
    rc = services_cmd(c, "up", (const char *const *)flags.v, services, extra, timeout_ms,
                      cancel_fd, log, err);
    rg_strv_release(&flags);
    free(assign);
    return rc;
}

int
rg_compose_restart(const struct rg_compose *c, const struct rg_strv *services, int64_t timeout_ms,
                   int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    return services_cmd(c, "restart", NULL, services, NULL, timeout_ms, cancel_fd, log, err);
}

int
rg_compose_down(const struct rg_compose *c, int64_t timeout_ms, struct rg_buf *log,
                struct rg_err *err)
{
    return services_cmd(c, "down", NULL, NULL, NULL, timeout_ms, -1, log, err);
}

int
rg_compose_exec(struct rg_spawn_result *res, const struct rg_compose *c, const char *service,
                const struct rg_strv *cmd, int64_t timeout_ms, int cancel_fd, struct rg_err *err)
{
    struct rg_strv argv = {0};
    int rc;

    head(&argv, c);
    rg_strv_push(&argv, "exec");
    rg_strv_push(&argv, "-T"); /* no TTY: rollgate reads the output */
    rg_strv_push(&argv, service);
    for (size_t i = 0; i < cmd->n; i++)
        rg_strv_push(&argv, cmd->v[i]);
    rc = run(res, c, &argv, NULL, timeout_ms, cancel_fd, "exec", err);
    rg_strv_release(&argv);
    return rc;
}
