/* nginx as the proxy of a switched release: the upstream file rollgate owns. A new file goes live
 * only when `nginx -t` accepts it and the reload works; otherwise the previous file is put back.
 * What rollgate wrote is kept beside the ledger, so an edit by hand is found (and shown) before
 * it would be overwritten, and a crash between writing and recording is not mistaken for one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollgate/proxy.h"
#include "rollgate/spawn.h"
#include "nginx_workers.h"

#define FILE_MAX (256 * 1024)
#define DIFF_TIMEOUT_MS 10000
#define RELOAD_WAIT_MS 5000

int
rg_proxy_render(char **text_out, const struct rg_proxy *p, const struct rg_strv *servers,
                const char *release, struct rg_err *err)
{
    struct rg_buf b;

    *text_out = NULL;
    rg_buf_init(&b, FILE_MAX);
    rg_buf_addf(&b,
                "# Written by rollgate: release %s. Do not edit: rollgate keeps what it wrote\n"
                "# and refuses to overwrite a change made by hand.\n",
                release);
    for (size_t i = 0; i < p->n_upstreams; i++) {
        if (!servers[i].n) {
            rg_buf_release(&b);
            return rg_err_set(err, RG_EINVAL,
                              "upstream '%s' has no server: no container of "
                              "service '%s' to send traffic to",
                              p->upstreams[i].name, p->upstreams[i].service);
        }
        rg_buf_addf(&b, "upstream %s {\n", p->upstreams[i].name);
        for (size_t k = 0; k < servers[i].n; k++)
            rg_buf_addf(&b, "    server %s;\n", servers[i].v[k]);
        rg_buf_adds(&b, "}\n");
    }
    *text_out = rg_buf_detach(&b);
    return 0;
}

static char *
pending_path(const char *record_path)
{
    return rg_asprintf("%s.new", record_path);
}

/* Whether the file at path holds exactly text. */
static int
file_equals(bool *eq_out, const char *path, const char *text, struct rg_err *err)
{
    struct rg_buf b;
    int rc;

    *eq_out = false;
    rg_buf_init(&b, FILE_MAX);
    if ((rc = rg_fs_read_file(&b, path, err)) == 0)
        *eq_out = b.len == strlen(text) && memcmp(b.data ? b.data : "", text, b.len) == 0;
    rg_buf_release(&b);
    return rc;
}

/* A unified diff of what rollgate wrote against the file now, for the person who edited it. */
static void
describe_edit(struct rg_buf *out, const char *record_path, const char *path)
{
    const char *argv[] = {"diff",      "-u", "--label", "written by rollgate", "--label", path,
                          record_path, path, NULL};
    struct rg_spawn_opts o = {
        .argv = argv, .timeout_ms = DIFF_TIMEOUT_MS, .cancel_fd = -1, .max_output = 2048};
    struct rg_spawn_result res;
    struct rg_err err;

    if (rg_spawn_run(&res, &o, &err) == 0 && res.out.len)
        rg_buf_addf(out, "\n%s", res.out.data);
    rg_spawn_result_release(&res);
}

int
rg_proxy_check_owned(const struct rg_proxy *p, const char *record_path, struct rg_err *err)
{
    struct rg_buf record, pending;
    char *pend = pending_path(record_path);
    bool same = false;
    int rc;

    rg_buf_init(&record, FILE_MAX);
    rg_buf_init(&pending, FILE_MAX);
    if ((rc = rg_fs_read_file(&record, record_path, err)) == RG_ENOENT) {
        rc = 0; /* nothing written yet: the file is adopted as it is */
        goto out;
    }
    if (rc < 0 || (rc = file_equals(&same, p->upstream_file, record.data, err)) < 0) {
        if (rc == RG_ENOENT)
            rc = rg_err_set(err, RG_EINVAL,
                            "upstream file '%s' was removed since rollgate wrote "
                            "it: put it back (rollgate's copy is '%s') or remove the copy to "
                            "start afresh",
                            p->upstream_file, record_path);
        goto out;
    }
    /* A crash between writing the file and recording it leaves the new text pending. */
    if (!same && rg_fs_read_file(&pending, pend, NULL) == 0 &&
        file_equals(&same, p->upstream_file, pending.data, NULL) == 0 && same)
        goto out;
    if (!same) {
        struct rg_buf msg;
        rg_buf_init(&msg, 2400);
        describe_edit(&msg, record_path, p->upstream_file);
        rc = rg_err_set(err, RG_EINVAL,
                        "upstream file '%s' was changed by hand since rollgate "
                        "wrote it; rollgate does not overwrite it: put the change in the playbook "
                        "(or remove rollgate's copy '%s' to adopt the file as it is)%s",
                        p->upstream_file, record_path, msg.data ? msg.data : "");
        rg_buf_release(&msg);
    }
out:
    rg_buf_release(&record);
    rg_buf_release(&pending);
    free(pend);
    return rc;
}

/* Runs one of nginx's commands; RG_ERUNTIME with its last words when it fails. */
static int
run_nginx(const struct rg_strv *cmd, const char *what, int64_t timeout_ms, struct rg_buf *log,
          struct rg_err *err)
{
    struct rg_spawn_opts o = {.argv = (const char *const *)cmd->v,
                              .timeout_ms = timeout_ms,
                              .cancel_fd = -1,
                              .max_output = 4096};
    struct rg_spawn_result res;
    char how[128];
    int rc;

