/* A systemd unit through systemctl and systemd-run: its state as `systemctl show` prints it,
 * restart/stop/start, and a command run as the unit runs. Every call is an argv with the
 * playbook's command prefix in front, so the same code reaches this host, a container (nsenter)
 * or, once releases can be written there, another host (ssh). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/runtime.h"
#include "rollgate/spawn.h"

#define SHOW_TIMEOUT_MS 15000

/* prefix + words (NULL-terminated) + tail (may be NULL) as one argv. */
static void
build_argv(struct rg_strv *out, const struct rg_strv *prefix, const char *const *words,
           const struct rg_strv *tail)
{
    for (size_t i = 0; prefix && i < prefix->n; i++)
        rg_strv_push(out, prefix->v[i]);
    for (size_t i = 0; words[i]; i++)
        rg_strv_push(out, words[i]);
    for (size_t i = 0; tail && i < tail->n; i++)
        rg_strv_push(out, tail->v[i]);
}

/* The first line of what the tool said, for a message. */
static const char *
first_line(char *buf, size_t size, const struct rg_spawn_result *res)
{
    const struct rg_buf *b = res->err.len ? &res->err : &res->out;
    size_t n = 0;

    while (b->data && n < b->len && b->data[n] != '\n')
        n++;
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), b->data ? b->data : "");
    return buf;
}

static int
run(struct rg_spawn_result *res, const struct rg_strv *argv, int64_t timeout_ms, int cancel_fd,
    struct rg_err *err)
{
    struct rg_spawn_opts o = {.argv = (const char *const *)argv->v,
                              .timeout_ms = timeout_ms,
                              .cancel_fd = cancel_fd,
                              .env_extra = (const char *const[]){"SYSTEMD_PAGER=",
                                                                 "SYSTEMD_COLORS=0", NULL}};

    return rg_spawn_run(res, &o, err);
}

static void
copy_field(char *dst, size_t size, const char *v)
{
    snprintf(dst, size, "%s", v);
}

static int64_t
number(const char *v)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    return errno || end == v ? 0 : (int64_t)n;
}

/* "Environment=A=1 \"B=two words\"": systemd prints an entry that needs it in double quotes,
 * with \\ \" \$ and ` escaped by a backslash and tab and newline as \t and \n; each entry
 * comes back as it was set. */
static void
split_environment(struct rg_strv *out, const char *v)
{
    while (*v) {
        struct rg_buf one;
        bool quoted = false;

        while (*v == ' ')
            v++;
        if (!*v)
            break;
        rg_buf_init(&one, 64 * 1024);
        for (; *v && (quoted || *v != ' '); v++) {
            if (*v == '"') {
                quoted = !quoted;
            } else if (*v == '\\' && v[1]) {
                v++;
                rg_buf_add(&one, *v == 't' ? "\t" : *v == 'n' ? "\n" : v, 1);
            } else {
                rg_buf_add(&one, v, 1);
            }
        }
        rg_strv_push(out, one.data ? one.data : "");
        rg_buf_release(&one);
    }
}

/* "EnvironmentFiles=/srv/app/env (ignore_errors=no)", one property line per file: kept as the
 * unit file says it, "-" in front when a missing file is ignored. */
static void
add_env_file(struct rg_strv *out, const char *v)
{
    const char *paren = strstr(v, " (ignore_errors=");
    bool optional = paren && strncmp(paren, " (ignore_errors=yes", 19) == 0;
    char *path = rg_strndup(v, paren ? (size_t)(paren - v) : strlen(v));
    char *entry = rg_asprintf("%s%s", optional ? "-" : "", path);

    if (path[0])
        rg_strv_push(out, entry);
    free(entry);
    free(path);
}

