/* A unit's journal since a moment: journalctl's JSON export, decoded with jansson, so that a
 * message with odd bytes or newlines stays one entry and the time is the journal's own (µs),
 * not a parsed text date. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollgate/runtime.h"
#include "rollgate/spawn.h"

#define JOURNAL_TIMEOUT_MS 15000
#define JOURNAL_MAX_OUTPUT (4 * 1024 * 1024)

/* A field as text: journald gives a string, or an array of bytes when it is not UTF-8. */
static void
add_field(struct rg_buf *out, const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (; *s; s++)
            rg_buf_addf(out, "%c", (*s == '\n' || *s == '\r') ? ' ' : *s);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *b;
        json_array_foreach(v, i, b) {
            json_int_t c = json_integer_value(b);
            rg_buf_addf(out, "%c", (c >= 0x20 && c < 0x7f) ? (char)c : '?');
        }
    }
}

void
rg_unit_parse_journal(struct rg_buf *out, const char *text, int64_t since_ms)
{
    const char *p = text;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_t *o = json_loadb(p, len, 0, NULL);
        p = nl ? nl + 1 : NULL;
        if (!json_is_object(o)) {
            json_decref(o);
            continue;
        }
        const char *ts = json_string_value(json_object_get(o, "__REALTIME_TIMESTAMP"));
        long long us = ts ? strtoll(ts, NULL, 10) : 0;
        if (us / 1000 >= since_ms) {
            time_t t = (time_t)(us / 1000000);
            struct tm tm;
            char stamp[16];
            gmtime_r(&t, &tm);
            strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
            rg_buf_addf(out, "%s ", stamp);
            add_field(out, json_object_get(o, "MESSAGE"));
            rg_buf_addf(out, "\n");
        }
        json_decref(o);
    }
}

int
rg_unit_journal(struct rg_buf *out, const struct rg_strv *prefix, const char *unit,
                int64_t since_ms, int max_lines, struct rg_err *err)
{
    struct rg_strv argv = {0};
    struct rg_spawn_result res;
    char lines[32], since[48], how[128];
    int rc;

    for (size_t i = 0; prefix && i < prefix->n; i++)
        rg_strv_push(&argv, prefix->v[i]);
    rg_strv_push(&argv, "journalctl");
    rg_strv_push(&argv, "--no-pager");
    rg_strv_push(&argv, "--output=json");
    rg_strv_push(&argv, "--all"); /* without it a field over 4 KiB (a traceback) is null */
    /* journalctl's --lines with --since counts from the start of the range, not its end: the
     * last lines are asked without --since, and those before since_ms dropped when decoded
     * (as are those of the mark's second that came before it). */
    if (max_lines > 0) {
        snprintf(lines, sizeof(lines), "--lines=%d", max_lines);
        rg_strv_push(&argv, lines);
    } else if (since_ms > 0) {
        snprintf(since, sizeof(since), "--since=@%lld", (long long)(since_ms / 1000));
        rg_strv_push(&argv, since);
    } else {
        rg_strv_push(&argv, "--lines=50");
    }
    rg_strv_push(&argv, "--unit");
    rg_strv_push(&argv, unit);
    struct rg_spawn_opts o = {.argv = (const char *const *)argv.v,
                              .timeout_ms = JOURNAL_TIMEOUT_MS,
                              .max_output = JOURNAL_MAX_OUTPUT,
                              .cancel_fd = -1,
                              .env_extra = (const char *const[]){"SYSTEMD_PAGER=", NULL}};
    rc = rg_spawn_run(&res, &o, err);
    if (rc == 0 && (res.exit_code != 0 || res.timed_out))
        rc = rg_err_set(err, RG_EIO, "journalctl --unit %s %s: %.200s", unit,
                        rg_spawn_describe(how, sizeof(how), &res),
                        res.err.data ? res.err.data : "");
    if (rc == 0 && res.out.data)
        rg_unit_parse_journal(out, res.out.data, since_ms);
    rg_spawn_result_release(&res);
    rg_strv_release(&argv);
    return rc;
}
