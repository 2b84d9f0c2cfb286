/* The logs gate: no log line of a service's containers (or of a systemd unit: its journal, or
 * a log file the app writes itself) since the mark matches a pattern such as
 * Traceback|OOM|Killed. A match fails for good: the line will not go away. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gate.h"
#include "rollgate/runtime.h"

#define LOG_KEEP (1024 * 1024)
#define LOG_TAIL 5000
#define JOURNAL_TAIL 2000 /* JSON entries: about 3 MiB, inside what a spawn keeps */
#define SHOW_LINES 5

struct logs_ctx {
    const struct rg_gate *spec;
    struct rg_gate_env env;
    struct rg_docker *docker;
    regex_t rx;
    bool has_rx;
    off_t file_from;  /* logs of a unit's file: where the lines since the step begin */
    int64_t since_ms; /* logs of a unit's journal: entries from here count */
};

static void
logs_free(void *ctx)
{
    struct logs_ctx *l = ctx;

    if (!l)
        return;
    if (l->has_rx)
        regfree(&l->rx);
    rg_docker_close(l->docker);
    free(l);
}

static int
logs_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
             struct rg_err *err)
{
    struct logs_ctx *l = rg_calloc(1, sizeof(*l));
    int rc;

    *ctx_out = NULL;
    l->spec = spec;
    l->env = *env;
    if (!env->project && !env->units) {
        rc = rg_err_set(err, RG_EINVAL, "logs gate '%s' needs a compose project or a systemd "
                        "unit", spec->name);
        goto out;
    }
    if ((rc = rg_regex_compile(&l->rx, spec->pattern, REG_EXTENDED | REG_NOSUB, err)) < 0)
        goto out;
    l->has_rx = true;
    if (spec->file) {
        /* A file has no timestamps rollgate can trust: the lines after its size now count. */
        struct stat st;
        l->file_from = env->mark_ms > 0 && stat(spec->file, &st) == 0 ? st.st_size : 0;
    } else if (env->units && env->mark_ms > 0) {
        /* From now, not from the mark: the mark comes before the restart, and the release
         * being replaced logs its shutdown (and systemd its "Killing process") in between. */
        l->since_ms = rg_wall_ms() > env->mark_ms ? rg_wall_ms() : env->mark_ms;
    } else if (env->project && (rc = rg_docker_open(&l->docker, env->docker_socket, err)) < 0) {
        goto out;
    }
    *ctx_out = l;
    l = NULL;
out:
    logs_free(l);
    return rc;
}

/* Counts lines of text and records the matching ones in the verdict's evidence. */
static size_t
scan(struct rg_verdict *out, const struct logs_ctx *l, const char *name, char *text,
     size_t *lines, size_t shown)
{
    size_t matches = 0;
    char *p = text;

    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        (*lines)++;
        if (regexec(&l->rx, p, 0, NULL, 0) == 0) {
            if (shown + matches < SHOW_LINES)
                gate_evidence(out, "%s%s: %.300s", out->evidence[0] ? "\n" : "", name, p);
            matches++;
        }
        p = nl ? nl + 1 : NULL;
    }
    return matches;
}

/* The verdict once every line was scanned: a match fails for good. */
static void
judge(struct rg_verdict *out, const struct logs_ctx *l, size_t matches, size_t lines)
{
    if (matches)
        gate_verdict(out, RG_VERDICT_FAIL, "%zu log line%s /%s/", matches,
                     matches == 1 ? " matches" : "s match", l->spec->pattern);
    else
        gate_verdict(out, RG_VERDICT_PASS, "no match in %zu line%s", lines,
                     lines == 1 ? "" : "s");
}

/* The text a unit's logs gate judges: the file from where it stood at prepare (a file that
 * shrank was rotated: all of it), or the journal since the mark. */
static int
unit_text(struct rg_buf *text, const struct logs_ctx *l, struct rg_err *err)
{
    if (l->spec->file) {
        struct stat st;
        off_t from = l->file_from;
        int fd = open(l->spec->file, O_RDONLY | O_CLOEXEC);
        ssize_t got;
        char chunk[8192];
        if (fd < 0)
            return errno == ENOENT ? 0 : rg_err_sys(err, RG_EIO, "cannot read %s", l->spec->file);
        if (fstat(fd, &st) < 0) {
            close(fd);
            return rg_err_sys(err, RG_EIO, "cannot read %s", l->spec->file);
        }
        if (st.st_size < from)
            from = 0;
        if (st.st_size - from > LOG_KEEP)
            from = st.st_size - LOG_KEEP; /* the newest lines, where a failure is */
        if (lseek(fd, from, SEEK_SET) < 0) {
            close(fd);
            return rg_err_sys(err, RG_EIO, "cannot read %s", l->spec->file);
        }
        while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                close(fd);
                return rg_err_sys(err, RG_EIO, "cannot read %s", l->spec->file);
            }
            rg_buf_add(text, chunk, (size_t)got);
        }
        close(fd);
        return 0;
    }
    /* The last JOURNAL_TAIL entries, of which those before since_ms are dropped. */
    return rg_unit_journal(text, l->env.units, l->spec->target, l->since_ms, JOURNAL_TAIL, err);
}

static int
logs_probe_unit(struct rg_verdict *out, struct logs_ctx *l, struct rg_err *err)
{
    int64_t start = rg_mono_ms();
    size_t lines = 0, matches = 0;
    struct rg_buf text;

    rg_buf_init(&text, LOG_KEEP);
    if (unit_text(&text, l, err) < 0)
        gate_verdict(out, RG_VERDICT_RETRY, "%s", err->msg);
    else {
        matches = text.data ? scan(out, l, l->spec->file ? l->spec->file : l->spec->target,
                                   text.data, &lines, 0)
                            : 0;
        out->latency_ms = rg_mono_ms() - start;
        judge(out, l, matches, lines);
    }
    rg_buf_release(&text);
    return 0;
}

static int
logs_probe(struct rg_verdict *out, void *ctx, struct rg_err *err)
{
    struct logs_ctx *l = ctx;
    struct rg_container *list = NULL;
    int64_t start = rg_mono_ms();
    size_t n = 0, lines = 0, matches = 0;
    struct rg_buf text;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!l->env.project)
        return logs_probe_unit(out, l, err);
    rg_buf_init(&text, LOG_KEEP);
    if ((rc = rg_docker_list(&list, &n, l->docker, l->env.project, l->spec->target, err)) < 0) {
        gate_verdict(out, RG_VERDICT_RETRY, "%s", err->msg);
        rc = 0;
        goto out;
    }
    n = gate_keep_only(list, n, &l->env);
    if (n == 0) {
        gate_verdict(out, RG_VERDICT_RETRY, "no container of service '%s' in project '%s'",
                     l->spec->target, l->env.project);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rg_buf_reset(&text);
        if (rg_docker_logs(&text, l->docker, list[i].id, l->env.mark_ms, LOG_TAIL, err) < 0) {
            gate_verdict(out, RG_VERDICT_RETRY, "%s", err->msg);
            goto out;
        }
        if (text.data)
            matches += scan(out, l, list[i].name, text.data, &lines, matches);
    }
    out->latency_ms = rg_mono_ms() - start;
    judge(out, l, matches, lines);
out:
    rg_buf_release(&text);
    rg_containers_free(list, n);
    return rc;
}

const struct rg_gate_ops rg_gate_logs_ops = {
    .kind = RG_GATE_LOGS,
    .prepare = logs_prepare,
    .probe = logs_probe,
    .free = logs_free,
};