int
rg_unit_parse_show(struct rg_unit_state *out, const char *text, struct rg_err *err)
{
    const char *p = text;
    bool any = false;

    memset(out, 0, sizeof(*out));
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = rg_strndup(p, len), *eq = strchr(line, '=');
        if (eq) {
            const char *k = line, *v = eq + 1;
            *eq = '\0';
            any = true;
            if (!strcmp(k, "LoadState"))
                copy_field(out->load, sizeof(out->load), v);
            else if (!strcmp(k, "ActiveState"))
                copy_field(out->active, sizeof(out->active), v);
            else if (!strcmp(k, "SubState"))
                copy_field(out->sub, sizeof(out->sub), v);
            else if (!strcmp(k, "Result"))
                copy_field(out->result, sizeof(out->result), v);
            else if (!strcmp(k, "InvocationID"))
                copy_field(out->invocation, sizeof(out->invocation), v);
            else if (!strcmp(k, "ExecMainPID"))
                out->main_pid = number(v);
            else if (!strcmp(k, "NRestarts"))
                out->n_restarts = number(v);
            else if (!strcmp(k, "ExecMainCode"))
                out->exit_code = (int)number(v);
            else if (!strcmp(k, "ExecMainStatus"))
                out->exit_status = (int)number(v);
            else if (!strcmp(k, "ExecMainStartTimestampMonotonic"))
                out->started_us = number(v);
            else if (!strcmp(k, "User"))
                copy_field(out->user, sizeof(out->user), v);
            else if (!strcmp(k, "Group"))
                copy_field(out->group, sizeof(out->group), v);
            else if (!strcmp(k, "WorkingDirectory"))
                copy_field(out->working_dir, sizeof(out->working_dir), v);
            else if (!strcmp(k, "EnvironmentFiles"))
                add_env_file(&out->env_files, v);
            else if (!strcmp(k, "Environment"))
                split_environment(&out->environment, v);
        }
        free(line);
        p = nl ? nl + 1 : NULL;
    }
    if (!any || !out->load[0])
        return rg_err_set(err, RG_EIO, "systemctl show gave no LoadState");
    return 0;
}

void
rg_unit_state_release(struct rg_unit_state *s)
{
    rg_strv_release(&s->env_files);
    rg_strv_release(&s->environment);
    memset(s, 0, sizeof(*s));
}

int
rg_unit_show(struct rg_unit_state *out, const struct rg_strv *prefix, const char *unit,
             int cancel_fd, struct rg_err *err)
{
    const char *words[] = {"systemctl", "show", "--no-pager",
                           "-p", "LoadState,ActiveState,SubState,Result,InvocationID",
                           "-p", "ExecMainPID,NRestarts,ExecMainCode,ExecMainStatus",
                           "-p", "ExecMainStartTimestampMonotonic,User,Group,WorkingDirectory",
                           "-p", "EnvironmentFiles,Environment", "--", unit, NULL};
    struct rg_strv argv = {0};
    struct rg_spawn_result res;
    char line[256], how[128];
    int rc;

    memset(out, 0, sizeof(*out));
    build_argv(&argv, prefix, words, NULL);
    rc = run(&res, &argv, SHOW_TIMEOUT_MS, cancel_fd, err);
    if (rc == 0 && (res.exit_code != 0 || res.timed_out || res.cancelled))
        rc = res.cancelled ? rg_err_set(err, RG_ECANCELED, "cancelled")
                           : rg_err_set(err, RG_EIO, "systemctl show %s %s: %s", unit,
                                        rg_spawn_describe(how, sizeof(how), &res),
                                        first_line(line, sizeof(line), &res));
    if (rc == 0 && (rc = rg_unit_parse_show(out, res.out.data ? res.out.data : "", err)) < 0) {
        rg_err_prefix(err, "%s: ", unit);
        rg_unit_state_release(out);
    }
    rg_spawn_result_release(&res);
    rg_strv_release(&argv);
    return rc;
}