    if ((rc = rg_spawn_run(&res, &o, err)) < 0) {
        rg_err_prefix(err, "%s: ", what);
        goto out;
    }
    rg_buf_addf(log, "%s: %s %s\n", what, cmd->v[0], rg_spawn_describe(how, sizeof(how), &res));
    if (res.exit_code != 0 || res.timed_out) {
        const char *said = res.err.len ? res.err.data : res.out.len ? res.out.data : "";
        size_t n = strlen(said);
        while (n && (said[n - 1] == '\n' || said[n - 1] == ' '))
            n--;
        rc = rg_err_set(err, RG_ERUNTIME, "%s: '%s' %s%s%.*s", what, cmd->v[0],
                        rg_spawn_describe(how, sizeof(how), &res), n ? ": " : "", (int)n, said);
    }
out:
    rg_spawn_result_release(&res);
    return rc;
}

int
rg_proxy_ready(const struct rg_proxy *p, const char *record_path, int64_t timeout_ms,
               struct rg_buf *log, struct rg_err *err)
{
    const char *slash = strrchr(p->upstream_file, '/');
    char dir[4096];
    int rc;

    if ((rc = rg_proxy_check_owned(p, record_path, err)) < 0)
        return rc;
    snprintf(dir, sizeof(dir), "%.*s", slash ? (slash == p->upstream_file ? 1 : (int)(slash - p->upstream_file)) : 1,
             slash ? p->upstream_file : ".");
    if (access(dir, W_OK) < 0)
        return rg_err_sys(err, RG_EIO,
                          "cannot write the upstream file's directory '%s' (the new file is "
                          "renamed into place there): give the user running rollgate write "
                          "access to it, or run rollgate as the user nginx's files belong to",
                          dir);
    if (access(p->upstream_file, F_OK) == 0 && access(p->upstream_file, R_OK | W_OK) < 0)
        return rg_err_sys(err, RG_EIO, "cannot read and write the upstream file '%s'",
                          p->upstream_file);
    if ((rc = run_nginx(&p->test, "config test", timeout_ms, log, err)) < 0)
        rg_err_prefix(err, "the proxy's configuration fails its test before the deploy changes "
                           "anything; fix it first: ");
    return rc;
}

/* Puts the file as it was (or removes it when there was none). */
static void
put_back(const struct rg_proxy *p, const struct rg_buf *old, bool existed, struct rg_buf *log)
{
    struct rg_err err;

    if (existed ? rg_fs_replace_atomic(p->upstream_file, old->data ? old->data : "", old->len, 0644,
                                       &err)
                : (remove(p->upstream_file) == 0 ? 0 : -1))
        rg_buf_addf(log, "could not put the previous upstream file back: %s\n",
                    existed ? err.msg : "cannot remove it");
    else
        rg_buf_adds(log, "the previous upstream file is back\n");
}

int
rg_proxy_apply(const struct rg_proxy *p, const char *record_path, const char *text,
               int64_t timeout_ms, struct rg_buf *log, struct rg_err *err)
{
    char *pend = pending_path(record_path);
    struct rg_nginx_workers *before = NULL;
    struct rg_buf old;
    bool existed;
    int rc;

    rg_buf_init(&old, FILE_MAX);
    rc = rg_fs_read_file(&old, p->upstream_file, err);
    existed = rc == 0;
    if (rc < 0 && rc != RG_ENOENT)
        goto out;
    /* Recorded as pending first: a crash from here on leaves a file rollgate recognises. */
    if ((rc = rg_fs_replace_atomic(pend, text, strlen(text), 0600, err)) < 0 ||
        (rc = rg_fs_replace_atomic(p->upstream_file, text, strlen(text), 0644, err)) < 0)
        goto out;
    rg_buf_addf(log, "wrote %s\n", p->upstream_file);
    rg_test_kill_point("PROXY_WRITTEN");
    if ((rc = run_nginx(&p->test, "config test", timeout_ms, log, err)) < 0 ||
        !(before = rg_nginx_workers_before()) ||
        (rc = run_nginx(&p->reload, "reload", timeout_ms, log, err)) < 0) {
        if (!before && rc == 0)
            rc = rg_err_set(err, RG_EINTERNAL, "out of memory");
        put_back(p, &old, existed, log);
        rg_err_prefix(err, "the proxy was not switched (nothing changed): ");
        remove(pend);
        goto out;
    }
    /* The gates that follow must reach the new configuration, not an old worker's. */
    if (!rg_nginx_reload_in_force(before, timeout_ms < RELOAD_WAIT_MS ? timeout_ms
                                                                      : RELOAD_WAIT_MS))
        rg_buf_addf(log, "nginx's reload was not seen in force within %d ms (its workers are "
                         "read from /proc); going on\n", RELOAD_WAIT_MS);
    if (rename(pend, record_path) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot record the upstream file as '%s'", record_path);
        goto out;
    }
    rc = rg_fs_fsync_parent(record_path, err);
out:
    free(before);
    rg_buf_release(&old);
    free(pend);
    return rc;
}

int
rg_proxy_servers(struct rg_strv *out, const char *record_path, const char *name, struct rg_err *err)
{
    struct rg_buf b;
    char *line, *save = NULL, head[96], addr[128];
    bool inside = false, found = false;
    int rc;

    rg_buf_init(&b, FILE_MAX);
    if ((rc = rg_fs_read_file(&b, record_path, err)) < 0)
        goto out;
    snprintf(head, sizeof(head), "upstream %s {", name);
    /* The record is rollgate's own text (rg_proxy_render): one directive a line. */
    for (line = strtok_r(b.data ? b.data : "", "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!inside) {
            inside = found = strcmp(line, head) == 0;
            continue;
        }
        if (strcmp(line, "}") == 0)
            break;
        if (sscanf(line, "    server %127[^;];", addr) == 1)
            rg_strv_push(out, addr);
    }
    if (!found)
        rc = rg_err_set(err, RG_ENOENT, "no upstream '%s' in '%s'", name, record_path);
out:
    rg_buf_release(&b);
    return rc;
}