const char *
rg_unit_describe(char *buf, size_t size, const struct rg_unit_state *s)
{
    static const char *const codes[] = {"", "exited with status", "killed by signal",
                                        "dumped core on signal"};
    const char *how = s->exit_code >= 1 && s->exit_code <= 3 ? codes[s->exit_code] : NULL;
    int n;

    n = snprintf(buf, size, "%s (%s)", s->active, s->sub);
    if (n < 0 || (size_t)n >= size)
        return buf;
    if (s->main_pid > 0)
        n += snprintf(buf + n, size - (size_t)n, ", main pid %" PRId64, s->main_pid);
    if ((size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ", %" PRId64 " restart%s", s->n_restarts,
                      s->n_restarts == 1 ? "" : "s");
    if ((size_t)n < size && how && strcmp(s->result, "success") != 0)
        snprintf(buf + n, size - (size_t)n, ", last run %s %d (%s)", how, s->exit_status,
                 s->result);
    return buf;
}

int
rg_unit_control(const struct rg_strv *prefix, const char *verb, const char *unit,
                int64_t timeout_ms, int cancel_fd, struct rg_buf *log, struct rg_err *err)
{
    const char *words[] = {"systemctl", "--no-ask-password", verb, "--", unit, NULL};
    struct rg_strv argv = {0};
    struct rg_spawn_result res;
    char line[256], how[128];
    int rc;

    build_argv(&argv, prefix, words, NULL);
    rc = run(&res, &argv, timeout_ms, cancel_fd, err);
    if (log && res.out.len)
        rg_buf_add(log, res.out.data, res.out.len);
    if (log && res.err.len)
        rg_buf_add(log, res.err.data, res.err.len);
    if (rc < 0)
        rg_err_prefix(err, "cannot run systemctl %s %s: ", verb, unit);
    else if (res.cancelled)
        rc = rg_err_set(err, RG_ECANCELED, "systemctl %s %s cancelled", verb, unit);
    else if (res.timed_out)
        rc = rg_err_set(err, RG_ETIMEOUT, "systemctl %s %s %s", verb, unit,
                        rg_spawn_describe(how, sizeof(how), &res));
    else if (res.exit_code != 0)
        rc = rg_err_set(err, RG_EIO, "systemctl %s %s %s: %s", verb, unit,
                        rg_spawn_describe(how, sizeof(how), &res),
                        first_line(line, sizeof(line), &res));
    rg_spawn_result_release(&res);
    rg_strv_release(&argv);
    return rc;
}

int
rg_unit_exec(struct rg_spawn_result *res, const struct rg_strv *prefix, const char *unit,
             const struct rg_strv *argv, int64_t timeout_ms, int cancel_fd, struct rg_err *err)
{
    struct rg_unit_state st;
    struct rg_strv full = {0}, props = {0};
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = rg_unit_show(&st, prefix, unit, cancel_fd, err)) < 0)
        return rc;
    if (strcmp(st.load, "loaded") != 0) {
        rc = rg_err_set(err, RG_EINVAL, "unit %s is not loaded (LoadState=%s)", unit, st.load);
        rg_unit_state_release(&st);
        return rc;
    }
    /* systemd-run gives the command the unit's user, directory and environment; --wait and
     * --pipe make its exit status and output ours. */
    for (size_t i = 0; prefix && i < prefix->n; i++)
        rg_strv_push(&full, prefix->v[i]);
    rg_strv_push(&full, "systemd-run");
    rg_strv_push(&full, "--wait");
    rg_strv_push(&full, "--pipe");
    rg_strv_push(&full, "--quiet");
    rg_strv_push(&full, "--collect");
    rg_strv_push(&full, "--service-type=exec");
    if (st.user[0]) {
        char *p = rg_asprintf("--property=User=%s", st.user);
        rg_strv_push(&props, p);
        free(p);
    }
    if (st.group[0]) {
        char *p = rg_asprintf("--property=Group=%s", st.group);
        rg_strv_push(&props, p);
        free(p);
    }
    if (st.working_dir[0]) {
        /* show prints an optional directory ("-/srv/app" in the unit) as "!/srv/app". */
        char *p = rg_asprintf("--property=WorkingDirectory=%s%s",
                              st.working_dir[0] == '!' ? "-" : "",
                              st.working_dir + (st.working_dir[0] == '!'));
        rg_strv_push(&props, p);
        free(p);
    }
    for (size_t i = 0; i < st.env_files.n; i++) {
        char *p = rg_asprintf("--property=EnvironmentFile=%s", st.env_files.v[i]);
        rg_strv_push(&props, p);
        free(p);
    }
    for (size_t i = 0; i < st.environment.n; i++) {
        char *p = rg_asprintf("--setenv=%s", st.environment.v[i]);
        rg_strv_push(&props, p);
        free(p);
    }
    for (size_t i = 0; i < props.n; i++)
        rg_strv_push(&full, props.v[i]);
    rg_strv_push(&full, "--");
    /* systemd 252 expands $VAR and ${VAR} in a transient unit's command line (the option that
     * turns it off came in 254): every '$' is doubled so the command runs as written. */
    for (size_t i = 0; i < argv->n; i++) {
        struct rg_buf word;
        rg_buf_init(&word, 1024 * 1024);
        for (const char *c = argv->v[i]; *c; c++)
            rg_buf_add(&word, *c == '$' ? "$$" : c, *c == '$' ? 2 : 1);
        rg_strv_push(&full, word.data ? word.data : "");
        rg_buf_release(&word);
    }
    rc = run(res, &full, timeout_ms, cancel_fd, err);
    rg_strv_release(&props);
    rg_strv_release(&full);
    rg_unit_state_release(&st);
    return rc;
}
